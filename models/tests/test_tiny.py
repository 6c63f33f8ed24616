"""The tiny GPT-2 and MAC networks behind the test bundle: masks, KV-cache consistency, hierarchical
aggregation, batched greedy decoding, and the tiny tokenizer's specials."""
import torch

from mnemo_models.bundle.format1 import TOKENIZER_DIR, load_sentencepiece, special_ids
from mnemo_models.data.squad import answer_text, prompt
from mnemo_models.lm.tiny import GPT, GPTConfig, greedy
from mnemo_models.mac.tiny import MAC, MACConfig

LM_CFG = GPTConfig(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)
MAC_CFG = MACConfig(n_slots=4, prefix_len=2, amortizer_enc_layers=1, amortizer_dec_layers=1, question_enc_layers=1,
                    question_dec_layers=1, aggregator_layers=2, n_head=2, max_doc_tokens=32, max_question_tokens=16)


def test_kv_cache_and_explicit_positions_match_full_forward():
    torch.manual_seed(0)
    lm = GPT(LM_CFG).eval()
    ids = torch.randint(0, 64, (2, 10))
    full, _ = lm(ids)
    _, past = lm(ids[:, :6])
    step, _ = lm(ids[:, 6:], torch.arange(6, 10).expand(2, 4), past)
    assert torch.allclose(full[:, 6:], step, atol=1e-5)


def test_left_padding_does_not_change_outputs():
    torch.manual_seed(0)
    lm = GPT(LM_CFG).eval()
    ids = torch.randint(4, 64, (1, 5))
    ref, _ = lm(ids)
    padded = torch.cat([torch.full((1, 3), 3), ids], 1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    out, _ = lm(padded, pos, None, mask)
    assert torch.allclose(ref, out[:, 3:], atol=1e-5)


def test_amortizer_ignores_padding():
    torch.manual_seed(0)
    mac = MAC(LM_CFG, MAC_CFG).eval()
    ids = torch.randint(4, 64, (1, 7))
    a = mac.amortizer(ids, torch.ones(1, 7, dtype=torch.long))
    padded = torch.cat([ids, torch.randint(4, 64, (1, 5))], 1)
    b = mac.amortizer(padded, torch.tensor([[1] * 7 + [0] * 5]))
    assert a.shape == (1, 4, 32)
    assert torch.allclose(a, b, atol=1e-5)


def test_aggregator_shapes_weights_and_empty_bank():
    torch.manual_seed(0)
    mac = MAC(LM_CFG, MAC_CFG).eval()
    query, memory = torch.randn(3, 4, 32), torch.randn(1, 5 * 4, 32)
    latent, w = mac.aggregator(query, memory)
    assert latent.shape == (3, 4, 32) and w.shape == (3, 20)
    assert bool((w.sum(1) < 1).all()) and bool((w > 0).all())              # the null entry takes the rest
    empty, w0 = mac.aggregator(query, torch.zeros(1, 0, 32))
    assert empty.shape == (3, 4, 32) and w0.shape == (3, 0)
    prefix = mac.prefix(latent)
    assert prefix.shape == (2, 2, 3, 2, 2, 16)                              # (L, 2, B, nh, P, hs)


def test_hierarchical_aggregation_loops_over_bank_and_equals_one_shot_when_small():
    torch.manual_seed(0)
    mac = MAC(LM_CFG, MAC_CFG).eval()
    query, bank = torch.randn(2, 4, 32), torch.randn(1, 6, 4, 32)
    one_shot, w1 = mac.aggregator(query, bank.reshape(1, -1, 32))
    same, w2 = mac.aggregate_hierarchical(query, bank, group=8)
    assert torch.allclose(one_shot, same, atol=1e-6)
    assert torch.allclose(w1.view(2, 6, 4).sum(-1), w2, atol=1e-6)
    tree, w3 = mac.aggregate_hierarchical(query, bank, group=2)             # 6 -> 3 -> 2 -> final
    assert tree.shape == (2, 4, 32) and w3.shape == (2, 6)
    assert not torch.allclose(tree, one_shot)


def test_batched_left_padded_greedy_equals_one_at_a_time():
    torch.manual_seed(0)
    lm = GPT(GPTConfig(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    for p in lm.parameters():
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.5)
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14]]
    prefix = torch.randn(2, 2, 3, 2, 2, 16)                                  # (L, 2, B, nh, P, hs)
    batched = greedy(lm, prompts, {2}, 3, 8, prefix, 0)
    single = [greedy(lm, [p], {2}, 3, 8, prefix[:, :, i:i + 1], 0)[0] for i, p in enumerate(prompts)]
    assert batched == single and any(len(o) > 0 for o in batched)


def test_tokenizer_specials_and_answer_tokenization_is_context_free():
    sp = load_sentencepiece(TOKENIZER_DIR / "mnemo-8k.model")
    ids = special_ids(sp)
    assert (ids["unk"], ids["bos"], ids["eos"], ids["pad"]) == (0, 1, 2, 3)
    assert sp.encode("\n") == [ids["newline"]]
    assert 8000 <= sp.get_piece_size() <= 16000
    p, a = prompt("Where is the tower?"), answer_text("in Paris")
    assert sp.encode(p + a) == sp.encode(p) + sp.encode(a)   # no dummy prefix: answer ids never depend on the prompt

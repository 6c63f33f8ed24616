"""GPT-2 and MAC networks: shapes, masks, KV-cache consistency, hierarchical aggregation, learning."""
import torch

from mnemo_models.config import GPTConfig, MACConfig
from mnemo_models.gpt2 import GPT, load_hf_state_dict
from mnemo_models.mac import MAC
from mnemo_models.mac_data import prefix_past

LM_CFG = GPTConfig(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)
MAC_CFG = MACConfig(n_slots=4, prefix_len=2, amortizer_enc_layers=1, amortizer_dec_layers=1, question_enc_layers=1,
                    question_dec_layers=1, aggregator_layers=2, n_head=2, max_doc_tokens=32, max_question_tokens=16)


def test_gpt2_parameter_names_and_shapes_match_hf_gpt2():
    sd = GPT(LM_CFG).state_dict()
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (32, 96)     # Conv1D: [in, out]
    assert sd["transformer.h.1.mlp.c_fc.weight"].shape == (32, 128)
    assert sd["transformer.wpe.weight"].shape == (64, 32)
    lm = GPT(LM_CFG)
    assert lm.lm_head.weight.data_ptr() == lm.transformer.wte.weight.data_ptr()  # tied
    hf_style = {k: v.clone() for k, v in sd.items() if k != "lm_head.weight"}
    hf_style["transformer.h.0.attn.bias"] = torch.ones(1)                   # HF's mask buffer is ignored
    load_hf_state_dict(lm, hf_style)
    assert torch.equal(lm.transformer.wte.weight, sd["transformer.wte.weight"])


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


def test_prefix_conditions_the_lm_and_gradient_reaches_mac_only():
    torch.manual_seed(0)
    lm, mac = GPT(LM_CFG), MAC(LM_CFG, MAC_CFG)
    for p in lm.parameters():
        p.requires_grad_(False)
    ids = torch.randint(4, 64, (2, 6))
    mods = mac.amortizer(ids, torch.ones(2, 6, dtype=torch.long))
    latent, _ = mac.aggregator(mac.question_encoder(ids, torch.ones(2, 6, dtype=torch.long)), mods.reshape(1, -1, 32))
    prefix = mac.prefix(latent)
    targets = torch.full_like(ids, -1)
    targets[:, -2:] = ids[:, -2:]
    loss = lm.loss(ids, targets, None, prefix_past(prefix), torch.ones(2, 8, dtype=torch.long))
    loss.backward()
    assert mac.amortizer.slots.grad is not None and mac.amortizer.slots.grad.abs().sum() > 0
    assert all(p.grad is None for p in lm.parameters())

"""Training: a few steps lower the loss, checkpoints resume, bad input fails with a clear message."""
import json
import random

import pytest
import torch

from mnemo_models import checkpoint
from mnemo_models.config import ConfigError, GPTConfig, MACConfig, MACTrainConfig, PretrainConfig, load_config
from mnemo_models.gpt2 import GPT
from mnemo_models.mac import MAC
from mnemo_models.prepare import Examples
from mnemo_models.train_mac import training_step


def toy_examples(n_docs=12, seed=0) -> Examples:
    """Each document states a fact "k v"; its question names k; the answer is v."""
    rng = random.Random(seed)
    ex = Examples()
    for d in range(n_docs):
        key, val = 10 + d % 30, 40 + rng.randrange(20)
        ex.doc_ids.append([5, key, 6, val, 7])
        ex.q_doc.append(d)
        ex.q_prompt.append([8, key, 9])
        ex.q_answer.append([val, 2])
    return ex


def test_lm_few_steps_lower_loss():
    torch.manual_seed(0)
    lm = GPT(GPTConfig(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2))
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    ids = torch.randint(4, 64, (4, 17))
    first = None
    for _ in range(30):
        loss = lm.loss(ids[:, :-1], ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.7 * first


def test_mac_few_steps_lower_loss_with_frozen_lm():
    torch.manual_seed(0)
    lm_cfg = GPTConfig(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    lm = GPT(lm_cfg).eval()
    for name, p in lm.named_parameters():
        p.requires_grad_(False)
        if p.dim() == 2:            # GPT-2's small init barely lets a prefix move a random LM's logits
            p.normal_(std=0.5)
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    mac = MAC(lm_cfg, MACConfig(n_slots=4, prefix_len=2, amortizer_enc_layers=1, amortizer_dec_layers=1,
                                question_enc_layers=1, question_dec_layers=1, aggregator_layers=1, n_head=2,
                                max_doc_tokens=16, max_question_tokens=8))
    cfg = MACTrainConfig(batch_size=4, bank_schedule=[[0, 2]], grad_fraction=0.5)
    opt = torch.optim.AdamW(mac.parameters(), lr=3e-3)
    ex, rng, losses = toy_examples(), random.Random(0), []
    for step in range(100):
        loss, bank = training_step(mac, lm, ex, cfg, step, rng, 3, "cpu")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert bank == 2
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert all(torch.equal(before[k], v) for k, v in lm.state_dict().items())   # the LM stayed frozen


def test_config_rejects_unknown_and_mistyped_keys(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"model": {"n_layers": 3}}))
    with pytest.raises(ConfigError, match="n_layers"):
        load_config(PretrainConfig, bad)
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(PretrainConfig, None, {"lr": "fast"})
    with pytest.raises(ConfigError, match="not found"):
        load_config(PretrainConfig, tmp_path / "missing.json")
    assert load_config(PretrainConfig, None, {"model.n_layer": 3}).model.n_layer == 3


def test_checkpoint_roundtrip_and_corrupt_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(2)}, "config": {}, "step": 7})
    assert checkpoint.load(path)["step"] == 7
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nope.pt")


def test_document_reconstruction_loss_reaches_the_amortizer():
    torch.manual_seed(0)
    lm_cfg = GPTConfig(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    lm = GPT(lm_cfg).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    mac = MAC(lm_cfg, MACConfig(n_slots=4, prefix_len=2, amortizer_enc_layers=1, amortizer_dec_layers=1,
                                question_enc_layers=1, question_dec_layers=1, aggregator_layers=1, n_head=2,
                                max_doc_tokens=16, max_question_tokens=8))
    ex = toy_examples()
    with_aux = MACTrainConfig(batch_size=4, bank_schedule=[[0, 1]], aux_doc_weight=1.0, aux_doc_tokens=5)
    without = MACTrainConfig(batch_size=4, bank_schedule=[[0, 1]])
    a, _ = training_step(mac, lm, ex, with_aux, 0, random.Random(0), 3, "cpu")
    b, _ = training_step(mac, lm, ex, without, 0, random.Random(0), 3, "cpu")
    assert a.item() > b.item() + 1.0                       # the document NLL (~ln 64 a token) is added
    a.backward()
    assert mac.amortizer.slots.grad.abs().sum() > 0

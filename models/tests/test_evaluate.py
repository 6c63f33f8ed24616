"""Metrics, batched greedy decoding, and the evaluation paths on toy models."""
import random

import numpy as np
import torch

from mnemo_models.config import GPTConfig, MACConfig
from mnemo_models.evaluate import gate_table, gates_nll, interval
from mnemo_models.generate import greedy
from mnemo_models.gpt2 import GPT
from mnemo_models.mac import MAC
from mnemo_models.metrics import bootstrap_ci, exact_match, f1, lenient_match, normalize, score
from test_training import toy_examples


def test_squad_normalisation_and_metrics():
    assert normalize("The  Eiffel-Tower, in Paris!") == "eiffeltower in paris"
    assert exact_match("the Denver Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    assert exact_match("Denver Broncos won", ["Denver Broncos"]) == 0.0
    assert lenient_match("Denver Broncos won the game", ["Denver Broncos"]) == 1.0
    assert lenient_match("won by Denver", ["Denver Broncos"]) == 0.0
    assert abs(f1("Denver Broncos won", ["Denver Broncos"]) - 0.8) < 1e-9
    assert f1("nothing", ["Denver"]) == 0.0
    s = score(["Denver", "x"], [["Denver"], ["y"]])
    assert s["n"] == 2 and s["f1"] == 50.0 and s["em"] == 50.0


def test_bootstrap_interval_covers_the_mean_and_detects_a_shift():
    rng = np.random.default_rng(0)
    lo, hi = bootstrap_ci(rng.normal(0.0, 1.0, 400))
    assert lo < 0 < hi
    assert interval(rng.normal(1.0, 1.0, 400))["excludes_zero"]


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


def test_gate_measurements_run_on_toy_models():
    torch.manual_seed(0)
    lm_cfg = GPTConfig(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    lm = GPT(lm_cfg).eval()
    mac = MAC(lm_cfg, MACConfig(n_slots=2, prefix_len=1, amortizer_enc_layers=1, amortizer_dec_layers=1,
                                question_enc_layers=1, question_dec_layers=1, aggregator_layers=1, n_head=2,
                                max_doc_tokens=16, max_question_tokens=8)).eval()
    ex = toy_examples(n_docs=40)
    ex.q_gold_prompt = [d + p for d, p in zip(ex.doc_ids, ex.q_prompt)]
    random.seed(0)
    pool = toy_examples(n_docs=600, seed=1)
    g = gates_nll(lm, mac, ex, pool, n_q=3, seed=0, group=16, device=torch.device("cpu"))
    assert set(g) == {"gate1_nll", "gate2_bank1_nll", "gate3_bank8_nll", "gate3_bank64_nll", "gate3_bank512_nll"}
    assert all(v["n"] == 3 for v in g.values())
    stream = {"modes": {"gold": {"f1_ci95": [0, 1]}, "lm": {"f1_ci95": [0, 1]}}, "deltas": {}}
    assert gate_table(g, stream)["4_answers"] is False


def test_uniform_finetuning_learns_the_stream_and_leaves_the_frozen_lm_alone():
    from mnemo_models.uniform import finetune_stream
    torch.manual_seed(0)
    lm = GPT(GPTConfig(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)).eval()
    frozen = {k: v.clone() for k, v in lm.state_dict().items()}
    docs = toy_examples(4).doc_ids
    ids = torch.tensor(docs)
    before = lm.loss(ids[:, :-1], ids[:, 1:]).item()
    tuned, s_per_doc = finetune_stream(lm, docs * 10, steps=2, lr=3e-3, device="cpu")
    after = tuned.loss(ids[:, :-1], ids[:, 1:]).item()
    assert after < 0.7 * before and s_per_doc > 0
    assert all(torch.equal(frozen[k], v) for k, v in lm.state_dict().items())

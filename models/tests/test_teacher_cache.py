"""The teacher cache on a tiny random Gemma 3: shapes, the top-k against a full forward, resume."""
from __future__ import annotations

import numpy as np
import torch

from mnemo_models import teacher_cache
from mnemo_models.gemma3 import Gemma3, Gemma3Config

CFG = Gemma3Config(vocab_size=300, dim=32, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=16, hidden_dim=64,
                   norm_eps=1e-6, rope_theta=1e6, rope_theta_local=1e4, sliding_window=8, global_every=2,
                   query_scale=0.25, max_positions=512)
PROMPTS = {"chat": "{user}\nAnswer:", "system": "", "question": "Q: {question}",
           "gold": "P: {passage}\nQ: {question}", "passage_separator": " "}
encode = lambda text: [ord(c) % 300 for c in text]                              # noqa: E731
ITEMS = [(f"q{i}", f"passage number {i} says {i * 7}", f"what is {i}?", f"{i * 7}") for i in range(5)]


def model():
    torch.manual_seed(0)
    m = Gemma3(CFG).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m


def test_top_k_and_nll_match_a_full_forward():
    m = model()
    shard = teacher_cache.teach(m, encode, PROMPTS, ITEMS[:2], top_k=4)
    assert shard["topk_ids"].shape == (2, teacher_cache.MAX_ANSWER_TOKENS, 4)
    _, passage, question, answer = ITEMS[1]
    prompt = encode(teacher_cache.render(PROMPTS, "gold", question, passage))
    ans = encode(" " + answer)
    ids = torch.tensor([prompt + ans])
    S = ids.shape[1]
    logits, _ = m(ids, torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), m.empty_past())
    logp = torch.log_softmax(logits[0, len(prompt) - 1:-1], -1)                # predicts each answer token
    assert (shard["answer_ids"][1, :len(ans)] == ans).all() and (shard["answer_ids"][1, len(ans):] == -1).all()
    assert (shard["topk_ids"][1, :len(ans)] == torch.topk(logp, 4).indices.numpy()).all()
    want = float(-logp[torch.arange(len(ans)), torch.tensor(ans)].mean())
    assert abs(float(shard["nll"][1]) - want) < 1e-4


def test_a_killed_run_resumes_at_the_first_missing_shard(tmp_path):
    m, lines = model(), []
    assert teacher_cache.run(m, encode, PROMPTS, ITEMS, tmp_path, shard=2, top_k=3, log=lines.append) == 3
    first = np.load(tmp_path / "shard-00001.npz")["topk_logp"].copy()
    (tmp_path / "shard-00001.npz").unlink()                                     # as if killed while writing it
    lines.clear()
    assert teacher_cache.run(m, encode, PROMPTS, ITEMS, tmp_path, shard=2, top_k=3, log=lines.append) == 3
    assert len(lines) == 1 and lines[0].startswith("shard 2/3")                # only the missing one redone
    assert (np.load(tmp_path / "shard-00001.npz")["topk_logp"] == first).all()
    assert not list(tmp_path.glob("*.tmp.npz"))


def test_examples_cover_train_in_a_seeded_order():
    class P:
        def __init__(self, i):
            self.context, self.qas = f"c{i}", [type("QA", (), {"id": f"{i}-{j}", "question": "q", "answers": ["a"]})
                                                for j in range(3)]
    paras = [P(i) for i in range(4)]
    a, b = teacher_cache.examples(paras, 0), teacher_cache.examples(paras, 0)
    assert a == b and len(a) == 12 and a != teacher_cache.examples(paras, 1)

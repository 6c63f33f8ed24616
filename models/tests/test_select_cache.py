"""select_cache.py: the selector's training data from the bundle's own ONNX graphs. Runs on the
bundle `npm run setup` built (skipped when it is absent, except in CI, where setup builds it)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnemo_models import select_cache as select_cache_command
from mnemo_models.mac import select_cache
from mnemo_models.mac.student import load_cache
from tests.test_bundle_build import REAL, needs_real


@pytest.fixture(scope="module")
def reader():
    return select_cache.OnnxReader(REAL, threads=1)


@needs_real
def test_the_amortizer_graph_reproduces_the_bundle_fixture(reader):
    """The fixture's features and modulation were written by the build from the PyTorch heads."""
    f = json.loads((REAL / "mac-fixtures.json").read_text())
    feats = np.array(f["features"], np.float32).reshape(f["features_shape"])
    mask = np.array(f["attention_mask"], np.int64)
    got = reader.amortizer.run(["modulation"], {"features": feats, "attention_mask": mask})[0]
    want = np.array(f["modulation"], np.float32).reshape(got.shape)
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


@needs_real
def test_a_batch_gives_each_paragraph_what_it_gets_alone(reader):
    """Right padding must not leak: a short paragraph batched with a long one, and questions of
    different lengths, come out as they do alone (the reader's int8 scales are per row)."""
    docs = [list(range(1000, 1040)), list(range(2000, 2007)), list(range(3000, 3100))]
    taps = reader.tap([reader.prefix + d for d in docs])
    together = reader.modulations(docs)
    for i, d in enumerate(docs):
        tap = reader.tap([reader.prefix + d])[0]
        # Another batch shape sums in another order (measured: 8e-4 of the largest value at most).
        assert np.abs(taps[i, :len(tap)] - tap).max() <= 3e-3 * np.abs(tap).max()
        # The heads' sharp pooling amplifies such near-ties (docs/engine.md): 2% here, 2-4% on SQuAD.
        alone = reader.modulations([d])[0]
        assert np.linalg.norm(together[i] - alone) <= 0.05 * np.linalg.norm(alone)
    assert np.linalg.norm(together[0] - together[1]) > 0.15 * np.linalg.norm(together[0])  # 26%: far apart
    rows = [[2, 5, 6, 7, 8, 9], [2, 5, 6]]
    both, alone = reader.questions(rows), reader.questions(rows[1:])[0]
    assert [q.shape[0] for q in both] == [6, 3]
    assert torch.allclose(both[1].float(), alone.float(), atol=2e-3)
    rms = both[0].float().pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-2)                     # stored RMS-normed
    long = reader.questions([list(range(10, 10 + reader.max_question + 9))])[0]
    assert long.shape[0] == reader.max_question                                      # the engine's clip


@needs_real
def test_a_run_writes_shards_and_resumes_at_the_first_missing_one(tmp_path, capsys):
    out = tmp_path / "valid"
    args = ["--split", "valid", "--paragraphs", "3", "--shard", "2", "--threads", "1", "--out", str(out)]
    assert select_cache_command.main(args) == 0
    first = load_cache(out)
    assert len(first) == 3 and {"index", "article", "mod", "questions"} <= set(first[0])
    assert first[0]["mod"].shape == (16, 640) and first[0]["mod"].dtype == torch.float16
    assert all(q["q_feat"].shape[1] == 640 for p in first for q in p["questions"])
    assert json.loads((out / "meta.json").read_text())["paragraphs"] == 3
    (out / "shard-00001.pt").unlink()
    stamp = (out / "shard-00000.pt").stat().st_mtime_ns
    assert select_cache_command.main(args) == 0
    assert (out / "shard-00000.pt").stat().st_mtime_ns == stamp                       # kept, not redone
    again = load_cache(out)
    assert [p["index"] for p in again] == [p["index"] for p in first]
    assert torch.equal(again[2]["mod"], first[2]["mod"])
    assert "shard 2/2" in capsys.readouterr().out

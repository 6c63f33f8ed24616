"""The reader graph (onnx/fast_tap.py) on a tiny 8-bit Gemma 3: the pre-tap blocks with integer
matmuls in a graph of their own, the LM graph untouched, the embedding read from the LM's mapped
table, and the smoothing a power of two per channel. (Running the graph is the engine's test on the
real bundle: real-heads.test.ts compares its tap and modulations with the LM's full forward.)"""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from mnemo_models.onnx.export_lm import export_lm
from mnemo_models.onnx.fast_tap import READER_FILE, _smoothing, calibrate, reader_graph

from test_mac_gemma import q8_lm

TAP = 2
WINDOWS = [[2, 17, 40, 41, 99, 7, 120], [2, 5, 6]]


def ops(graph) -> list[str]:
    return [n.op_type for n in graph.node]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    m = q8_lm()
    act = calibrate(m, WINDOWS, TAP)
    d = tmp_path_factory.mktemp("fast")
    spec = export_lm(m, d / "lm.onnx", tap_layer=TAP, calibration=act)
    return d, spec, act


def test_calibration_covers_every_8bit_layer_before_the_tap():
    act = calibrate(q8_lm(), WINDOWS, TAP)
    per_block = {"attn.q", "attn.k", "attn.v", "attn.o", "ffn.gate", "ffn.up", "ffn.down"}
    assert len(act) == TAP * 7 and {k.split(".", 3)[3] for k in act} == per_block
    assert all(k.startswith(("model.blocks.0.", "model.blocks.1.")) for k in act)
    assert all(v.ndim == 1 and (v > 0).all() for v in act.values())


def test_the_reader_runs_the_pre_tap_blocks_on_integer_matmuls(exported):
    d, spec, _ = exported
    r = spec["reader"]
    assert r["file"] == READER_FILE and r["outputs"] == [o for o in spec["outputs"] if o["name"] == "tap"]
    g = onnx.load(str(d / READER_FILE), load_external_data=False).graph
    assert [o.name for o in g.output] == ["tap"]
    assert ops(g).count("MatMulIntegerToFloat") == TAP * 7
    assert "MatMulNBits" not in ops(g) and "If" not in ops(g)               # prompt attention only
    assert ops(g).count("GroupQueryAttention") == TAP
    names = [i.name for i in g.input]
    assert names[:3] == ["input_ids", "position_ids", "attention_mask"] and "tap_only" not in names
    assert set(names[3:]) == {f"past_key_values.{i}.{kv}" for i in range(TAP) for kv in ("key", "value")}
    assert [i["name"] for i in r["inputs"]] == names
    rows = [t for t in g.initializer if t.name.endswith(".q8rows")]
    assert len(rows) == TAP * 7 and all(t.data_type == onnx.TensorProto.INT8 for t in rows)
    # The lookup reads the LM's own mapped copy of the table, not a second one.
    embed = [t for t in g.initializer if t.name.startswith("embed.")]
    assert embed and all(dict((e.key, e.value) for e in t.external_data)["location"] == "lm.embed.bin" for t in embed)


def test_the_lm_graph_is_the_same_with_or_without_a_reader(exported, tmp_path):
    d, spec, _ = exported
    plain = export_lm(q8_lm(), tmp_path / "lm.onnx", tap_layer=TAP)
    assert plain["sha256"] == spec["sha256"] and "reader" not in plain
    assert "MatMulNBits" in ops(onnx.load(str(d / "lm.onnx"), load_external_data=False).graph)
    assert json.dumps(spec["reader"]["facts"])                              # what the manifest will say


def test_smoothing_is_a_power_of_two_per_channel(exported):
    d, _, _ = exported
    g = onnx.load(str(d / READER_FILE), load_external_data=False).graph
    inv = [numpy_helper.to_array(t) for t in g.initializer if t.name.endswith(".inv_s")]
    assert len(inv) == TAP * 4                                  # q/k/v and gate/up share their input
    for v in inv:
        assert np.array_equal(np.exp2(np.round(np.log2(v))), v)
    s = _smoothing(np.array([64.0, 1.0, 1e-9]), np.array([1.0, 1.0, 1.0]), 0.5)
    assert s.tolist() == [8.0, 1.0, 2.0 ** round(np.log2(1e-5 ** 0.5))]


def test_the_reader_needs_the_tap_split_and_a_calibration(exported, tmp_path):
    _, _, act = exported
    with pytest.raises(ValueError, match="no tap_only branch"):
        reader_graph(onnx.ModelProto(), act)
    export_lm(q8_lm(), tmp_path / "lm.onnx", tap_layer=TAP)
    lm = onnx.load(str(tmp_path / "lm.onnx"), load_external_data=False)
    with pytest.raises(ValueError, match="no calibration"):
        reader_graph(lm, {k: v for k, v in act.items() if "blocks.1." not in k})

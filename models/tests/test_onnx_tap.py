"""The LM graph's tap_only branch (onnx/tap.py) on a tiny random Gemma 3: the tap's nodes stay
outside the If, everything else moves inside unchanged, and only the first tap_layer blocks'
weights are read outside it. (Running the graph is the engine's test: real-bundle.test.ts.)"""
from __future__ import annotations

import onnx
import pytest

from mnemo_models.onnx.export_lm import export_lm
from mnemo_models.lm.gemma3 import Gemma3
from mnemo_models.onnx.tap import TAP_ONLY, add_tap_only

from test_mac_gemma import CFG, lm


def matmul_weights(nodes) -> set[str]:
    return {i for n in nodes if n.op_type in ("MatMul", "Gemm") for i in n.input}


def test_tap_only_splits_the_graph_at_the_tap(tmp_path):
    m: Gemma3 = lm()
    spec = export_lm(m, tmp_path / "lm.onnx", tap_layer=2)
    assert [i["name"] for i in spec["inputs"]][-1] == TAP_ONLY
    g = onnx.load(str(tmp_path / "lm.onnx")).graph
    assert [i.name for i in g.input][-1] == TAP_ONLY
    assert {o.name for o in g.output} == {"logits", "new_key_values", "tap"}
    (branch,) = [n for n in g.node if n.op_type == "If" and n.input[0] == "run_full"]
    assert list(branch.output) == ["logits", "new_key_values"]
    then = next(a.g for a in branch.attribute if a.name == "then_branch")
    other = next(a.g for a in branch.attribute if a.name == "else_branch")
    assert [o.name for o in then.output] == ["logits__full", "new_key_values__full"]
    assert all(n.op_type == "Constant" for n in other.node)
    produced_outside = {o for n in g.node for o in n.output}
    assert "tap" in produced_outside and "logits__full" not in produced_outside
    # Half the blocks (2 of 4) outside, the rest and the output layer inside.
    outside, inside = matmul_weights(g.node), matmul_weights(then.node)
    assert outside and inside and not (outside & inside)
    assert len(inside) > len(outside)


def test_a_graph_is_rewritten_once(tmp_path):
    m = lm()
    export_lm(m, tmp_path / "lm.onnx", tap_layer=2)
    proto = onnx.load(str(tmp_path / "lm.onnx"))
    with pytest.raises(ValueError, match="already"):
        add_tap_only(proto, n_layers=CFG.n_layers, n_kv_heads=CFG.n_kv_heads, head_dim=CFG.head_dim,
                     vocab=CFG.vocab_size)

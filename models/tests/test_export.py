"""Export round-trip: a bundle has valid ONNX graphs, a manifest whose hashes match, and fixtures.

Numerical parity of the graphs with PyTorch runs in Node (bundle-parity.test.mjs, onnxruntime-node).
"""
import hashlib
import json

import onnx
import torch

from mnemo_models.bundle.format1 import MAJOR, random_tiny, write_bundle


def test_random_tiny_bundle_exports_and_describes_itself(tmp_path):
    lm, mac = random_tiny()
    manifest = write_bundle(lm, mac, tmp_path, "test", {"note": "test"}, {})
    assert manifest["version"]["major"] == MAJOR and manifest["format"] == "mnemo-mac-bundle"
    for name, spec in manifest["graphs"].items():
        model = onnx.load(str(tmp_path / spec["file"]))
        onnx.checker.check_model(model)
        assert [i.name for i in model.graph.input] == [t["name"] for t in spec["inputs"]], name
        assert [o.name for o in model.graph.output] == [t["name"] for t in spec["outputs"]], name
        assert not any(n.op_type == "Dropout" for n in model.graph.node), f"{name} exports dropout"
    for file, meta in manifest["files"].items():
        assert hashlib.sha256((tmp_path / file).read_bytes()).hexdigest() == meta["sha256"]
    fx = json.loads((tmp_path / "fixtures.json").read_text())
    assert fx["prefix"]["prefix_kv"]["shape"] == [2, 2, 1, 2, 2, 16]
    assert len(fx["lm"]["greedy_with_prefix"]) > 0
    assert fx["lm"]["greedy_with_prefix"] != fx["lm"]["greedy_without_prefix"]   # the prefix matters
    assert manifest["prefix"] == {"length": 2, "position_offset": 0}
    assert torch.tensor(fx["aggregator"]["entry_weights"]["data"]).sum() < 1

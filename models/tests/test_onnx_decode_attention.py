"""The exported Gemma graph's decoding step (onnx/decode_attention.py) run by onnxruntime-node, as the
engine runs it: per-layer cache buffers with free slots, a prompt through GroupQueryAttention, then
single positions through the products over the cache, past the sliding window. Logits against
PyTorch's reference path on a tiny random Gemma 3 (float32, so the bound is tight)."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import onnx
import pytest
import torch

from mnemo_models.onnx.export_lm import export_lm
from mnemo_models.onnx.decode_attention import switch_decode_attention

from test_mac_gemma import CFG, lm

REPO = Path(__file__).resolve().parents[2]
ORT = REPO / "node_modules" / "onnxruntime-node"

# Runs the graph like core/generate.ts with core/layer-cache.ts: buffers of C slots per layer, the
# new positions written into the next free ones. argv: model, JSON {prompt, steps, layers, hkv, hd, C}.
RUNNER = r"""
const ort = require(process.env.ORT);
const [model, spec] = [process.argv[1], JSON.parse(process.argv[2])];
(async () => {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const { prompt, steps, layers, hkv, hd, C } = spec;
  const bufs = Array.from({ length: 2 * layers }, () => new Float32Array(hkv * C * hd));
  const i64 = (xs) => new ort.Tensor("int64", BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
  let held = 0; const out = [];
  for (const ids of [prompt, ...steps.map((t) => [t])]) {
    const feeds = { input_ids: i64(ids), position_ids: i64(ids.map((_, i) => held + i)),
      attention_mask: i64(Array(held + ids.length).fill(1)) };
    bufs.forEach((b, i) => {
      feeds[`past_key_values.${i >> 1}.${i % 2 ? "value" : "key"}`] = new ort.Tensor("float32", b, [1, hkv, C, hd]);
    });
    const r = await s.run(feeds, ["logits", "new_key_values"]);
    const fresh = r.new_key_values.data, S = ids.length;
    bufs.forEach((b, i) => {
      for (let h = 0; h < hkv; h++) {
        b.set(fresh.subarray((i * hkv + h) * S * hd, (i * hkv + h + 1) * S * hd), (h * C + held) * hd);
      }
    });
    held += S; out.push(Array.from(r.logits.data));
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.skipif(not ORT.is_dir() or shutil.which("node") is None, reason="needs npm ci (onnxruntime-node) and node")
def test_decoding_steps_past_the_window_give_pytorchs_logits(tmp_path):
    m = lm()
    export_lm(m, tmp_path / "lm.onnx")
    ids = torch.randint(10, CFG.vocab_size, (1, 76), generator=torch.Generator().manual_seed(3))
    P0 = 60                                     # prompt; the steps take the cache to 76 slots, past W = 64
    assert 76 > CFG.sliding_window > P0
    spec = {"prompt": ids[0, :P0].tolist(), "steps": ids[0, P0:].tolist(), "layers": CFG.n_layers,
            "hkv": CFG.n_kv_heads, "hd": CFG.head_dim, "C": 80}
    run = subprocess.run(["node", "-e", RUNNER, str(tmp_path / "lm.onnx"), json.dumps(spec)], capture_output=True,
                         text=True, env={"ORT": str(ORT), "PATH": os.environ["PATH"]}, timeout=120)
    assert run.returncode == 0, run.stderr
    got = torch.tensor(json.loads(run.stdout))                                 # (1 + steps, V)
    want, past, T = [], m.empty_past(), 0
    for S in [P0] + [1] * (76 - P0):
        x = ids[:, T:T + S]
        logits, past = m(x, torch.arange(T, T + S)[None], torch.ones(1, T + S, dtype=torch.long), past, last_only=True)[
            :2
        ]
        want.append(logits[0, -1])
        T += S
    torch.testing.assert_close(got, torch.stack(want), rtol=1e-4, atol=1e-4)
    # The window mattered: the local layers' reference without it disagrees.
    assert (last_logits_without_window(m, ids) - want[-1]).abs().max() > 1e-3


def last_logits_without_window(m, ids):
    """The reference with its sliding window opened past the context (every layer attends to all)."""
    w = copy.deepcopy(m)
    w.cfg = dataclasses.replace(m.cfg, sliding_window=10_000)
    T = ids.shape[1]
    return w(ids, torch.arange(T)[None], torch.ones(1, T, dtype=torch.long), w.empty_past(), last_only=True)[0][0, -1]


def test_every_attention_is_switched_and_reads_the_cache_where_it_lies(tmp_path):
    m = lm()
    export_lm(m, tmp_path / "lm.onnx")
    g = onnx.load(str(tmp_path / "lm.onnx")).graph
    switches = [n for n in g.node if n.op_type == "If"]
    assert len(switches) == CFG.n_layers and not [n for n in g.node if n.op_type == "GroupQueryAttention"]
    for n in switches:
        step, kernel = (next(a.g for a in n.attribute if a.name == b) for b in ("then_branch", "else_branch"))
        assert [k.op_type for k in kernel.node] == ["GroupQueryAttention"]
        (gqa,) = kernel.node
        readers = {k.op_type for k in step.node for i in k.input if i in gqa.input[3:5]}
        assert readers == {"FusedMatMul", "MatMul"}                          # the past, read in place
    # A graph that returns a kernel's present is refused: the step branch makes none.
    proto = onnx.load(str(tmp_path / "lm.onnx"))
    proto.graph.node.append(gqa)
    proto.graph.output.append(onnx.helper.make_tensor_value_info(gqa.output[1], onnx.TensorProto.FLOAT, None))
    with pytest.raises(ValueError, match="present is used"):
        switch_decode_attention(proto)

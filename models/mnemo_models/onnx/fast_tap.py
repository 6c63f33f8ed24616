"""A faster reader: a graph of its own (reader.onnx) that computes the LM's tap on int8 rows x
int8 columns.

Why: ingestion reads every chunk through the LM up to MAC's tap (9 of Gemma 3 270M's 18 blocks
over ~220 tokens), and that pass was ~150 ms of the ~190 ms a chunk cost on two cores (2026-12-03,
docs/bench/README.md), 70% of it in the blocks' MatMulNBits. MatMulNBits keeps the GGUF's Q8_0
blocks exactly and is the fastest kernel for one position (a decoding step), but over hundreds of
positions onnxruntime's integer GEMM (MatMulInteger's kernels: VNNI, AMX where the CPU has it) is
~3.7x faster on this machine for a 640 x 2048 layer. Its activations have one scale per tensor,
and Gemma's rows differ too much for that (modulations 7.6% off the float reference); one scale
per row, computed in the graph, keeps them within ~2-3%.

So the reader graph copies the LM graph's nodes that the tap depends on (onnx/tap.py's split),
each 8-bit MatMulNBits x @ W.T becoming, per distinct input x (q/k/v share one, gate/up another):

    x' = x * (1 / s)                          s (K,) per input channel, a power of two (smoothing)
    r  = max_k |x'[row, k]| / 127             (rows,) one scale per token
    xq = QuantizeLinear(x', r, 128)           uint8 (rows, K)
    y  = MatMulIntegerToFloat(xq, Wq, 1, c, 128) * r     Wq (K, N) int8 = round(s * W / c), c (N,)

s is SmoothQuant's migration (Xiao et al. 2023, alpha = 0.5): channels whose activations run large
(Gemma's outlier channels) are divided down and their weight rows multiplied up, which is exact in
real numbers and moves the quantization error to where it is cheaper. Powers of two keep the
products exact in float and the bytes the same on every CPU (a maximum measured one ulp apart
rounds the same). The maxima come from the PyTorch reference over SQuAD train windows (calibrate,
committed beside the heads). Each decoding-step switch keeps only its prompt path
(GroupQueryAttention): a tap always reads a window from position 0.

Why a graph of its own rather than a branch of the LM graph: with the whole forward moved into an
If branch (the first try), decoding measured ~10% slower (37 vs 41 tokens/s); the LM graph stays
byte for byte what it was. The reader's embedding lookup reads the same lm.embed.bin, which
onnxruntime maps, so the table's pages are shared; what it adds is the pre-tap blocks' weights
again as int8 columns (~50 MB on disk).
"""
from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from mnemo_models.lm.quant_linear import QuantLinear
from mnemo_models.onnx.tap import _ancestors, _reads, TAP_ONLY

ALPHA = 0.5
READER_FILE = "reader.onnx"
# What the manifest says of such a graph (architecture.mac.reader.fast_tap).
FAST_TAP_FACTS = {"activations": "int8, one scale per row", "weights": "int8, one scale per column",
                  "smoothing": ALPHA, "calibration": "max |input| per channel on SQuAD train paragraphs"}


def calibrate(model, windows: list[list[int]], tap_layer: int) -> dict[str, np.ndarray]:
    """Max |input| per channel (K,) of every 8-bit linear layer before the tap, over the windows
    read from position 0 as the tap reads them; keyed as the exported graph names their weights
    ("model.blocks.0.attn.q")."""
    seen: dict[str, np.ndarray] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, QuantLinear) and mod.bits == 8 and name.startswith("blocks."):
            if int(name.split(".")[1]) >= tap_layer:
                continue

            def record(m, args, _out, key="model." + name):
                a = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0).double().numpy()
                seen[key] = a if key not in seen else np.maximum(seen[key], a)
            hooks.append(mod.register_forward_hook(record))
    c = model.cfg
    try:
        with torch.no_grad():
            for ids in windows:
                S = len(ids)
                past = torch.zeros(c.n_layers, 2, 1, c.n_kv_heads, 0, c.head_dim)
                model(torch.tensor([ids]), torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), past,
                      tap_layer=tap_layer, stop_at_tap=True)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _values(g: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Constant values by name: initializers, Constant nodes, and Identity aliases of either."""
    vals = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute[0].name == "value":
            vals[n.output[0]] = n.attribute[0].t
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in vals:
            vals[n.output[0]] = vals[n.input[0]]
    return vals


def _weight(node: onnx.NodeProto, vals) -> np.ndarray:
    """An 8-bit MatMulNBits' weight W (N, K) in float64, exactly: (code - zero) * scale per block."""
    a = {t.name: t.i for t in node.attribute}
    K, N, B = a["K"], a["N"], a["block_size"]
    arr = lambda name: numpy_helper.to_array(vals[name]).astype(np.float64)     # noqa: E731
    codes = arr(node.input[1]).reshape(N, K // B, B)
    scales, zeros = arr(node.input[2]).reshape(N, K // B), arr(node.input[3]).reshape(N, K // B)
    return ((codes - zeros[..., None]) * scales[..., None]).reshape(N, K)


def _is_q8(n: onnx.NodeProto) -> bool:
    return n.op_type == "MatMulNBits" and {a.name: a.i for a in n.attribute}.get("bits") == 8


def _smoothing(x_max: np.ndarray, w_max: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's s = max|x|^a / max|w|^(1-a) per input channel, rounded to a power of two."""
    s = np.maximum(x_max, 1e-5) ** alpha / np.maximum(w_max, 1e-5) ** (1 - alpha)
    return np.exp2(np.round(np.log2(s)))


def reader_graph(proto: onnx.ModelProto, act_max: dict[str, np.ndarray], alpha: float = ALPHA,
                 tap: str = "tap") -> onnx.ModelProto:
    """A new graph (proto is left as it is) that computes proto's `tap` as described above."""
    g = proto.graph
    if not any(i.name == TAP_ONLY for i in g.input):
        raise ValueError("the graph has no tap_only branch (onnx.tap.add_tap_only first)")
    nodes = list(g.node)
    need = _ancestors(nodes, tap)
    vals = _values(g)
    made: list[onnx.NodeProto] = []
    groups: dict[str, tuple[str, np.ndarray]] = {}                 # input -> (name stem, smoothing s)
    const: dict[str, onnx.TensorProto] = {}

    def init(name: str, arr: np.ndarray) -> str:
        const.setdefault(name, numpy_helper.from_array(arr, name))
        return name

    init("fast.zp", np.array(128, np.uint8))
    init("fast.one", np.array(1.0, np.float32))
    init("fast.i127", np.array(1 / 127, np.float32))
    init("fast.tiny", np.array(1e-30, np.float32))
    init("fast.ax1", np.array([1], np.int64))
    init("fast.lead0", np.array([0], np.int64))
    init("fast.lead1", np.array([-1], np.int64))
    mms = [n for i, n in enumerate(nodes) if i in need and _is_q8(n)]
    if not mms:
        raise ValueError("no 8-bit MatMulNBits before the tap: nothing to make faster")
    for i, n in enumerate(nodes):
        if i not in need:
            continue
        if _is_q8(n):
            x = n.input[0]
            a = {t.name: t.i for t in n.attribute}
            K, N = a["K"], a["N"]
            key = n.input[1].rsplit(".", 1)[0]                           # model.blocks.0.attn.q
            if x not in groups:
                if key not in act_max:
                    raise ValueError(f"no calibration for the input of {key}")
                w_max = np.max([np.abs(_weight(m, vals)).max(0) for m in mms if m.input[0] == x], axis=0)
                s = _smoothing(act_max[key], w_max, alpha)
                p = x + "/q8"
                init(p + ".inv_s", (1 / s).astype(np.float32))
                init(p + ".flat", np.array([-1, K], np.int64))
                made += [helper.make_node("Mul", [x, p + ".inv_s"], [p + "/smooth"]),
                         helper.make_node("Reshape", [p + "/smooth", p + ".flat"], [p + "/rows"]),
                         helper.make_node("Abs", [p + "/rows"], [p + "/abs"]),
                         helper.make_node("ReduceMax", [p + "/abs"], [p + "/max"], axes=[1], keepdims=0),
                         helper.make_node("Max", [p + "/max", "fast.tiny"], [p + "/max1"]),
                         helper.make_node("Mul", [p + "/max1", "fast.i127"], [p + "/r"]),      # (rows,)
                         helper.make_node("Shape", [p + "/r"], [p + "/rshape"]),
                         helper.make_node("Expand", ["fast.zp", p + "/rshape"], [p + "/zp"]),
                         helper.make_node("QuantizeLinear", [p + "/rows", p + "/r", p + "/zp"], [p + "/xq"], axis=0),
                         helper.make_node("Unsqueeze", [p + "/r", "fast.ax1"], [p + "/r1"]),  # (rows, 1)
                         helper.make_node("Shape", [x], [p + "/shape"]),
                         helper.make_node("Slice", [p + "/shape", "fast.lead0", "fast.lead1"], [p + "/lead"])]
                groups[x] = (p, s)
            p, s = groups[x]
            w = _weight(n, vals) * s[None, :]                                # (N, K), smoothed
            col = np.abs(w).max(1) / 127
            col[col == 0] = 1
            wq = np.clip(np.round(w / col[:, None]), -127, 127).astype(np.int8)
            o = n.output[0]
            init(key + ".q8rows", np.ascontiguousarray(wq.T))               # (K, N)
            init(key + ".q8cols", col.astype(np.float32))
            init(key + ".q8N", np.array([N], np.int64))
            made += [helper.make_node("MatMulIntegerToFloat", [p + "/xq", key + ".q8rows", "fast.one", key + ".q8cols",
                                                               "fast.zp"], [o + "/y"], domain="com.microsoft"),
                     helper.make_node("Mul", [o + "/y", p + "/r1"], [o + "/yr"]),
                     helper.make_node("Concat", [p + "/lead", key + ".q8N"], [o + "/shape"], axis=0),
                     helper.make_node("Reshape", [o + "/yr", o + "/shape"], [o])]
        elif n.op_type == "If":                                              # a decoding-step switch
            prompt = next(a.g for a in n.attribute if a.name == "else_branch")
            out = {bo.name: io for bo, io in zip(prompt.output, n.output)}
            for m in prompt.node:
                c = onnx.NodeProto()
                c.CopyFrom(m)
                c.output[:] = [out.get(o, o) for o in m.output]
                made.append(c)
        else:
            c = onnx.NodeProto()
            c.CopyFrom(n)
            made.append(c)
    keep = _ancestors(made, tap)
    made = [n for i, n in enumerate(made) if i in keep]                 # the switches' conditions go
    read = {x for n in made for x in _reads(n)}
    inputs = [i for i in g.input if i.name in read]
    inits = [t for t in g.initializer if t.name in read] + [t for t in const.values() if t.name in read]
    out = next(o for o in g.output if o.name == tap)
    graph = helper.make_graph(made, "mac_reader", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    model.producer_name, model.producer_version = proto.producer_name, proto.producer_version
    return model


def calibration_file(heads_file: str) -> str:
    """The committed calibration beside a recipe's heads: gemma3-270m-mac.pt -> …mac.tap-calibration.json."""
    return heads_file.rsplit(".", 1)[0] + ".tap-calibration.json"


def load_calibration(path) -> dict[str, np.ndarray]:
    import json
    return {k: np.array(v, np.float64) for k, v in json.loads(path.read_text())["act_max"].items()}

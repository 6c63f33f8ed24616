"""MAC heads for the real LM: the committed weights file, and its five ONNX graphs in a bundle.

The trained heads are committed (models/heads/<model>/heads.pt: the trainable weights in fp16,
their config, the gates measured on valid, the training summary); bundle/format2.py exports them at
setup against the frozen LM it has just converted (the lmspace prefix generator uses the LM's own
key/value projections, which are not committed twice).

Graph contract (manifest architecture.mac.reader = lm_tap; electron/core/pipeline.ts):
  amortizer         features (B, S, D) float32 = the LM graph's `tap` over reader prefix + chunk, the
                    chunk's rows; attention_mask (B, S) int64 -> modulation (B, T, D)
  question_encoder  features (B, S, D), attention_mask (B, S) -> query (B, T, D)
  memory_kv         modulations (E, T, D) -> memory_kv (blocks, 2, E*T, D)
  aggregator        query (B, T, D), memory_kv (blocks, 2, M, D) -> latent (B, T, D), entry_weights (B, E)
  prefix            latent (B, T, D) -> prefix_kv (L, 2, B, 1, P, hd)
Features are RMS-normed inside the graphs, as mac.cache stored them for training.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import onnx
import torch
import torch.nn as nn

from mnemo_models.lm.llama import float64_reference
from mnemo_models.mac.heads import Heads
from mnemo_models.mac.parts import HeadsConfig

OPSET = 17


def rms(x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class _Reader(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, features, attention_mask):
        return self.net(rms(features), attention_mask.bool())


class _MemoryKV(nn.Module):
    def __init__(self, heads: Heads):
        super().__init__()
        self.heads = heads

    def forward(self, modulations):
        E, T, D = modulations.shape
        return self.heads.aggregator.memory_kv(modulations.reshape(1, E * T, D))[:, :, 0]   # (blocks, 2, M, D)


class _Aggregator(nn.Module):
    def __init__(self, heads: Heads):
        super().__init__()
        self.heads = heads

    def forward(self, query, memory_kv):
        B, T, D = query.shape
        latent, w = self.heads.aggregator.forward_kv(query, memory_kv[:, :, None])
        return latent, w.reshape(B, -1, T).sum(-1)                              # (B, E)


def save_heads(heads: Heads, path: Path, extra: dict) -> str:
    """The trainable weights in fp16 + config + `extra` (gates, training summary) -> sha256."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in heads.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"config": heads.cfg.as_dict(), "state": state, **extra}, buf)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def read_heads(path: Path) -> tuple[dict, dict, dict]:
    """-> (heads config, float32 state, the whole payload) from either file that holds heads: the
    committed heads file (fp16 `state`) or a mac.train checkpoint (`model`)."""
    payload = torch.load(path, map_location="cpu")
    config, state = (payload["config"], payload["state"]) if "state" in payload else \
        (payload["config"]["heads"], payload["model"])
    return config, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, payload


def load_heads(path: Path, lm) -> tuple[Heads, dict]:
    config, state, payload = read_heads(path)
    heads = Heads(HeadsConfig(**config), lm)
    heads.load_state_dict(state)
    return heads.eval(), payload


def load_any_heads(path: Path, lm) -> Heads:
    """A training checkpoint (ckpt.pt) or the committed fp16 heads file."""
    return load_heads(path, lm)[0]


def _export(module, args, path: Path, inputs: list[str], outputs: list[str], dyn: dict) -> None:
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_axes=dyn, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name, proto.producer_version = "mnemo", "2"
    path.write_bytes(proto.SerializeToString())


def spec(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def export_heads(heads: Heads, out: Path) -> dict:
    """Writes the five graphs into out; returns manifest graphs entries."""
    c = heads.cfg
    T, D = c.n_slots, c.width
    L, hd = heads.prefix.L, heads.prefix.hd
    feats, mask = torch.randn(2, 5, D) * 30, torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    graphs = {}
    for name, net, out_name in (
        ("amortizer", heads.amortizer, "modulation"),
        ("question_encoder", heads.question_encoder, "query"),
    ):
        _export(_Reader(net), (feats, mask), out / f"{name}.onnx", ["features", "attention_mask"], [out_name],
                {"features": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, out_name: {0: "batch"}})
        graphs[name] = {"file": f"{name}.onnx", "inputs": [spec("features", "float32", ["batch", "seq", D]),
                                                           spec("attention_mask", "int64", ["batch", "seq"])],
                        "outputs": [spec(out_name, "float32", ["batch", T, D])]}
    blocks = heads.aggregator.n_blocks
    mods = torch.randn(3, T, D)
    _export(_MemoryKV(heads), (mods,), out / "memory_kv.onnx", ["modulations"], ["memory_kv"],
            {"modulations": {0: "entries"}, "memory_kv": {2: "memory"}})
    graphs["memory_kv"] = {"file": "memory_kv.onnx", "inputs": [spec("modulations", "float32", ["entries", T, D])],
                           "outputs": [spec("memory_kv", "float32", [blocks, 2, "memory", D])]}
    kv = _MemoryKV(heads)(mods).detach()
    q = torch.randn(1, T, D)
    _export(
        _Aggregator(heads),
        (q, kv),
        out / "aggregator.onnx",
        ["query", "memory_kv"],
        ["latent", "entry_weights"],
        {
            "query": {0: "batch"},
            "memory_kv": {2: "memory"},
            "latent": {0: "batch"},
            "entry_weights": {0: "batch", 1: "entries"},
        },
    )
    graphs["aggregator"] = {
        "file": "aggregator.onnx",
        "inputs": [spec("query", "float32", ["batch", T, D]), spec("memory_kv", "float32", [blocks, 2, "memory", D])],
        "outputs": [spec("latent", "float32", ["batch", T, D]), spec("entry_weights", "float32", ["batch", "entries"])],
    }
    _export(
        heads.prefix,
        (q,),
        out / "prefix.onnx",
        ["latent"],
        ["prefix_kv"],
        {"latent": {0: "batch"}, "prefix_kv": {2: "batch"}},
    )
    graphs["prefix"] = {
        "file": "prefix.onnx",
        "inputs": [spec("latent", "float32", ["batch", T, D])],
        "outputs": [spec("prefix_kv", "float32", [L, 2, "batch", 1, getattr(heads.prefix, "R", 0) + T, hd])],
    }
    return graphs


@torch.no_grad()
def one_entry_direct(heads: Heads, trials: int = 8, tol: float = 1e-2) -> bool:
    """Whether a one-entry bank's prefix is the prefix of the entry's modulation itself, whatever the
    question (so the engine may skip encoding the question and aggregating: manifest
    architecture.mac.one_entry_direct). Holds when the aggregation only scales each slot of a lone
    entry and the prefix RMS-norms every slot; checked on seeded random modulations and queries.
    For the shipped heads the relative difference of the slots' K/V is 2.6e-3 on unit-normal
    modulations (the learned null entry's small share) and 1.3e-6 on 100 valid paragraphs' own;
    for heads that mix entries or slots (lmspace's pooling) it is of order one."""
    g = torch.Generator().manual_seed(0)
    c = heads.cfg
    R = getattr(heads.prefix, "R", 0)
    for _ in range(trials):
        m = torch.randn(1, c.n_slots, c.width, generator=g)
        q = torch.randn(1, c.n_slots, c.width, generator=g) * 3
        aggregated = heads.prefix(heads.aggregate(q, m)[0])[..., R:, :]
        direct = heads.prefix(m)[..., R:, :]
        if float((aggregated - direct).norm() / direct.norm()) > tol:
            return False
    return True


@torch.no_grad()
def heads_fixtures(heads: Heads, seed: int = 0) -> dict:
    """PyTorch inputs -> outputs of each graph, for the engine's ONNX parity test.

    The same file on every CPU: the inputs are integers scaled by a power of two (torch's normal
    sampler is vectorised differently per instruction set), and the outputs are computed in float64
    and rounded once (llama.float64_reference)."""
    g = torch.Generator().manual_seed(seed)
    c = heads.cfg
    steps = torch.randint(-4096, 4097, (2, 6, c.width), generator=g)
    feats = steps.float() * (80 / 4096)                                          # uniform on [-80, 80]
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    with float64_reference(heads):
        wide = feats.double()
        mods = _Reader(heads.amortizer)(wide, mask)
        query = _Reader(heads.question_encoder)(wide[:1, :5], mask[:1, :5])
        kv = _MemoryKV(heads)(mods)
        latent, weights = _Aggregator(heads)(query, kv)
        prefix = heads.prefix(latent)
    r = lambda t: [round(float(x), 6) for x in t.float().flatten()]              # noqa: E731
    return {"features": r(feats), "features_shape": list(feats.shape), "attention_mask": mask.tolist(),
            "modulation": r(mods), "query": r(query), "entry_weights": r(weights), "latent": r(latent),
            "prefix_kv_sample": r(prefix.flatten()[:: max(1, prefix.numel() // 4096)]),
            "prefix_kv_shape": list(prefix.shape)}

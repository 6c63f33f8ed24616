"""Norms, rotary embeddings and GELU as single onnxruntime kernels in the exported Gemma graph.

Why: exported op by op, each RMSNorm is six nodes (Pow, ReduceMean, Add, Sqrt, Div, Mul: torch's
rsqrt becomes Div(1, Sqrt), which onnxruntime's own norm fusion does not match), each rotation
seven (two Slices, Neg, Concat, two Muls, Add) and each tanh GELU eight. Gemma 3 has six norms
and two rotations per layer: ~1,000 of a decoding step's ~1,600 kernels, each a few microseconds
of dispatch for a few hundred floats of work (docs/bench/README.md). Here each is one node:

- SimplifiedLayerNormalization: x / sqrt(mean(x^2) + eps) * w over the last axis, in float32
  (stash_type 1). onnxruntime registers it in the onnx domain, where torch's exporter checks every
  op against the ONNX standard and refuses it; so it is exported under a stand-in domain and
  moved to the onnx domain afterwards (into_onnx_domain).
- com.microsoft RotaryEmbedding: x (B, S, H*hd) rotated in the rotate-half layout (interleaved 0);
  cos_cache/sin_cache (N, hd/2) are rows indexed by position_ids (B, S). The graph passes the rows
  of its own positions (N = B*S, index b*S + s), so positions stay explicit inputs of any value (a
  MAC prefix's question starts after it) and no table over the whole context is stored.
- com.microsoft FastGelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GELU's tanh form.
- StaticReshape: a Reshape whose target is a constant, 0 keeping the input's dimension there (ONNX's
  default) and -1 inferring one. Traced, x.view(B, S, H, hd) with B and S dynamic becomes a Shape,
  a Gather and an Unsqueeze per dynamic dimension and a Concat before the Reshape: ~40 such kernels
  a layer, ~3 ms of a ~24 ms decoding step (recipe 17's profile, docs/bench/README.md).

Eager forward is the reference computation (used while tracing, for shapes); PyTorch's own path
never calls these (lm/gemma3.py uses them only under Gemma3.fused_attention during export). Checked
against the reference through onnxruntime by electron/engine/real-bundle.test.ts (the whole graph)
and models/tests/test_onnx_gqa.py (the kernels and their count).
"""
from __future__ import annotations

import onnx
import torch
import torch.nn.functional as F

STANDIN = "mnemo.ort"            # the export's domain for onnxruntime kernels of the onnx domain


class SimplifiedLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps: float):                                   # noqa: ARG004
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    @staticmethod
    def symbolic(g, x, weight, eps: float):
        return g.op(f"{STANDIN}::SimplifiedLayerNormalization", x, weight, axis_i=-1, epsilon_f=eps,
                    stash_type_i=1)


class RotaryEmbedding(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rows, cos_cache, sin_cache, n_heads: int):            # noqa: ARG004
        """x (B, S, H*hd); rows (B, S) int64 into cos/sin_cache (N, hd/2) -> x rotated (B, S, H*hd)."""
        B, S, _ = x.shape
        xh = x.view(B, S, n_heads, -1)                                           # (B, S, H, hd)
        cos = torch.cat([cos_cache, cos_cache], -1)[rows][:, :, None]            # (B, S, 1, hd)
        sin = torch.cat([sin_cache, sin_cache], -1)[rows][:, :, None]
        half = xh.shape[-1] // 2
        rotated = torch.cat([-xh[..., half:], xh[..., :half]], dim=-1)
        return (xh * cos + rotated * sin).reshape(B, S, -1)

    @staticmethod
    def symbolic(g, x, rows, cos_cache, sin_cache, n_heads: int):
        return g.op("com.microsoft::RotaryEmbedding", x, rows, cos_cache, sin_cache, num_heads_i=n_heads,
                    interleaved_i=0)


class FastGelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):                                                         # noqa: ARG004
        return F.gelu(x, approximate="tanh")

    @staticmethod
    def symbolic(g, x):
        return g.op("com.microsoft::FastGelu", x)


class StaticReshape(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, shape: tuple[int, ...]):                                # noqa: ARG004
        """shape: ONNX Reshape's target, 0 = x's dimension at that index, -1 = inferred."""
        return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(shape)])

    @staticmethod
    def symbolic(g, x, shape: tuple[int, ...]):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(shape, dtype=torch.int64)))


def rotary_rows(position_ids, inv_freq):
    """position_ids (B, S), inv_freq (hd/2,) -> rows (B, S) int64, cos_cache, sin_cache (B*S, hd/2):
    one table row per query position, row b*S + s for position_ids[b, s]."""
    freqs = position_ids.float().reshape(-1, 1) * inv_freq                        # (B*S, hd/2)
    rows = torch.arange(freqs.shape[0]).reshape(position_ids.shape)
    return rows, freqs.cos(), freqs.sin()


def into_onnx_domain(proto: onnx.ModelProto) -> None:
    """Moves the stand-in domain's nodes (subgraphs included) to the onnx domain, in place."""
    def walk(graph):
        for node in graph.node:
            if node.domain == STANDIN:
                node.domain = ""
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
    walk(proto.graph)
    keep = [o for o in proto.opset_import if o.domain != STANDIN]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)

"""A LLaMA-architecture causal LM: RoPE, grouped-query attention, RMSNorm, SwiGLU (SmolLM2; Qwen2 is
the same block with biases on q, k and v, and may keep its output layer apart from the embeddings).

The frozen base LM of the real bundles. Weights come from a GGUF file (lm/gguf.py); this module
only computes. Shapes: B batch, S new tokens, P past tokens, H query heads, Hkv key/value heads,
hd head size, D = H * hd model width, L layers, V vocabulary.

In PyTorch the key/value cache travels as ONE tensor past (L, 2, B, Hkv, P, hd) (a MAC prefix is just
an initial past). Exported (Llama.fused_attention, on during onnx/export_lm.py only), the graph takes
Gemma's form instead (recipes 12-18, docs/bench/README.md): a cache per layer read in place by
onnxruntime's GroupQueryAttention or the decoding step's products, one kernel per norm and rotation,
and the new positions' keys/values alone out. Positions are explicit inputs, so a prefix of P memory
tokens can sit before positions that start at 0 (mac-method.md §3.3).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnemo_models.lm.quant_linear import QuantLinear, QuantEmbedding
from mnemo_models.onnx.gqa import GroupQueryAttention, sequence_lengths
from mnemo_models.onnx.kernels import RotaryEmbedding, SimplifiedLayerNorm, StaticReshape, rotary_rows


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    hidden_dim: int
    norm_eps: float
    rope_theta: float
    max_positions: int
    qkv_bias: bool = False           # Qwen2: q, k and v projections carry a bias
    tied: bool = True                # the output layer is the embedding table (else its own weights)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def norm(layer: RMSNorm, x, fused: bool):
    """The export's one-kernel norm (onnx/kernels.py) or PyTorch's reference."""
    return SimplifiedLayerNorm.apply(x, layer.weight, layer.eps) if fused else layer(x)


def inverse_frequencies(head_dim: int, theta: float) -> torch.Tensor:
    """(hd/2,) float32 RoPE frequencies theta^(-2i/hd), computed in Python's float64 and rounded once,
    so the exported graph's constant is the same on every CPU (torch's float32 pow is vectorised
    differently per instruction set: tables differing by ~3e-11 changed the bundle's hashes)."""
    return torch.tensor([1.0 / theta ** (i / head_dim) for i in range(0, head_dim, 2)], dtype=torch.float32)


def rope_tables(position_ids, head_dim: int, theta: float, dtype=torch.float32):
    """position_ids (B, S) -> cos, sin (B, 1, S, hd), the rotate-half layout of HF LLaMA.

    dtype float64 serves reference computations (float64_reference); graphs use float32."""
    inv_freq = inverse_frequencies(head_dim, theta).to(dtype)                    # (hd/2,)
    freqs = position_ids.to(dtype)[..., None] * inv_freq                         # (B, S, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]                             # (B, 1, S, hd)
    return emb.cos(), emb.sin()


@contextmanager
def float64_reference(module: nn.Module):
    """Runs `module` in float64 inside the block, then restores its float32 weights exactly.

    For the values a bundle build writes into files (the MAC frame's K/V, golden fixtures): float32
    results depend on the CPU's kernels in their last bits, so a rebuild elsewhere gave other hashes.
    Computed in float64 and rounded to float32 once, they agree across machines (the float64 results
    differ by ~1e-16, far below a float32 rounding step). Callers pass float64 inputs and past;
    float32 -> float64 -> float32 is lossless, and QuantLinear's dequantized copy is dropped both ways.
    """
    def drop_cached():
        for m in module.modules():
            if isinstance(m, QuantLinear):
                m._cached = None
    drop_cached()
    module.double()
    try:
        yield module
    finally:
        module.float()
        drop_cached()


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def grouped_attention(q, k, v, bias, cfg, divide_by: float | None, B, S):
    """q (B, H, S, hd); k, v (B, Hkv, T, hd); bias (B, 1, S, T) additive -> (B, H, S, hd).

    H, Hkv and hd come from cfg (n_heads, n_kv_heads, head_dim) as Python ints, so the exported graph
    holds them as constants; B and S are the caller's (from its input's shape), T is k's: dynamic.

    Grouped queries: query head h reads kv head h // rep. The rep query heads of a group are stacked
    along the sequence axis, so keys and values are never copied per query head (the cache is the
    largest tensor a decoding step touches). divide_by: the logits' temperature (√hd); None when q
    is already scaled.
    """
    T = k.shape[2]
    H, Hkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    rep = H // Hkv
    qg = q.reshape(B, Hkv, rep * S, hd)                                          # (B, Hkv, rep*S, hd)
    bg = bias[:, :, None].expand(B, 1, rep, S, T).reshape(B, 1, rep * S, T)
    att = qg @ k.transpose(-2, -1)                                               # (B, Hkv, rep*S, T)
    att = (att / divide_by if divide_by is not None else att) + bg
    return (torch.softmax(att, dim=-1) @ v).reshape(B, H, S, hd)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig, linear):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q = linear(cfg.dim, cfg.n_heads * hd)
        self.k = linear(cfg.dim, cfg.n_kv_heads * hd)
        self.v = linear(cfg.dim, cfg.n_kv_heads * hd)
        self.o = linear(cfg.n_heads * hd, cfg.dim)
        if cfg.qkv_bias:   # a bias beside the (possibly quantized) weight: one Add each in the graph
            self.q_bias = nn.Parameter(torch.zeros(cfg.n_heads * hd))
            self.k_bias = nn.Parameter(torch.zeros(cfg.n_kv_heads * hd))
            self.v_bias = nn.Parameter(torch.zeros(cfg.n_kv_heads * hd))

    def project(self, name: str, x):
        """x (B, S, D) -> the q, k or v projection (B, S, heads*hd), biased where the model has biases.
        One at a time, each reshaped before the next: the graph's node order (and so a bundle's
        bytes) stays what it was before biases existed."""
        y = getattr(self, name)(x)
        return y + getattr(self, f"{name}_bias") if self.cfg.qkv_bias else y

    def forward(self, x, cos, sin, past_k, past_v, bias):
        """x (B, S, D); past_k/v (B, Hkv, P, hd); bias (B, 1, S, P+S) additive mask -> y, k, v."""
        B, S, _ = x.shape
        c, hd = self.cfg, self.cfg.head_dim
        q = self.project("q", x).view(B, S, c.n_heads, hd).transpose(1, 2)       # (B, H, S, hd)
        k = self.project("k", x).view(B, S, c.n_kv_heads, hd).transpose(1, 2)    # (B, Hkv, S, hd)
        v = self.project("v", x).view(B, S, c.n_kv_heads, hd).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = torch.cat([past_k, k], dim=2)                                        # (B, Hkv, P+S, hd)
        v = torch.cat([past_v, v], dim=2)
        y = grouped_attention(q, k, v, bias, c, math.sqrt(hd), B, S)             # (B, H, S, hd)
        return self.o(y.transpose(1, 2).reshape(B, S, c.dim)), k, v

    def forward_fused(self, x, rope, past_k, past_v, lengths):
        """The exported form (as lm/gemma3.py's): rope (rows, cos, sin) from onnx.kernels.rotary_rows,
        lengths (seqlens_k, total); past_k/v (B, Hkv, C, hd) whose first T - S slots hold the past.
        -> y (B, S, D) and the new positions' k, v (B, Hkv, S, hd)."""
        c, hd = self.cfg, self.cfg.head_dim
        heads = lambda t, n: StaticReshape.apply(t, (0, 0, n, hd))               # noqa: E731
        q, k, v = self.project("q", x), self.project("k", x), self.project("v", x)   # (B, S, heads*hd)
        q, k = RotaryEmbedding.apply(q, *rope, c.n_heads), RotaryEmbedding.apply(k, *rope, c.n_kv_heads)
        y, _, _ = GroupQueryAttention.apply(q, k, v, past_k, past_v, *lengths, c.n_heads, c.n_kv_heads,
                                            1.0 / math.sqrt(hd), -1)
        return self.o(y), heads(k, c.n_kv_heads).transpose(1, 2), heads(v, c.n_kv_heads).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, cfg: LlamaConfig, linear):
        super().__init__()
        self.gate = linear(cfg.dim, cfg.hidden_dim)
        self.up = linear(cfg.dim, cfg.hidden_dim)
        self.down = linear(cfg.hidden_dim, cfg.dim)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig, linear):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, linear)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg, linear)

    def forward(self, x, rope, past_k, past_v, bias, lengths=None):
        """rope: (cos, sin) from rope_tables, or with lengths (the exported form) rotary_rows' triple."""
        f = lengths is not None
        h = norm(self.attn_norm, x, f)
        y, k, v = (self.attn.forward_fused(h, rope, past_k, past_v, lengths) if f
                   else self.attn(h, *rope, past_k, past_v, bias))
        x = x + y
        return x + self.ffn(norm(self.ffn_norm, x, f)), k, v


def _float_linear(n_in: int, n_out: int) -> nn.Module:
    return nn.Linear(n_in, n_out, bias=False)


class TiedLM(nn.Module):
    """The parts every base LM here shares: a stack of blocks, a final norm and the embeddings, tied
    to the output layer unless cfg.tied is False (Qwen2.5 0.5B/1.5B keep their own output weights).

    precision "fp32": float weights; "q4"/"q8": QuantLinear blocks (ONNX MatMulNBits on export).
    """

    def __init__(self, cfg, precision: str, block):
        super().__init__()
        self.cfg, self.precision = cfg, precision
        quant = precision != "fp32"
        linear = QuantLinear if quant else _float_linear
        self.blocks = nn.ModuleList([block(cfg, linear) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        tied = getattr(cfg, "tied", True)
        if quant:  # tied: one 8-bit block table serves the output layer and the embedding lookup
            self.head = QuantLinear(cfg.dim, cfg.vocab_size)
            if not tied:                              # the lookup's own 8-bit table
                self.embed_table = QuantLinear(cfg.dim, cfg.vocab_size)
            self.embed = QuantEmbedding(self.head if tied else self.embed_table)
        else:
            self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
            self.head = None if tied else nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def logits(self, x):
        return self.head(x) if self.head is not None else F.linear(x, self.embed.weight)

    def empty_past(self, batch: int = 1, dtype=torch.float32):
        c = self.cfg
        return torch.zeros(c.n_layers, 2, batch, c.n_kv_heads, 0, c.head_dim, dtype=dtype)


class Llama(TiedLM):
    # True while exporting (onnx.export_lm.export_lm): the one-kernel pieces and a cache per layer.
    # PyTorch itself always runs the reference path.
    fused_attention = False

    def __init__(self, cfg: LlamaConfig, precision: str = "fp32"):
        super().__init__(cfg, precision, Block)

    def forward(self, input_ids, position_ids, attention_mask, past_key_values, last_only: bool = False):
        """input_ids, position_ids (B, S); attention_mask (B, P+S) 1 = real; past (L, 2, B, Hkv, P, hd),
        or in the exported (fused) graph 2L per-layer caches (B, Hkv, C, hd), C >= P.

        Returns logits (B, S, V), or (B, 1, V) with last_only (the exported graph: decoding needs only
        the last position, and the output layer over a prompt of S tokens would cost S x D x V), and
        present (L, 2, B, Hkv, P+S, hd), or in the exported graph the new positions alone
        (L, 2, B, Hkv, S, hd), its new_key_values.
        """
        c, S, T = self.cfg, input_ids.shape[1], attention_mask.shape[1]
        P = T - S
        fused = self.fused_attention and torch.onnx.is_in_onnx_export()
        x = self.embed(input_ids)                                                # (B, S, D)
        present = []
        if fused:      # right padding only, as for Gemma (onnx/gqa.py): causality hides the padding
            rope = rotary_rows(position_ids, inverse_frequencies(c.head_dim, c.rope_theta))
            lengths = sequence_lengths(input_ids, attention_mask)
            layers = list(past_key_values)                                       # 2L × (B, Hkv, C, hd)
            for i, block in enumerate(self.blocks):
                x, k, v = block(x, rope, layers[2 * i], layers[2 * i + 1], None, lengths)
                present += [k, v]
            # the 2L slabs of new positions joined by one Concat: (L, 2, B, Hkv, S, hd)
            present = torch.cat(present).view(c.n_layers, 2, *present[0].shape)
        else:
            rope = rope_tables(position_ids, c.head_dim, c.rope_theta, past_key_values.dtype)
            # Query i (absolute index P+i) sees key j when j <= P+i and key j is not padding.
            causal = torch.arange(T)[None, :] <= (torch.arange(S) + P)[:, None]     # (S, T)
            allowed = causal[None] & attention_mask.bool()[:, None, :]               # (B, S, T)
            bias = torch.zeros(allowed.shape, dtype=torch.float32).masked_fill(~allowed, -1e9)[:, None]
            for i, block in enumerate(self.blocks):
                x, k, v = block(x, rope, past_key_values[i, 0], past_key_values[i, 1], bias)
                present.append(torch.stack([k, v]))
            present = torch.stack(present)
        if last_only:
            x = x[:, -1:]
        return self.logits(norm(self.norm, x, fused)), present

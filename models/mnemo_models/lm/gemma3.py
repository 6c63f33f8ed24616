"""Gemma 3 (text): the default frozen base LM. Same graph contract as lm/llama.py, different block.

What differs from LLaMA (Gemma 3 technical report; checked against llama.cpp's logits on the same
GGUF, docs/bench/): the embedding is scaled by sqrt(D); each block norms its input AND its output
(pre/post norms around attention and the feed-forward); queries and keys are RMS-normed per head
before RoPE; the feed-forward is GeGLU (tanh GELU); five sliding-window layers (window W, RoPE base
10k) alternate with one global layer (RoPE base 1M); the head size (256) is not D / H.
The GGUF's norm weights already hold Gemma's (1 + w), so RMSNorm is the plain one.

Shapes: B batch, S new tokens, P past, T = P + S, H query heads, Hkv key/value heads, hd head size,
D model width, F feed-forward width, L layers, V vocabulary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnemo_models.lm.llama import (RMSNorm, TiedLM, grouped_attention, inverse_frequencies, norm, rope_tables,
                                   rotate)
from mnemo_models.onnx.gqa import GroupQueryAttention, sequence_lengths
from mnemo_models.onnx.kernels import FastGelu, RotaryEmbedding, StaticReshape, rotary_rows


@dataclass(frozen=True)
class Gemma3Config:
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    norm_eps: float
    rope_theta: float                   # global layers
    rope_theta_local: float             # sliding-window layers (not in the GGUF: llama.cpp fixes 10k)
    sliding_window: int
    global_every: int                   # layer i is global when (i + 1) % global_every == 0
    query_scale: float                  # 1 / sqrt(query_pre_attn_scalar)
    max_positions: int

    def is_global(self, layer: int) -> bool:
        return (layer + 1) % self.global_every == 0


class Attention(nn.Module):
    def __init__(self, cfg: Gemma3Config, linear):
        super().__init__()
        self.cfg, hd = cfg, cfg.head_dim
        self.q = linear(cfg.dim, cfg.n_heads * hd)
        self.k = linear(cfg.dim, cfg.n_kv_heads * hd)
        self.v = linear(cfg.dim, cfg.n_kv_heads * hd)
        self.o = linear(cfg.n_heads * hd, cfg.dim)
        self.q_norm = RMSNorm(hd, cfg.norm_eps)
        self.k_norm = RMSNorm(hd, cfg.norm_eps)

    def forward(self, x, cos, sin, past_k, past_v, bias):
        """x (B, S, D); past_k/v (B, Hkv, P, hd); bias (B, 1, S, T) additive -> y (B, S, D), k, v."""
        B, S, _ = x.shape
        c, hd = self.cfg, self.cfg.head_dim
        q = self.q_norm(self.q(x).view(B, S, c.n_heads, hd)).transpose(1, 2)     # (B, H, S, hd)
        k = self.k_norm(self.k(x).view(B, S, c.n_kv_heads, hd)).transpose(1, 2)  # (B, Hkv, S, hd)
        v = self.v(x).view(B, S, c.n_kv_heads, hd).transpose(1, 2)
        q, k = rotate(q, cos, sin) * c.query_scale, rotate(k, cos, sin)
        k = torch.cat([past_k, k], dim=2)                                        # (B, Hkv, T, hd)
        v = torch.cat([past_v, v], dim=2)
        y = grouped_attention(q, k, v, bias, c, None, B, S)                      # (B, H, S, hd)
        return self.o(y.transpose(1, 2).reshape(B, S, c.n_heads * hd)), k, v

    def forward_fused(self, x, rope, past_k, past_v, lengths, window: int):
        """The exported form: rope (rows, cos, sin) from onnx_kernels.rotary_rows, lengths (seqlens_k,
        total); one kernel each for the norms, the rotations and the attention (onnx/gqa.py)
        instead of the cache concat, masks, softmax and products op by op. past_k/v (B, Hkv, C, hd):
        the first P = T - S of the C slots hold the past. -> y (B, S, D) and the new positions' k, v
        (B, Hkv, S, hd) (the reference path returns the whole present)."""
        c, hd = self.cfg, self.cfg.head_dim
        # Reshapes to constant targets (0 keeps B, S): no shape arithmetic in the graph (onnx/kernels.py).
        heads = lambda t, n: StaticReshape.apply(t, (0, 0, n, hd))               # noqa: E731
        flat = lambda t: StaticReshape.apply(t, (0, 0, -1))                      # noqa: E731
        q = flat(norm(self.q_norm, heads(self.q(x), c.n_heads), True))            # (B, S, H*hd)
        k = flat(norm(self.k_norm, heads(self.k(x), c.n_kv_heads), True))         # (B, S, Hkv*hd)
        q, k = RotaryEmbedding.apply(q, *rope, c.n_heads), RotaryEmbedding.apply(k, *rope, c.n_kv_heads)
        v = self.v(x)
        y, _, _ = GroupQueryAttention.apply(q, k, v, past_k, past_v, *lengths, c.n_heads,
                                            c.n_kv_heads, c.query_scale, window)
        # The new positions' keys/values alone (B, Hkv, S, hd), not the kernel's present: the graph
        # returns only these (new_key_values), so no step copies the whole cache out (recipe 16).
        return self.o(y), heads(k, c.n_kv_heads).transpose(1, 2), heads(v, c.n_kv_heads).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, cfg: Gemma3Config, linear):
        super().__init__()
        self.gate = linear(cfg.dim, cfg.hidden_dim)
        self.up = linear(cfg.dim, cfg.hidden_dim)
        self.down = linear(cfg.hidden_dim, cfg.dim)

    def forward(self, x, fused: bool = False):
        gate = FastGelu.apply(self.gate(x)) if fused else F.gelu(self.gate(x), approximate="tanh")
        return self.down(gate * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: Gemma3Config, linear):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg, linear)
        self.post_attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg, linear)
        self.post_ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(self, x, rope, past_k, past_v, bias, fused=None):
        """rope: (cos, sin) from rope_tables. fused: (lengths, window) to export each piece as one
        kernel (Attention.forward_fused); then rope is onnx_kernels.rotary_rows' (rows, cos, sin)
        and bias is unused."""
        f = fused is not None
        h = norm(self.attn_norm, x, f)
        y, k, v = (self.attn(h, *rope, past_k, past_v, bias) if not f
                   else self.attn.forward_fused(h, rope, past_k, past_v, *fused))
        x = x + norm(self.post_attn_norm, y, f)
        return x + norm(self.post_ffn_norm, self.ffn(norm(self.ffn_norm, x, f), f), f), k, v


class Gemma3(TiedLM):
    # True while exporting (onnx.export_lm.export_lm): attention becomes onnxruntime's
    # GroupQueryAttention kernel (onnx/gqa.py). PyTorch itself always runs the reference path.
    fused_attention = False

    def __init__(self, cfg: Gemma3Config, precision: str = "fp32"):
        super().__init__(cfg, precision, Block)

    def forward(self, input_ids, position_ids, attention_mask, past_key_values, last_only: bool = False,
                hidden_only: bool = False, tap_layer: int | None = None, stop_at_tap: bool = False):
        """input_ids, position_ids (B, S); attention_mask (B, T) 1 = real; past (L, 2, B, Hkv, P, hd),
        or in the exported (fused) graph a list of 2L per-layer caches (B, Hkv, C, hd), keys and values
        of layer 0, then layer 1, …, whose first P = T - S slots hold the past (C >= P: a caller may
        hand in buffers with room to grow).

        -> logits (B, S, V) or (B, 1, V) with last_only, or the final-normed hidden states (B, S, D)
        with hidden_only (training picks the few positions it needs logits for); present
        (L, 2, B, Hkv, T, hd), or in the exported graph the new positions alone (L, 2, B, Hkv, S, hd),
        its new_key_values. With tap_layer = K, a third output: the residual stream after the
        first K blocks (B, S, D), what MAC's amortizer reads (mac/heads.py); stop_at_tap returns it
        alone, without running the rest. tap_layer = -1 with stop_at_tap: every block's input (L, B, S, D).
        The sliding window counts cache slots, like the causal mask: key j is within the window of
        query i when P + i - j < W (a MAC prefix's slots count as positions here too).
        """
        c, S, T = self.cfg, input_ids.shape[1], attention_mask.shape[1]
        P = T - S
        dist = (torch.arange(S) + P)[:, None] - torch.arange(T)[None, :]          # (S, T) query - key
        real = attention_mask.bool()[:, None, :]                                 # (B, 1, T)
        causal = (dist >= 0)[None] & real
        local = causal & (dist < c.sliding_window)[None]
        to_bias = lambda ok: torch.zeros(ok.shape).masked_fill(~ok, -1e9)[:, None]  # noqa: E731
        bias_global, bias_local = to_bias(causal), to_bias(local)                # (B, 1, S, T)
        x = self.embed(input_ids) * math.sqrt(c.dim)                             # (B, S, D)
        fused = self.fused_attention and torch.onnx.is_in_onnx_export()
        if fused:                                  # one table row per query position (onnx/kernels.py)
            rope_global = rotary_rows(position_ids, inverse_frequencies(c.head_dim, c.rope_theta))
            rope_local = rotary_rows(position_ids, inverse_frequencies(c.head_dim, c.rope_theta_local))
            lengths = sequence_lengths(input_ids, attention_mask)
        else:
            dtype = past_key_values.dtype                                        # float64: references only
            rope_global = rope_tables(position_ids, c.head_dim, c.rope_theta, dtype)
            rope_local = rope_tables(position_ids, c.head_dim, c.rope_theta_local, dtype)
        present, tapped, every = [], None, []
        # The exported graph takes each layer's cache as an input of its own, read by its attention
        # kernel directly (recipe 17): a packed past cost a Split, a copy of the whole cache, per step.
        layers = list(past_key_values) if fused else None                        # 2L × (B, Hkv, C, hd)
        for i, block in enumerate(self.blocks):
            if tap_layer == -1:                       # every block's input (fitting MAC's per-layer maps)
                every.append(x)
            if i == tap_layer:
                if stop_at_tap:
                    return x
                tapped = x
            rope, bias = (rope_global, bias_global) if c.is_global(i) else (rope_local, bias_local)
            window = -1 if c.is_global(i) else c.sliding_window - 1              # onnx/gqa.py's convention
            past_k, past_v = (layers[2 * i], layers[2 * i + 1]) if fused else past_key_values[i]
            x, k, v = block(x, rope, past_k, past_v, bias, (lengths, window) if fused else None)
            present += [k, v] if fused else [torch.stack([k, v])]
        if every and stop_at_tap:
            return torch.stack(every)                                            # (L, B, S, D)
        if last_only:
            x = x[:, -1:]
        h = norm(self.norm, x, fused)
        # (L, 2, B, Hkv, T, hd); the exported graph's (fused) holds the new positions alone: (…, S, hd),
        # the 2L slabs joined by one Concat (a stack is an Unsqueeze per slab and a Concat per layer)
        present = (torch.cat(present).view(c.n_layers, 2, *present[0].shape) if fused
                   else torch.stack(present))
        out = (h if hidden_only else self.logits(h)), present
        return out if tap_layer is None else (*out, tapped)

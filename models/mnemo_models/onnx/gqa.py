"""Attention as one onnxruntime kernel: com.microsoft GroupQueryAttention in the exported LM graph.

Why: a decoding step of Gemma 3 270M exported op by op is ~2,000 small kernels, and more than half
of its time is spent outside the matrix products (docs/bench/README.md: Concat, Unsqueeze, Transpose,
Gather, Mul of the attention and the cache). GroupQueryAttention does, per layer, in one kernel:
append the new keys/values to the past, Q·Kᵀ with the scale, the causal and sliding-window masks,
softmax and ·V, reading each key/value head once for its group of query heads.

Semantics, matched to lm/gemma3.py's reference (and checked against it through the exported graph by
electron/engine/real-bundle.test.ts and models/tests/test_onnx_gqa.py):
- q (B, S, H*hd), k and v (B, S, Hkv*hd), already normed and rotated; past_k/v (B, Hkv, P, hd) ->
  y (B, S, H*hd), present_k/v (B, Hkv, T, hd) with T = P + S.
- Query i (cache slot P + i) attends keys j <= P + i; a sliding-window layer only the last W slots,
  P + i - j < W, which is onnxruntime's local_window_size = W - 1 (it keeps the last window + 1 keys,
  self included).
- seqlens_k (B,) int32 = T - 1 and total_sequence_length () int32 = T for every row: the kernel
  ignores attention_mask, which is sound for what the contract allows, right padding only (a
  padded row's real queries come before its padding, so causality already hides it; the outputs at
  padded positions are garbage, and every caller drops them).
"""
from __future__ import annotations

import torch

OP = "com.microsoft::GroupQueryAttention"


class GroupQueryAttention(torch.autograd.Function):
    """Eager: the reference computation (used only while tracing, for shapes). Export: one node."""

    @staticmethod
    def forward(ctx, q, k, v, past_k, past_v, seqlens_k, total_len,  # noqa: ARG004
                n_heads: int, n_kv_heads: int, scale: float, window: int):
        B, S, _ = q.shape
        hd = past_k.shape[-1]
        k = torch.cat([past_k, k.view(B, S, n_kv_heads, hd).transpose(1, 2)], dim=2)   # (B, Hkv, T, hd)
        v = torch.cat([past_v, v.view(B, S, n_kv_heads, hd).transpose(1, 2)], dim=2)
        T, rep = k.shape[2], n_heads // n_kv_heads
        qh = q.view(B, S, n_heads, hd).transpose(1, 2)                                  # (B, H, S, hd)
        att = qh @ k.repeat_interleave(rep, dim=1).transpose(-2, -1) * scale            # (B, H, S, T)
        dist = (torch.arange(S) + T - S)[:, None] - torch.arange(T)[None, :]
        ok = dist >= 0
        if window >= 0:
            ok = ok & (dist <= window)
        att = att.masked_fill(~ok, float("-inf")).softmax(-1)
        y = att @ v.repeat_interleave(rep, dim=1)                                       # (B, H, S, hd)
        return y.transpose(1, 2).reshape(B, S, n_heads * hd), k, v

    @staticmethod
    def symbolic(g, q, k, v, past_k, past_v, seqlens_k, total_len,
                 n_heads: int, n_kv_heads: int, scale: float, window: int):
        return g.op(OP, q, k, v, past_k, past_v, seqlens_k, total_len, num_heads_i=n_heads,
                    kv_num_heads_i=n_kv_heads, scale_f=scale, local_window_size_i=window, outputs=3)


def sequence_lengths(input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """-> seqlens_k (B,) int32 = T - 1, total_sequence_length () int32 = T, T = attention_mask's width.

    Built from tensor ops (not Python ints) so the traced graph keeps T dynamic."""
    total = torch.ones_like(attention_mask[0]).sum().to(torch.int32)                  # ()
    seqlens = torch.zeros_like(input_ids[:, 0], dtype=torch.int32) + (total - 1)       # (B,)
    return seqlens, total

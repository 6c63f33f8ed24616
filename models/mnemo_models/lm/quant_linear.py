"""Block-quantized linear layers that export to ONNX Runtime's com.microsoft MatMulNBits.

A weight W (N out, K in) is stored as blocks of 32 along K: packed codes (N, K/32, 32*bits/8) uint8,
scales (N, K/32) float32, integer zero points, and optional per-block minimums (N, K/32):
W[n, k] = (code - zero) * scale + min. GGUF's Q4_1 (W = d*q + m) is codes q, scale d, zero 0 and
min m; Q8_0 (W = d*q, q int8) is codes q+128, zero 128. The file's blocks load as they are.
MatMulNBits has no "min" term, and its float zero points (which could hold -m/d) take a slow path
in onnxruntime 1.30 (~90x slower at one token, measured), so the minimums are folded exactly:
x @ W.T = MatMulNBits(x) + blocksum(x) @ min.T, blocksum(x) (…, K/32) the sums of x over each block.
In PyTorch the layer dequantizes and multiplies (slow, exact: the reference).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCK = 32


def unpack_codes(packed: torch.Tensor, bits: int) -> torch.Tensor:
    """(N, nb, 32*bits/8) uint8 -> (N, nb, 32) codes; 4-bit: element 2i low nibble, 2i+1 high."""
    if bits == 8:
        return packed
    low, high = packed & 15, packed >> 4
    return torch.stack([low, high], dim=-1).reshape(*packed.shape[:-1], BLOCK)


def zero_points(packed_zeros: torch.Tensor, bits: int, nb: int) -> torch.Tensor:
    """MatMulNBits' zero-point layout -> (N, nb): 8 bits one byte each, 4 bits two per byte (low first)."""
    if bits == 8:
        return packed_zeros
    z = torch.stack([packed_zeros & 15, packed_zeros >> 4], dim=-1).reshape(packed_zeros.shape[0], -1)
    return z[:, :nb]


def dequantize(packed, scales, zeros, bits: int, mins=None) -> torch.Tensor:
    codes = unpack_codes(packed, bits).float()                                  # (N, nb, 32)
    w = (codes - zero_points(zeros, bits, scales.shape[1]).float()[..., None]) * scales[..., None]
    if mins is not None and mins.numel():
        w = w + mins[..., None]
    return w.reshape(w.shape[0], -1)                                             # (N, K)


# accuracy_level 4 (int8 activations) is the only fast 8-bit kernel in onnxruntime 1.30 on CPU
# (2.7 ms vs 174 ms for the 49152 x 576 output layer at one token); 4 bits run fast in fp32 (level 0).
ACCURACY_LEVEL = {4: 0, 8: 4}


class _MatMulNBits(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, packed, scales, zeros, bits: int):                       # noqa: ARG004
        return F.linear(x, dequantize(packed, scales, zeros, bits))

    @staticmethod
    def symbolic(g, x, packed, scales, zeros, bits: int):
        N, nb = scales.type().sizes()
        return g.op("com.microsoft::MatMulNBits", x, packed, scales, zeros, K_i=nb * BLOCK, N_i=N,
                    bits_i=bits, block_size_i=BLOCK, accuracy_level_i=ACCURACY_LEVEL[bits])


class QuantLinear(nn.Module):
    """y = x @ W.T with W held as blocks; load with load_blocks (codes, scales, zeros, bits)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        assert n_in % BLOCK == 0, f"input width {n_in} is not a multiple of {BLOCK}"
        self.n_in, self.n_out, self.bits = n_in, n_out, 0
        for name in ("packed", "scales", "zeros", "mins"):
            self.register_buffer(name, torch.empty(0))

    def load_blocks(self, packed: np.ndarray, scales: np.ndarray, zeros: np.ndarray, bits: int,
                    mins: np.ndarray | None = None) -> None:
        """codes (N, nb, 32*bits/8), scales and integer zeros (N, nb), mins (N, nb) or None."""
        nb = self.n_in // BLOCK
        assert packed.shape == (self.n_out, nb, BLOCK * bits // 8), packed.shape
        assert scales.shape == zeros.shape == (self.n_out, nb)
        self.bits, self._cached = bits, None
        self.packed = torch.from_numpy(np.ascontiguousarray(packed, dtype=np.uint8))
        self.scales = torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float32))
        z = np.asarray(zeros, dtype=np.uint8)
        if bits == 4:                                                            # two per byte, low first
            z = np.pad(z, ((0, 0), (0, nb % 2)))
            z = z[:, 0::2] | (z[:, 1::2] << 4)
        self.zeros = torch.from_numpy(np.ascontiguousarray(z))
        if mins is not None:
            self.mins = torch.from_numpy(np.ascontiguousarray(mins, dtype=np.float32))

    def weight(self) -> torch.Tensor:
        return dequantize(self.packed, self.scales, self.zeros, self.bits, self.mins)

    def forward(self, x):
        if not torch.onnx.is_in_onnx_export():                                   # PyTorch reference path:
            if getattr(self, "_cached", None) is None:                           # dequantize once, exactly
                self._cached = self.weight()
            return F.linear(x, self._cached)
        y = _MatMulNBits.apply(x, self.packed, self.scales, self.zeros, self.bits)
        if self.mins.numel():                                                    # Q4_1's m, folded
            sums = x.reshape(*x.shape[:-1], -1, BLOCK).sum(-1)                   # (…, nb)
            y = y + sums @ self.mins.t()
        return y


class QuantEmbedding(nn.Module):
    """Row lookup in an 8-bit QuantLinear's table (tied embeddings): (B, S) ids -> (B, S, D)."""

    def __init__(self, table: QuantLinear):
        super().__init__()
        self.table = [table]              # a list: the table's buffers belong to the head, exported once

    def forward(self, ids):
        t = self.table[0]
        assert t.bits == 8, "the embedding lookup reads an 8-bit table"
        rows = t.packed[ids].float()                                             # (B, S, nb, 32)
        w = (rows - t.zeros[ids].float()[..., None]) * t.scales[ids][..., None]
        if t.mins.numel():
            w = w + t.mins[ids][..., None]
        return w.reshape(*ids.shape, t.n_in)


def quantize_blocks(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float (N, K) -> 8-bit symmetric blocks: codes q+128, scales max|w|/127, zeros 128."""
    N, K = w.shape
    b = w.reshape(N, K // BLOCK, BLOCK).astype(np.float32)
    if bits == 8:
        scale = np.abs(b).max(-1) / 127.0
        safe = np.where(scale == 0, 1.0, scale)
        codes = (np.clip(np.rint(b / safe[..., None]), -127, 127) + 128).astype(np.uint8)
        return codes, scale.astype(np.float32), np.full(scale.shape, 128, np.uint8)
    raise ValueError("4-bit blocks come from the GGUF file itself (Q4_1), never re-quantized here")


def pack4(codes: np.ndarray) -> np.ndarray:
    """(…, 32) codes 0..15 -> (…, 16) bytes, element 2i in the low nibble of byte i."""
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)

"""A GGUF file (llama or qwen2 architecture) -> LlamaConfig, a loaded Llama, and an HF tokenizer.json.

Read with the `gguf` package (llama.cpp's own reader). Quantized tensors arrive as raw blocks,
(rows, bytes per row) uint8: Q4_1 blocks are 20 bytes (fp16 d, fp16 m, 16 bytes of nibbles: byte j
holds element j low and element j+16 high), Q8_0 blocks 34 bytes (fp16 d, 32 int8).
llama.cpp's converter permutes the rows of Q and K for its interleaved RoPE; we undo that so the
model uses the HF rotate-half layout (rows are whole blocks, so the permutation is exact). Its qwen2
converter keeps HF's rows as they are, and adds the q/k/v biases and (for Qwen2.5 0.5B/1.5B) an
output layer of its own, output.weight.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from gguf import GGUFReader, GGMLQuantizationType as QT
from gguf.quants import dequantize as gguf_dequantize

from mnemo_models.lm.llama import Llama, LlamaConfig
from mnemo_models.lm.quant_linear import BLOCK, QuantLinear, pack4, quantize_blocks
from mnemo_models.lm.spm_tokenizer import tokenizer_json_spm


def field(reader: GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


ARCHITECTURES = ("llama", "qwen2", "gemma3")
LLAMA_FAMILY = ("llama", "qwen2")          # the same block, read by load_llama


def architecture(path: Path) -> str:
    arch = field(GGUFReader(str(path)), "general.architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"GGUF architecture {arch!r} is not supported ({', '.join(ARCHITECTURES)})")
    return arch


def read_config(reader: GGUFReader) -> LlamaConfig:
    arch = field(reader, "general.architecture")
    if arch not in LLAMA_FAMILY:
        raise ValueError(f"GGUF architecture {arch!r} is not a llama or qwen2")
    g = lambda k: field(reader, f"{arch}.{k}")                                   # noqa: E731
    names = {t.name for t in reader.tensors}
    return LlamaConfig(vocab_size=len(field(reader, "tokenizer.ggml.tokens")), dim=g("embedding_length"),
                       n_layers=g("block_count"), n_heads=g("attention.head_count"),
                       n_kv_heads=g("attention.head_count_kv"), hidden_dim=g("feed_forward_length"),
                       norm_eps=float(g("attention.layer_norm_rms_epsilon")),
                       rope_theta=float(g("rope.freq_base")), max_positions=g("context_length"),
                       qkv_bias="blk.0.attn_q.bias" in names, tied="output.weight" not in names)


def unpermute_rows(n_heads: int, rows: int) -> np.ndarray:
    """Row order that turns llama.cpp's interleaved Q/K rows back into HF's (heads, 2, hd/2) order."""
    hd = rows // n_heads
    return np.arange(rows).reshape(n_heads, hd // 2, 2).swapaxes(1, 2).reshape(-1)


def blocks_q4_1(raw: np.ndarray):
    """(N, nb*20) uint8 -> MatMulNBits codes (N, nb, 16), scales d, zeros 0, mins m (each (N, nb))."""
    b = raw.reshape(raw.shape[0], -1, 20)
    d = b[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = b[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    qs = b[..., 4:20]
    codes = np.concatenate([qs & 15, qs >> 4], axis=-1)                          # element order 0..31
    return pack4(codes), d, np.zeros(d.shape, np.uint8), m


def blocks_q8_0(raw: np.ndarray):
    """(N, nb*34) uint8 -> codes (N, nb, 32) = q + 128, scales (N, nb), zeros 128."""
    b = raw.reshape(raw.shape[0], -1, 34)
    d = b[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    q = b[..., 2:34].copy().view(np.int8)
    return (q.astype(np.int16) + 128).astype(np.uint8), d, np.full(d.shape, 128, np.uint8), None


def blocks_q4_k(raw: np.ndarray):
    """(N, nb*144) uint8 Q4_K super-blocks of 256 -> 4-bit blocks of 32, exactly: codes (N, 8nb, 16)
    packed, scales d*sc, zeros 0 and mins -dmin*m (each (N, 8nb)). A super-block holds fp16 d and
    dmin, 8 six-bit (sc, m) pairs packed in 12 bytes, and 128 bytes of nibbles: byte j of chunk c
    (32 bytes) holds element j of sub-block 2c low and of sub-block 2c+1 high; W = d*sc*q - dmin*m.
    fp16 times a 6-bit integer is exact in float32, so the MatMulNBits form is the file's weights."""
    b = raw.reshape(raw.shape[0], -1, 144)
    N, nb = b.shape[:2]
    d = b[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)           # (N, nb)
    dmin = b[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    s = b[..., 4:16].reshape(N, nb, 3, 4)
    lo, hi, mix = s[:, :, 0], s[:, :, 1], s[:, :, 2]
    sc = np.concatenate([lo & 0x3F, (mix & 0x0F) | ((lo >> 2) & 0x30)], axis=-1)   # (N, nb, 8)
    mn = np.concatenate([hi & 0x3F, (mix >> 4) | ((hi >> 2) & 0x30)], axis=-1)
    qs = b[..., 16:144].reshape(N, nb, 4, 1, 32)
    codes = ((qs >> np.array([0, 4], np.uint8).reshape(1, 1, 1, 2, 1)) & 15).reshape(N, nb * 8, 32)
    scales = (d[..., None] * sc.astype(np.float32)).reshape(N, nb * 8)
    mins = -(dmin[..., None] * mn.astype(np.float32)).reshape(N, nb * 8)
    return pack4(codes), scales, np.zeros(scales.shape, np.uint8), mins


def tensor_blocks(t):
    """-> codes, scales, zeros, mins (or None), bits: the file's blocks, unchanged."""
    if t.tensor_type == QT.Q4_1:
        return (*blocks_q4_1(t.data), 4)
    if t.tensor_type == QT.Q8_0:
        return (*blocks_q8_0(t.data), 8)
    if t.tensor_type == QT.Q4_K:
        return (*blocks_q4_k(t.data), 4)
    raise ValueError(f"{t.name}: no direct block mapping for {t.tensor_type.name}")


def tensor_float(t) -> np.ndarray:
    """Any GGUF tensor -> float32 (rows, cols) in llama.cpp's row order."""
    if t.tensor_type in (QT.F32, QT.F16):
        # a copy: the reader's arrays are read-only views of the memory-mapped file
        return np.array(t.data, dtype=np.float32).reshape(list(reversed([int(x) for x in t.shape])))
    return gguf_dequantize(t.data, t.tensor_type).astype(np.float32)


LINEARS = {"attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
           "ffn_gate": "ffn.gate", "ffn_up": "ffn.up", "ffn_down": "ffn.down"}


def load_llama(path: Path, precision: str = "fp32") -> tuple[Llama, LlamaConfig]:
    """precision: "fp32" (dequantized), "q4" (the file's own Q4_1, Q4_K and Q8_0 blocks exactly, other
    types as 8-bit blocks), "q8" (8-bit blocks of the weights)."""
    reader = GGUFReader(str(path))
    cfg = read_config(reader)
    model = Llama(cfg, precision)
    tensors = {t.name: t for t in reader.tensors}
    permuted = field(reader, "general.architecture") == "llama"      # llama.cpp permutes llama's Q/K only
    used = set()

    def take(name):
        used.add(name)
        return tensors[name]

    def set_linear(module, t, perm):
        if precision == "fp32":
            w = tensor_float(t)[perm] if perm is not None else tensor_float(t)
            module.weight.data.copy_(torch.from_numpy(w))
            return
        if precision == "q4" and t.tensor_type in (QT.Q4_1, QT.Q4_K, QT.Q8_0):
            packed, scales, zeros, mins, bits = tensor_blocks(t)
        else:
            (packed, scales, zeros), mins, bits = quantize_blocks(tensor_float(t), 8), None, 8
        if perm is not None:
            packed, scales, zeros = packed[perm], scales[perm], zeros[perm]
            mins = None if mins is None else mins[perm]
        module.load_blocks(packed, scales, zeros, bits, mins)

    with torch.no_grad():
        for i, block in enumerate(model.blocks):
            for src, dst in LINEARS.items():
                t = take(f"blk.{i}.{src}.weight")
                heads = {"attn_q": cfg.n_heads, "attn_k": cfg.n_kv_heads}.get(src)
                perm = unpermute_rows(heads, int(t.shape[1])) if heads and permuted else None
                set_linear(block.get_submodule(dst), t, perm)
            if cfg.qkv_bias:
                for x in "qkv":
                    bias = getattr(block.attn, f"{x}_bias")
                    bias.copy_(torch.from_numpy(tensor_float(take(f"blk.{i}.attn_{x}.bias"))))
            block.attn_norm.weight.copy_(torch.from_numpy(tensor_float(take(f"blk.{i}.attn_norm.weight"))))
            block.ffn_norm.weight.copy_(torch.from_numpy(tensor_float(take(f"blk.{i}.ffn_norm.weight"))))
        model.norm.weight.copy_(torch.from_numpy(tensor_float(take("output_norm.weight"))))
        emb = take("token_embd.weight")
        out = None if cfg.tied else take("output.weight")
        if precision == "fp32":
            model.embed.weight.copy_(torch.from_numpy(tensor_float(emb)))
            if out is not None:
                model.head.weight.copy_(torch.from_numpy(tensor_float(out)))
        else:  # the tables must be 8-bit blocks: the lookup reads its table as such
            for table, t in ((model.head, emb), ) if out is None else ((model.embed_table, emb), (model.head, out)):
                if t.tensor_type == QT.Q8_0:
                    packed, scales, zeros, _, _ = tensor_blocks(t)
                else:
                    packed, scales, zeros = quantize_blocks(tensor_float(t), 8)
                table.load_blocks(packed, scales, zeros, 8)
    unused = set(tensors) - used
    if unused:
        raise ValueError(f"GGUF tensors not loaded: {sorted(unused)[:5]}")
    assert cfg.dim % BLOCK == 0 and all(isinstance(m, QuantLinear) == (precision != "fp32")
                                        for b in model.blocks for m in (b.attn.q, b.ffn.down))
    return model.eval(), cfg


# ---- tokenizer --------------------------------------------------------------------------------

QWEN2_SPLIT = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
               "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
PRE_TOKENIZERS = {
    # SmolLM / StarCoder: each number character alone, then GPT-2's byte-level regex (llama.cpp
    # "smollm": "\p{N}" first). Written as a regex Split rather than HF's Digits pre-tokenizer: the
    # Rust library's Digits isolates every numeric character (e.g. "⅓"), @huggingface/tokenizers' only
    # some, so the parity test found " ⅓" split differently; a \p{N} regex means the same in both.
    "smollm": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
    # Qwen2: llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 regex, word for word (contractions as explicit
    # case classes, not HF's (?i:...), which also folds e.g. "'ſ"), then bytes; no NFC normalizer:
    # llama.cpp has none, and it is the reference.
    "qwen2": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
}


def tokenizer_json(reader: GGUFReader) -> dict:
    """Rebuild the HF tokenizer.json (byte-level BPE) from the GGUF vocabulary and merges."""
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ValueError("only byte-level BPE (tokenizer.ggml.model = gpt2) vocabularies are supported")
    pre = field(reader, "tokenizer.ggml.pre")
    if pre not in PRE_TOKENIZERS:
        raise ValueError(f"unknown pre-tokenizer {pre!r}")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    CONTROL, USER_DEFINED = 3, 4
    added = [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == CONTROL}
             for i, tok in enumerate(tokens) if types[i] in (CONTROL, USER_DEFINED)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": PRE_TOKENIZERS[pre], "post_processor": None, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": {t: i for i, t in enumerate(tokens)},
                      "merges": [m.split(" ", 1) for m in merges]}}


def write_tokenizer(reader: GGUFReader, out: Path) -> None:
    """tokenizer.json for the GGUF's vocabulary: byte-level BPE here, SentencePiece in lm/spm_tokenizer.py."""
    if field(reader, "tokenizer.ggml.model") == "llama":                       # SentencePiece (Gemma)
        doc = tokenizer_json_spm(reader)
    else:
        doc = tokenizer_json(reader)
    out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

"""A Gemma 3 GGUF -> Gemma3Config and a loaded Gemma3 (lm/gemma3.py).

llama.cpp's converter stores Gemma's RMSNorm weights with the +1 already added and leaves Q and K
rows in HF order (Gemma uses the rotate-half "NEOX" RoPE), so tensors load as they are. The file
mixes block formats (Q4_K, Q5_0, Q6_K, Q8_0): "q8" re-quantizes every matrix to 8-bit blocks of 32
from its dequantized values (Q8_0 tensors keep their own blocks), "fp32" dequantizes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader

from mnemo_models.lm.gemma3 import Gemma3, Gemma3Config
from mnemo_models.lm.gguf import field, tensor_blocks, tensor_float
from mnemo_models.lm.quant_linear import quantize_blocks

# Facts llama.cpp fixes for the gemma3 architecture rather than reading from the file
# (src/llama-model.cpp): local RoPE base 10k, every 6th layer global.
ROPE_THETA_LOCAL, GLOBAL_EVERY = 10_000.0, 6


def read_gemma3_config(reader: GGUFReader) -> Gemma3Config:
    g = lambda k: field(reader, f"gemma3.{k}")                                   # noqa: E731
    head_dim = g("attention.key_length")
    if g("attention.value_length") != head_dim:
        raise ValueError("gemma3: key and value head sizes differ")
    if field(reader, "gemma3.rope.scaling.type") not in (None, "none"):
        raise ValueError("gemma3: RoPE scaling (the 4B+ models) is not supported yet")
    return Gemma3Config(vocab_size=len(field(reader, "tokenizer.ggml.tokens")), dim=g("embedding_length"),
                        n_layers=g("block_count"), n_heads=g("attention.head_count"),
                        n_kv_heads=g("attention.head_count_kv"), head_dim=head_dim,
                        hidden_dim=g("feed_forward_length"),
                        norm_eps=float(g("attention.layer_norm_rms_epsilon")),
                        rope_theta=float(g("rope.freq_base")), rope_theta_local=ROPE_THETA_LOCAL,
                        sliding_window=g("attention.sliding_window"), global_every=GLOBAL_EVERY,
                        query_scale=head_dim ** -0.5, max_positions=g("context_length"))


LINEARS = {"attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
           "ffn_gate": "ffn.gate", "ffn_up": "ffn.up", "ffn_down": "ffn.down"}
NORMS = {"attn_norm": "attn_norm", "post_attention_norm": "post_attn_norm", "ffn_norm": "ffn_norm",
         "post_ffw_norm": "post_ffn_norm", "attn_q_norm": "attn.q_norm", "attn_k_norm": "attn.k_norm"}


def load_gemma3(path: Path, precision: str = "q8") -> tuple[Gemma3, Gemma3Config]:
    if precision == "q4":
        raise ValueError("gemma3: q4 is not built (its GGUF's K-quant blocks have no direct MatMulNBits form); "
                         "use q8 or fp32")
    reader = GGUFReader(str(path))
    cfg = read_gemma3_config(reader)
    model = Gemma3(cfg, precision)
    tensors = {t.name: t for t in reader.tensors}
    used: set[str] = set()

    def take(name):
        used.add(name)
        return tensors[name]

    def as_float(name) -> torch.Tensor:
        return torch.from_numpy(tensor_float(take(name)))

    def as_blocks(t):
        if t.tensor_type == QT.Q8_0:                                             # exact, as in the file
            packed, scales, zeros, _, _ = tensor_blocks(t)
            return packed, scales, zeros
        return quantize_blocks(tensor_float(t), 8)

    with torch.no_grad():
        for i, block in enumerate(model.blocks):
            for src, dst in LINEARS.items():
                name = f"blk.{i}.{src}.weight"
                module = block.get_submodule(dst)
                if precision == "fp32":
                    module.weight.copy_(as_float(name))
                else:
                    module.load_blocks(*as_blocks(take(name)), 8)
            for src, dst in NORMS.items():
                block.get_submodule(dst).weight.copy_(as_float(f"blk.{i}.{src}.weight"))
        model.norm.weight.copy_(as_float("output_norm.weight"))
        if precision == "fp32":
            model.embed.weight.copy_(as_float("token_embd.weight"))
        else:
            model.head.load_blocks(*as_blocks(take("token_embd.weight")), 8)
    unused = set(tensors) - used
    if unused:
        raise ValueError(f"GGUF tensors not loaded: {sorted(unused)[:5]}")
    assert np.isfinite(float(model.norm.weight.sum()))
    return model.eval(), cfg

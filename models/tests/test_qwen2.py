"""Qwen2 (the Llama block with q/k/v biases and its own output layer): a tiny random GGUF read back
into the PyTorch model, and its ONNX export against PyTorch, logits and greedy tokens."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
from gguf import GGUFWriter

from mnemo_models.lm.gguf import load_llama
from mnemo_models.lm.llama import LlamaConfig
from mnemo_models.onnx.export_lm import NEW_KV, export_lm, layer_cache_names

CFG = LlamaConfig(vocab_size=96, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=96, norm_eps=1e-6,
                  rope_theta=1e6, max_positions=256, qkv_bias=True, tied=False)


def tiny_gguf(path, seed: int = 0) -> dict[str, np.ndarray]:
    """A qwen2 GGUF of F32 tensors in llama.cpp's names and shapes; returns them by name."""
    rng = np.random.default_rng(seed)
    hd = CFG.head_dim
    shapes = {"token_embd.weight": (CFG.vocab_size, CFG.dim), "output.weight": (CFG.vocab_size, CFG.dim),
              "output_norm.weight": (CFG.dim,)}
    for i in range(CFG.n_layers):
        shapes |= {f"blk.{i}.attn_q.weight": (CFG.n_heads * hd, CFG.dim),
                   f"blk.{i}.attn_k.weight": (CFG.n_kv_heads * hd, CFG.dim),
                   f"blk.{i}.attn_v.weight": (CFG.n_kv_heads * hd, CFG.dim),
                   f"blk.{i}.attn_q.bias": (CFG.n_heads * hd,), f"blk.{i}.attn_k.bias": (CFG.n_kv_heads * hd,),
                   f"blk.{i}.attn_v.bias": (CFG.n_kv_heads * hd,),
                   f"blk.{i}.attn_output.weight": (CFG.dim, CFG.n_heads * hd),
                   f"blk.{i}.ffn_gate.weight": (CFG.hidden_dim, CFG.dim),
                   f"blk.{i}.ffn_up.weight": (CFG.hidden_dim, CFG.dim),
                   f"blk.{i}.ffn_down.weight": (CFG.dim, CFG.hidden_dim),
                   f"blk.{i}.attn_norm.weight": (CFG.dim,), f"blk.{i}.ffn_norm.weight": (CFG.dim,)}
    tensors = {n: (1.0 + 0.1 * rng.standard_normal(s) if n.endswith("norm.weight") else
                   0.3 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes.items()}
    w = GGUFWriter(str(path), "qwen2")
    w.add_block_count(CFG.n_layers)
    w.add_context_length(CFG.max_positions)
    w.add_embedding_length(CFG.dim)
    w.add_feed_forward_length(CFG.hidden_dim)
    w.add_head_count(CFG.n_heads)
    w.add_head_count_kv(CFG.n_kv_heads)
    w.add_rope_freq_base(CFG.rope_theta)
    w.add_layer_norm_rms_eps(CFG.norm_eps)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(CFG.vocab_size)])
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


def test_a_qwen2_gguf_loads_with_its_biases_its_own_output_layer_and_unpermuted_rows(tmp_path):
    t = tiny_gguf(tmp_path / "q.gguf")
    model, cfg = load_llama(tmp_path / "q.gguf", "fp32")
    assert cfg == dataclasses.replace(CFG, norm_eps=float(np.float32(CFG.norm_eps)))   # the file keeps float32
    a = model.blocks[1].attn
    assert torch.equal(a.q.weight, torch.from_numpy(t["blk.1.attn_q.weight"]))      # rows as HF keeps them
    assert torch.equal(a.k_bias, torch.from_numpy(t["blk.1.attn_k.bias"]))
    assert torch.equal(model.head.weight, torch.from_numpy(t["output.weight"]))
    assert torch.equal(model.embed.weight, torch.from_numpy(t["token_embd.weight"]))
    q8, _ = load_llama(tmp_path / "q.gguf", "q8")                                  # 8-bit blocks, two tables
    ids = torch.tensor([[3, 17, 42, 5, 88]])
    run = lambda m: m(ids, torch.arange(5)[None], torch.ones(1, 5, dtype=torch.long), m.empty_past())[0]  # noqa
    full, quant = run(model), run(q8)
    assert not torch.equal(q8.embed_table.packed, q8.head.packed)
    assert (full - quant).abs().max() < 0.05 * full.abs().max()
    with torch.no_grad():                                                            # the biases are read
        model.blocks[0].attn.q_bias.zero_()
    assert not torch.allclose(run(model), full)


@pytest.mark.parametrize("precision", ["fp32", "q8"])
def test_onnx_matches_pytorch_logits_and_greedy_tokens(tmp_path, precision):
    """The exported graph in the engine's form: a cache per layer with room to grow (slots past the
    real ones hold garbage the graph must not read), the new positions' keys/values out."""
    tiny_gguf(tmp_path / "q.gguf", seed=1)
    model, cfg = load_llama(tmp_path / "q.gguf", precision)
    export_lm(model, tmp_path / "lm.onnx")
    s = ort.InferenceSession(str(tmp_path / "lm.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in s.get_outputs()] == ["logits", NEW_KV]
    prompt = [5, 9, 33, 61, 2, 70]
    ids, past, got, want = list(prompt), model.empty_past(), [], []
    cache = np.zeros((cfg.n_layers, 2, 1, cfg.n_kv_heads, 0, cfg.head_dim), np.float32)   # the real slots
    garbage = np.random.default_rng(0).normal(size=(*cache.shape[:4], 3, cfg.head_dim)).astype(np.float32)
    names = layer_cache_names(cfg.n_layers)
    new = prompt
    with torch.no_grad():
        for _ in range(6):                                                           # prompt, then 5 steps
            P = past.shape[4]
            pos = torch.arange(P, P + len(new))[None]
            mask = torch.ones(1, P + len(new), dtype=torch.long)
            logits, past = model(torch.tensor([new]), pos, mask, past, last_only=True)
            room = np.concatenate([cache, garbage], axis=4)                          # C = P + 3 slots
            feed = {n: room[i // 2, i % 2] for i, n in enumerate(names)}
            out = s.run(None, {"input_ids": np.array([new], np.int64), "position_ids": pos.numpy(),
                               "attention_mask": mask.numpy(), **feed})
            # q8: onnxruntime's 8-bit kernel rounds the activations to int8 too (accuracy_level 4), which
            # the PyTorch reference does not
            tol = 1e-3 if precision == "fp32" else 0.1 * float(logits.abs().max())
            np.testing.assert_allclose(out[0][0, -1], logits[0, -1].numpy(), rtol=0, atol=tol)
            np.testing.assert_allclose(out[1], past[:, :, :, :, P:].numpy(), rtol=0, atol=10 * tol)
            cache = np.concatenate([cache, out[1]], axis=4)
            want.append(int(logits[0, -1].argmax()))
            got.append(int(out[0][0, -1].argmax()))
            new = [want[-1]]
            ids.append(new[0])
    assert len(set(want)) > 1
    assert got == want if precision == "fp32" else got[0] == want[0]


def test_q4_k_super_blocks_become_4_bit_blocks_of_32_exactly():
    """Any Q4_K bytes (with finite d and dmin) decode through MatMulNBits' form to llama.cpp's values."""
    from gguf import GGMLQuantizationType as QT
    from gguf.quants import dequantize as reference
    from mnemo_models.lm.gguf import blocks_q4_k
    from mnemo_models.lm.quant_linear import dequantize
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (6, 2 * 144), dtype=np.uint8)                     # 6 rows of 512 weights
    blocks = raw.reshape(6, 2, 144)
    blocks[..., 0:2] = np.array([0.013], np.float16).view(np.uint8)               # d
    blocks[..., 2:4] = np.array([0.002], np.float16).view(np.uint8)               # dmin
    packed, scales, zeros, mins = blocks_q4_k(raw)
    assert packed.shape == (6, 16, 16) and scales.shape == mins.shape == (6, 16)
    got = dequantize(*(torch.from_numpy(x) for x in (packed, scales, zeros)), 4, torch.from_numpy(mins))
    np.testing.assert_array_equal(got.numpy(), reference(raw, QT.Q4_K).astype(np.float32))

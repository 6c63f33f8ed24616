"""Gemma's attention exported as onnxruntime's GroupQueryAttention (onnx/gqa.py): the eager form of
the fused path equals the reference attention, sliding window included, and the exported graph has
one kernel per layer with the window convention onnxruntime uses. (onnxruntime itself runs the
graph in the engine's tests: real-bundle.test.ts against PyTorch's logits.)"""
from __future__ import annotations

import collections

import onnx
import torch

from mnemo_models.onnx.export_lm import NEW_KV, export_lm, layer_cache_names
from mnemo_models.lm.llama import inverse_frequencies, rope_tables
from mnemo_models.onnx.kernels import rotary_rows

from test_mac_gemma import CFG, lm


def reference_bias(S: int, T: int, window: int | None):
    dist = (torch.arange(S) + T - S)[:, None] - torch.arange(T)[None, :]
    ok = dist >= 0
    if window is not None:
        ok = ok & (dist < window)
    return torch.zeros(ok.shape).masked_fill(~ok, -1e9)[None, None]         # (1, 1, S, T)


def test_the_fused_form_computes_the_reference_attention_past_the_window():
    m = lm()
    B, P, S = 1, 70, 5                      # 75 cache slots: past the 64-slot window of local layers
    torch.manual_seed(1)
    x = torch.randn(B, S, CFG.dim)
    past_k, past_v = torch.randn(2, B, CFG.n_kv_heads, P, CFG.head_dim)
    pos = torch.arange(P, P + S)[None]
    lengths = (torch.full((B,), P + S - 1, dtype=torch.int32), torch.tensor(P + S, dtype=torch.int32))
    for layer in (0, 1):                    # layer 0 is local, layer 1 global (global_every = 2)
        attn, local = m.blocks[layer].attn, not CFG.is_global(layer)
        theta = CFG.rope_theta_local if local else CFG.rope_theta
        cos, sin = rope_tables(pos, CFG.head_dim, theta)
        want = attn(x, cos, sin, past_k, past_v, reference_bias(S, P + S, CFG.sliding_window if local else None))
        got = attn.forward_fused(x, rotary_rows(pos, inverse_frequencies(CFG.head_dim, theta)), past_k, past_v,
                                 lengths, CFG.sliding_window - 1 if local else -1)
        # The fused form returns the new positions' keys/values; the reference, the whole present.
        for w, g in zip((want[0], want[1][:, :, P:], want[2][:, :, P:]), got):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    # The window matters here: without it the local layer's answer differs.
    attn = m.blocks[0].attn
    cos, sin = rope_tables(pos, CFG.head_dim, CFG.rope_theta_local)
    rope = rotary_rows(pos, inverse_frequencies(CFG.head_dim, CFG.rope_theta_local))
    wide = attn.forward_fused(x, rope, past_k, past_v, lengths, -1)[0]
    narrow = attn(x, cos, sin, past_k, past_v, reference_bias(S, P + S, CFG.sliding_window))[0]
    assert (wide - narrow).abs().max() > 1e-3


def test_the_export_has_one_kernel_per_layer_and_a_cache_per_layer(tmp_path):
    m = lm()
    spec = export_lm(m, tmp_path / "lm.onnx")
    assert not m.fused_attention                                             # switched on for the export only
    g = onnx.load(str(tmp_path / "lm.onnx")).graph
    # Each kernel sits in the else branch of its decoding-step switch (onnx/decode_attention.py).
    switches = [n for n in g.node if n.op_type == "If"]
    gqa = [k for n in switches for a in n.attribute if a.name == "else_branch" for k in a.g.node]
    assert len(gqa) == CFG.n_layers and all(n.domain == "com.microsoft" for n in gqa)
    windows = [next(a.i for a in n.attribute if a.name == "local_window_size") for n in gqa]
    assert windows == [-1 if CFG.is_global(i) else CFG.sliding_window - 1 for i in range(CFG.n_layers)]
    assert not [n for n in g.node if n.op_type == "Softmax"]                 # no attention left op by op
    assert [k.op_type for k in gqa] == ["GroupQueryAttention"] * CFG.n_layers
    kernels = collections.Counter(n.op_type for n in g.node)
    assert kernels["SimplifiedLayerNormalization"] == 6 * CFG.n_layers + 1   # 4 per block, q/k, final
    assert kernels["RotaryEmbedding"] == 2 * CFG.n_layers and kernels["FastGelu"] == CFG.n_layers
    assert not kernels["Pow"] and not kernels["Tanh"] and not kernels["Neg"]  # none left op by op
    # No shape arithmetic inside the blocks (every reshape has a constant target, onnx/kernels.py).
    arithmetic = [
        n.name for n in g.node if "/blocks." in n.name and n.op_type in ("Shape", "Gather", "Unsqueeze", "Concat")
    ]
    assert not arithmetic and kernels["Reshape"] >= 6 * CFG.n_layers
    # A cache per layer in, read by its kernel (or the step's products) directly (recipe 17), the new
    # positions alone out, no present (recipe 16): nothing outside the attention touches a cache.
    pasts = layer_cache_names(CFG.n_layers)
    assert [i.name for i in g.input] == ["input_ids", "position_ids", "attention_mask", *pasts]
    assert [o.name for o in g.output] == ["logits", NEW_KV]
    assert [o["name"] for o in spec["outputs"]] == ["logits", NEW_KV]
    assert [(n.input[3], n.input[4]) for n in gqa] == list(zip(pasts[::2], pasts[1::2]))
    assert [n.op_type for n in g.node for i in n.input if i in pasts] == ["Shape"]   # its slot count


def table_graph() -> onnx.ModelProto:
    """A tied 8-bit table read by a lookup (Gather) and by an output layer (here an Identity)."""
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np
    table = numpy_helper.from_array(np.arange(24, dtype=np.uint8).reshape(4, 3, 2), "model.head.packed")
    nodes = [helper.make_node("Gather", ["model.head.packed", "ids"], ["rows"]),
             helper.make_node("Identity", ["model.head.packed"], ["head"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
                          [helper.make_tensor_value_info("rows", TensorProto.UINT8, None),
                           helper.make_tensor_value_info("head", TensorProto.UINT8, None)], [table])
    return helper.make_model(g)


def test_the_lookup_gets_its_own_copy_of_the_table_in_an_external_file(tmp_path):
    from onnx import numpy_helper
    from mnemo_models.onnx.export_lm import split_embedding_table
    proto = table_graph()
    split_embedding_table(proto, tmp_path / "lm.embed.bin")
    gather, identity = proto.graph.node
    assert gather.input[0] == "embed.packed" and identity.input[0] == "model.head.packed"
    copy = next(t for t in proto.graph.initializer if t.name == "embed.packed")
    assert copy.data_location == onnx.TensorProto.EXTERNAL and not copy.raw_data
    assert (tmp_path / "lm.embed.bin").read_bytes() == bytes(range(24))
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    loaded = onnx.load(str(tmp_path / "m.onnx"))                             # resolves lm.embed.bin
    arrays = {t.name: numpy_helper.to_array(t) for t in loaded.graph.initializer}
    assert (arrays["embed.packed"] == arrays["model.head.packed"]).all()
    again = table_graph()                                                    # a rebuild: the same bytes
    split_embedding_table(again, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == (tmp_path / "lm.embed.bin").read_bytes()


def test_the_exported_form_of_the_whole_lm_computes_the_reference(monkeypatch):
    """Every one-kernel piece at once (norms, rotary rows, FastGelu, GroupQueryAttention), in their
    eager forms, through the whole model: a prompt, then a step behind its cache past the window."""
    m = lm()
    ids = torch.randint(10, 300, (1, 70), generator=torch.Generator().manual_seed(2))
    runs = []
    for exported in (False, True):
        m.fused_attention = exported
        monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda e=exported: e)
        # The exported form takes a cache per layer, 2L × (B, Hkv, P, hd), and returns the new positions.
        layers = (lambda p: [t for layer in p for t in layer]) if exported else (lambda p: p)  # noqa: E731
        logits, past, *_ = m(ids[:, :66], torch.arange(66)[None], torch.ones(1, 66, dtype=torch.long),
                             layers(m.empty_past()))
        step, present, *_ = m(ids[:, 66:], torch.arange(66, 70)[None], torch.ones(1, 70, dtype=torch.long),
                              layers(past))
        if not exported:                     # the exported form returns the new positions alone
            present = present[:, :, :, :, 66:]
        runs.append((logits, past, step, present))
    m.fused_attention = False
    for want, got in zip(*runs):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_a_llama_exports_in_the_same_form(tmp_path):
    """The Llama family (SmolLM2, Qwen2.5) takes Gemma's graph recipes too: a kernel per layer's
    attention behind the decoding-step switch, a cache per layer, the new positions alone out."""
    from mnemo_models.lm.llama import Llama, LlamaConfig
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=48, norm_eps=1e-5,
                      rope_theta=10000.0, max_positions=128, qkv_bias=True)
    m = Llama(cfg).eval()
    spec = export_lm(m, tmp_path / "lm.onnx")
    assert not m.fused_attention
    g = onnx.load(str(tmp_path / "lm.onnx")).graph
    assert [i.name for i in g.input] == ["input_ids", "position_ids", "attention_mask",
                                         *layer_cache_names(cfg.n_layers)]
    assert [o["name"] for o in spec["outputs"]] == ["logits", NEW_KV]
    kernels = collections.Counter(n.op_type for n in g.node)
    assert kernels["If"] == cfg.n_layers and not kernels["Softmax"]
    assert kernels["SimplifiedLayerNormalization"] == 2 * cfg.n_layers + 1
    assert kernels["RotaryEmbedding"] == 2 * cfg.n_layers

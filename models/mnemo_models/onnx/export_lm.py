"""Export the frozen Llama to ONNX with explicit positions, an attention mask and a packed past.

Graph contract (bundle format 2, graphs.lm): input_ids, position_ids (B, S) int64; attention_mask
(B, P+S) int64; past_key_values (L, 2, B, Hkv, P, hd) float32 -> logits (B, 1, V) of the last
position, present (L, 2, B, Hkv, P+S, hd), or for a fused graph new_key_values instead (below). A MAC prefix
is simply the initial past. Quantized layers become com.microsoft MatMulNBits nodes (onnxruntime
>= 1.17 on CPU). With MAC's reader (tap_layer), also the output tap (B, S, D) and the input
tap_only (1,) int64: 1 runs only what the tap needs (onnx/tap.py).
Gemma's and the Llama family's graphs (SmolLM2, Qwen2.5: the same recipes since 2026-12-08) are fused
(recipes 12-18), whose cache comes in per layer, past_key_values.{i}.key and
.value (B, Hkv, C, hd) in the naming of onnxruntime's own generative models, read by each layer's
GroupQueryAttention directly (a packed past cost a Split, a copy of the whole cache, per step). The
attention_mask's width T says how many positions are real: the first T - S of the C slots hold the
past, so the engine passes buffers with room to grow and writes each step's new positions into them.
Those come out as new_key_values (L, 2, B, Hkv, S, hd), the new positions alone; there is no present
output (copying every layer's cache out each step cost ~10% of a step). Each layer's attention is
GroupQueryAttention for a prompt and, for one new position, products reading the cache in place
(onnx/decode_attention.py, recipe 18). They also keep the lookup's copy of the 8-bit table in
lm.embed.bin.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from pathlib import Path

import onnx
import onnx.numpy_helper
import torch

from mnemo_models.lm.llama import Llama
from mnemo_models.onnx.decode_attention import switch_decode_attention
from mnemo_models.onnx.fast_tap import FAST_TAP_FACTS, READER_FILE, reader_graph
from mnemo_models.onnx.kernels import STANDIN, into_onnx_domain
from mnemo_models.onnx.tap import TAP_ONLY, add_tap_only, tap_only_spec

OPSET = 17
PAST, NEW_KV = "past_key_values", "new_key_values"


def layer_cache_names(n_layers: int) -> list[str]:
    """A fused graph's per-layer cache inputs in graph order: past_key_values.0.key, .0.value, …"""
    return [f"{PAST}.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]


class LastLogits(torch.nn.Module):
    """The graph's module: the LM returning only the last position's logits."""

    def __init__(self, model: Llama, tap_layer: int | None = None):
        super().__init__()
        self.model, self.precision, self.tap_layer = model, model.precision, tap_layer

    def forward(self, input_ids, position_ids, attention_mask, *past):
        """past: the packed past (one tensor), or a fused graph's 2L per-layer caches."""
        cache = past[0] if len(past) == 1 else list(past)
        tap = {} if self.tap_layer is None else {"tap_layer": self.tap_layer}      # Llama has no tap
        return self.model(input_ids, position_ids, attention_mask, cache, last_only=True, **tap)


EMBED_SUFFIX = ".embed.bin"


def split_embedding_table(proto: onnx.ModelProto, data_file: Path) -> None:
    """Gives the embedding lookup its own copy of the tied 8-bit table, as external data (data_file);
    an untied model's lookup table (embed_table.*) is moved there as it is.

    Why: the output layer's MatMulNBits prepacks the table into onnxruntime's own layout, and
    onnxruntime frees an initializer once every consumer has prepacked it; the Gather of the lookup
    kept it alive, so the 168 MB (Gemma 3) table stayed resident twice. With a copy of its own in an
    external file, which onnxruntime maps rather than reads, the lookup only pages in the rows of the
    tokens it sees: ~150 MB less resident memory for 194 MB more on disk (docs/bench/README.md).
    The copy is written in the graph's order with fixed offsets, so a rebuild gives the same bytes.
    """
    from onnx import external_data_helper
    inits = {t.name: t for t in proto.graph.initializer}
    copies: dict[str, onnx.TensorProto] = {}
    own: dict[str, onnx.TensorProto] = {}      # untied embeddings: the lookup's table moves out whole
    for node in proto.graph.node:
        if node.op_type == "Gather" and node.input[0] in inits and ".head." in node.input[0]:
            src = inits[node.input[0]]
            if src.name not in copies:
                copy = onnx.TensorProto()
                copy.CopyFrom(src)
                copy.name = "embed." + src.name.rsplit(".", 1)[-1]
                copies[src.name] = copy
            node.input[0] = copies[src.name].name
        elif node.op_type == "Gather" and node.input[0] in inits and "embed_table." in node.input[0]:
            own.setdefault(node.input[0], inits[node.input[0]])
    if not copies and not own:
        return
    with open(data_file, "wb") as f:
        for t in [*copies.values(), *own.values()]:
            raw = onnx.numpy_helper.to_array(t).tobytes()
            offset = f.tell()
            f.write(raw)
            t.raw_data = raw                 # onnx wants raw_data present when it is pointed elsewhere
            external_data_helper.set_external_data(t, location=data_file.name, offset=offset, length=len(raw))
            t.ClearField("raw_data")
    proto.graph.initializer.extend(copies.values())


@contextlib.contextmanager
def fused_export(model, on: bool):
    """The fused_attention switch (Gemma3, Llama), on for the export only (PyTorch keeps the reference)."""
    if on:
        model.fused_attention = True
    try:
        yield
    finally:
        if on:
            model.fused_attention = False


def io_specs(model: Llama, tap_layer: int | None = None) -> tuple[list[dict], list[dict]]:
    c = model.cfg
    inputs = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]},
              {"name": "position_ids", "dtype": "int64", "shape": ["batch", "seq"]},
              {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "past_plus_seq"]}]
    outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", 1, c.vocab_size]}]
    if hasattr(model, "fused_attention"):      # fused: a cache per layer in, the new positions out
        inputs += [{"name": n, "dtype": "float32", "shape": ["batch", c.n_kv_heads, "past", c.head_dim]}
                   for n in layer_cache_names(c.n_layers)]
        outputs.append({"name": NEW_KV, "dtype": "float32",
                        "shape": [c.n_layers, 2, "batch", c.n_kv_heads, "seq", c.head_dim]})
    else:
        past = [c.n_layers, 2, "batch", c.n_kv_heads, "past", c.head_dim]
        inputs.append({"name": PAST, "dtype": "float32", "shape": past})
        outputs.append({"name": "present_key_values", "dtype": "float32",
                        "shape": [*past[:4], "past_plus_seq", c.head_dim]})
    if tap_layer is not None:                  # MAC's reader: the residual stream after tap_layer blocks
        outputs.append({"name": "tap", "dtype": "float32", "shape": ["batch", "seq", c.dim]})
        inputs.append(tap_only_spec())         # 1: compute the tap alone (onnx/tap.py)
    return inputs, outputs


def export_lm(model: Llama, out: Path, tap_layer: int | None = None,
              calibration: dict | None = None) -> dict:
    """Writes out (one self-contained .onnx file) and returns its graph spec for the manifest.
    tap_layer adds the output `tap` (B, S, D): the residual after that many blocks (Gemma only).
    calibration (each pre-tap layer's input maxima, onnx.fast_tap.calibrate) also writes an 8-bit
    LM's reader graph beside it (onnx/fast_tap.py: the tap on integer rows x columns), described
    under the spec's "reader"."""
    c = model.cfg
    S, P = 3, 2                                                                  # trace shapes (all dynamic)
    ids = torch.zeros(1, S, dtype=torch.long)
    pos = torch.arange(P, P + S)[None]
    mask = torch.ones(1, P + S, dtype=torch.long)
    inputs, outputs = io_specs(model, tap_layer)
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "position_ids": {0: "batch", 1: "seq"},
           "attention_mask": {0: "batch", 1: "past_plus_seq"}, "logits": {0: "batch"},
           **({"tap": {0: "batch", 1: "seq"}} if tap_layer is not None else {})}
    buf = io.BytesIO()
    # Gemma and the Llama family export attention as onnxruntime's fused kernel (onnx/gqa.py), a
    # cache per layer; an LM without the switch (the tiny test GPT-2) op by op, one packed cache.
    fuse = hasattr(model, "fused_attention")
    if fuse:
        past = tuple(torch.zeros(1, c.n_kv_heads, P, c.head_dim) for _ in range(2 * c.n_layers))
        dyn.update({n: {0: "batch", 2: "past"} for n in layer_cache_names(c.n_layers)})
        dyn[NEW_KV] = {2: "batch", 4: "seq"}
    else:
        past = (torch.zeros(c.n_layers, 2, 1, c.n_kv_heads, P, c.head_dim),)
        dyn.update({PAST: {2: "batch", 4: "past"}, "present_key_values": {2: "batch", 4: "past_plus_seq"}})
    # torch 1.13's tracer warns about every Python-side shape test and about MatMulNBits having no
    # ONNX shape inference; both are expected here (shapes are dynamic by design, onnxruntime infers
    # the contrib op), and hundreds of them would bury setup's real messages.
    with torch.no_grad(), warnings.catch_warnings(), fused_export(model, fuse):
        warnings.simplefilter("ignore")
        torch.onnx.export(LastLogits(model, tap_layer), (ids, pos, mask, *past), buf, opset_version=OPSET,
                          input_names=[i["name"] for i in inputs if i["name"] != TAP_ONLY],    # added below
                          output_names=[o["name"] for o in outputs],
                          dynamic_axes=dyn, do_constant_folding=True,
                          custom_opsets={"com.microsoft": 1, STANDIN: 1} if model.precision != "fp32" or fuse else None)
    proto = onnx.load_from_string(buf.getvalue())
    into_onnx_domain(proto)
    if fuse:                                   # one new position: products over the cache in place
        switch_decode_attention(proto)
    if tap_layer is not None:
        add_tap_only(proto, n_layers=c.n_layers, n_kv_heads=c.n_kv_heads, head_dim=c.head_dim, vocab=c.vocab_size,
                     outputs=tuple(o["name"] for o in outputs if o["name"] != "tap"))
    if model.precision != "fp32":
        split_embedding_table(proto, out.parent / (out.stem + EMBED_SUFFIX))
    proto.producer_name, proto.producer_version = "mnemo", "2"                # no torch version stamp
    data = proto.SerializeToString()
    out.write_bytes(data)
    spec = {"file": out.name, "inputs": inputs, "outputs": outputs, "sha256": hashlib.sha256(data).hexdigest()}
    if tap_layer is not None and calibration and model.precision == "q8":
        reader = reader_graph(proto, calibration)
        raw = reader.SerializeToString()
        (out.parent / READER_FILE).write_bytes(raw)
        names = {i.name for i in reader.graph.input}
        spec["reader"] = {
            "file": READER_FILE,
            "inputs": [i for i in inputs if i["name"] in names],
            "outputs": [o for o in outputs if o["name"] == "tap"],
            "sha256": hashlib.sha256(raw).hexdigest(),
            "facts": FAST_TAP_FACTS,
        }
    return spec

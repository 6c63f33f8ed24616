"""Export the frozen Llama to ONNX with explicit positions, an attention mask and a packed past.

Graph contract (bundle format 2, graphs.lm): input_ids, position_ids (B, S) int64; attention_mask
(B, P+S) int64; past_key_values (L, 2, B, Hkv, P, hd) float32 -> logits (B, 1, V) of the last position, present
(L, 2, B, Hkv, P+S, hd), or for Gemma new_key_values instead (below). A MAC prefix is simply the initial past. Quantized layers become
com.microsoft MatMulNBits nodes (onnxruntime >= 1.17 on CPU). With MAC's reader (tap_layer), also
the output tap (B, S, D) and the input tap_only (1,) int64: 1 runs only what the tap needs (onnx_tap.py).
Gemma graphs return new_key_values (L, 2, B, Hkv, S, hd), the new positions alone, instead of the
present (the engine grows its cache in place; copying every layer's cache out each step cost ~10% of a
decoding step, recipe 16), run attention as GroupQueryAttention (onnx_gqa.py) and keep the lookup's
copy of the 8-bit table in lm.embed.bin.
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

from .llama import Llama
from .onnx_kernels import STANDIN, into_onnx_domain
from .onnx_tap import TAP_ONLY, add_tap_only, tap_only_spec

OPSET = 17
NEW_KV = "new_key_values"


class LastLogits(torch.nn.Module):
    """The graph's module: the Llama returning only the last position's logits."""

    def __init__(self, model: Llama, tap_layer: int | None = None):
        super().__init__()
        self.model, self.precision, self.tap_layer = model, model.precision, tap_layer

    def forward(self, input_ids, position_ids, attention_mask, past_key_values):
        if self.tap_layer is None:
            return self.model(input_ids, position_ids, attention_mask, past_key_values, last_only=True)
        return self.model(input_ids, position_ids, attention_mask, past_key_values, last_only=True,
                          tap_layer=self.tap_layer)


EMBED_SUFFIX = ".embed.bin"


def split_embedding_table(proto: onnx.ModelProto, data_file: Path) -> None:
    """Gives the embedding lookup its own copy of the tied 8-bit table, as external data (data_file).

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
    for node in proto.graph.node:
        if node.op_type == "Gather" and node.input[0] in inits and ".head." in node.input[0]:
            src = inits[node.input[0]]
            if src.name not in copies:
                copy = onnx.TensorProto()
                copy.CopyFrom(src)
                copy.name = "embed." + src.name.rsplit(".", 1)[-1]
                copies[src.name] = copy
            node.input[0] = copies[src.name].name
    if not copies:
        return
    with open(data_file, "wb") as f:
        for t in copies.values():
            raw = onnx.numpy_helper.to_array(t).tobytes()
            offset = f.tell()
            f.write(raw)
            t.raw_data = raw                 # onnx wants raw_data present when it is pointed elsewhere
            external_data_helper.set_external_data(t, location=data_file.name, offset=offset, length=len(raw))
            t.ClearField("raw_data")
    proto.graph.initializer.extend(copies.values())


def allow_empty_past(proto: onnx.ModelProto) -> None:
    """The Reshape of the packed past (L, 2, …) -> (2L, …) before its Split (gemma3.py) keeps a zero
    as a zero: ONNX's default (allowzero = 0) reads a 0 in the target shape as "copy that dimension",
    so an empty past (P = 0, the first step) would be asked for the wrong shape."""
    for node in proto.graph.node:
        if node.op_type == "Reshape" and node.input[0] == "past_key_values":
            for a in node.attribute:
                if a.name == "allowzero":
                    a.i = 1
                    break
            else:
                node.attribute.append(onnx.helper.make_attribute("allowzero", 1))


@contextlib.contextmanager
def fused_export(model, on: bool):
    """Gemma's fused_attention switch, on for the export only (PyTorch keeps the reference path)."""
    if on:
        model.fused_attention = True
    try:
        yield
    finally:
        if on:
            model.fused_attention = False


def io_specs(model: Llama, tap_layer: int | None = None) -> tuple[list[dict], list[dict]]:
    c = model.cfg
    past = [c.n_layers, 2, "batch", c.n_kv_heads, "past", c.head_dim]
    inputs = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]},
              {"name": "position_ids", "dtype": "int64", "shape": ["batch", "seq"]},
              {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "past_plus_seq"]},
              {"name": "past_key_values", "dtype": "float32", "shape": past}]
    outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", 1, c.vocab_size]}]
    if hasattr(model, "fused_attention"):      # Gemma: the new positions' keys/values alone; the caller
        outputs.append({"name": NEW_KV, "dtype": "float32",          # grows its own cache in place
                        "shape": [*past[:4], "seq", c.head_dim]})   # (recipe 16: no present output)
    else:
        outputs.append({"name": "present_key_values", "dtype": "float32",
                        "shape": [*past[:4], "past_plus_seq", c.head_dim]})
    if tap_layer is not None:                  # MAC's reader: the residual stream after tap_layer blocks
        outputs.append({"name": "tap", "dtype": "float32", "shape": ["batch", "seq", c.dim]})
        inputs.append(tap_only_spec())         # 1: compute the tap alone (onnx_tap.py)
    return inputs, outputs


def export_lm(model: Llama, out: Path, tap_layer: int | None = None) -> dict:
    """Writes out (one self-contained .onnx file) and returns its graph spec for the manifest.
    tap_layer adds the output `tap` (B, S, D): the residual after that many blocks (Gemma only)."""
    c = model.cfg
    S, P = 3, 2                                                                  # trace shapes (all dynamic)
    ids = torch.zeros(1, S, dtype=torch.long)
    pos = torch.arange(P, P + S)[None]
    mask = torch.ones(1, P + S, dtype=torch.long)
    past = torch.zeros(c.n_layers, 2, 1, c.n_kv_heads, P, c.head_dim)
    inputs, outputs = io_specs(model, tap_layer)
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "position_ids": {0: "batch", 1: "seq"},
           "attention_mask": {0: "batch", 1: "past_plus_seq"}, "past_key_values": {2: "batch", 4: "past"},
           "logits": {0: "batch"},
           **({"tap": {0: "batch", 1: "seq"}} if tap_layer is not None else {})}
    buf = io.BytesIO()
    # Gemma exports its attention as onnxruntime's fused kernel (onnx_gqa.py); other LMs op by op.
    fuse = hasattr(model, "fused_attention")
    dyn.update({NEW_KV: {2: "batch", 4: "seq"}} if fuse else {"present_key_values": {2: "batch", 4: "past_plus_seq"}})
    # torch 1.13's tracer warns about every Python-side shape test and about MatMulNBits having no
    # ONNX shape inference; both are expected here (shapes are dynamic by design, onnxruntime infers
    # the contrib op), and hundreds of them would bury setup's real messages.
    with torch.no_grad(), warnings.catch_warnings(), fused_export(model, fuse):
        warnings.simplefilter("ignore")
        torch.onnx.export(LastLogits(model, tap_layer), (ids, pos, mask, past), buf, opset_version=OPSET,
                          input_names=[i["name"] for i in inputs if i["name"] != TAP_ONLY],    # added below
                          output_names=[o["name"] for o in outputs],
                          dynamic_axes=dyn, do_constant_folding=True,
                          custom_opsets={"com.microsoft": 1, STANDIN: 1} if model.precision != "fp32" or fuse else None)
    proto = onnx.load_from_string(buf.getvalue())
    into_onnx_domain(proto)
    if fuse:
        allow_empty_past(proto)
    if tap_layer is not None:
        add_tap_only(proto, n_layers=c.n_layers, n_kv_heads=c.n_kv_heads, head_dim=c.head_dim, vocab=c.vocab_size,
                     outputs=tuple(o["name"] for o in outputs if o["name"] != "tap"))
    if model.precision != "fp32":
        split_embedding_table(proto, out.parent / (out.stem + EMBED_SUFFIX))
    proto.producer_name, proto.producer_version = "mnemo", "2"                # no torch version stamp
    data = proto.SerializeToString()
    out.write_bytes(data)
    return {"file": out.name, "inputs": inputs, "outputs": outputs,
            "sha256": hashlib.sha256(data).hexdigest()}

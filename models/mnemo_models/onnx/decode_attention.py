"""A decoding step's attention reads the cache where it lies: each GroupQueryAttention of the exported
Gemma graph becomes If(one new position) then a few products over the cache, else the kernel.

Why: onnxruntime's GroupQueryAttention on CPU, unless one buffer is bound as both a layer's past and
its present (which onnxruntime-node cannot do without copying every present back out to JavaScript),
clears a fresh present and copies the whole past into it, once per query head of a group: for
Gemma 3 270M (4 query heads per key/value head, 18 layers) ~55 MB written per decoding step at
300 positions, most of the kernel's time. For a prompt (S > 1) that copy is small beside the
products and the kernel stays the faster (one fused kernel over S × T scores); for one new position
the products alone, reading the cache in place, are cheaper:

    qh = q (B, 1, H*hd) as (B, Hkv, G, hd)                    G = H / Hkv, the group of query heads
    scores = [qh · past_kᵀ * scale + bias | qh · kᵀ * scale]   (B, Hkv, G, C + 1), FusedMatMul
    y = softmax[..., :C] · past_v + softmax[..., C:] · v       (B, Hkv, G, hd) -> (B, 1, H*hd)

past_k/v (B, Hkv, C, hd) hold P = T - 1 real slots of C (the engine passes buffers with room to
grow, onnx/export_lm.py); bias (C,) hides the others and, in a sliding-window layer, slots W or more
behind the new one (distance P - j, the convention of lm/gemma3.py and onnx/gqa.py). bias and the
split sizes are computed once per graph, outside the branches.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

MASKED = -1e9
_ONE_STEP = "decode_one_step"


def _const(name: str, values: list, dtype=TensorProto.INT64) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name + "_value", dtype, [len(values)], values)
    )


def _scalar(name: str, value, dtype=TensorProto.INT64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name + "_value", dtype, [], [value]))


def _shared_nodes(first_past: str, windows: set[int]) -> list[onnx.NodeProto]:
    """Once per graph: the condition S == 1, the split sizes (C, 1) and a bias (C,) per window."""
    n = [helper.make_node("Shape", ["input_ids"], ["da_ids_shape"]),
         _const("da_i1", [1]), _const("da_i2", [2]), _const("da_i3", [3]), _const("da_i0", [0]),
         helper.make_node("Slice", ["da_ids_shape", "da_i1", "da_i2"], ["da_S"]),          # (1,)
         _const("da_one", [1]),
         helper.make_node("Equal", ["da_S", "da_one"], ["da_eq"]),
         helper.make_node("Squeeze", ["da_eq", "da_i0"], [_ONE_STEP]),                    # () bool
         helper.make_node("Shape", [first_past], ["da_past_shape"]),
         helper.make_node("Slice", ["da_past_shape", "da_i2", "da_i3"], ["da_C"]),       # (1,) slots
         helper.make_node("Concat", ["da_C", "da_one"], ["da_sizes"], axis=0),          # (C, 1)
         helper.make_node("Shape", ["attention_mask"], ["da_mask_shape"]),
         helper.make_node("Slice", ["da_mask_shape", "da_i1", "da_i2"], ["da_T"]),
         helper.make_node("Sub", ["da_T", "da_one"], ["da_P"]),                          # (1,) real past
         _scalar("da_zero", 0), helper.make_node("Squeeze", ["da_C", "da_i0"], ["da_Cs"]),
         _scalar("da_step", 1),
         helper.make_node("Range", ["da_zero", "da_Cs", "da_step"], ["da_j"]),          # (C,)
         helper.make_node("Less", ["da_j", "da_P"], ["da_real"]),
         helper.make_node("Sub", ["da_P", "da_j"], ["da_dist"]),                        # P - j
         _scalar("da_masked", MASKED, TensorProto.FLOAT), _scalar("da_open", 0.0, TensorProto.FLOAT)]
    for w in sorted(windows):
        ok = "da_real"
        if w >= 0:                                  # local_window_size = W - 1: keep dist <= W - 1
            n += [_const(f"da_w{w}", [w + 1]), helper.make_node("Less", ["da_dist", f"da_w{w}"], [f"da_in{w}"]),
                  helper.make_node("And", ["da_real", f"da_in{w}"], [f"da_ok{w}"])]
            ok = f"da_ok{w}"
        n.append(helper.make_node("Where", [ok, "da_open", "da_masked"], [bias_name(w)]))  # (C,)
    return n


def bias_name(window: int) -> str:
    return f"da_bias{window if window >= 0 else '_global'}"


def _step_branch(gqa: onnx.NodeProto, y: str, tag: str) -> onnx.GraphProto:
    """The products for one new position, reading past_k/v in place (inputs from the outer scope)."""
    q, k, v, past_k, past_v = gqa.input[:5]
    a = {x.name: x for x in gqa.attribute}
    H, Hkv, scale, window = a["num_heads"].i, a["kv_num_heads"].i, a["scale"].f, a["local_window_size"].i
    t = lambda s: f"{tag}/{s}"                                                      # noqa: E731
    nodes = [_const(t("qshape"), [0, Hkv, H // Hkv, -1]), _const(t("kvshape"), [0, Hkv, 1, -1]),
             _const(t("yshape"), [0, 1, -1]),
             helper.make_node("Reshape", [q, t("qshape")], [t("qh")]),                   # (B, Hkv, G, hd)
             helper.make_node("Reshape", [k, t("kvshape")], [t("kh")]),                  # (B, Hkv, 1, hd)
             helper.make_node("Reshape", [v, t("kvshape")], [t("vh")]),
             helper.make_node("FusedMatMul", [t("qh"), past_k], [t("sp")], domain="com.microsoft",
                              transB=1, alpha=scale),                                    # (B, Hkv, G, C)
             helper.make_node("Add", [t("sp"), bias_name(window)], [t("spb")]),
             helper.make_node("FusedMatMul", [t("qh"), t("kh")], [t("sn")], domain="com.microsoft",
                              transB=1, alpha=scale),                                    # (B, Hkv, G, 1)
             helper.make_node("Concat", [t("spb"), t("sn")], [t("s")], axis=-1),
             helper.make_node("Softmax", [t("s")], [t("p")], axis=-1),
             helper.make_node("Split", [t("p"), "da_sizes"], [t("pp"), t("pn")], axis=-1),
             helper.make_node("MatMul", [t("pp"), past_v], [t("yp")]),                   # (B, Hkv, G, hd)
             helper.make_node("MatMul", [t("pn"), t("vh")], [t("yn")]),
             helper.make_node("Add", [t("yp"), t("yn")], [t("yg")]),
             helper.make_node("Reshape", [t("yg"), t("yshape")], [t(y)])]
    return helper.make_graph(nodes, tag + "_step", [], [helper.make_tensor_value_info(t(y), TensorProto.FLOAT, None)])


def _kernel_branch(gqa: onnx.NodeProto, y: str, tag: str) -> onnx.GraphProto:
    """The original kernel, its unused presents named inside the branch."""
    kernel = onnx.NodeProto()
    kernel.CopyFrom(gqa)
    kernel.output[:] = [f"{tag}/{y}", f"{tag}/present_k", f"{tag}/present_v"]
    return helper.make_graph(
        [kernel], tag + "_kernel", [], [helper.make_tensor_value_info(f"{tag}/{y}", TensorProto.FLOAT, None)]
    )


def switch_decode_attention(proto: onnx.ModelProto) -> int:
    """Rewrites every GroupQueryAttention of proto's main graph (in place) as described above; returns
    how many. Its presents must be unused (the graph returns new_key_values instead)."""
    g = proto.graph
    gqas = [n for n in g.node if n.op_type == "GroupQueryAttention"]
    if not gqas:
        return 0
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    if any(o in used for n in gqas for o in n.output[1:]):
        raise ValueError("a GroupQueryAttention's present is used: the step branch does not make one")
    windows = {next(a.i for a in n.attribute if a.name == "local_window_size") for n in gqas}
    nodes = []
    for i, n in enumerate(g.node):
        if n.op_type != "GroupQueryAttention":
            nodes.append(n)
            continue
        tag, y = f"attn{i}", n.output[0]
        nodes.append(
            helper.make_node(
                "If",
                [_ONE_STEP],
                [y],
                name=f"{n.name}/switch",
                then_branch=_step_branch(n, "y_step", tag),
                else_branch=_kernel_branch(n, "y_kernel", tag),
            )
        )
    first_past = gqas[0].input[3]
    del g.node[:]
    g.node.extend(_shared_nodes(first_past, windows) + nodes)
    return len(gqas)

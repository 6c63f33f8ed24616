"""Let the exported LM graph stop at MAC's tap: an input `tap_only` that skips every node the tap
does not need.

MAC's reader (mac/cache.py, the engine's ingestion and question encoder) needs only the residual
stream after the first K blocks (the graph output `tap`), but a plain graph always runs all blocks
and the output layer. For Gemma 3 270M with K = 9 of 18 that is half the blocks' work wasted per
chunk. Rather than a second graph (which would duplicate the 168 MB embedding table on disk and in
memory), the one LM graph gets an If node:

    tap_only (1,) int64 ──Cast, Not──> cond
    nodes the tap depends on           (always run: embedding, blocks 0..K-1, the tap)
    If cond: then = the remaining nodes (blocks K.., the output layer, the key/value outputs)
             else = empty logits (0, 1, V) and empty keys/values (L, 2, 0, Hkv, 0, hd)

Nodes with subgraphs of their own (each layer's decoding-step switch, onnx/decode_attention.py) move
like any other; what their branches read from outside counts as their inputs.

tap_only = 0 computes exactly what the graph computed before (the same nodes, moved into a branch
whose initializers stay in the outer scope); tap_only = 1 returns the same tap and empty tensors.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

TAP_ONLY = "tap_only"


def _reads(node: onnx.NodeProto) -> list[str]:
    """What a node reads: its inputs and, for a node with subgraphs (an If), the outer values those
    subgraphs use (names they read but do not make)."""
    names = [x for x in node.input if x]
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            made = {o for n in a.g.node for o in n.output}
            names += [x for n in a.g.node for x in _reads(n) if x not in made]
    return names


def _ancestors(nodes: list[onnx.NodeProto], output: str) -> set[int]:
    """Indices of the nodes `output` depends on (graph inputs and initializers end the walk)."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    need: set[int] = set()
    stack = [output]
    while stack:
        i = producer.get(stack.pop())
        if i is None or i in need:
            continue
        need.add(i)
        stack.extend(_reads(nodes[i]))
    return need


def _empty(name: str, dims: list[int]) -> onnx.NodeProto:
    """A Constant node holding a float tensor with a zero-size dimension."""
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name + "_value", TensorProto.FLOAT, dims, [])
    )


def add_tap_only(proto: onnx.ModelProto, *, n_layers: int, n_kv_heads: int, head_dim: int, vocab: int,
                 tap: str = "tap", outputs: tuple[str, ...] = ("logits", "present_key_values")) -> onnx.ModelProto:
    """Rewrites proto in place (and returns it): the input `tap_only` and the If described above."""
    g = proto.graph
    if any(i.name == TAP_ONLY for i in g.input):
        raise ValueError(f"the graph already has an input {TAP_ONLY}")
    nodes = list(g.node)
    need = _ancestors(nodes, tap)
    if not need:
        raise ValueError(f"no node produces {tap}")
    keep = [n for i, n in enumerate(nodes) if i in need]
    rest = [n for i, n in enumerate(nodes) if i not in need]
    made_by_rest = {o for n in rest for o in n.output}
    if not all(o in made_by_rest for o in outputs):
        raise ValueError(f"{outputs} must not be needed for {tap}")

    # Inside the branch the outputs get branch-local names; the If node gives back the originals.
    full = {o: f"{o}__full" for o in outputs}
    for n in rest:                       # (a branch node may read another output, e.g. a slice of present)
        n.output[:] = [full.get(o, o) for o in n.output]
        n.input[:] = [full.get(i, i) for i in n.input]
    out_types = {o.name: o.type.tensor_type.elem_type for o in g.output}
    # Shape annotations of values now computed inside the branch belong to it, not the outer graph.
    inner = [v for v in g.value_info if v.name in made_by_rest]
    outer = [v for v in g.value_info if v.name not in made_by_rest]
    then_branch = helper.make_graph(rest, "full_forward", [],
                                    [helper.make_tensor_value_info(full[o], out_types[o], None) for o in outputs],
                                    value_info=inner)
    empty_dims = {"logits": [0, 1, vocab], "present_key_values": [n_layers, 2, 0, n_kv_heads, 0, head_dim],
                  "new_key_values": [n_layers, 2, 0, n_kv_heads, 0, head_dim]}
    else_nodes = [_empty(f"{o}__none", empty_dims[o]) for o in outputs]
    else_branch = helper.make_graph(else_nodes, "tap_only", [],
                                    [helper.make_tensor_value_info(f"{o}__none", out_types[o], None) for o in outputs])

    flag = [helper.make_node("Cast", [TAP_ONLY], ["tap_only_bool"], to=TensorProto.BOOL),
            helper.make_node("Not", ["tap_only_bool"], ["run_full"]),
            helper.make_node("If", ["run_full"], list(outputs), then_branch=then_branch, else_branch=else_branch)]
    del g.node[:]
    g.node.extend(keep + flag)
    g.input.append(helper.make_tensor_value_info(TAP_ONLY, TensorProto.INT64, [1]))
    del g.value_info[:]
    g.value_info.extend(outer)
    return proto


def tap_only_spec() -> dict:
    """The manifest's description of the added input."""
    return {"name": TAP_ONLY, "dtype": "int64", "shape": [1]}

"""Export a bundle: manifest.json, tokenizer.json, six ONNX graphs (dropout off) and golden fixtures.

    python3 -m mnemo_models.export --lm runs/lm-tiny/ckpt.pt --mac runs/mac-tiny/ckpt.pt \
        --out bundles/default [--eval runs/eval.json] [--name mnemo-tiny]
    python3 -m mnemo_models.export --random-tiny --out bundles/tiny-random     # test bundle, seeded weights

The manifest is the contract with the TypeScript engine: every graph's tensor names and shapes,
special ids, prefix length and position offset, sha256 of each file, training config, evaluation.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from . import checkpoint
from .config import GPTConfig, MACConfig, to_dict
from .fixtures import make_fixtures
from .gpt2 import GPT
from .mac import MAC
from .prepare import MODELS_DIR
from .tokenizer import load_sentencepiece, special_ids

FORMAT, MAJOR, MINOR = "mnemo-mac-bundle", 1, 0
TOKENIZER_DIR = MODELS_DIR / "tokenizer"
OPSET = 17


class AmortizerGraph(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, input_ids, attention_mask):
        return self.net(input_ids, attention_mask)


class MemoryKVGraph(nn.Module):
    """modulations (N, T, D) -> memory_kv (n_blocks, 2, N*T, D): the question-independent half of aggregation."""

    def __init__(self, agg):
        super().__init__()
        self.agg = agg

    def forward(self, modulations):
        return self.agg.memory_kv(modulations.reshape(1, -1, modulations.shape[-1])).squeeze(2)


class AggregatorGraph(nn.Module):
    """query (B, T, D), memory_kv (n_blocks, 2, M, D) -> latent (B, T, D), entry_weights (B, M/T)."""

    def __init__(self, agg, n_slots: int):
        super().__init__()
        self.agg, self.T = agg, n_slots

    def forward(self, query, memory_kv):
        latent, w = self.agg.forward_kv(query, memory_kv.unsqueeze(2))
        return latent, w.reshape(w.shape[0], -1, self.T).sum(-1)


class PrefixGraph(nn.Module):
    def __init__(self, prefix):
        super().__init__()
        self.prefix = prefix

    def forward(self, latent):
        return self.prefix(latent)


class LMGraph(nn.Module):
    """One decoding step or a whole prompt: past/present stacked as (L, 2, B, nh, past, hs)."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, position_ids, attention_mask, past_key_values):
        past = [(past_key_values[l, 0], past_key_values[l, 1]) for l in range(past_key_values.shape[0])]
        logits, presents = self.lm(input_ids, position_ids, past, attention_mask)
        return logits, torch.stack([torch.stack(p) for p in presents])


def graph_specs(lm_cfg: GPTConfig, mac_cfg: MACConfig) -> dict:
    T, D, L, nh, hs = mac_cfg.n_slots, lm_cfg.n_embd, lm_cfg.n_layer, lm_cfg.n_head, lm_cfg.n_embd // lm_cfg.n_head
    nb, V, P = mac_cfg.aggregator_layers, lm_cfg.vocab_size, mac_cfg.prefix_len
    t = lambda name, dtype, *shape: {"name": name, "dtype": dtype, "shape": list(shape)}
    return {
        "amortizer": {"file": "amortizer.onnx",
                      "inputs": [t("input_ids", "int64", "batch", "doc_len"), t("attention_mask", "int64", "batch", "doc_len")],
                      "outputs": [t("modulation", "float32", "batch", T, D)]},
        "question_encoder": {"file": "question_encoder.onnx",
                             "inputs": [t("input_ids", "int64", "batch", "question_len"), t("attention_mask", "int64", "batch", "question_len")],
                             "outputs": [t("query", "float32", "batch", T, D)]},
        "memory_kv": {"file": "memory_kv.onnx", "inputs": [t("modulations", "float32", "entries", T, D)],
                      "outputs": [t("memory_kv", "float32", nb, 2, "memory_tokens", D)]},
        "aggregator": {"file": "aggregator.onnx",
                       "inputs": [t("query", "float32", "batch", T, D), t("memory_kv", "float32", nb, 2, "memory_tokens", D)],
                       "outputs": [t("latent", "float32", "batch", T, D), t("entry_weights", "float32", "batch", "entries")]},
        "prefix": {"file": "prefix.onnx", "inputs": [t("latent", "float32", "batch", T, D)],
                   "outputs": [t("prefix_kv", "float32", L, 2, "batch", nh, P, hs)]},
        "lm": {"file": "lm.onnx",
               "inputs": [t("input_ids", "int64", "batch", "seq"), t("position_ids", "int64", "batch", "seq"),
                          t("attention_mask", "int64", "batch", "past_plus_seq"),
                          t("past_key_values", "float32", L, 2, "batch", nh, "past", hs)],
               "outputs": [t("logits", "float32", "batch", "seq", V), t("present_key_values", "float32", L, 2, "batch", nh, "past_plus_seq", hs)]},
    }


def example_inputs(name: str, lm_cfg: GPTConfig, mac_cfg: MACConfig):
    T, D, L, nh = mac_cfg.n_slots, lm_cfg.n_embd, lm_cfg.n_layer, lm_cfg.n_head
    ids = torch.randint(4, lm_cfg.vocab_size, (2, 7))
    return {
        "amortizer": (ids, torch.tensor([[1] * 7, [1] * 5 + [0] * 2])),
        "question_encoder": (ids, torch.ones(2, 7, dtype=torch.long)),
        "memory_kv": (torch.randn(3, T, D),),
        "aggregator": (torch.randn(2, T, D), torch.randn(mac_cfg.aggregator_layers, 2, 3 * T, D)),
        "prefix": (torch.randn(2, T, D),),
        "lm": (ids[:, :3], torch.arange(2, 5).repeat(2, 1), torch.ones(2, 5, dtype=torch.long),
               torch.randn(L, 2, 2, nh, 2, D // nh)),
    }[name]


def export_graphs(lm: GPT, mac: MAC, out: Path) -> dict:
    specs = graph_specs(lm.cfg, mac.cfg)
    modules = {"amortizer": AmortizerGraph(mac.amortizer), "question_encoder": AmortizerGraph(mac.question_encoder),
               "memory_kv": MemoryKVGraph(mac.aggregator), "aggregator": AggregatorGraph(mac.aggregator, mac.cfg.n_slots),
               "prefix": PrefixGraph(mac.prefix), "lm": LMGraph(lm)}
    for name, module in modules.items():
        spec = specs[name]
        io = spec["inputs"] + spec["outputs"]
        dynamic = {t["name"]: {i: s for i, s in enumerate(t["shape"]) if isinstance(s, str)} for t in io}
        torch.onnx.export(module.eval(), example_inputs(name, lm.cfg, mac.cfg), str(out / spec["file"]),
                          input_names=[t["name"] for t in spec["inputs"]], output_names=[t["name"] for t in spec["outputs"]],
                          dynamic_axes={k: v for k, v in dynamic.items() if v}, opset_version=OPSET, do_constant_folding=True)
    return specs


def round_to_fp16(*modules: nn.Module) -> None:
    """Round every weight to fp16 precision, so PyTorch (fixtures, evaluation) sees the shipped weights."""
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                p.copy_(p.half().float())


def store_fp16(path: Path, min_elements: int = 4096) -> None:
    """Store large float32 initializers as float16 plus a Cast back to float32 (half the file size).

    The weights were rounded to fp16 before export, so this loses nothing; onnxruntime folds the
    Casts at session creation, so inference still runs in float32 at full speed.
    """
    model = onnx.load(str(path))
    graph, casts, keep = model.graph, [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == onnx.TensorProto.FLOAT and arr.size >= min_elements:
            keep.append(numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16"))
            casts.append(onnx.helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bundle(lm: GPT, mac: MAC, out: Path, name: str, training: dict, evaluation: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    lm.eval(), mac.eval()
    sp = load_sentencepiece(TOKENIZER_DIR / "mnemo-8k.model")
    shutil.copy(TOKENIZER_DIR / "tokenizer.json", out / "tokenizer.json")
    round_to_fp16(lm, mac)
    with torch.no_grad():
        graphs = export_graphs(lm, mac, out)
        fixtures = make_fixtures(lm, mac, sp, hier_group=2)
    for spec in graphs.values():
        store_fp16(out / spec["file"])
    (out / "fixtures.json").write_text(json.dumps(fixtures))
    files = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in sorted(out.iterdir())
             if p.name != "manifest.json"}
    ids = special_ids(sp)
    manifest = {
        "format": FORMAT, "version": {"major": MAJOR, "minor": MINOR},
        "id": f"{name}-{hashlib.sha256(''.join(f['sha256'] for f in files.values()).encode()).hexdigest()[:12]}",
        "name": name, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"lm": {"type": "gpt2", **to_dict(lm.cfg), "head_dim": lm.head_dim},
                         "mac": {**to_dict(mac.cfg), "memory_blocks": mac.cfg.aggregator_layers}},
        "prefix": {"length": mac.cfg.prefix_len, "position_offset": mac.cfg.position_offset},
        "special_ids": ids,
        "prompt": {"question": "Question: {question}\nAnswer:", "gold": "Context: {passage}\nQuestion: {question}\nAnswer:",
                   "answer_prefix": " ", "whitespace": "runs collapsed to one space"},
        "generation": {"max_new_tokens": 16, "stop_ids": [ids["eos"], ids["newline"]], "hier_group": 16},
        "tokenizer": "tokenizer.json", "fixtures": "fixtures.json",
        "weights": "float32 compute; weights rounded to fp16 and stored as fp16 initializers + Cast",
        "graphs": graphs, "files": files, "training": training, "evaluation": evaluation,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def random_tiny(seed: int = 0):
    torch.manual_seed(seed)
    lm_cfg = GPTConfig(vocab_size=8192, n_positions=256, n_embd=32, n_layer=2, n_head=2)
    mac_cfg = MACConfig(n_slots=4, prefix_len=2, amortizer_enc_layers=1, amortizer_dec_layers=1, question_enc_layers=1,
                        question_dec_layers=1, aggregator_layers=2, n_head=2, max_doc_tokens=128, max_question_tokens=32,
                        init_from_lm=False)
    lm, mac = GPT(lm_cfg), MAC(lm_cfg, mac_cfg)
    with torch.no_grad():  # GPT-2's small init gives flat logits and one repeated token: make every part matter
        mac.prefix.out.weight.normal_(std=0.5)
        lm.transformer.wte.weight.normal_(std=1.0)
        lm.transformer.wpe.weight.normal_(std=1.0)
        for name, p in lm.named_parameters():
            if name.endswith(".weight") and p.dim() == 2 and "wte" not in name and "wpe" not in name:
                p.normal_(std=0.5)
    return lm, mac


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", type=Path)
    ap.add_argument("--mac", type=Path)
    ap.add_argument("--random-tiny", action="store_true", help="seeded random weights, for tests")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", default="mnemo")
    ap.add_argument("--eval", type=Path, help="evaluation report (evaluate.py --out) to embed")
    ap.add_argument("--compute", default="", help="free text: hardware, hours, tokens, for the manifest")
    args = ap.parse_args(argv)
    if args.random_tiny:
        lm, mac = random_tiny()
        training = {"note": "random weights (seed 0) for tests; not trained"}
        name = "tiny-random"
    else:
        if not (args.lm and args.mac):
            ap.error("--lm and --mac checkpoints are required (or --random-tiny)")
        from .evaluate import load_mac
        from .train_mac import load_frozen_lm
        lm = load_frozen_lm(args.lm, torch.device("cpu"))
        mac = load_mac(args.mac, lm, torch.device("cpu"))
        lm_state, mac_state = checkpoint.load(args.lm), checkpoint.load(args.mac)
        training = {"lm": {"config": lm_state["config"], "step": lm_state.get("step"), "tokens": lm_state.get("tokens")},
                    "mac": {"config": mac_state["config"], "step": mac_state.get("step")}, "compute": args.compute}
        name = args.name
    evaluation = json.loads(args.eval.read_text()) if args.eval else {}
    if args.out.exists():
        shutil.rmtree(args.out)
    manifest = write_bundle(lm, mac, args.out, name, training, evaluation)
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"bundle {manifest['id']} -> {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

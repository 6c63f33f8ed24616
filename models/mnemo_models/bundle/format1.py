"""The format-1 bundle writer: the tiny GPT-2 + MAC test bundle (bundles/tiny-random).

    python -m mnemo_models.build_tiny_bundle --out bundles/tiny-random     # seeded random weights

manifest.json, tokenizer.json (the committed SentencePiece model's, models/tokenizer/), six ONNX
graphs (amortizer, question encoder, memory K/V, aggregator, prefix, LM) and golden fixtures the
TypeScript engine must reproduce. Format 2 (pretrained LMs) is written by bundle/format2.py; the
engine reads a format-1 manifest as format 2 with memory heads and no chat template.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import sentencepiece as spm
import torch
import torch.nn as nn
from onnx import numpy_helper

from mnemo_models.bundle.sources import sha256
from mnemo_models.data.squad import prompt
from mnemo_models.lm.tiny import GPT, GPTConfig, greedy, pad, prefix_past, to_dict
from mnemo_models.mac.tiny import MAC, MACConfig

FORMAT, MAJOR, MINOR = "mnemo-mac-bundle", 1, 0
TOKENIZER_DIR = Path(__file__).resolve().parents[2] / "tokenizer"
SPECIALS = {"unk": "<unk>", "bos": "<s>", "eos": "</s>", "pad": "<pad>"}
OPSET = 17


def load_sentencepiece(path: Path) -> spm.SentencePieceProcessor:
    if not Path(path).is_file():
        raise FileNotFoundError(f"tokenizer model not found: {path}")
    return spm.SentencePieceProcessor(model_file=str(path))


def special_ids(sp: spm.SentencePieceProcessor) -> dict:
    ids = {name: sp.piece_to_id(piece) for name, piece in SPECIALS.items()}
    ids["newline"] = sp.piece_to_id("<0x0A>")
    return ids


# Golden fixtures: inputs -> outputs computed in PyTorch, which the TypeScript engine must reproduce.
# Every tensor is stored as {"shape": [...], "data": [flat row-major floats or ints]}.
DOCUMENTS = [
    "The Amazon rainforest covers much of the Amazon basin of South America. Most of the forest is in Brazil, "
    "with 60% of the rainforest, followed by Peru with 13% and Colombia with 10%.",
    "Marie Curie was the first woman to win a Nobel Prize, and the only person to win Nobel Prizes in two "
    "different sciences: physics in 1903 and chemistry in 1911.",
    "The Eiffel Tower in Paris was completed in 1889 as the entrance to the World's Fair. It is 330 metres tall.",
]
QUESTION = "In which year was the Eiffel Tower completed?"


def _t(x: torch.Tensor) -> dict:
    return {"shape": list(x.shape), "data": x.detach().float().flatten().tolist() if x.is_floating_point()
            else x.detach().flatten().tolist()}


@torch.no_grad()
def make_fixtures(lm, mac: MAC, sp, hier_group: int = 2) -> dict:
    ids = special_ids(sp)
    doc_ids = [sp.encode(d)[: mac.cfg.max_doc_tokens] for d in DOCUMENTS]
    d_ids, d_mask = pad(doc_ids, ids["pad"], "cpu")                             # right-padded batch
    modulation = mac.amortizer(d_ids, d_mask)                                   # (N, T, D)
    q_ids = sp.encode(prompt(QUESTION))[-mac.cfg.max_question_tokens:]
    query = mac.question_encoder(torch.tensor([q_ids]), torch.ones(1, len(q_ids), dtype=torch.long))
    memory_kv = mac.aggregator.memory_kv(modulation.reshape(1, -1, modulation.shape[-1])).squeeze(2)
    latent, token_w = mac.aggregator.forward_kv(query, memory_kv.unsqueeze(2))
    entry_w = token_w.view(1, -1, mac.cfg.n_slots).sum(-1)
    hier_latent, hier_w = mac.aggregate_hierarchical(query, modulation[None], hier_group)
    prefix = mac.prefix(latent)                                                  # (L, 2, 1, nh, P, hs)
    P = prefix.shape[-2]
    pos = torch.arange(len(q_ids))[None] + mac.cfg.position_offset
    logits, _ = lm(torch.tensor([q_ids]), pos, prefix_past(prefix), torch.ones(1, P + len(q_ids), dtype=torch.long))
    stops = {ids["eos"], ids["newline"]}
    mac_tokens = greedy(lm, [q_ids], stops, ids["pad"], 16, prefix, mac.cfg.position_offset)[0]
    plain_tokens = greedy(lm, [q_ids], stops, ids["pad"], 16, None, 0)[0]
    return {
        "documents": DOCUMENTS,
        "document_ids": doc_ids,
        "amortizer": {"input_ids": _t(d_ids), "attention_mask": _t(d_mask), "modulation": _t(modulation)},
        "question": QUESTION,
        "question_prompt": prompt(QUESTION),
        "question_ids": q_ids,
        "question_encoder": {"query": _t(query)},
        "memory_kv": {"memory_kv": _t(memory_kv)},
        "aggregator": {"latent": _t(latent), "entry_weights": _t(entry_w)},
        "hierarchical": {"group": hier_group, "latent": _t(hier_latent), "entry_weights": _t(hier_w)},
        "prefix": {"prefix_kv": _t(prefix)},
        "lm": {
            "first_logits_last": _t(logits[0, -1]),
            "greedy_with_prefix": mac_tokens,
            "greedy_without_prefix": plain_tokens,
            "max_new_tokens": 16,
            "position_offset": mac.cfg.position_offset,
        },
        "tolerance": {"relative": 1e-4},
    }


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
        "amortizer": {
            "file": "amortizer.onnx",
            "inputs": [t("input_ids", "int64", "batch", "doc_len"), t("attention_mask", "int64", "batch", "doc_len")],
            "outputs": [t("modulation", "float32", "batch", T, D)],
        },
        "question_encoder": {
            "file": "question_encoder.onnx",
            "inputs": [
                t("input_ids", "int64", "batch", "question_len"),
                t("attention_mask", "int64", "batch", "question_len"),
            ],
            "outputs": [t("query", "float32", "batch", T, D)],
        },
        "memory_kv": {
            "file": "memory_kv.onnx",
            "inputs": [t("modulations", "float32", "entries", T, D)],
            "outputs": [t("memory_kv", "float32", nb, 2, "memory_tokens", D)],
        },
        "aggregator": {
            "file": "aggregator.onnx",
            "inputs": [t("query", "float32", "batch", T, D), t("memory_kv", "float32", nb, 2, "memory_tokens", D)],
            "outputs": [t("latent", "float32", "batch", T, D), t("entry_weights", "float32", "batch", "entries")],
        },
        "prefix": {
            "file": "prefix.onnx",
            "inputs": [t("latent", "float32", "batch", T, D)],
            "outputs": [t("prefix_kv", "float32", L, 2, "batch", nh, P, hs)],
        },
        "lm": {
            "file": "lm.onnx",
            "inputs": [
                t("input_ids", "int64", "batch", "seq"),
                t("position_ids", "int64", "batch", "seq"),
                t("attention_mask", "int64", "batch", "past_plus_seq"),
                t("past_key_values", "float32", L, 2, "batch", nh, "past", hs),
            ],
            "outputs": [
                t("logits", "float32", "batch", "seq", V),
                t("present_key_values", "float32", L, 2, "batch", nh, "past_plus_seq", hs),
            ],
        },
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
    modules = {
        "amortizer": AmortizerGraph(mac.amortizer),
        "question_encoder": AmortizerGraph(mac.question_encoder),
        "memory_kv": MemoryKVGraph(mac.aggregator),
        "aggregator": AggregatorGraph(mac.aggregator, mac.cfg.n_slots),
        "prefix": PrefixGraph(mac.prefix),
        "lm": LMGraph(lm),
    }
    for name, module in modules.items():
        spec = specs[name]
        io = spec["inputs"] + spec["outputs"]
        dynamic = {t["name"]: {i: s for i, s in enumerate(t["shape"]) if isinstance(s, str)} for t in io}
        torch.onnx.export(
            module.eval(),
            example_inputs(name, lm.cfg, mac.cfg),
            str(out / spec["file"]),
            input_names=[t["name"] for t in spec["inputs"]],
            output_names=[t["name"] for t in spec["outputs"]],
            dynamic_axes={k: v for k, v in dynamic.items() if v},
            opset_version=OPSET,
            do_constant_folding=True,
        )
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
        "format": FORMAT,
        "version": {"major": MAJOR, "minor": MINOR},
        "id": f"{name}-{hashlib.sha256(''.join(f['sha256'] for f in files.values()).encode()).hexdigest()[:12]}",
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": {
            "lm": {"type": "gpt2", **to_dict(lm.cfg), "head_dim": lm.head_dim},
            "mac": {**to_dict(mac.cfg), "memory_blocks": mac.cfg.aggregator_layers},
        },
        "prefix": {"length": mac.cfg.prefix_len, "position_offset": mac.cfg.position_offset},
        "special_ids": ids,
        "prompt": {
            "question": "Question: {question}\nAnswer:",
            "gold": "Context: {passage}\nQuestion: {question}\nAnswer:",
            "answer_prefix": " ",
            "whitespace": "runs collapsed to one space",
        },
        "generation": {"max_new_tokens": 16, "stop_ids": [ids["eos"], ids["newline"]], "hier_group": 16},
        "tokenizer": "tokenizer.json",
        "fixtures": "fixtures.json",
        "weights": "float32 compute; weights rounded to fp16 and stored as fp16 initializers + Cast",
        "graphs": graphs,
        "files": files,
        "training": training,
        "evaluation": evaluation,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def random_tiny(seed: int = 0):
    torch.manual_seed(seed)
    lm_cfg = GPTConfig(vocab_size=8192, n_positions=256, n_embd=32, n_layer=2, n_head=2)
    mac_cfg = MACConfig(
        n_slots=4,
        prefix_len=2,
        amortizer_enc_layers=1,
        amortizer_dec_layers=1,
        question_enc_layers=1,
        question_dec_layers=1,
        aggregator_layers=2,
        n_head=2,
        max_doc_tokens=128,
        max_question_tokens=32,
        init_from_lm=False,
    )
    lm, mac = GPT(lm_cfg), MAC(lm_cfg, mac_cfg)
    with torch.no_grad():  # GPT-2's small init gives flat logits and one repeated token: make every part matter
        mac.prefix.out.weight.normal_(std=0.5)
        lm.transformer.wte.weight.normal_(std=1.0)
        lm.transformer.wpe.weight.normal_(std=1.0)
        for name, p in lm.named_parameters():
            if name.endswith(".weight") and p.dim() == 2 and "wte" not in name and "wpe" not in name:
                p.normal_(std=0.5)
    return lm, mac

"""all-MiniLM-L6-v2, Mnemo's sentence encoder: a small BERT in PyTorch, its weights, its ONNX export.

    python -m mnemo_models.export_encoder --src DIR --out DIR [--max-tokens 256]

--src holds the sentence-transformers files of all-MiniLM-L6-v2 (Apache-2.0): config.json,
model.safetensors, tokenizer.json, modules.json, 1_Pooling/config.json. The pipeline reproduced is
the one modules.json names: Transformer (BERT's last hidden states) -> Pooling (mean over real tokens)
-> Normalize (L2). Texts are tokenised WordPiece with [CLS] ... [SEP], truncated to max_tokens (256,
sentence_bert_config.json) keeping [SEP] last, right-padded with id 0 and attention_mask 0.

--out receives encoder.onnx (fp32), encoder-tokenizer.json (the source's tokenizer.json, byte for
byte) and encoder-fixtures.json (token ids and PyTorch embeddings, for the TypeScript parity test).
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file

from mnemo_models.lm.llama import float64_reference

OPSET, PAD_ID = 17, 0

# -----------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    ln_eps: float = 1e-12

    @staticmethod
    def from_hf(cfg: dict) -> BertConfig:
        """From Hugging Face's config.json; a BERT variant this file does not implement is refused."""
        for key, want in {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}.items():
            if cfg.get(key, want) != want:
                raise ValueError(f"config.json: {key} is {cfg[key]!r}, only {want!r} is implemented")
        return BertConfig(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                          cfg["intermediate_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"],
                          cfg["layer_norm_eps"])


def check_pipeline(src: Path, hidden: int) -> None:
    """Refuse a sentence-transformers pipeline other than Transformer -> mean Pooling -> Normalize."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((src / "modules.json").read_text())]
    if modules != ["Transformer", "Pooling", "Normalize"]:
        raise ValueError(f"modules.json: {modules}, expected Transformer, Pooling, Normalize")
    pooling = json.loads((src / "1_Pooling" / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
    if modes != ["pooling_mode_mean_tokens"] or pooling["word_embedding_dimension"] != hidden:
        raise ValueError(f"1_Pooling/config.json: {pooling}, expected mean pooling over {hidden}-d tokens")


# -----------------------------------------------------------------------------
# model


class Embeddings(nn.Module):
    """word + position + token type, then LayerNorm. Names are the checkpoint's."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, input_ids):
        T = input_ids.shape[1]
        # One segment per text: every token_type_id is 0, so row 0 is added to every token.
        x = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0] \
            + self.position_embeddings.weight[:T]                                   # (B, T, D)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.heads = c.heads
        self.query, self.key, self.value = (nn.Linear(c.hidden, c.hidden) for _ in range(3))
        self.proj = nn.Linear(c.hidden, c.hidden)

    def forward(self, x, bias):
        """x (B, T, D), bias (B, 1, 1, T): 0 on real keys, float32 min on padding."""
        B, T, D = x.shape
        hs = D // self.heads
        # (B, nh, T, hs)
        q, k, v = (f(x).view(B, T, self.heads, hs).transpose(1, 2) for f in (self.query, self.key, self.value))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs) + bias                     # (B, nh, T, T)
        # exp(min - max) is exactly 0: a padded key gets no weight, so results do not depend on padding.
        y = torch.softmax(att, dim=-1) @ v                                          # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Layer(nn.Module):
    """Post-LN, as in the original BERT: x = LN(x + attn(x)), then x = LN(x + mlp(x))."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.attn = SelfAttention(c)
        self.ln_attn = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.fc_in = nn.Linear(c.hidden, c.intermediate)
        self.fc_out = nn.Linear(c.intermediate, c.hidden)
        self.ln_mlp = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, x, bias):
        x = self.ln_attn(x + self.attn(x, bias))
        return self.ln_mlp(x + self.fc_out(F.gelu(self.fc_in(x))))                 # exact (erf) GELU: BERT's "gelu"


class MiniLM(nn.Module):
    """input_ids, attention_mask (B, T) int64 -> embedding (B, D) mean-pooled and L2-normalised,
    token_states (B, T, D) the last layer's states (padded positions hold values to ignore)."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.cfg = c
        self.embeddings = Embeddings(c)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.to(torch.float32)                                     # (B, T) 1 = real token
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min      # (B, 1, 1, T)
        x = self.embeddings(input_ids)                                              # (B, T, D)
        for layer in self.layers:
            x = layer(x, bias)
        # sentence-transformers' Pooling (mean over real tokens; clamp as it does) and Normalize.
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)  # (B, D)
        return F.normalize(mean, p=2, dim=1), x


# -----------------------------------------------------------------------------
# weights: model.safetensors (Hugging Face BertModel names), loaded strictly

# Our parameter names -> the checkpoint's; embeddings.* are spelt the same in both.
RENAMES = (("layers.", "encoder.layer."), (".attn.query.", ".attention.self.query."),
           (".attn.key.", ".attention.self.key."), (".attn.value.", ".attention.self.value."),
           (".attn.proj.", ".attention.output.dense."), (".ln_attn.", ".attention.output.LayerNorm."),
           (".fc_in.", ".intermediate.dense."), (".fc_out.", ".output.dense."), (".ln_mlp.", ".output.LayerNorm."))
# In the checkpoint but not the model: BERT's [CLS] pooler, which sentence-transformers does not use
# (it mean-pools the token states instead).
UNUSED = {"pooler.dense.weight", "pooler.dense.bias"}


def checkpoint_name(name: str) -> str:
    for ours, theirs in RENAMES:
        name = name.replace(ours, theirs)
    return name


def load_weights(model: MiniLM, weights: dict[str, np.ndarray]) -> None:
    """Every parameter gets a tensor of its shape; every tensor in the file is used or listed in UNUSED."""
    weights = dict(weights)
    position_ids = weights.pop("embeddings.position_ids", None)   # a buffer: 0..max_positions-1, nothing to load
    if position_ids is not None and not np.array_equal(position_ids.reshape(-1), np.arange(model.cfg.max_positions)):
        raise ValueError("embeddings.position_ids is not 0..max_positions-1: absolute positions are assumed")
    params = {checkpoint_name(n): p for n, p in model.named_parameters()}
    missing, unexpected = sorted(params.keys() - weights.keys()), sorted(weights.keys() - params.keys() - UNUSED)
    if missing or unexpected:
        raise ValueError(f"model.safetensors does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, p in params.items():
            w = weights[name]
            if w.shape != tuple(p.shape) or w.dtype != np.float32:
                raise ValueError(f"{name}: {w.dtype} {w.shape} in the file, float32 {tuple(p.shape)} expected")
            p.copy_(torch.from_numpy(w))


def load_minilm(src: Path) -> MiniLM:
    cfg = BertConfig.from_hf(json.loads((src / "config.json").read_text()))
    check_pipeline(src, cfg.hidden)
    model = MiniLM(cfg)
    load_weights(model, load_file(str(src / "model.safetensors")))
    return model.eval()


# -----------------------------------------------------------------------------
# tokenisation (Python side: the `tokenizers` package; the app uses @huggingface/tokenizers)


def load_tokenizer(path: Path, max_tokens: int):
    """The file's own settings pad every text to 128 and truncate at 128; sentence-transformers
    overrides both per call, and so do we: no padding here, truncation at max_tokens ([SEP] kept)."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    return tok


def batch(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows -> input_ids, attention_mask (B, T) int64, right-padded to the longest row."""
    T = max(len(r) for r in rows)
    ids = torch.tensor([r + [PAD_ID] * (T - len(r)) for r in rows], dtype=torch.int64)
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows], dtype=torch.int64)
    return ids, mask


# -----------------------------------------------------------------------------
# export

# Paraphrase / unrelated triple, accents (stripped by the normaliser), CJK, other scripts and emoji,
# punctuation and odd spaces, empty, a word over WordPiece's 100 characters, a text over max_tokens.
FIXTURE_TEXTS = [
    "hello world", "Where was Marie Curie born?", "Marie Curie was born in Warsaw.", "The Eiffel Tower is in Paris.",
    "Crème brûlée at Café Zürich: a naïve résumé, déjà vu!", "北京是中国的首都。東京は日本の首都です。",
    "Ελληνικά, русский язык, العربية, and emoji 🙂🚀 too.",
    "e-mail: ann@example.com; price $3.50 (50% off)\ttabs\nnew lines, zero\u200bwidth, non\u00a0breaking.",
    "", "A" * 120 + " is one over-long word.",
    " ".join(["Memory of amortized contexts compresses each document chunk in one forward pass."] * 30),
]


def graph_spec(cfg: BertConfig, max_tokens: int) -> dict:
    return {
        "file": "encoder.onnx",
        "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]},
                   {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "seq"]}],
        "outputs": [{"name": "embedding", "dtype": "float32", "shape": ["batch", cfg.hidden]},
                    {"name": "token_states", "dtype": "float32", "shape": ["batch", "seq", cfg.hidden]}],
        "architecture": {"hidden": cfg.hidden, "layers": cfg.layers, "heads": cfg.heads,
                         "max_positions": cfg.max_positions, "max_tokens": max_tokens,
                         "pooling": "mean", "normalize": True},
        "tokenizer": "encoder-tokenizer.json", "fixtures": "encoder-fixtures.json",
    }


@torch.no_grad()
def make_fixtures(model: MiniLM, tokenizer_path: Path, max_tokens: int) -> dict:
    """Each text embedded alone (no padding); token_states of the second text, for the amortizer's side.
    Computed in float64 and rounded to float32 once, so every CPU writes the same file."""
    tok = load_tokenizer(tokenizer_path, max_tokens)
    ids = [tok.encode(t).ids for t in FIXTURE_TEXTS]
    with float64_reference(model):
        embeddings = [model(*batch([r]))[0][0].float().tolist() for r in ids]
        states = model(*batch([ids[1]]))[1][0].float()                              # (T, D)
    return {"max_tokens": max_tokens, "texts": FIXTURE_TEXTS, "ids": ids, "embeddings": embeddings,
            "token_states": {"text": 1, "shape": list(states.shape), "data": states.flatten().tolist()}}


def pin_static_dims(path: Path, spec: dict) -> None:
    """torch 1.13's exporter leaves each output's 384 symbolic; write the spec's sizes into the graph
    (full_check re-runs ONNX shape inference, so a wrong size fails here)."""
    graph = onnx.load(str(path))
    for out, t in zip(graph.graph.output, spec["outputs"]):
        for dim, size in zip(out.type.tensor_type.shape.dim, t["shape"]):
            if isinstance(size, int):
                dim.dim_value = size
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))


def export_encoder(src_dir: Path, out_dir: Path, max_tokens: int = 256) -> dict:
    """Write encoder.onnx, encoder-tokenizer.json, encoder-fixtures.json; return the graph's description."""
    model = load_minilm(src_dir)
    if not 2 <= max_tokens <= model.cfg.max_positions:
        raise ValueError(f"max_tokens {max_tokens} must be in 2..{model.cfg.max_positions}")
    spec = graph_spec(model.cfg, max_tokens)
    out_dir.mkdir(parents=True, exist_ok=True)
    example = batch([[101, 7592, 2088, 102], [101, 102]])                           # a padded batch of two
    dynamic = {t["name"]: {i: s for i, s in enumerate(t["shape"]) if isinstance(s, str)}
               for t in spec["inputs"] + spec["outputs"]}                           # batch, seq
    torch.onnx.export(model, example, str(out_dir / spec["file"]), input_names=[t["name"] for t in spec["inputs"]],
                      output_names=[t["name"] for t in spec["outputs"]], dynamic_axes=dynamic,
                      opset_version=OPSET, do_constant_folding=True)
    pin_static_dims(out_dir / spec["file"], spec)
    shutil.copyfile(src_dir / "tokenizer.json", out_dir / spec["tokenizer"])
    (out_dir / spec["fixtures"]).write_text(
        json.dumps(make_fixtures(model, src_dir / "tokenizer.json", max_tokens)) + "\n"
    )
    return spec

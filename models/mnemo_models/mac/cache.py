"""Everything frozen that MAC training for the real LM reads, computed once: features and teacher.

    python -m mnemo_models.mac_cache --split train --paragraphs 3000 --out runs/mac-cache/train
    python -m mnemo_models.mac_cache --split valid --paragraphs 400 --out runs/mac-cache/valid

The frozen LM never changes, so per paragraph (a seeded sample of the split) this stores:

- doc_ids, doc_feat: the paragraph's tokens (" " + text, at most MAX_DOC) and the LM's residual
  stream after its first K blocks at each of them (S, D), RMS-normed, fp16: what the amortizer
  reads. The LM reads the paragraph inside the gold prompt's opening (reader_prefix), as the app's
  ingest does, so this comes from the teacher's own forward pass;
- per question: q_ids (the bundle's question-only prompt), q_feat (its residual after K blocks,
  what the question encoder reads), targets (" " + answer, then the newline that ends a short
  answer; at most MAX_TARGET), and the **teacher**: the same LM with the paragraph in its gold
  prompt, teacher-forced on the targets: the top-k next-token ids and log-probs at each target
  (mac-method.md §7: distil the LM reading the passage) and its target NLL.

The gold prompts of one paragraph share everything up to the question, so that prefix runs once
and each question continues from its key/value cache. Shards of `--shard` paragraphs are written
atomically (shard-00000.pt ...): a killed run resumes at the first missing shard.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from mnemo_models.bundle import recipes
from mnemo_models.bundle.fixtures import render
from mnemo_models.lm.load import load_lm

MAX_DOC = 320            # tokens of a paragraph (SQuAD train: 99.5% fit; longer ones are cut)
MAX_TARGET = 17          # 16 answer tokens + the newline
TAP_LAYER = 9            # the amortizer and question encoder read the residual after 9 of 18 blocks


def common_prefix(rows: list[list[int]]) -> int:
    n = min(len(r) for r in rows)
    for i in range(n):
        if any(r[i] != rows[0][i] for r in rows):
            return i
    return n


def rms_normed(x: torch.Tensor) -> torch.Tensor:
    """Gemma's residual stream reaches 1e4 and more (its <bos> row overflows fp16); MAC reads only its
    direction (the LM's own K/V projections RMS-norm their input), so it is stored RMS-normed."""
    x = x.float()
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.float16)


def pad_rows(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, S) and mask (B, S) 1 = token."""
    S = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (S - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in rows])
    return ids, mask


def hidden_behind(model, rows: list[list[int]], past: torch.Tensor) -> torch.Tensor:
    """The LM's last hidden states (B, S, D) of right-padded rows read behind past (L, 2, B, Hkv, P,
    hd): positions start at P, every past slot is attended."""
    ids, mask = pad_rows(rows)
    B, S = ids.shape
    P = past.shape[4]
    pos = (P + torch.arange(S))[None].expand(B, -1)
    hidden, _ = model(ids, pos, torch.cat([torch.ones(B, P, dtype=torch.long), mask], 1), past, hidden_only=True)
    return hidden


@torch.no_grad()
def tap_batch(model, rows: list[list[int]], layer: int) -> list[torch.Tensor]:
    """The residual after `layer` blocks for each row alone from position 0: [(S_i, D) fp16]."""
    ids, mask = pad_rows(rows)
    B, S = ids.shape
    h = model(ids, torch.arange(S)[None].expand(B, -1), mask, model.empty_past(B), tap_layer=layer,
              stop_at_tap=True)
    return [rms_normed(h[i, :len(r)]) for i, r in enumerate(rows)]


@torch.no_grad()
def teacher(model, prompts: list[list[int]], targets: list[list[int]], top_k: int, layer: int,
            span: tuple[int, int]) -> tuple[list[dict], torch.Tensor]:
    """The frozen LM on each gold prompt + its targets, the shared prompt prefix run once.

    Returns per question the top-k ids/log-probs at each target and the target NLL, and the
    residual after `layer` blocks over prompts[0][span[0]:span[1]] (the passage: the amortizer's
    input, read in the gold prompt's own frame).
    """
    n = min(common_prefix(prompts), min(len(p) for p in prompts) - 1)   # each suffix keeps a token
    assert n >= span[1], "the passage must lie inside the shared prompt prefix"
    shared = torch.tensor([prompts[0][:n]])
    _, past, tapped = model(shared, torch.arange(n)[None], torch.ones(1, n, dtype=torch.long),
                            model.empty_past(), hidden_only=True, tap_layer=layer)
    doc_feat = rms_normed(tapped[0, span[0]:span[1]])
    rests = [p[n:] + t[:-1] for p, t in zip(prompts, targets)]           # the last target is never fed
    hidden = hidden_behind(model, rests, past.expand(-1, -1, len(rests), -1, -1, -1))
    out = []
    for i, (prompt, tgt) in enumerate(zip(prompts, targets)):
        at = torch.arange(len(prompt) - n - 1, len(prompt) - n - 1 + len(tgt))   # predicting each target
        logp = torch.log_softmax(model.logits(hidden[i, at]).float(), dim=-1)     # (A, V)
        top = torch.topk(logp, top_k, dim=-1)
        out.append({"topk_ids": top.indices.to(torch.int32), "topk_logp": top.values.to(torch.float16),
                    "nll": float(-logp[torch.arange(len(tgt)), torch.tensor(tgt)].mean())})
    return out, doc_feat


def reader_prefix(prompts: dict) -> str:
    """The gold prompt up to its passage: the frame in which the amortizer's LM pass reads a chunk."""
    return render(prompts, "gold", "{question}", "\0").split("\0")[0].rstrip(" ")


def reader_suffix(prompts: dict) -> str:
    """The gold prompt after its passage: what follows a memory prefix that holds the gold frame."""
    return render(prompts, "gold", "{question}", "\\0").split("\\0")[1]


def paragraph_record(model, encode, prompts: dict, para, newline: int, top_k: int, layer: int) -> dict:
    doc = " ".join(para.context.split())
    pre, doc_ids = encode(reader_prefix(prompts)), encode(" " + doc)[:MAX_DOC]
    qs, golds = [], []
    for qa in para.qas:
        gold = encode(render(prompts, "gold", qa.question, doc))
        if gold[:len(pre) + len(doc_ids)] != pre + doc_ids:
            raise ValueError(f"paragraph {para.index}: the gold prompt does not tokenize as prefix + passage")
        golds.append(gold)
        qs.append({"id": qa.id, "question": qa.question, "answers": qa.answers,
                   "q_ids": encode(render(prompts, "question", qa.question)),
                   "targets": encode(" " + qa.answers[0])[:MAX_TARGET - 1] + [newline]})
    taught, doc_feat = teacher(
        model, golds, [q["targets"] for q in qs], top_k, layer, (len(pre), len(pre) + len(doc_ids))
    )
    for q, t, f in zip(qs, taught, tap_batch(model, [q["q_ids"] for q in qs], layer)):
        q.update(t, q_feat=f)
    return {"index": para.index, "article": para.article, "context": doc, "doc_ids": doc_ids,
            "doc_feat": doc_feat, "questions": qs}


def load_frozen(bundle: Path):
    """The bundle's own LM (from the cached GGUF, exactly the shipped precision), tokenizer, manifest."""
    from tokenizers import Tokenizer

    manifest = json.loads((bundle / "manifest.json").read_text())
    path = recipes.LM_RECIPES[manifest["build"]["model"]].gguf(log=lambda *_: None)[0]
    model, _ = load_lm(path, manifest["build"]["precision"])
    model.eval().requires_grad_(False)
    tok = Tokenizer.from_file(str(bundle / manifest["tokenizer"]))
    encode = lambda t: tok.encode(t, add_special_tokens=False).ids               # noqa: E731
    return model, encode, manifest

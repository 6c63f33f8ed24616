"""Batches for MAC: padded id tensors, banks of gold + distractor documents, prompt+answer rows."""
from __future__ import annotations

import torch

from .prepare import Examples
from .tokenizer import SPECIALS

PAD_ID = SPECIALS["pad"][1]  # the tokenizer's pad id: filler under a zero mask, never attended


def pad(rows: list[list[int]], pad_id: int, device, left: bool = False):
    """Ragged ids -> ids (B, S) and mask (B, S) with 1 on real tokens."""
    S = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), S), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            sl = slice(S - len(r), S) if left else slice(0, len(r))
            ids[i, sl] = torch.tensor(r)
            mask[i, sl] = 1
    return ids.to(device), mask.to(device)


def doc_tokens(ex: Examples, d: int, max_tokens: int) -> list[int]:
    return ex.doc_ids[d][:max_tokens]


def question_tokens(ex: Examples, q: int, max_tokens: int) -> list[int]:
    return ex.q_prompt[q][-max_tokens:]


def answer_rows(ex: Examples, qs: list[int], pad_id: int, device):
    """Rows prompt + answer (teacher forcing): ids (B, S), targets (B, S) (-1 except answer tokens), mask (B, S)."""
    seqs, tgts = [], []
    for q in qs:
        p, a = ex.q_prompt[q], ex.q_answer[q]
        seqs.append(p + a[:-1])
        tgts.append([-1] * (len(p) - 1) + a)
    ids, mask = pad(seqs, pad_id, device)
    targets = torch.full_like(ids, -1)
    for i, t in enumerate(tgts):
        targets[i, :len(t)] = torch.tensor(t)
    return ids, targets, mask


def prefix_past(prefix):
    """(L, 2, B, nh, P, hs) -> the LM's past: [(k, v)] per layer."""
    return [(prefix[l, 0], prefix[l, 1]) for l in range(prefix.shape[0])]

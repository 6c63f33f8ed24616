"""The frozen LM answering behind a MAC prefix: batched losses, greedy answers, banks from the cache.

Shared by training (mac/train.py) and the gate measurements (eval/gates.py). Records come
from mac/cache.py: paragraphs with doc_feat (S, D) and questions with q_ids, q_feat, targets and
the teacher's top-k.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from mnemo_models.mac.cache import hidden_behind, reader_suffix


def load_cache(folder: Path) -> list[dict]:
    """Every finished shard's paragraphs, in shard order (an unfinished run gives what it has)."""
    recs = []
    for path in sorted(Path(folder).glob("shard-*.pt")):
        recs.extend(torch.load(path))
    if not recs:
        raise FileNotFoundError(f"no MAC cache shards in {folder} (run python -m mnemo_models.mac_cache first)")
    return recs


def pad_feats(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[(S_i, D) fp16] -> (N, S, D) float32, mask (N, S) bool."""
    S, D = max(f.shape[0] for f in feats), feats[0].shape[1]
    out = torch.zeros(len(feats), S, D)
    mask = torch.zeros(len(feats), S, dtype=torch.bool)
    for i, f in enumerate(feats):
        out[i, :f.shape[0]] = f.float()
        mask[i, :f.shape[0]] = True
    return out, mask


def amortize(heads, docs: list[dict], grad: bool = True) -> torch.Tensor:
    """Paragraph records -> their modulations (N, T, D). Records carrying "_mod" (precomputed by a
    frozen evaluation, eval.gates) are reused as they are."""
    if all(d.get("_mod") is not None for d in docs):
        return torch.stack([d["_mod"] for d in docs])
    feat, mask = pad_feats([d["doc_feat"] for d in docs])
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        return heads.amortizer(feat, mask)


def query(heads, qs: list[dict]) -> torch.Tensor:
    feat, mask = pad_feats([q["q_feat"] for q in qs])
    return heads.question_encoder(feat, mask)                                    # (B, T, D)


def prefix_for(heads, qs: list[dict], banks: list[list[dict]] | None, shared: list[dict] | None = None,
               grad_docs: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The prefix (L, 2, B, 1, P, hd) for each question: `banks` gives each its own bank (equal
    sizes; [] = the empty bank: the null entry alone, or a framed prefix's frame alone), `shared`
    one bank for the whole batch.
    With grad_docs < 1 only that share of the bank's documents is amortized with gradient
    (backprop dropout; all stay in the bank)."""
    q = query(heads, qs)
    B, T, D = q.shape
    if shared is not None:
        keep = torch.rand(len(shared), generator=generator) < grad_docs
        mods = torch.zeros(len(shared), T, D)
        if keep.any():
            mods[keep] = amortize(heads, [d for d, k in zip(shared, keep) if k])
        if (~keep).any():
            with torch.no_grad():
                mods[~keep] = amortize(heads, [d for d, k in zip(shared, keep) if not k])
        latent, _ = heads.aggregate(q, mods.reshape(1, -1, D))
    elif banks and banks[0]:
        n = len(banks[0])
        mods = amortize(heads, [d for bank in banks for d in bank]).view(B, n * T, D)
        latent, _ = heads.aggregate(q, mods)
    else:
        # An empty bank remembers nothing: a framed prefix keeps its frame alone (the question in
        # the memory's own prompt), as the engine does; slots made from no document are noise.
        latent, _ = heads.aggregate(q, torch.zeros(B, 0, D))
        R = len(heads.cfg.frame_ids)
        return heads.prefix(latent)[..., :R, :] if R else heads.prefix(latent)
    return heads.prefix(latent)


def prompt_ids(q: dict, past: torch.Tensor) -> list[int]:
    """The prompt after the past: behind a framed memory prefix the gold prompt's closing part
    (m_ids, set by mac.train / eval.gates), otherwise the question-only prompt."""
    return q["m_ids"] if past.shape[4] and "m_ids" in q else q["q_ids"]


def target_logprobs(lm, past: torch.Tensor, qs: list[dict]) -> list[torch.Tensor]:
    """Teacher-forced log-probs over the vocabulary at each target of each question: [(A_i, V)].

    past (L, 2, B, Hkv, P, hd) (P = 0: no memory); each row is the prompt + targets[:-1], positions start at P.
    """
    prompts = [prompt_ids(q, past) for q in qs]
    rows = [p + q["targets"][:-1] for p, q in zip(prompts, qs)]
    hidden = hidden_behind(lm, rows, past)                                     # (B, S, D)
    picks = [torch.arange(len(p) - 1, len(p) - 1 + len(q["targets"])) for p, q in zip(prompts, qs)]
    flat = torch.cat([hidden[i, p] for i, p in enumerate(picks)])                # (sum A, D)
    logp = F.log_softmax(lm.logits(flat), dim=-1)
    return list(logp.split([len(p) for p in picks]))


def losses(lm, past, qs: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per question: target NLL (B,), the soft cross-entropy to the teacher's top-k (B,) (its KL
    up to the teacher's constant entropy), and the summed token counts."""
    nll, soft = [], []
    for q, logp in zip(qs, target_logprobs(lm, past, qs)):
        tgt = torch.tensor(q["targets"])
        nll.append(-logp[torch.arange(len(tgt)), tgt].mean())
        p = q["topk_logp"].float().exp()                                         # (A, k), mass <= 1
        soft.append(-(p * logp.gather(1, q["topk_ids"].long())).sum(-1).mean())
    return torch.stack(nll), torch.stack(soft), torch.tensor([len(q["targets"]) for q in qs])


@torch.no_grad()
def greedy(
    lm, past: torch.Tensor, q_ids: list[int], hard: set[int], newlines: set[int], max_new: int = 16
) -> list[int]:
    """Greedy answer tokens for one question (batch 1) behind past (L, 2, 1, Hkv, P, hd), as the
    app decodes (electron/core/generate.ts): a hard stop ends it; a line break ends it too, except a
    leading one, which is fed on and not kept (a base model's opening line break)."""
    P, out = past.shape[4], []
    x, pos = torch.tensor([q_ids]), P + torch.arange(len(q_ids))[None]
    total = P + len(q_ids)
    for _ in range(max_new):
        logits, past = lm(x, pos, torch.ones(1, total, dtype=torch.long), past, last_only=True)
        nxt = int(logits[0, -1].argmax())
        if nxt in hard or (nxt in newlines and out):
            break
        if nxt not in newlines:
            out.append(nxt)
        x, pos, total = torch.tensor([[nxt]]), pos[:, -1:] + 1, total + 1
    return out


def add_memory_prompts(paras: list[dict], prompts: dict, encode) -> None:
    """m_ids: the gold prompt's closing part for each question (what follows a framed prefix)."""
    suffix = reader_suffix(prompts)
    for p in paras:
        for q in p["questions"]:
            q["m_ids"] = encode(suffix.replace("{question}", q["question"]))

"""Train the MAC heads against a frozen base LM (meta-learning by amortization, no inner loop).

    python3 -m mnemo_models.train_mac --config configs/mac-tiny.json --run runs/mac-tiny [--set key=value ...]

Each step: B questions with distinct gold documents; banks of gold + distractor documents whose
size follows `bank_schedule`; loss = NLL of " answer" + eos given [prefix] + question prompt.
Backprop dropout: only `grad_fraction` of the bank's documents are encoded with gradient.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .config import GPTConfig, MACTrainConfig, load_config, to_dict
from .gpt2 import GPT
from .mac import MAC
from .mac_data import PAD_ID, answer_rows, doc_tokens, pad, prefix_past, question_tokens
from .prepare import MODELS_DIR, Examples, load_examples
from .train_common import Logger, autocast, cosine_lr, optimizer_step, pick_device, resume


def load_frozen_lm(path: str | Path, device) -> GPT:
    state = checkpoint.load(Path(path))
    lm = GPT(GPTConfig(**state["config"]["model"]))
    lm.load_state_dict(state["model"])
    lm.to(device).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    return lm


def bank_size(schedule: list, step: int) -> int:
    size = schedule[0][1]
    for start, n in schedule:
        if step >= start:
            size = n
    return size


def encode_docs(mac: MAC, ex: Examples, docs: list[int], grad_fraction: float, pad_id: int, device, rng):
    """Modulations (N, T, D) of `docs`; a random grad_fraction of them carry gradient (backprop dropout)."""
    n_grad = max(1, round(grad_fraction * len(docs)))
    with_grad = set(rng.sample(range(len(docs)), n_grad))
    order = sorted(range(len(docs)), key=lambda i: i not in with_grad)
    out = [None] * len(docs)
    for need_grad, idx in ((True, order[:n_grad]), (False, order[n_grad:])):
        if not idx:
            continue
        ids, mask = pad([doc_tokens(ex, docs[i], mac.cfg.max_doc_tokens) for i in idx], pad_id, device)
        with torch.set_grad_enabled(need_grad and torch.is_grad_enabled()):
            mods = mac.amortizer(ids, mask)
        for j, i in enumerate(idx):
            out[i] = mods[j]
    return torch.stack(out)


def question_prefix(mac: MAC, ex: Examples, qs: list[int], memory, pad_id: int, device, key_mask=None, group: int = 0):
    """Prefix (L, 2, B, nh, P, hs) for each question given its memory: tokens (B, M, D), or entries
    (B, N, T, D) aggregated hierarchically in groups of `group` when group > 0."""
    q_ids, q_mask = pad([question_tokens(ex, q, mac.cfg.max_question_tokens) for q in qs], pad_id, device)
    query = mac.question_encoder(q_ids, q_mask)
    if group:
        latent, _ = mac.aggregate_hierarchical(query, memory, group)
    else:
        latent, _ = mac.aggregator(query, memory, key_mask)
    return mac.prefix(latent)


def nll_behind_prefix(mac: MAC, lm: GPT, prefix, ids, targets, mask):
    """Per-row mean NLL (B,) of targets (-1 = no loss) given the prefix as the LM's past."""
    B, P = ids.shape[0], prefix.shape[-2]
    attn = torch.cat([torch.ones(B, P, dtype=mask.dtype, device=ids.device), mask], 1)
    pos = (mac.cfg.position_offset + torch.arange(ids.shape[1], device=ids.device))[None].expand_as(ids)
    nll, keep = lm.loss(ids, targets, pos, prefix_past(prefix), attn, reduction="none")
    return torch.zeros(B, device=ids.device).index_add(0, keep.nonzero()[:, 0], nll) / keep.sum(1).clamp(min=1)


def mac_nll(mac: MAC, lm: GPT, ex: Examples, qs: list[int], memory, pad_id: int, device, key_mask=None, group: int = 0):
    """Per-question answer NLL (B,) of " answer" + eos after [prefix] + question prompt."""
    prefix = question_prefix(mac, ex, qs, memory, pad_id, device, key_mask, group)
    return nll_behind_prefix(mac, lm, prefix, *answer_rows(ex, qs, pad_id, device))


def document_nll(mac: MAC, lm: GPT, ex: Examples, qs: list[int], prefix, n_tokens: int, pad_id: int, device):
    """Auxiliary loss tying the prefix to its document: NLL of the gold document's first n_tokens
    with nothing but the question's prefix before them (mac-method.md §6, gate 2)."""
    ids, mask = pad([doc_tokens(ex, ex.q_doc[q], n_tokens) for q in qs], pad_id, device)
    targets = torch.where(mask.bool(), ids, torch.full_like(ids, -1))[:, 1:]
    return nll_behind_prefix(mac, lm, prefix, ids[:, :-1], targets, mask[:, :-1])


def training_step(mac, lm, ex, cfg: MACTrainConfig, step, rng, pad_id, device):
    G = bank_size(cfg.bank_schedule, step)
    qs, docs_seen = [], set()
    while len(qs) < cfg.batch_size:
        q = rng.randrange(len(ex.q_doc))
        if ex.q_doc[q] not in docs_seen:
            docs_seen.add(ex.q_doc[q])
            qs.append(q)
    gold = [ex.q_doc[q] for q in qs]
    extra = [d for d in rng.sample(range(len(ex.doc_ids)), max(0, G - len(qs)) + cfg.extra_distractors)
             if d not in docs_seen]
    docs = gold + extra
    mods = encode_docs(mac, ex, docs, cfg.grad_fraction, pad_id, device, rng)  # (N, T, D)
    B, T, D = len(qs), mods.shape[1], mods.shape[2]
    if G <= B:   # partition the batch into banks of G gold documents
        groups = [list(range(g, g + G)) for g in range(0, B - B % G, G)] or [list(range(B))]
        bank_of = [groups[min(i // G, len(groups) - 1)] for i in range(B)]
        memory = torch.stack([mods[b].reshape(-1, D) for b in bank_of])        # (B, G*T, D)
    else:        # one shared bank: every gold document plus distractors
        memory = mods.reshape(1, -1, D).expand(B, -1, -1)
    prefix = question_prefix(mac, ex, qs, memory, pad_id, device)
    loss = nll_behind_prefix(mac, lm, prefix, *answer_rows(ex, qs, pad_id, device)).mean()
    if cfg.aux_doc_weight > 0:
        loss = loss + cfg.aux_doc_weight * document_nll(mac, lm, ex, qs, prefix, cfg.aux_doc_tokens, pad_id, device).mean()
    return loss, G


@torch.no_grad()
def bank_probe(mac, lm, ex, n_q: int, bank: int, pad_id, device, seed=0) -> dict:
    """Answer NLL with the gold document in a bank of `bank` vs the same bank with the gold swapped out."""
    rng = random.Random(seed)
    qs = rng.sample(range(len(ex.q_doc)), n_q)
    gaps = []
    for q in qs:
        others = [d for d in rng.sample(range(len(ex.doc_ids)), bank + 1) if d != ex.q_doc[q]][:bank]
        mods = encode_docs(mac, ex, [ex.q_doc[q]] + others, 1.0, pad_id, device, rng)
        with_gold = mods[:bank].reshape(1, -1, mods.shape[-1])
        without = mods[1:bank + 1].reshape(1, -1, mods.shape[-1])
        nll = mac_nll(mac, lm, ex, [q, q], torch.cat([with_gold, without]), pad_id, device)
        gaps.append((nll[1] - nll[0]).item())
    return {f"bank{bank}_nll_gap": float(np.mean(gaps))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=MODELS_DIR / "data")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = load_config(MACTrainConfig, args.config, {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    device = pick_device()
    torch.manual_seed(cfg.seed)
    lm = load_frozen_lm(cfg.lm_checkpoint, device)
    mac = MAC(lm.cfg, cfg.mac).to(device)
    if cfg.mac.init_from_lm:
        mac.init_from_lm(lm)
    opt = torch.optim.AdamW(mac.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path = args.run / "ckpt.pt"
    step = resume(ckpt_path, mac, opt, "mac", to_dict(cfg)).get("step", 0)
    args.run.mkdir(parents=True, exist_ok=True)
    train, valid = load_examples(args.data_dir / "train_examples.pkl"), load_examples(args.data_dir / "valid_examples.pkl")
    pad_id, rng, log = PAD_ID, random.Random(cfg.seed + step), Logger(args.run)
    print(f"MAC {sum(p.numel() for p in mac.parameters()) / 1e6:.2f}M trainable params, LM {sum(p.numel() for p in lm.parameters()) / 1e6:.2f}M frozen, {device}")
    t_last = time.time()
    while step < cfg.max_steps:
        lr = cosine_lr(step, cfg.max_steps, cfg.lr, cfg.lr * 0.1, cfg.warmup_steps)
        mac.train()
        with autocast(device):
            loss, G = training_step(mac, lm, train, cfg, step, rng, pad_id, device)
        optimizer_step(opt, loss, lr, cfg.grad_clip)
        step += 1
        if step % 25 == 0:
            dt, t_last = time.time() - t_last, time.time()
            log.log(step=step, loss=loss.item(), bank=G, lr=lr, steps_per_s=25 / dt)
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            mac.eval()
            with autocast(device):
                probe = {**bank_probe(mac, lm, valid, cfg.eval_questions, 1, pad_id, device),
                         **bank_probe(mac, lm, valid, cfg.eval_questions // 4, 8, pad_id, device)}
            log.log(step=step, **probe)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            checkpoint.save(ckpt_path, {"model": mac.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                        "config": to_dict(cfg), "lm_config": to_dict(lm.cfg)})


if __name__ == "__main__":
    main()

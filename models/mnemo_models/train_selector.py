"""Train MAC's entry selector on the cached modulations.

The library behind it is mnemo_models.mac.selector; `python -m mnemo_models.train_selector --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mnemo_models.bundle import recipes
from mnemo_models.mac.cache import load_frozen
from mnemo_models.mac.export import load_any_heads
from mnemo_models.mac.selector import (
    accuracy,
    batch_feats,
    candidates,
    EntrySelector,
    frozen_inputs,
    probe_banks,
    raw_baselines,
    same_article_banks,
    __doc__ as USAGE,
)
from mnemo_models.mac.student import load_cache
from mnemo_models.train import checkpoint
from mnemo_models.train.loop import Logger


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--heads", type=Path, help="the heads whose modulations it selects among (a mac.cache needs them)")
    ap.add_argument("--out", type=Path, required=True, help="run folder: ckpt.pt, log.jsonl, report.json")
    ap.add_argument("--cache", type=Path, default=Path("runs/mac-cache"))
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=0, help="an MLP's hidden width per side (0: one linear map)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--random", type=int, default=256, help="random negatives per step, besides the articles'")
    ap.add_argument("--per-article", type=int, help="at most this many paragraphs of each gold paragraph's article "
                    "(default: all; a step's cost grows with batch x candidates)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=1e9)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baselines", action="store_true", help="only print raw_baselines on valid and stop")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train_p, valid_p = load_cache(a.cache / "train"), load_cache(a.cache / "valid")
    if all("mod" in p for p in train_p + valid_p):                              # a select_cache: no LM needed
        heads = None
        manifest = {"id": json.loads((a.cache / "train" / "meta.json").read_text())["bundle"]}
    else:
        if a.heads is None:
            ap.error("--heads is needed with a mac.cache (it amortizes the paragraphs)")
        lm, _, manifest = load_frozen(a.bundle or recipes.default_out())
        heads = load_any_heads(a.heads, lm)
    t0 = time.time()
    mods, qs = frozen_inputs(heads, train_p)
    vmods, vqs = frozen_inputs(heads, valid_p)
    print(f"frozen inputs: {len(train_p)} train paragraphs, {len(qs)} questions; {len(valid_p)} valid paragraphs, "
          f"{len(vqs)} questions ({time.time() - t0:.0f} s)", flush=True)
    by_article: dict[str, list[int]] = {}
    for i, p in enumerate(train_p):
        by_article.setdefault(p["article"], []).append(i)
    v64, vsame = probe_banks(vqs, valid_p, 64), same_article_banks(vqs, valid_p)
    if a.baselines:
        print(json.dumps({"bank64": raw_baselines(vmods, vqs, valid_p, v64)}), flush=True)
        return 0
    sel = EntrySelector(mods.shape[-1], a.dim, a.hidden)
    opt = torch.optim.AdamW(sel.parameters(), lr=a.lr, weight_decay=0.01)
    a.out.mkdir(parents=True, exist_ok=True)
    log, rng, step = Logger(a.out), random.Random(a.seed), 0
    ckpt = a.out / "ckpt.pt"
    config = {
        "width": mods.shape[-1],
        "dim": a.dim,
        "hidden": a.hidden,
        "heads": str(a.heads),
        "bundle": manifest["id"],
        "train": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
    }
    if ckpt.is_file():
        state = checkpoint.load(ckpt, ("model", "config", "optimizer", "step", "sampler"))
        sel.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.setstate(state["sampler"])
        step = state["step"]
        print(f"resumed from {ckpt} at step {step}", flush=True)

    def evaluate() -> dict:
        return {"bank64": accuracy(sel, vmods, vqs, v64), "same_article": accuracy(sel, vmods, vqs, vsame)}

    def save() -> None:
        checkpoint.save(ckpt, {"model": sel.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "config": config, "sampler": rng.getstate()})

    t0 = time.time()
    while step < a.steps and (time.time() - t0) / 60 < a.minutes:
        batch = [qs[rng.randrange(len(qs))] for _ in range(a.batch)]
        cand = candidates(batch, by_article, len(train_p), a.random, rng, a.per_article)
        where = {p: j for j, p in enumerate(cand)}
        feat, mask = batch_feats(batch)
        logits = sel(feat, mask, mods[cand])                                      # (B, C)
        loss = F.cross_entropy(logits, torch.tensor([where[q["para"]] for q in batch]))
        lr = a.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.log(step=step, loss=float(loss), lr=lr, candidates=len(cand), seconds=round(time.time() - t0, 1))
        if step % a.eval_every == 0:
            r = evaluate()
            log.log(step=step, probe=True, bank64=r["bank64"]["top1"], same_article=r["same_article"]["top1"])
            save()
    save()
    r = evaluate()
    report = {"step": step, "config": config, "valid": r, "train_paragraphs": len(train_p),
              "train_questions": len(qs), "valid_questions": len(vqs)}
    (a.out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["valid"], indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

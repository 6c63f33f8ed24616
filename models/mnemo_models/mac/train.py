"""Train MAC's heads for the frozen real LM: distillation + answer NLL, a bank curriculum, probes.

    python -m mnemo_models.train_heads --run runs/mac-lmspace --design lmspace \\
        [--minutes 60] [--steps N] [--curriculum 0:1,600:8,1500:64] [--init HEADS] [--decay cosine]

Reads the frozen pieces from mac/cache.py (runs/mac-cache/{train,valid}); the LM never trains
(its parameters have requires_grad False and are never given to the optimiser). Per step: a batch
of questions from distinct articles; the bank is, by the curriculum, each question's own paragraph
(size 1) or one bank shared by the batch: their paragraphs plus distractors from other articles,
only a share of them amortized with gradient (backprop dropout). Loss = answer NLL + KL to the
teacher's top-k (the LM reading the gold passage), on the answer tokens and the closing newline.

Every --probe-every steps: gold-vs-wrong bank-1 NLL on fixed valid questions (gate 2's gap) and a
checkpoint (atomic; a rerun resumes from it, data order included). A gap still at zero after
--guard-steps stops the run as collapsed (mac-method.md §6: change the design, don't burn hours).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch

from mnemo_models.bundle import recipes
from mnemo_models.mac.cache import load_frozen, reader_prefix
from mnemo_models.mac.heads import Heads
from mnemo_models.mac.parts import HeadsConfig
from mnemo_models.mac.student import add_memory_prompts, load_cache, losses, prefix_for
from mnemo_models.train import checkpoint
from mnemo_models.train.loop import Logger

COLLAPSED = 3


def parse_curriculum(text: str) -> list[tuple[int, int]]:
    """"0:1,600:8" -> [(0, 1), (600, 8)]: from step s on, banks of n documents."""
    out = sorted((int(a), int(b)) for a, b in (part.split(":") for part in text.split(",")))
    if not out or out[0][0] != 0:
        raise ValueError("the curriculum must start at step 0, e.g. 0:1,600:8")
    return out


def learning_rate(a: argparse.Namespace, step: int) -> float:
    """Linear warm-up to a.lr over a.warmup steps, then constant or a cosine fall to a.min_lr at a.steps."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.decay == "none":
        return a.lr
    progress = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.min_lr + (a.lr - a.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def initial_state(path: Path, cfg: HeadsConfig) -> dict:
    """The heads' weights in `path` (an exported heads file or a checkpoint), if they are these heads."""
    from mnemo_models.mac.export import read_heads  # (brings in onnx: only when asked)
    config, state, _ = read_heads(path)
    if config != cfg.as_dict():
        raise checkpoint.CheckpointError(f"{path} holds other heads: {config}")
    return state


def bank_size(curriculum: list[tuple[int, int]], step: int) -> int:
    return [n for s, n in curriculum if s <= step][-1]


class Batches:
    """Seeded batches of questions from distinct articles; the sampler state is checkpointed."""

    def __init__(self, paras: list[dict], seed: int):
        self.paras, self.rng = [], random.Random(seed)
        self.by_article: dict[str, list[int]] = {}
        self.add(paras)

    def add(self, paras: list[dict]) -> None:
        """More paragraphs (shards a still-running mac.cache has finished since)."""
        for p in paras:
            self.by_article.setdefault(p["article"], []).append(len(self.paras))
            self.paras.append(p)

    def draw(self, batch: int, bank: int) -> tuple[list[dict], list[dict], list[dict]]:
        """-> questions, their paragraphs (one each), extra distractor paragraphs (for a shared bank)."""
        articles = self.rng.sample(sorted(self.by_article), min(len(self.by_article), batch + max(0, bank - batch)))
        docs = [self.paras[self.rng.choice(self.by_article[a])] for a in articles]
        gold, extra = docs[:batch], docs[batch:bank] if bank > batch else []
        qs = [self.rng.choice(d["questions"]) for d in gold]
        return qs, gold, extra


def probe_set(valid: list[dict], n: int) -> tuple[list[dict], list[dict], list[dict]]:
    """n valid questions, each with its paragraph and a wrong one from another article (fixed)."""
    rng = random.Random(1)
    qs, gold, wrong = [], [], []
    for i, p in enumerate(valid):
        for q in p["questions"]:
            other = valid[(i + 1 + rng.randrange(len(valid) - 1)) % len(valid)]
            while other["article"] == p["article"]:
                other = valid[rng.randrange(len(valid))]
            qs.append(q), gold.append(p), wrong.append(other)
    pick = rng.sample(range(len(qs)), min(n, len(qs)))
    return [qs[i] for i in pick], [gold[i] for i in pick], [wrong[i] for i in pick]


@torch.no_grad()
def probe(lm, heads, qs, gold, wrong, chunk: int = 16) -> dict:
    """Mean target NLL with the gold paragraph vs a wrong one as the whole bank; the paired gap."""
    heads.eval()
    g, w = [], []
    for i in range(0, len(qs), chunk):
        q = qs[i:i + chunk]
        g.append(losses(lm, prefix_for(heads, q, [[d] for d in gold[i:i + chunk]]), q)[0])
        w.append(losses(lm, prefix_for(heads, q, [[d] for d in wrong[i:i + chunk]]), q)[0])
    heads.train()
    g, w = torch.cat(g), torch.cat(w)
    d = w - g
    half = 1.96 * float(d.std()) / math.sqrt(len(d))
    return {"nll_gold": float(g.mean()), "nll_wrong": float(w.mean()), "gap": float(d.mean()),
            "gap_lo": float(d.mean()) - half, "gap_hi": float(d.mean()) + half}


def run(a) -> int:
    """Train heads as the parsed command line `a` says (python -m mnemo_models.train_heads --help):
    resume from RUN/ckpt.pt when it exists, probe and checkpoint every --probe-every steps, stop
    at --steps or --minutes; returns 0, or COLLAPSED when the memory stopped reading the bank."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    lm, encode, manifest = load_frozen(a.bundle or recipes.default_out())
    loaded = set((a.cache / "train").glob("shard-*.pt"))          # before reading: never miss one
    train, valid = load_cache(a.cache / "train"), load_cache(a.cache / "valid")
    meta = json.loads((a.cache / "train" / "meta.json").read_text())
    frame = tuple(encode(reader_prefix(manifest["prompt"]))) if a.frame else ()
    cfg = HeadsConfig(design=a.design, n_slots=a.slots, width=lm.cfg.dim, tap_layer=meta["tap_layer"], frame_ids=frame,
                      adapter=a.adapter)
    if frame:
        add_memory_prompts(train + valid, manifest["prompt"], encode)
    heads = Heads(cfg, lm)
    opt = torch.optim.AdamW([p for p in heads.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)
    curriculum = parse_curriculum(a.curriculum)
    config = {"heads": cfg.as_dict(), "train": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
              "bundle": manifest["id"], "cache": meta}
    a.run.mkdir(parents=True, exist_ok=True)
    ckpt_path, log = a.run / "ckpt.pt", Logger(a.run)
    batches, step = Batches(train, a.seed), 0
    if ckpt_path.is_file():
        state = checkpoint.load(ckpt_path, ("model", "config", "optimizer", "step", "sampler"))
        if state["config"]["heads"] != cfg.as_dict():
            raise checkpoint.CheckpointError(f"{ckpt_path} holds other heads: {state['config']['heads']}")
        heads.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        batches.rng.setstate(state["sampler"])
        step = state["step"]
        print(f"resumed from {ckpt_path} at step {step}", flush=True)
    elif a.init:
        heads.load_state_dict(initial_state(a.init, cfg))
        print(f"started from the heads in {a.init}", flush=True)
    print(f"heads {a.design}: {heads.trainable() / 1e6:.2f}M trainable; {len(train)} train paragraphs, "
          f"{sum(len(p['questions']) for p in train)} questions", flush=True)
    if step == 0 and cfg.adapter == "fitted" and not a.init:    # the per-layer maps' least-squares start
        pre = encode(reader_prefix(manifest["prompt"]))
        fit = train[:24]
        r2 = heads.fit_adapters(
            lm, [pre + p["doc_ids"] for p in fit], [(len(pre), len(pre) + len(p["doc_ids"])) for p in fit]
        )
        print("fitted per-layer maps, variance explained: " + " ".join(f"{x:.2f}" for x in r2), flush=True)
    pq, pg, pw = probe_set(valid, a.probe_questions)
    gen = torch.Generator().manual_seed(a.seed + step)
    t0, seen, best = time.time(), 0, None

    def save(tag: str = "ckpt.pt") -> None:
        checkpoint.save(a.run / tag, {"model": heads.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                      "config": config, "sampler": batches.rng.getstate()})

    status = 0
    if step == 0:                                   # where the design starts: is the memory informative at once?
        log.log(step=0, probe=True, **probe(lm, heads, pq, pg, pw))
    while step < a.steps and (time.time() - t0) / 60 < a.minutes:
        n = bank_size(curriculum, step)
        qs, gold, extra = batches.draw(a.batch, n)
        if n == 1:
            past = prefix_for(heads, qs, [[d] for d in gold])
        else:
            past = prefix_for(heads, qs, None, shared=gold + extra, grad_docs=a.grad_docs, generator=gen)
        nll, soft, _ = losses(lm, past, qs)
        loss = nll.mean() + a.kl * soft.mean()
        lr = learning_rate(a, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(heads.parameters(), 1.0))
        opt.step()
        step, seen = step + 1, seen + len(qs)
        if step % 10 == 0:
            rate = seen / (time.time() - t0)
            log.log(step=step, bank=n, loss=float(loss), nll=float(nll.mean()), kl=float(soft.mean()), grad=gnorm,
                    lr=lr, examples_per_s=rate)
        if step % a.probe_every == 0:
            new = sorted(set((a.cache / "train").glob("shard-*.pt")) - loaded)
            if new:
                for path in new:
                    more = torch.load(path)
                    if frame:
                        add_memory_prompts(more, manifest["prompt"], encode)
                    batches.add(more)
                loaded.update(new)
                print(f"{len(batches.paras)} train paragraphs now", flush=True)
            p = probe(lm, heads, pq, pg, pw)
            log.log(step=step, probe=True, **p)
            save()
            if best is None or p["gap"] > best:
                best = p["gap"]
                save("best.pt")
            if step >= a.guard_steps and p["gap_hi"] < 0.02:
                print(f"collapsed: at step {step} the gold-vs-wrong bank gap is {p['gap']:+.4f} nats "
                      f"[{p['gap_lo']:+.4f}, {p['gap_hi']:+.4f}]: the memory ignores the bank. Stopping.", flush=True)
                status = COLLAPSED
                break
    save()
    print(f"stopped at step {step} after {(time.time() - t0) / 60:.1f} min", flush=True)
    return status


"""Pretrain the frozen base LM: general text windows mixed with reading-comprehension rows.

    python3 -m mnemo_models.train_lm --config configs/lm-tiny.json --run runs/lm-tiny [--set key=value ...]

Resumes from run/ckpt.pt when it exists (same config required). Logs train loss, valid loss and
perplexity on held-out general text, and the reading gate's proxy: answer NLL on SQuAD *valid*
questions with the gold passage in the prompt vs the question alone (never trained on).
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
from .config import PretrainConfig, load_config, to_dict
from .gpt2 import GPT
from .prepare import MODELS_DIR, Examples, load_examples
from .train_common import Logger, autocast, cosine_lr, optimizer_step, pick_device, resume


class PretrainBatches:
    """Rows of context+1 tokens: general-text windows, or packed RC examples (prompt + answer + eos)."""

    def __init__(self, cfg: PretrainConfig, lm_tokens: np.ndarray, rc: Examples, seed: int):
        self.cfg, self.tokens, self.rc = cfg, lm_tokens, rc
        self.rng = random.Random(seed)

    def rc_example(self) -> list[int]:
        i = self.rng.randrange(len(self.rc.q_answer))
        r = self.rng.random()
        if r < self.cfg.question_only_fraction:
            p = self.rc.q_prompt[i]
        elif r < self.cfg.question_only_fraction + self.cfg.short_context_fraction * (1 - self.cfg.question_only_fraction):
            p = self.rc.q_short_prompt[i]
        else:
            p = self.rc.q_gold_prompt[i]
        return p + self.rc.q_answer[i]

    def row(self) -> list[int]:
        n = self.cfg.context + 1
        if self.rng.random() >= self.cfg.rc_fraction:
            start = self.rng.randrange(0, len(self.tokens) - n)
            return self.tokens[start:start + n].tolist()
        row: list[int] = []
        while len(row) < n:
            row.extend(self.rc_example())
        return row[:n]

    def next(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.tensor([self.row() for _ in range(self.cfg.batch_size)], dtype=torch.long)
        return rows[:, :-1].to(device), rows[:, 1:].to(device)


@torch.no_grad()
def general_valid_loss(model: GPT, tokens: np.ndarray, cfg: PretrainConfig, device) -> float:
    n, losses = cfg.context + 1, []
    starts = np.linspace(0, len(tokens) - n - 1, cfg.eval_batches * cfg.batch_size).astype(int)
    for chunk in np.array_split(starts, cfg.eval_batches):
        rows = torch.tensor(np.stack([tokens[s:s + n] for s in chunk]).astype(np.int64), device=device)
        with autocast(device):
            losses.append(model.loss(rows[:, :-1], rows[:, 1:]).item())
    return float(np.mean(losses))


@torch.no_grad()
def answer_nll(model: GPT, prompts: list[list[int]], answers: list[list[int]], device, max_len: int) -> np.ndarray:
    """Mean NLL (nats/token) of each answer given its prompt; prompts are left-truncated to fit."""
    out = []
    for p, a in zip(prompts, answers):
        ids = (p + a)[-max_len - 1:]
        x = torch.tensor([ids[:-1]], device=device)
        y = torch.tensor([[-1] * (len(ids) - 1 - len(a)) + a], device=device)
        with autocast(device):
            out.append(model.loss(x, y).item())
    return np.array(out)


def reading_probe(model: GPT, valid: Examples, n: int, device, max_len: int) -> dict:
    idx = list(range(0, len(valid.q_answer), max(1, len(valid.q_answer) // n)))[:n]
    ans = [valid.q_answer[i] for i in idx]
    gold = answer_nll(model, [valid.q_gold_prompt[i] for i in idx], ans, device, max_len)
    qonly = answer_nll(model, [valid.q_prompt[i] for i in idx], ans, device, max_len)
    return {"nll_gold": float(gold.mean()), "nll_qonly": float(qonly.mean()), "nll_gap": float((qonly - gold).mean())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True, help="run directory (checkpoint + log)")
    ap.add_argument("--data-dir", type=Path, default=MODELS_DIR / "data")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = ap.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = load_config(PretrainConfig, args.config, overrides)
    device = pick_device()
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    ckpt_path = args.run / "ckpt.pt"
    state = resume(ckpt_path, model, opt, "model", to_dict(cfg))
    step, best = state.get("step", 0), state.get("best_valid", float("inf"))
    args.run.mkdir(parents=True, exist_ok=True)
    lm_train = np.load(args.data_dir / "lm_train.npy", mmap_mode="r")
    lm_valid = np.load(args.data_dir / "lm_valid.npy")
    batches = PretrainBatches(cfg, lm_train, load_examples(args.data_dir / "train_examples.pkl"), cfg.seed + step)
    valid_rc = load_examples(args.data_dir / "valid_examples.pkl")
    log = Logger(args.run)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {n_params / 1e6:.2f}M params on {device}; {cfg.batch_size}x{cfg.context} tokens/step")
    tokens_per_step, t_last = cfg.batch_size * cfg.context, time.time()
    model.train()
    while step < cfg.max_steps:
        lr = cosine_lr(step, cfg.max_steps, cfg.lr, cfg.min_lr, cfg.warmup_steps)
        x, y = batches.next(device)
        with autocast(device):
            loss = model.loss(x, y)
        optimizer_step(opt, loss, lr, cfg.grad_clip)
        step += 1
        if step % 50 == 0:
            dt, t_last = time.time() - t_last, time.time()
            log.log(step=step, loss=loss.item(), lr=lr, tok_per_s=50 * tokens_per_step / dt, tokens=step * tokens_per_step)
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            model.eval()
            vl = general_valid_loss(model, lm_valid, cfg, device)
            probe = reading_probe(model, valid_rc, 200, device, cfg.model.n_positions)
            model.train()
            best = min(best, vl)
            log.log(step=step, valid_loss=vl, valid_ppl=float(np.exp(vl)), **probe)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            checkpoint.save(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                        "config": to_dict(cfg), "best_valid": best, "tokens": step * tokens_per_step})


if __name__ == "__main__":
    main()

"""A short LoRA QA-tuning of the instruct LM on SQuAD train (passage + question -> answer), then frozen.

    python -m mnemo_models.qa_lora --out runs/qa-lora [--steps 600 --batch 8 --rank 8 --lr 1e-3]

Why: SmolLM2-135M-Instruct reads a passage (its answers name the right facts) but picks the wrong
span or answers in a sentence; a few hundred steps of LoRA on the app's own prompt format teach the
short extractive answer. The base weights stay the GGUF's own blocks: the adapters are separate
low-rank terms y = W x + s * B (A x) on the attention and MLP projections (exactly a merged weight,
without re-quantizing W). Only train is used; valid is for the before/after comparison (npm run eval).
Loss: cross-entropy on the answer tokens and the end-of-turn token. Checkpoints every 50 steps
(atomic), resumable, with a progress line.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer

from . import checkpoint, sources
from .prompts import SMOLLM2 as PROMPTS                      # the LM this script tunes
from .gguf_weights import load_llama, write_tokenizer
from .lm_fixtures import render
from .squad import load_squad
from gguf import GGUFReader

TARGETS = ("attn.q", "attn.k", "attn.v", "attn.o", "ffn.gate", "ffn.up", "ffn.down")


class LoRA(nn.Module):
    """Wraps a frozen linear: base(x) + scale * up(down(x)); up starts at zero (the untuned model)."""

    def __init__(self, base: nn.Module, n_in: int, n_out: int, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.down = nn.Linear(n_in, rank, bias=False)
        self.up = nn.Linear(rank, n_out, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.scale * self.up(self.down(x))


def add_lora(model, rank: int, alpha: float) -> list[nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for block in model.blocks:
        for name in TARGETS:
            parent, attr = name.split(".")
            lin = getattr(getattr(block, parent), attr)
            n_out, n_in = (lin.weight.shape if hasattr(lin, "weight") and isinstance(lin.weight, torch.Tensor)
                           else (lin.n_out, lin.n_in))
            wrapped = LoRA(lin, n_in, n_out, rank, alpha)
            setattr(getattr(block, parent), attr, wrapped)
            params += [wrapped.down.weight, wrapped.up.weight]
    return params


def lora_state(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if ".down." in k or ".up." in k}


def examples(tok: Tokenizer, max_tokens: int, seed: int):
    """(prompt ids, answer ids) from SQuAD train in a seeded order, the app's gold prompt format."""
    rows = [(p.context, qa.question, qa.answers[0]) for p in load_squad("train") for qa in p.qas]
    random.Random(seed).shuffle(rows)
    end = tok.token_to_id("<|im_end|>")
    for context, question, answer in rows:
        ids = tok.encode(render(PROMPTS, "gold", question, context), add_special_tokens=False).ids
        ans = tok.encode(answer.strip(), add_special_tokens=False).ids + [end]
        if len(ids) + len(ans) <= max_tokens:
            yield ids, ans


def batch_loss(model, batch, pad: int):
    """Right-padded batch; loss on answer positions only. Returns mean NLL per answer token."""
    width = max(len(p) + len(a) for p, a in batch)
    ids = torch.full((len(batch), width), pad)
    target = torch.full((len(batch), width), -100)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, (p, a) in enumerate(batch):
        seq = p + a
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        target[i, len(p) - 1:len(seq) - 1] = torch.tensor(a)                     # position t predicts t+1
    pos = torch.arange(width)[None].expand(len(batch), -1)
    logits, _ = model(ids, pos, mask, model.empty_past(len(batch)))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gguf = sources.fetch(sources.SMOLLM2) / next(iter(sources.SMOLLM2.files))
    a.out.mkdir(parents=True, exist_ok=True)
    tok_path = a.out / "tokenizer.json"
    write_tokenizer(GGUFReader(str(gguf)), tok_path)
    tok = Tokenizer.from_file(str(tok_path))
    model, _ = load_llama(gguf, "fp32")                   # float weights: fast matmuls for training
    params = add_lora(model, a.rank, a.alpha)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    step, ckpt = 0, a.out / "ckpt.pt"
    if ckpt.exists():
        state = checkpoint.load(ckpt, required=("lora", "opt", "step"))
        model.load_state_dict(state["lora"], strict=False)
        opt.load_state_dict(state["opt"])
        step = state["step"]
        print(f"resumed at step {step}")
    stream = examples(tok, a.max_tokens, a.seed)
    for _ in range(step * a.batch):                       # skip what earlier runs consumed
        next(stream)
    pad = tok.token_to_id("<|endoftext|>")
    log = open(a.out / "log.jsonl", "a")
    t0, ema = time.time(), None
    model.train()
    while step < a.steps:
        batch = [next(stream) for _ in range(a.batch)]
        lr = a.lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = batch_loss(model, batch, pad)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        rate = step / max(1e-9, time.time() - t0)
        print(f"step {step}/{a.steps} loss {loss.item():.3f} (ema {ema:.3f}) lr {lr:.2e} "
              f"{1 / rate if rate else 0:.1f} s/step", flush=True)
        log.write(json.dumps({"step": step, "loss": loss.item(), "lr": lr, "time": time.time()}) + "\n")
        if step % 50 == 0 or step == a.steps:
            checkpoint.save(ckpt, {"lora": lora_state(model), "opt": opt.state_dict(), "step": step,
                                   "config": vars(a) | {"out": str(a.out)}})
    torch.save({"lora": lora_state(model), "config": vars(a) | {"out": str(a.out)}}, a.out / "lora.pt")
    print(f"done: {a.out / 'lora.pt'}")


if __name__ == "__main__":
    main()

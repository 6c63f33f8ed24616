"""QA-tune the instruct LM with LoRA on SQuAD train (resumable; nothing shipped is tuned).

The library behind it is mnemo_models.train.qa_lora; `python -m mnemo_models.qa_lora --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from gguf import GGUFReader
from tokenizers import Tokenizer

from mnemo_models.bundle import sources
from mnemo_models.lm.gguf import load_llama, write_tokenizer
from mnemo_models.train import checkpoint
from mnemo_models.train.qa_lora import add_lora, batch_loss, examples, lora_state, __doc__ as USAGE


def main(argv=None):
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
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

"""Shared training plumbing: device choice, learning-rate schedule, JSONL logging."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from mnemo_models.train import checkpoint


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return torch.device("cuda")
    torch.set_num_threads(int(os.environ.get("MNEMO_THREADS", os.cpu_count() or 1)))
    return torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast on GPU (same code, torch 2.x); plain fp32 on CPU (torch 1.13)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def cosine_lr(step: int, max_steps: int, lr: float, min_lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


class Logger:
    """Appends one JSON object per line to run_dir/log.jsonl and echoes a short line to stdout."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "log.jsonl"
        self.t0 = time.time()

    def log(self, **row):
        row["time_s"] = round(time.time() - self.t0, 1)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, clip: float) -> None:
    """Set the learning rate, backpropagate, clip the global gradient norm, step."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], clip)
    opt.step()


def resume(ckpt_path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, section: str, config: dict) -> dict:
    """Load model + optimizer state from ckpt_path if it exists; the architecture section must match.

    Returns the checkpoint (empty dict when starting fresh). Schedules (max_steps, lr) may change.
    """
    if not ckpt_path.is_file():
        return {}
    state = checkpoint.load(ckpt_path, ("model", "config", "optimizer", "step"))
    if state["config"][section] != config[section]:
        raise checkpoint.CheckpointError(
            f"{ckpt_path} was trained with another {section} config: {state['config'][section]}"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    print(f"resumed from {ckpt_path} at step {state['step']}", flush=True)
    return state

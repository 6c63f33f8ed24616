"""Train MAC's heads for the frozen real LM (distillation + answer NLL, bank curriculum, probes).

The library behind it is mnemo_models.mac.train; `python -m mnemo_models.train_heads --help` lists the options.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnemo_models.mac.train import run, __doc__ as USAGE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--design", choices=["lmspace", "select", "free"], default="lmspace")
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--adapter", choices=["lowrank", "fitted"], default="lowrank")
    ap.add_argument(
        "--frame", action="store_true", help="the prefix opens with the gold prompt's frame (lmspace/select)"
    )
    ap.add_argument("--cache", type=Path, default=Path("runs/mac-cache"))
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--decay", choices=["none", "cosine"], default="none",
                    help="cosine: the learning rate falls from --lr to --min-lr at --steps (after the warm-up)")
    ap.add_argument("--min-lr", type=float, default=0.0)
    ap.add_argument("--init", type=Path, help="start from these heads (an exported heads file or a checkpoint)")
    ap.add_argument("--kl", type=float, default=1.0, help="weight of the teacher KL next to the NLL")
    ap.add_argument("--grad-docs", type=float, default=0.25, help="share of a shared bank amortized with gradient")
    ap.add_argument("--curriculum", default="0:1")
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--minutes", type=float, default=1e9, help="stop (with a checkpoint) after this much time")
    ap.add_argument("--probe-every", type=int, default=50)
    ap.add_argument("--probe-questions", type=int, default=48)
    ap.add_argument("--guard-steps", type=int, default=300, help="collapsed if the probe gap is still ~0 here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

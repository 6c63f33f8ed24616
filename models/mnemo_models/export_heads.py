"""Write the committed MAC heads file (fp16) from a training checkpoint.

The library behind it is mnemo_models.mac.export; `python -m mnemo_models.export_heads --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mnemo_models.bundle import recipes
from mnemo_models.mac.cache import load_frozen
from mnemo_models.mac.export import save_heads
from mnemo_models.mac.heads import Heads
from mnemo_models.mac.parts import HeadsConfig


def main(argv: list[str] | None = None) -> int:
    """Release a training checkpoint as the committed heads file (prints its sha256 for the recipe)."""

    ap = argparse.ArgumentParser(description="write models/heads/<file> from a mac.train checkpoint")
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--gates", type=Path, help="eval.gates's report for these heads (goes into the manifest)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args(argv)
    lm, _, manifest = load_frozen(recipes.default_out())
    state = torch.load(a.ckpt, map_location="cpu")                # a mac.train checkpoint, read once
    heads = Heads(HeadsConfig(**state["config"]["heads"]), lm)
    heads.load_state_dict(state["model"])
    gates = json.loads(a.gates.read_text()) if a.gates else {}
    training = {"step": state.get("step"), "train": state.get("config", {}).get("train"),
                "cache": state.get("config", {}).get("cache"), "bundle": state.get("config", {}).get("bundle")}
    sha = save_heads(heads, a.out, {"gates": {k: v for k, v in gates.items() if k != "examples"}, "training": training,
                                    "note": a.note})
    print(f"{a.out}: sha256 {sha}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the per-channel maxima the reader graph (reader.onnx) scales its int8 rows by.

The library behind it is mnemo_models.onnx.fast_tap; `python -m mnemo_models.calibrate_tap --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from mnemo_models.bundle import recipes
from mnemo_models.data.squad import load_squad
from mnemo_models.mac.cache import load_frozen, MAX_DOC, reader_prefix, TAP_LAYER
from mnemo_models.onnx.fast_tap import calibrate


def main(argv: list[str] | None = None) -> int:
    """Measure the pre-tap layers' input maxima on SQuAD train paragraphs (the heads' training split)
    and write them as the committed calibration that build_bundle reads."""

    ap = argparse.ArgumentParser(description=main.USAGE.split("\n")[0])
    ap.add_argument("--bundle", type=Path, help="default: the setup-built default bundle")
    ap.add_argument("--paragraphs", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    model, encode, manifest = load_frozen(a.bundle or recipes.default_out())
    prompts = recipes.LM_RECIPES[manifest["build"]["model"]].prompts
    paras = load_squad("train")
    random.Random(a.seed).shuffle(paras)
    prefix = encode(reader_prefix(prompts))
    windows = [prefix + encode(" " + " ".join(p.context.split()))[:MAX_DOC] for p in paras[: a.paragraphs]]
    act = calibrate(model, windows, TAP_LAYER)
    # Four significant digits: the file reads the same whichever CPU measured it (to the last ulp or so).
    out = {"what": "max |input| per channel of each 8-bit layer before MAC's tap (onnx/fast_tap.py)",
           "command": "python -m mnemo_models.calibrate_tap " + " ".join(argv or __import__("sys").argv[1:]),
           "lm": manifest["build"]["model"], "split": "train", "paragraphs": len(windows), "seed": a.seed,
           "tap_layer": TAP_LAYER, "act_max": {k: [float(f"{x:.4g}") for x in v] for k, v in sorted(act.items())}}
    a.out.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"{len(act)} layers over {len(windows)} windows -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

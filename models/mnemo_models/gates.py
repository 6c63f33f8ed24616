"""Measure the four gates (mac-method.md section 6) for MAC heads on cached valid questions.

The library behind it is mnemo_models.eval.gates; `python -m mnemo_models.gates --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer

from mnemo_models.bundle import recipes
from mnemo_models.eval.gates import gates, stream_gate, __doc__ as USAGE
from mnemo_models.mac.cache import load_frozen
from mnemo_models.mac.export import load_any_heads
from mnemo_models.mac.selector import load_selector
from mnemo_models.mac.student import add_memory_prompts, load_cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--heads", type=Path, help="required unless --refresh-stream")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("runs/mac-cache/valid"))
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--f1-questions", type=int, default=150)
    ap.add_argument("--banks", default="1,8,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preselect", choices=["none", "dense", "learned"], default="none",
                    help="what keeps --select-top of a bank before aggregation: nothing, the bundle's sentence "
                    "encoder (as the app's retrieval), or a learned selector (--selector)")
    ap.add_argument("--selector", type=Path, help="a mac.selector checkpoint, for --preselect learned")
    ap.add_argument("--select-top", type=int, default=1, help="entries the pre-selection keeps")
    ap.add_argument("--float-modulations", action="store_true", help="skip the vault's int8 rounding")
    ap.add_argument("--stream", type=Path, help="an `npm run eval` report (JSON): gate 4 as the app answers")
    ap.add_argument("--refresh-stream", action="store_true",
                    help="replace only the gate-4 stream entry of the existing --out report, from --stream")
    ap.add_argument("--merge-unselected", type=Path, metavar="REPORT",
                    help="copy gates 3-4 of REPORT (measured without pre-selection) into the existing --out report "
                    "as without_preselection, measuring nothing")
    a = ap.parse_args(argv)
    if a.merge_unselected:
        if not a.out.is_file():
            ap.error("--merge-unselected needs an existing --out report")
        r, old = json.loads(a.out.read_text()), json.loads(a.merge_unselected.read_text())
        if old.get("preselect", "none") != "none":
            ap.error(f"{a.merge_unselected} was measured with pre-selection")
        r["without_preselection"] = {k: old[k] for k in ("questions", "f1_questions", "gate3", "gate3_pass", "gate4",
                                                         "gate4_pass", "f1") if k in old}
        a.out.write_text(json.dumps(r, indent=1))
        print(json.dumps(r["without_preselection"], indent=1))
        return 0
    if a.refresh_stream:
        if not a.stream or not a.out.is_file():
            ap.error("--refresh-stream needs --stream and an existing --out report")
        r = json.loads(a.out.read_text())
        r["gate4_stream"] = stream_gate(json.loads(a.stream.read_text()))
        a.out.write_text(json.dumps(r, indent=1))
        print(json.dumps(r["gate4_stream"], indent=1))
        return 0
    if a.heads is None:
        ap.error("--heads is required")
    torch.set_num_threads(a.threads)

    bundle = a.bundle or recipes.default_out()
    lm, _, manifest = load_frozen(bundle)
    tok = Tokenizer.from_file(str(bundle / manifest["tokenizer"]))
    heads = load_any_heads(a.heads, lm)
    banks = [int(b) for b in a.banks.split(",")]
    valid = load_cache(a.cache)
    if heads.cfg.frame_ids:
        add_memory_prompts(valid, manifest["prompt"], lambda t: tok.encode(t, add_special_tokens=False).ids)
    selector = None
    if a.preselect == "learned":
        if not a.selector or not (picked := load_selector(a.selector)):
            ap.error("--preselect learned needs --selector, a mac.selector checkpoint")
        selector = picked[0]
    r = gates(lm, heads, manifest, lambda ids: tok.decode(ids), valid, a.questions, a.f1_questions, banks,
              int8=not a.float_modulations, preselect=a.preselect, selector=selector, select_top=a.select_top)
    r["heads"], r["modulations"] = str(a.heads), "float32" if a.float_modulations else "int8 (as stored)"
    if a.stream:
        r["gate4_stream"] = stream_gate(json.loads(a.stream.read_text()))
    a.out.write_text(json.dumps(r, indent=1))
    print(json.dumps({k: v for k, v in r.items() if k != "examples"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

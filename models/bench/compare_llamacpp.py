"""Our PyTorch port against llama.cpp on the same GGUF: token ids and last-position logits.

    # 1. reference logits with llama.cpp (throwaway venv; never a runtime dependency)
    /work/llama-venv/bin/python models/bench/llamacpp_bench.py --gguf GGUF --logits-prompts P.jsonl --logits-out ref.npz
    # 2. our tokenizer.json and PyTorch model on the same prompts
    cd models && .venv/bin/python bench/compare_llamacpp.py --ref ref.npz --bundle BUNDLE --gguf GGUF \
        [--write-prompts P.jsonl]

--write-prompts writes the bundle's fixture prompts (chat template included) as JSON lines for step 1
(a prompt that opens with the BOS piece keeps one BOS in llama.cpp too: llamacpp_common.tokenize).
Prints, per prompt: whether the token ids are identical, the max |logit difference|, the top-1
agreement and the KL divergence of the next-token distributions, for the bundle's LM in each
precision its recipe builds: SmolLM2 (Llama architecture) fp32 and q4, Gemma 3 fp32 and q8.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnemo_models.lm.gemma3_gguf import load_gemma3  # noqa: E402
from mnemo_models.lm.gguf import load_llama  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--ref", type=Path)
    ap.add_argument("--write-prompts", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    cases = json.loads((a.bundle / "fixtures.json").read_text())["lm"]["cases"]
    manifest = json.loads((a.bundle / "manifest.json").read_text())
    gemma = manifest["architecture"]["lm"].get("type") == "gemma3"
    if a.write_prompts:
        a.write_prompts.write_text("".join(json.dumps(c["prompt"]) + "\n" for c in cases))
        print(f"wrote {len(cases)} prompts to {a.write_prompts}")
        return
    torch.set_num_threads(2)
    ref = np.load(a.ref, allow_pickle=False)
    tok = Tokenizer.from_file(str(a.bundle / "tokenizer.json"))
    rows = []
    for precision in ("fp32", "q8") if gemma else ("fp32", "q4"):
        model, _ = load_gemma3(a.gguf, precision) if gemma else load_llama(a.gguf, precision)
        for i, c in enumerate(cases):
            ids = tok.encode(c["prompt"], add_special_tokens=False).ids
            theirs = ref[f"tokens_{i}"].tolist()
            with torch.no_grad():
                logits, _ = model(
                    torch.tensor([ids]),
                    torch.arange(len(ids))[None],
                    torch.ones(1, len(ids), dtype=torch.long),
                    model.empty_past(),
                )
            ours, want = logits[0, -1].double().numpy(), ref[f"logits_{i}"].astype(np.float64)
            p, q = np.exp(want - want.max()), np.exp(ours - ours.max())
            p, q = p / p.sum(), q / q.sum()
            rows.append(
                {
                    "precision": precision,
                    "prompt": i,
                    "tokens_identical": ids == theirs,
                    "tokens": len(ids),
                    "max_abs_logit_diff": float(np.abs(ours - want).max()),
                    "logit_scale": float(np.abs(want).max()),
                    "top1_agree": int(ours.argmax()) == int(want.argmax()),
                    "kl_llamacpp_to_ours": float((p * (np.log(p + 1e-30) - np.log(q + 1e-30))).sum()),
                }
            )
            print(json.dumps(rows[-1]))
    if a.json:
        meta = json.loads(str(ref["meta"])) if "meta" in ref.files else {}
        a.json.write_text(json.dumps({"bundle": manifest["id"], "llamacpp": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

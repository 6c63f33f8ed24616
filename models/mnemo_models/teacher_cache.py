"""The distillation teacher, cached once: the frozen LM reading the gold passage, on SQuAD train.

    python -m mnemo_models.teacher_cache --out runs/teacher [--examples 20000] [--top-k 32]

MAC's heads are trained to make the frozen LM answer from memory as it answers with the gold
passage in its prompt (mac-method.md §7: KL on the answer tokens + answer NLL). The teacher never
changes, so its outputs are computed once here and reused every epoch: for each training question,
teacher-forced on " " + answer, the top-k next-token ids and log-probabilities at every answer
position, and the answer's NLL. Examples are drawn in a seeded order over all of train; shards of
`--shard` examples are written atomically (shard-00000.npz, ...), so a killed run resumes at the
first missing shard. The prompt is the bundle's own gold template (prompts.py, lm_fixtures.render).

Shard arrays (E examples, A = max answer tokens kept): qid (E,) str, answer_ids (E, A) int32 (-1 =
padding), topk_ids (E, A, k) int32, topk_logp (E, A, k) float16, nll (E,) float32.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .lm_fixtures import render

MAX_ANSWER_TOKENS = 16


def examples(paragraphs, seed: int) -> list[tuple[str, str, str, str]]:
    """(qid, passage, question, answer) for every train question, in a seeded order."""
    out = [(qa.id, p.context, qa.question, qa.answers[0]) for p in paragraphs for qa in p.qas]
    random.Random(seed).shuffle(out)
    return out


@torch.no_grad()
def teach(model, encode: Callable[[str], list[int]], prompts: dict, batch: list[tuple[str, str, str, str]],
          top_k: int) -> dict[str, np.ndarray]:
    """One shard: each example alone (no padding waste; prompts differ in length by 10x)."""
    A = MAX_ANSWER_TOKENS
    E = len(batch)
    answer_ids = np.full((E, A), -1, np.int32)
    topk_ids = np.zeros((E, A, top_k), np.int32)
    topk_logp = np.zeros((E, A, top_k), np.float16)
    nll = np.zeros(E, np.float32)
    for e, (_, passage, question, answer) in enumerate(batch):
        prompt = encode(render(prompts, "gold", question, " ".join(passage.split())))
        ans = encode(" " + answer)[:A]
        ids = torch.tensor([prompt + ans])
        S = ids.shape[1]
        hidden, _ = model(ids, torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), model.empty_past(),
                          hidden_only=True)                                # (1, S, D)
        # position t predicts token t + 1: the answer tokens are predicted from len(prompt) - 1 on
        at = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(ans))
        logp = torch.log_softmax(model.logits(hidden[0, at]), dim=-1)       # (len(ans), V)
        top = torch.topk(logp, top_k, dim=-1)
        n = len(ans)
        answer_ids[e, :n] = ans
        topk_ids[e, :n] = top.indices.numpy()
        topk_logp[e, :n] = top.values.numpy().astype(np.float16)
        nll[e] = float(-logp[torch.arange(n), torch.tensor(ans)].mean())
    return {"qid": np.array([b[0] for b in batch]), "answer_ids": answer_ids, "topk_ids": topk_ids,
            "topk_logp": topk_logp, "nll": nll}


def run(model, encode, prompts: dict, items, out: Path, shard: int, top_k: int, log=print) -> int:
    """Writes every missing shard; returns how many shards exist at the end."""
    out.mkdir(parents=True, exist_ok=True)
    n_shards = (len(items) + shard - 1) // shard
    t0, done = time.time(), 0
    for s in range(n_shards):
        path = out / f"shard-{s:05d}.npz"
        if path.exists():
            continue
        arrays = teach(model, encode, prompts, items[s * shard:(s + 1) * shard], top_k)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        done += 1
        rate = done * shard / (time.time() - t0)
        left = sum(not (out / f"shard-{i:05d}.npz").exists() for i in range(n_shards))
        log(f"shard {s + 1}/{n_shards}: teacher NLL {arrays['nll'].mean():.3f}, {rate:.2f} examples/s, "
            f"~{left * shard / rate / 3600:.1f} h left")
    return sum((out / f"shard-{i:05d}.npz").exists() for i in range(n_shards))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, help="default: the setup-built default bundle (its prompts and tokenizer)")
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--shard", type=int, default=250)
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    from tokenizers import Tokenizer

    from . import build_bundle, sources
    from .gguf_weights import load_lm
    from .squad import load_squad
    torch.set_num_threads(a.threads)
    bundle = a.bundle or build_bundle.default_out()
    manifest = json.loads((bundle / "manifest.json").read_text())
    try:                                           # the bundle's own GGUF, from the cache (offline)
        path = build_bundle.LM_RECIPES[manifest["build"]["model"]].gguf(log=print)[0]
    except sources.SourceError as e:
        print(f"teacher_cache: {e}", file=sys.stderr)
        return 2
    model, _ = load_lm(path, manifest["build"]["precision"])
    tok = Tokenizer.from_file(str(bundle / manifest["tokenizer"]))
    items = examples(load_squad("train"), a.seed)[: a.examples]
    (a.out / "meta.json").parent.mkdir(parents=True, exist_ok=True)
    (a.out / "meta.json").write_text(json.dumps({"bundle": manifest["id"], "examples": len(items), "seed": a.seed,
                                                 "top_k": a.top_k, "shard": a.shard, "prompt": "gold"}, indent=1))
    encode = lambda t: tok.encode(t, add_special_tokens=False).ids                # noqa: E731
    run(model, encode, manifest["prompt"], items, a.out, a.shard, a.top_k)
    return 0


if __name__ == "__main__":
    sys.exit(main())

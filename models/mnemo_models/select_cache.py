"""What the entry selector learns from, computed with the bundle's own ONNX graphs: fast and exact.

    python -m mnemo_models.select_cache --split train --paragraphs 10000 --out runs/select-cache/train
    python -m mnemo_models.select_cache --split valid --paragraphs 200 --out runs/select-cache/valid

Why a second cache: mac_selector learns from the heads' modulations and the questions' tap rows
only, but mac_cache also computes the teacher (the whole LM over every gold prompt, in PyTorch) and
made 0.7 paragraphs/s; the selector gained 40 points of top-1 going from 275 to 500 train
paragraphs. This script runs what the app runs at ingestion and question time instead: the bundle's
`reader.onnx` (recipe 20: the LM's first 9 blocks on int8 kernels) over the reader prefix + the
paragraph, `amortizer.onnx` over the paragraph's tap rows, and the reader over the question-only
prompt. So the features are the app's own, not PyTorch's approximation of them.

Per paragraph (the seeded order of mac_cache, so `--paragraphs 200` on valid is its valid cache's
paragraphs): index, article, mod (T, D) fp16, the modulation before the vault's int8 rounding
(mac_selector rounds it as the vault stores it); per question: id, q_feat (S, D) fp16, RMS-normed,
as mac_cache's. Shards are written atomically; a killed run resumes at the first missing shard.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .lm_fixtures import render
from .mac_cache import MAX_DOC, reader_prefix, rms_normed


class OnnxReader:
    """The bundle's reader and amortizer graphs: token rows -> tap rows -> modulations."""

    def __init__(self, bundle: Path, threads: int):
        import onnxruntime as ort
        self.manifest = json.loads((bundle / "manifest.json").read_text())
        mac = self.manifest["architecture"]["mac"]
        if "reader" not in self.manifest.get("graphs", {}):
            raise ValueError(f"{bundle} has no reader graph (recipe 20 or later builds one)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        load = lambda name: ort.InferenceSession(                                  # noqa: E731
            str(bundle / self.manifest["graphs"][name]["file"]), opts, providers=["CPUExecutionProvider"])
        self.reader, self.amortizer = load("reader"), load("amortizer")
        self.output = mac["reader"]["output"]
        self.prefix = list(mac["reader"]["prefix_ids"])
        self.max_question = mac["max_question_tokens"]
        self.past = [i for i in self.reader.get_inputs() if i.name.startswith("past_key_values.")]

    def tap(self, rows: list[list[int]]) -> np.ndarray:
        """Right-padded rows, each from position 0 -> the tap (B, S, D) float32."""
        B, S = len(rows), max(len(r) for r in rows)
        ids = np.zeros((B, S), np.int64)
        mask = np.zeros((B, S), np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)], mask[i, :len(r)] = r, 1
        feeds = {"input_ids": ids, "attention_mask": mask,
                 "position_ids": np.broadcast_to(np.arange(S, dtype=np.int64), (B, S)).copy()}
        for p in self.past:                                                        # (B, kv heads, 0, head dim)
            feeds[p.name] = np.zeros((B, p.shape[1], 0, p.shape[3]), np.float32)
        return self.reader.run([self.output], feeds)[0]

    def modulations(self, docs: list[list[int]]) -> np.ndarray:
        """Paragraph token ids (each ≤ max_doc_tokens) -> modulations (B, T, D), as ingestion makes them."""
        tap = self.tap([self.prefix + d for d in docs])
        n, W = len(self.prefix), max(len(d) for d in docs)
        feats = np.zeros((len(docs), W, tap.shape[-1]), np.float32)
        mask = np.zeros((len(docs), W), np.int64)
        for i, d in enumerate(docs):
            feats[i, :len(d)], mask[i, :len(d)] = tap[i, n:n + len(d)], 1
        return self.amortizer.run(["modulation"], {"features": feats, "attention_mask": mask})[0]

    def questions(self, rows: list[list[int]]) -> list[torch.Tensor]:
        """Question-only prompts (the last max_question_tokens) -> their tap rows [(S_i, D) fp16], RMS-normed."""
        rows = [r[-self.max_question:] for r in rows]
        tap = torch.from_numpy(self.tap(rows))
        return [rms_normed(tap[i, :len(r)]) for i, r in enumerate(rows)]


def paragraph_records(reader: OnnxReader, encode, paras: list) -> list[dict]:
    prompts = reader.manifest["prompt"]
    docs = [encode(" " + " ".join(p.context.split()))[:MAX_DOC] for p in paras]
    mods = torch.from_numpy(reader.modulations(docs)).to(torch.float16)
    out = []
    for p, m in zip(paras, mods):
        qs = [{"id": qa.id, "q_ids": encode(render(prompts, "question", qa.question))} for qa in p.qas]
        for i in range(0, len(qs), 16):
            for q, f in zip(qs[i:i + 16], reader.questions([q["q_ids"] for q in qs[i:i + 16]])):
                q["q_feat"] = f
        out.append({"index": p.index, "article": p.article, "mod": m, "questions": qs})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["train", "valid"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, help="default: the setup-built default bundle")
    ap.add_argument("--paragraphs", type=int, default=10000)
    ap.add_argument("--shard", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4, help="paragraphs per reader pass (the engine's AMORTIZE_BATCH)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    from tokenizers import Tokenizer

    from . import build_bundle
    from .squad import load_squad
    bundle = a.bundle or build_bundle.default_out()
    reader = OnnxReader(bundle, a.threads)
    tok = Tokenizer.from_file(str(bundle / reader.manifest["tokenizer"]))
    encode = lambda t: tok.encode(t, add_special_tokens=False).ids                 # noqa: E731
    if encode(reader_prefix(reader.manifest["prompt"])) != reader.prefix:
        raise ValueError("the manifest's reader prefix_ids are not the gold prompt's opening")
    paras = load_squad(a.split)
    random.Random(a.seed).shuffle(paras)
    paras = paras[: a.paragraphs]
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"bundle": reader.manifest["id"], "split": a.split, "paragraphs": len(paras), "seed": a.seed,
            "shard": a.shard, "max_doc": MAX_DOC, "graphs": ["reader", "amortizer"]}
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1))
    n_shards = (len(paras) + a.shard - 1) // a.shard
    t0, done = time.time(), 0
    for s in range(n_shards):
        path = a.out / f"shard-{s:05d}.pt"
        if path.exists():
            continue
        part = paras[s * a.shard:(s + 1) * a.shard]
        recs = [r for i in range(0, len(part), a.batch) for r in paragraph_records(reader, encode, part[i:i + a.batch])]
        tmp = path.with_name(path.name + ".tmp")
        torch.save(recs, tmp)
        os.replace(tmp, path)
        done += len(recs)
        rate = done / (time.time() - t0)
        left = sum(not (a.out / f"shard-{i:05d}.pt").exists() for i in range(n_shards)) * a.shard
        print(f"select_cache {a.split}: shard {s + 1}/{n_shards}, {rate:.1f} paragraphs/s, ~{left / rate / 60:.0f} min left",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

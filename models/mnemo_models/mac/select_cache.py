"""What the entry selector learns from, computed with the bundle's own ONNX graphs: fast and exact.

    python -m mnemo_models.select_cache --split train --paragraphs 10000 --out runs/select-cache/train
    python -m mnemo_models.select_cache --split valid --paragraphs 200 --out runs/select-cache/valid

Why a second cache: mac.selector learns from the heads' modulations and the questions' tap rows
only, but mac.cache also computes the teacher (the whole LM over every gold prompt, in PyTorch) and
made 0.7 paragraphs/s; the selector gained 40 points of top-1 going from 275 to 500 train
paragraphs. This script runs what the app runs at ingestion and question time instead: the bundle's
`reader.onnx` (recipe 20: the LM's first 9 blocks on int8 kernels) over the reader prefix + the
paragraph, `amortizer.onnx` over the paragraph's tap rows, and the reader over the question-only
prompt. So the features are the app's own, not PyTorch's approximation of them.

Per paragraph (the seeded order of mac.cache, so `--paragraphs 200` on valid is its valid cache's
paragraphs): index, article, mod (T, D) fp16, the modulation before the vault's int8 rounding
(mac.selector rounds it as the vault stores it); per question: id, q_feat (S, D) fp16, RMS-normed,
as mac.cache's. Shards are written atomically; a killed run resumes at the first missing shard.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mnemo_models.bundle.fixtures import render
from mnemo_models.mac.cache import MAX_DOC, rms_normed


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

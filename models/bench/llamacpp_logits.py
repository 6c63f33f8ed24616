"""Reference logits from llama.cpp for the PyTorch port's parity check (compare_llamacpp.py).

Called by llamacpp_bench.py --logits-prompts FILE --logits-out OUT.npz (throwaway venv only):

  every non-empty line of FILE is one prompt that is already templated. A line that starts with
  a double quote is read as a JSON string (so it can hold newlines as \\n); any other line is
  used as it is. Each prompt is tokenized by llama.cpp (BOS as the model's metadata says,
  special tokens parsed), evaluated with logits_all=True, and OUT.npz gets, per prompt i,
  tokens_i (int32) and logits_i (float32, the last position's full vocabulary logits); with
  --all-positions also all_logits_i (n_tokens x n_vocab). prompts and meta (JSON) are stored too.

"""
from __future__ import annotations

import json

from llamacpp_common import Llama, llama_cpp, model_info, np, tokenize


def read_prompts(path: str) -> list[str]:
    prompts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            prompts.append(json.loads(line) if line.startswith('"') else line)
    return prompts


def logits_mode(args) -> None:
    llm = Llama(model_path=args.gguf, n_ctx=args.n_ctx, n_batch=512, n_threads=args.threads,
                n_threads_batch=args.threads, logits_all=True, verbose=False)
    prompts = read_prompts(args.logits_prompts)
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(prompts):
        toks = tokenize(llm, p)
        llm.reset()
        llm.eval(toks)
        arrays[f"tokens_{i}"] = np.asarray(toks, dtype=np.int32)
        arrays[f"logits_{i}"] = np.array(llm.scores[len(toks) - 1], dtype=np.float32, copy=True)
        if args.all_positions:
            arrays[f"all_logits_{i}"] = np.array(llm.scores[: len(toks)], dtype=np.float32, copy=True)
        top = np.argsort(-arrays[f"logits_{i}"])[:5]
        print(f"prompt {i}: {len(toks)} tokens, top-5 next {top.tolist()}", flush=True)
    meta = {"llama_cpp_python": llama_cpp.__version__, **model_info(llm, args.gguf),
            "n_prompts": len(prompts), "tokenize": "add_bos per gguf metadata, special tokens parsed"}
    np.savez(args.logits_out, prompts=np.asarray(prompts, dtype=object).astype(str),
             meta=np.asarray(json.dumps(meta)), **arrays)
    print(f"wrote {args.logits_out} ({len(prompts)} prompts)")

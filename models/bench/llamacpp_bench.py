"""Benchmark a GGUF language model with llama.cpp: speed, SQuAD quality, reference logits.

Run this ONLY with the throwaway benchmark venv's interpreter:

    /work/llama-venv/bin/python models/bench/llamacpp_bench.py --gguf PATH --threads 2 \
        --squad /work/shared/data/squad/valid-v1.1.json.gz --questions 200 --seed 0 --json OUT.json

    /work/llama-venv/bin/python models/bench/llamacpp_bench.py --gguf PATH --threads 2 \
        --logits-prompts prompts.txt --logits-out ref.npz

llama-cpp-python is a measuring instrument here, never a runtime (or test, or CI) dependency of
Mnemo: nothing in the app, the model pipeline or the tests imports this file or llama_cpp. It
is not collected by pytest (the name does not start with test_).

Modes
-----
speed + quality (default, needs --squad):
  * speed: one fixed prompt (the first three paragraphs of the first SQuAD article and the first
    question of the first paragraph, in the model's chat format). Low-level API only (llm.reset,
    llm.eval on token lists, greedy argmax over the last logits), timed with time.perf_counter:
    prefill tokens/s, first-token latency (prefill + choosing the first token), decode tokens/s
    over 64 single-token evals. One warm-up run, then the median of 3 runs.
  * quality: --questions questions drawn with random.Random(seed).sample from all SQuAD
    questions in file order (so every model sees the same questions). Two modes: "gold" (the
    question's own paragraph in the prompt) and "qonly" (the question alone). Greedy, at most 16
    new tokens, stop at eos / end-of-turn / the first newline after some non-blank text.
    Scored with SQuAD normalisation: strict EM, token F1 against the best gold answer (also the
    repo's lenient EM: the prediction starts with a gold answer), 95% bootstrap interval
    (1000 resamples, seeded with --seed).
logits (--logits-prompts FILE --logits-out OUT.npz): reference logits for compare_llamacpp.py,
  described in llamacpp_logits.py.

Chat formats (--template auto): a GGUF chat template with <|im_start|> gives ChatML with the
template's own default system prompt (SmolLM2, Qwen2.5); <start_of_turn> gives the Gemma turn
format; a gemma/gemma3 GGUF without any template (a base model) also gets the Gemma turn format,
and --template plain gives a bare completion prompt ("...\\nAnswer:") for base models.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import sys
import time

from llamacpp_common import Llama, llama_cpp, greedy, model_info, np, tokenize
from llamacpp_logits import logits_mode
from mnemo_models.eval.metrics import bootstrap_ci as _bootstrap_ci, exact_match, f1, lenient_match

GOLD_USER = ("Answer the question using the passage. Reply with only the answer, a few words.\n\n"
             "Passage: {context}\n\nQuestion: {question}")
QONLY_USER = "Answer the question. Reply with only the answer, a few words.\n\nQuestion: {question}"
SPEED_USER = ("Answer the question using the passages. Reply with only the answer, a few words.\n\n"
              "Passage 1: {p1}\n\nPassage 2: {p2}\n\nPassage 3: {p3}\n\nQuestion: {question}")

# ----------------------------------------------------------------------------- SQuAD metrics
def bootstrap_ci(values, n: int = 1000, seed: int = 0) -> list[float]:
    """metrics.bootstrap_ci in percent, with the 1000 resamples this benchmark has always used."""
    return [100 * x for x in _bootstrap_ci(values, n=n, seed=seed)]


# ----------------------------------------------------------------------------- data
def load_squad(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    items = []
    for art in data:
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                items.append({"id": qa.get("id"), "title": art.get("title"), "context": para["context"],
                              "question": qa["question"], "answers": [a["text"] for a in qa["answers"]]})
    return items


def speed_user_message(path: str) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        paras = json.load(fh)["data"][0]["paragraphs"]
    return SPEED_USER.format(p1=paras[0]["context"], p2=paras[1]["context"], p3=paras[2]["context"],
                             question=paras[0]["qas"][0]["question"])


# ----------------------------------------------------------------------------- chat format
class ChatFormat:
    def __init__(self, llm: Llama, mode: str, system: str | None):
        md = llm.metadata
        self.arch = md.get("general.architecture", "")
        tmpl = md.get("tokenizer.chat_template", "")
        self.template_source = "gguf tokenizer.chat_template" if tmpl else "none in gguf"
        if mode == "auto":
            if "<|im_start|>" in tmpl:
                mode = "chatml"
            elif "<start_of_turn>" in tmpl:
                mode = "gemma"
            elif not tmpl and self.arch.startswith("gemma"):
                mode = "gemma"
                self.template_source = "none in gguf; Gemma turn format assumed from the architecture"
            else:
                mode = "plain"
        self.mode = mode
        self.system = system
        if mode == "chatml" and system is None:
            # the template's own default system prompt, e.g. '<|im_start|>system\nYou are ...<|im_end|>'
            m = re.search(r"<\|im_start\|>system(?:\\n|\n)([^<'\"{}]+?)<\|im_end\|>", tmpl)
            self.system = m.group(1) if m else None
        self.stop_ids: set[int] = {llm.token_eos()}
        for s in {"chatml": ["<|im_end|>", "<|endoftext|>"], "gemma": ["<end_of_turn>", "<eos>"]}.get(mode, []):
            ids = llm.tokenize(s.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])
        self.template_check = self._check_with_jinja(tmpl)

    def render(self, user: str) -> str:
        if self.mode == "chatml":
            sys_part = f"<|im_start|>system\n{self.system}<|im_end|>\n" if self.system else ""
            return f"{sys_part}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        if self.mode == "gemma":  # BOS comes from the tokenizer (add_bos_token)
            return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"
        return f"{user}\nAnswer:"

    def _check_with_jinja(self, tmpl: str) -> str:
        """Compare render() with the GGUF template rendered by jinja2, where both exist."""
        if not tmpl or self.mode == "plain":
            return "not checked (no template)"
        try:
            import jinja2
            env = jinja2.Environment(loader=jinja2.BaseLoader())
            ref = env.from_string(tmpl).render(messages=[{"role": "user", "content": "QQQ"}],
                                               add_generation_prompt=True, bos_token="")
        except Exception as exc:  # noqa: BLE001
            return f"not checked ({type(exc).__name__})"
        return "matches gguf template" if ref == self.render("QQQ") else f"DIFFERS from gguf template: {ref!r}"


def time_once(llm: Llama, prompt: list[int], n_decode: int) -> dict:
    llm.reset()
    c0, t0 = time.process_time(), time.perf_counter()
    llm.eval(prompt)
    c1, t1 = time.process_time(), time.perf_counter()
    tok = greedy(llm)
    c2, t2 = time.process_time(), time.perf_counter()
    out = [tok]
    for _ in range(n_decode):
        llm.eval([tok])
        tok = greedy(llm)
        out.append(tok)
    c3, t3 = time.process_time(), time.perf_counter()
    return {"prefill_s": t1 - t0, "first_token_s": t2 - t0, "decode_s": t3 - t2, "tokens": out,
            "prefill_cpu_s": c1 - c0, "decode_cpu_s": c3 - c2}


def cpu_idle_fraction(seconds: float = 3.0) -> float:
    """Share of the machine's CPU time that was idle over a short window (Linux /proc/stat)."""
    def snap():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    try:
        i0, t0 = snap()
        time.sleep(seconds)
        i1, t1 = snap()
        return (i1 - i0) / max(1, t1 - t0)
    except OSError:
        return float("nan")


def speed(llm: Llama, fmt: ChatFormat, squad: str | None, n_decode: int = 64, runs: int = 3,
          prompt_text: str | None = None) -> dict:
    """Timings are only meaningful on an otherwise idle machine: the idle share before the runs
    and the process's CPU time / wall time during them (about 2.0 when 2 threads had 2 free
    cores) are recorded so a contended measurement can be recognised. prompt_text: an already
    templated prompt (npm run bench passes the exact text the app's engine was timed on)."""
    prompt = tokenize(llm, prompt_text if prompt_text is not None else fmt.render(speed_user_message(squad)))
    idle_before = cpu_idle_fraction()
    load_before = os.getloadavg()
    time_once(llm, prompt, n_decode)  # warm-up
    c0, w0 = time.process_time(), time.perf_counter()
    res = [time_once(llm, prompt, n_decode) for _ in range(runs)]
    cpu_per_wall = (time.process_time() - c0) / (time.perf_counter() - w0)
    pre = [len(prompt) / r["prefill_s"] for r in res]
    ftl = [1000 * r["first_token_s"] for r in res]
    dec = [n_decode / r["decode_s"] for r in res]
    # CPU-time rates (tokens per CPU-second of this process): at --threads 1 they stay close to the
    # idle-machine wall rate even while other work shares the cores (one thread never spins at a barrier).
    pre_cpu = [len(prompt) / r["prefill_cpu_s"] for r in res]
    dec_cpu = [n_decode / r["decode_cpu_s"] for r in res]
    return {"prompt_tokens": len(prompt), "decode_tokens": n_decode, "runs": runs,
            "prefill_tok_s": statistics.median(pre), "first_token_ms": statistics.median(ftl),
            "decode_tok_s": statistics.median(dec),
            "machine_idle_before": idle_before, "loadavg_before": list(load_before),
            "cpu_per_wall_during": cpu_per_wall,
            "prefill_tok_per_cpu_s": statistics.median(pre_cpu), "decode_tok_per_cpu_s": statistics.median(dec_cpu),
            "all_runs": {"prefill_tok_s": pre, "first_token_ms": ftl, "decode_tok_s": dec},
            "sample_output": llm.detokenize(res[0]["tokens"]).decode("utf-8", "replace")}


def generate(llm: Llama, fmt: ChatFormat, user: str, n_ctx: int, max_new: int = 16) -> tuple[str, int]:
    prompt = tokenize(llm, fmt.render(user))
    if len(prompt) + max_new > n_ctx:
        prompt = prompt[: n_ctx - max_new]  # never happens for SQuAD at n_ctx 2048; counted below
    llm.reset()
    llm.eval(prompt)
    out: list[int] = []
    text = ""
    for step in range(max_new):
        tok = greedy(llm)
        if tok in fmt.stop_ids:
            break
        out.append(tok)
        text = llm.detokenize(out).decode("utf-8", "replace")
        if "\n" in text.lstrip():
            text = text.lstrip().split("\n", 1)[0]
            break
        if step + 1 < max_new:
            llm.eval([tok])
    return text.strip(), len(prompt)


def quality(llm: Llama, fmt: ChatFormat, items: list[dict], mode: str, n_ctx: int, seed: int) -> dict:
    preds, em, le, f = [], [], [], []
    prompt_lens = []
    t0 = time.perf_counter()
    for i, it in enumerate(items, 1):
        user = (GOLD_USER.format(context=it["context"], question=it["question"]) if mode == "gold"
                else QONLY_USER.format(question=it["question"]))
        pred, plen = generate(llm, fmt, user, n_ctx)
        prompt_lens.append(plen)
        preds.append(pred)
        em.append(exact_match(pred, it["answers"]))
        le.append(lenient_match(pred, it["answers"]))
        f.append(f1(pred, it["answers"]))
        if i % 25 == 0 or i == len(items):
            print(f"[{mode}] {i}/{len(items)} EM {100 * np.mean(em):.1f} F1 {100 * np.mean(f):.1f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"n": len(items), "em": 100 * float(np.mean(em)), "em_ci95": bootstrap_ci(em, seed=seed),
            "f1": 100 * float(np.mean(f)), "f1_ci95": bootstrap_ci(f, seed=seed),
            "em_lenient": 100 * float(np.mean(le)), "seconds": time.perf_counter() - t0,
            "mean_prompt_tokens": float(np.mean(prompt_lens)),
            "first5": [{"question": it["question"], "pred": p, "gold": it["answers"]}
                       for it, p in zip(items[:5], preds[:5])],
            "per_item": [{"id": it["id"], "pred": p, "em": e, "f1": ff} for it, p, e, ff in zip(items, preds, em, f)]}


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--squad")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--template", choices=["auto", "chatml", "gemma", "plain"], default="auto")
    ap.add_argument("--system", default=None, help="ChatML system prompt (default: the template's own)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--modes", default="gold,qonly", help='comma list of gold,qonly; "" for speed only')
    ap.add_argument("--logits-prompts")
    ap.add_argument("--logits-out")
    ap.add_argument("--all-positions", action="store_true", help="logits mode: also save every position")
    ap.add_argument("--speed-prompt-file", help="time this already templated prompt (speed only, no --squad needed)")
    ap.add_argument("--decode-tokens", type=int, default=64)
    args = ap.parse_args(argv)
    if args.threads > 2:
        print("note: more than 2 threads requested", file=sys.stderr)

    if args.logits_prompts:
        if not args.logits_out:
            ap.error("--logits-prompts needs --logits-out")
        logits_mode(args)
        return
    if args.speed_prompt_file:
        args.modes = ""
    elif not args.squad:
        ap.error("speed/quality mode needs --squad (or --speed-prompt-file)")
    if not args.json:
        ap.error("speed/quality mode needs --json")

    t_load = time.perf_counter()
    llm = Llama(model_path=args.gguf, n_ctx=args.n_ctx, n_batch=512, n_threads=args.threads,
                n_threads_batch=args.threads, logits_all=False, verbose=False, seed=args.seed)
    t_load = time.perf_counter() - t_load
    fmt = ChatFormat(llm, args.template, args.system)
    result = {"llama_cpp_python": llama_cpp.__version__, "threads": args.threads, "n_ctx": args.n_ctx,
              "load_s": t_load, **model_info(llm, args.gguf),
              "format": {"mode": fmt.mode, "system": fmt.system, "template_source": fmt.template_source,
                         "template_check": fmt.template_check, "stop_ids": sorted(fmt.stop_ids),
                         "example": fmt.render("{user}")},
              "argv": sys.argv}
    print(json.dumps({k: result[k] for k in ("metadata", "format")}, indent=1), flush=True)
    if not args.skip_speed:
        text = open(args.speed_prompt_file, encoding="utf-8").read() if args.speed_prompt_file else None
        result["speed"] = speed(llm, fmt, args.squad, args.decode_tokens, prompt_text=text)
        s = result["speed"]
        print(f"speed: prompt {s['prompt_tokens']} tok, prefill {s['prefill_tok_s']:.1f} tok/s, "
              f"first token {s['first_token_ms']:.0f} ms, decode {s['decode_tok_s']:.1f} tok/s "
              f"(idle before {s['machine_idle_before']:.2f}, cpu/wall {s['cpu_per_wall_during']:.2f}; per CPU-second: "
              f"prefill {s['prefill_tok_per_cpu_s']:.1f}, decode {s['decode_tok_per_cpu_s']:.1f})", flush=True)
    modes = [m for m in args.modes.split(",") if m]
    if not modes:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        print(f"wrote {args.json}")
        return
    items_all = load_squad(args.squad)
    idx = random.Random(args.seed).sample(range(len(items_all)), args.questions)
    items = [items_all[i] for i in idx]
    result["questions"] = {"n": args.questions, "seed": args.seed, "pool": len(items_all),
                           "first_ids": [it["id"] for it in items[:5]]}
    result["quality"] = {}
    for mode in modes:
        result["quality"][mode] = quality(llm, fmt, items, mode, args.n_ctx, args.seed)
        q = result["quality"][mode]
        print(f"{mode}: EM {q['em']:.1f} {q['em_ci95']} F1 {q['f1']:.1f} {q['f1_ci95']} "
              f"lenient EM {q['em_lenient']:.1f} ({q['seconds']:.0f} s)", flush=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

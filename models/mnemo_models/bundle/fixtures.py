"""Golden fixtures for a pretrained-LM bundle: prompts -> PyTorch token ids, logits and greedy tokens.

The TypeScript engine must reproduce them from the ONNX graph (electron/engine/real-bundle.test.ts):
the same ids from tokenizer.json, the last position's logits within tolerance, the same greedy
tokens. Logits are stored for the top 64 ids plus every 997th id (a spread over the vocabulary).
They are computed in float64 and rounded to float32 once (llama.float64_reference), so a rebuild on
another CPU writes the same file.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from mnemo_models.lm.llama import float64_reference

CASES = [
    ("gold", "The Eiffel Tower in Paris was completed in 1889 as the entrance arch to the World's Fair.",
     "When was the Eiffel Tower completed?"),
    ("gold", "Marie Skłodowska Curie (1867–1934) was born in Warsaw, in what was then the Kingdom of Poland.",
     "Where was Marie Curie born?"),
    ("question", None, "What is the capital of France?"),
]


def render(prompts: dict, kind: str, question: str, passage: str | None = None, long: bool = False) -> str:
    """The manifest's prompt for one question, as electron/core/prompt.ts renderPrompt builds it."""
    p = prompts["long"] if long else prompts
    user = p[kind].replace("{passage}", passage or "").replace("{question}", question)
    return (
        p.get("chat", prompts["chat"]).replace("{system}", p.get("system", prompts["system"])).replace("{user}", user)
    )


@torch.no_grad()
def greedy(model, ids: list[int], n: int, stops: set[int], leading: frozenset[int] = frozenset()) \
        -> tuple[list[int], torch.Tensor]:
    """Greedy tokens until a stop, as electron/core/generate.ts: a stop in `leading` before any
    answer token is fed on, not kept (a base model's opening line break)."""
    past, x, pos = (
        model.empty_past(dtype=next(model.parameters()).dtype),
        torch.tensor([ids]),
        torch.arange(len(ids))[None],
    )
    total, out, first = 0, [], None
    for _ in range(n):
        total += x.shape[1]
        logits, past = model(x, pos, torch.ones(1, total, dtype=torch.long), past)
        if first is None:
            first = logits[0, -1]
        nxt = int(logits[0, -1].argmax())
        skip = not out and nxt in leading
        if nxt in stops and not skip:
            break
        if not skip:
            out.append(nxt)
        x, pos = torch.tensor([[nxt]]), pos[:, -1:] + 1
    return out, first


def make_lm_fixtures(model, tokenizer_path: Path, prompts: dict, stops: set[int], leading: frozenset[int] = frozenset(),
                     new_tokens: int = 8) -> dict:
    """stops: the ids that end a short answer (the manifest's stop ids and newline tokens); leading:
    those of them a leading line break may be (the newline tokens)."""
    tok = Tokenizer.from_file(str(tokenizer_path))
    cases = []
    for kind, passage, question in CASES:
        text = render(prompts, kind, question, passage)
        ids = tok.encode(text, add_special_tokens=False).ids
        with float64_reference(model):
            tokens, logits = greedy(model, ids, new_tokens, stops, leading)
        logits = logits.float()
        top = torch.topk(logits, 64).indices.tolist()
        spread = list(range(0, logits.shape[0], 997))
        keep = sorted(set(top) | set(spread))
        cases.append({"kind": kind, "passage": passage, "question": question, "prompt": text, "ids": ids,
                      "greedy": tokens, "answer": tok.decode(tokens),
                      "logits": {"ids": keep, "values": [float(logits[i]) for i in keep]}})
    return {"lm": {"cases": cases, "new_tokens": new_tokens}}

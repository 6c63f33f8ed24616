"""Batched greedy decoding with the frozen LM, optionally behind a MAC prefix (KV cache, explicit positions)."""
from __future__ import annotations

import torch

from .gpt2 import GPT
from .mac_data import pad, prefix_past


@torch.no_grad()
def greedy(lm: GPT, prompts: list[list[int]], stop_ids: set[int], pad_id: int, max_new: int = 16,
           prefix=None, position_offset: int = 0) -> list[list[int]]:
    """Greedy continuation of each prompt (left-padded batch); stops at any stop id or max_new tokens.

    prefix: (L, 2, B, nh, P, hs) or None. Positions of real tokens start at position_offset.
    """
    device = next(lm.parameters()).device
    ids, mask = pad(prompts, pad_id, device, left=True)                         # (B, S)
    B = ids.shape[0]
    P = 0 if prefix is None else prefix.shape[-2]
    pos = (mask.cumsum(1) - 1).clamp(min=0) + position_offset                   # (B, S)
    attn = torch.cat([torch.ones(B, P, dtype=mask.dtype, device=device), mask], 1)
    logits, past = lm(ids, pos, None if prefix is None else prefix_past(prefix), attn)
    next_pos = pos[:, -1:] + 1
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    for _ in range(max_new):
        tok = logits[:, -1].argmax(-1)                                          # (B,)
        for i in range(B):
            if not done[i]:
                if tok[i].item() in stop_ids:
                    done[i] = True
                else:
                    out[i].append(tok[i].item())
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones(B, 1, dtype=attn.dtype, device=device)], 1)
        logits, past = lm(tok[:, None], next_pos, past, attn)
        next_pos = next_pos + 1
    return out

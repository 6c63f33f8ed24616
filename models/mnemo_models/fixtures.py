"""Golden fixtures: inputs -> outputs computed in PyTorch, which the TypeScript engine must reproduce.

Every tensor is stored as {"shape": [...], "data": [flat row-major floats or ints]}.
"""
from __future__ import annotations

import torch

from .generate import greedy
from .mac import MAC
from .mac_data import pad, prefix_past
from .squad import prompt
from .tokenizer import special_ids

DOCUMENTS = [
    "The Amazon rainforest covers much of the Amazon basin of South America. Most of the forest is in Brazil, "
    "with 60% of the rainforest, followed by Peru with 13% and Colombia with 10%.",
    "Marie Curie was the first woman to win a Nobel Prize, and the only person to win Nobel Prizes in two "
    "different sciences: physics in 1903 and chemistry in 1911.",
    "The Eiffel Tower in Paris was completed in 1889 as the entrance to the World's Fair. It is 330 metres tall.",
]
QUESTION = "In which year was the Eiffel Tower completed?"


def t(x: torch.Tensor) -> dict:
    return {"shape": list(x.shape), "data": x.detach().float().flatten().tolist() if x.is_floating_point()
            else x.detach().flatten().tolist()}


@torch.no_grad()
def make_fixtures(lm, mac: MAC, sp, hier_group: int = 2) -> dict:
    ids = special_ids(sp)
    doc_ids = [sp.encode(d)[: mac.cfg.max_doc_tokens] for d in DOCUMENTS]
    d_ids, d_mask = pad(doc_ids, ids["pad"], "cpu")                             # right-padded batch
    modulation = mac.amortizer(d_ids, d_mask)                                   # (N, T, D)
    q_ids = sp.encode(prompt(QUESTION))[-mac.cfg.max_question_tokens:]
    query = mac.question_encoder(torch.tensor([q_ids]), torch.ones(1, len(q_ids), dtype=torch.long))
    memory_kv = mac.aggregator.memory_kv(modulation.reshape(1, -1, modulation.shape[-1])).squeeze(2)
    latent, token_w = mac.aggregator.forward_kv(query, memory_kv.unsqueeze(2))
    entry_w = token_w.view(1, -1, mac.cfg.n_slots).sum(-1)
    hier_latent, hier_w = mac.aggregate_hierarchical(query, modulation[None], hier_group)
    prefix = mac.prefix(latent)                                                  # (L, 2, 1, nh, P, hs)
    P = prefix.shape[-2]
    pos = torch.arange(len(q_ids))[None] + mac.cfg.position_offset
    logits, _ = lm(torch.tensor([q_ids]), pos, prefix_past(prefix), torch.ones(1, P + len(q_ids), dtype=torch.long))
    stops = {ids["eos"], ids["newline"]}
    mac_tokens = greedy(lm, [q_ids], stops, ids["pad"], 16, prefix, mac.cfg.position_offset)[0]
    plain_tokens = greedy(lm, [q_ids], stops, ids["pad"], 16, None, 0)[0]
    return {
        "documents": DOCUMENTS, "document_ids": doc_ids,
        "amortizer": {"input_ids": t(d_ids), "attention_mask": t(d_mask), "modulation": t(modulation)},
        "question": QUESTION, "question_prompt": prompt(QUESTION), "question_ids": q_ids,
        "question_encoder": {"query": t(query)},
        "memory_kv": {"memory_kv": t(memory_kv)},
        "aggregator": {"latent": t(latent), "entry_weights": t(entry_w)},
        "hierarchical": {"group": hier_group, "latent": t(hier_latent), "entry_weights": t(hier_w)},
        "prefix": {"prefix_kv": t(prefix)},
        "lm": {"first_logits_last": t(logits[0, -1]), "greedy_with_prefix": mac_tokens, "greedy_without_prefix": plain_tokens,
               "max_new_tokens": 16, "position_offset": mac.cfg.position_offset},
        "tolerance": {"relative": 1e-4},
    }

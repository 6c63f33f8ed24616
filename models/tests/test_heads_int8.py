"""heads_int8.py: int8 rounding per row keeps each row within half a step of its scale, counts the bytes
int8 storage would take, and leaves vectors and integer tensors alone."""
from __future__ import annotations

import torch

from mnemo_models.mac.int8_heads import round_int8, rounded_state


def test_each_row_is_rounded_on_its_own_scale():
    torch.manual_seed(0)
    w = torch.randn(3, 8, 16)
    w[0, 0, 0] = 100.0                                   # an outlier spoils only its own row
    r = round_int8(w)
    step = w.abs().amax(-1, keepdim=True) / 127
    assert ((r - w).abs() <= step / 2 + 1e-6).all()
    assert torch.allclose(r[1:], w[1:], atol=float(step[1:].max()))
    assert (r[0, 1:] - w[0, 1:]).abs().max() < 0.05


def test_the_state_is_rounded_and_its_bytes_counted():
    state = {"a.weight": torch.randn(4, 32), "a.norm": torch.ones(32), "steps": torch.tensor(7)}
    out, facts = rounded_state(state)
    assert torch.equal(out["a.norm"], state["a.norm"]) and torch.equal(out["steps"], state["steps"])
    assert not torch.equal(out["a.weight"], state["a.weight"])
    assert facts["bytes_fp16"] == 2 * (4 * 32 + 32)
    assert facts["bytes_int8"] == 4 * 32 + 4 * 4 + 2 * 32
    assert 0 < facts["worst_relative_error"] < 0.01

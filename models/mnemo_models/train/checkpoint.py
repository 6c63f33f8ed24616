"""Checkpoints: atomic writes, config saved inside, clear errors for missing or corrupt files."""
from __future__ import annotations

import os
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    pass


def save(path: Path, payload: dict) -> None:
    """Write to a temporary file then rename, so a kill mid-write never leaves a torn checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load(path: Path, required: tuple[str, ...] = ("model", "config")) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises several types for truncated/garbage files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch checkpoint: {type(e).__name__}: {e}") from e
    if not isinstance(payload, dict) or any(k not in payload for k in required):
        raise CheckpointError(f"checkpoint {path} lacks required entries {list(required)}")
    return payload

"""Training checkpoints: a round trip, and a corrupt or missing file named."""
import pytest
import torch

from mnemo_models.train import checkpoint


def test_checkpoint_roundtrip_and_corrupt_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(2)}, "config": {}, "step": 7})
    assert checkpoint.load(path)["step"] == 7
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nope.pt")

"""The trainers resume from their checkpoints and fail clearly on missing data."""
import json

import numpy as np
import pytest
import torch

from mnemo_models import checkpoint, train_lm, train_mac
from mnemo_models.prepare import load_examples, save_examples
from test_training import toy_examples

TINY_LM = {"model": {"vocab_size": 64, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 2},
           "context": 16, "batch_size": 2, "warmup_steps": 1, "eval_every": 3, "eval_batches": 1, "checkpoint_every": 2}


def make_data(tmp_path):
    ex = toy_examples()
    for name in ("train", "valid"):
        ex.q_gold_prompt = ex.q_short_prompt = ex.q_prompt
        ex.q_answers_text = [["x"]] * len(ex.q_doc)
        save_examples(ex, tmp_path / f"{name}_examples.pkl")
    np.save(tmp_path / "lm_train.npy", np.random.default_rng(0).integers(4, 64, 2000).astype(np.uint16))
    np.save(tmp_path / "lm_valid.npy", np.random.default_rng(1).integers(4, 64, 500).astype(np.uint16))


def test_lm_and_mac_training_resume_from_checkpoints(tmp_path, capsys):
    make_data(tmp_path)
    assert vars(load_examples(tmp_path / "train_examples.pkl")) == vars(toy_examples()) | {
        "q_answers_text": [["x"]] * 12, "q_gold_prompt": toy_examples().q_prompt, "q_short_prompt": toy_examples().q_prompt}
    cfg = tmp_path / "lm.json"
    cfg.write_text(json.dumps({**TINY_LM, "max_steps": 4}))
    run = tmp_path / "lm-run"
    train_lm.main(["--config", str(cfg), "--run", str(run), "--data-dir", str(tmp_path)])
    first = checkpoint.load(run / "ckpt.pt")
    assert first["step"] == 4
    train_lm.main(["--config", str(cfg), "--run", str(run), "--data-dir", str(tmp_path), "--set", "max_steps=6"])
    assert "resumed from" in capsys.readouterr().out
    second = checkpoint.load(run / "ckpt.pt")
    assert second["step"] == 6
    assert not torch.equal(first["model"]["transformer.wte.weight"], second["model"]["transformer.wte.weight"])
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert any("valid_ppl" in row and "nll_gap" in row for row in log)

    mac_cfg = tmp_path / "mac.json"
    mac_cfg.write_text(json.dumps({"mac": {"n_slots": 2, "prefix_len": 1, "amortizer_enc_layers": 1, "amortizer_dec_layers": 1,
                                           "question_enc_layers": 1, "question_dec_layers": 1, "aggregator_layers": 1,
                                           "n_head": 2, "max_doc_tokens": 16, "max_question_tokens": 8},
                                   "lm_checkpoint": str(run / "ckpt.pt"), "batch_size": 2, "max_steps": 2,
                                   "bank_schedule": [[0, 1], [2, 2]], "eval_every": 2, "eval_questions": 4,
                                   "checkpoint_every": 1}))
    mac_run = tmp_path / "mac-run"
    train_mac.main(["--config", str(mac_cfg), "--run", str(mac_run), "--data-dir", str(tmp_path)])
    train_mac.main(["--config", str(mac_cfg), "--run", str(mac_run), "--data-dir", str(tmp_path), "--set", "max_steps=3"])
    assert checkpoint.load(mac_run / "ckpt.pt")["step"] == 3
    with pytest.raises(checkpoint.CheckpointError, match="another mac config"):
        train_mac.main(["--config", str(mac_cfg), "--run", str(mac_run), "--data-dir", str(tmp_path), "--set", "mac.n_slots=3"])


def test_missing_data_file_is_named(tmp_path):
    cfg = tmp_path / "lm.json"
    cfg.write_text(json.dumps(TINY_LM))
    with pytest.raises(FileNotFoundError, match="lm_train.npy"):
        train_lm.main(["--config", str(cfg), "--run", str(tmp_path / "r"), "--data-dir", str(tmp_path)])

"""Typed configs with defaults in one place; JSON overrides with unknown keys rejected.

Every config is saved into each checkpoint so a run can be resumed or exported without guessing.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the bad key or value."""


@dataclass
class GPTConfig:
    """GPT-2 architecture facts. Names follow Hugging Face's GPT2Config where they overlap."""
    vocab_size: int = 8192
    n_positions: int = 512
    n_embd: int = 192
    n_layer: int = 4
    n_head: int = 4
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


@dataclass
class PretrainConfig:
    """Base-LM pretraining: a mix of general text windows and reading-comprehension examples."""
    model: GPTConfig = field(default_factory=GPTConfig)
    context: int = 256              # tokens per training row
    batch_size: int = 16            # rows per step
    max_steps: int = 20000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 200
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    rc_fraction: float = 0.6        # share of rows packed with reading-comprehension examples
    short_context_fraction: float = 0.5  # RC examples whose passage is cut to the answer's sentences
    question_only_fraction: float = 0.1  # RC examples with no passage (keeps the control fair)
    eval_every: int = 250
    eval_batches: int = 20
    checkpoint_every: int = 250
    seed: int = 1337


@dataclass
class MACConfig:
    """MAC networks (trainable) around a frozen base LM; D is the LM's hidden size."""
    n_slots: int = 8                # T: learned slots of a modulation
    prefix_len: int = 2             # P: key/value tokens per LM layer
    position_offset: int = 0        # first position id of the prompt after the prefix
    amortizer_enc_layers: int = 2
    amortizer_dec_layers: int = 2
    question_enc_layers: int = 2
    question_dec_layers: int = 1
    aggregator_layers: int = 2
    n_head: int = 4
    max_doc_tokens: int = 256
    max_question_tokens: int = 64
    init_from_lm: bool = True       # amortizer/question encoder start from the base LM's blocks
    dropout: float = 0.0


@dataclass
class MACTrainConfig:
    mac: MACConfig = field(default_factory=MACConfig)
    lm_checkpoint: str = ""         # path of the frozen base LM's checkpoint
    batch_size: int = 8             # questions per step; their documents form the bank
    extra_distractors: int = 0      # more documents in the bank beyond the batch's own
    bank_schedule: list = field(default_factory=lambda: [[0, 1], [500, 4], [1500, 8]])
    grad_fraction: float = 1.0      # backprop dropout: share of bank docs encoded with gradient
    aux_doc_weight: float = 0.0     # weight of the document-reconstruction loss behind the prefix
    aux_doc_tokens: int = 64        # document tokens that loss predicts
    hier_group: int = 16            # M: group size of hierarchical aggregation
    max_steps: int = 4000
    lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_questions: int = 256
    checkpoint_every: int = 250
    seed: int = 1337


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        f = names[key]
        sub = _nested_type(cls, f.name)
        if sub is not None:
            kwargs[key] = _from_dict(sub, value, f"{where}.{key}")
            continue
        default = getattr(cls(), key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected true/false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            if isinstance(default, int) and not isinstance(default, bool) and value != int(value):
                raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
            value = type(default)(value)
        kwargs[key] = value
    return cls(**kwargs)


def _nested_type(cls, name: str):
    return {(PretrainConfig, "model"): GPTConfig, (MACTrainConfig, "mac"): MACConfig}.get((cls, name))


def load_config(cls, path: str | Path | None = None, overrides: dict | None = None):
    """Defaults, then a JSON file, then overrides (dotted keys like "model.n_layer")."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p}: not valid JSON ({e})") from e
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _from_dict(cls, data, str(path) if path else cls.__name__)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)

"""MAC heads for the real LM, on a tiny random Gemma 3: the frozen cache, both designs' contracts,
the lmspace prefix's start inside the LM's own key/value space, training, resume and the collapse guard."""
from __future__ import annotations

import json

import pytest
import torch

from mnemo_models.mac import cache as mac_cache
from mnemo_models import train_heads
from mnemo_models.mac import train as train_mac_gemma
from mnemo_models.lm.gemma3 import Gemma3, Gemma3Config
from mnemo_models.lm.llama import float64_reference, inverse_frequencies
from mnemo_models.mac.heads import Heads, LMSpacePrefix
from mnemo_models.mac.parts import HeadsConfig
from mnemo_models.mac.student import losses, prefix_for
from mnemo_models.lm.quant_linear import QuantLinear, quantize_blocks
from mnemo_models.data.squad import QA, Paragraph

CFG = Gemma3Config(vocab_size=300, dim=32, n_layers=4, n_heads=2, n_kv_heads=1, head_dim=16, hidden_dim=64,
                   norm_eps=1e-6, rope_theta=1e6, rope_theta_local=1e4, sliding_window=64, global_every=2,
                   query_scale=0.25, max_positions=512)
PROMPTS = {"chat": "{user}\nA:", "system": "", "question": "Q: {question}",
           "gold": "P: {passage}\nQ: {question}", "passage_separator": " "}
encode = lambda text: [ord(c) % 290 + 10 for c in text]                         # noqa: E731
NEWLINE = 5


def lm():
    torch.manual_seed(0)
    m = Gemma3(CFG).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m.requires_grad_(False)


def paragraphs(n: int = 6) -> list[Paragraph]:
    return [
        Paragraph(
            f"article{i % 3 + 3 * (i // 3)}",
            i,
            f"passage {i} says the value is {i * 7}",
            [QA(f"q{i}a", f"what is the value {i}?", [f"{i * 7}"]), QA(f"q{i}b", f"which passage {i}?", [f"{i}"])],
        )
        for i in range(n)
    ]


def heads_for(m, design: str) -> Heads:
    torch.manual_seed(1)
    return Heads(HeadsConfig(design=design, n_slots=4, width=CFG.dim, n_head=2, mlp=48, rank=4, tap_layer=2), m)


def test_cache_record_matches_plain_forwards():
    m, p = lm(), paragraphs(1)[0]
    rec = mac_cache.paragraph_record(m, encode, PROMPTS, p, NEWLINE, top_k=5, layer=2)
    pre = encode(mac_cache.reader_prefix(PROMPTS))
    assert rec["doc_ids"] == encode(" " + p.context)
    full = mac_cache.tap_batch(m, [pre + rec["doc_ids"]], 2)[0]                  # the passage read in its frame
    assert torch.allclose(rec["doc_feat"].float(), full[len(pre):].float(), atol=2e-3)
    q = rec["questions"][1]
    gold = encode(mac_cache.render(PROMPTS, "gold", p.qas[1].question, p.context))
    ids = torch.tensor([gold + q["targets"][:-1]])
    S = ids.shape[1]
    logits, _ = m(ids, torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), m.empty_past())
    logp = torch.log_softmax(logits[0, len(gold) - 1:], -1)
    assert q["targets"][-1] == NEWLINE
    assert (q["topk_ids"] == torch.topk(logp, 5).indices).all()
    want = float(-logp[torch.arange(len(q["targets"])), torch.tensor(q["targets"])].mean())
    assert abs(q["nll"] - want) < 1e-4


def test_lmspace_prefix_starts_as_the_lms_own_keys_and_values():
    """A latent slot equal to a token's residual stream at layer l gives (with the adapter at its
    zero start) exactly the K/V the LM itself caches for that token at layer l and position p."""
    m = lm()
    prefix = LMSpacePrefix(HeadsConfig(n_slots=3, width=CFG.dim, rank=4), m)
    ids = torch.tensor([[11, 42, 77]])
    _, present = m(ids, torch.arange(3)[None], torch.ones(1, 3, dtype=torch.long), m.empty_past())
    for layer in range(CFG.n_layers):
        resid = m(ids, torch.arange(3)[None], torch.ones(1, 3, dtype=torch.long), m.empty_past(), tap_layer=layer,
                  stop_at_tap=True)                                              # (1, 3, D) input of block `layer`
        kv = prefix(resid)                                                       # (L, 2, 1, 1, 3, hd)
        assert torch.allclose(kv[layer], present[layer], atol=1e-4), layer


@pytest.mark.parametrize("design", ["lmspace", "select", "free"])
def test_heads_shapes_masks_and_hierarchy(design):
    m = lm()
    h = heads_for(m, design).eval()
    feat = torch.randn(2, 7, CFG.dim)
    mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    mods = h.amortizer(feat, mask)
    assert mods.shape == (2, 4, CFG.dim)
    alone = h.amortizer(feat[1:, :5], mask[1:, :5])                              # padding never attended
    assert torch.allclose(mods[1], alone[0], atol=1e-5)
    q = h.question_encoder(feat[:1], mask[:1])
    entries = torch.randn(1, 5, 4, CFG.dim)
    one, w1 = h.aggregate(q, entries.reshape(1, -1, CFG.dim))
    tree, w2 = h.aggregate_hierarchical(q, entries, group=8)                      # one group: the same
    assert torch.allclose(one, tree, atol=1e-5) and torch.allclose(w1.view(1, 5, 4).sum(-1), w2, atol=1e-5)
    deep, w3 = h.aggregate_hierarchical(q, entries, group=2)
    assert deep.shape == one.shape and float(w3.sum()) <= 1 + 1e-4
    past = h.prefix(one)
    assert past.shape == (CFG.n_layers, 2, 1, 1, 4, CFG.head_dim)


def cache(tmp_path, m):
    for split, paras in (("train", paragraphs(6)), ("valid", paragraphs(4))):
        d = tmp_path / split
        d.mkdir()
        recs = [mac_cache.paragraph_record(m, encode, PROMPTS, p, NEWLINE, top_k=5, layer=2) for p in paras]
        torch.save(recs[:3], d / "shard-00000.pt")
        torch.save(recs[3:], d / "shard-00001.pt")
        (d / "meta.json").write_text(json.dumps({"tap_layer": 2}))
    return recs


def test_a_step_trains_the_heads_and_never_the_lm(tmp_path):
    m = lm()
    recs = cache(tmp_path, m)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    h = heads_for(m, "lmspace")
    qs = [r["questions"][0] for r in recs[:2]]
    nll, soft, _ = losses(m, prefix_for(h, qs, [[r] for r in recs[:2]]), qs)
    (nll.mean() + soft.mean()).backward()
    assert all(p.grad is None for p in m.parameters())
    assert h.prefix.B.grad is not None and float(h.prefix.B.grad.abs().sum()) > 0
    shared = prefix_for(h, qs, None, shared=recs[:4], grad_docs=0.5, generator=torch.Generator().manual_seed(0))
    assert shared.shape[2] == 2
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def run(tmp_path, monkeypatch, *extra):
    m = lm()
    monkeypatch.setattr(train_mac_gemma, "load_frozen", lambda _b: (m, encode, {"id": "tiny"}))
    return train_heads.main(["--run", str(tmp_path / "run"), "--cache", str(tmp_path), "--bundle", str(tmp_path),
                                 "--slots", "4", "--batch", "2", "--probe-questions", "4", "--threads", "1", *extra])


def test_training_resumes_and_a_collapsed_run_stops(tmp_path, monkeypatch, capsys):
    cache(tmp_path, lm())
    monkeypatch.setattr(train_mac_gemma, "HeadsConfig", lambda **k: HeadsConfig(**{**k, "width": CFG.dim, "n_head": 2,
                                                                                   "mlp": 48, "rank": 4}))
    assert run(tmp_path, monkeypatch, "--steps", "4", "--probe-every", "2", "--curriculum", "0:1,2:3") == 0
    assert run(tmp_path, monkeypatch, "--steps", "6", "--probe-every", "2") == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 4" in out and "stopped at step 6" in out
    rows = [json.loads(r) for r in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("probe")] == [0, 2, 4, 6]
    # lr 0: the free design stays at its near-neutral start, so the gold-vs-wrong gap stays ~0 and
    # the guard at step 2 must stop the run instead of training on.
    (tmp_path / "run2").mkdir()
    status = train_heads.main(["--run", str(tmp_path / "run2"), "--cache", str(tmp_path), "--bundle", str(tmp_path),
                                   "--slots", "4", "--batch", "2", "--probe-questions", "4", "--threads", "1",
                                   "--design", "free", "--lr", "0", "--steps", "20", "--probe-every", "2",
                                   "--guard-steps", "2"])
    assert status == train_mac_gemma.COLLAPSED
    assert "collapsed" in capsys.readouterr().out


def test_a_framed_prefix_is_the_gold_prompt_with_slots_for_its_passage():
    """Frame ids F and a latent equal to the residuals of passage tokens X (read after F) at layer l:
    at layer l the prefix is exactly the K/V the LM caches for F + X, and the slots sit at |F|.."""
    m = lm()
    frame, doc = [12, 40, 41], [77, 78]
    prefix = LMSpacePrefix(HeadsConfig(n_slots=2, width=CFG.dim, rank=4, frame_ids=tuple(frame)), m)
    ids = torch.tensor([frame + doc])
    S = ids.shape[1]
    _, present = m(ids, torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), m.empty_past())
    layer = 2
    resid = m(ids, torch.arange(S)[None], torch.ones(1, S, dtype=torch.long), m.empty_past(), tap_layer=layer,
              stop_at_tap=True)[:, len(frame):]                                   # the passage rows
    kv = prefix(resid)
    assert kv.shape == (CFG.n_layers, 2, 1, 1, len(frame) + len(doc), CFG.head_dim)
    assert torch.allclose(kv, torch.cat([present[:, :, :, :, :len(frame)], kv[:, :, :, :, len(frame):]], 4), atol=1e-5)
    assert torch.allclose(kv[layer], present[layer], atol=1e-4)


def test_an_empty_framed_bank_is_the_frame_alone(tmp_path):
    """The question-only control of a framed design: no slots, only the LM's own K/V of the frame."""
    m = lm()
    recs = cache(tmp_path, m)
    frame = (12, 40, 41)
    torch.manual_seed(1)
    h = Heads(HeadsConfig(design="lmspace", n_slots=4, width=CFG.dim, n_head=2, mlp=48, rank=4, tap_layer=2,
                          frame_ids=frame), m)
    qs = [recs[0]["questions"][0]]
    _, present = m(torch.tensor([frame]), torch.arange(3)[None], torch.ones(1, 3, dtype=torch.long), m.empty_past())
    empty = prefix_for(h, qs, [[]])
    assert empty.shape == present.shape and torch.allclose(empty, present, atol=1e-5)
    assert prefix_for(h, qs, [[recs[0]]]).shape[4] == len(frame) + 4


def test_fitted_adapters_start_at_the_least_squares_map_of_each_layer():
    m = lm()
    h = Heads(
        HeadsConfig(design="select", n_slots=2, width=CFG.dim, n_head=2, mlp=48, tap_layer=2, adapter="fitted"), m
    )
    rows = [[(7 * i + j) % 280 + 10 for j in range(30)] for i in range(8)]
    r2 = h.fit_adapters(m, rows, [(2, 30)] * 8, ridge=1e-4)
    assert len(r2) == CFG.n_layers and r2[2] > 0.99                              # the tap layer maps onto itself
    assert all(-1 < x <= 1 for x in r2)
    assert not torch.allclose(h.prefix.W[0], torch.eye(CFG.dim))


def test_uniform_fine_tuning_learns_the_stream_on_a_copy():
    from mnemo_models.eval.uniform import densify, finetune
    m = lm()
    doc = [[(3 * j) % 280 + 10 for j in range(20)]]
    x = torch.tensor(doc)

    def loss(model):
        logits, _ = model(x[:, :-1], torch.arange(19)[None], torch.ones(1, 19, dtype=torch.long), model.empty_past())
        return float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:]))
    tuned = densify(m)
    before = loss(m)
    finetune(tuned, doc, steps=5, lr=1e-2)
    assert loss(tuned) < before and loss(m) == before                            # the frozen LM is untouched


def test_gates_round_modulations_as_the_vault_stores_them():
    from mnemo_models.mac.storage import as_stored
    from mnemo_models.eval.gates import paired
    m = torch.randn(4, 32) * torch.tensor([[1.0], [10.0], [0.01], [0.0]])
    s = as_stored(m)
    scale = m.abs().amax(-1, keepdim=True) / 127
    assert torch.all((s - m).abs() <= scale / 2 + 1e-7) and torch.equal(s[3], m[3])
    assert len(torch.unique(s[1] / scale[1])) <= 255
    r = paired([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    assert r["diff"] == 2.0 and r["ci95"][0] < 2.0 < r["ci95"][1] and r["n"] == 3


def test_the_stream_gate_passes_only_when_both_intervals_clear_zero():
    from mnemo_models.eval.gates import stream_gate
    report = {"command": "mnemo eval ...", "bundle": "b", "modes": {"mac": {"f1": 10.0}},
              "deltas": {"mac-question-only": {"f1": 4.0, "ci95": [1.0, 7.0], "n": 300},
                         "mac-irrelevant": {"f1": 2.0, "ci95": [0.5, 4.0], "n": 300}}}
    assert stream_gate(report)["pass"] is True
    report["deltas"]["mac-irrelevant"]["ci95"] = [-0.1, 4.0]
    g = stream_gate(report)
    assert g["pass"] is False and g["mac_vs_irrelevant"]["diff"] == 2.0 and g["mac_f1"] == 10.0
    del report["deltas"]["mac-irrelevant"]
    with pytest.raises(SystemExit, match="lacks"):
        stream_gate(report)


def test_refreshing_the_stream_gate_keeps_the_measured_gates(tmp_path):
    from mnemo_models.gates import main
    gates = tmp_path / "gates.json"
    gates.write_text(json.dumps({"gate2_pass": True, "gate4_stream": {"pass": False}}))
    report = {"command": "mnemo eval ...", "bundle": "new", "modes": {"mac": {"f1": 14.3}},
              "deltas": {"mac-question-only": {"f1": 7.9, "ci95": [4.8, 11.3], "n": 300},
                         "mac-irrelevant": {"f1": 6.8, "ci95": [3.6, 10.1], "n": 300}}}
    (tmp_path / "eval.json").write_text(json.dumps(report))
    assert main(["--out", str(gates), "--stream", str(tmp_path / "eval.json"), "--refresh-stream"]) == 0
    r = json.loads(gates.read_text())
    assert r["gate2_pass"] is True and r["gate4_stream"]["bundle"] == "new" and r["gate4_stream"]["pass"] is True
    with pytest.raises(SystemExit):                                          # nothing to refresh
        main(["--out", str(tmp_path / "none.json"), "--stream", str(tmp_path / "eval.json"), "--refresh-stream"])


def test_cosine_schedule_warms_up_then_falls_to_the_floor():
    a = train_mac_gemma.argparse.Namespace(lr=1e-3, min_lr=1e-4, warmup=10, steps=110, decay="cosine")
    assert train_mac_gemma.learning_rate(a, 0) == pytest.approx(1e-4)            # warm-up: 1/10 of lr
    assert train_mac_gemma.learning_rate(a, 10) == pytest.approx(1e-3)
    assert train_mac_gemma.learning_rate(a, 60) == pytest.approx(5.5e-4)         # half way: the mean
    assert train_mac_gemma.learning_rate(a, 110) == pytest.approx(1e-4)
    assert train_mac_gemma.learning_rate(a, 500) == pytest.approx(1e-4)
    a.decay = "none"
    assert train_mac_gemma.learning_rate(a, 60) == pytest.approx(1e-3)


def test_a_run_can_start_from_exported_heads(tmp_path, monkeypatch, capsys):
    from mnemo_models.mac.export import save_heads
    m = lm()
    cache(tmp_path, m)
    h = heads_for(m, "lmspace")
    with torch.no_grad():
        h.prefix.B.add_(0.5)                                       # distinct from any fresh start
    monkeypatch.setattr(train_mac_gemma, "HeadsConfig", lambda **k: h.cfg)
    save_heads(h, tmp_path / "heads.pt", {})
    assert run(tmp_path, monkeypatch, "--init", str(tmp_path / "heads.pt"), "--lr", "0", "--steps", "2",
               "--probe-every", "2") == 0
    assert "started from the heads" in capsys.readouterr().out
    state = torch.load(tmp_path / "run" / "ckpt.pt")["model"]
    assert torch.allclose(state["prefix.B"], h.prefix.B.half().float())   # lr 0: the exported weights, kept
    other = heads_for(m, "select")
    monkeypatch.setattr(train_mac_gemma, "HeadsConfig", lambda **k: other.cfg)
    with pytest.raises(train_mac_gemma.checkpoint.CheckpointError, match="other heads"):
        run(tmp_path, monkeypatch, "--run", str(tmp_path / "run3"), "--init", str(tmp_path / "heads.pt"))


def q8_lm():
    """The tiny Gemma with 8-bit block weights, as the bundle build holds the real one."""
    torch.manual_seed(0)
    m = Gemma3(CFG, "q8").eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, mean=1.0, std=0.1)
    for layer in m.modules():
        if isinstance(layer, QuantLinear):
            w = torch.randn(layer.n_out, layer.n_in).numpy() * 0.3
            layer.load_blocks(*quantize_blocks(w, 8), 8)
    return m.requires_grad_(False)


@pytest.mark.parametrize("make", [lm, q8_lm])
def test_reference_values_run_in_float64_and_leave_the_lm_as_it_was(make):
    """What a bundle build writes into files (the frame's K/V, fixtures) is computed in float64 and
    rounded once, so another CPU's float32 kernels cannot change its bytes."""
    m = make()
    ids, pos, mask = torch.tensor([[12, 40, 41, 77, 78]]), torch.arange(5)[None], torch.ones(1, 5, dtype=torch.long)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    logits, present = m(ids, pos, mask, m.empty_past())
    with float64_reference(m):
        logits64, present64 = m(ids, pos, mask, m.empty_past(dtype=torch.float64))
    assert logits64.dtype == present64.dtype == torch.float64
    scale = logits.abs().max()
    assert 0 < (logits64.float() - logits).abs().max() / scale < 1e-5      # float32's own error, no more
    assert torch.allclose(present64.float(), present, rtol=1e-5, atol=1e-5 * present.abs().max())
    after = m.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    assert torch.equal(m(ids, pos, mask, m.empty_past())[0], logits)       # the float32 path as before


def test_rope_frequencies_are_rounded_from_float64():
    inv = inverse_frequencies(16, 1e6)
    exact = [1.0 / 1e6 ** (i / 16) for i in range(0, 16, 2)]
    assert inv.dtype == torch.float32 and inv.tolist() == [float(torch.tensor(x, dtype=torch.float32)) for x in exact]


def test_a_lone_entry_is_its_own_latent_only_for_slotwise_heads():
    """export_mac_gemma.one_entry_direct: select's aggregation only scales a lone entry's slots, which
    the prefix's RMS norm removes, so the engine may skip the question for a one-entry bank; lmspace
    pools across slots, so it may not."""
    from mnemo_models.mac.export import one_entry_direct
    m = lm()
    select = heads_for(m, "select")
    assert one_entry_direct(select)
    with torch.no_grad():
        select.aggregator.null.fill_(1.0)          # a null entry with content: the scale argument breaks
    assert not one_entry_direct(select)
    assert not one_entry_direct(heads_for(m, "lmspace"))

"""The entry selector (mac/selector.py): its scores, what it learns, how it is stored with the heads,
and the gates' use of it in front of a bank."""
from __future__ import annotations

import random

import pytest
import torch

from mnemo_models import gates as gates_command
from mnemo_models.eval import gates as gates_gemma
from mnemo_models.mac import selector as mac_selector
from mnemo_models.mac.selector import EntrySelector


@pytest.mark.parametrize("hidden", [0, 16])
def test_padding_never_changes_a_score(hidden):
    torch.manual_seed(0)
    sel = EntrySelector(32, 8, hidden)
    feat, mods = torch.randn(1, 5, 32), torch.randn(4, 3, 32)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    noisy = feat.clone()
    noisy[0, 3:] = torch.randn(2, 32) * 100
    assert torch.allclose(sel(feat, mask, mods), sel(noisy, mask, mods))
    assert sel(feat, mask, mods).shape == (1, 4)


def test_it_learns_to_find_the_entry_a_question_shares_a_token_with():
    """Each entry holds one marker vector among noise slots; a question holds the same marker among
    template tokens: after training the selector ranks the marked entry first among 16."""
    g = torch.Generator().manual_seed(0)
    D, T, E = 32, 4, 64
    markers = torch.randn(E, D, generator=g)
    mods = torch.randn(E, T, D, generator=g) * 0.5
    mods[:, 0] = markers
    template = torch.randn(3, D, generator=g)

    def questions(idx):
        return torch.stack(
            [torch.cat([template, markers[i : i + 1] + 0.3 * torch.randn(1, D, generator=g)]) for i in idx]
        )

    torch.manual_seed(0)
    sel = EntrySelector(D, 16)
    opt = torch.optim.Adam(sel.parameters(), lr=3e-3)
    mask = torch.ones(16, 4)
    for _ in range(150):
        idx = torch.randint(0, E, (16,), generator=g)
        loss = torch.nn.functional.cross_entropy(sel(questions(idx), mask, mods), idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    idx = torch.arange(16)
    with torch.no_grad():
        top = sel(questions(idx), mask, mods[:16]).argmax(-1)
    assert (top == idx).float().mean() >= 0.9


def test_candidates_hold_the_gold_paragraphs_and_their_articles():
    by_article = {"a": [0, 1, 2], "b": [3], "c": [4, 5]}
    batch = [{"article": "a", "para": 1}, {"article": "b", "para": 3}]
    got = mac_selector.candidates(batch, by_article, 6, 0, random.Random(0))
    assert got == [0, 1, 2, 3]
    assert set(mac_selector.candidates(batch, by_article, 6, 50, random.Random(0))) == set(range(6))


@pytest.mark.parametrize("hidden", [0, 16])
def test_a_checkpoint_reads_back_and_other_files_do_not(tmp_path, hidden):
    torch.manual_seed(0)
    sel = EntrySelector(32, 8, hidden)
    config = {"width": 32, "dim": 8, **({"hidden": hidden} if hidden else {})}     # older ones lack it
    torch.save({"model": sel.state_dict(), "config": config, "step": 5}, tmp_path / "ckpt.pt")
    back, top = mac_selector.load_selector(tmp_path / "ckpt.pt")
    feat, mask, mods = torch.randn(1, 3, 32), torch.ones(1, 3), torch.randn(5, 4, 32)
    assert top == 1 and torch.equal(back(feat, mask, mods), sel(feat, mask, mods))
    torch.save({"config": {}, "state": {}}, tmp_path / "heads.pt")
    assert mac_selector.load_selector(tmp_path / "heads.pt") is None


def test_gates_keep_the_preselected_entries_in_bank_order():
    by_value = lambda it, bank: torch.tensor([float(p["v"]) for p in bank])    # noqa: E731
    bank = [{"v": v, "name": n} for n, v in (("a", 1), ("b", 5), ("c", 3), ("d", 0))]
    pick = gates_gemma.selecting(lambda _: bank, by_value, 2)
    assert [p["name"] for p in pick({})] == ["b", "c"]
    assert gates_gemma.selecting(lambda _: bank[:2], by_value, 2)({}) == bank[:2]
    assert gates_gemma.selecting(lambda _: None, by_value, 1)({}) is None
    assert gates_gemma.selecting(lambda _: bank, None, 1)({}) == bank


def test_the_learned_scorer_reads_the_question_tap_and_the_stored_modulations():
    torch.manual_seed(0)
    sel = EntrySelector(8, 4)
    bank = [{"_mod": torch.randn(2, 8)} for _ in range(3)]
    it = {"q": {"q_feat": torch.randn(5, 8).half()}}
    got = gates_gemma.learned_scorer(sel)(it, bank)
    feat, mask = mac_selector.batch_feats([{"feat": it["q"]["q_feat"]}])
    assert torch.allclose(got, sel(feat, mask, torch.stack([p["_mod"] for p in bank]))[0])


def test_raw_baselines_find_a_document_by_its_tokens():
    """A question whose tap rows are a paragraph's tokens: the all-token MaxSim finds it every time;
    the slot MaxSim finds it only when the slots keep those tokens."""
    g = torch.Generator().manual_seed(0)
    paras = [{"doc_feat": torch.randn(6, 16, generator=g).half()} for _ in range(4)]
    qs = [
        {"feat": torch.cat([torch.randn(1, 16, generator=g), p["doc_feat"][:3].float()]), "para": i}
        for i, p in enumerate(paras)
    ]
    mods = torch.randn(4, 2, 16, generator=g)                              # slots unrelated to the tokens
    banks = [[i, *(j for j in range(4) if j != i)] for i in range(4)]
    r = mac_selector.raw_baselines(mods, qs, paras, banks)
    assert r["maxsim_all_tokens"] == 1.0
    mods_kept = torch.stack([p["doc_feat"][:2].float() for p in paras])   # slots that are the first tokens
    assert mac_selector.raw_baselines(mods_kept, qs, paras, banks)["maxsim_slots"] == 1.0


def test_the_unselected_gates_are_kept_beside_the_preselected_ones(tmp_path):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text('{"preselect": "dense", "gate4_pass": true}')
    old.write_text('{"gate3": {"64": 1}, "gate4": {"bank": 64}, "gate4_pass": false, "examples": []}')
    assert gates_command.main(["--out", str(new), "--merge-unselected", str(old)]) == 0
    import json
    r = json.loads(new.read_text())
    assert r["gate4_pass"] is True and r["without_preselection"] == {
        "gate3": {"64": 1},
        "gate4": {"bank": 64},
        "gate4_pass": False,
    }
    old.write_text('{"preselect": "dense"}')
    import pytest
    with pytest.raises(SystemExit):
        gates_command.main(["--out", str(new), "--merge-unselected", str(old)])


def test_fusion_ranks_and_reranking():
    from mnemo_models.eval.selector import hits, rerank, rrf
    dense = torch.tensor([[0.9, 0.8, 0.1, 0.7]])
    learned = torch.tensor([[0.0, 5.0, 9.0, 1.0]])
    # ranks: dense 1,2,4,3; learned 4,2,1,3 -> fused 1/61+1/64, 2/62, 1/64+1/61, 2/63: entry 1 wins
    assert rrf(dense, learned).argmax(-1).item() == 1
    assert torch.allclose(rrf(dense, learned)[0, 0], torch.tensor(1 / 61 + 1 / 64))
    # dense's top 2 (entries 0 and 1) reordered by learned: 1 first, 0 second; 2 never jumps in
    order = rerank(dense, learned, 2).argsort(-1, descending=True)[0].tolist()
    assert order[:2] == [1, 0] and order[2:] == [3, 2]
    gold = torch.tensor([3])
    assert hits(dense, gold, 1).item() == 0.0 and hits(dense, gold, 3).item() == 1.0


def test_the_committed_selector_loads_and_scores():
    """heads/gemma3-270m-mac.selector.pt (runs/selector-b, README: 84.2% top-1 at bank 64) is the
    one the gates' learned pre-selection names."""
    from pathlib import Path
    sel, top = mac_selector.load_selector(Path(__file__).resolve().parents[1] / "heads/gemma3-270m-mac.selector.pt")
    assert top == 1 and sel.q.in_features == 640 and sel.q.out_features == 128
    feat, mask = torch.randn(2, 7, 640), torch.ones(2, 7)
    assert sel(feat, mask, torch.randn(5, 16, 640)).shape == (2, 5)

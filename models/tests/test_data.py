"""Data hygiene, templates, tokenizer specials and the corpus record."""
import json

import pytest

from mnemo_models import corpus
from mnemo_models.prepare import TOKENIZER_DIR, tokenize_examples
from mnemo_models.squad import Paragraph, QA, answer_text, load_squad, prompt, short_context
from mnemo_models.tokenizer import load_sentencepiece, special_ids

VALID_TEXT = ("The committee met in the old northern library on a cold Tuesday morning to discuss "
              "the budget for the coming year and the repairs to the roof.")


def test_valid_text_never_enters_the_corpus(tmp_path):
    leak = "Minutes: " + VALID_TEXT[:-1] + " again."            # shares a long run with valid text
    sources = {"a": lambda: ["An unrelated paragraph about rivers and mountains in a distant country far away.",
                             leak, "An unrelated paragraph about rivers and mountains in a distant country far away."],
               "b": lambda: ["Short but distinct note on tea, biscuits and the weather in the afternoon today."]}
    record = corpus.build_corpus(sources, corpus.ValidFilter([VALID_TEXT]), tmp_path / "corpus.jsonl")
    texts = [json.loads(l)["text"] for l in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    assert leak not in texts and len(texts) == 2
    assert record["a"] == {"documents": 1, "bytes": len(texts[0]), "duplicates_dropped": 1, "valid_overlap_dropped": 1}
    valid_filter = corpus.ValidFilter([VALID_TEXT])
    assert not any(valid_filter.overlaps(t) for t in texts)


def test_squad_splits_share_no_paragraph_and_prepared_train_has_no_valid_overlap():
    train, valid = load_squad("train"), load_squad("valid")
    assert len(valid) == 1065 and sum(len(p.qas) for p in valid) == 5665
    assert not {p.context for p in train} & {p.context for p in valid}
    f = corpus.ValidFilter([p.context for p in valid[:50]])
    assert f.overlaps(valid[10].context)
    assert not f.overlaps(train[0].context)


def test_missing_squad_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="valid-v1.1.json.gz"):
        load_squad("valid", tmp_path)


def test_prompt_template_and_short_context():
    assert prompt("Who  wrote it?") == "Question: Who wrote it?\nAnswer:"
    assert prompt("Q?", "A  b\nc.") == "Context: A b c.\nQuestion: Q?\nAnswer:"
    ctx = "First one. The answer is 42 here. Third one. Fourth one. Fifth."
    assert short_context(ctx, "42") == "First one. The answer is 42 here. Third one."
    assert answer_text("  New   York ") == " New York"


def test_tokenizer_specials_and_answer_tokenization_is_context_free():
    sp = load_sentencepiece(TOKENIZER_DIR / "mnemo-8k.model")
    ids = special_ids(sp)
    assert (ids["unk"], ids["bos"], ids["eos"], ids["pad"]) == (0, 1, 2, 3)
    assert sp.encode("\n") == [ids["newline"]]
    assert 8000 <= sp.get_piece_size() <= 16000
    p, a = prompt("Where is the tower?"), answer_text("in Paris")
    assert sp.encode(p + a) == sp.encode(p) + sp.encode(a)   # no dummy prefix: answer ids never depend on the prompt
    para = Paragraph("t", 0, "The tower is in Paris.", [QA("q", "Where is the tower?", ["in Paris"])])
    ex = tokenize_examples([para], sp, ids["eos"])
    assert ex.q_answer[0][-1] == ids["eos"] and ex.q_prompt[0] == sp.encode(p)

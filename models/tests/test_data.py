"""SQuAD reading: the splits, a missing file named, the prompt template and short contexts."""
import pytest

from mnemo_models.data.squad import answer_text, load_squad, prompt, short_context


def test_squad_splits_share_no_paragraph():
    train, valid = load_squad("train"), load_squad("valid")
    assert len(valid) == 1065 and sum(len(p.qas) for p in valid) == 5665
    assert not {p.context for p in train} & {p.context for p in valid}


def test_missing_squad_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="valid-v1.1.json.gz"):
        load_squad("valid", tmp_path)


def test_prompt_template_and_short_context():
    assert prompt("Who  wrote it?") == "Question: Who wrote it?\nAnswer:"
    assert prompt("Q?", "A  b\nc.") == "Context: A b c.\nQuestion: Q?\nAnswer:"
    ctx = "First one. The answer is 42 here. Third one. Fourth one. Fifth."
    assert short_context(ctx, "42") == "First one. The answer is 42 here. Third one."
    assert answer_text("  New   York ") == " New York"

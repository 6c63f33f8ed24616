"""SQuAD's answer metrics and the bootstrap interval every measurement reports."""
import numpy as np

from mnemo_models.eval.metrics import bootstrap_ci, exact_match, f1, lenient_match, normalize, score


def test_squad_normalisation_and_metrics():
    assert normalize("The  Eiffel-Tower, in Paris!") == "eiffeltower in paris"
    assert exact_match("the Denver Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    assert exact_match("Denver Broncos won", ["Denver Broncos"]) == 0.0
    assert lenient_match("Denver Broncos won the game", ["Denver Broncos"]) == 1.0
    assert lenient_match("won by Denver", ["Denver Broncos"]) == 0.0
    assert abs(f1("Denver Broncos won", ["Denver Broncos"]) - 0.8) < 1e-9
    assert f1("nothing", ["Denver"]) == 0.0
    s = score(["Denver", "x"], [["Denver"], ["y"]])
    assert s["n"] == 2 and s["f1"] == 50.0 and s["em"] == 50.0


def test_bootstrap_interval_covers_the_mean_and_detects_a_shift():
    rng = np.random.default_rng(0)
    lo, hi = bootstrap_ci(rng.normal(0.0, 1.0, 400))
    assert lo < 0 < hi
    lo, hi = bootstrap_ci(rng.normal(1.0, 1.0, 400))
    assert 0 < lo < 1 < hi

"""Metrics and the promotion rule."""

from __future__ import annotations

import pytest

from pipeline.domain.learning.evaluation import compare_for_promotion, evaluate_predictions, report_markdown


def _m(score: float, n: int = 100) -> dict:
    return {"accuracy": score, "macro_f1": score, "n": n, "per_label": {}}


def _g(cand: float, ref: float) -> dict:
    return {"candidate": _m(cand), "reference": _m(ref)}


def test_evaluate_predictions_values() -> None:
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a"]
    m = evaluate_predictions(y_true, y_pred, ["a", "b", "c"])
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    # a: p=1/2 r=1/2 f=.5 ; b: p=2/3 r=1 f=.8 ; c: 0
    assert m["per_label"]["a"]["f1"] == pytest.approx(0.5)
    assert m["per_label"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_evaluate_predictions_counts_unknown_prediction_as_wrong() -> None:
    m = evaluate_predictions(["a", "b"], ["a", "zzz"], ["a", "b"])
    assert m["accuracy"] == 0.5 and m["per_label"]["b"]["recall"] == 0.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "match"),
    [
        (["a"], ["a", "b"], None, "1 items but y_pred has 2"),
        ([], [], None, "empty"),
        (["a", "q"], ["a", "a"], ["a"], "not in `labels`"),
    ],
)
def test_evaluate_predictions_bad_input(y_true, y_pred, labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate_predictions(y_true, y_pred, labels)


def test_promotes_when_beating_champion_and_keeping_general_ability() -> None:
    d = compare_for_promotion(_m(0.90), _m(0.85), _m(0.80), _g(0.79, 0.80))
    assert d.promote, d.reasons
    assert any("beats champion" in r for r in d.reasons)


@pytest.mark.parametrize(
    ("cand", "champ", "base", "general", "min_gain", "why"),
    [
        (0.85, 0.85, 0.80, _g(0.8, 0.8), 0.0, "does not beat champion"),  # a tie is not a win
        (0.86, 0.85, 0.80, _g(0.8, 0.8), 0.02, "does not beat champion"),  # below min_gain
        (0.90, 0.85, 0.80, _g(0.70, 0.80), 0.0, "loses general ability"),
        (0.90, 0.85, 0.80, None, 0.0, "general-ability metrics missing"),
        (0.90, 0.85, 0.95, _g(0.8, 0.8), 0.0, "worse than base"),
        (0.75, None, 0.80, _g(0.8, 0.8), 0.0, "does not beat base"),
    ],
)
def test_blocks_promotion(cand, champ, base, general, min_gain, why) -> None:
    d = compare_for_promotion(
        _m(cand), None if champ is None else _m(champ), _m(base), general, min_gain=min_gain
    )
    assert not d.promote
    assert any(why in r for r in d.reasons), d.reasons


def test_first_candidate_promoted_when_beating_base() -> None:
    d = compare_for_promotion(_m(0.9), None, _m(0.8), _g(0.8, 0.8))
    assert d.promote and "no champion yet" in d.reasons


def test_blocks_when_evaluated_on_different_held_out_sets() -> None:
    d = compare_for_promotion(_m(0.9, n=100), _m(0.5, n=90), _m(0.5, n=100), _g(0.8, 0.8))
    assert not d.promote and any("different held-out set" in r for r in d.reasons)


def test_general_check_optional_only_when_asked() -> None:
    assert compare_for_promotion(_m(0.9), _m(0.8), _m(0.7), None, require_general=False).promote


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "auc"}, "metric must be one of"),
        ({"min_gain": -0.1}, ">= 0"),
        ({"general": {"candidate": _m(0.8)}}, "reference"),
        ({"candidate": {"accuracy": 0.9, "n": 100}}, "no 'macro_f1'"),
    ],
)
def test_compare_bad_input(kwargs, match) -> None:
    args = {"candidate": _m(0.9), "champion": _m(0.8), "base": _m(0.7), "general": _g(0.8, 0.8)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        compare_for_promotion(**args)


def test_report_markdown_table() -> None:
    cand = evaluate_predictions(["a", "b", "b"], ["a", "b", "b"], ["a", "b"])
    base = evaluate_predictions(["a", "b", "b"], ["a", "a", "b"], ["a", "b"])
    d = compare_for_promotion(cand, None, base, None, require_general=False)
    md = report_markdown(cand, None, base, d)
    assert "| metric | candidate | champion | base |" in md
    assert "| accuracy | 1.0000 | — | 0.6667 |" in md
    assert "| a | 1.0000 | — | 0.6667 | 1 |" in md
    assert "**Decision:** promote" in md


def test_mcnemar_exact_p_values():
    from pipeline.domain.learning.evaluation import mcnemar

    # 10 discordant pairs all won by A: p = 2 * 0.5**10
    a = [True] * 10 + [True] * 5
    b = [False] * 10 + [True] * 5
    r = mcnemar(a, b)
    assert (r["only_a"], r["only_b"]) == (10, 0) and r["p_value"] == pytest.approx(2 * 0.5 ** 10, rel=1e-3)
    assert mcnemar([True, False], [True, False])["p_value"] == 1.0  # no discordant pairs
    with pytest.raises(ValueError):
        mcnemar([True], [])


def test_calibration_ece_and_bins():
    from pipeline.domain.learning.evaluation import calibration, reliability_png

    perfect = calibration([0.95] * 20, [True] * 19 + [False])
    assert perfect["ece"] == pytest.approx(0.0, abs=1e-9)
    over = calibration([0.9] * 10, [True] * 5 + [False] * 5)
    assert over["ece"] == pytest.approx(0.4) and over["bins"][0]["n"] == 10
    assert len(reliability_png(over)) > 100
    with pytest.raises(ValueError):
        calibration([], [])


def _m(f1, n=40):
    return {"accuracy": f1, "macro_f1": f1, "per_label": {}, "n": n}


def test_promotion_needs_a_significant_gain_and_retained_general_ability():
    from pipeline.domain.learning.evaluation import compare_for_promotion

    general_ok = {"candidate": _m(0.80), "reference": _m(0.85)}
    sig = {"only_a": 12, "only_b": 1, "p_value": 0.003}
    assert compare_for_promotion(_m(0.9), _m(0.8), _m(0.7), general_ok, significance=sig, alpha=0.05,
                                 min_gain=0.0, max_general_drop=1.0, min_general_retention=0.9).promote
    weak = {"only_a": 3, "only_b": 1, "p_value": 0.625}
    d = compare_for_promotion(_m(0.9), _m(0.8), _m(0.7), general_ok, significance=weak, alpha=0.05,
                              max_general_drop=1.0, min_general_retention=0.9)
    assert not d.promote and any("not significant" in r for r in d.reasons)
    forgot = {"candidate": _m(0.60), "reference": _m(0.85)}
    d = compare_for_promotion(_m(0.9), _m(0.8), _m(0.7), forgot, significance=sig, alpha=0.05,
                              max_general_drop=1.0, min_general_retention=0.9)
    assert not d.promote and any("retains 70.6%" in r for r in d.reasons)
    d = compare_for_promotion(_m(0.9), _m(0.8), _m(0.7), general_ok, alpha=0.05, max_general_drop=1.0)
    assert not d.promote and "significance test missing" in d.reasons


def test_paired_bootstrap_detects_a_consistent_gain_and_not_noise() -> None:
    import numpy as np

    from pipeline.domain.learning.evaluation import paired_bootstrap

    rng = np.random.default_rng(1)
    base = rng.uniform(1.5, 2.5, size=60)
    better = base - 0.2 + rng.normal(0, 0.05, size=60)  # lower on almost every item
    r = paired_bootstrap(better, base)
    assert r["p_value"] < 0.01 and r["ci_high"] < 0 and abs(r["diff"] + 0.2) < 0.05
    noise = base + rng.normal(0, 0.3, size=60)
    r = paired_bootstrap(noise, base)
    assert r["p_value"] > 0.05 and r["ci_low"] < 0 < r["ci_high"]
    # weights: an item with zero weight cannot matter
    a, b = [1.0, 1.0, 9.0], [2.0, 2.0, 0.0]
    assert paired_bootstrap(a, b, weights=[1, 1, 0])["diff"] == -1.0


@pytest.mark.parametrize("a,b,kw,match", [
    ([1.0], [1.0, 2.0], {}, "equal 1-d lengths"),
    ([], [], {}, "at least one item"),
    ([float("nan")], [1.0], {}, "finite"),
    ([1.0], [1.0], {"n_boot": 10}, "n_boot"),
    ([1.0], [1.0], {"weights": [-1.0]}, "weights"),
])
def test_paired_bootstrap_bad_input(a, b, kw, match) -> None:
    from pipeline.domain.learning.evaluation import paired_bootstrap

    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b, **kw)


def test_loss_promotion_rule_needs_gain_significance_and_retention() -> None:
    from pipeline.domain.learning.evaluation import compare_losses_for_promotion

    sig = {"p_value": 0.001}
    assert compare_losses_for_promotion(1.2, 1.8, sig, 1.02).promote
    d = compare_losses_for_promotion(1.2, 1.8, {"p_value": 0.2}, 1.02)
    assert not d.promote and any("not significant" in r for r in d.reasons)
    d = compare_losses_for_promotion(1.2, 1.8, sig, 1.3)
    assert not d.promote and any("forgets general ability" in r for r in d.reasons)
    d = compare_losses_for_promotion(1.79, 1.8, sig, 1.0, min_gain=0.05)
    assert not d.promote and any("not lower" in r for r in d.reasons)
    assert not compare_losses_for_promotion(1.2, 1.8, sig, None).promote
    with pytest.raises(ValueError, match="reference loss"):
        compare_losses_for_promotion(1.0, 0.0, sig, 1.0)

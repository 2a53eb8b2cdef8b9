"""Label-noise audit (confident learning on out-of-fold probabilities): synthetic data only."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.domain.learning.noise import (
    FILTERS,
    audit_labels,
    calibrate_confident_joint,
    confident_joint,
    confident_thresholds,
    default_classifier,
    encode_labels,
    estimate_noise_rate,
    find_label_issues,
    fold_assignment,
    given_label_log_loss,
    noise_check,
    normalized_margin,
    out_of_fold_probabilities,
    review_tasks,
    self_confidence,
)


def _blobs(n_per: int = 200, k: int = 5, dim: int = 10, spread: float = 0.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 3.0
    y = np.repeat(np.arange(k), n_per)
    x = centers[y] + rng.normal(scale=spread, size=(len(y), dim))
    return x, y


def _flip(y: np.ndarray, k: int, rate: float, seed: int):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), round(rate * len(y)), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return noisy, idx


class _Memoriser:
    """Answers with the exact label of any row it was trained on, uniform otherwise."""

    def fit(self, x, y):
        self.seen = {tuple(r): int(lab) for r, lab in zip(x, y)}
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x):
        out = np.full((len(x), len(self.classes_)), 1.0 / len(self.classes_))
        col = {c: i for i, c in enumerate(self.classes_)}
        for r, row in enumerate(x):
            lab = self.seen.get(tuple(row))
            if lab is not None:
                out[r] = 0.0
                out[r, col[lab]] = 1.0
        return out


# -- out-of-fold probabilities -------------------------------------------------------------
def test_oof_probabilities_never_use_the_examples_own_label():
    """Each row has a unique feature a memorising classifier would recall; out of fold it
    can't, so every given label gets exactly the uniform probability."""
    rng = np.random.default_rng(1)
    n, k = 60, 3
    y = rng.integers(0, k, n)
    x = np.eye(n)  # unique, memorisable feature per example
    probs = out_of_fold_probabilities(x, y, k, n_folds=5, seed=0, make_classifier=_Memoriser)
    assert probs.shape == (n, k)
    np.testing.assert_allclose(probs[np.arange(n), y], 1.0 / k)
    # the same classifier in-sample would be certain: the test can fail
    m = _Memoriser().fit(x, y)
    assert np.all(m.predict_proba(x)[np.arange(n), y] == 1.0)


def test_oof_with_logistic_regression_cannot_memorise_random_labels():
    rng = np.random.default_rng(2)
    n = 50
    y = rng.integers(0, 2, n)
    x = np.hstack([np.eye(n) * 3.0, rng.normal(size=(n, 2))])
    probs = out_of_fold_probabilities(x, y, 2, n_folds=4, seed=0)
    assert probs[np.arange(n), y].mean() < 0.65
    in_sample = default_classifier().fit(x, y).predict_proba(x)[np.arange(n), y]
    assert in_sample.mean() > 0.9  # what a leak would look like


def test_folds_are_stratified_seeded_and_tolerate_small_classes():
    y = np.array([0] * 23 + [1] * 11 + [2] * 3 + [3])
    f = fold_assignment(y, n_folds=5, seed=7)
    assert np.array_equal(f, fold_assignment(y, n_folds=5, seed=7))
    assert not np.array_equal(f, fold_assignment(y, n_folds=5, seed=8))
    for c in range(4):
        counts = np.bincount(f[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    x = np.random.default_rng(0).normal(size=(len(y), 4))
    probs = out_of_fold_probabilities(x, y, 4, n_folds=5, seed=7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[-1, 3] == 0.0  # the single example of class 3 is never in its own training split


def test_singleton_class_is_skipped_not_flagged():
    x, y = _blobs(n_per=30, k=3)
    y = np.append(y, 2)
    x = np.vstack([x, x[0]])  # looks like class 0, only example of a new class 3
    y[-1] = 3
    audit, _ = audit_labels(x, y.tolist(), n_folds=5, seed=0)
    assert audit.skipped == [len(y) - 1]
    assert len(y) - 1 not in audit.flagged_indices
    assert audit.n_audited == len(y) - 1


# -- confident learning --------------------------------------------------------------------
P = np.array([
    [0.8, 0.1, 0.1],  # given 0
    [0.6, 0.3, 0.1],  # given 0
    [0.1, 0.8, 0.1],  # given 0, confidently 1
    [0.1, 0.7, 0.2],  # given 1
    [0.2, 0.5, 0.3],  # given 1, passes no threshold
    [0.1, 0.1, 0.8],  # given 2
    [0.2, 0.2, 0.6],  # given 2, passes no threshold
])
Y = np.array([0, 0, 0, 1, 1, 2, 2])


def test_confident_joint_on_a_constructed_matrix():
    np.testing.assert_allclose(confident_thresholds(P, Y), [0.5, 0.6, 0.7])
    cj, guess = confident_joint(P, Y, return_guess=True)
    np.testing.assert_array_equal(cj, [[2, 1, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(guess, [0, 0, 1, 1, -1, 2, -1])
    q = calibrate_confident_joint(cj, Y)
    np.testing.assert_allclose(q, np.array([[2, 1, 0], [0, 2, 0], [0, 0, 2]]) / 7)
    assert estimate_noise_rate(P, Y) == pytest.approx(1 / 7)


def test_ranking_scores():
    np.testing.assert_allclose(self_confidence(P, Y)[:3], [0.8, 0.6, 0.1])
    np.testing.assert_allclose(normalized_margin(P, Y)[:3], [0.7, 0.3, -0.7])


def test_confident_joint_takes_the_argmax_when_several_classes_pass():
    p = np.array([[0.35, 0.45, 0.2], [0.2, 0.1, 0.7]])
    cj = confident_joint(p, [2, 2], thresholds=np.array([0.3, 0.3, 0.3]))
    np.testing.assert_array_equal(cj, [[0, 0, 0], [0, 0, 0], [0, 1, 1]])


def test_find_label_issues_on_the_constructed_matrix():
    audit = find_label_issues(P, ["a", "a", "a", "b", "b", "c", "c"])
    assert audit.estimated_issues == 1
    assert audit.estimated_noise_rate == pytest.approx(1 / 7)
    [f] = audit.flagged
    assert (f.index, f.given_label, f.suggested_label) == (2, "a", "b")
    assert f.score == pytest.approx(0.9)
    assert audit.per_class["a"] == {"examples": 3, "flagged": 1, "suggested_into": 0, "estimated_issues": 1}
    assert audit.per_class["b"]["suggested_into"] == 1


@pytest.mark.parametrize("rate", [0.05, 0.15])
def test_flags_injected_flips_with_high_recall_and_precision(rate):
    x, y = _blobs(n_per=200, k=5, seed=3)
    noisy, idx = _flip(y, 5, rate, seed=4)
    audit, _ = audit_labels(x, noisy.tolist(), seed=0)
    flagged = set(audit.flagged_indices)
    truth = set(idx.tolist())
    recall = len(flagged & truth) / len(truth)
    precision = len(flagged & truth) / max(len(flagged), 1)
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)
    assert audit.estimated_noise_rate == pytest.approx(rate, abs=0.02)
    # suggestions point at the true class, scores are sorted
    right = sum(y[f.index] == f.suggested_label for f in audit.flagged if f.index in truth)
    assert right / len(flagged & truth) >= 0.9
    scores = [f.score for f in audit.flagged]
    assert scores == sorted(scores, reverse=True)


def test_clean_labels_give_a_near_zero_estimate():
    x, y = _blobs(n_per=150, k=4, seed=5)
    audit, _ = audit_labels(x, y.tolist(), seed=1)
    assert audit.estimated_noise_rate <= 0.01
    assert len(audit.flagged) <= 0.01 * len(y)


@pytest.fixture(scope="module")
def noisy_blobs():
    x, y = _blobs(n_per=100, k=4, seed=6)
    noisy, idx = _flip(y, 4, 0.1, seed=7)
    _, probs = audit_labels(x, noisy.tolist(), seed=0)
    return probs, noisy, idx


@pytest.mark.parametrize("filter_by", FILTERS)
def test_every_filter_finds_the_flips(filter_by, noisy_blobs):
    probs, noisy, idx = noisy_blobs
    audit = find_label_issues(probs, noisy.tolist(), filter_by=filter_by)
    flagged = set(audit.flagged_indices)
    assert len(flagged & set(idx.tolist())) >= 0.8 * len(idx)
    assert len(flagged - set(idx.tolist())) <= 0.2 * len(flagged)


def test_given_label_log_loss_prefers_the_better_model(noisy_blobs):
    probs, noisy, _ = noisy_blobs
    uniform = np.full_like(probs, 0.25)
    assert given_label_log_loss(uniform, noisy) == pytest.approx(np.log(4))
    assert given_label_log_loss(probs, noisy) < np.log(4)


def test_a_class_without_examples_is_tolerated():
    p = np.hstack([P, np.zeros((len(P), 1))])
    audit = find_label_issues(p, ["a", "a", "a", "b", "b", "c", "c"], ["a", "b", "c", "d"])
    assert audit.flagged_indices == [2]
    assert audit.per_class["d"] == {"examples": 0, "flagged": 0, "suggested_into": 0, "estimated_issues": 0}
    assert audit.thresholds[3] == np.inf


def test_pluggable_classifier_is_used():
    calls = []

    class Spy(_Memoriser):
        def fit(self, x, y):
            calls.append(len(y))
            return super().fit(x, y)

    x, y = _blobs(n_per=10, k=2)
    out_of_fold_probabilities(x, y, 2, n_folds=4, make_classifier=Spy)
    assert len(calls) == 4 and sum(calls) == 3 * 20  # each example trained on in 3 of 4 folds


# -- the check and the review tasks --------------------------------------------------------
def test_noise_check_passes_at_the_bound_and_warns_above():
    ok = noise_check(0.05, 0.05)
    assert ok.passed and ok.severity == "pass" and "5.0%" in ok.message
    warn = noise_check(0.0501, 0.05)
    assert not warn.passed and warn.severity == "warn" and "exceeds" in warn.message
    assert noise_check(0.0, 0.0).passed
    for bad in [(float("nan"), 0.1), (0.1, float("nan")), (-0.1, 0.1), (0.1, 1.5), ("0.1", 0.1)]:
        with pytest.raises(ValueError):
            noise_check(*bad)


def test_review_tasks_carry_only_id_labels_and_score():
    audit = find_label_issues(P, ["a", "a", "a", "b", "b", "c", "c"])
    ids = [f"ex-{i}" for i in range(7)]
    tasks = review_tasks(audit, ids)
    assert tasks == [{"id": "ex-2", "given_label": "a", "suggested_label": "b", "score": 0.9}]
    assert review_tasks(audit)[0]["id"] == 2
    assert review_tasks(audit, ids, limit=0) == []
    with pytest.raises(ValueError, match="6 ids for 7 examples"):
        review_tasks(audit, ids[:6])


# -- bad input -----------------------------------------------------------------------------
def test_errors_on_bad_input():
    labels = ["a", "a", "a", "b", "b", "c", "c"]
    with pytest.raises(ValueError, match="shape mismatch"):
        find_label_issues(P, labels[:6])
    with pytest.raises(ValueError, match="shape mismatch"):
        find_label_issues(P, labels, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="not in classes"):
        find_label_issues(P, labels[:6] + ["z"], ["a", "b", "c"])
    bad = P.copy()
    bad[0, 0] = 0.5
    with pytest.raises(ValueError, match="sum to 1"):
        find_label_issues(bad, labels)
    bad[0] = [np.nan, 0.5, 0.5]
    with pytest.raises(ValueError, match="NaN"):
        find_label_issues(bad, labels)
    with pytest.raises(ValueError, match="NaN"):
        encode_labels(["a", float("nan")])
    with pytest.raises(ValueError, match="filter_by"):
        find_label_issues(P, labels, filter_by="vibes")
    with pytest.raises(ValueError, match="not in classes"):
        confident_joint(P, [0, 0, 0, 1, 1, 2, 3])
    x = np.ones((7, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        out_of_fold_probabilities(x, Y, 3, n_folds=2)
    with pytest.raises(ValueError, match="shape mismatch"):
        out_of_fold_probabilities(np.ones((6, 2)), Y, 3, n_folds=2)
    with pytest.raises(ValueError, match="n_folds"):
        fold_assignment(Y, n_folds=1)

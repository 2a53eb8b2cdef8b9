"""Active learning: uncertainty scores, k-center / representatives, the annotation-queue
selector's rules and tiers, and a toy simulation where it beats random sampling.

Synthetic numpy data only; no model is loaded.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from pipeline.domain.learning.active import (
    DIVERSITY,
    FAILURE,
    RANDOM_COMPLIANCE,
    TIER_AUTO,
    TIER_EXPERT,
    TIER_HUMAN,
    UNCERTAINTY,
    ReviewPolicy,
    asr_uncertainty,
    default_model,
    entropy_uncertainty,
    k_center_greedy,
    least_confidence,
    margin_uncertainty,
    representatives,
    select_for_annotation,
    simulate,
    uncertainty_scores,
)

P = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])


# ------------------------------------------------------------------ uncertainty
def test_margin_on_known_rows():
    assert margin_uncertainty(P) == pytest.approx([1.0, 0.0, 0.7, 1.0])


def test_entropy_is_normalised():
    h = entropy_uncertainty(P)
    assert h[1] == pytest.approx(0.0) and h[3] == pytest.approx(1.0)
    assert h[0] == pytest.approx(math.log(2) / math.log(3))
    assert entropy_uncertainty([[0.5, 0.5]]) == pytest.approx([1.0])


def test_least_confidence_rescaled():
    assert least_confidence(P) == pytest.approx([0.75, 0.0, 0.6, 1.0])


def test_single_class_column_is_certain():
    for f in (margin_uncertainty, entropy_uncertainty, least_confidence):
        assert f([[1.0], [1.0]]).tolist() == [0.0, 0.0]


def test_uncertainty_scores_dispatch_and_unknown_method():
    assert uncertainty_scores(P, "entropy") == pytest.approx(entropy_uncertainty(P))
    with pytest.raises(ValueError, match="unknown uncertainty method"):
        uncertainty_scores(P, "bald")


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        ([[np.nan, 1.0]], "NaN"),
        ([[0.2, 0.2]], "sum to 1"),
        ([0.5, 0.5], "2-D"),
        ([[1.5, -0.5]], "negative"),
    ],
)
def test_bad_probabilities_raise(probs, match):
    with pytest.raises(ValueError, match=match):
        margin_uncertainty(probs)


def test_asr_uncertainty_is_the_low_confidence_share():
    assert asr_uncertainty(0.25) == 0.25
    assert asr_uncertainty(None) == 1.0
    assert asr_uncertainty([0.1, None]).tolist() == [0.1, 1.0]
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        asr_uncertainty(1.2)
    with pytest.raises(ValueError, match="finite"):
        asr_uncertainty(float("nan"))


# ------------------------------------------------------------------ diversity
def _unit(deg):
    r = np.deg2rad(np.asarray(deg, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def test_k_center_picks_far_points_and_never_labelled():
    x = _unit([0, 10, 90, 180, 185])
    picks = k_center_greedy(x, 2, labelled=[0])
    assert picks.tolist() == [3, 2]  # 180 deg (farthest from 0), then 90 deg
    everything = k_center_greedy(x, 10, labelled=np.array([True, False, False, False, False]))
    assert sorted(everything.tolist()) == [1, 2, 3, 4] and 0 not in everything


def test_k_center_external_centres_weights_and_candidates():
    x = _unit([0, 10, 90, 180])
    assert k_center_greedy(x, 1, centres=_unit([180])).tolist() == [0]
    # weight makes a nearer row win
    assert k_center_greedy(x, 1, centres=_unit([0]), weights=[0, 0, 10, 1]).tolist() == [2]
    assert k_center_greedy(x, 3, candidates=[1, 2]).tolist() in ([1, 2], [2, 1])
    assert k_center_greedy(x, 0).tolist() == []
    with pytest.raises(ValueError, match="non-negative integer"):
        k_center_greedy(x, -1)
    with pytest.raises(ValueError, match="outside"):
        k_center_greedy(x, 1, labelled=[7])
    with pytest.raises(ValueError, match="NaN"):
        k_center_greedy([[np.nan, 1.0]], 1)


def test_k_center_is_fast_on_10k_by_384():
    x = np.random.default_rng(0).normal(size=(10_000, 384)).astype(np.float32)
    t0 = time.perf_counter()
    picks = k_center_greedy(x, 100, labelled=np.arange(1000))
    assert time.perf_counter() - t0 < 10.0  # ~0.2 s idle; generous for a shared machine
    assert len(set(picks.tolist())) == 100 and picks.min() >= 1000


def _blobs(seed=0, k=3, per=30, d=8, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = np.repeat(np.arange(k), per)
    return centres[y] + spread * rng.normal(size=(len(y), d)), y


def test_representatives_cover_every_cluster_and_skip_covered_ones():
    x, y = _blobs()
    picks = representatives(x, 3, seed=1)
    assert sorted(y[picks].tolist()) == [0, 1, 2]
    covered = np.flatnonzero(y == 0)[:2]
    picks = representatives(x, 2, labelled=covered, seed=1)
    assert sorted(y[picks].tolist()) == [1, 2]


# ------------------------------------------------------------------ selector
def _day(n=1000, seed=0, d=16, k=5):
    rng = np.random.default_rng(seed)
    ids = [f"call-{i:04d}" for i in range(n)]
    emb = rng.normal(size=(n, d)).astype(np.float32)
    logits = rng.normal(size=(n, k)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ids, emb, probs


def test_selector_rules_excluded_budget_failures_first():
    ids, emb, probs = _day()
    excluded = set(ids[:300])
    failures = {"call-0010": ["qa_fail"], "call-0500": ["escalation", "qa_fail"], "call-0600": "released_from_quarantine"}
    plan = select_for_annotation(ids, emb, probs, budget=40, seed=7, failures=failures, excluded=excluded)
    sel = plan.ids
    assert len(sel) == 40 and len(set(sel)) == 40
    assert not set(sel) & excluded  # call-0010 is a failure but already queued
    reasons = [s.reason for s in plan.selections]
    assert reasons[:2] == [FAILURE, FAILURE] and FAILURE not in reasons[2:]
    assert sel[0] == "call-0500"  # two flags before one
    assert plan.selections[0].flags == ("escalation", "qa_fail")
    assert reasons.count(RANDOM_COMPLIANCE) == 1  # 2 % of 40, at least one
    assert set(reasons[3:]) == {UNCERTAINTY}
    assert [s.rank for s in plan.selections] == list(range(40))


def test_uncertainty_picks_come_from_the_most_uncertain_pool():
    ids, emb, probs = _day()
    plan = select_for_annotation(ids, emb, probs, budget=30, seed=0,
                                 policy=ReviewPolicy(compliance_share=0.0))
    unc = margin_uncertainty(probs)
    top = set(np.array(ids)[np.argsort(-unc)[:60]].tolist())  # pool_factor 2 x 30
    assert set(plan.ids) <= top
    assert all(s.reason == UNCERTAINTY for s in plan.selections)


def test_batch_avoids_near_duplicates():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(40, 8))
    emb[1:4] = emb[0]  # four copies, all the most uncertain
    unc = np.full(40, 0.5)
    unc[:4] = 1.0
    plan = select_for_annotation(list(range(40)), emb, uncertainty=unc, budget=4, seed=0,
                                 policy=ReviewPolicy(compliance_share=0.0))
    assert plan.ids[0] == 0  # the most uncertain first
    assert sum(i < 4 for i in plan.ids) == 1  # pool of 8 = 4 copies + 4 others: one copy


def test_compliance_sample_is_seeded_and_order_independent():
    ids, emb, probs = _day()

    def comp(order, seed):
        o = np.asarray(order)
        plan = select_for_annotation([ids[i] for i in o], emb[o], probs[o], budget=100, seed=seed)
        return {s.id for s in plan.selections if s.reason == RANDOM_COMPLIANCE}

    a = comp(range(1000), 11)
    assert len(a) == 2  # 2 % of 100
    assert comp(np.random.default_rng(5).permutation(1000), 11) == a
    assert comp(range(1000), 12) != a


def test_compliance_never_draws_failures_and_is_kept_when_failures_flood():
    ids, emb, probs = _day(n=200)
    failures = {i: ["qa_fail"] for i in ids[:150]}
    plan = select_for_annotation(ids, emb, probs, budget=20, seed=0, failures=failures)
    reasons = [s.reason for s in plan.selections]
    assert reasons.count(RANDOM_COMPLIANCE) == 1 and reasons.count(FAILURE) == 19
    comp = [s.id for s in plan.selections if s.reason == RANDOM_COMPLIANCE]
    assert comp[0] not in failures


def test_cold_start_is_diversity_only():
    x, y = _blobs(k=4, per=50)
    ids = list(range(len(x)))
    plan = select_for_annotation(ids, x, None, budget=4, seed=0, policy=ReviewPolicy(compliance_share=0.0))
    assert {s.reason for s in plan.selections} == {DIVERSITY}
    assert sorted(y[plan.ids].tolist()) == [0, 1, 2, 3]  # one per cluster
    assert all(math.isnan(s.uncertainty) for s in plan.selections)
    # queued/labelled calls count as covered: a cluster already queued is skipped
    plan = select_for_annotation(ids, x, None, budget=3, seed=0, excluded=ids[:1],
                                 policy=ReviewPolicy(compliance_share=0.0))
    assert sorted(y[plan.ids].tolist()) == [1, 2, 3]


def test_tiers_within_the_stated_percentages():
    ids, emb, probs = _day(n=2000)
    failures = {i: ["escalation"] for i in ids[:5]}
    plan = select_for_annotation(ids, emb, probs, budget=1000, seed=0, failures=failures)
    shares = plan.shares()
    people = shares[TIER_HUMAN] + shares[TIER_EXPERT]
    assert shares[TIER_AUTO] == 1.0
    assert 0.05 <= people <= 0.10 and len(plan.selections) == 200  # capped at 10 %
    assert 0.01 <= shares[TIER_EXPERT] <= 0.02
    tiers = [s.tier for s in plan.selections]
    assert tiers[:5] == [TIER_EXPERT] * 5  # failures are reviewed by experts first
    assert all(s.tier == TIER_HUMAN for s in plan.selections if s.reason == RANDOM_COMPLIANCE)
    assert any("capped" in n for n in plan.notes)
    small = select_for_annotation(ids, emb, probs, budget=20, seed=0)
    assert len(small.selections) == 20 and any("below the 5% floor" in n for n in small.notes)


def test_budget_zero_and_everything_excluded():
    ids, emb, probs = _day(n=50)
    assert select_for_annotation(ids, emb, probs, budget=0, seed=0).ids == []
    assert select_for_annotation(ids, emb, probs, budget=5, seed=0, excluded=ids).ids == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": -1}, "budget must be >= 0"),
        ({"budget": 2.5}, "budget must be an integer"),
        ({"embeddings": np.zeros((3, 4))}, "10 ids but 3 embedding rows"),
        ({"probabilities": np.full((3, 2), 0.5)}, "10 ids but 3 probability rows"),
        ({"probabilities": np.full((10, 2), np.nan)}, "NaN"),
        ({"probabilities": np.full((10, 2), 0.4)}, "sum to 1"),
        ({"uncertainty": np.full(10, 0.5)}, "not both"),
        ({"ids": ["a"] * 10}, "duplicates"),
        ({"failures": {"nope": ["qa_fail"]}}, "not among the candidate ids"),
        ({"failures": ["c0"]}, "must map an id"),
    ],
)
def test_selector_bad_input(kwargs, match):
    args = {"ids": [f"c{i}" for i in range(10)], "embeddings": np.eye(10),
            "probabilities": np.full((10, 2), 0.5), "budget": 3, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        select_for_annotation(**args)


def test_selector_bad_uncertainty_and_policy():
    ids = list(range(4))
    with pytest.raises(ValueError, match="within"):
        select_for_annotation(ids, np.eye(4), uncertainty=[0, 0.5, 1.0, 2.0], budget=1, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        select_for_annotation(ids, np.eye(4), uncertainty=[0, np.nan, 1, 1], budget=1, seed=0)
    with pytest.raises(ValueError, match="expert_share"):
        ReviewPolicy(human_share=0.05, expert_share=0.1)
    with pytest.raises(ValueError, match="pool_factor"):
        ReviewPolicy(pool_factor=0.5)


def test_asr_scores_drive_the_queue():
    shares = [0.0, 0.9, 0.1, 0.8, 0.2, 0.7]
    plan = select_for_annotation(list("abcdef"), np.eye(6), uncertainty=asr_uncertainty(shares),
                                 budget=2, seed=0, policy=ReviewPolicy(compliance_share=0.0, human_share=None))
    assert set(plan.ids) == {"b", "d"}
    assert plan.to_rows()[0]["reason"] == UNCERTAINTY


# ------------------------------------------------------------------ simulation
def _toy(seed=2, k=6, d=12, n=2000, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    y = rng.integers(k, size=n)
    return (centres[y] + spread * rng.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_active_beats_random_on_a_clustered_toy_set():
    x, y = _toy()
    xp, yp, xv, yv = x[:1000], y[:1000], x[1000:], y[1000:]
    init = np.random.default_rng(0).choice(1000, 12, replace=False)
    curves = {
        s: simulate(xp, yp, xv, yv, initial=init, step=10, max_labelled=152, strategy=s,
                    model_factory=lambda: default_model(1.0), seed=0)
        for s in ("random", "active")
    }
    assert curves["active"].n_labelled == curves["random"].n_labelled == list(range(12, 153, 10))
    area = {s: float(np.mean(c.accuracy)) for s, c in curves.items()}
    assert area["active"] > area["random"] + 0.01, area
    target = 0.95 * max(curves["random"].accuracy[-1], curves["active"].accuracy[-1])
    assert curves["active"].fraction_to_reach(target) <= curves["random"].fraction_to_reach(target)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_simulate_stops_at_target_and_validates():
    x, y = _toy(n=400)
    c = simulate(x[:300], y[:300], x[300:], y[300:], initial=range(20), step=20, target_accuracy=0.0)
    assert c.n_labelled == [20] and c.fraction_to_reach(0.0) == pytest.approx(20 / 300)
    assert c.fraction_to_reach(1.01) is None
    with pytest.raises(ValueError, match="strategy"):
        simulate(x[:300], y[:300], x[300:], y[300:], initial=range(5), step=5, strategy="bald")
    with pytest.raises(ValueError, match="do not match"):
        simulate(x[:300], y[:299], x[300:], y[300:], initial=range(5), step=5)
    with pytest.raises(ValueError, match="step"):
        simulate(x[:300], y[:300], x[300:], y[300:], initial=range(5), step=0)

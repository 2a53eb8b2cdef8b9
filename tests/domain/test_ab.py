"""A/B on call outcomes: sample size, tests, and the promote / continue / rollback call."""

from __future__ import annotations

import random

import pytest

from pipeline.domain.learning.ab import (
    OUTCOME_EVENT,
    Arm,
    arms_from_events,
    bootstrap_mean_diff,
    compare,
    required_sample_size,
    two_proportion_test,
)


def test_sample_size_matches_the_textbook_formula():
    # p 0.5 -> 0.6, alpha 0.05 two-sided, power 0.8: about 388 per arm
    assert 380 <= required_sample_size(0.5, 0.1) <= 395
    assert required_sample_size(0.5, 0.05) > 4 * required_sample_size(0.5, 0.1) - 50
    with pytest.raises(ValueError):
        required_sample_size(0.0, 0.1)


def test_two_proportion_test_known_value():
    r = two_proportion_test(50, 100, 65, 100)  # z about 2.14
    assert r["diff"] == pytest.approx(0.15) and r["z"] == pytest.approx(2.14, abs=0.01)
    assert r["p_value"] == pytest.approx(0.032, abs=0.002)
    assert two_proportion_test(0, 10, 0, 10)["p_value"] == 1.0


def test_bootstrap_detects_a_shift_and_not_noise():
    rng = random.Random(1)
    a = [rng.gauss(300, 30) for _ in range(300)]
    b = [rng.gauss(330, 30) for _ in range(300)]
    r = bootstrap_mean_diff(a, b)
    assert r["ci_low"] > 0 and r["p_value"] < 0.01
    same = bootstrap_mean_diff(a, list(reversed(a)))  # the same calls: no difference to find
    assert same["ci_low"] < 0 < same["ci_high"] and same["p_value"] > 0.5


def _arm(version, n, resolved_rate, escalated_rate, seed, handle=300.0):
    rng = random.Random(seed)
    events = [{"type": OUTCOME_EVENT, "payload": {"adapter_version": version, "resolved": rng.random() < resolved_rate,
                                                  "escalated": rng.random() < escalated_rate,
                                                  "handle_time_s": rng.gauss(handle, 20)}} for _ in range(n)]
    return arms_from_events(events + [{"type": "llm.response", "payload": {}}])[version]


def test_compare_recommends_rollback_promote_or_continue():
    old = _arm("v0001", 1500, 0.70, 0.10, 1)
    assert compare(old, _arm("v0002", 1500, 0.60, 0.10, 2)).recommendation == "rollback"
    assert compare(old, _arm("v0002", 1500, 0.70, 0.16, 3)).recommendation == "rollback"
    assert compare(old, _arm("v0002", 1500, 0.70, 0.10, 8, handle=340)).recommendation == "rollback"
    assert compare(old, _arm("v0002", 1500, 0.78, 0.10, 4)).recommendation == "promote"
    assert compare(old, _arm("v0002", 1500, 0.70, 0.10, 5)).recommendation == "continue"
    small = compare(_arm("v0001", 50, 0.7, 0.1, 6), _arm("v0002", 50, 0.2, 0.1, 7))
    assert small.recommendation == "continue" and "not enough calls" in small.reasons[0]


def test_outcome_events_without_a_version_are_ignored():
    arms = arms_from_events([{"type": OUTCOME_EVENT, "payload": {"resolved": True}},
                             {"type": OUTCOME_EVENT, "payload": {"adapter_version": "v1", "resolved": True}}])
    assert list(arms) == ["v1"] and arms["v1"].n == 1 and isinstance(arms["v1"], Arm)

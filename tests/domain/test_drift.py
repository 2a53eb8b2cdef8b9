"""Drift: fires on a shifted sample, stays quiet on a same-distribution sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.domain.insights.drift import (
    DEGRADATION_THRESHOLDS,
    PSI_THRESHOLDS,
    embedding_drift,
    kl_divergence,
    metric_drift,
    psi,
    severity,
    wasserstein,
)


def _normal(seed: int, n: int = 2000, loc: float = 0.0, shape: tuple[int, ...] = ()) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, 1.0, size=(n, *shape))


# ---------------------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "ok"), (0.049, "ok"), (0.05, "info"), (0.099, "info"), (0.10, "warning"), (0.2, "critical"), (3.0, "critical"), (-0.5, "ok")],
)
def test_severity_default_thresholds(value: float, expected: str) -> None:
    assert severity(value) == expected


def test_severity_custom_thresholds_and_bad_input() -> None:
    assert severity(0.15, *PSI_THRESHOLDS) == "info"
    assert severity(0.15, *DEGRADATION_THRESHOLDS) == "warning"
    with pytest.raises(ValueError, match="ascend"):
        severity(0.1, info=0.3, warning=0.2, critical=0.1)
    with pytest.raises(ValueError, match="must be a number"):
        severity(float("nan"))


# ------------------------------------------------------------------------ 1-D metrics


def test_identical_samples_have_zero_drift() -> None:
    x = _normal(1)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(x, x) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein(x, x) == 0.0


def test_same_distribution_is_quiet_shifted_one_fires() -> None:
    ref, same = _normal(1), _normal(2)
    shifted = _normal(2, loc=1.0)
    assert severity(psi(ref, same), *PSI_THRESHOLDS) == "ok"
    assert psi(ref, same) < 0.05
    assert severity(psi(ref, shifted), *PSI_THRESHOLDS) == "critical"
    assert kl_divergence(ref, shifted) > 10 * kl_divergence(ref, same)
    assert wasserstein(ref, shifted) == pytest.approx(1.0, abs=0.1)
    assert wasserstein(ref, same) < 0.1


def test_psi_handles_a_constant_reference() -> None:
    ref = np.full(100, 3.0)
    assert psi(ref, np.full(50, 3.0)) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, np.full(50, 9.0)) > 1.0


@pytest.mark.parametrize(
    ("ref", "cur", "bins", "message"),
    [
        ([], [1.0], 10, "reference sample is empty"),
        ([1.0, 2.0], [], 10, "current sample is empty"),
        ([1.0, float("nan")], [1.0], 10, "NaN or infinite"),
        ([1.0, 2.0], [float("inf")], 10, "NaN or infinite"),
        ([1.0, 2.0], [1.0], 1, "bins must be an integer >= 2"),
    ],
)
def test_psi_bad_input(ref: list, cur: list, bins: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        psi(ref, cur, bins)


# ------------------------------------------------------------------------- embeddings


def test_embedding_drift_quiet_on_same_distribution_fires_on_mean_shift() -> None:
    ref = _normal(10, n=1500, shape=(32,))
    same = _normal(11, n=1500, shape=(32,))
    shifted = same + 0.5  # every dimension moves half a standard deviation
    quiet = embedding_drift(ref, same)
    loud = embedding_drift(ref, shifted)
    assert quiet.severity == "ok" and quiet.psi < PSI_THRESHOLDS[0]
    assert loud.severity in ("warning", "critical") and loud.psi > 5 * quiet.psi
    assert loud.wasserstein > 5 * quiet.wasserstein
    assert len(loud.per_projection) == 8 and loud.n_ref == 1500 and loud.n_cur == 1500
    # deterministic for a seed
    assert embedding_drift(ref, shifted) == loud
    assert embedding_drift(ref, shifted, seed=1).per_projection != loud.per_projection


def test_embedding_drift_pca_sees_a_shift_along_the_main_axis() -> None:
    rng = np.random.default_rng(3)
    scale = np.ones(16)
    scale[0] = 5.0  # the reference varies mostly along dimension 0
    ref = rng.normal(size=(1000, 16)) * scale
    cur = rng.normal(size=(1000, 16)) * scale
    moved = cur.copy()
    moved[:, 0] += 5.0
    assert embedding_drift(ref, cur, n_projections=2, method="pca").severity == "ok"
    moved_result = embedding_drift(ref, moved, n_projections=2, method="pca")
    assert moved_result.per_projection[0]["psi"] > PSI_THRESHOLDS[2]
    assert moved_result.method == "pca" and moved_result.to_dict()["severity"] == moved_result.severity


@pytest.mark.parametrize(
    ("ref", "cur", "kwargs", "message"),
    [
        (np.zeros((20, 4)), np.zeros((20, 5)), {}, "widths differ"),
        (np.zeros(20), np.zeros((20, 4)), {}, "2-D"),
        (np.zeros((0, 4)), np.zeros((20, 4)), {}, "2-D"),
        (np.full((20, 4), np.nan), np.zeros((20, 4)), {}, "NaN"),
        (np.zeros((5, 4)), np.zeros((20, 4)), {}, "at least bins"),
        (np.zeros((20, 4)), np.zeros((20, 4)), {"n_projections": 0}, "n_projections"),
        (np.zeros((20, 4)), np.zeros((20, 4)), {"method": "umap"}, "method"),
    ],
)
def test_embedding_drift_bad_input(ref: np.ndarray, cur: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embedding_drift(ref, cur, **kwargs)


# ----------------------------------------------------------------------- scalar metric


def test_metric_drift_directions() -> None:
    # disclosure rate fell from 0.95 to 0.80: a 15.8 % degradation -> warning
    ref = [1] * 95 + [0] * 5
    cur = [1] * 80 + [0] * 20
    d = metric_drift(ref, cur, direction="higher_is_better")
    assert d.ref_mean == 0.95 and d.cur_mean == 0.8
    assert d.degradation == pytest.approx(0.15 / 0.95, abs=1e-6) and d.severity == "warning"
    # the same move of a lower-is-better metric is an improvement
    better = metric_drift(ref, cur, direction="lower_is_better")
    assert better.degradation < 0 and better.severity == "ok"
    assert metric_drift(ref, cur).severity == "warning"  # either direction
    # dead air up 25 % -> critical
    assert metric_drift([4.0, 4.0], [5.0, 5.0], direction="lower_is_better").severity == "critical"
    # same distribution, two draws: no drift
    assert metric_drift(_normal(1, loc=10), _normal(2, loc=10)).severity == "ok"


def test_metric_drift_drops_missing_values_and_zero_reference() -> None:
    d = metric_drift([1.0, None, float("nan"), 3.0], [2.0, None])
    assert d.n_ref == 2 and d.n_cur == 1 and d.dropped == 3 and d.severity == "ok"
    z = metric_drift([0.0, 0.0], [1.0])
    assert math.isinf(z.degradation) and z.severity == "critical" and z.to_dict()["degradation"] == "inf"
    assert metric_drift([0.0], [0.0]).degradation == 0.0


@pytest.mark.parametrize(
    ("ref", "cur", "kwargs", "message"),
    [
        ([None], [1.0], {}, "reference values: no numeric values"),
        ([1.0], [], {}, "current values: no numeric values"),
        ([1.0, "high"], [1.0], {}, "'high' is not a number"),
        ([1.0], [float("inf")], {}, "infinite"),
        ([1.0], [1.0], {"direction": "up"}, "unknown direction"),
    ],
)
def test_metric_drift_bad_input(ref: list, cur: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metric_drift(ref, cur, **kwargs)


def test_psi_fires_on_values_outside_the_reference_range() -> None:
    ref = np.linspace(0.0, 1.0, 1000)
    below = np.linspace(-2.0, -1.0, 1000)
    above = np.linspace(2.0, 3.0, 1000)
    assert severity(psi(ref, below), *PSI_THRESHOLDS) == "critical"
    assert severity(psi(ref, above), *PSI_THRESHOLDS) == "critical"
    assert psi(ref, np.linspace(0.0, 1.0, 500)) < 0.01

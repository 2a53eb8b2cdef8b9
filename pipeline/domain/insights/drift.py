"""Drift between a reference window and a current window: embeddings and scalar metrics.

What each number means and the thresholds it is judged by (all configurable):

- **PSI** (population stability index, :func:`psi`): bins are the deciles (``bins``
  quantiles) of the *reference*, plus one bin below its minimum and one above its maximum; PSI = sum((cur% - ref%) * ln(cur% / ref%)) with epsilon
  smoothing of empty bins. 0 = identical distributions. Its own conventional scale is
  < 0.10 stable, 0.10-0.25 moderate shift, > 0.25 major shift; :data:`PSI_THRESHOLDS`
  (info 0.10 / warning 0.20 / critical 0.25) follow it. Sampling noise alone gives about
  ``(bins - 1) * (1/n_ref + 1/n_cur)``, so compare windows of at least a few hundred rows.
- **KL** (:func:`kl_divergence`): KL(current || reference) over the same bins, in nats.
- **Wasserstein** (:func:`wasserstein`): earth mover's distance in the data's units; in
  :func:`embedding_drift` each projection is standardised by the reference's mean and
  std first, so it reads as "the mass moved this many reference standard deviations".
- **Relative degradation** (:func:`metric_drift`): how much the mean of a scalar
  analytics metric moved relative to the reference mean, counted in the bad direction;
  0.05 / 0.10 / 0.20 (5 / 10 / 20 %) map to info / warning / critical
  (:data:`DEGRADATION_THRESHOLDS`), which the drift asset maps to check severities.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

Severity = Literal["ok", "info", "warning", "critical"]
Direction = Literal["higher_is_better", "lower_is_better", "either"]
EPSILON = 1e-4
DEGRADATION_THRESHOLDS: tuple[float, float, float] = (0.05, 0.10, 0.20)
PSI_THRESHOLDS: tuple[float, float, float] = (0.10, 0.20, 0.25)


def severity(value: float, info: float = 0.05, warning: float = 0.10, critical: float = 0.20) -> Severity:
    """Map a drift value to ``ok`` / ``info`` / ``warning`` / ``critical``.

    Each threshold is inclusive (``value >= critical`` is critical). Thresholds must be
    ascending; a NaN value raises ``ValueError``.
    """
    if not info <= warning <= critical:
        raise ValueError(f"severity: thresholds must ascend, got info={info} warning={warning} critical={critical}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"severity: value must be a number, got {value!r}")
    if value >= critical:
        return "critical"
    if value >= warning:
        return "warning"
    if value >= info:
        return "info"
    return "ok"


def _as_1d(x: Any, what: str) -> "np.ndarray":
    import numpy as np

    arr = np.asarray(x, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values ({int((~np.isfinite(arr)).sum())} of {arr.size})")
    return arr


def _binned(ref: Any, cur: Any, bins: int) -> tuple["np.ndarray", "np.ndarray"]:
    """Smoothed bin proportions of ref and cur over quantile bins of ref.

    Edges are the distinct ``bins + 1`` quantiles of ref (min ... max). Bins are
    ``< min``, ``[min, e1]``, ``(e1, e2]`` ... ``(e_k-1, max]``, ``> max``, so values outside
    the reference's range (or off a constant reference) land in bins the reference does
    not fill. Bins empty in both samples are dropped before epsilon smoothing.
    """
    import numpy as np

    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    r = _as_1d(ref, "reference sample")
    c = _as_1d(cur, "current sample")
    edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, bins + 1)))

    def assign(x: "np.ndarray") -> "np.ndarray":
        idx = np.searchsorted(edges, x, side="left")
        idx[x == edges[0]] = 1
        idx[x > edges[-1]] = edges.size + 1
        return np.bincount(idx, minlength=edges.size + 2)

    r_counts, c_counts = assign(r), assign(c)
    keep = (r_counts + c_counts) > 0
    p = r_counts[keep] / r.size + EPSILON
    q = c_counts[keep] / c.size + EPSILON
    return p / p.sum(), q / q.sum()


def psi(ref: Any, cur: Any, bins: int = 10) -> float:
    """Population stability index of ``cur`` against ``ref`` (quantile bins of ref)."""
    import numpy as np

    p, q = _binned(ref, cur, bins)
    return float(np.sum((q - p) * np.log(q / p)))


def kl_divergence(ref: Any, cur: Any, bins: int = 10) -> float:
    """KL(current || reference) in nats over quantile bins of ``ref``."""
    import numpy as np

    p, q = _binned(ref, cur, bins)
    return float(np.sum(q * np.log(q / p)))


def wasserstein(ref: Any, cur: Any) -> float:
    """1-D Wasserstein (earth mover's) distance, in the samples' units (scipy)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(_as_1d(ref, "reference sample"), _as_1d(cur, "current sample")))


@dataclass(frozen=True)
class DriftResult:
    """Embedding drift, averaged over 1-D projections; ``severity`` is judged on ``psi``
    with ``thresholds`` (info, warning, critical)."""

    psi: float
    kl: float
    wasserstein: float
    per_projection: list[dict[str, float]]
    severity: Severity
    method: str = "random"
    n_ref: int = 0
    n_cur: int = 0
    thresholds: tuple[float, float, float] = PSI_THRESHOLDS

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for metadata / reports."""
        return {
            "psi": self.psi,
            "kl": self.kl,
            "wasserstein": self.wasserstein,
            "severity": self.severity,
            "method": self.method,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "thresholds": list(self.thresholds),
            "per_projection": self.per_projection,
        }


def _as_2d(x: Any, what: str) -> "np.ndarray":
    import numpy as np

    arr = np.asarray(x, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array (rows x dims), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def embedding_drift(
    ref: "np.ndarray",
    cur: "np.ndarray",
    n_projections: int = 8,
    seed: int = 0,
    bins: int = 10,
    method: Literal["random", "pca"] = "random",
    thresholds: tuple[float, float, float] = PSI_THRESHOLDS,
) -> DriftResult:
    """Drift of ``cur`` embeddings against ``ref`` (rows are vectors, same width).

    Both are projected onto ``n_projections`` directions — seeded random unit vectors
    (``method="random"``, sees a shift in any direction) or the top principal components
    of ``ref`` (``method="pca"``, most sensitive along the reference's main variation) —
    each projection is standardised by the reference's mean/std, and PSI, KL and
    Wasserstein are computed per projection and averaged. Deterministic for a seed.
    """
    import numpy as np

    r = _as_2d(ref, "reference embeddings")
    c = _as_2d(cur, "current embeddings")
    if r.shape[1] != c.shape[1]:
        raise ValueError(f"embedding widths differ: reference {r.shape[1]}, current {c.shape[1]}")
    if isinstance(n_projections, bool) or not isinstance(n_projections, int) or n_projections < 1:
        raise ValueError(f"n_projections must be an integer >= 1, got {n_projections!r}")
    if r.shape[0] < bins:
        raise ValueError(f"reference has {r.shape[0]} rows; need at least bins={bins}")
    if method == "random":
        dirs = np.random.default_rng(seed).standard_normal((r.shape[1], n_projections))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    elif method == "pca":
        centred = r - r.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        k = min(n_projections, vt.shape[0])
        dirs = vt[:k].T
    else:
        raise ValueError(f"method must be 'random' or 'pca', got {method!r}")
    rp, cp = r @ dirs, c @ dirs
    mu, sd = rp.mean(axis=0), rp.std(axis=0)
    sd[sd == 0] = 1.0
    rp, cp = (rp - mu) / sd, (cp - mu) / sd
    per = []
    for j in range(dirs.shape[1]):
        per.append(
            {
                "psi": round(psi(rp[:, j], cp[:, j], bins), 6),
                "kl": round(kl_divergence(rp[:, j], cp[:, j], bins), 6),
                "wasserstein": round(wasserstein(rp[:, j], cp[:, j]), 6),
            }
        )
    mean_psi = float(np.mean([p["psi"] for p in per]))
    return DriftResult(
        psi=round(mean_psi, 6),
        kl=round(float(np.mean([p["kl"] for p in per])), 6),
        wasserstein=round(float(np.mean([p["wasserstein"] for p in per])), 6),
        per_projection=per,
        severity=severity(mean_psi, *thresholds),
        method=method,
        n_ref=int(r.shape[0]),
        n_cur=int(c.shape[0]),
        thresholds=tuple(thresholds),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class MetricDrift:
    """Drift of one scalar metric's mean. ``relative_change`` is signed
    ``(cur - ref) / |ref|``; ``degradation`` is that change counted in the bad direction
    (negative = improvement); ``severity`` is judged on ``degradation``."""

    ref_mean: float
    cur_mean: float
    relative_change: float
    degradation: float
    severity: Severity
    direction: str
    n_ref: int
    n_cur: int
    dropped: int = 0
    thresholds: tuple[float, float, float] = field(default=DEGRADATION_THRESHOLDS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``inf`` becomes the string ``"inf"``)."""
        def f(x: float) -> float | str:
            return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

        return {
            "ref_mean": self.ref_mean,
            "cur_mean": self.cur_mean,
            "relative_change": f(self.relative_change),
            "degradation": f(self.degradation),
            "severity": self.severity,
            "direction": self.direction,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "dropped": self.dropped,
        }


def _clean(values: Iterable[Any], what: str) -> tuple[list[float], int]:
    kept: list[float] = []
    dropped = 0
    for v in values:
        if v is None:
            dropped += 1
            continue
        try:
            x = float(v)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what}: value {v!r} is not a number") from e
        if math.isnan(x):
            dropped += 1
            continue
        if math.isinf(x):
            raise ValueError(f"{what}: infinite value")
        kept.append(x)
    if not kept:
        raise ValueError(f"{what}: no numeric values (dropped {dropped} None/NaN)")
    return kept, dropped


def metric_drift(
    ref_values: Iterable[Any],
    cur_values: Iterable[Any],
    direction: Direction = "either",
    thresholds: tuple[float, float, float] = DEGRADATION_THRESHOLDS,
) -> MetricDrift:
    """Relative degradation of a scalar metric's mean, current vs reference window.

    ``direction``: ``higher_is_better`` (e.g. disclosure rate: a drop degrades),
    ``lower_is_better`` (e.g. dead air: a rise degrades) or ``either`` (any change, in
    absolute value). None/NaN values are dropped and counted; a reference mean of 0 gives
    ``inf`` degradation when the current mean differs (``0`` when it does not).
    """
    if direction not in ("higher_is_better", "lower_is_better", "either"):
        raise ValueError(f"metric_drift: unknown direction {direction!r}")
    ref, d1 = _clean(ref_values, "reference values")
    cur, d2 = _clean(cur_values, "current values")
    rm, cm = sum(ref) / len(ref), sum(cur) / len(cur)
    if rm == 0:
        rel = 0.0 if cm == 0 else math.copysign(math.inf, cm)
    else:
        rel = (cm - rm) / abs(rm)
    if direction == "higher_is_better":
        deg = -rel
    elif direction == "lower_is_better":
        deg = rel
    else:
        deg = abs(rel)
    return MetricDrift(
        ref_mean=round(rm, 6),
        cur_mean=round(cm, 6),
        relative_change=rel if math.isinf(rel) else round(rel, 6),
        degradation=deg if math.isinf(deg) else round(deg, 6),
        severity=severity(deg, *thresholds),
        direction=direction,
        n_ref=len(ref),
        n_cur=len(cur),
        dropped=d1 + d2,
        thresholds=tuple(thresholds),  # type: ignore[arg-type]
    )

"""A/B comparison of served adapter versions on call outcomes (pure domain).

Each served call reports an outcome event (``call.outcome``: the adapter version that
served it, resolved, escalated, handle time). Two versions are compared on the
resolution rate and the escalation rate (two-proportion z-tests) and on handle time (a
paired-free bootstrap of the difference in means). Nothing is decided before each arm has
the sample size a power calculation asks for; then the recommendation is ``rollback``
(the newer version is significantly worse on any outcome), ``promote`` (significantly
better on resolution and not worse on anything) or ``continue``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from scipy.stats import norm

OUTCOME_EVENT = "call.outcome"


@dataclass
class Arm:
    version: str
    n: int = 0
    resolved: int = 0
    escalated: int = 0
    handle_times: list[float] = field(default_factory=list)

    @property
    def resolution_rate(self) -> float:
        return self.resolved / self.n if self.n else float("nan")

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.n if self.n else float("nan")


def arms_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, Arm]:
    """Outcome events (``{"type": "call.outcome", "payload": {"adapter_version",
    "resolved", "escalated", "handle_time_s"}}``) summed per adapter version; other event
    types and outcomes without a version are ignored."""
    arms: dict[str, Arm] = {}
    for e in events:
        if e.get("type") != OUTCOME_EVENT:
            continue
        p = e.get("payload") or {}
        v = p.get("adapter_version")
        if not v:
            continue
        a = arms.setdefault(str(v), Arm(str(v)))
        a.n += 1
        a.resolved += int(bool(p.get("resolved")))
        a.escalated += int(bool(p.get("escalated")))
        if isinstance(p.get("handle_time_s"), (int, float)):
            a.handle_times.append(float(p["handle_time_s"]))
    return arms


def required_sample_size(p_base: float, min_effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Calls per arm to detect an absolute change ``min_effect`` of a rate ``p_base``
    with a two-sided two-proportion test at ``alpha`` and ``power``."""
    if not 0 < p_base < 1:
        raise ValueError(f"p_base must be in (0, 1), got {p_base}")
    if not 0 < min_effect < 1:
        raise ValueError(f"min_effect must be in (0, 1), got {min_effect}")
    p2 = min(max(p_base + min_effect, 1e-6), 1 - 1e-6)
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    pbar = (p_base + p2) / 2
    num = (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p_base * (1 - p_base) + p2 * (1 - p2))) ** 2
    return int(math.ceil(num / (p2 - p_base) ** 2))


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> dict[str, float]:
    """Two-sided z-test of p2 - p1 with the pooled variance: difference, z, p-value."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both arms need at least one call")
    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    if se == 0:
        return {"diff": p2 - p1, "z": 0.0, "p_value": 1.0}
    z = (p2 - p1) / se
    return {"diff": round(p2 - p1, 6), "z": round(z, 4), "p_value": round(float(2 * norm.sf(abs(z))), 6)}


def bootstrap_mean_diff(a: list[float], b: list[float], n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean(b) - mean(a) with a 95 % bootstrap interval and a two-sided bootstrap p-value."""
    import numpy as np

    if not a or not b:
        return {"diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_value": 1.0}
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    boots = (xb[rng.integers(0, len(xb), (n_boot, len(xb)))].mean(axis=1)
             - xa[rng.integers(0, len(xa), (n_boot, len(xa)))].mean(axis=1))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    p = min(1.0, 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean())))
    return {"diff": round(float(xb.mean() - xa.mean()), 4), "ci_low": round(float(lo), 4),
            "ci_high": round(float(hi), 4), "p_value": round(p, 6)}


@dataclass
class AbResult:
    recommendation: str  # "promote" | "continue" | "rollback"
    reasons: list[str]
    metrics: dict[str, Any]


def compare(old: Arm, new: Arm, alpha: float = 0.05, min_effect: float = 0.05, power: float = 0.8) -> AbResult:
    """Is ``new`` (the version now served) better or worse than ``old`` on outcomes?"""
    base_rate = old.resolution_rate if old.n and 0 < old.resolution_rate < 1 else 0.5
    need = required_sample_size(base_rate, min_effect, alpha, power)
    metrics: dict[str, Any] = {"old": old.version, "new": new.version, "n_old": old.n, "n_new": new.n,
                               "required_per_arm": need,
                               "resolution_old": round(old.resolution_rate, 4) if old.n else None,
                               "resolution_new": round(new.resolution_rate, 4) if new.n else None}
    if old.n < need or new.n < need:
        return AbResult("continue", [f"not enough calls yet: {old.n} and {new.n} of {need} per arm "
                                     f"(power {power} to see a {min_effect:.0%} change at alpha {alpha})"], metrics)
    res = two_proportion_test(old.resolved, old.n, new.resolved, new.n)
    esc = two_proportion_test(old.escalated, old.n, new.escalated, new.n)
    ht = bootstrap_mean_diff(old.handle_times, new.handle_times)
    metrics.update({"resolution": res, "escalation": esc, "handle_time": ht})
    worse = []
    if res["diff"] < 0 and res["p_value"] < alpha:
        worse.append(f"resolution rate fell by {-res['diff']:.1%} (p={res['p_value']:.3g})")
    if esc["diff"] > 0 and esc["p_value"] < alpha:
        worse.append(f"escalation rate rose by {esc['diff']:.1%} (p={esc['p_value']:.3g})")
    if ht["diff"] > 0 and ht["p_value"] < alpha:
        worse.append(f"handle time rose by {ht['diff']:.1f} s (p={ht['p_value']:.3g})")
    if worse:
        return AbResult("rollback", [f"{new.version} is worse than {old.version}: " + "; ".join(worse)], metrics)
    if res["diff"] > 0 and res["p_value"] < alpha:
        return AbResult("promote", [f"{new.version} resolves {res['diff']:.1%} more calls (p={res['p_value']:.3g}) "
                                    "and is not worse on escalation or handle time"], metrics)
    return AbResult("continue", ["no significant difference yet"], metrics)

"""Classifier evaluation and the promotion decision (pure domain).

Metrics come from scikit-learn (``evaluate.load`` needs the hub, which is unreachable).

Promotion rule (architecture invariant 6): a candidate adapter is promoted only if, on
the SAME held-out set,

* it beats the champion's primary metric by more than ``min_gain`` (or, with no
  champion yet, the base comparator's);
* it is not worse than the base comparator (frozen embeddings + logistic regression),
  unless ``must_beat_base=False``;
* it keeps general ability: on a fixed general-ability set its primary metric drops by at
  most ``max_general_drop`` against the reference (the champion's score there, or the
  base's when there is no champion). Missing general metrics block promotion unless
  ``require_general=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

METRICS = ("accuracy", "macro_f1")


@dataclass
class PromotionDecision:
    """Whether to promote, and why (every rule checked leaves a reason)."""

    promote: bool
    reasons: list[str] = field(default_factory=list)


def evaluate_predictions(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over ``labels``) and per-label precision/recall/F1/support.

    ``labels`` defaults to the sorted union of true and predicted labels. Predictions of
    a label outside ``labels`` count as wrong.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    if not y_true:
        raise ValueError("cannot evaluate an empty set of predictions")
    labels = sorted(set(y_true) | set(y_pred)) if labels is None else list(labels)
    if not labels:
        raise ValueError("labels is empty")
    unknown = sorted(set(y_true) - set(labels))
    if unknown:
        raise ValueError(f"y_true contains labels not in `labels`: {unknown}")
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    _, _, macro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    per_label = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro_f1),
        "per_label": per_label,
        "n": len(y_true),
    }


def _score(metrics: dict[str, Any], metric: str, what: str) -> float:
    if metric not in metrics:
        raise ValueError(f"{what} metrics have no {metric!r} (keys: {sorted(metrics)})")
    return float(metrics[metric])


def compare_for_promotion(
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    base: dict[str, Any],
    general: dict[str, Any] | None,
    min_gain: float = 0.0,
    max_general_drop: float = 0.02,
    metric: str = "macro_f1",
    must_beat_base: bool = True,
    require_general: bool = True,
) -> PromotionDecision:
    """Decide whether ``candidate`` replaces ``champion``.

    ``candidate``, ``champion`` and ``base`` are :func:`evaluate_predictions` outputs on
    the same held-out split (same ``n``). ``general`` is
    ``{"candidate": metrics, "reference": metrics}`` on a fixed general-ability set,
    where ``reference`` is the champion (or base) scored on that same set.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if min_gain < 0 or max_general_drop < 0:
        raise ValueError("min_gain and max_general_drop must be >= 0")
    reasons: list[str] = []
    ok = True

    cand = _score(candidate, metric, "candidate")
    n = candidate.get("n")
    if not n:
        return PromotionDecision(False, ["candidate was evaluated on an empty held-out set"])
    for name, other in (("champion", champion), ("base", base)):
        if other is not None and other.get("n") != n:
            ok = False
            reasons.append(
                f"{name} was evaluated on a different held-out set (n={other.get('n')} vs {n})"
            )

    base_score = _score(base, metric, "base")
    if champion is not None:
        champ = _score(champion, metric, "champion")
        if cand > champ + min_gain:
            reasons.append(f"beats champion on held-out {metric}: {cand:.4f} > {champ:.4f} + {min_gain}")
        else:
            ok = False
            reasons.append(f"does not beat champion on held-out {metric}: {cand:.4f} <= {champ:.4f} + {min_gain}")
    else:
        reasons.append("no champion yet")
        if cand > base_score + min_gain:
            reasons.append(f"beats base on held-out {metric}: {cand:.4f} > {base_score:.4f} + {min_gain}")
        else:
            ok = False
            reasons.append(f"does not beat base on held-out {metric}: {cand:.4f} <= {base_score:.4f} + {min_gain}")
    if must_beat_base and champion is not None:
        if cand >= base_score:
            reasons.append(f"not worse than base: {cand:.4f} >= {base_score:.4f}")
        else:
            ok = False
            reasons.append(f"worse than base on held-out {metric}: {cand:.4f} < {base_score:.4f}")

    if general is None:
        if require_general:
            ok = False
            reasons.append("general-ability metrics missing")
        else:
            reasons.append("general ability not checked (require_general=False)")
    else:
        if "candidate" not in general or "reference" not in general:
            raise ValueError("general must be {'candidate': metrics, 'reference': metrics}")
        g_c = _score(general["candidate"], metric, "general candidate")
        g_r = _score(general["reference"], metric, "general reference")
        drop = g_r - g_c
        if drop > max_general_drop + 1e-12:
            ok = False
            reasons.append(
                f"loses general ability: {metric} {g_c:.4f} vs reference {g_r:.4f} (drop {drop:.4f} > {max_general_drop})"
            )
        else:
            reasons.append(f"keeps general ability: {metric} drop {drop:.4f} <= {max_general_drop}")
    return PromotionDecision(ok, reasons)


def _fmt(m: dict[str, Any] | None, key: str) -> str:
    if m is None or key not in m:
        return "—"
    v = m[key]
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def report_markdown(
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    base: dict[str, Any],
    decision: PromotionDecision | None = None,
    general: dict[str, Any] | None = None,
    title: str = "Evaluation report",
) -> str:
    """A markdown report: candidate vs champion vs base (held-out), per-label F1, general
    ability and the promotion decision. Contains only metrics and label names."""
    cols = [("candidate", candidate), ("champion", champion), ("base", base)]
    lines = [f"### {title}", "", "| metric | candidate | champion | base |", "|---|---|---|---|"]
    for key in ("accuracy", "macro_f1", "n"):
        lines.append(f"| {key} | " + " | ".join(_fmt(m, key) for _, m in cols) + " |")
    if general is not None:
        lines.append(
            f"| general macro_f1 | {_fmt(general.get('candidate'), 'macro_f1')} | "
            f"{_fmt(general.get('reference'), 'macro_f1')} (reference) | — |"
        )
    labels = sorted(set(candidate.get("per_label", {})) | set(base.get("per_label", {})))
    if labels:
        lines += ["", "| label | candidate F1 | champion F1 | base F1 | support |", "|---|---|---|---|---|"]
        for lab in labels:
            cells = [_fmt((m or {}).get("per_label", {}).get(lab), "f1") for _, m in cols]
            support = _fmt(candidate.get("per_label", {}).get(lab), "support")
            lines.append(f"| {lab} | " + " | ".join(cells) + f" | {support} |")
    if decision is not None:
        lines += ["", f"**Decision:** {'promote' if decision.promote else 'keep champion'}", ""]
        lines += [f"- {r}" for r in decision.reasons]
    return "\n".join(lines) + "\n"

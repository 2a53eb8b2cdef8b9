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


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test on paired correctness of two classifiers over the same items:
    ``b`` = items only A gets right, ``c`` = only B; two-sided binomial p-value of the
    discordant pairs (p = 1.0 when there are none)."""
    from scipy.stats import binomtest

    if len(correct_a) != len(correct_b):
        raise ValueError(f"mcnemar: {len(correct_a)} vs {len(correct_b)} paired items")
    b = sum(1 for x, y in zip(correct_a, correct_b) if x and not y)
    c = sum(1 for x, y in zip(correct_a, correct_b) if y and not x)
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {"only_a": b, "only_b": c, "p_value": round(p, 6), "n": len(correct_a)}


def calibration(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error (equal-width bins over the top-class probability) and
    the reliability table: per bin the count, mean confidence and accuracy."""
    if len(confidence) != len(correct):
        raise ValueError(f"calibration: {len(confidence)} confidences vs {len(correct)} outcomes")
    if not confidence:
        raise ValueError("calibration of an empty set")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    table = []
    ece = 0.0
    n = len(confidence)
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        idx = [k for k, p in enumerate(confidence) if (lo < p <= hi) or (i == 0 and p == 0.0)]
        if not idx:
            continue
        conf = sum(confidence[k] for k in idx) / len(idx)
        acc = sum(1 for k in idx if correct[k]) / len(idx)
        ece += len(idx) / n * abs(acc - conf)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(idx), "confidence": round(conf, 4),
                      "accuracy": round(acc, 4)})
    return {"ece": round(ece, 4), "bins": table}


def reliability_png(cal: dict[str, Any], title: str = "reliability") -> str:
    """A reliability diagram (accuracy vs confidence per bin) as base64 PNG."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    xs = [b["confidence"] for b in cal["bins"]]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.plot(xs, [b["accuracy"] for b in cal["bins"]], marker="o")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {cal['ece']:.3f})")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def confusion_png(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> str:
    """The candidate's confusion matrix as base64 PNG (label names only)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    m = confusion_matrix(list(y_true), list(y_pred), labels=list(labels))
    size = max(3.0, 0.35 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size), dpi=80)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


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
    significance: dict[str, Any] | None = None,
    alpha: float | None = None,
    min_general_retention: float | None = None,
) -> PromotionDecision:
    """Decide whether ``candidate`` replaces ``champion``.

    ``candidate``, ``champion`` and ``base`` are :func:`evaluate_predictions` outputs on
    the same held-out split (same ``n``). ``general`` is
    ``{"candidate": metrics, "reference": metrics}`` on a fixed general-ability set,
    where ``reference`` is the champion (or base) scored on that same set.

    With ``alpha`` set, the gain must also be significant: ``significance`` is the
    :func:`mcnemar` result of candidate (A) vs the compared model (B) on the held-out
    items, and promotion needs more items only the candidate gets right and p < alpha.
    With ``min_general_retention`` set (e.g. 0.9, seed 000), the candidate must keep at
    least that share of the reference's general-ability score.
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

    if alpha is not None:
        if significance is None:
            ok = False
            reasons.append("significance test missing")
        elif significance["only_a"] > significance["only_b"] and significance["p_value"] < alpha:
            reasons.append(f"gain is significant: McNemar p={significance['p_value']:.4g} < {alpha} "
                           f"({significance['only_a']} vs {significance['only_b']} discordant items)")
        else:
            ok = False
            reasons.append(f"gain not significant: McNemar p={significance['p_value']:.4g} (needs < {alpha}), "
                           f"{significance['only_a']} vs {significance['only_b']} discordant items")

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
        if min_general_retention is not None and g_r > 0:
            kept = g_c / g_r
            if kept + 1e-12 < min_general_retention:
                ok = False
                reasons.append(f"retains {kept:.1%} of general ability (needs {min_general_retention:.0%})")
            else:
                reasons.append(f"retains {kept:.1%} of general ability (>= {min_general_retention:.0%})")
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


def paired_bootstrap(loss_a: Sequence[float], loss_b: Sequence[float], n_boot: int = 5000, seed: int = 0,
                     weights: Sequence[float] | None = None) -> dict[str, Any]:
    """Paired bootstrap of the mean loss difference ``a - b`` over the same items (e.g.
    per-dialog held-out loss of a candidate chat adapter vs the champion or the base).

    Items are resampled with replacement, keeping each pair together; ``weights`` (e.g.
    assistant-token counts) weight each item's loss in the mean. Returns ``{"n",
    "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value"}`` where ``p_value`` is the
    one-sided bootstrap p of "a is not lower than b" (the share of resamples with
    ``diff >= 0``, with the +1 correction), and the 95 % percentile interval."""
    import numpy as np

    a, b = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired losses need equal 1-d lengths, got {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("paired bootstrap needs at least one item")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("losses must be finite")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != a.shape or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be non-negative, one per item, not all zero")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    ws = w[idx]
    denom = np.where(ws.sum(1) > 0, ws.sum(1), 1.0)
    diffs = ((a - b)[idx] * ws).sum(1) / denom
    diff = float(((a - b) * w).sum() / w.sum())
    return {"n": int(len(a)), "mean_a": float((a * w).sum() / w.sum()), "mean_b": float((b * w).sum() / w.sum()),
            "diff": diff, "ci_low": float(np.percentile(diffs, 2.5)), "ci_high": float(np.percentile(diffs, 97.5)),
            "p_value": float((1 + (diffs >= 0).sum()) / (n_boot + 1))}


def compare_losses_for_promotion(
    candidate_loss: float,
    reference_loss: float,
    significance: dict[str, Any],
    general_ratio: float | None,
    alpha: float = 0.05,
    min_gain: float = 0.0,
    max_general_ratio: float = 1.0 / 0.9,
    reference: str = "champion",
) -> PromotionDecision:
    """The promotion rule for generative (chat) adapters, on held-out loss: the candidate's
    loss must be lower than the reference's (champion, or base before any champion) by
    more than ``min_gain`` (relative), significantly (:func:`paired_bootstrap` p <
    ``alpha``), and its loss on a general text set may grow at most to
    ``max_general_ratio`` × the reference's (1/0.9: keeps >= 90 % of general ability)."""
    reasons: list[str] = []
    ok = True
    if reference_loss <= 0:
        raise ValueError(f"reference loss must be > 0, got {reference_loss}")
    gain = 1.0 - candidate_loss / reference_loss
    if gain > min_gain:
        reasons.append(f"held-out loss {candidate_loss:.4f} < {reference}'s {reference_loss:.4f} "
                       f"({gain:.1%} lower, needs > {min_gain:.1%})")
    else:
        ok = False
        reasons.append(f"held-out loss {candidate_loss:.4f} is not lower than the {reference}'s {reference_loss:.4f} "
                       f"by more than {min_gain:.1%}")
    p = float(significance.get("p_value", 1.0))
    if p < alpha:
        reasons.append(f"significant (paired bootstrap p = {p:.4g} < {alpha})")
    else:
        ok = False
        reasons.append(f"gain not significant (paired bootstrap p = {p:.4g} >= {alpha})")
    if general_ratio is None:
        ok = False
        reasons.append("no general-ability loss measured")
    elif general_ratio <= max_general_ratio:
        reasons.append(f"keeps general ability (general loss ratio {general_ratio:.3f} <= {max_general_ratio:.3f})")
    else:
        ok = False
        reasons.append(f"forgets general ability (general loss ratio {general_ratio:.3f} > {max_general_ratio:.3f})")
    return PromotionDecision(ok, reasons)

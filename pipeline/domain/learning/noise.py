"""Label-noise audit before training (pure domain): confident learning on out-of-fold
predicted probabilities.

The audit answers two questions about a labelled training set without being told how
noisy it is: roughly what share of its labels is wrong, and which examples most likely are.

1. :func:`out_of_fold_probabilities` - seeded, stratified k-fold: every example's class
   probabilities come from a classifier that never saw that example (so it can never
   just echo its own label back). The classifier is pluggable (anything with ``fit`` and
   ``predict_proba``, optionally ``classes_``); the default is a scikit-learn
   multinomial logistic regression, meant for feature vectors such as frozen sentence
   embeddings.
2. Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating
   Uncertainty in Dataset Labels", JAIR 2021), written here (no cleanlab dependency):

   * per-class thresholds ``t_j`` = mean self-confidence ``p_j(x)`` over the examples
     whose given label is ``j`` (:func:`confident_thresholds`);
   * the confident joint ``C[i][j]``: examples given label ``i`` whose probability for
     class ``j`` reaches ``t_j`` (the argmax over all classes when several do, as
     cleanlab does) (:func:`confident_joint`), and its calibrated form, an estimate of
     the joint distribution of given and true labels (:func:`calibrate_confident_joint`);
   * the estimated number of label issues = the off-diagonal sum of the confident joint
     (cleanlab's ``num_label_issues`` default, "off_diagonal"); the estimated noise rate
     is that number over the audited examples;
   * which examples: ``filter_by="low_self_confidence"`` (default) ranks the audited
     examples by self-confidence ``p_given(x)`` and flags the estimated number with the
     lowest. Also available: ``"prune_by_noise_rate"`` (per (given, other) pair, the
     examples with the largest margin ``p_other - p_given``, counts from the calibrated
     joint), ``"prune_by_class"`` (per given class, the lowest self-confidence, counts
     from the calibrated joint) and ``"confident_joint"`` (the off-diagonal examples
     themselves).

3. :class:`NoiseAudit` (flagged examples with a suggested label and a score, the
   estimated noise rate, per-class counts), :func:`noise_check` (pass/warn against a
   bound; what the Dagster asset check calls) and :func:`review_tasks` (flagged items as
   review-task dicts: id, given label, suggested label, score - no text).

Classes with fewer examples than folds: folds are dealt per class, round robin from a
seeded offset, so such a class lands in fewer folds and its other examples stay in the
training side - nothing crashes. A class with a single example cannot be audited (no
classifier ever sees that class while predicting it): such examples are listed in
``NoiseAudit.skipped``, never flagged, and left out of thresholds and counts; the
probability columns of classes absent from a fold's training split are 0.

Pure logic: numpy and scikit-learn only (sklearn is imported lazily); no dagster import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FILTERS = ("low_self_confidence", "prune_by_noise_rate", "prune_by_class", "confident_joint")
#: rows of predicted probabilities must sum to 1 within this tolerance
PROB_SUM_TOL = 1e-3
_EPS = 1e-6  # threshold slack, as cleanlab


# -- input checks --------------------------------------------------------------------------
def encode_labels(
    labels: Sequence[Hashable], classes: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, list[Hashable]]:
    """Map labels to integer indices into ``classes``.

    ``classes`` defaults to the sorted distinct labels. Returns ``(y, classes)``.

    Raises:
        ValueError: no labels, a label missing from ``classes``, duplicate classes, NaN.
    """
    labels = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if not labels:
        raise ValueError("no labels given")
    for i, lab in enumerate(labels):
        if lab is None or (isinstance(lab, float) and math.isnan(lab)):
            raise ValueError(f"labels[{i}] is missing ({lab!r}; None/NaN): every example needs a label")
    if classes is None:
        try:
            classes = sorted(set(labels))
        except TypeError as e:
            raise ValueError(f"labels of mixed, unorderable types; pass classes= explicitly ({e})") from e
    classes = list(classes.tolist() if isinstance(classes, np.ndarray) else classes)
    if not classes:
        raise ValueError("classes is empty")
    index = {c: k for k, c in enumerate(classes)}
    if len(index) != len(classes):
        raise ValueError("classes contains duplicates")
    unknown = [lab for lab in labels if lab not in index]
    if unknown:
        shown = sorted({repr(u) for u in unknown})[:5]
        raise ValueError(
            f"{len(unknown)} label(s) not in classes, e.g. {', '.join(shown)}; "
            f"classes are {classes[:10]}{'...' if len(classes) > 10 else ''}"
        )
    return np.array([index[lab] for lab in labels], dtype=np.int64), classes


def _check_y(y: np.ndarray | Sequence[int], n_classes: int, n: int | None = None) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"shape mismatch: {n} rows of probabilities/features but {len(arr)} labels")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError("labels contain NaN")
        if not np.all(arr == np.round(arr)):
            raise ValueError("integer labels expected (class indices)")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"integer class indices expected, got dtype {arr.dtype}; use encode_labels()")
    arr = arr.astype(np.int64)
    if len(arr) and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"labels not in classes: indices must lie in [0, {n_classes}), got {arr.min()}..{arr.max()}")
    return arr


def check_pred_probs(pred_probs: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ``(n, K)`` probability matrix and ``n`` integer labels in ``[0, K)``.

    Returns float64 probabilities and int64 labels.

    Raises:
        ValueError: not 2-D, shape mismatch, NaN/inf, negative entries, rows not summing
            to 1 (within :data:`PROB_SUM_TOL`), labels outside ``[0, K)``.
    """
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"pred_probs must be 2-D (examples x classes), got shape {p.shape}")
    n, k = p.shape
    if n == 0 or k < 2:
        raise ValueError(f"pred_probs needs at least one example and two classes, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"pred_probs contains NaN or inf ({int((~np.isfinite(p)).sum())} entries)")
    if (p < 0).any():
        raise ValueError("pred_probs contains negative entries")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > PROB_SUM_TOL)
    if len(bad):
        raise ValueError(
            f"pred_probs rows must sum to 1: {len(bad)} row(s) do not, e.g. row {bad[0]} sums to {sums[bad[0]]:.6f}"
        )
    return p, _check_y(y, k, n)


def _check_features(features: Any, n: int) -> Any:
    if hasattr(features, "tocsr"):  # scipy sparse matrix: keep it sparse
        x = features.tocsr()
        data = x.data
    else:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2:
            raise ValueError(f"features must be 2-D (examples x features), got shape {x.shape}")
        data = x
    if x.shape[0] != n:
        raise ValueError(f"shape mismatch: {x.shape[0]} feature rows but {n} labels")
    if not np.isfinite(data).all():
        raise ValueError("features contain NaN or inf")
    return x


# -- out-of-fold probabilities -------------------------------------------------------------
def fold_assignment(y: np.ndarray | Sequence[int], n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Stratified fold index (``0..n_folds-1``) per example, seeded.

    Each class's examples are shuffled and dealt round robin starting at a random fold, so
    every class is spread as evenly as it can be; a class with fewer examples than folds
    simply occupies fewer folds (no error, unlike scikit-learn's StratifiedKFold).
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        folds[idx] = (np.arange(len(idx)) + int(rng.integers(n_folds))) % n_folds
    return folds


def default_classifier(seed: int = 0, C: float = 10.0, max_iter: int = 3000) -> Any:
    """Multinomial logistic regression (lbfgs). ``C=10`` had the lowest out-of-fold log
    loss on the given (noisy) labels among {3, 10, 30} for L2-normalised MiniLM
    embeddings of Banking77 - the same C as the base comparator in training.py."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=max_iter, random_state=seed)


class _Constant:
    """Stand-in when a training split holds one class only (sklearn refuses to fit)."""

    def __init__(self, label: int) -> None:
        self.classes_ = np.array([label])

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.ones((x.shape[0], 1))


def out_of_fold_probabilities(
    features: Any,
    y: np.ndarray | Sequence[int],
    n_classes: int | None = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    make_classifier: Callable[[], Any] | None = None,
) -> np.ndarray:
    """Out-of-fold predicted probabilities, shape ``(n, n_classes)``.

    Args:
        features: ``(n, d)`` array (or scipy sparse matrix) of feature vectors.
        y: integer labels in ``[0, n_classes)`` (see :func:`encode_labels`).
        n_classes: number of classes (default ``max(y) + 1``).
        n_folds, seed: stratified folds from :func:`fold_assignment`.
        make_classifier: zero-argument factory of a fresh classifier with ``fit(X, y)``
            and ``predict_proba(X)``; its columns follow ``classes_`` when it has one,
            else the sorted labels present in the training split. Default
            :func:`default_classifier`.

    Each example's row comes from a classifier fitted on the other folds only. Columns
    of classes absent from a fold's training split are 0; every row sums to 1.
    """
    y_arr = _check_y(y, np.iinfo(np.int64).max if n_classes is None else n_classes)
    if len(y_arr) < max(n_folds, 2):
        raise ValueError(f"{len(y_arr)} examples cannot be split into {n_folds} folds")
    if n_classes is None:
        n_classes = int(y_arr.max()) + 1
    x = _check_features(features, len(y_arr))
    factory = make_classifier or (lambda: default_classifier(seed=seed))
    folds = fold_assignment(y_arr, n_folds, seed)
    out = np.zeros((len(y_arr), n_classes), dtype=np.float64)
    for f in range(n_folds):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        if len(test) == 0:
            continue
        present = np.unique(y_arr[train])
        model = _Constant(int(present[0])) if len(present) == 1 else factory()
        if len(present) > 1:
            model.fit(x[train], y_arr[train])
        proba = np.asarray(model.predict_proba(x[test]), dtype=np.float64)
        cols = np.asarray(getattr(model, "classes_", present)).astype(np.int64)
        if proba.shape != (len(test), len(cols)):
            raise ValueError(f"classifier returned probabilities of shape {proba.shape}, expected {(len(test), len(cols))}")
        out[np.ix_(test, cols)] = proba
    sums = out.sum(axis=1, keepdims=True)
    sums[sums <= 0] = 1.0
    return out / sums


# -- confident learning --------------------------------------------------------------------
def confident_thresholds(pred_probs: Any, y: Any, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-class threshold ``t_j`` = mean ``p_j(x)`` over examples given label ``j``
    (only those in ``mask`` when given). A class with no such example gets ``inf``:
    nothing is ever confidently that class."""
    p, y = check_pred_probs(pred_probs, y)
    keep = np.ones(len(y), bool) if mask is None else np.asarray(mask, bool)
    k = p.shape[1]
    counts = np.bincount(y[keep], minlength=k)
    sums = np.bincount(y[keep], weights=p[keep, y[keep]], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    return t


def confident_joint(
    pred_probs: Any,
    y: Any,
    thresholds: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    return_guess: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The confident joint ``C`` (``K x K``, integer counts): ``C[i][j]`` counts the
    examples given label ``i`` that are confidently class ``j``: ``p_j(x) >= t_j``; when
    several classes pass, the one with the highest probability (cleanlab's rule).
    Examples passing no threshold are not counted.

    With ``return_guess=True`` also returns the per-example guessed class (``-1`` when
    none passes or the example is outside ``mask``).
    """
    p, y = check_pred_probs(pred_probs, y)
    keep = np.ones(len(y), bool) if mask is None else np.asarray(mask, bool)
    t = confident_thresholds(p, y, keep) if thresholds is None else np.asarray(thresholds, np.float64)
    if t.shape != (p.shape[1],):
        raise ValueError(f"thresholds must have shape ({p.shape[1]},), got {t.shape}")
    above = p >= t - _EPS
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, p.argmax(axis=1), above.argmax(axis=1))
    guess = np.where((n_above > 0) & keep, guess, -1)
    k = p.shape[1]
    cj = np.zeros((k, k), dtype=np.int64)
    counted = guess >= 0
    np.add.at(cj, (y[counted], guess[counted]), 1)
    return (cj, guess) if return_guess else cj


def calibrate_confident_joint(cj: np.ndarray, y: Any, n_classes: int | None = None) -> np.ndarray:
    """Calibrated joint ``Q`` (sums to 1): each row of the confident joint rescaled to the
    number of examples given that label, then normalised. ``Q[i][j]`` estimates
    P(given = i, true = j). A class with no confident count keeps its mass on the diagonal."""
    cj = np.asarray(cj, dtype=np.float64)
    if cj.ndim != 2 or cj.shape[0] != cj.shape[1]:
        raise ValueError(f"confident joint must be square, got shape {cj.shape}")
    k = cj.shape[0]
    y = _check_y(y, n_classes or k)
    given = np.bincount(y, minlength=k).astype(np.float64)
    rows = cj.sum(axis=1)
    q = np.zeros_like(cj)
    ok = rows > 0
    q[ok] = cj[ok] / rows[ok, None] * given[ok, None]
    empty = np.flatnonzero(~ok)
    q[empty, empty] = given[empty]  # rows with no confident count: assume clean
    total = q.sum()
    if total <= 0:
        raise ValueError("no examples to calibrate")
    return q / total


def _off_diagonal(m: np.ndarray) -> float:
    return float(m.sum() - np.trace(m))


def estimate_noise_rate(pred_probs: Any, y: Any, mask: np.ndarray | None = None) -> float:
    """Estimated share of wrong labels: off-diagonal mass of the confident joint over the
    audited examples (cleanlab's ``num_label_issues`` "off_diagonal" estimate)."""
    p, y = check_pred_probs(pred_probs, y)
    keep = np.ones(len(y), bool) if mask is None else np.asarray(mask, bool)
    cj = confident_joint(p, y, mask=keep)
    return _off_diagonal(cj) / max(int(keep.sum()), 1)


def self_confidence(pred_probs: Any, y: Any) -> np.ndarray:
    """``p_given(x)`` per example (low = likely mislabelled)."""
    p, y = check_pred_probs(pred_probs, y)
    return p[np.arange(len(y)), y]


def normalized_margin(pred_probs: Any, y: Any) -> np.ndarray:
    """``p_given(x) - max_{j != given} p_j(x)`` per example, in ``[-1, 1]``."""
    p, y = check_pred_probs(pred_probs, y)
    rows = np.arange(len(y))
    others = p.copy()
    others[rows, y] = -np.inf
    return p[rows, y] - others.max(axis=1)


def given_label_log_loss(pred_probs: Any, y: Any, eps: float = 1e-12) -> float:
    """Mean ``-log p_given(x)``: for choosing a classifier / its regularisation from
    out-of-fold probabilities using only the given labels (never the true ones)."""
    p, y = check_pred_probs(pred_probs, y)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0))))


def _lowest(values: np.ndarray, idx: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` entries of ``idx`` with the lowest ``values`` (ties broken by index)."""
    if count <= 0 or len(idx) == 0:
        return idx[:0]
    order = np.lexsort((idx, values[idx]))
    return idx[order[:count]]


def _select(p: np.ndarray, y: np.ndarray, keep: np.ndarray, cj: np.ndarray, guess: np.ndarray,
            filter_by: str) -> np.ndarray:
    n, k = p.shape
    sc = p[np.arange(n), y]
    audited = np.flatnonzero(keep)
    flags = np.zeros(n, bool)
    if filter_by == "low_self_confidence":
        flags[_lowest(sc, audited, round(_off_diagonal(cj)))] = True
        return flags
    if filter_by == "confident_joint":
        flags[(guess >= 0) & (guess != y)] = True
        return flags
    joint = calibrate_confident_joint(cj, y[keep], k)
    num = np.rint(joint * len(audited)).astype(np.int64)
    for i in range(k):
        idx = audited[y[audited] == i]
        if len(idx) == 0:
            continue
        if filter_by == "prune_by_class":
            flags[_lowest(sc, idx, int(num[i].sum() - num[i, i]))] = True
        else:  # prune_by_noise_rate: per (given i, true j) pair, largest margin p_j - p_i
            for j in np.flatnonzero(num[i]):
                if j != i:
                    margin = np.zeros(n)
                    margin[idx] = p[idx, i] - p[idx, j]
                    flags[_lowest(margin, idx, int(num[i, j]))] = True
    return flags


# -- the audit -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FlaggedExample:
    """One likely-mislabelled example.

    ``score`` = 1 - self-confidence (higher = more likely wrong); ``suggested_label`` is
    the most probable class other than the given one."""

    index: int
    given_label: Hashable
    suggested_label: Hashable
    score: float
    self_confidence: float


@dataclass
class NoiseAudit:
    """Result of a label-noise audit."""

    n_examples: int
    classes: list[Hashable]
    flagged: list[FlaggedExample]  # most suspicious first
    estimated_noise_rate: float  # off-diagonal confident joint / audited examples
    estimated_issues: int
    calibrated_noise_rate: float  # off-diagonal mass of the calibrated joint (for reference)
    per_class: dict[Hashable, dict[str, int]]
    skipped: list[int]  # examples whose class is too small to audit
    filter_by: str
    thresholds: np.ndarray = field(repr=False)
    confident_joint: np.ndarray = field(repr=False)

    @property
    def flagged_indices(self) -> list[int]:
        return [f.index for f in self.flagged]

    @property
    def n_audited(self) -> int:
        return self.n_examples - len(self.skipped)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-example list beyond indices)."""
        return {
            "n_examples": self.n_examples,
            "n_audited": self.n_audited,
            "n_classes": len(self.classes),
            "estimated_noise_rate": round(self.estimated_noise_rate, 6),
            "estimated_issues": self.estimated_issues,
            "calibrated_noise_rate": round(self.calibrated_noise_rate, 6),
            "flagged": len(self.flagged),
            "skipped": len(self.skipped),
            "filter_by": self.filter_by,
            "per_class": {str(_plain(c)): v for c, v in self.per_class.items()},
        }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def find_label_issues(
    pred_probs: Any,
    labels: Sequence[Hashable],
    classes: Sequence[Hashable] | None = None,
    *,
    filter_by: str = "low_self_confidence",
    min_class_size: int = 2,
) -> NoiseAudit:
    """Confident-learning audit of given ``labels`` against out-of-fold ``pred_probs``.

    Args:
        pred_probs: ``(n, K)`` out-of-fold probabilities, columns in ``classes`` order.
        labels: the given labels (any hashable values in ``classes``).
        classes: column order of ``pred_probs`` (default: sorted distinct labels, which
            must then number ``K``).
        filter_by: one of :data:`FILTERS` (see the module docstring).
        min_class_size: examples of classes with fewer given examples are not audited.

    Raises:
        ValueError: on bad input (see :func:`check_pred_probs`, :func:`encode_labels`).
    """
    if filter_by not in FILTERS:
        raise ValueError(f"filter_by must be one of {FILTERS}, got {filter_by!r}")
    if min_class_size < 1:
        raise ValueError(f"min_class_size must be >= 1, got {min_class_size}")
    y, classes = encode_labels(labels, classes)
    arr = np.asarray(pred_probs, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] != len(classes):
        raise ValueError(f"shape mismatch: pred_probs has {arr.shape[1]} columns but there are {len(classes)} classes")
    p, y = check_pred_probs(arr, y)
    n, k = p.shape
    counts = np.bincount(y, minlength=k)
    keep = counts[y] >= min_class_size
    thresholds = confident_thresholds(p, y, keep)
    cj, guess = confident_joint(p, y, thresholds, keep, return_guess=True)
    issues = round(_off_diagonal(cj))
    n_audited = int(keep.sum())
    rate = issues / n_audited if n_audited else 0.0
    cal = _off_diagonal(calibrate_confident_joint(cj, y[keep], k)) if n_audited else 0.0
    flags = _select(p, y, keep, cj, guess, filter_by) & keep

    sc = p[np.arange(n), y]
    others = p.copy()
    others[np.arange(n), y] = -np.inf
    suggested = others.argmax(axis=1)
    idx = np.flatnonzero(flags)
    idx = idx[np.lexsort((idx, sc[idx]))]
    flagged = [
        FlaggedExample(int(i), _plain(classes[y[i]]), _plain(classes[suggested[i]]),
                       float(1.0 - sc[i]), float(sc[i]))
        for i in idx
    ]
    flagged_given = np.bincount(y[idx], minlength=k)
    flagged_into = np.bincount(suggested[idx], minlength=k)
    row_issues = cj.sum(axis=1) - np.diag(cj)
    per_class = {
        classes[c]: {
            "examples": int(counts[c]),
            "flagged": int(flagged_given[c]),
            "suggested_into": int(flagged_into[c]),
            "estimated_issues": int(row_issues[c]),
        }
        for c in range(k)
    }
    return NoiseAudit(
        n_examples=n,
        classes=list(classes),
        flagged=flagged,
        estimated_noise_rate=float(rate),
        estimated_issues=issues,
        calibrated_noise_rate=float(cal),
        per_class=per_class,
        skipped=[int(i) for i in np.flatnonzero(~keep)],
        filter_by=filter_by,
        thresholds=thresholds,
        confident_joint=cj,
    )


def audit_labels(
    features: Any,
    labels: Sequence[Hashable],
    classes: Sequence[Hashable] | None = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    make_classifier: Callable[[], Any] | None = None,
    filter_by: str = "low_self_confidence",
) -> tuple[NoiseAudit, np.ndarray]:
    """Out-of-fold probabilities from ``features`` (:func:`out_of_fold_probabilities`),
    then :func:`find_label_issues`. Returns ``(audit, pred_probs)``."""
    y, classes = encode_labels(labels, classes)
    probs = out_of_fold_probabilities(
        features, y, len(classes), n_folds=n_folds, seed=seed, make_classifier=make_classifier
    )
    return find_label_issues(probs, [classes[i] for i in y], classes, filter_by=filter_by), probs


# -- what the product does with it ---------------------------------------------------------
@dataclass(frozen=True)
class NoiseCheck:
    """Outcome of :func:`noise_check`: ``severity`` is ``"pass"`` or ``"warn"``."""

    passed: bool
    severity: str
    message: str
    estimated_rate: float
    bound: float


def noise_check(estimated_rate: float, bound: float) -> NoiseCheck:
    """Pass when the estimated label-noise rate is at most ``bound`` (both in ``[0, 1]``),
    else warn: train anyway, but review the flagged examples first."""
    for name, v in (("estimated_rate", estimated_rate), ("bound", bound)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise ValueError(f"{name} must be a number, got {type(v).__name__}")  # noqa: TRY004 - one error type for bad input
        if math.isnan(float(v)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    rate, bound = float(estimated_rate), float(bound)
    if rate <= bound:
        return NoiseCheck(True, "pass", f"estimated label noise {rate:.1%} is within the bound {bound:.1%}", rate, bound)
    return NoiseCheck(
        False, "warn",
        f"estimated label noise {rate:.1%} exceeds the bound {bound:.1%}: review the flagged examples before training",
        rate, bound,
    )


def review_tasks(
    audit: NoiseAudit,
    ids: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Flagged examples as review-task dicts, most suspicious first:
    ``{"id", "given_label", "suggested_label", "score"}``. ``id`` is ``ids[index]`` when
    ``ids`` (one per audited example, e.g. example or call ids) is given, else the index.
    Nothing else about the example (no text) is included."""
    if ids is not None and len(ids) != audit.n_examples:
        raise ValueError(f"shape mismatch: {len(ids)} ids for {audit.n_examples} examples")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    items = audit.flagged if limit is None else audit.flagged[:limit]
    return [
        {
            "id": _plain(ids[f.index]) if ids is not None else f.index,
            "given_label": f.given_label,
            "suggested_label": f.suggested_label,
            "score": round(f.score, 6),
        }
        for f in items
    ]

"""Curation of the ``gold/training_datasets`` rows (pure domain; no dagster).

Two kinds of rows, both plain dicts whose text is ALREADY redacted:

* classification rows: ``{"call_id", "customer_id", "text", "label", "task", "weight",
  "source"}`` with ``task`` in :data:`TASKS` (``customer_id`` may be None: the call is
  then its own customer);
* chat SFT rows: ``{"call_id", "customer_id", "messages", "weight", "source"}`` where
  ``messages`` is a list of ``{"role": "system"|"user"|"assistant", "content"}``
  (whole calls, and seed-003 "Dojo" segment annotations).

The steps, in the order the asset runs them:

1. :func:`filter_rows` keeps rows of calls with training consent, a passed quality gate,
   verified redaction and a WER within bound; every dropped row is reported with a
   reason code (fail-closed: missing metadata drops).
2. :func:`assign_splits` splits by a seeded hash of the CUSTOMER (the call when there is
   none), so no customer spans two splits and a unit's split never changes when new
   units arrive; :func:`check_no_leakage` proves it on the result.
3. :func:`dedupe` removes exact duplicates (normalised text / messages) and, given
   embeddings, near-duplicates (cosine >= threshold). Rows are ranked train, validation,
   test (then by weight, then input order) and a row is dropped when a higher-ranked KEPT
   row duplicates it, so the eval-side copy goes and no kept validation/test row has a
   (near-)duplicate in train.
4. :func:`class_balance`, :func:`check_chat_format`, :func:`check_classification_format`
   (blocking format problems), :func:`dataset_card` (lineage; never lists customer ids),
   :func:`to_hf` and :func:`write_jsonl`.

Heavy libraries (``datasets``, tokenizers) are imported or used lazily.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.domain.learning.datasets import (  # noqa: F401 - read_jsonl is part of this module's API
    NO_TRAINING_CONSENT,
    SPLITS,
    _unit_hash,
    dataset_version,
    read_jsonl,
    write_chat_jsonl,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import datasets as hf_datasets
    import numpy as np

TASKS = ("intent", "outcome")
ROLES = ("system", "user", "assistant")
SPLIT_RANK = {name: i for i, name in enumerate(SPLITS)}  # train < validation < test

DEFAULT_MAX_WER = 0.25  # same bound as the quality gate (speech/quality.py)
DEFAULT_REDACTION_STATEMENT = (
    "All text was redacted before it entered this dataset (PII replaced by typed "
    "placeholders such as [NAME]); only calls whose redaction was verified and whose "
    "customer consented to training are included. The dataset lists no customer "
    "identifiers; calls are identified only by a hash of their sorted ids."
)

# filter_rows reason codes (one per dropped row, first failing check in this order)
MISSING_CALL_ID = "missing_call_id"
UNKNOWN_CALL = "unknown_call"  # no metadata for the call
# NO_TRAINING_CONSENT ("no_training_consent") is shared with datasets.py
QUALITY_FAILED = "quality_failed"
REDACTION_UNVERIFIED = "redaction_unverified"
WER_ABOVE_BOUND = "wer_above_bound"

# dedupe kinds
EXACT = "exact"
NEAR = "near"

# format problem codes
NOT_A_LIST = "messages_not_a_list"
BAD_MESSAGE = "bad_message"
BAD_ROLE = "bad_role"
EMPTY_CONTENT = "empty_content"
SYSTEM_NOT_FIRST = "system_not_first"
FIRST_NOT_USER = "first_not_user"
NOT_ALTERNATING = "roles_not_alternating"
NO_ASSISTANT_TURN = "no_assistant_turn"
TEMPLATE_ERROR = "template_error"
TOO_MANY_TOKENS = "too_many_tokens"
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
BAD_TASK = "bad_task"
BAD_WEIGHT = "bad_weight"

Row = dict[str, Any]
Problem = tuple[int, Any, str, str]  # (row index, call_id, code, detail)


# ---------------------------------------------------------------------------- filtering


def _wer_known(wer: Any) -> bool:
    return wer is not None and not (isinstance(wer, float) and math.isnan(wer))


def filter_rows(
    rows: Iterable[Row],
    calls_meta: Mapping[str, Mapping[str, Any]],
    max_wer: float | None = DEFAULT_MAX_WER,
) -> tuple[list[Row], list[tuple[str | None, str]]]:
    """Keep rows whose call may be trained on; report every dropped row.

    ``calls_meta`` maps ``call_id`` to ``{"consent_training", "quality_passed",
    "redaction_verified", "wer"}``. A row is kept only if its call has metadata, the
    three flags are exactly ``True`` (missing = not granted: fail-closed) and its WER is
    ``<= max_wer`` when known (``None``/NaN WER = unknown, not checked; ``max_wer=None``
    disables the bound). Returns ``(kept, dropped)``; ``dropped`` has one
    ``(call_id, reason_code)`` per dropped row, in input order, with the first failing
    reason of: ``missing_call_id``, ``unknown_call``, ``no_training_consent``,
    ``quality_failed``, ``redaction_unverified``, ``wer_above_bound``.
    """
    kept: list[Row] = []
    dropped: list[tuple[str | None, str]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"row #{i} is a {type(row).__name__}, expected a dict")
        cid = row.get("call_id")
        meta = calls_meta.get(cid) if cid else None
        if not cid:
            reason = MISSING_CALL_ID
        elif meta is None:
            reason = UNKNOWN_CALL
        elif meta.get("consent_training") is not True:
            reason = NO_TRAINING_CONSENT
        elif meta.get("quality_passed") is not True:
            reason = QUALITY_FAILED
        elif meta.get("redaction_verified") is not True:
            reason = REDACTION_UNVERIFIED
        elif max_wer is not None and _wer_known(meta.get("wer")) and float(meta["wer"]) > max_wer:
            reason = WER_ABOVE_BOUND
        else:
            kept.append(row)
            continue
        dropped.append((cid, reason))
    return kept, dropped


# ---------------------------------------------------------------------------- splitting


def _split_units(rows: Sequence[Row]) -> dict[str, str]:
    """call_id -> split unit key (``customer:<id>`` or ``call:<id>``). A call whose rows
    disagree on a (non-empty) customer is an error; a call with a customer on some rows
    and none on others belongs to that customer."""
    customer_of: dict[str, str | None] = {}
    for i, row in enumerate(rows):
        cid = row.get("call_id")
        if not cid:
            raise ValueError(f"row #{i} has no call_id")
        cust = row.get("customer_id") or None
        prev = customer_of.get(cid)
        if prev is not None and cust is not None and prev != cust:
            raise ValueError(f"call {cid!r} has rows with two different customers")
        customer_of[cid] = prev if cust is None else cust
    return {cid: (f"customer:{c}" if c is not None else f"call:{cid}") for cid, c in customer_of.items()}


def assign_splits(
    rows: Sequence[Row],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> list[Row]:
    """Return copies of ``rows`` with a ``"split"`` field (``train``/``validation``/``test``).

    The unit of splitting is the customer (``customer_id``); rows without one fall back
    to their call. A unit's split is a pure function of ``(seed, unit)`` (a SHA-256 based
    hash compared with the cumulative fractions), so all calls of a customer share a
    split, splits are deterministic, and adding new customers never moves existing ones.
    Customer-less calls hash exactly as :func:`~pipeline.domain.learning.datasets.split_by_call`
    would hash them. Small datasets may leave a split empty (no rebalancing: that would
    break stability); :func:`class_balance` reports it.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fractions)})")
    units = _split_units(rows)
    cut_train, cut_val = fractions[0], fractions[0] + fractions[1]

    def split_of(unit: str) -> str:
        kind, _, ident = unit.partition(":")
        u = _unit_hash(ident if kind == "call" else unit, seed)
        return "train" if u < cut_train else "validation" if u < cut_val else "test"

    by_unit = {unit: split_of(unit) for unit in set(units.values())}
    return [{**row, "split": by_unit[units[row["call_id"]]]} for row in rows]


def fill_empty_eval_splits(rows: Sequence[Row], seed: int = 0) -> list[Row]:
    """Small datasets only: with at least 3 split units and an empty test (or
    validation) split, move the train unit whose hash lies closest to that split's
    boundary into it, so evaluation always has data. Datasets whose splits are all
    populated are returned unchanged (the stability of :func:`assign_splits` holds)."""
    units = _split_units(rows)
    split_of_unit = {units[r["call_id"]]: r["split"] for r in rows}
    if len(split_of_unit) < 3:
        return [dict(r) for r in rows]

    def key(unit: str) -> float:
        kind, _, ident = unit.partition(":")
        return _unit_hash(ident if kind == "call" else unit, seed)

    for target in ("test", "validation"):
        members = [u for u, sp in split_of_unit.items() if sp == target]
        train = sorted((u for u, sp in split_of_unit.items() if sp == "train"), key=key)
        if not members and len(train) > 1:
            split_of_unit[train[-1]] = target
    return [{**r, "split": split_of_unit[units[r["call_id"]]]} for r in rows]


def check_no_leakage(rows: Iterable[Row]) -> list[tuple[str, str, list[str]]]:
    """Customers and calls found in more than one split, as ``(kind, id, splits)`` with
    kind ``"customer"`` or ``"call"`` and the sorted split names. Empty list = no leak.
    Rows without a ``split`` raise ValueError. (The ids are for the operator, not for the
    dataset card.)"""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for i, row in enumerate(rows):
        split = row.get("split")
        if not split:
            raise ValueError(f"row #{i} (call {row.get('call_id')!r}) has no split; run assign_splits first")
        if row.get("call_id"):
            seen[("call", row["call_id"])].add(split)
        if row.get("customer_id"):
            seen[("customer", row["customer_id"])].add(split)
    return sorted((kind, ident, sorted(s)) for (kind, ident), s in seen.items() if len(s) > 1)


# ---------------------------------------------------------------------------- dedupe


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form exact duplicates are compared in."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _exact_key(row: Row, i: int) -> tuple[Any, ...]:
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list):
            raise ValueError(f"row #{i} (call {row.get('call_id')!r}): messages is not a list")
        return ("chat", tuple((str(m.get("role")), normalise_text(str(m.get("content") or "")))
                              if isinstance(m, Mapping) else ("?", repr(m)) for m in msgs))
    if "text" in row:
        return ("cls", row.get("task"), normalise_text(str(row.get("text") or "")))
    raise ValueError(f"row #{i} (call {row.get('call_id')!r}) has neither 'messages' nor 'text'")


def _weight(row: Row) -> float:
    try:
        w = float(row.get("weight", 1.0))
    except (TypeError, ValueError):
        return 0.0
    return w if math.isfinite(w) else 0.0


def _normalised(embeddings: Any, n: int) -> np.ndarray:
    import numpy as np

    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"embeddings must be a 2-D array with one row per row ({n}), got shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings contain NaN or infinite values")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise ValueError(f"embedding of row #{bad} is all zeros (cannot L2-normalise)")
    return emb / norms


def _greedy_near(emb: np.ndarray, threshold: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy near-duplicate pass over rows already in priority order (row 0 first).

    Returns ``(keep, dup_of)``: a row is dropped when it has cosine >= threshold with an
    EARLIER KEPT row (``dup_of`` = that row, -1 when kept). Kept rows are pairwise below
    the threshold. Work is blocked matrix products: each block is compared with the rows
    kept before it in one product, then resolved inside the block on a block x block
    matrix."""
    import numpy as np

    n = emb.shape[0]
    keep = np.zeros(n, dtype=bool)
    dup_of = np.full(n, -1, dtype=np.int64)
    kept_idx: list[int] = []
    for s in range(0, n, block):
        e = min(n, s + block)
        eb = emb[s:e]
        if kept_idx:
            prev = np.asarray(kept_idx)
            sims = eb @ emb[prev].T
            hit = (sims >= threshold).any(axis=1)
            dup_of[s:e][hit] = prev[sims[hit].argmax(axis=1)]
        else:
            hit = np.zeros(e - s, dtype=bool)
        inner = np.tril(eb @ eb.T, k=-1)  # earlier rows of the block only
        close = inner >= threshold
        has_close = close.any(axis=1)
        # rows with no close earlier row in the block are decided; the rest in order
        local_keep = ~hit & ~has_close
        for i in np.flatnonzero(has_close & ~hit):
            earlier = np.flatnonzero(local_keep[:i] & close[i, :i])
            if earlier.size:
                dup_of[s + i] = s + int(earlier[inner[i, earlier].argmax()])
            else:
                local_keep[i] = True
        keep[s:e] = local_keep
        kept_idx.extend((s + np.flatnonzero(local_keep)).tolist())
    return keep, dup_of


def dedupe(
    rows: Sequence[Row],
    embeddings: Any = None,
    threshold: float = 0.95,
    block: int = 1024,
) -> tuple[list[Row], dict[str, Any]]:
    """Remove exact and near duplicates, never keeping an eval row that duplicates train.

    Rows are ranked by split (train, then validation, then test; rows without a
    ``split`` are one pool), then by higher ``weight`` (a correction beats an agreement),
    then input order. A row is dropped when a higher-ranked KEPT row is

    * an exact duplicate: same normalised messages (chat rows) or same ``task`` and
      normalised ``text`` (classification rows), or
    * a near-duplicate: cosine >= ``threshold`` of ``embeddings`` (array aligned with
      ``rows``; L2-normalised here), compared only within one ``task`` (an intent row and
      an outcome row of the same call are not duplicates of each other).

    Hence kept rows are pairwise non-duplicates, and every cross-split duplicate is
    resolved by dropping the copy in the LATER split (validation/test side), so no kept
    validation or test row has a (near-)duplicate in train and no test row has one in
    validation. Returns ``(kept, report)``; kept rows keep input order. The report has
    ``rows_in``, ``rows_out``, ``threshold``, ``near_checked``, ``dropped``
    (``{kind: {split: n}}``), ``cross_split`` (``{kind: n}``: drops whose kept copy is in
    another split), ``label_conflicts`` (exact duplicates with a different label) and
    ``dropped_rows`` (``(call_id, kind, kept_call_id)`` per drop, for audit).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    has_split = [bool(r.get("split")) for r in rows]
    if any(has_split) and not all(has_split):
        raise ValueError("some rows have a split and others do not; run assign_splits on all rows")
    for i, r in enumerate(rows):
        if r.get("split") and r["split"] not in SPLIT_RANK:
            raise ValueError(f"row #{i} has unknown split {r['split']!r}; expected one of {SPLITS}")
    import numpy as np

    n = len(rows)
    emb = _normalised(embeddings, n) if embeddings is not None else None

    order = sorted(range(n), key=lambda i: (SPLIT_RANK.get(rows[i].get("split"), 0), -_weight(rows[i]), i))
    dropped: dict[int, tuple[str, int]] = {}  # row index -> (kind, kept row index)
    first: dict[tuple[Any, ...], int] = {}
    conflicts = 0
    for i in order:
        key = _exact_key(rows[i], i)
        if key in first:
            j = first[key]
            dropped[i] = (EXACT, j)
            if rows[i].get("label") != rows[j].get("label"):
                conflicts += 1
        else:
            first[key] = i

    if emb is not None and n:
        groups: dict[Any, list[int]] = defaultdict(list)
        for i in order:
            if i not in dropped:
                groups[("chat",) if "messages" in rows[i] else ("cls", rows[i].get("task"))].append(i)
        for members in groups.values():
            idx = np.asarray(members)
            keep, dup_of = _greedy_near(emb[idx], threshold, block)
            for pos in np.flatnonzero(~keep):
                dropped[int(idx[pos])] = (NEAR, int(idx[dup_of[pos]]))

    report_dropped: dict[str, dict[str, int]] = {EXACT: {}, NEAR: {}}
    cross: dict[str, int] = {EXACT: 0, NEAR: 0}
    audit = []
    for i in sorted(dropped):
        kind, j = dropped[i]
        split = rows[i].get("split") or "all"
        report_dropped[kind][split] = report_dropped[kind].get(split, 0) + 1
        if rows[i].get("split") != rows[j].get("split"):
            cross[kind] += 1
        audit.append((rows[i].get("call_id"), kind, rows[j].get("call_id")))
    kept = [r for i, r in enumerate(rows) if i not in dropped]
    report = {
        "rows_in": n,
        "rows_out": len(kept),
        "threshold": threshold,
        "near_checked": emb is not None,
        "dropped": report_dropped,
        "cross_split": cross,
        "label_conflicts": conflicts,
        "dropped_rows": audit,
    }
    return kept, report


def near_duplicates_across(
    rows: Sequence[Row], embeddings: Any, threshold: float = 0.95, block: int = 1024
) -> list[tuple[int, int, float]]:
    """Audit: ``(eval_row, train_row, cosine)`` for every validation/test row with a
    same-task train row at cosine >= threshold (empty after :func:`dedupe`)."""
    import numpy as np

    emb = _normalised(embeddings, len(rows))
    out: list[tuple[int, int, float]] = []
    task = [("chat",) if "messages" in r else ("cls", r.get("task")) for r in rows]
    train = np.asarray([i for i, r in enumerate(rows) if r.get("split") == "train"], dtype=np.int64)
    evals = np.asarray([i for i, r in enumerate(rows) if r.get("split") in ("validation", "test")], dtype=np.int64)
    if not train.size or not evals.size:
        return out
    for s in range(0, evals.size, block):
        eb = evals[s:s + block]
        sims = emb[eb] @ emb[train].T
        for a, b in zip(*np.nonzero(sims >= threshold)):
            if task[eb[a]] == task[train[b]]:
                out.append((int(eb[a]), int(train[b]), float(sims[a, b])))
    return out


# ---------------------------------------------------------------------------- balance


def class_balance(rows: Iterable[Row], key: str = "label") -> dict[str, Any]:
    """Counts per split and ``key`` value (pass rows of ONE task for classification).

    Returns ``{"counts": {split: {label: n}}, "totals": {label: n}, "imbalance_ratio":
    {split: max/min count over labels present, and "all"}, "missing": {split: [labels
    seen elsewhere but absent here]}, "markdown": table}``. A missing/None value counts
    as ``"(none)"``; rows without a split count under ``"all"``.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for row in rows:
        value = row.get(key)
        label = "(none)" if value is None else str(value)
        counts[row.get("split") or "all"][label] += 1
        totals[label] += 1
    # with any standard split present, all three are reported (an empty one included)
    standard = list(SPLITS) if set(SPLITS) & set(counts) else []
    split_names = standard + sorted(s for s in counts if s not in SPLITS)
    labels = sorted(totals)

    def ratio(c: Mapping[str, int]) -> float | None:
        present = [v for v in c.values() if v > 0]
        return round(max(present) / min(present), 3) if present else None

    result = {
        "counts": {s: {lab: counts[s][lab] for lab in labels if counts[s][lab]} for s in split_names},
        "totals": {lab: totals[lab] for lab in labels},
        "imbalance_ratio": {**{s: ratio(counts[s]) for s in split_names}, "all": ratio(totals)},
        "missing": {s: [lab for lab in labels if not counts[s][lab]] for s in split_names},
    }
    result["markdown"] = balance_markdown(result, key)
    return result


def balance_markdown(balance: Mapping[str, Any], key: str = "label") -> str:
    """A markdown table (labels x splits, totals and imbalance ratio) of a
    :func:`class_balance` result."""
    splits = list(balance["counts"])
    head = f"| {key} | " + " | ".join(splits) + " | total |"
    sep = "|" + "---|" * (len(splits) + 2)
    lines = [head, sep]
    for lab, total in balance["totals"].items():
        cells = [str(balance["counts"][s].get(lab, 0)) for s in splits]
        lines.append(f"| {lab} | " + " | ".join(cells) + f" | {total} |")
    sums = [str(sum(balance["counts"][s].values())) for s in splits]
    lines.append("| **total** | " + " | ".join(sums) + f" | {sum(balance['totals'].values())} |")
    ratios = [str(balance["imbalance_ratio"].get(s) or "-") for s in splits]
    lines.append("| imbalance (max/min) | " + " | ".join(ratios) + f" | {balance['imbalance_ratio'].get('all') or '-'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- format


def _weight_problem(row: Row) -> str | None:
    w = row.get("weight")
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
        return f"weight must be a finite number > 0, got {w!r}"
    return None


def _structure_problems(messages: Any) -> list[tuple[str, str]]:
    if not isinstance(messages, list) or not messages:
        return [(NOT_A_LIST, "messages must be a non-empty list")]
    out: list[tuple[str, str]] = []
    for k, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("content"), str):
            out.append((BAD_MESSAGE, f"message {k} must be a dict with a string 'content'"))
        elif m.get("role") not in ROLES:
            out.append((BAD_ROLE, f"message {k} has role {m.get('role')!r}; expected one of {ROLES}"))
        elif not m["content"].strip():
            out.append((EMPTY_CONTENT, f"message {k} ({m['role']}) is empty"))
    if out:
        return out
    roles = [m["role"] for m in messages]
    n_sys = 0
    while n_sys < len(roles) and roles[n_sys] == "system":
        n_sys += 1
    if "system" in roles[n_sys:]:
        out.append((SYSTEM_NOT_FIRST, f"system message at position {roles.index('system', n_sys)}; only leading system messages are allowed"))
    turns = [r for r in roles[n_sys:] if r != "system"]
    if turns and turns[0] != "user":
        out.append((FIRST_NOT_USER, f"first non-system message is {turns[0]!r}, expected 'user'"))
    for k in range(1, len(turns)):
        if turns[k] == turns[k - 1]:
            out.append((NOT_ALTERNATING, f"two consecutive {turns[k]!r} turns (turn {k - 1} and {k})"))
            break
    if "assistant" not in turns:
        out.append((NO_ASSISTANT_TURN, "no assistant turn to learn from"))
    return out


def _token_counts(tokenizer: Any, texts: list[str], add_special_tokens: bool, batch: int = 256) -> list[int]:
    counts: list[int] = []
    for s in range(0, len(texts), batch):
        enc = tokenizer(texts[s:s + batch], add_special_tokens=add_special_tokens, verbose=False)
        counts.extend(len(ids) for ids in enc["input_ids"])
    return counts


def check_chat_format(rows: Sequence[Row], tokenizer: Any, max_tokens: int) -> list[Problem]:
    """BLOCKING format checks of chat SFT rows; returns ``(row index, call_id, code,
    detail)`` per problem (empty list = pass).

    Structure (per row): ``messages`` a non-empty list of ``{"role", "content": str}``
    (``messages_not_a_list``, ``bad_message``), roles in :data:`ROLES` (``bad_role``), no
    blank content (``empty_content``), system messages only at the start
    (``system_not_first``), first non-system turn is the user (``first_not_user``), user
    and assistant alternate (``roles_not_alternating``), at least one assistant turn
    (``no_assistant_turn``); ``weight`` a finite number > 0 (``bad_weight``). Rows with
    a valid structure are then rendered with ``tokenizer.apply_chat_template(messages,
    tokenize=False)`` (``template_error`` on any exception, e.g. no template) and the
    rendered text's token count must be ``<= max_tokens`` (``too_many_tokens``).
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be > 0, got {max_tokens!r}")
    problems: list[Problem] = []
    rendered: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        cid = row.get("call_id")
        if (detail := _weight_problem(row)) is not None:
            problems.append((i, cid, BAD_WEIGHT, detail))
        structural = _structure_problems(row.get("messages"))
        problems.extend((i, cid, code, detail) for code, detail in structural)
        if structural:
            continue
        try:
            text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        except Exception as e:  # noqa: BLE001 - any template failure is a row problem
            problems.append((i, cid, TEMPLATE_ERROR, f"{type(e).__name__}: {e}"))
            continue
        if not isinstance(text, str):
            problems.append((i, cid, TEMPLATE_ERROR, f"template rendered a {type(text).__name__}, not text"))
            continue
        rendered.append((i, text))
    counts = _token_counts(tokenizer, [t for _, t in rendered], add_special_tokens=False)
    for (i, _), n in zip(rendered, counts):
        if n > max_tokens:
            problems.append((i, rows[i].get("call_id"), TOO_MANY_TOKENS, f"{n} tokens > {max_tokens}"))
    return sorted(problems, key=lambda p: p[0])


def check_classification_format(
    rows: Sequence[Row], max_tokens: int, tokenizer: Any = None
) -> list[Problem]:
    """BLOCKING format checks of classification rows; ``(row index, call_id, code,
    detail)`` per problem. Codes: ``empty_text``, ``missing_label``, ``bad_task`` (not in
    :data:`TASKS`), ``bad_weight`` (not a finite number > 0) and, with a tokenizer,
    ``too_many_tokens`` (count includes the special tokens the classifier adds). Note
    the classifier truncates at its ``max_len``; use that as ``max_tokens`` to find rows
    that would be cut."""
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be > 0, got {max_tokens!r}")
    problems: list[Problem] = []
    measured: list[int] = []
    for i, row in enumerate(rows):
        cid = row.get("call_id")
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append((i, cid, EMPTY_TEXT, "text is missing or blank"))
        else:
            measured.append(i)
        label = row.get("label")
        if label is None or (isinstance(label, str) and not label.strip()):
            problems.append((i, cid, MISSING_LABEL, "label is missing"))
        if row.get("task") not in TASKS:
            problems.append((i, cid, BAD_TASK, f"task {row.get('task')!r} not in {TASKS}"))
        if (detail := _weight_problem(row)) is not None:
            problems.append((i, cid, BAD_WEIGHT, detail))
    if tokenizer is not None and measured:
        counts = _token_counts(tokenizer, [rows[i]["text"] for i in measured], add_special_tokens=True)
        for i, n in zip(measured, counts):
            if n > max_tokens:
                problems.append((i, rows[i].get("call_id"), TOO_MANY_TOKENS, f"{n} tokens > {max_tokens}"))
    return sorted(problems, key=lambda p: p[0])


def summarise_problems(problems: Iterable[Problem]) -> dict[str, int]:
    """Problem counts by code (sorted), e.g. for metadata and the dataset card."""
    return dict(sorted(Counter(p[2] for p in problems).items()))


def raise_on_problems(problems: Sequence[Problem], what: str = "dataset", show: int = 10) -> None:
    """Raise ValueError summarising the first ``show`` problems, if there are any."""
    if problems:
        lines = [f"  row {i} (call {cid}): {code}: {detail}" for i, cid, code, detail in problems[:show]]
        more = f"\n  ... and {len(problems) - show} more" if len(problems) > show else ""
        raise ValueError(f"{what}: {len(problems)} format problem(s) {summarise_problems(problems)}:\n"
                         + "\n".join(lines) + more)


# ---------------------------------------------------------------------------- card


def call_ids_hash(rows: Iterable[Row]) -> tuple[int, str]:
    """``(count, sha256)`` of the sorted distinct call ids (one id per line)."""
    ids = sorted({str(r["call_id"]) for r in rows if r.get("call_id")})
    return len(ids), hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _rows_of(rows_by_split: Mapping[str, Sequence[Row]]) -> list[Row]:
    return [{**r, "split": r.get("split") or s} for s, rs in rows_by_split.items() for r in rs]


def dataset_card(
    *,
    name: str,
    rows_by_split: Mapping[str, Sequence[Row]],
    created_at: datetime | str,
    code_version: str,
    annotation_versions: Mapping[str, str] | None = None,
    version: str | None = None,
    filter_drops: Sequence[tuple[Any, str]] = (),
    filters: Mapping[str, Any] | None = None,
    dedupe_report: Mapping[str, Any] | None = None,
    format_problems: Sequence[Problem] | None = None,
    label_key: str | None = None,
    redaction_statement: str = DEFAULT_REDACTION_STATEMENT,
) -> str:
    """A markdown dataset card with lineage (pure string output).

    Sections: identity (name, dataset ``version`` -- computed with
    :func:`~pipeline.domain.learning.datasets.dataset_version` when None --, created at,
    code version), calls (count and SHA-256 of the sorted call ids, count of customers;
    NEVER customer ids), annotation versions, counts per split (rows, calls, summed
    weight) and per split x ``label_key`` (default ``label`` for classification rows,
    one table per task, ``source`` for chat rows), filters applied with drop counts per
    reason, dedupe counts, format-check summary and the redaction statement. Only counts
    are rendered from ``filter_drops``, ``dedupe_report`` and ``format_problems``.
    """
    rows = _rows_of(rows_by_split)
    if version is None:
        version = dataset_version(rows)
    created = created_at.isoformat() if isinstance(created_at, datetime) else str(created_at)
    n_calls, calls_sha = call_ids_hash(rows)
    n_customers = len({r["customer_id"] for r in rows if r.get("customer_id")})
    is_chat = any("messages" in r for r in rows)
    key = label_key or ("source" if is_chat else "label")

    out = [f"# Dataset card: {name}", "", "## Lineage", "",
           f"- dataset version: `{version}`", f"- created at: {created}",
           f"- code version: `{code_version}`", f"- kind: {'chat SFT' if is_chat else 'classification'}",
           f"- calls: {n_calls} (sha256 of sorted call ids: `{calls_sha}`)",
           f"- customers: {n_customers} (ids not listed)", "", "## Annotation versions", ""]
    out += [f"- {k}: `{v}`" for k, v in sorted((annotation_versions or {}).items())] or ["- none"]

    out += ["", "## Splits", "", "| split | rows | calls | weight |", "|---|---|---|---|"]
    for s in list(SPLITS) + sorted(set(rows_by_split) - set(SPLITS)):
        rs = [r for r in rows if r["split"] == s]
        out.append(f"| {s} | {len(rs)} | {len({r.get('call_id') for r in rs})} | "
                   f"{round(sum(_weight(r) for r in rs), 3)} |")

    out += ["", f"## Counts per split and {key}", ""]
    tasks = sorted({str(r.get("task")) for r in rows}) if not is_chat and key == "label" else [None]
    for task in tasks:
        subset = [r for r in rows if task is None or str(r.get("task")) == task]
        if task is not None:
            out += [f"### task: {task}", ""]
        bal = class_balance(subset, key=key)
        out.append(bal["markdown"])
        gaps = {s: labs for s, labs in bal["missing"].items() if labs}
        if gaps:
            out.append("")
            out += [f"- missing from {s}: {', '.join(labs)}" for s, labs in gaps.items()]
        out.append("")

    out += ["## Filters", ""]
    out += [f"- {k}: {v}" for k, v in sorted((filters or {}).items())]
    drops = Counter(reason for _, reason in filter_drops)
    out.append(f"- rows dropped: {sum(drops.values())}")
    out += [f"  - {reason}: {n}" for reason, n in sorted(drops.items())]

    out += ["", "## Deduplication", ""]
    if dedupe_report is None:
        out.append("- not run")
    else:
        out.append(f"- rows in: {dedupe_report.get('rows_in')}, rows out: {dedupe_report.get('rows_out')}")
        near = f"cosine >= {dedupe_report.get('threshold')}" if dedupe_report.get("near_checked") else "not checked (no embeddings)"
        out.append(f"- near-duplicates: {near}")
        for kind, by_split in (dedupe_report.get("dropped") or {}).items():
            detail = ", ".join(f"{s} {n}" for s, n in sorted(by_split.items())) or "none"
            out.append(f"- dropped {kind}: {detail}")
        out.append(f"- cross-split drops (eval-side copy removed): {dedupe_report.get('cross_split')}")
        out.append(f"- exact duplicates with conflicting labels: {dedupe_report.get('label_conflicts', 0)}")

    out += ["", "## Format checks", ""]
    if format_problems is None:
        out.append("- not run")
    elif not format_problems:
        out.append("- PASS (0 problems)")
    else:
        out.append(f"- BLOCKED: {len(format_problems)} problem(s)")
        out += [f"  - {code}: {n}" for code, n in summarise_problems(format_problems).items()]

    out += ["", "## Redaction", "", redaction_statement, ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- export


def _classification_columns() -> dict[str, str]:
    return {"call_id": "string", "customer_id": "string", "text": "string", "label": "string",
            "task": "string", "weight": "float64", "source": "string", "split": "string"}


def _chat_columns() -> dict[str, str]:
    return {"call_id": "string", "customer_id": "string", "weight": "float64", "source": "string", "split": "string"}


def _infer_dtype(column: str, values: list[Any]) -> str:
    vals = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in vals):
        return "string"
    if all(isinstance(v, bool) for v in vals):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return "int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return "float64"
    raise ValueError(f"column {column!r} mixes types or holds nested values; "
                     "only str/bool/int/float extra columns are supported")


def to_hf(rows_by_split: Mapping[str, Sequence[Row]], kind: str | None = None) -> hf_datasets.DatasetDict:
    """A ``DatasetDict`` with every split in :data:`SPLITS` (fixed schema, also for empty
    splits). ``kind`` is ``"chat"`` or ``"classification"`` (detected from the rows when
    None). Known columns have fixed types (``messages`` is a list of ``{role,
    content}``); extra scalar columns are kept with an inferred type."""
    import datasets as hf_datasets

    unknown = set(rows_by_split) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; expected {SPLITS}")
    all_rows = [r for rs in rows_by_split.values() for r in rs]
    if kind is None:
        if not all_rows:
            raise ValueError("cannot detect the dataset kind from no rows; pass kind='chat' or 'classification'")
        kind = "chat" if "messages" in all_rows[0] else "classification"
    if kind not in ("chat", "classification"):
        raise ValueError(f"kind must be 'chat' or 'classification', got {kind!r}")
    base = _chat_columns() if kind == "chat" else _classification_columns()
    string = hf_datasets.Value("string")
    features: dict[str, Any] = {c: hf_datasets.Value(t) for c, t in base.items()}
    if kind == "chat":
        features["messages"] = hf_datasets.List({"role": string, "content": string})
    extras = sorted({k for r in all_rows for k in r} - set(features))
    for col in extras:
        features[col] = hf_datasets.Value(_infer_dtype(col, [r.get(col) for r in all_rows]))
    feats = hf_datasets.Features(features)
    out = {}
    for name in SPLITS:
        rows = rows_by_split.get(name, [])
        if kind == "chat" and any("messages" not in r for r in rows):
            raise ValueError(f"split {name!r}: a chat dataset row has no 'messages'")
        data = {c: [r.get(c) if c != "split" else (r.get("split") or name) for r in rows] for c in feats}
        out[name] = hf_datasets.Dataset.from_dict(data, features=feats)
    return hf_datasets.DatasetDict(out)


def by_split(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Group rows (with a ``split`` field) into ``{split: rows}`` for every split."""
    out: dict[str, list[Row]] = {s: [] for s in SPLITS}
    for i, row in enumerate(rows):
        split = row.get("split")
        if split not in out:
            raise ValueError(f"row #{i} has split {split!r}; expected one of {SPLITS}")
        out[split].append(row)
    return out


def write_jsonl(rows: Iterable[Row], path: Path | str) -> int:
    """Write rows as JSON lines atomically (delegates to ``datasets.write_chat_jsonl``,
    which accepts any JSON-serialisable dicts). Returns the number of lines."""
    return write_chat_jsonl(list(rows), path)


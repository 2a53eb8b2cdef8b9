"""Deterministic replay of one conversation from its event log, and re-running a stage
against recorded outputs.

:func:`replay_timeline` rebuilds the timeline of one trace ordered by ``seq``. The same
multiset of events in any order (shuffled, duplicated) gives the same ``timeline``,
``duplicates``, ``conflicts`` and ``gaps``. ``out_of_order`` describes the log *as it
arrived* (seqs received after a higher seq), so by nature it depends on the input order.

:func:`rerun_stage` re-runs a function (e.g. redaction of each utterance) over the
timeline and diffs its output against what was recorded, as unified-diff lines.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.core.models import Event, stable_hash


@dataclass(frozen=True)
class ReplayResult:
    """A trace's rebuilt timeline and what was wrong with its log.

    - ``timeline``: one event per seq, ascending.
    - ``duplicates``: seqs seen more than once with identical content, one entry per
      extra copy (dropped from the timeline).
    - ``conflicts``: seqs seen with *different* content; the timeline keeps the copy with
      the smallest ``(ts, type, stable_hash(payload))`` so the choice is deterministic.
    - ``gaps``: missing seq ranges ``(first_missing, last_missing)`` between the lowest
      and highest seq seen.
    - ``out_of_order``: seqs that arrived after a higher seq had already arrived.
    - ``clock_skew``: seqs whose ``ts`` is earlier than the previous seq's ``ts``.
    """

    trace_id: str
    timeline: list[Event]
    duplicates: list[int] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    clock_skew: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when the log had no gaps, duplicates or conflicts."""
        return not (self.gaps or self.duplicates or self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the CLI prints it)."""
        return {
            "trace_id": self.trace_id,
            "events": len(self.timeline),
            "first_seq": self.timeline[0].seq if self.timeline else None,
            "last_seq": self.timeline[-1].seq if self.timeline else None,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "gaps": [list(g) for g in self.gaps],
            "out_of_order": self.out_of_order,
            "clock_skew": self.clock_skew,
            "timeline": [e.to_dict() for e in self.timeline],
        }


def _content_key(e: Event) -> tuple[str, str, str]:
    return (e.ts, e.type, stable_hash(e.payload))


def replay_timeline(events: list[Event], trace_id: str | None = None) -> ReplayResult:
    """Rebuild one trace's timeline from its events (see :class:`ReplayResult`).

    With ``trace_id`` given, events of other traces are ignored; without it the events
    must all share one trace_id. Raises ``ValueError`` for an empty selection, several
    traces, or a seq that is not a non-negative integer (naming the trace and position).
    """
    if trace_id is not None:
        events = [e for e in events if e.trace_id == trace_id]
        if not events:
            raise ValueError(f"replay: no events for trace {trace_id!r}")
    elif not events:
        raise ValueError("replay: no events given")
    traces = sorted({e.trace_id for e in events})
    if len(traces) > 1:
        raise ValueError(f"replay: events from {len(traces)} traces; pass trace_id= (first: {traces[:3]})")
    tid = traces[0]

    by_seq: dict[int, list[Event]] = {}
    out_of_order: list[int] = []
    highest: int | None = None
    for pos, e in enumerate(events):
        if isinstance(e.seq, bool) or not isinstance(e.seq, int) or e.seq < 0:
            raise ValueError(f"replay: trace {tid}: event at position {pos} has invalid seq {e.seq!r}")
        if highest is not None and e.seq < highest and e.seq not in by_seq:
            out_of_order.append(e.seq)
        highest = e.seq if highest is None else max(highest, e.seq)
        by_seq.setdefault(e.seq, []).append(e)

    timeline: list[Event] = []
    duplicates: list[int] = []
    conflicts: list[int] = []
    for seq in sorted(by_seq):
        copies = sorted(by_seq[seq], key=_content_key)
        kept = copies[0]
        if len({_content_key(c) for c in copies}) > 1:
            conflicts.append(seq)
        duplicates.extend(seq for c in copies[1:] if _content_key(c) == _content_key(kept))
        timeline.append(kept)

    seqs = [e.seq for e in timeline]
    gaps = [(a + 1, b - 1) for a, b in zip(seqs, seqs[1:]) if b - a > 1]
    clock_skew = [b.seq for a, b in zip(timeline, timeline[1:]) if b.ts < a.ts]
    return ReplayResult(
        trace_id=tid,
        timeline=timeline,
        duplicates=duplicates,
        gaps=gaps,
        out_of_order=sorted(set(out_of_order)),
        conflicts=conflicts,
        clock_skew=clock_skew,
    )


@dataclass(frozen=True)
class DiffItem:
    """One difference between a re-run and the recorded output of a stage.

    ``kind``: ``changed`` (both exist, differ), ``added`` (re-run produced output where
    none was recorded), ``removed`` (recorded output, re-run produced none) or
    ``orphan`` (recorded output for a seq that is not in the timeline).
    """

    seq: int
    kind: str
    recorded: Any
    rerun: Any
    diff: list[str]


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, sort_keys=True, indent=1, default=str).splitlines()


def rerun_stage(
    stage_fn: Callable[[Event], Any],
    recorded_outputs: Mapping[int, Any],
    timeline: list[Event] | ReplayResult,
) -> list[DiffItem]:
    """Re-run ``stage_fn`` on each event of ``timeline`` and diff against
    ``recorded_outputs`` (keyed by seq). ``stage_fn`` returns the stage's output for an
    event, or ``None`` when the stage does not apply to it. Identical outputs are left
    out; the result is ordered by seq. Outputs are compared as values; the unified diff
    is over their text (strings) or sorted-key JSON (anything else).

    A failing ``stage_fn`` raises ``RuntimeError`` naming the trace and seq.
    """
    events = timeline.timeline if isinstance(timeline, ReplayResult) else timeline
    items: list[DiffItem] = []
    seen: set[int] = set()
    for e in sorted(events, key=lambda x: x.seq):
        seen.add(e.seq)
        try:
            new = stage_fn(e)
        except Exception as exc:  # re-raised with context, never swallowed
            raise RuntimeError(f"rerun_stage: stage failed on trace {e.trace_id} seq {e.seq}: {exc}") from exc
        old = recorded_outputs.get(e.seq)
        if old == new:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        items.append(DiffItem(e.seq, kind, old, new, _udiff(e.seq, old, new)))
    for seq in sorted(set(recorded_outputs) - seen):
        old = recorded_outputs[seq]
        if old is not None:
            items.append(DiffItem(seq, "orphan", old, None, _udiff(seq, old, None)))
    return sorted(items, key=lambda d: (d.seq, d.kind))


def _udiff(seq: int, old: Any, new: Any) -> list[str]:
    return list(
        difflib.unified_diff(
            _lines(old), _lines(new), fromfile=f"recorded/seq={seq}", tofile=f"rerun/seq={seq}", lineterm=""
        )
    )


def format_diff(items: list[DiffItem]) -> str:
    """All diff items as one unified-diff-like text (empty string when nothing changed)."""
    return "\n".join(line for item in items for line in item.diff)

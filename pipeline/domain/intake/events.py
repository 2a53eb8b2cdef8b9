"""Agent event logs: JSON Lines of ``{"trace_id", "seq", "ts", "type", "payload"}``.

Logs arrive shuffled, duplicated and with the odd broken line. :func:`parse_event_lines`
keeps every good event once (first occurrence wins), counts duplicates and conflicting
duplicates, lists invalid lines by number (skipped, not fatal) and reports gaps in each
trace's ``seq`` numbering. :func:`merge_events` adds a new batch to the stored events
without ever changing a stored one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pipeline.domain.core.models import Event

__all__ = [
    "EventLogError",
    "EventParseResult",
    "parse_event_lines",
    "merge_events",
    "events_to_jsonl",
    "event_key",
]

_MAX_TRACE_ID = 200


class EventLogError(ValueError):
    """Misuse of the event log API or a conflict that must not pass silently."""


@dataclass
class EventParseResult:
    """What :func:`parse_event_lines` found.

    ``events``: unique events ordered by (trace_id, seq); ``duplicates``: lines whose
    (trace_id, seq) was already seen, identical or not; ``conflicts``: those duplicates
    whose content differs from the first occurrence (a subset of ``duplicates``);
    ``invalid``: (line number, reason) of skipped lines; ``gaps``: per trace, the seq
    numbers missing between its first (or ``first_seq``) and last seq.
    """

    events: list[Event] = field(default_factory=list)
    duplicates: int = 0
    conflicts: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    gaps: dict[str, list[int]] = field(default_factory=dict)

    @property
    def trace_ids(self) -> list[str]:
        """The distinct trace ids, sorted."""
        return sorted({e.trace_id for e in self.events})


def event_key(event: Event) -> tuple[str, int]:
    """Sort/identity key of an event: (trace_id, seq)."""
    return (event.trace_id, event.seq)


def _event_from_obj(obj: Any) -> Event:
    """Validate one decoded JSON line; raises ValueError with a reason (no values)."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("trace_id", "seq", "ts", "type"):
        if obj.get(key) is None:
            raise ValueError(f"missing field '{key}'")
    trace_id, seq, ts, etype = obj["trace_id"], obj["seq"], obj["ts"], obj["type"]
    if not isinstance(trace_id, str) or not trace_id.strip():
        raise ValueError("'trace_id' must be a non-empty string")
    if len(trace_id) > _MAX_TRACE_ID:
        raise ValueError(f"'trace_id' longer than {_MAX_TRACE_ID} characters")
    if isinstance(seq, bool) or not isinstance(seq, int):
        if isinstance(seq, float) and seq.is_integer():
            seq = int(seq)
        else:
            raise ValueError("'seq' must be an integer")
    if seq < 0:
        raise ValueError("'seq' must not be negative")
    if not isinstance(ts, str):
        raise ValueError("'ts' must be an ISO-8601 string")
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        raise ValueError("'ts' is not an ISO-8601 date-time") from None
    if not isinstance(etype, str) or not etype.strip():
        raise ValueError("'type' must be a non-empty string")
    payload = obj.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValueError("'payload' must be a JSON object")
    return Event(trace_id=trace_id, seq=seq, ts=ts, type=etype, payload=payload)


def _gaps(seqs: list[int], first_seq: int | None) -> list[int]:
    lo = min(seqs) if first_seq is None else min(first_seq, min(seqs))
    present = set(seqs)
    return [s for s in range(lo, max(seqs) + 1) if s not in present]


def parse_event_lines(
    lines: Iterable[str | bytes], source: str, *, first_seq: int | None = None
) -> EventParseResult:
    """Parse JSON Lines of events (blank lines ignored; line numbers are 1-based).

    Duplicate (trace_id, seq): the first occurrence wins, later ones are counted in
    ``duplicates`` and, if their content differs, also in ``conflicts``. Invalid lines
    are skipped and listed in ``invalid``. Gaps are counted from each trace's lowest seq,
    or from ``first_seq`` if given (e.g. 0 when every trace starts at 0).
    Raises EventLogError only for misuse (a whole string or bytes instead of lines).
    """
    if isinstance(lines, (str, bytes)):
        raise EventLogError(
            f"{source}: pass an iterable of lines (e.g. text.splitlines()), not one string"
        )
    result = EventParseResult()
    first: dict[tuple[str, int], Event] = {}
    for n, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                result.invalid.append((n, "not valid UTF-8"))
                continue
        if not isinstance(line, str):
            result.invalid.append((n, f"not a text line ({type(line).__name__})"))
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            result.invalid.append((n, f"invalid JSON: {e.msg} (column {e.colno})"))
            continue
        except RecursionError:
            result.invalid.append((n, "invalid JSON: nested too deeply"))
            continue
        try:
            event = _event_from_obj(obj)
        except ValueError as e:
            result.invalid.append((n, str(e)))
            continue
        key = event_key(event)
        if key in first:
            result.duplicates += 1
            if first[key] != event:
                result.conflicts += 1
            continue
        first[key] = event
    result.events = sorted(first.values(), key=event_key)
    by_trace: dict[str, list[int]] = {}
    for ev in result.events:
        by_trace.setdefault(ev.trace_id, []).append(ev.seq)
    for trace_id, seqs in by_trace.items():
        missing = _gaps(seqs, first_seq)
        if missing:
            result.gaps[trace_id] = missing
    return result


def merge_events(
    existing: list[Event],
    new: list[Event],
    *,
    on_conflict: Literal["keep", "raise"] = "keep",
) -> tuple[list[Event], int]:
    """Append-only merge: every existing event is kept unchanged; new events whose
    (trace_id, seq) is not stored yet are added. Returns (merged list ordered by
    (trace_id, seq), number of newly added events).

    A new event that differs from the stored one with the same key is ignored
    (``on_conflict="keep"``) or raises EventLogError (``on_conflict="raise"``).
    """
    if on_conflict not in ("keep", "raise"):
        raise EventLogError(f"on_conflict must be 'keep' or 'raise', not {on_conflict!r}")
    stored: dict[tuple[str, int], Event] = {}
    for e in existing:
        if not isinstance(e, Event):
            raise EventLogError(f"existing events must be Event, got {type(e).__name__}")
        stored.setdefault(event_key(e), e)
    added = 0
    for e in new:
        if not isinstance(e, Event):
            raise EventLogError(f"new events must be Event, got {type(e).__name__}")
        key = event_key(e)
        if key in stored:
            if on_conflict == "raise" and stored[key] != e:
                raise EventLogError(
                    f"conflicting event for trace {e.trace_id!r} seq {e.seq}: "
                    "stored events are append-only"
                )
            continue
        stored[key] = e
        added += 1
    return sorted(stored.values(), key=event_key), added


def events_to_jsonl(events: Iterable[Event]) -> str:
    """Events as JSON Lines (sorted keys, UTF-8 text, trailing newline; "" if none).
    ``parse_event_lines(text.splitlines(), ...)`` reads it back unchanged."""
    out: list[str] = []
    for e in events:
        if not isinstance(e, Event):
            raise EventLogError(f"expected Event, got {type(e).__name__}")
        out.append(json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=False))
    return "\n".join(out) + "\n" if out else ""

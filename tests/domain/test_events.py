"""Agent event logs: shuffled, duplicated, conflicting and broken JSON Lines."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pipeline.domain.core.models import Event
from pipeline.domain.intake.events import (
    EventLogError,
    EventParseResult,
    events_to_jsonl,
    merge_events,
    parse_event_lines,
)


def _ev(trace: str, seq: int, etype: str = "tool_call", **payload: Any) -> Event:
    return Event(
        trace_id=trace,
        seq=seq,
        ts=f"2026-11-20T09:{seq:02d}:00Z",
        type=etype,
        payload=payload or {"n": seq},
    )


def _line(e: Event) -> str:
    return json.dumps(e.to_dict())


def _reference_events() -> list[Event]:
    return [_ev(t, s) for t in ("trace-a", "trace-b", "trace-c") for s in range(20)]


def test_shuffled_and_duplicated_log() -> None:
    rng = random.Random(42)
    ref = _reference_events()
    lines = [_line(e) for e in ref]
    dupes = rng.sample(lines, 25)  # identical duplicates, anywhere
    lines = lines + dupes
    rng.shuffle(lines)
    # conflicting duplicates come after their originals: the first occurrence must win
    conflicts = [
        _line(Event(e.trace_id, e.seq, e.ts, "changed", {"n": -1})) for e in rng.sample(ref, 7)
    ]
    result = parse_event_lines(lines + conflicts, "agent_events.jsonl")
    assert result.events == sorted(ref, key=lambda e: (e.trace_id, e.seq))
    assert result.duplicates == 25 + 7
    assert result.conflicts == 7
    assert result.invalid == [] and result.gaps == {}
    assert result.trace_ids == ["trace-a", "trace-b", "trace-c"]


def test_first_occurrence_wins_on_conflict() -> None:
    first = _ev("t", 0, "call_started", who="agent")
    second = Event("t", 0, first.ts, "call_started", {"who": "customer"})
    result = parse_event_lines([_line(first), _line(second), _line(first)], "x.jsonl")
    assert result.events == [first]
    assert (result.duplicates, result.conflicts) == (2, 1)


def test_ordering_is_numeric_by_seq_within_trace() -> None:
    evs = [_ev("b", 10), _ev("a", 2), _ev("b", 9), _ev("a", 10), _ev("a", 1)]
    result = parse_event_lines([_line(e) for e in evs], "x.jsonl")
    assert [(e.trace_id, e.seq) for e in result.events] == [
        ("a", 1),
        ("a", 2),
        ("a", 10),
        ("b", 9),
        ("b", 10),
    ]


GOOD = {"trace_id": "t1", "seq": 0, "ts": "2026-11-20T09:00:00+00:00", "type": "x", "payload": {}}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all", "invalid JSON"),
        ('{"trace_id": "t1", "seq": 1,', "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("null", "expected a JSON object, got NoneType"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "trace_id"}),
            "missing field 'trace_id'",
        ),
        (json.dumps({k: v for k, v in GOOD.items() if k != "seq"}), "missing field 'seq'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "ts"}), "missing field 'ts'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "type"}), "missing field 'type'"),
        (json.dumps({**GOOD, "trace_id": ""}), "'trace_id' must be a non-empty string"),
        (json.dumps({**GOOD, "trace_id": 7}), "'trace_id' must be a non-empty string"),
        (json.dumps({**GOOD, "trace_id": "t" * 201}), "'trace_id' longer than"),
        (json.dumps({**GOOD, "seq": "3"}), "'seq' must be an integer"),
        (json.dumps({**GOOD, "seq": 1.5}), "'seq' must be an integer"),
        (json.dumps({**GOOD, "seq": True}), "'seq' must be an integer"),
        (json.dumps({**GOOD, "seq": -1}), "'seq' must not be negative"),
        (json.dumps({**GOOD, "ts": "yesterday"}), "'ts' is not an ISO-8601"),
        (json.dumps({**GOOD, "ts": 1732093200}), "'ts' must be an ISO-8601 string"),
        (json.dumps({**GOOD, "type": " "}), "'type' must be a non-empty string"),
        (json.dumps({**GOOD, "payload": [1]}), "'payload' must be a JSON object"),
        (json.dumps({**GOOD, "payload": "secret text"}), "'payload' must be a JSON object"),
    ],
)
def test_invalid_lines_are_skipped_with_line_numbers(line: str, reason: str) -> None:
    before = _ev("t0", 0)
    after = _ev("t0", 1)
    result = parse_event_lines([_line(before), "", line, _line(after)], "x.jsonl")
    assert result.events == [before, after]
    assert len(result.invalid) == 1
    n, why = result.invalid[0]
    assert n == 3 and why.startswith(reason)
    assert "secret" not in why


def test_lenient_but_valid_variants() -> None:
    lines = [
        json.dumps({"trace_id": "t", "seq": 0, "ts": "2026-11-20T09:00:00Z", "type": "a"}),
        json.dumps(
            {"trace_id": "t", "seq": 1.0, "ts": "2026-11-20 09:00:01", "type": "b", "payload": None}
        ),
        "   ",
        json.dumps(
            {
                "trace_id": "t",
                "seq": 2,
                "ts": "2026-11-20T09:00:02Z",
                "type": "c",
                "payload": {"text": "héllo"},
                "extra": 1,
            }
        ),
    ]
    result = parse_event_lines(lines, "x.jsonl")
    assert [(e.seq, e.payload) for e in result.events] == [(0, {}), (1, {}), (2, {"text": "héllo"})]
    assert result.invalid == []


def test_bytes_lines_and_bad_utf8() -> None:
    good = _line(_ev("t", 0)).encode()
    result = parse_event_lines([good, b"\xff\xfe garbage", 17], "x.jsonl")  # type: ignore[list-item]
    assert [e.seq for e in result.events] == [0]
    assert result.invalid == [(2, "not valid UTF-8"), (3, "not a text line (int)")]


@pytest.mark.parametrize(
    ("seqs", "first_seq", "gaps"),
    [
        ([0, 1, 2, 3], None, None),
        ([0, 1, 3, 6], None, [2, 4, 5]),
        ([5, 7], None, [6]),
        ([2, 3], 0, [0, 1]),
        ([0], 0, None),
        ([3, 1, 1, 2], 1, None),
    ],
)
def test_gaps(seqs: list[int], first_seq: int | None, gaps: list[int] | None) -> None:
    lines = [_line(_ev("t", s)) for s in seqs] + [_line(_ev("other", 0)), _line(_ev("other", 1))]
    result = parse_event_lines(lines, "x.jsonl", first_seq=first_seq)
    expected = {} if gaps is None else {"t": gaps}
    assert result.gaps == expected


def test_whole_string_instead_of_lines_is_misuse() -> None:
    text = _line(_ev("t", 0)) + "\n"
    with pytest.raises(EventLogError, match="x.jsonl: pass an iterable of lines"):
        parse_event_lines(text, "x.jsonl")  # type: ignore[arg-type]
    with pytest.raises(EventLogError):
        parse_event_lines(text.encode(), "x.jsonl")  # type: ignore[arg-type]


def test_empty_log() -> None:
    assert parse_event_lines([], "x.jsonl") == EventParseResult()


# ----------------------------------------------------------------------------- merge


def test_merge_is_append_only_and_idempotent() -> None:
    existing = [_ev("a", 0), _ev("a", 1), _ev("b", 0)]
    changed = Event("a", 1, existing[1].ts, "tampered", {"n": 99})
    new = [_ev("a", 2), changed, _ev("b", 0), _ev("c", 0)]
    merged, added = merge_events(existing, new)
    assert added == 2
    assert [(e.trace_id, e.seq) for e in merged] == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("b", 0),
        ("c", 0),
    ]
    assert merged[1] == existing[1]  # the stored event was not replaced
    again, added_again = merge_events(merged, new)
    assert (again, added_again) == (merged, 0)


def test_merge_into_nothing_orders_and_dedupes() -> None:
    merged, added = merge_events([], [_ev("z", 1), _ev("a", 0), _ev("z", 1)])
    assert [(e.trace_id, e.seq) for e in merged] == [("a", 0), ("z", 1)] and added == 2


def test_merge_can_refuse_conflicts() -> None:
    existing = [_ev("a", 0)]
    merged, added = merge_events(existing, [_ev("a", 0)], on_conflict="raise")  # identical: fine
    assert added == 0 and merged == existing
    with pytest.raises(EventLogError, match="trace 'a' seq 0"):
        merge_events(existing, [Event("a", 0, existing[0].ts, "other", {})], on_conflict="raise")


@pytest.mark.parametrize(
    ("existing", "new", "kwargs"),
    [
        ([{"trace_id": "a"}], [], {}),
        ([], ["line"], {}),
        ([], [], {"on_conflict": "overwrite"}),
    ],
)
def test_merge_misuse(existing: list[Any], new: list[Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(EventLogError):
        merge_events(existing, new, **kwargs)


# ----------------------------------------------------------------------------- JSONL


def test_jsonl_round_trip() -> None:
    evs = [_ev("a", 0, note="ünïcode ✓"), _ev("a", 1), _ev("b", 0, nested={"x": [1, 2]})]
    text = events_to_jsonl(evs)
    assert text.endswith("\n") and text.count("\n") == 3 and "ünïcode ✓" in text
    assert json.loads(text.splitlines()[0]) == evs[0].to_dict()
    result = parse_event_lines(text.splitlines(), "x.jsonl")
    assert result.events == evs and result.invalid == []
    assert events_to_jsonl(result.events) == text  # deterministic


def test_jsonl_empty_and_misuse() -> None:
    assert events_to_jsonl([]) == ""
    with pytest.raises(EventLogError):
        events_to_jsonl([{"trace_id": "a"}])  # type: ignore[list-item]

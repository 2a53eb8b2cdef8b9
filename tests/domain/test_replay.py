"""Replay: a shuffled, duplicated event log rebuilds the same timeline; re-run diffs."""

from __future__ import annotations

import random
import re

import pytest

from pipeline.domain.core.models import Event
from pipeline.domain.insights.replay import ReplayResult, format_diff, replay_timeline, rerun_stage


def _ev(seq: int, typ: str = "utterance", trace: str = "tr-1", **payload: object) -> Event:
    return Event(trace, seq, f"2026-01-01T00:00:{seq:02d}Z", typ, dict(payload))


# seq 0..9 with seq 5 missing
ORDERED = [
    _ev(0, "call_started"),
    _ev(1, text="Hello, how can I help?", speaker="agent"),
    _ev(2, text="My number is 555 0100", speaker="customer"),
    _ev(3, "asr_result", latency_ms=120),
    _ev(4, text="Thanks, one moment", speaker="agent"),
    _ev(6, text="Account 12345 is fixed", speaker="agent"),
    _ev(7, "error", layer="tts"),
    _ev(8, text="Great", speaker="customer"),
    _ev(9, "call_ended"),
]


def test_ordered_log_replays_as_is() -> None:
    r = replay_timeline(ORDERED)
    assert r.trace_id == "tr-1" and r.timeline == ORDERED
    assert r.gaps == [(5, 5)] and r.duplicates == [] and r.out_of_order == [] and r.conflicts == []
    assert not r.complete


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_duplicated_log_equals_the_ordered_one(seed: int) -> None:
    rng = random.Random(seed)
    messy = ORDERED + [ORDERED[2], ORDERED[2], ORDERED[6]]
    rng.shuffle(messy)
    if [e.seq for e in messy] == sorted(e.seq for e in messy):  # pragma: no cover - guard
        messy.reverse()
    r = replay_timeline(messy)
    assert r.timeline == ORDERED
    assert r.duplicates == [2, 2, 7]
    assert r.gaps == [(5, 5)]
    assert r.out_of_order  # the shuffle is reported
    assert set(r.out_of_order) <= {e.seq for e in ORDERED}
    # deterministic parts do not depend on the shuffle
    base = replay_timeline(ORDERED + [ORDERED[2], ORDERED[2], ORDERED[6]])
    assert (r.timeline, r.duplicates, r.gaps, r.conflicts) == (
        base.timeline, base.duplicates, base.gaps, base.conflicts,
    )


def test_out_of_order_lists_late_arrivals() -> None:
    events = [_ev(0), _ev(3), _ev(1), _ev(2), _ev(4), _ev(1)]
    r = replay_timeline(events)
    assert r.out_of_order == [1, 2]  # the later duplicate of 1 is a duplicate, not late
    assert r.duplicates == [1] and r.gaps == []


def test_conflicting_copies_are_reported_and_resolved_deterministically() -> None:
    a = _ev(2, text="version a")
    b = Event("tr-1", 2, a.ts, "utterance", {"text": "version b"})
    r1 = replay_timeline([_ev(1), a, b, _ev(3)])
    r2 = replay_timeline([b, _ev(3), a, _ev(1)])
    assert r1.conflicts == [2] and r1.timeline == r2.timeline
    assert r1.duplicates == []


def test_clock_skew_is_reported() -> None:
    late_ts = Event("tr-1", 2, "2026-01-01T00:00:00Z", "utterance", {})
    r = replay_timeline([_ev(1), late_ts, _ev(3)])
    assert r.clock_skew == [2]


def test_trace_filter_and_to_dict() -> None:
    other = [_ev(0, trace="tr-2"), _ev(1, trace="tr-2")]
    r = replay_timeline(ORDERED + other, trace_id="tr-2")
    assert [e.trace_id for e in r.timeline] == ["tr-2", "tr-2"] and r.complete
    d = r.to_dict()
    assert d["events"] == 2 and d["first_seq"] == 0 and d["last_seq"] == 1 and d["gaps"] == []


@pytest.mark.parametrize(
    ("events", "kwargs", "message"),
    [
        ([], {}, "no events given"),
        ([_ev(0)], {"trace_id": "missing"}, "no events for trace 'missing'"),
        ([_ev(0), _ev(1, trace="tr-2")], {}, "2 traces"),
        ([_ev(0), Event("tr-1", -1, "t", "x", {})], {}, "position 1 has invalid seq -1"),
        ([Event("tr-1", "3", "t", "x", {})], {}, "invalid seq '3'"),  # type: ignore[arg-type]
    ],
)
def test_bad_logs_raise(events: list[Event], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replay_timeline(events, **kwargs)


# ------------------------------------------------------------------------ rerun_stage


def redact_digits(e: Event) -> str | None:
    """A stand-in redaction stage: digits become <NUM>; only utterances have output."""
    if e.type != "utterance":
        return None
    return re.sub(r"\d+", "<NUM>", str(e.payload["text"]))


def test_rerun_matching_recorded_outputs_gives_no_diff() -> None:
    timeline = replay_timeline(ORDERED)
    recorded = {e.seq: redact_digits(e) for e in ORDERED if e.type == "utterance"}
    assert rerun_stage(redact_digits, recorded, timeline) == []
    assert format_diff([]) == ""


def test_rerun_reports_changed_added_removed_and_orphan() -> None:
    timeline = replay_timeline(ORDERED)
    recorded = {
        1: "Hello, how can I help?",  # same
        2: "My number is 555 0100",  # recorded unredacted -> changed
        # 4 missing -> added
        6: "Account <NUM> is fixed",  # same
        8: "Great",
        3: "stale output for a non-utterance",  # -> removed
        42: "output of an event the log lost",  # -> orphan
    }
    diff = rerun_stage(redact_digits, recorded, timeline)
    assert [(d.seq, d.kind) for d in diff] == [(2, "changed"), (3, "removed"), (4, "added"), (42, "orphan")]
    changed = diff[0]
    assert changed.recorded == "My number is 555 0100" and changed.rerun == "My number is <NUM> <NUM>"
    assert "-My number is 555 0100" in changed.diff and "+My number is <NUM> <NUM>" in changed.diff
    assert changed.diff[0] == "--- recorded/seq=2"
    text = format_diff(diff)
    assert "+++ rerun/seq=4" in text and "-output of an event the log lost" in text


def test_rerun_on_structured_outputs() -> None:
    def count_words(e: Event) -> dict | None:
        return {"words": len(str(e.payload["text"]).split())} if e.type == "utterance" else None

    diff = rerun_stage(count_words, {1: {"words": 5}, 2: {"words": 1}}, ORDERED)
    kinds = {d.seq: d.kind for d in diff}
    assert kinds[2] == "changed" and 1 not in kinds and kinds[4] == "added"
    assert any('"words": 5' in line and line.startswith("+") for line in diff[0].diff)


def test_rerun_stage_failure_names_trace_and_seq() -> None:
    def boom(e: Event) -> str:
        if e.seq == 4:
            raise KeyError("text")
        return "ok"

    with pytest.raises(RuntimeError, match="trace tr-1 seq 4"):
        rerun_stage(boom, {}, replay_timeline(ORDERED))


def test_replay_result_is_frozen() -> None:
    r = replay_timeline(ORDERED)
    assert isinstance(r, ReplayResult)
    with pytest.raises(AttributeError):
        r.trace_id = "x"  # type: ignore[misc]

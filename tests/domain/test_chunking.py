"""Chunking: call / turn / window chunks of a redacted transcript."""

from __future__ import annotations

import pytest

from pipeline.domain.core.models import Segment, Transcript
from pipeline.domain.search.chunking import TRUNCATION_MARKER, chunk_transcript, speaker_turns


def _t(*segs: tuple[str, float, float, str]) -> Transcript:
    return Transcript("asr", [Segment(s, a, b, x) for s, a, b, x in segs], call_id="c1")


SIX_TURNS = _t(
    ("agent", 0, 2, "Hello."),
    ("agent", 2, 4, "How can I help?"),  # merged with the previous segment
    ("customer", 5, 8, "My card is blocked."),
    ("agent", 9, 10, "Let me check."),
    ("customer", 11, 12, "Thanks."),
    ("agent", 13, 15, "It is unblocked now."),
    ("customer", 16, 17, "Great, bye."),
)


def test_turns_merge_consecutive_segments_of_one_speaker() -> None:
    turns = speaker_turns(SIX_TURNS)
    assert [x.speaker for x in turns] == ["agent", "customer", "agent", "customer", "agent", "customer"]
    assert turns[0].text == "Hello. How can I help?"
    assert (turns[0].start, turns[0].end, turns[0].segment_count) == (0, 4, 2)


def test_blank_segments_neither_start_nor_break_a_turn() -> None:
    t = _t(("agent", 0, 1, "one"), ("customer", 1, 2, "   "), ("agent", 2, 3, "two"))
    turns = speaker_turns(t)
    assert len(turns) == 1 and turns[0].text == "one two"


def test_chunk_levels_ids_and_context() -> None:
    chunks = chunk_transcript(SIX_TURNS, "call-42", window_turns=4, window_stride=2)
    by_type = {k: [c for c in chunks if c.chunk_type == k] for k in ("call", "turn", "window")}
    assert len(by_type["call"]) == 1 and len(by_type["turn"]) == 6
    # windows start at 0 and 2 (6 turns, width 4, stride 2)
    assert [c.chunk_id for c in by_type["window"]] == ["call-42:window:0000", "call-42:window:0001"]
    call = by_type["call"][0]
    assert call.chunk_id == "call-42:call:0000" and call.speaker is None
    assert call.text.splitlines()[0] == "agent: Hello. How can I help?"
    assert (call.start, call.end) == (0, 17)
    turn1 = by_type["turn"][1]
    assert turn1.chunk_id == "call-42:turn:0001" and turn1.speaker == "customer"
    assert turn1.context == "Hello. How can I help?"
    assert by_type["turn"][0].context == ""
    w1 = by_type["window"][1]
    assert w1.context == "My card is blocked." and w1.text.startswith("agent: Let me check.")
    assert (w1.start, w1.end) == (9, 17)
    # deterministic: the same call chunks the same way
    assert chunk_transcript(SIX_TURNS, "call-42") == chunks
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_windows_cover_the_tail_turn() -> None:
    # 6 turns, width 4, stride 3: starts 0 and then the tail-aligned start 2
    windows = [c for c in chunk_transcript(SIX_TURNS, "c", 4, 3) if c.chunk_type == "window"]
    assert [w.start for w in windows] == [0, 9]
    assert windows[-1].text.endswith("customer: Great, bye.")


def test_short_call_gets_one_window_with_single_speaker() -> None:
    t = _t(("agent", 0, 1, "Hello"), ("agent", 1, 2, "anyone there?"))
    windows = [c for c in chunk_transcript(t, "c") if c.chunk_type == "window"]
    assert len(windows) == 1 and windows[0].speaker == "agent"


def test_call_chunk_truncated_with_marker() -> None:
    long = _t(*[("agent" if i % 2 else "customer", i, i + 1, "word " * 50) for i in range(20)])
    chunks = chunk_transcript(long, "c", max_chars=300)
    assert all(len(c.text) <= 300 for c in chunks)
    assert chunks[0].text.endswith(TRUNCATION_MARKER)
    short = chunk_transcript(SIX_TURNS, "c", max_chars=2000)
    assert not short[0].text.endswith(TRUNCATION_MARKER)


def test_empty_transcript_gives_no_chunks() -> None:
    assert chunk_transcript(Transcript("asr", []), "c") == []
    assert chunk_transcript(_t(("agent", 0, 1, "  ")), "c") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"call_id": ""}, "call_id"),
        ({"call_id": "c", "window_turns": 0}, "window_turns"),
        ({"call_id": "c", "window_turns": 2, "window_stride": 3}, "window_stride"),
        ({"call_id": "c", "window_stride": 0}, "window_stride"),
        ({"call_id": "c", "max_chars": 5}, "max_chars"),
    ],
)
def test_bad_parameters_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        chunk_transcript(SIX_TURNS, **kwargs)

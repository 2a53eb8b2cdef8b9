"""Conversation analytics on constructed calls with known timings, event metrics, rollups."""

from __future__ import annotations

import math

import pytest

from pipeline.domain.core.models import Event, Segment, Transcript, Word
from pipeline.domain.insights.analytics import (
    FAILURE_LAYERS,
    ROLLUP_COLUMNS,
    SENTIMENT_METHOD,
    conversation_metrics,
    event_metrics,
    flatten_metrics,
    rollup,
    sentiment_score,
    tokens,
)

DISCLOSURE = ["this call may be recorded"]


def _seg(spk: str, a: float, b: float, text: str) -> Segment:
    return Segment(spk, a, b, text)


def _words(spk: str, start: float, text: str, word_s: float = 0.4, gap_s: float = 0.1) -> Segment:
    """A segment with word timings: each word lasts word_s, gap_s apart."""
    ws, t = [], start
    for w in text.split():
        ws.append(Word(w, t, t + word_s))
        t += word_s + gap_s
    return Segment(spk, start, ws[-1].end, text, words=ws)


# agent [0,10] customer [12,30] agent [28,40] (2 s overtalk, customer stops 2 s after
# agent starts -> NOT an interruption), 25 s hold, customer [65,70], agent [69.5,80]
# (customer stops 0.5 s after agent starts, agent goes on -> interruption by agent),
# customer backchannel [75,76] inside agent's turn (overtalk, not an interruption).
CONSTRUCTED = Transcript(
    "asr",
    [
        _seg("agent", 0, 10, "one two three four five"),
        _seg("customer", 12, 30, "six seven eight nine"),
        _seg("agent", 28, 40, "ten eleven"),
        _seg("customer", 65, 70, "twelve"),
        _seg("agent", 69.5, 80, "thirteen fourteen fifteen"),
        _seg("customer", 75, 76, "mmhmm"),
    ],
    call_id="constructed",
    duration=90.0,
)


@pytest.fixture(scope="module")
def constructed() -> dict:
    return conversation_metrics(CONSTRUCTED, DISCLOSURE)


def test_talk_times_and_ratios_exact(constructed: dict) -> None:
    m = constructed
    assert m["timing_level"] == "segment"
    assert m["duration_s"] == 90.0
    assert m["talk_s"] == {"agent": 32.5, "customer": 24.0}
    assert m["talk_ratio"] == {"agent": round(32.5 / 56.5, 3), "customer": round(24 / 56.5, 3)}
    assert m["speech_s"] == 53.0  # union [0,10] [12,40] [65,80]
    assert m["silence_s"] == 37.0


def test_dead_air_and_holds_exact(constructed: dict) -> None:
    assert constructed["longest_dead_air_s"] == 25.0
    assert constructed["hold_segments"] == [{"start": 40.0, "end": 65.0, "duration_s": 25.0}]
    assert constructed["hold_count"] == 1 and constructed["hold_s"] == 25.0
    # a higher hold threshold finds no hold, dead air unchanged
    m = conversation_metrics(CONSTRUCTED, DISCLOSURE, hold_min_gap_s=30)
    assert m["hold_segments"] == [] and m["longest_dead_air_s"] == 25.0


def test_overtalk_and_interruptions(constructed: dict) -> None:
    assert constructed["overtalk_s"] == 3.5  # 2 + 0.5 + 1
    assert constructed["interruptions"] == 1
    assert constructed["interruptions_by_speaker"] == {"agent": 1, "customer": 0}


def test_interruption_needs_the_other_to_yield_within_1_5_s() -> None:
    def call(other_stops_at: float) -> dict:
        t = Transcript(
            "asr",
            [_seg("customer", 0, other_stops_at, "a b c"), _seg("agent", 5, 12, "d e f")],
        )
        return conversation_metrics(t, DISCLOSURE)

    assert call(6.5)["interruptions_by_speaker"]["agent"] == 1  # yields 1.5 s later
    assert call(6.6)["interruptions_by_speaker"]["agent"] == 0  # 1.6 s: talked over
    assert call(6.5)["overtalk_s"] == 1.5


def test_speaking_rate_and_turns(constructed: dict) -> None:
    # agent: 10 words in 32.5 s; customer: 6 words in 24 s
    assert constructed["speaking_rate_wpm"] == {
        "agent": round(10 / (32.5 / 60), 3),
        "customer": round(6 / (24 / 60), 3),
    }
    assert constructed["turn_count"] == 6
    assert constructed["word_count"] == 16


def test_word_level_timing_is_used_when_words_exist() -> None:
    # 4 words of 0.4 s, 0.1 s apart: 1.6 s of talk over a 1.9 s segment
    t = Transcript("asr", [_words("agent", 0.0, "hello how are you"), _seg("customer", 3, 5, "fine thanks")])
    m = conversation_metrics(t, DISCLOSURE)
    assert m["timing_level"] == "mixed"
    assert m["talk_s"] == {"agent": 1.6, "customer": 2.0}
    assert m["speech_s"] == 3.6
    assert m["longest_dead_air_s"] == 1.1  # 1.9 -> 3.0
    assert m["silence_s"] == round(5.0 - 3.6, 3)


def test_disclosure_inside_window_with_word_timing() -> None:
    seg = _words("agent", 2.0, "Hi, this call may be recorded. How can I help?")
    m = conversation_metrics(Transcript("asr", [seg]), DISCLOSURE, disclosure_within_s=30)
    assert m["disclosure_required"] is True
    assert m["disclosure_given"] is True
    assert m["disclosure_at_s"] == 2.5  # the word "this" starts at 2.0 + 0.5
    assert m["disclosure_phrase"] == DISCLOSURE[0]


def test_disclosure_outside_window_is_not_given_but_reported() -> None:
    seg = _words("agent", 40.0, "by the way this call may be recorded")
    m = conversation_metrics(Transcript("asr", [seg]), DISCLOSURE, disclosure_within_s=30)
    assert m["disclosure_given"] is False
    assert m["disclosure_at_s"] == 41.5


def test_disclosure_spanning_two_segments_and_case_punctuation() -> None:
    t = Transcript("asr", [_seg("agent", 0, 2, "Hello. This CALL may"), _seg("agent", 2, 4, "be recorded!")])
    m = conversation_metrics(t, DISCLOSURE)
    assert m["disclosure_given"] is True
    # segment-level: interpolated by character position ("this" at char 7 of 20)
    assert m["disclosure_at_s"] == round(2 * 7 / 20, 3)


def test_disclosure_said_by_customer_does_not_count() -> None:
    t = Transcript("asr", [_seg("agent", 0, 2, "hello"), _seg("customer", 2, 6, "this call may be recorded")])
    m = conversation_metrics(t, DISCLOSURE)
    assert m["disclosure_given"] is False and m["disclosure_at_s"] is None


def test_disclosure_by_customer_alone_does_not_count() -> None:
    t = Transcript("asr", [_seg("customer", 0, 5, "is this call may be recorded?")])
    assert conversation_metrics(t, DISCLOSURE)["disclosure_given"] is False


def test_disclosure_by_anyone_when_roles_are_unknown() -> None:
    t = Transcript("asr", [_seg("speaker", 0, 5, "this call may be recorded")], diarised=False)
    assert conversation_metrics(t, DISCLOSURE)["disclosure_given"] is True
    named = Transcript("webvtt", [_seg("Alice", 0, 5, "this call may be recorded")])
    assert conversation_metrics(named, DISCLOSURE)["disclosure_given"] is True


def test_no_disclosure_phrases_means_not_required() -> None:
    m = conversation_metrics(CONSTRUCTED, [])
    assert m["disclosure_required"] is False and m["disclosure_given"] is None


def test_escalation_default_and_custom_phrases() -> None:
    t = Transcript(
        "asr",
        [_seg("customer", 0, 4, "I want to speak to your Supervisor."), _seg("agent", 4, 8, "Of course.")],
    )
    m = conversation_metrics(t, DISCLOSURE)
    assert m["escalated"] is True and m["escalation_phrase"] == "supervisor"
    assert conversation_metrics(CONSTRUCTED, DISCLOSURE)["escalated"] is False
    custom = conversation_metrics(t, DISCLOSURE, escalation_phrases=["speak to a human"])
    assert custom["escalated"] is False

    def escalated(text: str) -> bool:
        return conversation_metrics(Transcript("asr", [_seg("agent", 0, 2, text)]), DISCLOSURE)["escalated"]

    # a money transfer is not a call transfer (measured false positives on banking dialogues)
    assert not escalated("I'd like to transfer money to savings")
    assert not escalated("After the transfer you just authorized, your balance is <AMOUNT>")
    assert not escalated("The funds were transferred to your account")
    assert escalated("Let me transfer you to the fraud team")
    assert escalated("I'll put you through now")


def test_sentiment_lexicon_labels_and_negation() -> None:
    t = Transcript(
        "asr",
        [
            _seg("agent", 0, 3, "Happy to help, thank you!"),
            _seg("customer", 3, 6, "This is terrible, I am so frustrated."),
        ],
    )
    s = conversation_metrics(t, DISCLOSURE)["sentiment"]
    assert s["method"] == SENTIMENT_METHOD == "lexicon-v1"
    assert s["by_speaker"]["agent"]["label"] == "positive"
    assert s["by_speaker"]["customer"] == {"score": -1.0, "label": "negative", "hits": 2}
    assert s["overall"] == 0.0 and s["overall_label"] == "neutral"
    assert sentiment_score(tokens("that was not good"))[0] == -1.0
    assert sentiment_score(tokens("no problem at all"))[0] == 1.0
    assert sentiment_score(tokens("the account number"))[0] == 0.0


def test_empty_transcript_metrics() -> None:
    m = conversation_metrics(Transcript("asr", [], duration=12.0), DISCLOSURE)
    assert m["duration_s"] == 12.0 and m["silence_s"] == 12.0
    assert m["talk_s"] == {} and m["turn_count"] == 0 and m["longest_dead_air_s"] == 0.0
    assert m["disclosure_given"] is False and m["timing_level"] == "none"


@pytest.mark.parametrize(
    ("segments", "kwargs", "message"),
    [
        ([_seg("agent", -1, 2, "x")], {}, "segment 0: start -1"),
        ([_seg("agent", 0, 1, "x"), _seg("agent", 3, 2, "y")], {}, "segment 1: end 2.0 is before start 3"),
        ([_seg("agent", 0, math.nan, "x")], {}, "not a finite number"),
        ([Segment("agent", 0, 2, "x", words=[Word("x", 1.5, 1.0)])], {}, "word ends"),
        ([_seg("agent", 0, 1, "x")], {"disclosure_phrases": ["  ?! "]}, "no words"),
        ([_seg("agent", 0, 1, "x")], {"escalation_phrases": [""]}, "escalation_phrases"),
        ([_seg("agent", 0, 1, "x")], {"hold_min_gap_s": 0}, "hold_min_gap_s"),
        ([_seg("agent", 0, 1, "x")], {"disclosure_within_s": -5}, "disclosure_within_s"),
    ],
)
def test_bad_input_raises_naming_call(segments: list[Segment], kwargs: dict, message: str) -> None:
    kwargs = {"disclosure_phrases": DISCLOSURE, **kwargs}
    with pytest.raises(ValueError, match=message) as err:
        conversation_metrics(Transcript("asr", segments, call_id="bad-call"), **kwargs)
    assert "bad-call" in str(err.value)


def test_flatten_metrics(constructed: dict) -> None:
    row = flatten_metrics(constructed)
    assert row["talk_ratio_agent"] == constructed["talk_ratio"]["agent"]
    assert row["sentiment_method"] == "lexicon-v1"
    assert "hold_segments" not in row and row["hold_count"] == 1
    assert all(not isinstance(v, (dict, list)) for v in row.values())
    assert flatten_metrics(row) == row


# --------------------------------------------------------------------------- events


def _ev(seq: int, typ: str, trace: str = "t1", **payload: object) -> Event:
    return Event(trace, seq, f"2026-01-01T00:00:{seq:02d}Z", typ, dict(payload))


def test_event_metrics_failures_and_latency_percentiles() -> None:
    events = [
        _ev(0, "asr_result", component="asr", latency_ms=100),
        _ev(1, "asr_result", component="asr", latency_ms=200),
        _ev(2, "asr_result", component="asr", latency_ms=300),
        _ev(3, "asr_result", component="asr", latency_ms=400),
        _ev(4, "llm_response", latency_ms=1000),  # component from the type
        _ev(5, "error", layer="ASR"),
        _ev(6, "error", layer="tool", latency_ms=50),  # component from the layer
        _ev(7, "error"),
        _ev(0, "error", trace="t2", layer="telephony"),
        _ev(3, "asr_result", component="asr", latency_ms=400),  # exact duplicate
    ]
    m = event_metrics(events)
    assert m["event_count"] == 9 and m["trace_count"] == 2 and m["duplicates_dropped"] == 1
    assert m["error_count"] == 4
    assert m["failures_by_layer"] == {
        "telephony": 1, "audio": 0, "asr": 1, "llm": 0, "tts": 0, "tool": 1, "unknown": 1,
    }
    assert set(FAILURE_LAYERS) <= set(m["failures_by_layer"])
    assert m["latency_ms"]["asr"] == {"count": 4, "p50": 250.0, "p95": 385.0, "max": 400.0}
    assert m["latency_p50_ms_asr"] == 250.0 and m["latency_p95_ms_asr"] == 385.0
    assert m["latency_p50_ms_llm_response"] == 1000.0
    assert m["latency_ms"]["tool"]["count"] == 1


def test_event_metrics_empty() -> None:
    m = event_metrics([])
    assert m["event_count"] == 0 and m["error_count"] == 0 and m["latency_ms"] == {}


@pytest.mark.parametrize("bad", ["fast", -1, float("nan"), True])
def test_event_metrics_bad_latency(bad: object) -> None:
    with pytest.raises(ValueError, match="trace t1 seq 3: latency_ms"):
        event_metrics([_ev(3, "tts_done", latency_ms=bad)])


def test_event_metrics_rejects_non_events() -> None:
    with pytest.raises(ValueError, match="expected Event"):
        event_metrics([{"trace_id": "t", "seq": 1}])  # type: ignore[list-item]


# --------------------------------------------------------------------------- rollups


def _row(date: str, agent: str, ratio: float, dead: float, disc: bool | None, esc: bool) -> dict:
    m = conversation_metrics(CONSTRUCTED, DISCLOSURE)
    m.update(
        date=date,
        agent_id=agent,
        talk_ratio={"agent": ratio, "customer": round(1 - ratio, 3)},
        longest_dead_air_s=dead,
        disclosure_given=disc,
        escalated=esc,
    )
    return m


def test_rollup_daily_and_per_agent() -> None:
    rows = [
        _row("2026-01-01", "a1", 0.6, 10.0, True, False),
        _row("2026-01-01", "a2", 0.4, 20.0, False, True),
        _row("2026-01-02", "a1", 0.5, 30.0, None, False),
    ]
    daily = rollup(rows, "date")
    assert list(daily.columns) == ["date", *ROLLUP_COLUMNS]
    d1 = daily.set_index("date").loc["2026-01-01"]
    assert d1["calls"] == 2
    assert d1["mean_talk_ratio_agent"] == pytest.approx(0.5)
    assert d1["mean_longest_dead_air_s"] == pytest.approx(15.0)
    assert d1["disclosure_rate"] == pytest.approx(0.5)
    assert d1["escalation_rate"] == pytest.approx(0.5)
    d2 = daily.set_index("date").loc["2026-01-02"]
    assert math.isnan(d2["disclosure_rate"])  # no call required a disclosure
    agents = rollup([flatten_metrics(r) for r in rows], "agent_id").set_index("agent_id")
    assert agents.loc["a1", "calls"] == 2 and agents.loc["a1", "disclosure_rate"] == 1.0
    assert agents.loc["a1", "mean_longest_dead_air_s"] == pytest.approx(20.0)


def test_rollup_empty_and_missing_key() -> None:
    empty = rollup([], "date")
    assert empty.empty and list(empty.columns) == ["date", *ROLLUP_COLUMNS]
    rows = [_row("2026-01-01", "a1", 0.5, 1.0, True, False), {"call_id": "x9"}]
    with pytest.raises(ValueError, match=r"row 1 \(call x9\) has no 'date'"):
        rollup(rows, "date")
    with pytest.raises(ValueError, match="must name a column"):
        rollup(rows, "")

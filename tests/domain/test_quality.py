"""Quality metrics, the quality gate and WER/CER (pure, no model)."""

from __future__ import annotations

import pytest

from pipeline.domain.core.models import Segment, Transcript, Word
from pipeline.domain.speech.quality import (
    ABNORMAL_SPEAKING_RATE,
    CLIPPING,
    HALLUCINATION_REPETITION,
    HIGH_COMPRESSION_RATIO,
    HIGH_NO_SPEECH_PROB,
    HIGH_WER,
    LOW_AVG_LOGPROB,
    LOW_CONFIDENCE_WORDS,
    LOW_SNR,
    LOW_SPEECH_RATIO,
    NO_WORDS,
    REFERENCE_MISMATCH,
    SPEECH_DROPPED,
    TOO_SHORT,
    QualityThresholds,
    compression_ratio,
    normalize_text,
    quality_gate,
    repetition_stats,
    speech_coverage,
    transcript_quality,
    wer_cer,
)

GOOD_TEXT = "he was not an ill disposed young man unless to be rather cold hearted"
THANKS = " ".join(["thank you"] * 12)


def _words(text: str, start: float, end: float, probs: list[float]) -> list[Word]:
    toks = text.split()
    step = (end - start) / len(toks)
    return [
        Word(t, round(start + i * step, 3), round(start + (i + 1) * step, 3), p)
        for i, (t, p) in enumerate(zip(toks, probs))
    ]


def _transcript() -> Transcript:
    a = "hello thanks for calling"
    b = "i want to check my card balance please"
    return Transcript(
        source_format="asr",
        duration=12.0,
        segments=[
            Segment("agent", 0.0, 1.0, a, _words(a, 0, 1, [0.9, 0.9, 0.2, 0.9]), -0.2, 0.1, 1.1, 0),
            Segment("customer", 2.0, 5.0, b, _words(b, 2, 5, [0.9] * 7 + [0.4]), -1.0, 0.3, 1.3, 1),
        ],
    )


def test_transcript_quality_values() -> None:
    q = transcript_quality(_transcript(), {"duration": 12.0, "speech_ratio": 0.4, "snr_db": 25.0,
                                           "clipping_ratio": 0.001, "rms_dbfs": -25.0})
    assert q["avg_logprob"] == pytest.approx((-0.2 * 1 + -1.0 * 3) / 4)  # duration-weighted
    assert q["no_speech_prob"] == pytest.approx((0.1 * 1 + 0.3 * 3) / 4)
    assert q["compression_ratio"] == pytest.approx(1.3)  # max over segments
    assert q["word_count"] == 12
    assert q["words_per_minute"] == pytest.approx(60.0)
    assert q["low_conf_word_share"] == pytest.approx(2 / 12, abs=1e-4)
    assert (q["speech_ratio"], q["snr_db"], q["clipping_ratio"]) == (0.4, 25.0, 0.001)
    assert q["segment_count"] == 2 and q["speakers"] == ["agent", "customer"]
    assert q["repetition_score"] == 0.0 and q["max_consecutive_repeats"] == 1
    assert quality_gate(q) == []


def test_quality_without_signal_or_asr_fields() -> None:
    """An imported transcript (no probabilities, no logprobs) still gets metrics."""
    t = Transcript("webvtt", [Segment("agent", 0.0, 30.0, GOOD_TEXT)], duration=None)
    q = transcript_quality(t)
    assert q["duration"] == 30.0  # falls back to last segment end
    assert q["avg_logprob"] is None and q["no_speech_prob"] is None
    assert q["low_conf_word_share"] is None and q["speech_ratio"] is None
    assert q["word_count"] == len(GOOD_TEXT.split())
    assert q["compression_ratio"] == pytest.approx(compression_ratio(GOOD_TEXT), abs=1e-4)
    assert quality_gate(q) == []  # unknowns never fail


def test_empty_transcript_quality() -> None:
    signal = {"duration": 4.0, "speech_ratio": 0.0}
    q = transcript_quality(Transcript("asr", [], duration=4.0), signal)
    assert q["word_count"] == 0 and q["avg_logprob"] is None
    assert set(quality_gate(q)) == {NO_WORDS, LOW_SPEECH_RATIO}


def test_repetition_detector_flags_thank_you_loop() -> None:
    stats = repetition_stats(THANKS)
    assert stats["repetition_score"] > 0.8
    assert stats["max_consecutive_repeats"] == 12
    normal = repetition_stats(GOOD_TEXT)
    assert normal["repetition_score"] == 0.0 and normal["max_consecutive_repeats"] == 1
    # a real call may repeat a phrase a few times: not a hallucination
    assert repetition_stats("no no no i said the blue one")["max_consecutive_repeats"] == 3
    assert repetition_stats("")["max_consecutive_repeats"] == 0


def test_hallucinated_segment_fails_gate_even_inside_a_long_call() -> None:
    long_ok = " ".join(f"sentence number {i} about the account" for i in range(40))
    t = Transcript(
        "asr",
        [Segment("agent", 0, 120, long_ok, avg_logprob=-0.3),
         Segment("customer", 120, 130, THANKS, avg_logprob=-0.3, compression_ratio=4.1)],
        duration=130.0,
    )
    q = transcript_quality(t)
    assert q["repetition_score"] < 0.5  # diluted globally ...
    reasons = quality_gate(q)
    assert HALLUCINATION_REPETITION in reasons  # ... but the run of repeats is caught
    assert HIGH_COMPRESSION_RATIO in reasons
    assert compression_ratio(THANKS) > 2.4


GOOD_Q = {
    "duration": 60.0, "word_count": 150, "speech_ratio": 0.6, "snr_db": 30.0,
    "clipping_ratio": 0.0, "avg_logprob": -0.3, "no_speech_prob": 0.05,
    "compression_ratio": 1.5, "repetition_score": 0.02, "max_consecutive_repeats": 2,
    "low_conf_word_share": 0.05, "words_per_minute": 150.0,
}


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("duration", 0.3, TOO_SHORT),
        ("word_count", 0, NO_WORDS),
        ("speech_ratio", 0.01, LOW_SPEECH_RATIO),
        ("clipping_ratio", 0.2, CLIPPING),
        ("avg_logprob", -1.5, LOW_AVG_LOGPROB),
        ("no_speech_prob", 0.9, HIGH_NO_SPEECH_PROB),
        ("compression_ratio", 2.9, HIGH_COMPRESSION_RATIO),
        ("repetition_score", 0.7, HALLUCINATION_REPETITION),
        ("max_consecutive_repeats", 9, HALLUCINATION_REPETITION),
        ("low_conf_word_share", 0.6, LOW_CONFIDENCE_WORDS),
        ("words_per_minute", 900.0, ABNORMAL_SPEAKING_RATE),
    ],
)
def test_gate_reasons(key: str, value: float, reason: str) -> None:
    assert quality_gate(GOOD_Q) == []
    assert quality_gate({**GOOD_Q, key: value}) == [reason]


def test_gate_optional_thresholds() -> None:
    q = {**GOOD_Q, "snr_db": 5.0, "wer": 0.2}
    assert quality_gate(q) == []  # snr check is off by default; wer 0.2 is within 0.25
    assert quality_gate({**q, "wer": 0.4}) == [REFERENCE_MISMATCH]  # on by default (0.25)
    th = QualityThresholds(min_snr_db=10.0, max_wer=0.1)
    assert quality_gate(q, th) == [LOW_SNR, HIGH_WER]
    assert HIGH_WER == REFERENCE_MISMATCH == "reference_mismatch"
    assert quality_gate({**GOOD_Q, "wer": 0.9}, QualityThresholds(max_wer=None)) == []
    off = QualityThresholds(min_avg_logprob=None)
    assert quality_gate({**GOOD_Q, "avg_logprob": -5.0}, off) == []
    assert th.to_dict()["min_snr_db"] == 10.0


def test_gate_multiple_reasons_in_stable_order() -> None:
    q = {**GOOD_Q, "avg_logprob": -2.0, "speech_ratio": 0.0, "duration": 0.1}
    assert quality_gate(q) == [TOO_SHORT, LOW_SPEECH_RATIO, LOW_AVG_LOGPROB]


# ------------------------------------------------------------------ WER / CER


def test_normalizer() -> None:
    assert normalize_text("Mr. Dashwood, DON'T — ill-disposed; 42 times!") == (
        "mister dashwood dont ill disposed 4 2 times"
    )
    # written and spoken numbers compare equal, digit by digit
    assert normalize_text("Five five five, one two three.") == normalize_text("555-123") == "5 5 5 1 2 3"
    assert normalize_text("twenty three") == normalize_text("23") == "2 3"


def test_wer_cer_values() -> None:
    assert wer_cer("Hello, World!", "hello world") == {"wer": 0.0, "cer": 0.0}
    r = wer_cer("a b c d", "a x c")  # 1 substitution + 1 deletion
    assert r["wer"] == 0.5
    assert r["cer"] == pytest.approx(3 / 7, abs=1e-4)  # b->x, " d" deleted
    assert wer_cer("one two", "")["wer"] == 1.0
    assert wer_cer("call 42 now", "call forty two now")["wer"] == 0.0  # numbers normalised
    assert wer_cer("call 42 now", "call 43 now")["wer"] > 0


def test_wer_corpus_level() -> None:
    r = wer_cer(["a b c d", "e f"], ["a b c d", "e x"])
    assert r["wer"] == pytest.approx(1 / 6, abs=1e-4)


@pytest.mark.parametrize(
    ("ref", "hyp", "match"),
    [("", "hello", "empty"), ("?!", "hello", "empty"), (["a", "b"], ["a"], "2 references"),
     ([], [], "no reference")],
)
def test_wer_bad_input(ref: object, hyp: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        wer_cer(ref, hyp)  # type: ignore[arg-type]


def test_speech_dropped_when_coverage_below_bound() -> None:
    assert quality_gate({**GOOD_Q, "speech_coverage_min": 0.9}) == []
    assert quality_gate({**GOOD_Q, "speech_coverage_min": 0.6}) == [SPEECH_DROPPED]
    assert quality_gate({**GOOD_Q, "speech_coverage_min": 0.6}, QualityThresholds(min_speech_coverage=0.5)) == []


@pytest.mark.parametrize(
    ("speech", "words", "expected"),
    [
        ([[0, 2], [5, 6]], [(0.1, 1.9)], 0.6667),  # the second turn (5-6 s) is missing
        ([[0, 1]], [(0.25, 0.75)], 1.0),  # within the 0.3 s tolerance
        ([[0, 1]], [], 0.0),
        ([], [(0, 1)], None),  # no speech: nothing to cover
        ([[0, 4]], [(0, 1), (0.5, 1.5)], 0.45),  # overlapping words count once
    ],
)
def test_speech_coverage(speech, words, expected) -> None:
    assert speech_coverage(speech, words) == expected

"""Transcript quality metrics, the quality gate and WER/CER.

Pure functions over :class:`~pipeline.domain.core.models.Transcript` (whatever its source) and
the signal metrics of :func:`pipeline.domain.speech.audio.signal_metrics`. The gate returns
machine-readable reasons that become quarantine codes; an empty list passes.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.domain.core.models import Transcript

#: Words below this probability count as low-confidence.
LOW_CONF_PROBABILITY = 0.5

# reason codes returned by quality_gate (stable: they are stored in quarantine records)
TOO_SHORT = "too_short"
NO_WORDS = "no_words"
LOW_SPEECH_RATIO = "low_speech_ratio"
LOW_SNR = "low_snr"
CLIPPING = "clipping"
LOW_AVG_LOGPROB = "low_avg_logprob"
HIGH_NO_SPEECH_PROB = "high_no_speech_prob"
HIGH_COMPRESSION_RATIO = "high_compression_ratio"
HALLUCINATION_REPETITION = "hallucination_repetition"
LOW_CONFIDENCE_WORDS = "low_confidence_words"
ABNORMAL_SPEAKING_RATE = "abnormal_speaking_rate"
#: the transcript disagrees with the call's platform transcript beyond ``max_wer``
REFERENCE_MISMATCH = "reference_mismatch"
HIGH_WER = REFERENCE_MISMATCH  # the old name of the same reason
#: a channel's VAD speech is not covered by transcribed words (``min_speech_coverage``)
SPEECH_DROPPED = "speech_dropped"


@dataclass(frozen=True)
class QualityThresholds:
    """Gate thresholds; ``None`` disables a check. Metrics that are missing (``None``)
    in the quality dict never fail a check: they cannot be judged."""

    min_duration_s: float | None = 0.5
    min_words: int | None = 1
    min_speech_ratio: float | None = 0.05
    min_snr_db: float | None = None
    max_clipping_ratio: float | None = 0.05
    min_avg_logprob: float | None = -1.2
    max_no_speech_prob: float | None = 0.8
    max_compression_ratio: float | None = 2.4
    max_repetition_score: float | None = 0.5
    max_consecutive_repeats: int | None = 5
    max_low_conf_word_share: float | None = 0.5
    max_words_per_minute: float | None = 400.0
    max_wer: float | None = 0.25
    min_speech_coverage: float | None = 0.85

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for run metadata)."""
        return asdict(self)


# --------------------------------------------------------------------------- text helpers

_PUNCT_AS_SPACE = re.compile(r"[-\u2010-\u2015/_]")
_DROP = re.compile(r"[^\w\s]")
#: spoken forms of titles, as Whisper's English normaliser does ("Mr." vs "mister")
_TITLES = {"mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor"}


_UNIT_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS_WORDS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}


def _numbers_as_digits(words: list[str]) -> list[str]:
    """Number words -> digits ("twenty three" -> 23), then every digit run spelled out one
    digit a token ("555" -> 5 5 5): a phone number written "555-1234" and spoken "five
    five five, one two three four" compare equal, whatever the ASR or the caption chose."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _TENS_WORDS:
            v = _TENS_WORDS[w]
            if i + 1 < len(words) and words[i + 1] in _UNIT_WORDS and 0 < _UNIT_WORDS[words[i + 1]] < 10:
                v += _UNIT_WORDS[words[i + 1]]
                i += 1
            w = str(v)
        elif w in _UNIT_WORDS:
            w = str(_UNIT_WORDS[w])
        out.extend(list(w) if w.isdigit() else [w])
        i += 1
    return out


def normalize_text(text: str) -> str:
    """Normaliser for WER/CER: NFKC, lowercase, hyphens/slashes to spaces, other
    punctuation (apostrophes too: "don't" == "dont") dropped, Mr/Mrs/Ms/Dr spelled out,
    numbers as single digits whether written or spoken (:func:`_numbers_as_digits`),
    whitespace collapsed."""
    return " ".join(_numbers_as_digits(_words(text)))


def _words(text: str) -> list[str]:
    t = unicodedata.normalize("NFKC", text).lower()
    t = _PUNCT_AS_SPACE.sub(" ", t)
    t = _DROP.sub("", t)
    return [_TITLES.get(w, w) for w in t.split()]


def _tokens(text: str) -> list[str]:
    return _words(text)  # numbers as written: "555" is one token for repetition stats


def compression_ratio(text: str) -> float:
    """Whisper's compression ratio: UTF-8 bytes / zlib-compressed bytes (0 for empty)."""
    data = text.encode("utf-8")
    return 0.0 if not data else len(data) / len(zlib.compress(data))


def repetition_stats(text: str, n: int = 4) -> dict[str, float | int]:
    """N-gram repetition (the hallucination signature of Whisper-style decoders).

    ``repetition_score``: share of duplicate n-grams (1 - unique/total), with ``n``
    shrunk for short texts; 0 when there are fewer than 2 n-grams.
    ``max_consecutive_repeats``: longest run of the same 1..6-gram repeated back to
    back ("thank you thank you thank you" -> 3).
    """
    toks = _tokens(text)
    k = min(n, max(1, len(toks) // 2))
    grams = [tuple(toks[i : i + k]) for i in range(len(toks) - k + 1)]
    score = 0.0 if len(grams) < 2 else 1.0 - len(set(grams)) / len(grams)
    best = 1 if toks else 0
    for size in range(1, 7):
        if 2 * size > len(toks):
            break
        for start in range(size):  # each phase of the tiling
            run = 1
            prev: tuple[str, ...] | None = None
            for i in range(start, len(toks) - size + 1, size):
                g = tuple(toks[i : i + size])
                run = run + 1 if g == prev else 1
                prev = g
                best = max(best, run)
    return {"repetition_score": round(score, 4), "max_consecutive_repeats": best}


# --------------------------------------------------------------------------- metrics


def _weighted_mean(pairs: list[tuple[float, float]]) -> float | None:
    total = sum(w for _, w in pairs)
    if not pairs:
        return None
    if total <= 0:
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * w for v, w in pairs) / total


def transcript_quality(transcript: Transcript, signal: dict[str, Any] | None = None) -> dict:
    """Per-call quality metrics (JSON-safe; ``None`` where a metric cannot be computed).

    From the transcript: ``avg_logprob`` and ``no_speech_prob`` (duration-weighted means
    over segments), ``compression_ratio`` (max over segments; computed from text when the
    source did not supply it), ``repetition_score`` / ``max_consecutive_repeats``,
    ``word_count``, ``words_per_minute``, ``low_conf_word_share`` (words with probability
    < 0.5 among words that carry a probability), ``segment_count``, ``speakers``.
    From ``signal`` (see ``audio.signal_metrics``): ``speech_ratio``, ``snr_db``,
    ``clipping_ratio``, ``rms_dbfs``. ``duration`` comes from the signal, else the
    transcript, else the last segment end.
    """
    segs = transcript.segments
    sig = signal or {}
    duration = sig.get("duration")
    if duration is None:
        duration = transcript.duration
    if duration is None:
        duration = max((s.end for s in segs), default=0.0)

    lp = [(s.avg_logprob, max(0.0, s.end - s.start)) for s in segs if s.avg_logprob is not None]
    nsp = [
        (s.no_speech_prob, max(0.0, s.end - s.start)) for s in segs if s.no_speech_prob is not None
    ]
    crs = [
        s.compression_ratio if s.compression_ratio is not None else compression_ratio(s.text)
        for s in segs
        if s.text.strip()
    ]
    text = transcript.text
    word_count = 0
    probs: list[float] = []
    for s in segs:
        if s.words:
            word_count += len(s.words)
            probs.extend(w.probability for w in s.words if w.probability is not None)
        else:
            word_count += len(s.text.split())
    low_conf = (
        sum(1 for p in probs if p < LOW_CONF_PROBABILITY) / len(probs) if probs else None
    )
    wpm = word_count / (duration / 60.0) if duration and duration > 0 else None

    def r(v: float | None, nd: int = 4) -> float | None:
        return None if v is None else round(float(v), nd)

    q: dict[str, Any] = {
        "duration": r(duration, 3),
        "speech_ratio": r(sig.get("speech_ratio")),
        "snr_db": r(sig.get("snr_db"), 2),
        "clipping_ratio": r(sig.get("clipping_ratio"), 6),
        "rms_dbfs": r(sig.get("rms_dbfs"), 2),
        "avg_logprob": r(_weighted_mean(lp)),
        "no_speech_prob": r(_weighted_mean(nsp)),
        "compression_ratio": r(max(crs) if crs else None),
        "word_count": word_count,
        "words_per_minute": r(wpm, 1),
        "low_conf_word_share": r(low_conf),
        "segment_count": len(segs),
        "speakers": sorted({s.speaker for s in segs}),
    }
    q.update(repetition_stats(text))
    return q


def quality_gate(quality: dict[str, Any], thresholds: QualityThresholds | None = None) -> list[str]:
    """Machine-readable reasons why a call fails the gate; ``[]`` means it passes."""
    t = thresholds or QualityThresholds()
    reasons: list[str] = []

    def below(key: str, limit: float | None) -> bool:
        v = quality.get(key)
        return limit is not None and v is not None and v < limit

    def above(key: str, limit: float | None) -> bool:
        v = quality.get(key)
        return limit is not None and v is not None and v > limit

    if below("duration", t.min_duration_s):
        reasons.append(TOO_SHORT)
    if below("word_count", t.min_words):
        reasons.append(NO_WORDS)
    if below("speech_ratio", t.min_speech_ratio):
        reasons.append(LOW_SPEECH_RATIO)
    if below("snr_db", t.min_snr_db):
        reasons.append(LOW_SNR)
    if above("clipping_ratio", t.max_clipping_ratio):
        reasons.append(CLIPPING)
    if below("avg_logprob", t.min_avg_logprob):
        reasons.append(LOW_AVG_LOGPROB)
    if above("no_speech_prob", t.max_no_speech_prob):
        reasons.append(HIGH_NO_SPEECH_PROB)
    if above("compression_ratio", t.max_compression_ratio):
        reasons.append(HIGH_COMPRESSION_RATIO)
    if above("repetition_score", t.max_repetition_score) or above(
        "max_consecutive_repeats", t.max_consecutive_repeats
    ):
        reasons.append(HALLUCINATION_REPETITION)
    if above("low_conf_word_share", t.max_low_conf_word_share):
        reasons.append(LOW_CONFIDENCE_WORDS)
    if above("words_per_minute", t.max_words_per_minute):
        reasons.append(ABNORMAL_SPEAKING_RATE)
    if above("wer", t.max_wer):
        reasons.append(REFERENCE_MISMATCH)
    if below("speech_coverage_min", t.min_speech_coverage):
        reasons.append(SPEECH_DROPPED)
    return reasons


#: seconds around a word still counted as covered (VAD pads speech; Whisper trims words)
COVERAGE_TOLERANCE_S = 0.3


def speech_coverage(
    speech_intervals: Sequence[Sequence[float]],
    word_spans: Sequence[Sequence[float]],
    tolerance: float = COVERAGE_TOLERANCE_S,
) -> float | None:
    """Share of a channel's VAD speech seconds that lie inside transcribed words.

    Each word ``(start, end)`` is widened by ``tolerance`` on both sides; the result is
    |speech ∩ words| / |speech|, or ``None`` for a channel without speech (nothing to
    cover). A dropped turn shows up as uncovered speech: "the ASR heard nothing there".
    """
    speech = _union(speech_intervals)
    total = sum(e - s for s, e in speech)
    if total <= 0:
        return None
    words = _union([(s - tolerance, e + tolerance) for s, e in word_spans])
    covered = 0.0
    j = 0
    for s, e in speech:
        while j < len(words) and words[j][1] <= s:
            j += 1
        k = j
        while k < len(words) and words[k][0] < e:
            covered += max(0.0, min(e, words[k][1]) - max(s, words[k][0]))
            k += 1
    return round(min(1.0, covered / total), 4)


def _union(intervals: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted((float(a), float(b)) for a, b in intervals if b > a):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------- WER / CER


def wer_cer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> dict[str, float]:
    """Word and character error rate after :func:`normalize_text`, computed with jiwer.

    Accepts two strings, or two equally long sequences of strings (corpus-level rates,
    i.e. total edits / total reference words). Raises ``ValueError`` when the reference
    is empty after normalisation (the rate is undefined) or the lengths differ.
    """
    import jiwer

    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"wer_cer: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("wer_cer: no reference given")
    nr = [normalize_text(x) for x in refs]
    nh = [normalize_text(x) for x in hyps]
    if any(not x for x in nr):
        raise ValueError("wer_cer: a reference is empty after normalisation; WER is undefined")
    words = jiwer.process_words(nr, nh)
    chars = jiwer.process_characters(nr, nh)
    return {"wer": round(float(words.wer), 4), "cer": round(float(chars.cer), 4)}

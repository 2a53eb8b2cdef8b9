"""Audio redaction support: PII time spans from word timings, and verification that a
redacted recording no longer says the values (by re-transcription: of the whole recording,
``verify_redacted_audio``, or of the stretches around the muted spans only,
``verify_redacted_windows``, which the pipeline uses).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence

from pipeline.domain.privacy.detectors.addresses import detect_addresses
from pipeline.domain.privacy.detectors.dates import _WRITTEN_DATE_RE, detect_dates
from pipeline.domain.privacy.detectors.emails import _EMAIL_STOP, detect_emails
from pipeline.domain.privacy.detectors.vocab import (
    _COMMON,
    _DIRECTIONS,
    _STREET_STRONG,
    _STREET_WEAK,
    US_STATES,
)
from pipeline.domain.privacy.engine import normalise_value
from pipeline.domain.privacy.spans import _DIGIT_TYPES, ENTITY_TYPES
from pipeline.domain.privacy.spoken import (
    MONTHS,
    NUMBER_WORDS,
    find_number_runs,
    luhn_valid,
    normalise_heard,
)


def pii_time_spans(span_records: Iterable[dict[str, Any]], padding_s: float = 0.15) -> list[tuple[float, float, str]]:
    """Audio intervals to silence: (start, end, entity_type), padded, sorted; overlapping
    intervals of the same type are merged. Records without times are skipped."""
    if padding_s < 0:
        raise ValueError(f"padding_s must be >= 0, got {padding_s}")
    ivs = sorted(
        (max(0.0, float(r["t_start"]) - padding_s), float(r["t_end"]) + padding_s, str(r["entity_type"]))
        for r in span_records if r.get("t_start") is not None and r.get("t_end") is not None)
    out: list[tuple[float, float, str]] = []
    last_of_type: dict[str, int] = {}
    for s, e, t in ivs:
        k = last_of_type.get(t)
        if k is not None and s <= out[k][1]:
            out[k] = (out[k][0], max(out[k][1], e), t)
            continue
        last_of_type[t] = len(out)
        out.append((s, e, t))
    return out


# ============================================================== audio verification
#: a digit value counts as heard when this many of its consecutive digits are heard
#: (all of them for shorter values)
HEARD_MIN_DIGITS = 6


def infer_value_type(value: str) -> str:
    """Best-guess entity type of a raw PII value (used when the caller has no types)."""
    if "@" in value or detect_emails(value):
        return "EMAIL"
    if detect_dates(value) or _WRITTEN_DATE_RE.search(value):
        return "DATE_OF_BIRTH"
    if detect_addresses(value):
        return "ADDRESS"
    digits = "".join(r.digits for r in find_number_runs(value))
    words = [t for t in normalise_heard(value) if not t.isdigit()]
    if len(digits) >= 3 and len(words) <= 2:
        n = len(digits)
        if 13 <= n <= 19 and luhn_valid(digits):
            return "CARD"
        if n == 9 and (re.fullmatch(r"\s*\d{3}-\d{2}-\d{4}\s*", value) or not words):
            return "SSN"
        if n in (7, 10) or (n == 11 and digits[0] == "1"):
            return "PHONE"
        if n == 5 and not words:
            return "ZIP"
        return "ACCOUNT"
    return "PERSON"


def _longest_common_run(a: str, b: str) -> int:
    """Length of the longest common substring of two short digit strings."""
    best = 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def _contains_seq(hay: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(hay[i:i + n]) == list(needle) for i in range(len(hay) - n + 1))


def _value_heard(etype: str, value: str, heard: list[str], heard_text: str) -> bool:
    """Whether (part of) one redacted value is still audible in the re-transcription."""
    toks = normalise_heard(value)
    if not toks:
        return False
    heard_digits = [t for t in heard if t.isdigit()]
    digit_parts = [t for t in toks if t.isdigit()]
    if etype == "EMAIL":
        norm = normalise_value("EMAIL", value)
        for sp in detect_emails(heard_text):
            if normalise_value("EMAIL", heard_text[sp.start:sp.end]) == norm:
                return True
        local = norm.split("@", 1)[0]
        pieces = [x for x in re.split(r"[._+\-]", local) if len(x) >= 3]
        return any(x in heard for x in pieces)
    if etype in _DIGIT_TYPES or (digit_parts and etype not in ("PERSON", "ADDRESS", "DATE_OF_BIRTH")):
        vd = "".join(digit_parts)
        if len(vd) < 3:
            return _contains_seq(heard, toks)
        need = min(len(vd), HEARD_MIN_DIGITS)
        return any(_longest_common_run(vd, h) >= need for h in heard_digits)
    if _contains_seq(heard, toks):
        return True
    if etype == "DATE_OF_BIRTH":  # the year is what identifies
        return any(len(d) == 4 and d in heard_digits for d in digit_parts)
    distinctive = [t for t in toks if len(t) >= 3 and t not in _COMMON and t not in _EMAIL_STOP
                   and t not in _STREET_STRONG and t not in _STREET_WEAK and t not in MONTHS
                   and t not in NUMBER_WORDS and t not in _DIRECTIONS and t not in US_STATES]
    return any(t in heard for t in distinctive)


def verify_redacted_audio(transcribe: Callable[[bytes], str], wav_bytes: bytes,
                          redacted_values: list[str],
                          entity_types: Sequence[str] | None = None) -> list[str]:
    """Re-transcribe redacted audio and report which redacted values are still heard.

    ``transcribe`` turns WAV bytes into text (the real ASR in the pipeline). Digits and
    spoken numbers are normalised on both sides ("five five five" == "555"); a digit value
    counts as heard when :data:`HEARD_MIN_DIGITS` consecutive digits of it (or all, if
    shorter) are heard; an email when it is heard whole or its local part is; a name or
    address when any distinctive word of it is; a date when it is heard whole or its year.
    ``entity_types`` (parallel to ``redacted_values``) gives each value's type; without it
    types are inferred from the values (:func:`infer_value_type`).

    Returns the entity TYPE of each value still heard, in input order (one per value; never
    the values). Empty ``redacted_values`` -> ``[]`` without transcribing.
    """
    if not callable(transcribe):
        raise TypeError(f"transcribe must be callable, got {type(transcribe).__name__}")
    if not isinstance(wav_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"wav_bytes must be bytes, got {type(wav_bytes).__name__}")
    if not isinstance(redacted_values, (list, tuple)):
        raise TypeError(f"redacted_values must be a list of str, got {type(redacted_values).__name__}")
    for i, v in enumerate(redacted_values):
        if not isinstance(v, str):
            raise TypeError(f"redacted_values[{i}] is {type(v).__name__}, expected str")
    if entity_types is not None:
        if len(entity_types) != len(redacted_values):
            raise ValueError(f"entity_types has {len(entity_types)} items, redacted_values "
                             f"{len(redacted_values)}; they must be parallel")
        unknown = sorted(set(entity_types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
    values = [(i, v) for i, v in enumerate(redacted_values) if v.strip()]
    if not values:
        return []
    if len(wav_bytes) == 0:
        raise ValueError("wav_bytes is empty: nothing to re-transcribe")
    heard_text = transcribe(bytes(wav_bytes))
    if not isinstance(heard_text, str):
        raise TypeError(f"transcribe() returned {type(heard_text).__name__}, expected str")
    heard = normalise_heard(heard_text)
    out: list[str] = []
    for i, v in values:
        etype = entity_types[i] if entity_types is not None else infer_value_type(v)
        if _value_heard(etype, v, heard, heard_text):
            out.append(etype)
    return out


#: seconds of audio re-transcribed on each side of a muted value (``verify_redacted_windows``):
#: enough for the decoder to hear a word the mute clipped (tiny.en's word times are measured
#: ~0.3 s off) in the words around it
VERIFY_CONTEXT_S = 1.5


def verification_windows(times: Sequence[tuple[float, float]],
                         context_s: float = VERIFY_CONTEXT_S) -> list[tuple[float, float, list[int]]]:
    """The stretches to re-transcribe: each value's ``(t_start, t_end)`` widened by
    ``context_s`` on both sides (clipped at 0), overlapping stretches merged; each with the
    indexes (into ``times``) of the values inside, in time order."""
    if context_s < 0:
        raise ValueError(f"context_s must be >= 0, got {context_s}")
    order = sorted(range(len(times)), key=lambda i: (float(times[i][0]), float(times[i][1])))
    out: list[tuple[float, float, list[int]]] = []
    for i in order:
        a, b = float(times[i][0]), float(times[i][1])
        if b < a:
            raise ValueError(f"times[{i}] ends before it starts: {times[i]}")
        lo, hi = max(0.0, a - context_s), b + context_s
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi), [*out[-1][2], i])
        else:
            out.append((lo, hi, [i]))
    return out


def verify_redacted_windows(transcribe_windows: Callable[[list[tuple[float, float]]], str],
                            times: Sequence[tuple[float, float]], redacted_values: list[str],
                            entity_types: Sequence[str], context_s: float = VERIFY_CONTEXT_S) -> list[str]:
    """Re-transcribe the redacted audio around the muted values and report which values are
    still heard there (the matching rules of :func:`verify_redacted_audio`).

    ``transcribe_windows([(start_s, end_s), ...])`` returns the text heard in those stretches
    of the redacted recording (:func:`verification_windows`: each value's word times widened
    by ``context_s``), transcribed together; ``times``, ``redacted_values`` and
    ``entity_types`` are parallel (one entry per redacted value). This checks what audio
    redaction does: that the muted stretches no longer say the values. Re-transcribing the
    whole call instead (a) doubled the ASR cost of every call with PII and (b) quarantined
    calls in which the engine had tagged a common word as a name ("perfect") that is then
    heard anywhere else in the call: 6 of the first 10 five-minute calls of
    benchmarks/e2e.py. A mention the transcript redaction missed is not muted either way.
    A value heard in the packed stretches is confirmed by transcribing its own stretch
    alone, so one request per call unless something is heard.

    Returns the entity TYPE of each value still heard, in input order (never the values).
    """
    if not callable(transcribe_windows):
        raise TypeError(f"transcribe_windows must be callable, got {type(transcribe_windows).__name__}")
    if not (len(times) == len(redacted_values) == len(entity_types)):
        raise ValueError(f"times ({len(times)}), redacted_values ({len(redacted_values)}) and entity_types "
                         f"({len(entity_types)}) must be parallel")
    unknown = sorted(set(entity_types) - set(ENTITY_TYPES))
    if unknown:
        raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
    keep = [i for i, v in enumerate(redacted_values) if isinstance(v, str) and v.strip()]
    windows = verification_windows([times[i] for i in keep], context_s)
    if not windows:
        return []

    def heard_in(stretches: list[tuple[float, float]], idx: list[int]) -> set[int]:
        text = transcribe_windows(stretches)
        if not isinstance(text, str):
            raise TypeError(f"transcribe_windows() returned {type(text).__name__}, expected str")
        heard = normalise_heard(text)
        return {j for j in idx if _value_heard(entity_types[keep[j]], redacted_values[keep[j]], heard, text)}

    # all stretches at once; a value heard there is confirmed in ITS stretch alone (a value
    # that is a common word may be said next to another muted value: not a leak of this one)
    leaks = heard_in([(a, b) for a, b, _ in windows], list(range(len(keep))))
    if len(windows) > 1:
        suspects, leaks = leaks, set()
        for a, b, idx in windows:
            mine = [j for j in idx if j in suspects]
            if mine:
                leaks |= heard_in([(a, b)], mine)
    return [entity_types[keep[j]] for j in sorted(leaks)]

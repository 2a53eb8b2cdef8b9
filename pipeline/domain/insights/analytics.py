"""Conversation analytics for one REDACTED call, event-log analytics, and rollups.

Definitions (all times in seconds from the start of the recording, rounded to ms):

- **speech intervals**: per segment, its words' ``[start, end]`` when the segment has
  word timings, else the segment's ``[start, end]`` (``timing_level`` says which was used:
  ``word``, ``segment`` or ``mixed``). Blank segments carry no speech.
- ``talk_s[speaker]``: length of the union of that speaker's speech intervals.
- ``talk_ratio[speaker]``: ``talk_s[speaker] / sum(talk_s)`` (ratios sum to 1).
- ``duration_s``: ``max(transcript.duration, last speech end)``.
- ``silence_s``: time in ``[0, duration_s]`` where nobody speaks (includes ringing before
  the first word and the tail after the last).
- **dead air**: a gap *between* the first and the last speech where nobody speaks;
  ``longest_dead_air_s`` is the longest such gap; ``hold_segments`` are those lasting at
  least ``hold_min_gap_s``.
- ``overtalk_s``: time where two or more speakers speak at once.
- **interruption**: speaker B's run starts while speaker A's run is in progress
  (``a.start < b.start < a.end``), A stops within ``INTERRUPT_YIELD_S`` (1.5 s) of B's
  start, and B keeps talking after A stops (``b.end > a.end``). A *run* is a speaker's
  speech with pauses shorter than ``RUN_JOIN_GAP_S`` (0.5 s) bridged. A backchannel
  ("mm-hmm") during which A carries on is overtalk, not an interruption. Counted per
  interrupter (B).
- ``speaking_rate_wpm[speaker]``: words (word timings, else whitespace tokens) per minute
  of that speaker's ``talk_s``; ``None`` when the speaker has no talk time.
- **disclosure**: any of the tenant's phrases (case/punctuation-insensitive token match,
  may span consecutive segments of the speaker) said by the agent — by anyone when the
  transcript is not diarised or uses neither the ``agent`` nor the ``customer`` label. ``disclosure_at_s`` is the earliest start of a match (the
  word's start with word timings, else linearly interpolated by character position inside
  the segment). ``disclosure_given`` is True only if ``disclosure_at_s <=
  disclosure_within_s``; with no phrases configured it is ``None`` (not required).
- **escalation**: any escalation phrase said by anyone (:data:`DEFAULT_ESCALATION_PHRASES`:
  supervisor, manager, escalate..., and call-transfer phrasings such as "transfer you to").
- **sentiment** (method ``lexicon-v1``): a small built-in customer-service lexicon with
  negation (a negator flips the next three tokens); score = (pos - neg) / (pos + neg) in
  [-1, 1], 0 with no hits; label positive > 0.1, negative < -0.1. No model is used:
  no package-shipped sentiment model loads offline here, so this is a clearly labelled
  lexicon heuristic, not a trained classifier.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.domain.core.models import AGENT, CUSTOMER, Event, Transcript
from pipeline.domain.search.chunking import speaker_turns

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

INTERRUPT_YIELD_S = 1.5
RUN_JOIN_GAP_S = 0.5
SENTIMENT_METHOD = "lexicon-v1"
# Bare "transfer" is NOT here: in banking calls it is mostly a money transfer (on the SGD
# banking dialogues it flagged 90% of calls as escalated, and "transfer you" / "transferred
# to" still caught "the transfer you authorized" / "money transferred to savings"); only
# call-transfer phrasings are.
DEFAULT_ESCALATION_PHRASES: tuple[str, ...] = (
    "supervisor",
    "manager",
    "transfer you to",
    "transferring you to",
    "transfer me to",
    "transfer my call",
    "transfer the call",
    "transfer your call",
    "put you through",
    "escalate",
    "escalating",
    "escalated",
    "escalation",
)
FAILURE_LAYERS: tuple[str, ...] = ("telephony", "audio", "asr", "llm", "tts", "tool")

_POSITIVE = frozenset(
    """
    thank thanks thankyou appreciate appreciated great good excellent perfect wonderful
    helpful happy glad pleased awesome amazing fantastic love lovely nice resolved sorted
    fixed works working quick quickly easy brilliant fine satisfied welcome kind best
    super cool definitely absolutely sure grateful pleasure smooth fast
    """.split()
)
_NEGATIVE = frozenset(
    """
    angry annoyed annoying frustrated frustrating terrible awful horrible bad worst
    useless ridiculous unacceptable upset disappointed disappointing problem problems
    issue issues broken wrong fail failed failing failure error cancel cancelled complaint
    complain complaining slow waiting waited hate unhappy poor rude confusing confused
    lost stolen fraud charged overcharged refund declined denied delay delayed mistake
    impossible nobody never worse sucks stupid incorrect late
    """.split()
)
_NEGATORS = frozenset(
    "not no never dont doesnt didnt cant cannot wont isnt wasnt arent werent nothing "
    "without hardly".split()
)
_TOKEN_RE = re.compile(r"[a-z0-9]+")


# ----------------------------------------------------------------------------- helpers


def _normalise(text: str) -> str:
    return text.lower().replace("'", "").replace("\u2019", "")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens; apostrophes are dropped ("don't" -> "dont")."""
    return _TOKEN_RE.findall(_normalise(text))


def _phrase_tokens(phrases: Iterable[str], what: str) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for p in phrases:
        if not isinstance(p, str):
            raise ValueError(f"{what}: phrase {p!r} is not a string")
        toks = tuple(tokens(p))
        if not toks:
            raise ValueError(f"{what}: phrase {p!r} has no words after normalisation")
        out.append((p, toks))
    return out


def _merge(intervals: Iterable[tuple[float, float]], join_gap: float = 0.0) -> list[list[float]]:
    merged: list[list[float]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1] + join_gap:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def _measure(intervals: Iterable[Sequence[float]]) -> float:
    return sum(e - s for s, e in intervals)


def _r(x: float) -> float:
    return round(x, 3)


def _check_time(value: float, what: str, call: str, idx: int) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"call {call}: segment {idx}: {what} {value!r} is not a finite number")
    if value < 0:
        raise ValueError(f"call {call}: segment {idx}: {what} {value} is negative")
    return float(value)


# ---------------------------------------------------------------- conversation metrics


def conversation_metrics(
    t: Transcript,
    disclosure_phrases: list[str],
    disclosure_within_s: float = 30.0,
    hold_min_gap_s: float = 20.0,
    escalation_phrases: list[str] | None = None,
) -> dict[str, Any]:
    """Analytics for one redacted call (see the module docstring for every definition).

    Raises ``ValueError`` (naming the call and segment) on non-finite, negative or
    reversed times, on blank phrases and on non-positive thresholds.
    """
    call = t.call_id or "<no call_id>"
    if not (isinstance(disclosure_within_s, numbers.Real) and disclosure_within_s >= 0):
        raise ValueError(f"call {call}: disclosure_within_s must be >= 0, got {disclosure_within_s!r}")
    if not (isinstance(hold_min_gap_s, numbers.Real) and hold_min_gap_s > 0):
        raise ValueError(f"call {call}: hold_min_gap_s must be > 0, got {hold_min_gap_s!r}")
    disclosure = _phrase_tokens(disclosure_phrases or [], f"call {call}: disclosure_phrases")
    escalation = _phrase_tokens(
        DEFAULT_ESCALATION_PHRASES if escalation_phrases is None else escalation_phrases,
        f"call {call}: escalation_phrases",
    )

    speech: dict[str, list[tuple[float, float]]] = {}
    word_counts: dict[str, int] = {}
    # per speaker, time-ordered (token, time) stream for phrase matching and sentiment
    streams: dict[str, list[tuple[str, float]]] = {}
    levels: set[str] = set()
    max_end = 0.0
    order = sorted(range(len(t.segments)), key=lambda i: (t.segments[i].start, t.segments[i].end))
    for idx in order:
        seg = t.segments[idx]
        start = _check_time(seg.start, "start", call, idx)
        end = _check_time(seg.end, "end", call, idx)
        if end < start:
            raise ValueError(f"call {call}: segment {idx}: end {end} is before start {start}")
        if not seg.text.strip():
            continue
        spk = seg.speaker
        ivs = speech.setdefault(spk, [])
        stream = streams.setdefault(spk, [])
        if seg.words:
            levels.add("word")
            for w in seg.words:
                ws = _check_time(w.start, "word start", call, idx)
                we = _check_time(w.end, "word end", call, idx)
                if we < ws:
                    raise ValueError(f"call {call}: segment {idx}: word ends {we} before it starts {ws}")
                if we > ws:
                    ivs.append((ws, we))
                max_end = max(max_end, we)
                stream.extend((tok, ws) for tok in tokens(w.word))
            word_counts[spk] = word_counts.get(spk, 0) + len(seg.words)
        else:
            levels.add("segment")
            if end > start:
                ivs.append((start, end))
            max_end = max(max_end, end)
            norm = _normalise(seg.text)
            span = max(len(norm), 1)
            stream.extend(
                (m.group(), start + (end - start) * m.start() / span) for m in _TOKEN_RE.finditer(norm)
            )
            word_counts[spk] = word_counts.get(spk, 0) + len(seg.text.split())

    duration = max(float(t.duration or 0.0), max_end)
    per_speaker = {spk: _merge(ivs) for spk, ivs in speech.items()}
    talk = {spk: _measure(m) for spk, m in per_speaker.items()}
    total_talk = sum(talk.values())
    all_speech = _merge(iv for m in per_speaker.values() for iv in m)
    gaps = [(a[1], b[0]) for a, b in zip(all_speech, all_speech[1:])]
    holds = [g for g in gaps if g[1] - g[0] >= hold_min_gap_s]

    # overtalk: sweep over per-speaker unions
    edges = sorted(
        [(s, 1) for m in per_speaker.values() for s, _ in m]
        + [(e, -1) for m in per_speaker.values() for _, e in m],
        key=lambda x: (x[0], x[1]),
    )
    overtalk, active, prev = 0.0, 0, 0.0
    for x, d in edges:
        if active >= 2:
            overtalk += x - prev
        active += d
        prev = x

    runs = {spk: _merge(ivs, RUN_JOIN_GAP_S) for spk, ivs in speech.items()}
    interruptions = {spk: 0 for spk in runs}
    for b_spk, b_runs in runs.items():
        for a_spk, a_runs in runs.items():
            if a_spk == b_spk:
                continue
            for bs, be in b_runs:
                for as_, ae in a_runs:
                    if as_ < bs < ae and ae - bs <= INTERRUPT_YIELD_S and be > ae:
                        interruptions[b_spk] += 1

    roles_known = t.diarised and bool({AGENT, CUSTOMER} & set(streams))
    disclosure_speakers = [AGENT] if roles_known else list(streams)
    disc_at, disc_phrase = _first_match(streams, disclosure_speakers, disclosure)
    esc_at, esc_phrase = _first_match(streams, list(streams), escalation)

    return {
        "call_id": t.call_id,
        "timing_level": "mixed" if len(levels) > 1 else (levels.pop() if levels else "none"),
        "duration_s": _r(duration),
        "talk_s": {spk: _r(v) for spk, v in sorted(talk.items())},
        "talk_ratio": {
            spk: (_r(v / total_talk) if total_talk else 0.0) for spk, v in sorted(talk.items())
        },
        "speech_s": _r(_measure(all_speech)),
        "silence_s": _r(duration - _measure(all_speech)),
        "longest_dead_air_s": _r(max((e - s for s, e in gaps), default=0.0)),
        "overtalk_s": _r(overtalk),
        "interruptions": sum(interruptions.values()),
        "interruptions_by_speaker": dict(sorted(interruptions.items())),
        "speaking_rate_wpm": {
            spk: (_r(word_counts.get(spk, 0) / (talk[spk] / 60.0)) if talk[spk] > 0 else None)
            for spk in sorted(talk)
        },
        "word_count": sum(word_counts.values()),
        "hold_segments": [
            {"start": _r(s), "end": _r(e), "duration_s": _r(e - s)} for s, e in holds
        ],
        "hold_count": len(holds),
        "hold_s": _r(sum(e - s for s, e in holds)),
        "disclosure_required": bool(disclosure),
        "disclosure_given": (
            None if not disclosure else (disc_at is not None and disc_at <= disclosure_within_s)
        ),
        "disclosure_at_s": None if disc_at is None else _r(disc_at),
        "disclosure_phrase": disc_phrase,
        "escalated": esc_at is not None,
        "escalated_at_s": None if esc_at is None else _r(esc_at),
        "escalation_phrase": esc_phrase,
        "sentiment": sentiment(streams),
        "turn_count": len(speaker_turns(t)),
    }


def _first_match(
    streams: dict[str, list[tuple[str, float]]],
    speakers: list[str],
    phrases: list[tuple[str, tuple[str, ...]]],
) -> tuple[float | None, str | None]:
    best: tuple[float, str] | None = None
    for spk in speakers:
        stream = streams.get(spk, [])
        toks = [tok for tok, _ in stream]
        for raw, p in phrases:
            n = len(p)
            for i in range(len(toks) - n + 1):
                if toks[i] == p[0] and tuple(toks[i : i + n]) == p:
                    if best is None or stream[i][1] < best[0]:
                        best = (stream[i][1], raw)
                    break  # later matches of this phrase are later in time
    return (best[0], best[1]) if best else (None, None)


def _label(score: float) -> str:
    return "positive" if score > 0.1 else "negative" if score < -0.1 else "neutral"


def sentiment_score(toks: Sequence[str]) -> tuple[float, int]:
    """Lexicon-v1 score of a token sequence: ``((pos - neg) / (pos + neg), hits)``."""
    pos = neg = 0
    flip_left = 0
    for tok in toks:
        if tok in _NEGATORS:
            flip_left = 3
            continue
        polarity = 1 if tok in _POSITIVE else -1 if tok in _NEGATIVE else 0
        if polarity and flip_left:
            polarity = -polarity
        if polarity > 0:
            pos += 1
        elif polarity < 0:
            neg += 1
        flip_left = max(flip_left - 1, 0)
    hits = pos + neg
    return ((pos - neg) / hits if hits else 0.0), hits


def sentiment(streams: dict[str, list[tuple[str, float]]]) -> dict[str, Any]:
    """Per-speaker and overall lexicon-v1 sentiment from per-speaker token streams."""
    by_speaker: dict[str, dict[str, Any]] = {}
    all_toks: list[str] = []
    for spk in sorted(streams):
        toks = [tok for tok, _ in streams[spk]]
        score, hits = sentiment_score(toks)
        by_speaker[spk] = {"score": _r(score), "label": _label(score), "hits": hits}
        all_toks.extend(toks)
    overall, hits = sentiment_score(all_toks)
    return {
        "method": SENTIMENT_METHOD,
        "overall": _r(overall),
        "overall_label": _label(overall),
        "hits": hits,
        "by_speaker": by_speaker,
    }


def flatten_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """One flat row for a table: per-speaker dicts become ``<key>_<speaker>`` columns;
    ``hold_segments`` is dropped (``hold_count`` / ``hold_s`` stay). Already-flat rows
    pass through unchanged."""
    row: dict[str, Any] = {}
    for k, v in m.items():
        if k == "hold_segments":
            continue
        if k == "sentiment" and isinstance(v, dict):
            row["sentiment_method"] = v.get("method")
            row["sentiment_overall"] = v.get("overall")
            for spk, s in (v.get("by_speaker") or {}).items():
                row[f"sentiment_{spk}"] = s.get("score")
        elif isinstance(v, dict):
            for spk, x in v.items():
                row[f"{k}_{spk}"] = x
        else:
            row[k] = v
    return row


# ---------------------------------------------------------------------- event metrics


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def event_metrics(events: list[Event]) -> dict[str, Any]:
    """Failure distribution and latency percentiles from (redacted) event logs.

    - failures: events with ``type == "error"``, counted by ``payload["layer"]``
      (lower-cased; the six known layers always appear, missing layer -> ``unknown``).
    - latency: every event whose payload has ``latency_ms``; the component is
      ``payload["component"]``, else ``payload["layer"]``, else the event type.
      Gives ``latency_ms[component] = {count, p50, p95, max}`` plus flat keys
      ``latency_p50_ms_<component>`` / ``latency_p95_ms_<component>`` (linear interpolation).
    - exact duplicates (same trace_id and seq) are counted once (``duplicates_dropped``).

    Raises ``ValueError`` naming trace and seq for a non-numeric or negative latency.
    """
    seen: set[tuple[str, int]] = set()
    failures: dict[str, int] = {layer: 0 for layer in FAILURE_LAYERS}
    latencies: dict[str, list[float]] = {}
    traces: set[str] = set()
    dropped = 0
    for ev in events:
        if not isinstance(ev, Event):
            raise ValueError(f"event_metrics: expected Event, got {type(ev).__name__}")
        key = (ev.trace_id, ev.seq)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        traces.add(ev.trace_id)
        payload = ev.payload or {}
        if ev.type == "error":
            layer = str(payload.get("layer") or "unknown").lower()
            failures[layer] = failures.get(layer, 0) + 1
        if "latency_ms" in payload:
            lat = payload["latency_ms"]
            if isinstance(lat, bool) or not isinstance(lat, numbers.Real) or not math.isfinite(lat) or lat < 0:
                raise ValueError(
                    f"event_metrics: trace {ev.trace_id} seq {ev.seq}: latency_ms {lat!r} "
                    "is not a finite non-negative number"
                )
            comp = str(payload.get("component") or payload.get("layer") or ev.type).lower()
            latencies.setdefault(comp, []).append(float(lat))
    out: dict[str, Any] = {
        "event_count": len(seen),
        "trace_count": len(traces),
        "duplicates_dropped": dropped,
        "error_count": sum(failures.values()),
        "failures_by_layer": failures,
        "latency_ms": {},
    }
    for comp in sorted(latencies):
        vals = latencies[comp]
        p50, p95 = _r(_percentile(vals, 50)), _r(_percentile(vals, 95))
        out["latency_ms"][comp] = {"count": len(vals), "p50": p50, "p95": p95, "max": _r(max(vals))}
        out[f"latency_p50_ms_{comp}"] = p50
        out[f"latency_p95_ms_{comp}"] = p95
    return out


# ---------------------------------------------------------------------------- rollups

ROLLUP_COLUMNS = (
    "calls",
    "mean_duration_s",
    "mean_talk_ratio_agent",
    "mean_talk_ratio_customer",
    "mean_silence_s",
    "mean_longest_dead_air_s",
    "mean_overtalk_s",
    "mean_interruptions",
    "disclosure_rate",
    "escalation_rate",
)
_MEAN_OF = {
    "mean_duration_s": "duration_s",
    "mean_talk_ratio_agent": "talk_ratio_agent",
    "mean_talk_ratio_customer": "talk_ratio_customer",
    "mean_silence_s": "silence_s",
    "mean_longest_dead_air_s": "longest_dead_air_s",
    "mean_overtalk_s": "overtalk_s",
    "mean_interruptions": "interruptions",
    "disclosure_rate": "disclosure_given",
    "escalation_rate": "escalated",
}


def _to_float(v: Any) -> float:
    if v is None or isinstance(v, str):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def rollup(rows: list[dict[str, Any]], by: str) -> "pd.DataFrame":
    """Group call-metric rows by ``by`` (e.g. ``"date"`` for daily, ``"agent_id"`` for
    per-agent) into one row per group: ``calls`` and the means in :data:`ROLLUP_COLUMNS`.

    Rows are :func:`conversation_metrics` outputs (nested or flattened) with the ``by``
    key added by the caller. ``disclosure_rate`` ignores calls with no disclosure
    requirement (``None``); a group with none has NaN. Raises ``ValueError`` naming the
    first row that lacks ``by``.
    """
    import pandas as pd

    if not by:
        raise ValueError("rollup: 'by' must name a column, e.g. 'date' or 'agent_id'")
    flat = []
    for i, r in enumerate(rows):
        if by not in r or r[by] is None:
            raise ValueError(f"rollup: row {i} (call {r.get('call_id')}) has no {by!r} value")
        flat.append(flatten_metrics(r))
    if not flat:
        return pd.DataFrame(columns=[by, *ROLLUP_COLUMNS])
    df = pd.DataFrame(flat)
    for col in _MEAN_OF.values():
        if col not in df.columns:
            df[col] = float("nan")
        df[col] = [_to_float(v) for v in df[col]]
    grouped = df.groupby(by, sort=True)
    out = pd.DataFrame({"calls": grouped.size()})
    for name, col in _MEAN_OF.items():
        out[name] = grouped[col].mean().round(4)
    return out.reset_index()[[by, *ROLLUP_COLUMNS]]

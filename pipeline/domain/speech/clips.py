"""Speech clips for batched decoding: VAD pieces of a call packed into clips of up to
one Whisper window (channels mixed in conversation order or one per clip), the packed
stream, and the mapping of decoded words back to their channel and original time.
Pure numpy; faster-whisper's VAD is imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.domain.speech.audio import vad_timestamps

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

ASR_SAMPLE_RATE = 16000


#: Silence between packed speech chunks (helps the decoder close a segment).
PACK_GAP_S = 0.2
#: Padding around VAD speech and the largest pause merged into one chunk (seconds).
CHUNK_PAD_S = 0.25
CHUNK_MERGE_GAP_S = 1.0


def _speech_chunks(
    metrics: list[dict[str, Any]], duration: float
) -> list[tuple[int, float, float]]:
    """Padded, merged VAD speech chunks ``(channel, start, end)`` of all channels,
    in time order (conversation order when packed)."""
    out: list[tuple[int, float, float]] = []
    for ch, m in enumerate(metrics):
        cur: list[float] | None = None
        for s, e in m.get("speech_intervals", []):
            s, e = max(0.0, s - CHUNK_PAD_S), min(duration, e + CHUNK_PAD_S)
            if cur is not None and s - cur[1] <= CHUNK_MERGE_GAP_S:
                cur[1] = max(cur[1], e)
            else:
                if cur is not None:
                    out.append((ch, cur[0], cur[1]))
                cur = [s, e]
        if cur is not None:
            out.append((ch, cur[0], cur[1]))
    return sorted(out, key=lambda c: (c[1], c[0]))


def _pack(
    groups: list[list[tuple[int, np.ndarray, float]]],
) -> tuple[np.ndarray, list[tuple[float, float, int, float, float]], list[tuple[float, float]]]:
    """Concatenate speech pieces ``(channel, audio, original start s)`` into one 16 kHz
    stream, :data:`PACK_GAP_S` of silence between the pieces of a group. Returns the
    stream, one span per piece ``(packed start, packed end, channel, original start,
    original end)`` for :func:`_unpack_segments`, and each group's packed ``(start, end)``.
    Empty pieces are skipped."""
    import numpy as np

    gap = np.zeros(int(PACK_GAP_S * ASR_SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float, int, float, float]] = []
    bounds: list[tuple[float, float]] = []
    pos = 0
    for group in groups:
        start = pos
        for ch, a, o0 in group:
            if a.size == 0:
                continue
            if pos > start:
                parts.append(gap)
                pos += gap.size
            parts.append(a)
            spans.append((pos / ASR_SAMPLE_RATE, (pos + a.size) / ASR_SAMPLE_RATE, ch, o0,
                          o0 + a.size / ASR_SAMPLE_RATE))
            pos += a.size
        if pos > start:
            bounds.append((start / ASR_SAMPLE_RATE, pos / ASR_SAMPLE_RATE))
    packed = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return packed, spans, bounds


def _vad_intervals(audio: np.ndarray, max_seconds: float, probs: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Silero VAD speech ``(start, end)`` sample intervals of one 16 kHz channel, none
    longer than ``max_seconds`` (long speech is split at its longest pause, as
    faster-whisper's batched pipeline does). ``probs``: the channel's
    :func:`vad_probabilities`, so the model is not run twice."""
    from faster_whisper.vad import VadOptions

    opts = VadOptions(max_speech_duration_s=max_seconds - 0.5, min_silence_duration_ms=160)
    return [(int(t["start"]), int(t["end"])) for t in vad_timestamps(audio, opts, probs)]


def _clip_groups(intervals: list[tuple], max_seconds: float, gap_s: float) -> list[list[tuple]]:
    """Consecutive intervals ``(start, end, ...)`` (samples) packed greedily into clips of
    at most ``max_seconds`` (counting ``gap_s`` between intervals); an interval is never
    split, and whatever else it carries (its channel) travels with it."""
    limit = max_seconds * ASR_SAMPLE_RATE
    gap = gap_s * ASR_SAMPLE_RATE
    out: list[list[tuple]] = []
    size = 0.0
    for iv in intervals:
        n = iv[1] - iv[0]
        if out and size + gap + n <= limit:
            out[-1].append(iv)
            size += gap + n
        else:
            out.append([iv])
            size = n
    return out


def _piece_at(
    pieces: list[tuple[int, float, float]], ch: int, t: float
) -> tuple[int, float] | None:
    """``(channel, original start)`` of the piece of sorted ``(channel, start, end)``
    ``pieces`` that holds time ``t`` on channel ``ch`` (None: no piece)."""
    import bisect

    i = bisect.bisect_right(pieces, (ch, t, float("inf"))) - 1
    return pieces[i][:2] if i >= 0 and pieces[i][0] == ch and t <= pieces[i][2] else None


def _unpack_segments(
    asr_segs: list[dict[str, Any]], spans: list[tuple[float, float, int, float, float]],
    widen_edges: bool = False,
) -> list[tuple[int, dict[str, Any]]]:
    """Split packed-stream segments at chunk boundaries and restore channel + time.

    ``widen_edges``: the first word of every chunk starts no later than the chunk's VAD
    onset and the last ends no earlier than its VAD offset. Whisper's word-timing
    heuristics truncate long words after a pause ("four five three two" as one token
    run), and a truncated PII word would stay audible in the redacted audio."""
    import bisect

    starts = [sp[0] for sp in spans]

    def span_of(t: float) -> int:
        i = max(0, bisect.bisect_right(starts, t) - 1)
        if t > spans[i][1] and i + 1 < len(spans) and starts[i + 1] - t < t - spans[i][1]:
            i += 1
        return i

    def to_orig(t: float, i: int) -> float:
        p0, _, _, o0, o1 = spans[i]
        return round(min(max(o0 + (t - p0), o0), o1), 3)

    out: list[tuple[int, dict[str, Any]]] = []
    by_span: dict[int, list[dict[str, Any]]] = {}  # the mapped words of each chunk
    for sd in asr_segs:
        words = sd.get("words") or []
        if not words:
            i = span_of((sd["start"] + sd["end"]) / 2)
            part = dict(sd, start=to_orig(sd["start"], i), end=to_orig(sd["end"], i))
            out.append((spans[i][2], part))
            continue
        runs: list[tuple[int, list[dict[str, Any]]]] = []
        for w in words:
            i = span_of((w["start"] + w["end"]) / 2)
            mapped = dict(w, start=to_orig(w["start"], i), end=to_orig(w["end"], i))
            by_span.setdefault(i, []).append(mapped)
            if runs and runs[-1][0] == i:
                runs[-1][1].append(mapped)
            else:
                runs.append((i, [mapped]))
        for i, ws in runs:
            part = dict(sd)
            part.update(
                start=ws[0]["start"],
                end=ws[-1]["end"],
                text=sd["text"] if len(runs) == 1 else " ".join(w["word"] for w in ws),
                words=ws,
            )
            out.append((spans[i][2], part))
    if widen_edges:
        for i, ws in by_span.items():
            first = min(ws, key=lambda w: w["start"])
            last = max(ws, key=lambda w: w["end"])
            first["start"] = min(first["start"], round(spans[i][3], 3))
            last["end"] = max(last["end"], round(spans[i][4], 3))
        for _, part in out:
            ws = part.get("words") or []
            if ws:
                part["start"] = min(part["start"], ws[0]["start"])
                part["end"] = max(part["end"], ws[-1]["end"])
    return out

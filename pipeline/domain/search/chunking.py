"""Hierarchical chunks of a REDACTED transcript for embedding and search.

Three levels per call, all with deterministic ids (``{call_id}:{chunk_type}:{index:04d}``)
so re-embedding the same call overwrites the same rows:

- ``call``: the whole conversation as ``speaker: text`` lines, truncated to ``max_chars``
  with :data:`TRUNCATION_MARKER`;
- ``turn``: one chunk per speaker turn (consecutive segments of one speaker merged), with
  the previous turn's text as ``context``;
- ``window``: sliding windows of ``window_turns`` turns moved by ``window_stride`` turns
  (the last window is aligned to the final turn so every turn is covered), with the turn
  before the window as ``context``.

Only ever feed redacted transcripts in here: chunks go to the vector index.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.core.models import Transcript

TRUNCATION_MARKER = " …[truncated]"
CHUNK_TYPES = ("call", "turn", "window")


@dataclass(frozen=True)
class Turn:
    """Consecutive segments of one speaker, merged."""

    index: int
    speaker: str
    start: float
    end: float
    text: str
    segment_count: int


@dataclass(frozen=True)
class Chunk:
    """One piece of text to embed. ``context`` is the previous turn's text for turn and
    window chunks ("" for the first turn / first window and for call chunks)."""

    chunk_id: str
    call_id: str
    chunk_type: str  # "call" | "turn" | "window"
    speaker: str | None
    start: float
    end: float
    text: str
    context: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict (the row layout the vector index stores)."""
        return {
            "chunk_id": self.chunk_id,
            "call_id": self.call_id,
            "chunk_type": self.chunk_type,
            "speaker": self.speaker,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "context": self.context,
        }


def chunk_id(call_id: str, chunk_type: str, index: int) -> str:
    """Deterministic chunk id: ``{call_id}:{chunk_type}:{index:04d}``."""
    if chunk_type not in CHUNK_TYPES:
        raise ValueError(f"unknown chunk_type {chunk_type!r}; expected one of {CHUNK_TYPES}")
    if index < 0:
        raise ValueError(f"chunk index must be >= 0, got {index}")
    return f"{call_id}:{chunk_type}:{index:04d}"


def speaker_turns(t: Transcript) -> list[Turn]:
    """Merge consecutive segments of the same speaker into turns, in time order.

    Segments whose text is blank are ignored (they neither start nor break a turn).
    """
    segments = sorted(
        (s for s in t.segments if s.text.strip()), key=lambda s: (s.start, s.end, s.speaker)
    )
    turns: list[Turn] = []
    cur_speaker: str | None = None
    cur_start = cur_end = 0.0
    cur_texts: list[str] = []
    for seg in segments:
        if seg.speaker == cur_speaker:
            cur_end = max(cur_end, seg.end)
            cur_texts.append(seg.text.strip())
            continue
        if cur_speaker is not None:
            turns.append(
                Turn(len(turns), cur_speaker, cur_start, cur_end, " ".join(cur_texts), len(cur_texts))
            )
        cur_speaker, cur_start, cur_end, cur_texts = seg.speaker, seg.start, seg.end, [seg.text.strip()]
    if cur_speaker is not None:
        turns.append(
            Turn(len(turns), cur_speaker, cur_start, cur_end, " ".join(cur_texts), len(cur_texts))
        )
    return turns


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(TRUNCATION_MARKER)].rstrip() + TRUNCATION_MARKER


def _window_starts(n_turns: int, window_turns: int, window_stride: int) -> list[int]:
    if n_turns <= window_turns:
        return [0]
    starts = list(range(0, n_turns - window_turns + 1, window_stride))
    if starts[-1] + window_turns < n_turns:  # cover the tail
        starts.append(n_turns - window_turns)
    return starts


def chunk_transcript(
    t: Transcript,
    call_id: str,
    window_turns: int = 4,
    window_stride: int = 2,
    max_chars: int = 2000,
) -> list[Chunk]:
    """Split a redacted transcript into call, turn and window chunks (in that order).

    An empty transcript (no segment with text) gives ``[]``. Raises ``ValueError`` on an
    empty ``call_id`` or on window/size parameters that would leave turns uncovered.
    """
    if not call_id or not call_id.strip():
        raise ValueError("chunk_transcript: call_id must be a non-empty string")
    if window_turns < 1:
        raise ValueError(f"chunk_transcript: window_turns must be >= 1, got {window_turns}")
    if not 1 <= window_stride <= window_turns:
        raise ValueError(
            f"chunk_transcript: window_stride must be in [1, window_turns={window_turns}], "
            f"got {window_stride} (a larger stride would skip turns)"
        )
    if max_chars <= len(TRUNCATION_MARKER):
        raise ValueError(
            f"chunk_transcript: max_chars must exceed {len(TRUNCATION_MARKER)}, got {max_chars}"
        )
    turns = speaker_turns(t)
    if not turns:
        return []

    def lines(ts: list[Turn]) -> str:
        return "\n".join(f"{x.speaker}: {x.text}" for x in ts)

    chunks = [
        Chunk(
            chunk_id=chunk_id(call_id, "call", 0),
            call_id=call_id,
            chunk_type="call",
            speaker=None,
            start=turns[0].start,
            end=max(x.end for x in turns),
            text=_truncate(lines(turns), max_chars),
            context="",
        )
    ]
    for turn in turns:
        chunks.append(
            Chunk(
                chunk_id=chunk_id(call_id, "turn", turn.index),
                call_id=call_id,
                chunk_type="turn",
                speaker=turn.speaker,
                start=turn.start,
                end=turn.end,
                text=_truncate(turn.text, max_chars),
                context=_truncate(turns[turn.index - 1].text, max_chars) if turn.index else "",
            )
        )
    for w, s in enumerate(_window_starts(len(turns), window_turns, window_stride)):
        window = turns[s : s + window_turns]
        speakers = {x.speaker for x in window}
        chunks.append(
            Chunk(
                chunk_id=chunk_id(call_id, "window", w),
                call_id=call_id,
                chunk_type="window",
                speaker=window[0].speaker if len(speakers) == 1 else None,
                start=window[0].start,
                end=max(x.end for x in window),
                text=_truncate(lines(window), max_chars),
                context=_truncate(turns[s - 1].text, max_chars) if s else "",
            )
        )
    return chunks

"""Vendor transcript import: WebVTT, SRT, Amazon Transcribe JSON, Google STT JSON and
plain text all become the one :class:`~pipeline.domain.core.models.Transcript` model.

Every parser is strict about structure and lenient about cosmetics: a malformed file
raises :class:`TranscriptFormatError` naming the file (and the line, for text formats),
never a bare ``KeyError``/``IndexError``. Error messages never quote transcript text.

Speakers end up as roles where that can be told: ``speaker_map`` (label -> role) wins,
otherwise :func:`speaker_role` maps obvious labels (``Agent``, ``Caller``, ``ch_0`` ...)
to ``agent``/``customer`` and keeps any other label as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
import re
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, TypeVar

from pipeline.domain.core.models import AGENT, CUSTOMER, UNKNOWN_SPEAKER, Segment, Transcript, Word
from pipeline.domain.intake import webvtt

__all__ = [
    "SUPPORTED_FORMATS",
    "TranscriptFormatError",
    "UnknownFormatError",
    "detect_format",
    "parse_transcript",
    "parse_webvtt",
    "parse_srt",
    "parse_aws_transcribe",
    "parse_google_stt",
    "parse_text",
    "speaker_role",
    "speaker_map_from_channel_map",
]

SUPPORTED_FORMATS: tuple[str, ...] = ("webvtt", "srt", "aws_transcribe", "google_stt", "text")
_FORMAT_HINTS = {
    "webvtt": ".vtt",
    "srt": ".srt",
    "aws_transcribe": ".json/.aws.json",
    "google_stt": ".json",
    "text": ".txt",
}

# Word-level formats (AWS, Google) are cut into segments at a speaker change, at a pause
# longer than PAUSE_SPLIT_S, at a sentence end once a segment is SENTENCE_SPLIT_MIN_S
# long, and in any case before it grows past MAX_SEGMENT_S.
PAUSE_SPLIT_S = 1.5
SENTENCE_SPLIT_MIN_S = 10.0
MAX_SEGMENT_S = 30.0

_JSON_HEAD_CHARS = 65536


# --------------------------------------------------------------------------- errors


class TranscriptFormatError(ValueError):
    """A transcript file that cannot be imported.

    Attributes: ``path`` (the file, as given), ``line`` (1-based line number for text
    formats, else ``None``) and ``reason`` (what is wrong; never transcript text).
    """

    def __init__(self, path: str | PurePath, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(self.path, reason, line)

    def __str__(self) -> str:
        name = PurePath(self.path).name or self.path
        where = f"{name} line {self.line}" if self.line is not None else name
        return f"{where}: {self.reason}"


class UnknownFormatError(TranscriptFormatError):
    """The file is not in any supported transcript format."""

    def __init__(self, path: str | PurePath, detail: str) -> None:
        supported = ", ".join(f"{f} ({_FORMAT_HINTS[f]})" for f in SUPPORTED_FORMATS)
        super().__init__(path, f"unknown transcript format ({detail}); supported: {supported}")


_F = TypeVar("_F", bound=Callable[..., Transcript])


def _no_leaks(func: _F) -> _F:
    """Turn any stray lookup/type error of a parser into a TranscriptFormatError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Transcript:
        try:
            return func(*args, **kwargs)
        except TranscriptFormatError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError) as e:
            source = kwargs.get("source", args[1] if len(args) > 1 else "<transcript>")
            raise TranscriptFormatError(
                str(source), f"unexpected structure ({type(e).__name__})"
            ) from e

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- speakers

_AGENT_RE = re.compile(r"agent|operator|representative|(?<![a-z])rep(?![a-z])")
_CUSTOMER_RE = re.compile(r"customer|caller|client")
_CHANNEL_ROLES = {"ch_0": AGENT, "ch_1": CUSTOMER}


def speaker_role(label: str, speaker_map: dict[str, str] | None = None) -> str:
    """Map a vendor speaker label to a role.

    ``speaker_map`` is looked up first (exact, then case-insensitive). Otherwise labels
    containing agent/rep/operator become ``agent``, customer/caller/client become
    ``customer``, ``ch_0``/``ch_1`` become agent/customer; anything else is kept.
    """
    if speaker_map:
        if label in speaker_map:
            return speaker_map[label]
        folded = {k.casefold(): v for k, v in speaker_map.items()}
        if label.casefold() in folded:
            return folded[label.casefold()]
    low = label.casefold()
    if low in _CHANNEL_ROLES:
        return _CHANNEL_ROLES[low]
    if _AGENT_RE.search(low):
        return AGENT
    if _CUSTOMER_RE.search(low):
        return CUSTOMER
    return label


def speaker_map_from_channel_map(channel_map: dict[int, str]) -> dict[str, str]:
    """``CallMetadata.channel_map`` ({0: "agent"}) as a speaker map ({"ch_0": "agent"})."""
    return {f"ch_{int(k)}": v for k, v in channel_map.items()}


def _finish(
    fmt: str,
    segments: list[Segment],
    speaker_map: dict[str, str] | None,
    diarised: bool,
    language: str | None = None,
    timed: bool = True,
) -> Transcript:
    for seg in segments:
        if seg.speaker != UNKNOWN_SPEAKER:
            seg.speaker = speaker_role(seg.speaker, speaker_map)
    segments.sort(key=lambda s: s.start)  # stable: equal starts keep file order
    duration = max((s.end for s in segments), default=None) if timed else None
    return Transcript(
        source_format=fmt,
        segments=segments,
        language=language,
        duration=duration,
        diarised=diarised,
    )


# Speaker prefixes in caption/plain text: "Agent: ...", "SPEAKER_1: ...", "Kyle Huey: ..."
_PREFIX_RE = re.compile(
    r"^\s*(?:-\s*)?(?P<label>[A-Za-z][A-Za-z0-9_'.-]*(?:[ \t][A-Za-z0-9][A-Za-z0-9_'.-]*){0,2})"
    r"[ \t]*:(?:\s+(?P<text>.*))?$"
)
_ROLE_LABEL_RE = re.compile(
    r"^(?:(?:speaker|spk|spkr)[ _-]?\d+|(?:agent|customer|caller|client|rep|representative|"
    r"operator)(?:[ _-]?\d+)?)$",
    re.IGNORECASE,
)


def _split_prefix(line: str) -> tuple[str | None, str]:
    """``"Agent: hello"`` -> ("Agent", "hello"); no speaker prefix -> (None, line).

    A generic label counts only if it is short and every word is capitalised, so that
    ordinary sentences ("So the answer: yes") are not taken for speaker names.
    """
    m = _PREFIX_RE.match(line)
    if not m:
        return None, line
    label = m.group("label").strip()
    if _ROLE_LABEL_RE.match(label) or all(w[0].isupper() for w in label.split()):
        return label, (m.group("text") or "").strip()
    return None, line


def _norm_ws(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- detection


def _json_shape(obj: Any) -> str | None:
    """aws_transcribe / google_stt / None from a parsed JSON document's shape."""
    if not isinstance(obj, dict):
        return None
    results = obj.get("results")
    if isinstance(results, dict):
        return "aws_transcribe"
    if isinstance(results, list):
        return "google_stt"
    response = obj.get("response")
    if isinstance(response, dict) and isinstance(response.get("results"), list):
        return "google_stt"
    return None


def detect_format(path: Path, head: str | None = None) -> str:
    """The import format of ``path``: one of :data:`SUPPORTED_FORMATS`.

    The extension decides (``.vtt``, ``.srt``, ``.txt``, ``.aws.json``); for ``.json`` the
    document's shape does (AWS: ``results`` is an object; Google: ``results`` is a list).
    ``head`` is the file's text (or its beginning); if None the first 64 KiB are read.
    Raises :class:`UnknownFormatError` for anything else.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".aws.json"):
        return "aws_transcribe"
    ext = path.suffix.lower()
    by_ext = {".vtt": "webvtt", ".srt": "srt", ".txt": "text"}
    if ext in by_ext:
        return by_ext[ext]
    if ext != ".json":
        raise UnknownFormatError(path, f"unsupported extension {ext or '(none)'!r}")
    if head is None:
        try:
            with path.open("rb") as fh:
                head = fh.read(_JSON_HEAD_CHARS).decode("utf-8", errors="replace")
        except OSError as e:
            raise TranscriptFormatError(path, f"cannot read file: {e.strerror or e}") from e
    try:
        shape = _json_shape(json.loads(head))
    except (json.JSONDecodeError, RecursionError):
        shape = None  # truncated head: sniff the text instead
        if re.search(r'"results"\s*:\s*\{', head) or re.search(r'"jobName"\s*:', head):
            shape = "aws_transcribe"
        elif re.search(r'"results"\s*:\s*\[', head):
            shape = "google_stt"
    if shape is None:
        raise UnknownFormatError(
            path, "JSON is neither Amazon Transcribe (results object) nor Google STT (results list)"
        )
    return shape


# --------------------------------------------------------------------------- entry point


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TranscriptFormatError(source, "not valid UTF-8 text", line) from e
    nul = text.find("\x00")
    if nul >= 0:
        raise TranscriptFormatError(
            source, "contains NUL bytes (binary file?)", text.count("\n", 0, nul) + 1
        )
    return text


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TranscriptFormatError(
            source, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno
        ) from e
    except RecursionError as e:
        raise TranscriptFormatError(source, "invalid JSON: nested too deeply") from e


def parse_transcript(path: Path, speaker_map: dict[str, str] | None = None) -> Transcript:
    """Read any supported transcript file into a :class:`Transcript`.

    ``speaker_map`` maps vendor labels (``"spk_0"``, ``"ch_1"``, ``"Kyle Huey"``) to roles;
    unmapped labels go through :func:`speaker_role`. Raises :class:`TranscriptFormatError`
    (or its subclass :class:`UnknownFormatError`) for anything that cannot be imported.
    """
    path = Path(path)
    source = str(path)
    is_json = path.suffix.lower() == ".json"
    fmt = None if is_json else detect_format(path, head="")  # extension decides
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TranscriptFormatError(source, f"cannot read file: {e.strerror or e}") from e
    text = _decode(raw, source)
    if is_json:  # parse once, then decide by shape
        obj = _load_json(text, source)
        fmt = "aws_transcribe" if path.name.lower().endswith(".aws.json") else _json_shape(obj)
        if fmt is None:
            raise UnknownFormatError(
                path,
                "JSON is neither Amazon Transcribe (results object) nor Google STT (results list)",
            )
        json_parser = parse_aws_transcribe if fmt == "aws_transcribe" else parse_google_stt
        return json_parser(obj, source, speaker_map)
    text_parsers: dict[str, Callable[..., Transcript]] = {
        "webvtt": parse_webvtt,
        "srt": parse_srt,
        "text": parse_text,
    }
    return text_parsers[str(fmt)](text, source, speaker_map)


# --------------------------------------------------------------------------- text blocks


def _blocks(lines: list[str], start: int) -> list[list[tuple[int, str]]]:
    """Split ``lines[start:]`` into blank-line separated blocks of (line_no, text)."""
    blocks: list[list[tuple[int, str]]] = []
    cur: list[tuple[int, str]] = []
    for i in range(start, len(lines)):
        line = lines[i]
        if line.strip():
            cur.append((i + 1, line))
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def _clip(s: str, n: int = 40) -> str:
    s = s.strip()
    return s if len(s) <= n else s[:n] + "..."


# --------------------------------------------------------------------------- WebVTT


@_no_leaks
def parse_webvtt(text: str, source: str, speaker_map: dict[str, str] | None = None) -> Transcript:
    """Parse WebVTT with the spec's algorithm (:mod:`pipeline.domain.intake.webvtt`).

    A malformed cue (bad timing line, an identifier line containing ``-->``, a block with
    no timing line, a cue that ends before it starts) is skipped and the rest are kept;
    what was skipped (count and line numbers, no text) is recorded in
    ``transcript.quality["import"]``. Only a file with no usable cue at all, or without
    the ``WEBVTT`` signature, is an error.

    Speakers: ``<v Name>`` voices (one segment per voice in a cue, kept across nested
    tags; text outside a voice has no speaker); cues without a voice may carry a
    ``Name: text`` prefix (Zoom style); a cue with neither inherits the previous prefix
    speaker (caption convention: the label appears only when the speaker changes).
    Character references decode as browsers do. Empty cues are dropped.
    """
    try:
        parsed = webvtt.parse_webvtt(text)
    except webvtt.WebVTTError as e:
        raise TranscriptFormatError(source, "missing 'WEBVTT' header", 1) from e
    skipped = [(s.line, s.reason) for s in parsed.skipped]
    segments: list[Segment] = []
    labelled = False
    last_prefixed: str | None = None  # caption style: a label holds until the next one
    for cue in parsed.cues:
        if cue.end < cue.start:
            skipped.append((cue.line, "cue ends before it starts"))
            continue
        for idx, (voice, piece) in enumerate(cue.parts):
            speaker = _norm_ws(voice) if voice else None
            piece = _norm_ws(piece.replace("\u200e", "").replace("\u200f", ""))
            if voice is not None:
                last_prefixed = None  # voices are explicit per cue: nothing to inherit
            else:
                prefixed, rest = _split_prefix(piece)
                if prefixed is not None:
                    speaker, piece = prefixed, rest
                    last_prefixed = prefixed
                elif idx == 0:
                    speaker = last_prefixed
            if not piece:
                continue
            labelled = labelled or speaker is not None
            segments.append(Segment(speaker or UNKNOWN_SPEAKER, cue.start, cue.end, piece))
    skipped.sort()
    if skipped and not segments:
        line, reason = skipped[0]
        raise TranscriptFormatError(source, f"no usable cue ({len(skipped)} skipped; first: {reason})", line)
    t = _finish("webvtt", segments, speaker_map, diarised=labelled)
    t.quality["import"] = {"cues": len(parsed.cues), "cues_skipped": len(skipped),
                           "skipped_lines": [line for line, _ in skipped][:100]}
    return t


# --------------------------------------------------------------------------- SRT

_SRT_TIMING_RE = re.compile(
    r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d),(\d{3})\s*-->\s*(\d{1,3}):([0-5]\d):([0-5]\d),(\d{3})"
    r"(?:\s+.*)?$"
)
_SRT_TAG_RE = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")


@_no_leaks
def parse_srt(text: str, source: str, speaker_map: dict[str, str] | None = None) -> Transcript:
    """Parse SRT: numbered cues, ``hh:mm:ss,mmm`` timings, tags stripped. Lines starting
    ``Agent:``/``Customer:``/``SPEAKER_1:``/``Name:`` set the speaker (one segment per
    speaker in a cue); a cue without a prefix continues the previous speaker.
    """
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    blocks = _blocks(lines, 0)
    if not blocks:
        raise TranscriptFormatError(source, "empty file: no subtitle cues", 1)
    segments: list[Segment] = []
    labelled = False
    speaker: str | None = None
    for block in blocks:
        idx = 0
        head_no, head = block[0]
        if re.fullmatch(r"\s*\d+\s*", head):
            idx = 1
            if len(block) < 2:
                raise TranscriptFormatError(source, "cue number without a timing line", head_no)
        elif "-->" not in head:
            raise TranscriptFormatError(
                source, "expected a cue number or 'hh:mm:ss,mmm --> hh:mm:ss,mmm'", head_no
            )
        line_no, timing = block[idx]
        m = _SRT_TIMING_RE.match(timing)
        if not m:
            what = "cue timing malformed" if "-->" in timing else "cue has no timing line"
            raise TranscriptFormatError(
                source, f"{what} (expected 'hh:mm:ss,mmm --> hh:mm:ss,mmm')", line_no
            )
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000.0
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000.0
        if end < start:
            raise TranscriptFormatError(source, "cue timing malformed: end before start", line_no)
        pieces: list[tuple[str | None, list[str]]] = []
        for _, raw_line in block[idx + 1 :]:
            clean = _norm_ws(html.unescape(_SRT_TAG_RE.sub("", raw_line)))
            if not clean:
                continue
            label, rest = _split_prefix(clean)
            if label is not None:
                speaker = label
                pieces.append((speaker, [rest] if rest else []))
            elif pieces:
                pieces[-1][1].append(clean)
            else:
                pieces.append((speaker, [clean]))
        for spk, texts in pieces:
            body = " ".join(texts).strip()
            if not body:
                continue
            labelled = labelled or spk is not None
            segments.append(Segment(spk or UNKNOWN_SPEAKER, start, end, body))
    return _finish("srt", segments, speaker_map, diarised=labelled)


# --------------------------------------------------------------------------- plain text


@_no_leaks
def parse_text(text: str, source: str, speaker_map: dict[str, str] | None = None) -> Transcript:
    """Parse plain text. If at least half of the non-empty lines start with a speaker
    prefix (``Agent: ...``) each prefixed line starts a segment and other lines continue
    it; otherwise the whole text is one undiarised segment. No timings: start=end=0.0.
    """
    text = text.lstrip("\ufeff")
    lines = [(n + 1, ln.strip()) for n, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        raise TranscriptFormatError(source, "empty file: no text", 1)
    split = [(n, *_split_prefix(ln)) for n, ln in lines]
    prefixed = sum(1 for _, label, _ in split if label is not None)
    segments: list[Segment] = []
    if prefixed * 2 >= len(lines):
        cur: tuple[str, list[str]] | None = None
        for _, label, rest in split:
            if label is not None:
                if cur and cur[1]:
                    segments.append(Segment(cur[0], 0.0, 0.0, " ".join(cur[1])))
                cur = (label, [rest] if rest else [])
            elif cur is None:
                cur = (UNKNOWN_SPEAKER, [_norm_ws(rest)])
            else:
                cur[1].append(_norm_ws(rest))
        if cur and cur[1]:
            segments.append(Segment(cur[0], 0.0, 0.0, " ".join(cur[1])))
        return _finish("text", segments, speaker_map, diarised=True, timed=False)
    body = " ".join(_norm_ws(ln) for _, ln in lines)
    segments.append(Segment(UNKNOWN_SPEAKER, 0.0, 0.0, body))
    return _finish("text", segments, speaker_map, diarised=False, timed=False)


# --------------------------------------------------------------------------- word grouping

_SENTENCE_END_RE = re.compile(r"[.?!…][\"')\]]*$")


@dataclasses.dataclass
class _TaggedWord:
    word: Word
    speaker: str | None
    channel: int | None = None


def _group_words(words: list[_TaggedWord]) -> list[Segment]:
    """Consecutive words of one speaker -> segments (see PAUSE_SPLIT_S and friends)."""
    segments: list[Segment] = []
    cur: list[_TaggedWord] = []

    def flush() -> None:
        if cur:
            ws = [t.word for t in cur]
            segments.append(
                Segment(
                    speaker=cur[0].speaker or UNKNOWN_SPEAKER,
                    start=ws[0].start,
                    end=max(w.end for w in ws),
                    text=" ".join(w.word for w in ws),
                    words=ws,
                    channel=cur[0].channel,
                )
            )
            cur.clear()

    for tw in words:
        if cur:
            prev = cur[-1].word
            span = tw.word.end - cur[0].word.start
            if (
                tw.speaker != cur[0].speaker
                or tw.channel != cur[0].channel
                or tw.word.start - prev.end > PAUSE_SPLIT_S
                or span > MAX_SEGMENT_S
                or (
                    _SENTENCE_END_RE.search(prev.word)
                    and prev.end - cur[0].word.start >= SENTENCE_SPLIT_MIN_S
                )
            ):
                flush()
        cur.append(tw)
    flush()
    return segments


def _seconds(value: Any, where: str, source: str) -> float:
    """A non-negative finite number of seconds from a number or numeric string."""
    if isinstance(value, bool):
        raise TranscriptFormatError(source, f"{where}: expected seconds, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise TranscriptFormatError(source, f"{where}: not a number") from None
    if not isinstance(value, (int, float)):
        raise TranscriptFormatError(
            source, f"{where}: expected seconds, got {type(value).__name__}"
        )
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise TranscriptFormatError(source, f"{where}: must be a finite, non-negative time")
    return seconds


def _probability(value: Any, where: str, source: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TranscriptFormatError(source, f"{where}: confidence must be a number")
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise TranscriptFormatError(source, f"{where}: confidence must be a number") from None
    if not (0.0 <= p <= 1.0):
        raise TranscriptFormatError(source, f"{where}: confidence outside [0, 1]")
    return p


def _expect(obj: Any, typ: type | tuple[type, ...], where: str, source: str) -> Any:
    if not isinstance(obj, typ):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        kind = {"dict": "object", "list": "list", "str": "string"}.get(names, names)
        raise TranscriptFormatError(source, f"{where}: expected {kind}, got {type(obj).__name__}")
    return obj


# --------------------------------------------------------------------------- AWS Transcribe


def _aws_words(
    items: Any,
    where: str,
    source: str,
    speaker: str | None = None,
    channel: int | None = None,
    speaker_at: dict[int, str] | None = None,
) -> list[_TaggedWord]:
    """AWS items -> tagged words; punctuation is glued to the previous word."""
    _expect(items, list, where, source)
    out: list[_TaggedWord] = []
    pending = ""  # punctuation seen before any word
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        _expect(item, dict, w, source)
        kind = item.get("type")
        alts = item.get("alternatives")
        if not isinstance(alts, list) or not alts or not isinstance(alts[0], dict):
            raise TranscriptFormatError(source, f"{w}.alternatives: expected a non-empty list")
        content = alts[0].get("content")
        if not isinstance(content, str):
            raise TranscriptFormatError(source, f"{w}.alternatives[0].content: expected string")
        if kind == "punctuation":
            if out:
                last = out[-1]
                last.word = dataclasses.replace(last.word, word=last.word.word + content)
            else:
                pending += content
            continue
        if kind != "pronunciation":
            raise TranscriptFormatError(source, f"{w}.type: unknown item type {_clip(str(kind))!r}")
        if "start_time" not in item or "end_time" not in item:
            raise TranscriptFormatError(source, f"{w}: pronunciation without start_time/end_time")
        start = _seconds(item["start_time"], f"{w}.start_time", source)
        end = _seconds(item["end_time"], f"{w}.end_time", source)
        if end < start:
            raise TranscriptFormatError(source, f"{w}: end_time before start_time")
        prob = _probability(alts[0].get("confidence"), f"{w}.alternatives[0]", source)
        spk = speaker
        item_label = item.get("speaker_label")
        if isinstance(item_label, str) and item_label:
            spk = item_label
        elif speaker_at is not None:
            spk = speaker_at.get(round(start * 1000), out[-1].speaker if out else None)
        out.append(_TaggedWord(Word(pending + content, start, end, prob), spk, channel))
        pending = ""
    return out


def _aws_speaker_index(speaker_labels: Any, source: str) -> dict[int, str]:
    """start time (ms) -> speaker label, from results.speaker_labels.segments[].items[]."""
    where = "results.speaker_labels"
    _expect(speaker_labels, dict, where, source)
    segs = _expect(speaker_labels.get("segments"), list, f"{where}.segments", source)
    index: dict[int, str] = {}
    for si, seg in enumerate(segs):
        sw = f"{where}.segments[{si}]"
        _expect(seg, dict, sw, source)
        seg_label = seg.get("speaker_label")
        for ii, it in enumerate(_expect(seg.get("items", []), list, f"{sw}.items", source)):
            iw = f"{sw}.items[{ii}]"
            _expect(it, dict, iw, source)
            label = it.get("speaker_label", seg_label)
            if not isinstance(label, str) or not label:
                raise TranscriptFormatError(source, f"{iw}.speaker_label: expected string")
            if "start_time" not in it:
                raise TranscriptFormatError(source, f"{iw}: missing start_time")
            index[round(_seconds(it["start_time"], f"{iw}.start_time", source) * 1000)] = label
    return index


@_no_leaks
def parse_aws_transcribe(
    obj: Any, source: str, speaker_map: dict[str, str] | None = None
) -> Transcript:
    """Parse an Amazon Transcribe batch result (``{"results": {"items": ...}}``).

    ``channel_labels`` -> one speaker per channel (``ch_0``/``ch_1``, Segment.channel
    set); ``speaker_labels`` -> speakers from its segments' items (``spk_0`` ...);
    neither -> one speaker and ``diarised=False``. Punctuation items attach to the
    previous word; ``confidence`` becomes ``Word.probability``.
    """
    _expect(obj, dict, "top level", source)
    status = obj.get("status")
    if status is not None and status != "COMPLETED":
        raise TranscriptFormatError(
            source, f"transcription job status is {_clip(str(status))!r}, not COMPLETED"
        )
    results = obj.get("results")
    if results is None:
        raise TranscriptFormatError(source, "missing 'results' object")
    _expect(results, dict, "results", source)
    language = results.get("language_code") or obj.get("language_code")
    language = language if isinstance(language, str) else None
    channel_labels = results.get("channel_labels")
    segments: list[Segment] = []
    if channel_labels:
        where = "results.channel_labels"
        _expect(channel_labels, dict, where, source)
        channels = _expect(channel_labels.get("channels"), list, f"{where}.channels", source)
        for ci, ch in enumerate(channels):
            cw = f"{where}.channels[{ci}]"
            _expect(ch, dict, cw, source)
            label = ch.get("channel_label")
            m = re.fullmatch(r"ch_(\d+)", label) if isinstance(label, str) else None
            if not m:
                raise TranscriptFormatError(source, f"{cw}.channel_label: expected 'ch_<n>'")
            words = _aws_words(ch.get("items"), f"{cw}.items", source, label, int(m.group(1)))
            segments.extend(_group_words(words))
        return _finish("aws_transcribe", segments, speaker_map, True, language)
    if "items" not in results:
        raise TranscriptFormatError(source, "results.items: missing")
    speaker_labels = results.get("speaker_labels")
    speaker_at = _aws_speaker_index(speaker_labels, source) if speaker_labels else None
    words = _aws_words(results["items"], "results.items", source, speaker_at=speaker_at)
    diarised = any(w.speaker is not None for w in words)
    segments = _group_words(words)
    return _finish("aws_transcribe", segments, speaker_map, diarised, language)


# --------------------------------------------------------------------------- Google STT


def _google_time(value: Any, where: str, source: str) -> float:
    """``"1.500s"``, ``{"seconds": "1", "nanos": 500000000}`` or a number -> seconds."""
    if isinstance(value, str):
        v = value.strip()
        return _seconds(v[:-1] if v.endswith("s") else v, where, source)
    if isinstance(value, dict):
        extra = set(value) - {"seconds", "nanos"}
        if extra:
            raise TranscriptFormatError(source, f"{where}: unexpected keys in duration")
        secs = value.get("seconds", 0)
        nanos = value.get("nanos", 0)
        try:
            if isinstance(secs, bool) or isinstance(nanos, bool):
                raise ValueError
            total = int(secs) + int(nanos) / 1e9
        except (TypeError, ValueError):
            raise TranscriptFormatError(
                source, f"{where}: seconds/nanos must be integers"
            ) from None
        return _seconds(total, where, source)
    return _seconds(value, where, source)


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


@_no_leaks
def parse_google_stt(
    obj: Any, source: str, speaker_map: dict[str, str] | None = None
) -> Transcript:
    """Parse a Google Speech-to-Text response (``{"results": [{"alternatives": ...}]}``,
    also wrapped in a long-running operation's ``response``).

    Words of the first alternative carry ``startTime``/``endTime`` (``"1.500s"`` or
    ``{seconds, nanos}``; an omitted time is 0, as in proto3 JSON) and ``speakerTag``
    (``speakerLabel`` in v2). With diarisation Google repeats every word, tagged, in the
    last result; that result is then used alone. Consecutive words of one speaker are
    grouped into segments. Without words, each result's transcript is one segment.
    """
    _expect(obj, dict, "top level", source)
    if "results" not in obj and isinstance(obj.get("response"), dict):
        obj = obj["response"]
    if "results" not in obj:
        raise TranscriptFormatError(source, "missing 'results' list")
    results = _expect(obj["results"], list, "results", source)
    per_result: list[list[_TaggedWord]] = []
    texts: list[tuple[str, float | None, int | None]] = []
    channel_tags: set[int] = set()
    language: str | None = None
    for ri, res in enumerate(results):
        rw = f"results[{ri}]"
        _expect(res, dict, rw, source)
        alts = _expect(res.get("alternatives", []), list, f"{rw}.alternatives", source)
        ch_tag = _first(res, "channelTag", "channel_tag")
        if ch_tag is not None:
            if not isinstance(ch_tag, int) or isinstance(ch_tag, bool) or ch_tag < 1:
                raise TranscriptFormatError(source, f"{rw}.channelTag: expected a positive integer")
            channel_tags.add(ch_tag)
        lang = _first(res, "languageCode", "language_code")
        if isinstance(lang, str) and language is None:
            language = lang
        words: list[_TaggedWord] = []
        if alts:
            alt = _expect(alts[0], dict, f"{rw}.alternatives[0]", source)
            end_raw = _first(res, "resultEndTime", "result_end_time", "resultEndOffset")
            res_end = (
                _google_time(end_raw, f"{rw}.resultEndTime", source)
                if end_raw is not None
                else None
            )
            transcript = alt.get("transcript", "")
            if not isinstance(transcript, str):
                raise TranscriptFormatError(
                    source, f"{rw}.alternatives[0].transcript: expected string"
                )
            texts.append((transcript, res_end, ch_tag))
            for wi, wd in enumerate(
                _expect(alt.get("words", []), list, f"{rw}.alternatives[0].words", source)
            ):
                ww = f"{rw}.alternatives[0].words[{wi}]"
                _expect(wd, dict, ww, source)
                token = wd.get("word")
                if not isinstance(token, str) or not token.strip():
                    raise TranscriptFormatError(source, f"{ww}.word: expected a non-empty string")
                s_raw = _first(wd, "startTime", "start_time", "startOffset", "start_offset")
                e_raw = _first(wd, "endTime", "end_time", "endOffset", "end_offset")
                start = _google_time(s_raw, f"{ww}.startTime", source) if s_raw is not None else 0.0
                end = _google_time(e_raw, f"{ww}.endTime", source) if e_raw is not None else start
                if end < start:
                    raise TranscriptFormatError(source, f"{ww}: endTime before startTime")
                tag = _first(wd, "speakerTag", "speaker_tag")
                label = _first(wd, "speakerLabel", "speaker_label")
                speaker: str | None = None
                if label is not None:
                    if not isinstance(label, str):
                        raise TranscriptFormatError(source, f"{ww}.speakerLabel: expected string")
                    speaker = label or None
                elif tag is not None:
                    if not isinstance(tag, int) or isinstance(tag, bool) or tag < 0:
                        raise TranscriptFormatError(source, f"{ww}.speakerTag: expected an integer")
                    speaker = f"speaker_{tag}" if tag > 0 else None
                prob = _probability(wd.get("confidence"), ww, source)
                channel = ch_tag - 1 if isinstance(ch_tag, int) else None
                words.append(_TaggedWord(Word(token.strip(), start, end, prob), speaker, channel))
        per_result.append(words)
    tagged = [i for i, ws in enumerate(per_result) if any(w.speaker for w in ws)]
    if len(per_result) > 1 and tagged == [len(per_result) - 1]:
        per_result = [per_result[-1]]  # the diarised summary result repeats every word
    multichannel = len(channel_tags) > 1
    all_words = [w for ws in per_result for w in ws]
    if not all_words:  # transcripts without word timings
        segments = []
        prev_end: dict[int | None, float] = {}
        for transcript, res_end, ch_tag in texts:
            body = _norm_ws(transcript)
            start = prev_end.get(ch_tag, 0.0)
            end = res_end if res_end is not None else start
            prev_end[ch_tag] = end
            if not body:
                continue
            spk = f"ch_{ch_tag - 1}" if multichannel and ch_tag else UNKNOWN_SPEAKER
            segments.append(
                Segment(
                    spk,
                    start,
                    max(start, end),
                    body,
                    channel=ch_tag - 1 if multichannel and ch_tag else None,
                )
            )
        return _finish("google_stt", segments, speaker_map, multichannel, language)
    if multichannel:
        for w in all_words:
            if w.speaker is None and w.channel is not None:
                w.speaker = f"ch_{w.channel}"
    else:
        for w in all_words:
            w.channel = None
    diarised = any(w.speaker is not None for w in all_words)
    segments = []
    for ch in sorted({w.channel for w in all_words}, key=lambda c: -1 if c is None else c):
        ch_words = sorted((w for w in all_words if w.channel == ch), key=lambda w: w.word.start)
        segments.extend(_group_words(ch_words))
    return _finish("google_stt", segments, speaker_map, diarised, language)

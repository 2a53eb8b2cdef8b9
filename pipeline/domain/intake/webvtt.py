"""WebVTT parsing as the W3C spec says (stdlib only); no transcript text in any reason.

Follows the W3C WebVTT spec (https://www.w3.org/TR/webvtt1/):

* "WebVTT parser algorithm" / "collect a WebVTT block"       -> :func:`parse_webvtt`
* "collect WebVTT cue timings and settings"                  -> :func:`_parse_timing_line`
* "collect a WebVTT timestamp"                                -> :func:`parse_timestamp`
* "WebVTT cue text parsing rules" and the cue text tokenizer  -> :func:`parse_cue_text`
* HTML "consume a character reference" (browser behaviour)    -> :func:`_consume_char_ref`

Results
-------
``parse_webvtt(text)`` returns :class:`ParsedVTT` with

* ``cues``: :class:`Cue` (id, start, end, settings, parts, text, raw_text, line)
* ``skipped``: :class:`SkippedCue` (line, reason) for every block the spec's parser
  throws away that looks like a broken cue (see "Skip reporting" below).

A file whose signature is wrong raises :class:`WebVTTError` (a ``ValueError``).

Choices where the spec leaves room (or is silent) -- see also the tests
-----------------------------------------------------------------------
* **Identifier line containing "-->"**: exactly as the spec's block algorithm.
  Such a line, when it is the first line of a block, *is* the timing line.  If it
  does not parse, the block yields no cue and is reported in ``skipped``.  If the
  very next line is the real timing line, the spec rewinds and that line starts a
  *new* block, so the cue itself is still produced -- with an empty identifier
  (web-platform-tests ``webvtt/parsing/file-parsing/tests/arrows.html`` expects the
  same).  Only the bad identifier line is lost.
* **Skip reporting** (the spec itself reports nothing): a block is reported when
  (a) it had a "-->" line that failed to parse, or (b) it has no "-->" line and is
  not a NOTE / STYLE / REGION / ATTRIBUTES block (e.g. cue text whose timing line
  is missing).  The header block and those four block types are never reported.
  ``line`` is the 1-based line number of the block's first line (CR, LF and CRLF
  each end one line).
* **Cue end <= start** is *not* a parse error in the spec's parser; such cues are kept.
* **Voice**: a text run's voice is the annotation of its innermost enclosing
  ``<v>``; ``None`` outside any ``<v>``.  ``<v>`` without annotation gives voice
  ``""`` (the spec's value).  An unclosed ``<v>`` lasts to the end of the cue; an
  end tag that does not match the *current* node is ignored (spec), so in
  ``<v A><i>x</v>y`` the text ``y`` is still inside the voice.
* **Ruby text** (``<rt>``) is left out of ``text``/``parts`` by default, like the
  spec's own plain-text rule ("WebVTT rules for extracting the chapter title").
  Pass ``include_ruby_text=True`` to keep it (as the DOM's textContent would).
* **Cue.text** is the exact concatenation of the cue's text nodes (tags removed,
  character references decoded, line breaks kept, nothing trimmed).
  **Cue.parts** merges adjacent runs of the same voice, trims ASCII whitespace at
  each part's ends and drops parts that are then empty.
* **Character references** follow the HTML tokenizer ("consume a character
  reference", not "as part of an attribute") with the full HTML named-reference
  table from :data:`html.entities.html5`: longest match, legacy names such as
  ``&amp`` / ``&nbsp`` work without ``;`` while others (``&lrm``) stay literal,
  unknown names stay literal, ``&#0;``/surrogates/out-of-range -> U+FFFD, C1
  controls 0x80-0x9F remapped via the windows-1252 table, other controls and
  noncharacters kept.  (``html.unescape`` is *not* used: it deletes e.g. ``&#1;``
  and ``&#xFFFF;`` where browsers keep them.)
* **Settings** are returned as the raw remainder of the timing line after the end
  timestamp, trimmed of ASCII whitespace; they are not validated.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from html.entities import html5 as _HTML5_NAMED_REFERENCES
from os import PathLike

__all__ = [
    "WebVTTError",
    "Cue",
    "SkippedCue",
    "ParsedVTT",
    "parse_webvtt",
    "parse_webvtt_file",
    "parse_timestamp",
    "parse_cue_text",
    "CueNode",
]

_ASCII_DIGITS = frozenset("0123456789")
_ASCII_HEX = frozenset("0123456789abcdefABCDEF")
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_WS = "\t\n\f\r "
_MAX_NAMED_REF_LEN = max(len(k) for k in _HTML5_NAMED_REFERENCES)

# HTML spec, "numeric character reference end state": C1 controls remapped.
_C1_REPLACEMENTS = {
    0x80: 0x20AC, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E, 0x85: 0x2026,
    0x86: 0x2020, 0x87: 0x2021, 0x88: 0x02C6, 0x89: 0x2030, 0x8A: 0x0160,
    0x8B: 0x2039, 0x8C: 0x0152, 0x8E: 0x017D, 0x91: 0x2018, 0x92: 0x2019,
    0x93: 0x201C, 0x94: 0x201D, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014,
    0x98: 0x02DC, 0x99: 0x2122, 0x9A: 0x0161, 0x9B: 0x203A, 0x9C: 0x0153,
    0x9E: 0x017E, 0x9F: 0x0178,
}


class WebVTTError(ValueError):
    """The input is not a WebVTT file (bad or missing "WEBVTT" signature)."""


@dataclass
class Cue:
    id: str
    start: float  # seconds
    end: float  # seconds
    settings: str
    parts: list[tuple[str | None, str]]  # (voice or None, text)
    text: str  # plain text: all text nodes concatenated, tags removed
    raw_text: str = ""  # the cue payload as written (the spec's "cue text")
    line: int = 0  # 1-based line where the cue block starts


@dataclass
class SkippedCue:
    line: int  # 1-based line where the skipped block starts
    reason: str


@dataclass
class ParsedVTT:
    cues: list[Cue] = field(default_factory=list)
    skipped: list[SkippedCue] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)


# --------------------------------------------------------------------------------------
# Timestamps and timing lines
# --------------------------------------------------------------------------------------


class _TimestampError(Exception):
    pass


def _collect_digits(s: str, pos: int) -> tuple[str, int]:
    start = pos
    n = len(s)
    while pos < n and s[pos] in _ASCII_DIGITS:
        pos += 1
    return s[start:pos], pos


def _collect_timestamp(s: str, pos: int) -> tuple[float, int]:
    """The spec's "collect a WebVTT timestamp". Returns (seconds, new position)."""
    n = len(s)
    hours_first = False  # "most significant units" is hours
    if pos >= n:
        raise _TimestampError("expected a timestamp, found end of line")
    if s[pos] not in _ASCII_DIGITS:
        raise _TimestampError(f"expected a digit, found {s[pos]!r}")
    string, pos = _collect_digits(s, pos)
    value1 = int(string)
    if len(string) != 2 or value1 > 59:
        hours_first = True
    if pos >= n or s[pos] != ":":
        raise _TimestampError("expected ':' after the first field")
    pos += 1
    string, pos = _collect_digits(s, pos)
    if len(string) != 2:
        raise _TimestampError("expected exactly two digits after ':'")
    value2 = int(string)
    if hours_first or (pos < n and s[pos] == ":"):
        if pos >= n or s[pos] != ":":
            raise _TimestampError("hours given (first field not 2 digits or > 59) but no seconds field")
        pos += 1
        string, pos = _collect_digits(s, pos)
        if len(string) != 2:
            raise _TimestampError("expected exactly two digits for the seconds")
        value3 = int(string)
    else:
        value1, value2, value3 = 0, value1, value2
    if pos >= n or s[pos] != ".":
        raise _TimestampError("expected '.' before the milliseconds")
    pos += 1
    string, pos = _collect_digits(s, pos)
    if len(string) != 3:
        raise _TimestampError("expected exactly three digits for the milliseconds")
    value4 = int(string)
    if value2 > 59 or value3 > 59:
        raise _TimestampError("minutes and seconds must be at most 59")
    # Integer milliseconds / 1000: correctly rounded, so 11.89 == float("11.89").
    return (value1 * 3_600_000 + value2 * 60_000 + value3 * 1000 + value4) / 1000, pos


def parse_timestamp(s: str) -> float:
    """Parse a whole string as one WebVTT timestamp ("[hh:]mm:ss.ttt") -> seconds.

    Raises ``ValueError`` when the string is not exactly one timestamp.
    """
    try:
        value, pos = _collect_timestamp(s, 0)
    except _TimestampError as exc:
        raise ValueError(f"invalid WebVTT timestamp {s!r}: {exc}") from None
    if pos != len(s):
        raise ValueError(f"invalid WebVTT timestamp {s!r}: trailing characters {s[pos:]!r}")
    return value


def _skip_ws(s: str, pos: int) -> int:
    n = len(s)
    while pos < n and s[pos] in _ASCII_WS:
        pos += 1
    return pos


def _parse_timing_line(line: str) -> tuple[float, float, str]:
    """The spec's "collect WebVTT cue timings and settings" -> (start, end, settings)."""
    pos = _skip_ws(line, 0)
    try:
        start, pos = _collect_timestamp(line, pos)
    except _TimestampError as exc:
        raise _TimestampError(f"bad start timestamp: {exc}") from None
    pos = _skip_ws(line, pos)
    for expected in "-->":
        if pos >= len(line) or line[pos] != expected:
            raise _TimestampError("expected '-->' right after the start timestamp")
        pos += 1
    pos = _skip_ws(line, pos)
    try:
        end, pos = _collect_timestamp(line, pos)
    except _TimestampError as exc:
        raise _TimestampError(f"bad end timestamp: {exc}") from None
    return start, end, line[pos:].strip(_ASCII_WS)


# --------------------------------------------------------------------------------------
# File parsing
# --------------------------------------------------------------------------------------


def _is_keyword_line(line: str, keyword: str) -> bool:
    """`keyword` followed only by ASCII whitespace (the spec's STYLE/REGION test)."""
    return line.startswith(keyword) and line[len(keyword):].strip(_ASCII_WS) == ""


def _is_note_line(line: str) -> bool:
    return line == "NOTE" or line.startswith(("NOTE ", "NOTE\t"))


@dataclass
class _Block:
    kind: str  # "cue", "style", "region", "header", "failed", "other"
    start_pos: int
    first_line: str = ""
    cue_id: str = ""
    start: float = 0.0
    end: float = 0.0
    settings: str = ""
    text: str = ""
    reason: str = ""


class _FileParser:
    def __init__(self, inp: str):
        self.inp = inp
        self.n = len(inp)
        self.seen_cue = False
        self._newlines = [i for i, ch in enumerate(inp) if ch == "\n"]

    def line_number(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def skip_newlines(self, pos: int) -> int:
        while pos < self.n and self.inp[pos] == "\n":
            pos += 1
        return pos

    def collect_block(self, pos: int, in_header: bool = False) -> tuple[_Block, int]:
        """The spec's "collect a WebVTT block"."""
        inp, n = self.inp, self.n
        start_pos = pos
        line_count = 0
        previous_position = pos
        buffer = ""
        seen_eof = False
        seen_arrow = False
        have_cue = False
        cue_start = cue_end = 0.0
        cue_settings = cue_id = ""
        stylesheet = region = False
        first_line = ""
        failed_reason = ""
        failed_line = ""
        failed_at_line_count = 0
        rewound_after_failure = False

        while True:
            nl = inp.find("\n", pos)
            if nl == -1:
                line, pos, seen_eof = inp[pos:], n, True
            else:
                line, pos = inp[pos:nl], nl + 1
            line_count += 1
            if line_count == 1:
                first_line = line

            if "-->" in line:
                if not in_header and (line_count == 1 or (line_count == 2 and not seen_arrow)):
                    seen_arrow = True
                    previous_position = pos
                    try:
                        cue_start, cue_end, cue_settings = _parse_timing_line(line)
                    except _TimestampError as exc:
                        have_cue = False
                        failed_reason, failed_line = str(exc), line
                        failed_at_line_count = line_count
                    else:
                        have_cue = True
                        cue_id = buffer
                        buffer = ""
                        self.seen_cue = True
                else:
                    if failed_reason and failed_at_line_count == 1 and line_count == 2:
                        rewound_after_failure = True
                    pos = previous_position
                    break
            elif line == "":
                break
            else:
                if not in_header and line_count == 2:
                    if not self.seen_cue and _is_keyword_line(buffer, "STYLE"):
                        stylesheet = True
                        buffer = ""
                    elif not self.seen_cue and _is_keyword_line(buffer, "REGION"):
                        region = True
                        buffer = ""
                if buffer != "":
                    buffer += "\n"
                buffer += line
                previous_position = pos
            if seen_eof:
                break

        block = _Block(kind="other", start_pos=start_pos, first_line=first_line)
        if have_cue:
            block.kind = "cue"
            block.cue_id, block.start, block.end = cue_id, cue_start, cue_end
            block.settings, block.text = cue_settings, buffer
        elif stylesheet:
            block.kind = "style"
        elif region:
            block.kind = "region"
        elif in_header:
            block.kind = "header"
        elif seen_arrow:
            block.kind = "failed"
            reason = f"invalid cue timing line: {failed_reason}"
            if failed_at_line_count == 1 and rewound_after_failure:
                reason += (
                    " (a cue identifier may not contain '-->'; the line was parsed as the"
                    " timing line and dropped, and the next line starts a new cue)"
                )
            block.reason = reason
        elif not (
            _is_note_line(first_line)
            or _is_keyword_line(first_line, "STYLE")
            or _is_keyword_line(first_line, "REGION")
            or _is_keyword_line(first_line, "ATTRIBUTES")
        ):
            block.reason = "block has no cue timing line ('-->')"
        return block, pos


def _check_signature(inp: str) -> None:
    if len(inp) < 6:
        what = "the input is empty" if not inp else f"the input is only {inp!r}"
        raise WebVTTError(f"not a WebVTT file: missing 'WEBVTT' signature ({what})")
    if inp[:6] != "WEBVTT":
        first = inp.split("\n", 1)[0][:40]
        raise WebVTTError(
            f"not a WebVTT file: it must start with 'WEBVTT' (optionally after a BOM); "
            f"first line is {first!r}"
        )
    if len(inp) > 6 and inp[6] not in " \t\n":
        raise WebVTTError(
            "not a WebVTT file: 'WEBVTT' must be followed by a space, a tab, a line break "
            f"or the end of the file, not {inp[6]!r}"
        )


def parse_webvtt(text: str | bytes, *, include_ruby_text: bool = False) -> ParsedVTT:
    """Parse a WebVTT document.

    ``text`` is a ``str`` (a leading U+FEFF BOM is ignored) or UTF-8 ``bytes``
    (decoded with replacement characters, as the spec's "UTF-8 decode" does).
    Raises :class:`WebVTTError` if the "WEBVTT" signature is missing or malformed.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        raise TypeError(f"parse_webvtt() expects str or bytes, not {type(text).__name__}")
    if text.startswith("\ufeff"):
        text = text[1:]
    inp = text.replace("\x00", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")

    _check_signature(inp)
    result = ParsedVTT()
    parser = _FileParser(inp)
    n = len(inp)

    nl = inp.find("\n")
    if nl == -1:
        return result  # only the signature line
    pos = nl + 1
    if pos >= n:
        return result
    if inp[pos] != "\n":
        _, pos = parser.collect_block(pos, in_header=True)
    else:
        pos += 1
    pos = parser.skip_newlines(pos)

    while pos < n:
        block, pos = parser.collect_block(pos)
        line_no = parser.line_number(block.start_pos)
        if block.kind == "cue":
            parts, plain = _cue_parts(parse_cue_text(block.text), include_ruby_text)
            result.cues.append(
                Cue(
                    id=block.cue_id,
                    start=block.start,
                    end=block.end,
                    settings=block.settings,
                    parts=parts,
                    text=plain,
                    raw_text=block.text,
                    line=line_no,
                )
            )
        elif block.reason:
            result.skipped.append(SkippedCue(line=line_no, reason=block.reason))
        pos = parser.skip_newlines(pos)
    return result


def parse_webvtt_file(path: str | PathLike[str], *, include_ruby_text: bool = False) -> ParsedVTT:
    """Read ``path`` as bytes (UTF-8) and parse it with :func:`parse_webvtt`."""
    with open(path, "rb") as fh:
        return parse_webvtt(fh.read(), include_ruby_text=include_ruby_text)


# --------------------------------------------------------------------------------------
# Character references (HTML "consume a character reference", not in an attribute)
# --------------------------------------------------------------------------------------


def _consume_char_ref(s: str, pos: int) -> tuple[str | None, int]:
    """``pos`` is just after the '&'. Returns (decoded, new_pos) or (None, pos)."""
    n = len(s)
    if pos >= n:
        return None, pos
    c = s[pos]
    if c == "#":
        p = pos + 1
        if p < n and s[p] in "xX":
            p += 1
            digits, base = _ASCII_HEX, 16
        else:
            digits, base = _ASCII_DIGITS, 10
        start = p
        while p < n and s[p] in digits:
            p += 1
        if p == start:  # absence of digits: not a character reference
            return None, pos
        code = int(s[start:p], base)
        if p < n and s[p] == ";":
            p += 1
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            code = 0xFFFD
        else:
            code = _C1_REPLACEMENTS.get(code, code)
        return chr(code), p
    if c in _ASCII_ALNUM:
        for length in range(min(_MAX_NAMED_REF_LEN, n - pos), 0, -1):
            candidate = s[pos:pos + length]
            value = _HTML5_NAMED_REFERENCES.get(candidate)
            if value is not None:
                return value, pos + length
    return None, pos


# --------------------------------------------------------------------------------------
# Cue text parsing
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class CueNode:
    """A WebVTT Node Object.

    ``kind`` is one of: "root", "c", "i", "b", "u", "ruby", "rt", "v", "lang"
    (internal nodes) or "text", "timestamp" (leaves).  ``value`` is the voice name
    for "v", the text for "text" and the seconds for "timestamp".
    """

    kind: str
    value: object = None
    classes: list[str] = field(default_factory=list)
    language: str | None = None
    children: list[CueNode] = field(default_factory=list)
    parent: CueNode | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # compact, without parent back-references
        bits = [self.kind]
        if self.value is not None:
            bits.append(repr(self.value))
        if self.classes:
            bits.append("." + ".".join(self.classes))
        if self.children:
            bits.append(repr(self.children))
        return f"CueNode({', '.join(bits)})"


_DATA, _TAG, _START_TAG, _CLASS, _ANNOTATION, _END_TAG, _TIMESTAMP_TAG = range(7)
_TAG_WS = ("\t", "\n", "\f", " ")
_START_TAG_WS = ("\t", "\f", " ")


def _next_token(s: str, pos: int) -> tuple[tuple, int]:
    """The spec's "WebVTT cue text tokenizer": one token starting at ``pos``.

    Tokens: ("string", text) | ("start", name, classes, annotation|None)
            | ("end", name) | ("timestamp", value).
    """
    n = len(s)
    state = _DATA
    result: list[str] = []
    buffer: list[str] = []
    classes: list[str] = []
    while True:
        c = s[pos] if pos < n else None  # None is the end-of-file marker
        if state == _DATA:
            if c == "&":
                decoded, new_pos = _consume_char_ref(s, pos + 1)
                if decoded is None:
                    result.append("&")
                    pos += 1
                else:
                    result.append(decoded)
                    pos = new_pos
                continue
            if c == "<":
                if not result:
                    state = _TAG
                    pos += 1
                    continue
                return ("string", "".join(result)), pos
            if c is None:
                return ("string", "".join(result)), pos
            result.append(c)
        elif state == _TAG:
            if c in _TAG_WS:
                state = _ANNOTATION
            elif c == ".":
                state = _CLASS
            elif c == "/":
                state = _END_TAG
            elif c is not None and c in _ASCII_DIGITS:
                result = [c]
                state = _TIMESTAMP_TAG
            elif c == ">":
                return ("start", "", [], None), pos + 1
            elif c is None:
                return ("start", "", [], None), pos
            else:
                result = [c]
                state = _START_TAG
        elif state == _START_TAG:
            if c in _START_TAG_WS:
                state = _ANNOTATION
            elif c == "\n":
                buffer = [c]
                state = _ANNOTATION
            elif c == ".":
                state = _CLASS
            elif c == ">":
                return ("start", "".join(result), [], None), pos + 1
            elif c is None:
                return ("start", "".join(result), [], None), pos
            else:
                result.append(c)
        elif state == _CLASS:
            if c in _START_TAG_WS:
                classes.append("".join(buffer))
                buffer = []
                state = _ANNOTATION
            elif c == "\n":
                classes.append("".join(buffer))
                buffer = [c]
                state = _ANNOTATION
            elif c == ".":
                classes.append("".join(buffer))
                buffer = []
            elif c == ">" or c is None:
                classes.append("".join(buffer))
                return ("start", "".join(result), classes, None), (pos + 1 if c is not None else pos)
            else:
                buffer.append(c)
        elif state == _ANNOTATION:
            if c == "&":
                decoded, new_pos = _consume_char_ref(s, pos + 1)
                if decoded is None:
                    buffer.append("&")
                    pos += 1
                else:
                    buffer.append(decoded)
                    pos = new_pos
                continue
            if c == ">" or c is None:
                # strip, then collapse runs of ASCII whitespace to one space
                annotation = _collapse_ascii_ws("".join(buffer))
                return ("start", "".join(result), classes, annotation), (pos + 1 if c is not None else pos)
            buffer.append(c)
        elif state == _END_TAG:
            if c == ">" or c is None:
                return ("end", "".join(result)), (pos + 1 if c is not None else pos)
            result.append(c)
        else:  # _TIMESTAMP_TAG
            if c == ">" or c is None:
                return ("timestamp", "".join(result)), (pos + 1 if c is not None else pos)
            result.append(c)
        pos += 1


def _collapse_ascii_ws(s: str) -> str:
    out: list[str] = []
    in_ws = False
    for ch in s.strip(_ASCII_WS):
        if ch in _ASCII_WS:
            if not in_ws:
                out.append(" ")
            in_ws = True
        else:
            out.append(ch)
            in_ws = False
    return "".join(out)


_SIMPLE_SPANS = frozenset({"c", "i", "b", "u", "ruby"})
_CLOSABLE = frozenset({"c", "i", "b", "u", "ruby", "rt", "v"})


def parse_cue_text(text: str, language: str | None = None) -> CueNode:
    """The spec's "WebVTT cue text parsing rules": returns the root node."""
    root = CueNode("root", language=language)
    current = root
    language_stack: list[str] = [language] if language is not None else []
    pos = 0
    n = len(text)

    def attach(kind: str, classes: list[str], value: object = None) -> CueNode:
        node = CueNode(
            kind,
            value=value,
            classes=[c for c in classes if c],
            language=language_stack[-1] if language_stack else None,
            parent=current,
        )
        current.children.append(node)
        return node

    while pos < n:
        token, pos = _next_token(text, pos)
        kind = token[0]
        if kind == "string":
            current.children.append(CueNode("text", value=token[1], parent=current))
        elif kind == "start":
            _, name, classes, annotation = token
            if name in _SIMPLE_SPANS:
                current = attach(name, classes)
            elif name == "rt":
                if current.kind == "ruby":
                    current = attach("rt", classes)
            elif name == "v":
                current = attach("v", classes, annotation if annotation is not None else "")
            elif name == "lang":
                language_stack.append(annotation if annotation is not None else "")
                current = attach("lang", classes)
            # any other start tag is ignored
        elif kind == "end":
            name = token[1]
            if name in _CLOSABLE and current.kind == name:
                current = current.parent  # type: ignore[assignment]
            elif name == "lang" and current.kind == "lang":
                current = current.parent  # type: ignore[assignment]
                language_stack.pop()
            elif name == "ruby" and current.kind == "rt":
                current = current.parent.parent  # type: ignore[union-attr,assignment]
            # otherwise ignored
        else:  # timestamp tag
            value = token[1]
            try:
                seconds, end_pos = _collect_timestamp(value, 0)
            except _TimestampError:
                continue
            if end_pos == len(value):
                current.children.append(CueNode("timestamp", value=seconds, parent=current))
    return root


def _cue_parts(root: CueNode, include_ruby_text: bool) -> tuple[list[tuple[str | None, str]], str]:
    runs: list[tuple[str | None, str]] = []

    def walk(node: CueNode, voice: str | None) -> None:
        for child in node.children:
            if child.kind == "text":
                runs.append((voice, child.value))  # type: ignore[arg-type]
            elif child.kind == "timestamp":
                continue
            elif child.kind == "rt" and not include_ruby_text:
                continue
            elif child.kind == "v":
                walk(child, child.value)  # type: ignore[arg-type]
            else:
                walk(child, voice)

    walk(root, None)
    plain = "".join(text for _, text in runs)

    merged: list[list] = []
    for voice, text in runs:
        if merged and merged[-1][0] == voice:
            merged[-1][1] += text
        else:
            merged.append([voice, text])
    parts = [(voice, text.strip(_ASCII_WS)) for voice, text in merged]
    return [(voice, text) for voice, text in parts if text], plain

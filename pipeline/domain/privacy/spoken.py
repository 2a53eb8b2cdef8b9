"""Spoken-number helpers: how numbers sound in ASR output.

ASR writes "my number is five five five, one two three, oh nine eight seven" rather than
"555-123-0987". This module tokenises text with character offsets and finds *number runs*:
maximal stretches of number words and digit groups joined by pauses (commas, dashes,
fillers), converted to the digit string a person meant.

Pure Python, no third-party imports, so the residual-PII gate and the redactor can both
use it cheaply.

Conventions
-----------
* Digit words: ``zero oh o one … nine``; ``double five`` = ``55``; ``triple oh`` = ``000``.
* Compounds are read the way people say identifiers, group by group, and concatenated:
  ``five fifty five`` = ``555``, ``nineteen seventy nine`` = ``1979``,
  ``one eight hundred`` = ``1800``, ``twelve thirty four`` = ``1234``.
* ``hundred``/``thousand``/``million`` build one value inside a group:
  ``two thousand and five`` = ``2005``. A run that is a *single* such group
  (``two hundred fifty thousand``) is a quantity, not an identifier
  (:attr:`NumberRun.is_quantity`).
* A pause written as a comma splits compounds: ``twenty, five`` = ``205`` while
  ``twenty five`` = ``25``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

UNITS: dict[str, int] = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9,
}
TEENS: dict[str, int] = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
MAGNITUDES: dict[str, int] = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
REPEATS: dict[str, int] = {"double": 2, "triple": 3}
ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
    "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30,
}
MONTHS: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
#: words a speaker puts inside a number without ending it
FILLERS = frozenset({"uh", "um", "er", "erm", "ah", "hmm", "mm", "umm", "uhh"})
#: spoken separators inside a number ("five five five dash one two three")
SPOKEN_SEPARATORS = frozenset({"dash", "hyphen", "slash"})
#: punctuation allowed between the parts of one number run
GLUE_PUNCT = frozenset({",", ".", "-", "/", "(", ")", "+", "…", "–", "—", ";", ":"})
#: punctuation that marks a pause: it stops a compound ("twenty, five" is 2 groups)
PAUSE_PUNCT = frozenset({",", ".", "-", "/", "(", ")", "…", "–", "—", ";", ":"})

NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | frozenset(MAGNITUDES)

_TOKEN_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+|[^\sA-Za-z\d]")


@dataclass(frozen=True)
class Token:
    """One token of the text with its character offsets; ``kind`` is word|num|punct."""

    start: int
    end: int
    text: str
    lower: str
    kind: str


@dataclass
class NumberRun:
    """A stretch of spoken or written numbers meant as one digit string.

    ``first``/``last`` are token indices (inclusive) into the token list it was found in;
    ``groups`` the digit string of each spoken group, ``digits`` their concatenation.
    """

    first: int
    last: int
    start: int
    end: int
    digits: str
    groups: list[str] = field(default_factory=list)
    is_quantity: bool = False
    has_magnitude: bool = False

    @property
    def n_digits(self) -> int:
        """Number of digits the run stands for."""
        return len(self.digits)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word, number and punctuation tokens with char offsets."""
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        s = m.group(0)
        if s[0].isdigit():
            kind = "num"
        elif s[0].isalpha():
            kind = "word"
        else:
            kind = "punct"
        out.append(Token(m.start(), m.end(), s, s.lower(), kind))
    return out


@lru_cache(maxsize=512)
def cached_tokens(text: str) -> tuple[Token, ...]:
    """:func:`tokenize`, memoised: several recognizers read the same text."""
    return tuple(tokenize(text))


def is_number_token(tok: Token) -> bool:
    """True for digit groups and number words (not ordinals, not ``double``)."""
    return tok.kind == "num" or (tok.kind == "word" and tok.lower in NUMBER_WORDS)


def _is_digitish(tok: Token) -> bool:
    return tok.kind == "num" or (tok.kind == "word" and tok.lower in UNITS)


def _small(tokens: list[Token], idx: list[int], i: int, joined: list[bool]) -> tuple[int, int] | None:
    """Parse a value < 100 starting at position ``i`` of ``idx``: tens[-unit] | teen | unit.

    ``joined[k]`` says whether item k and k+1 are joined without a pause.
    Returns (value, next position) or None.
    """
    w = tokens[idx[i]].lower
    if w in TENS:
        v = TENS[w]
        if i + 1 < len(idx) and joined[i]:
            nxt = tokens[idx[i + 1]].lower
            if nxt in UNITS and UNITS[nxt] > 0 and nxt not in ("o", "oh"):
                return v + UNITS[nxt], i + 2
        return v, i + 1
    if w in TEENS:
        return TEENS[w], i + 1
    if w in UNITS:
        return UNITS[w], i + 1
    return None


def _compound(tokens: list[Token], idx: list[int], i: int, joined: list[bool]) -> tuple[str, int, bool] | None:
    """Parse one spoken group at position ``i``; returns (digits, next, used_magnitude)."""
    tok = tokens[idx[i]]
    if tok.kind == "num":
        return tok.text, i + 1, False
    w = tok.lower
    hundred_done = False
    if w in MAGNITUDES:  # a bare magnitude ("a hundred and fifty")
        value, j, mag = MAGNITUDES[w], i + 1, True
        hundred_done = w == "hundred"
    else:
        parsed = _small(tokens, idx, i, joined)
        if parsed is None:
            return None
        value, j = parsed
        mag = False
        if w in ("oh", "o", "zero"):
            return "0", j, False
        # hundreds: <small> hundred [and] [<small>]
        if j < len(idx) and joined[j - 1] and tokens[idx[j]].lower == "hundred":
            value *= 100
            j += 1
            mag = hundred_done = True
    if hundred_done and j < len(idx) and joined[j - 1] and tokens[idx[j]].lower in NUMBER_WORDS - set(MAGNITUDES):
        rest = _small(tokens, idx, j, joined)
        # a bare digit after "hundred" is part of it only at the end of the run
        # ("four hundred five") -- "eight hundred five five five" is 800-555
        bare = tokens[idx[j]].lower in UNITS and rest is not None and rest[1] < len(idx) \
            and joined[rest[1] - 1]
        if rest is not None and tokens[idx[j]].lower not in ("oh", "o", "zero") and not bare:
            value += rest[0]
            j = rest[1]
    # thousands / millions
    for big in ("thousand", "million"):
        if j < len(idx) and joined[j - 1] and tokens[idx[j]].lower == big:
            value *= MAGNITUDES[big]
            j += 1
            mag = True
            if j < len(idx) and joined[j - 1] and tokens[idx[j]].lower in NUMBER_WORDS - {"thousand", "million"}:
                sub = _compound(tokens, idx, j, joined)
                if sub is not None and int(sub[0]) < MAGNITUDES[big]:
                    value += int(sub[0])
                    j = sub[1]
    return str(value), j, mag


def find_number_runs(text: str, tokens: list[Token] | tuple[Token, ...] | None = None,
                     allow_o: bool = True) -> list[NumberRun]:
    """Find every number run in ``text`` (see module docstring for the reading rules).

    ``allow_o``: read a lone ``o``/``oh`` as zero when it sits next to other numbers.
    """
    toks = list(tokens) if tokens is not None else tokenize(text)
    runs: list[NumberRun] = []
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        starts = is_number_token(t) or (t.kind == "word" and t.lower in REPEATS
                                        and i + 1 < n and _is_digitish(toks[i + 1]))
        if not starts:
            i += 1
            continue
        # collect items: number tokens / repeat words, with join flags
        items: list[int] = [i]
        pauses: list[bool] = []  # pause between items[k] and items[k+1]
        j = i + 1
        pause = False
        while j < n:
            u = toks[j]
            if is_number_token(u) or (u.kind == "word" and u.lower in REPEATS
                                      and j + 1 < n and _is_digitish(toks[j + 1])):
                pauses.append(pause)
                items.append(j)
                pause = False
                j += 1
                continue
            if u.kind == "punct" and u.text in GLUE_PUNCT:
                pause = pause or u.text in PAUSE_PUNCT
                j += 1
                continue
            if u.kind == "word" and (u.lower in FILLERS or u.lower in SPOKEN_SEPARATORS):
                pause = True
                j += 1
                continue
            if u.kind == "word" and u.lower == "and" and j + 1 < n and is_number_token(toks[j + 1]) \
                    and toks[items[-1]].lower in ("hundred", "thousand", "million"):
                j += 1
                continue
            break
        next_i = items[-1] + 1
        run = _parse_items(toks, list(items), list(pauses), allow_o)
        if run is not None:
            runs.append(run)
        i = next_i
    return runs


def _parse_items(toks: list[Token], items: list[int], pauses: list[bool], allow_o: bool) -> NumberRun | None:
    # drop a leading/trailing interjection "oh" ("oh, one more thing") and a lone "o"
    def weak(k: int) -> bool:
        return toks[items[k]].lower in ("oh", "o")

    while items and weak(0) and (len(items) == 1 or pauses[0] or not allow_o):
        items.pop(0)
        if pauses:
            pauses.pop(0)
    while items and weak(len(items) - 1) and (len(items) == 1 or pauses[-1] or not allow_o):
        items.pop()
        if pauses:
            pauses.pop()
    # "double" not followed by a digit at the end
    while items and toks[items[-1]].lower in REPEATS:
        items.pop()
        if pauses:
            pauses.pop()
    if not items:
        return None
    joined = [not p for p in pauses] + [False]
    groups: list[str] = []
    k = 0
    any_mag = False
    while k < len(items):
        tok = toks[items[k]]
        if tok.lower in REPEATS:
            if k + 1 < len(items):
                nxt = toks[items[k + 1]]
                d = str(UNITS[nxt.lower]) if nxt.kind == "word" and nxt.lower in UNITS else (
                    nxt.text if nxt.kind == "num" and len(nxt.text) == 1 else "")
                if d:
                    groups.append(d * REPEATS[tok.lower])
                    k += 2
                    continue
            k += 1
            continue
        sub = _compound(toks, items, k, joined)
        if sub is None:
            k += 1
            continue
        groups.append(sub[0])
        any_mag = any_mag or sub[2]
        k = sub[1]
    if not groups:
        return None
    digits = "".join(groups)
    first, last = items[0], items[-1]
    quantity = any_mag and len(groups) == 1
    return NumberRun(first=first, last=last, start=toks[first].start, end=toks[last].end,
                     digits=digits, groups=groups, is_quantity=quantity, has_magnitude=any_mag)


def spoken_to_digits(text: str) -> str:
    """Digits of every number run in ``text`` concatenated ("five five oh" -> "550")."""
    return "".join(r.digits for r in find_number_runs(text))


def luhn_valid(digits: str) -> bool:
    """Luhn checksum (payment cards) of a digit string."""
    if not digits.isdigit() or len(digits) < 12:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ordinal_value(words: list[str]) -> int | None:
    """Value of a spoken day ordinal: ``["twelfth"]`` -> 12, ``["twenty", "first"]`` -> 21."""
    if len(words) == 1:
        return ORDINALS.get(words[0])
    if len(words) == 2 and words[0] in ("twenty", "thirty") and words[1] in ORDINALS:
        v = TENS[words[0]] + ORDINALS[words[1]]
        return v if ORDINALS[words[1]] < 10 else None
    return None


def normalise_heard(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` with every number run (spoken or written)
    replaced by its digit string and punctuation dropped, so that "five five five, one
    two three" and "555-123" compare equal: ``["555123"]``."""
    toks = cached_tokens(text)
    runs = {r.first: r for r in find_number_runs(text, toks)}
    out: list[str] = []
    i = 0
    while i < len(toks):
        run = runs.get(i)
        if run is not None:
            out.append(run.digits)
            i = run.last + 1
            continue
        if toks[i].kind != "punct":
            out.append(toks[i].lower)
        i += 1
    return out

"""Dates of birth and other personal dates, spoken ("the twelfth of july, nineteen seventy
nine") and written; due and billing dates are not personal.
"""

from __future__ import annotations

import re
from typing import Sequence

from pipeline.domain.privacy.detectors.vocab import _CTX_DOB, _NOT_BIRTH, _Parse, _parse, _words_before
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    MONTHS,
    ORDINALS,
    TEENS,
    TENS,
    UNITS,
    NumberRun,
    Token,
    find_number_runs,
    ordinal_value,
)


def _run_from(p: _Parse, text: str, idx: int) -> NumberRun | None:
    """The number run starting exactly at token ``idx`` (re-read from there when ``idx``
    sits inside a longer run, e.g. the year in "december 19, 1956")."""
    if idx in p.run_at:
        return p.run_at[idx]
    for r in p.runs:
        if r.first < idx <= r.last:
            base = p.tokens[idx].start
            sub = find_number_runs(text[base:r.end])
            if sub:
                f = sub[0]
                return NumberRun(first=idx, last=r.last, start=base + f.start, end=base + f.end,
                                 digits=f.digits, groups=f.groups, is_quantity=f.is_quantity,
                                 has_magnitude=f.has_magnitude)
    return None


def _year_run(p: _Parse, text: str, idx: int, dob_ctx: bool) -> NumberRun | None:
    """The number run starting at token ``idx`` (skipping a comma) if it reads as a year."""
    toks = p.tokens
    while idx < len(toks) and toks[idx].text in (",", "of"):
        idx += 1
    if idx >= len(toks):
        return None
    run = _run_from(p, text, idx)
    if run is None:
        return None
    d = run.digits
    if len(d) == 4 and 1900 <= int(d) <= 2099:
        return run
    if len(d) == 2 and (dob_ctx or toks[idx].kind == "num"):
        return run
    return None


def _day_after(toks: Sequence[Token], i: int, p: _Parse) -> tuple[int, int] | None:
    """Day expressed at token i (ordinal words, 'twelve', '12', '12th'): (value, last idx)."""
    if i >= len(toks):
        return None
    t = toks[i]
    if t.lower == "the" and i + 1 < len(toks):
        i += 1
        t = toks[i]
    if t.kind == "num" and len(t.text) <= 2:
        v = int(t.text)
        last = i
        if i + 1 < len(toks) and toks[i + 1].lower in ("st", "nd", "rd", "th") and toks[i + 1].start == t.end:
            last = i + 1
        return (v, last) if 1 <= v <= 31 else None
    if t.kind != "word":
        return None
    if i + 1 < len(toks) and t.lower in ("twenty", "thirty"):
        v = ordinal_value([t.lower, toks[i + 1].lower])
        if v is not None:
            return v, i + 1
    if t.lower in ORDINALS:
        return ORDINALS[t.lower], i
    if t.lower in UNITS and t.lower not in ("oh", "o", "zero"):
        return UNITS[t.lower], i
    if t.lower in TEENS or t.lower in TENS:
        last = i + 1 if (t.lower in TENS and i + 1 < len(toks) and toks[i + 1].lower in UNITS
                         and toks[i + 1].lower not in ("oh", "o", "zero")) else i
        v = _small_value(toks, i, last)
        return (v, last) if 1 <= v <= 31 else None
    return None


def _small_value(toks: Sequence[Token], i: int, last: int) -> int:
    w = toks[i].lower
    v = TEENS.get(w, TENS.get(w, UNITS.get(w, 0)))
    if last > i:
        v += UNITS.get(toks[last].lower, 0)
    return v


def detect_dates(text: str) -> list[PiiSpan]:
    """Full dates (day, month and year) — spoken or written — as DATE_OF_BIRTH. Partial
    dates ("next june", "on the fifth", "march of twenty twenty") are not PII."""
    p = _parse(text)
    toks = p.tokens
    out: list[PiiSpan] = []
    for i, t in enumerate(toks):
        if t.kind != "word" or t.lower not in MONTHS:
            continue
        before = _words_before(toks, i, 8)
        dob_ctx = any(w in _CTX_DOB for w in before)
        if not dob_ctx and any(w in _NOT_BIRTH for w in before[:6]):
            continue  # "your payment is due on the fifth of june twenty twenty five"
        # A: [the] DAY [of] MONTH [,] YEAR
        j = i - 1
        if j >= 0 and toks[j].lower == "of":
            j -= 1
        day_start = None
        if j >= 0:
            # try one- and two-token day expressions ending at j
            for k in (j - 1, j):
                if k < 0:
                    continue
                d = _day_after(toks, k, p)
                if d is not None and d[1] == j:
                    day_start = k + 1 if toks[k].lower == "the" else k  # "the" stays outside
                    break
        if day_start is not None:
            yr = _year_run(p, text, i + 1, dob_ctx)
            if yr is not None:
                out.append(PiiSpan(toks[day_start].start, yr.end, "DATE_OF_BIRTH", 0.95 if dob_ctx else 0.85))
                continue
        # B: MONTH[.] [the] DAY [,|of] YEAR
        after = i + 2 if i + 1 < len(toks) and toks[i + 1].text == "." else i + 1
        d = _day_after(toks, after, p)
        if d is not None:
            # "march third eighty": an ordinal day makes a spoken two-digit year a year
            ordinal_day = toks[d[1]].lower in ORDINALS or toks[d[1]].lower in ("st", "nd", "rd", "th")
            yr = _year_run(p, text, d[1] + 1, dob_ctx or ordinal_day)
            if yr is not None:
                out.append(PiiSpan(t.start, yr.end, "DATE_OF_BIRTH", 0.95 if dob_ctx else 0.85))
                continue
            if dob_ctx:  # "my birthday is december twenty fifth": no year, still a DOB
                out.append(PiiSpan(t.start, toks[d[1]].end, "DATE_OF_BIRTH", 0.8))
                continue
        if dob_ctx and day_start is not None:  # "my birthday is the fourth of june"
            out.append(PiiSpan(toks[day_start].start, t.end, "DATE_OF_BIRTH", 0.8))
    # Written dates are always redacted: the residual-PII gate counts their digits, and an
    # uncued "4/12/1987" is often the answer to "and your date of birth?" a turn earlier.
    for m in _WRITTEN_DATE_RE.finditer(text):
        out.append(PiiSpan(m.start(), m.end(), "DATE_OF_BIRTH", 0.85))
    return out


_WRITTEN_DATE_RE = re.compile(
    r"\b(?:(?:0?[1-9]|1[0-2])[/.-](?:0?[1-9]|[12]\d|3[01])[/.-](?:19|20)?\d\d"
    r"|(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)\d\d"
    r"|(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))\b")

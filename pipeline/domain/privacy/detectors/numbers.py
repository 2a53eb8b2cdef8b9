"""Spoken and written digit runs typed by context: phone, card (Luhn), SSN, account, ZIP;
self-corrections inside a number ("one seven... sorry, one six") bridged into one span.
"""

from __future__ import annotations

import re
from typing import Sequence

from pipeline.domain.privacy.detectors.addresses import _match_state
from pipeline.domain.privacy.detectors.dates import _WRITTEN_DATE_RE
from pipeline.domain.privacy.detectors.letters import _as_in, _extend_letters, _letter_token
from pipeline.domain.privacy.detectors.vocab import (
    _CTX_CARD,
    _ENDING_CUES,
    _STREET_STRONG,
    _STREET_WEAK,
    _TIME_PREPS,
    _TOLL_FREE,
    _context_class,
    _parse,
    _words_before,
)
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    UNITS,
    NumberRun,
    Token,
    luhn_valid,
)


# ============================================================== detectors (pure)
def detect_numbers(text: str) -> list[PiiSpan]:
    """Digit runs (spoken or written) classified as PHONE, CARD, SSN, ACCOUNT, ZIP or
    DATE_OF_BIRTH by nearby context words and digit count / Luhn."""
    p = _parse(text)
    toks = p.tokens
    out: list[PiiSpan] = []
    for run in p.runs:
        if run.is_quantity:
            continue
        n = run.n_digits
        cls, said_number = _context_class(toks, run.first)
        before = _words_before(toks, run.first, 6)
        if cls is None and "area" in before[:4] and "code" in before[:3]:
            cls = "PHONE"  # "area code is seven one eight and then ..."
        if cls is None and n in (5, 9) and _after_address(toks, run.first):
            cls = "ZIP"  # "..., bellevue washington, nine eight oh oh six"
        if cls in (None, "PHONE", "ACCOUNT") and 8 <= n <= 15 and run.first > 0 and (
                toks[run.first - 1].lower == "plus" or toks[run.first - 1].text == "+"):
            cls = "PHONE"  # "plus four four seven seven double oh ...": an international number
        if _WRITTEN_DATE_RE.fullmatch(text[run.start:run.end]):
            continue  # a written date: detect_dates decides whether it is a birth date
        if n == 4 and cls in (None, "PHONE", "CARD") and (
                any(w in _ENDING_CUES for w in before[:3]) or _said_last_four(before)):
            cls = "CARD"
        elif cls == "CARD" and n < 12 and not any(w in _CTX_CARD - {"credit", "debit"} for w in before):
            cls = None  # "a credit of twelve fifty" is money, not card digits
        if cls == "PHONE" and n < 7 and (
                run.digits in _TOLL_FREE or (before[:1] and before[0] in _TIME_PREPS)):
            continue  # "dial the one eight hundred number", "call me back at three thirty"
        etype: str | None = None
        score = 0.0
        if cls == "CARD" and n >= 12:
            etype, score = "CARD", 0.99 if luhn_valid(run.digits) else 0.9
        elif cls == "CARD" and n >= 4:
            etype, score = "CARD", 0.7
        elif cls == "SSN" and n >= 4:
            etype, score = "SSN", 0.9
        elif cls == "ZIP" and 5 <= n <= 9:
            etype, score = "ZIP", 0.9
        elif cls == "DATE_OF_BIRTH" and n >= 4:
            etype, score = "DATE_OF_BIRTH", 0.8
        elif cls == "ACCOUNT" and n >= 3:
            etype, score = "ACCOUNT", 0.85
        elif cls == "ACCOUNT" and n >= 1:
            f, l = _extend_letters(toks, run.first, run.last, p)
            chars = sum(1 for k, t in enumerate(toks[f:l + 1], f) if _letter_token(t) and t.lower not in UNITS
                        and not (k >= 3 and _as_in(toks, k - 3)))
            chars += sum(r.n_digits for r in p.runs if f <= r.first <= l)
            if chars >= 4:
                etype, score = "ACCOUNT", 0.8
        elif cls == "PHONE" and n >= 7:
            etype, score = "PHONE", 0.9
        elif cls == "PHONE" and n >= 3:
            etype, score = "PHONE", 0.6
        elif 13 <= n <= 19 and luhn_valid(run.digits):
            etype, score = "CARD", 0.9
        elif 17 <= n <= 20 and (luhn_valid(run.digits[:16]) or luhn_valid(run.digits[:15])):
            etype, score = "CARD", 0.8  # a card number run on into the next word ("... oh three six six, oh")
        elif n == 9 and re.fullmatch(r"\d{3}-\d{2}-\d{4}", text[run.start:run.end]):
            etype, score = "SSN", 0.85
        elif n == 7 or n == 10 or (n == 11 and run.digits[0] == "1"):
            etype, score = "PHONE", 0.85
        elif n >= 6:
            etype, score = "ACCOUNT", 0.6 if said_number else 0.5
        if etype is None:
            continue
        start, end = run.start, run.end
        first, last = run.first, run.last
        if etype == "ACCOUNT":  # alphanumeric ids: absorb adjacent spelled letters
            first, last = _extend_letters(toks, first, last, p)
            start, end = toks[first].start, toks[last].end
        if first > 0 and toks[first - 1].text in ("(", "+") and toks[first - 1].end == start:
            start = toks[first - 1].start
        if etype == "PHONE" and first > 0 and toks[first - 1].lower == "plus":
            start = toks[first - 1].start
        if etype == "PHONE":  # "..., extension four four two" / "ext. 442" / "x442"
            k = last + 1
            while k < len(toks) and toks[k].text in (",", "."):
                k += 1
            if k < len(toks) and toks[k].lower in ("extension", "ext", "x"):
                k += 1
                while k < len(toks) and toks[k].text in (".", ":"):
                    k += 1
                ext = p.run_at.get(k)
                if ext is not None and ext.n_digits <= 6:
                    last = ext.last
                    end = ext.end
        if end < len(text) and text[end:end + 1] == ")":
            end += 1
        out.append(PiiSpan(start, end, etype, score))
    return _bridge_corrections(text, p.runs, out)


# what a speaker says between a wrong digit group and its correction
_CORRECTION_RE = re.compile(
    r"^[\s.,…;:!-]*(?:(?:sorry|no|wait|i mean|actually|uh|um|er|correction|my bad|scratch that|"
    r"or rather|oops|hang on|let me|start again|again)[\s.,…;:!-]*)+$", re.I)
_BRIDGE_TYPES = ("PHONE", "CARD", "SSN", "ACCOUNT")


def _bridge_corrections(text: str, runs: Sequence[NumberRun], spans: list[PiiSpan]) -> list[PiiSpan]:
    """Self-corrections inside a number ("four four four, no wait, four four five", "one
    seven... sorry, one six seven three"): a digit group on the other side of a
    correction phrase from a PHONE/CARD/SSN/ACCOUNT span takes that span's type, and the
    whole stretch, correction included, becomes one span (typed by its higher-scoring
    part when both sides were typed)."""
    out = sorted(spans, key=lambda x: x.start)
    changed = True
    while changed:
        changed = False
        for run in runs:
            if run.is_quantity or any(sp.start <= run.start and run.end <= sp.end for sp in out):
                continue
            for k, sp in enumerate(out):
                if sp.entity_type not in _BRIDGE_TYPES:
                    continue
                if sp.end <= run.start and _CORRECTION_RE.match(text[sp.end:run.start]):
                    out[k] = PiiSpan(sp.start, run.end, sp.entity_type, sp.score)
                elif run.end <= sp.start and _CORRECTION_RE.match(text[run.end:sp.start]):
                    out[k] = PiiSpan(run.start, sp.end, sp.entity_type, sp.score)
                else:
                    continue
                changed = True
                break
        for k in range(len(out) - 1):  # two typed groups around a correction: one span
            a, b = out[k], out[k + 1]
            if (a.entity_type in _BRIDGE_TYPES and b.entity_type in _BRIDGE_TYPES and a.end <= b.start
                    and _CORRECTION_RE.match(text[a.end:b.start])):
                best = max((a, b), key=lambda x: x.score)
                out[k:k + 2] = [PiiSpan(a.start, b.end, best.entity_type, max(a.score, b.score))]
                changed = True
                break
    return out


def _after_address(toks: Sequence[Token], first: int) -> bool:
    """A run right after a US state name, or after a street address earlier in the
    utterance (street suffix, "p o box") and a comma: the position of a ZIP code."""
    j = first - 1
    while j >= 0 and toks[j].kind == "punct":
        j -= 1
    if j < 0:
        return False
    for width in (3, 2, 1):  # a state name ending right before the run
        k = j - width + 1
        if k >= 0 and _match_state(toks, k) == j:
            return True
    words = _words_before(toks, first, 12)
    return toks[first - 1].text == "," and any(w in _STREET_STRONG or w in _STREET_WEAK or w == "box"
                                               for w in words)


def _said_last_four(before: Sequence[str]) -> bool:
    """"last four (digits) are ..." among the words before a run (nearest first)."""
    ws = list(before)
    return any(ws[k] in ("four", "4") and ws[k + 1] == "last" for k in range(len(ws) - 1))

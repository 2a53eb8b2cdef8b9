"""The residual-PII gate: a strict, fast, regex-and-digit-counting scan of REDACTED output.
Anything it finds blocks promotion to gold. Independent of the engine on purpose.
"""

from __future__ import annotations

import re

from pipeline.domain.privacy.detectors.vocab import _TLDS
from pipeline.domain.privacy.spans import PLACEHOLDER_RE, PiiSpan, merge_spans
from pipeline.domain.privacy.spoken import (
    TENS,
    UNITS,
)

# ============================================================== residual gate
_R_TOKEN = re.compile(r"[A-Za-z]+|\d+|\S")
_R_DIGIT1 = set(UNITS) - {"o"}
_R_TEENS = {"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"}
_R_TENS = set(TENS)
_R_GLUE = {",", ".", "-", "/", "(", ")", "+", "…", ":", ";", "uh", "um", "er", "ah", "dash",
           "hyphen", "slash", "and"}
_R_QUANTITY_RE = re.compile(r"\$?\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b|\$\d+(?:\.\d+)?")
_R_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_R_SPOKEN_EMAIL_RE = re.compile(
    r"\b([a-z0-9]+)(?:\s+(?:underscore|dot|dash|hyphen|period|_|\.|-)\s*[a-z0-9]+)*\s+at(?:\s+(?:sign|symbol))?"
    r"(?:\s*,?\s*(?:um|uh|er)\s*,?)?\s+"  # "at, um, company mail dot com", "at sign"
    r"(?!(?:the|a|an|my|your|our)\b)[a-z0-9]+(?:\s+(?!(?:and|or|the|to|dot|at)\b)[a-z0-9]+){0,2}"
    r"(?:\s+dot\s+[a-z0-9]+)*\s+dot\s+(?:%s)\b" % "|".join(sorted(_TLDS)), re.I)
_R_SHAPES = re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\(\d{3}\)\s*\d{3}[-. ]\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b"
                       r"|\b(?:\d{4}[- ]){3}\d{4}\b")
_R_NOT_LOCAL = {"website", "site", "online", "us", "web", "page", "portal", "app", "store",
                "link", "office", "offices", "shop", "them", "here", "there", "it", "me", "you",
                "look", "visit", "available", "is", "email", "address"}


def residual_pii(text: str) -> list[PiiSpan]:
    """Strict, independent PII scan for REDACTED text (no NER, no shared parser).

    Flags: any run of >= 6 digits written or spoken (not a quantity like "250,000" or
    "two hundred fifty thousand"), written and spoken emails, card/SSN/phone shapes.
    Placeholder and pseudonym tokens (``[PHONE]``, ``[PHONE_3fa9c1]``) are ignored and
    break runs. Returns [] when nothing is found.
    """
    masked = PLACEHOLDER_RE.sub(lambda m: "|" * len(m.group(0)), text)
    masked = _R_QUANTITY_RE.sub(lambda m: "|" * len(m.group(0)), masked)
    found: list[PiiSpan] = []
    for m in _R_EMAIL_RE.finditer(masked):
        found.append(PiiSpan(m.start(), m.end(), "EMAIL", 1.0))
    for m in _R_SPOKEN_EMAIL_RE.finditer(masked):
        if m.group(1).lower() not in _R_NOT_LOCAL:
            found.append(PiiSpan(m.start(), m.end(), "EMAIL", 1.0))
    for m in _R_SHAPES.finditer(masked):
        found.append(PiiSpan(m.start(), m.end(), "DIGITS", 1.0))
    # digit counting over words and digits
    toks = list(_R_TOKEN.finditer(masked))
    i = 0
    while i < len(toks):
        run_start = None
        count = 0
        mags: list[int] = []
        pause = False
        last_num = -1
        j = i
        while j < len(toks):
            w = toks[j].group(0)
            lw = w.lower()
            c = 0
            if w.isdigit():
                c = len(w)
            elif lw in _R_DIGIT1:
                c = 1
            elif lw in _R_TEENS:
                c = 2
            elif lw in _R_TENS:
                c = 2
                if j + 1 < len(toks) and toks[j + 1].group(0).lower() in _R_DIGIT1 - {"zero", "oh"}:
                    j += 1
            elif lw in ("double", "triple") and j + 1 < len(toks) and toks[j + 1].group(0).lower() in _R_DIGIT1:
                c = 2 if lw == "double" else 3
                j += 1
            elif lw in ("hundred", "thousand", "million"):
                if run_start is not None:
                    mags.append(j)
                    nxt = toks[j + 1].group(0).lower() if j + 1 < len(toks) else ""
                    if nxt == "and" and j + 2 < len(toks):
                        nxt = toks[j + 2].group(0).lower()
                    followed = nxt in _R_DIGIT1 or nxt in _R_TEENS or nxt in _R_TENS
                    # "one hundred twenty nine" is 3 digits: the magnitude only pads
                    # when nothing follows it ("eight hundred" = 800)
                    c = 0 if followed else {"hundred": 2, "thousand": 3, "million": 6}[lw]
                    if c == 0:
                        last_num = j
                        j += 1
                        continue
            elif run_start is not None and (lw in _R_GLUE):
                pause = pause or lw != "and"
                j += 1
                continue
            if c == 0:
                break
            if run_start is None:
                run_start = j
            count += c
            last_num = j
            j += 1
        if run_start is None:
            i += 1
            continue
        quantity = bool(mags) and not pause and (last_num - mags[-1]) <= 3 and \
            (last_num - run_start) <= 7
        if count >= 6 and not quantity:
            found.append(PiiSpan(toks[run_start].start(), toks[last_num].end(), "DIGITS", 1.0))
        i = max(last_num + 1, i + 1)
    return merge_spans(found, text)

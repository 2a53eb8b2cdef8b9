"""A person's age, written or spoken: "a 50 year old man", "aged 34", "I'm thirty two
years old", "age: 61". The span is the number; ages alone ("twelve month plan", "3 years
ago") are not matched."""

from __future__ import annotations

import re

from pipeline.domain.privacy.spans import PiiSpan

_NUM_WORDS = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|"
              r"seven|eight|nine))?|eighteen|nineteen|seventeen|sixteen|fifteen|fourteen|thirteen|twelve|eleven|ten|"
              r"one hundred(?: and \w+)?)")
_NUM = rf"(?:\d{{1,3}}|{_NUM_WORDS})"
_AGE_RES = (
    re.compile(rf"\b(?P<n>{_NUM})[- ]?(?:years?|yrs?|yo)[- ]?old\b", re.I),
    re.compile(rf"\b(?P<n>{_NUM})[- ]year[- ]old\b", re.I),
    re.compile(rf"\b(?:aged|age(?:d)?(?: is)?:?|at the age of)\s+(?P<n>{_NUM})\b(?!\s*(?:%|percent|dollars|days|months))", re.I),
    re.compile(rf"\b(?P<n>\d{{1,3}})\s*y/?o\b", re.I),
)


def detect_ages(text: str) -> list[PiiSpan]:
    """AGE spans (the number) in ``text``."""
    out: dict[tuple[int, int], PiiSpan] = {}
    for rx in _AGE_RES:
        for m in rx.finditer(text):
            s, e = m.span("n")
            value = m.group("n")
            if value.isdigit() and not 0 < int(value) < 125:
                continue
            out[(s, e)] = PiiSpan(s, e, "AGE", 0.85)
    return sorted(out.values(), key=lambda p: p.start)

"""PII spans: the entity types callforge emits, the span and result records, and merging
overlapping spans. Offsets are always character offsets in the ORIGINAL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from pipeline.domain.privacy.spoken import (
    find_number_runs,
    luhn_valid,
)

#: entity types this module emits (placeholders are "[<TYPE>]")
ENTITY_TYPES: tuple[str, ...] = (
    "PHONE", "CARD", "SSN", "EMAIL", "DATE_OF_BIRTH", "ADDRESS", "PERSON", "ACCOUNT", "ZIP",
    "IBAN", "URL", "IP", "AGE", "LOCATION", "ORGANIZATION", "NRP",
)
#: quasi-identifiers: redacted only when settings ask (redaction.quasi_identifiers)
QUASI_TYPES: tuple[str, ...] = ("ORGANIZATION", "NRP")
#: direct identifiers: always redacted (README "Redaction policy")
DIRECT_TYPES: tuple[str, ...] = tuple(t for t in ENTITY_TYPES if t not in QUASI_TYPES)
#: tie-break when overlapping spans of different types have equal scores
_PRIORITY = {t: i for i, t in enumerate(
    ["EMAIL", "IBAN", "CARD", "SSN", "DATE_OF_BIRTH", "PHONE", "IP", "URL", "ZIP", "ADDRESS", "ACCOUNT",
     "PERSON", "AGE", "LOCATION", "ORGANIZATION", "NRP"])}
_ADDRESS_PARTS = frozenset({"ADDRESS", "ZIP", "LOCATION"})
#: Presidio built-in entity names -> ours
_PRESIDIO_MAP = {"PERSON": "PERSON", "CREDIT_CARD": "CARD", "PHONE_NUMBER": "PHONE",
                 "US_SSN": "SSN", "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP"}
OPERATORS = ("placeholder", "pseudonym")

# a placeholder or pseudonym token as written by this module
PLACEHOLDER_RE = re.compile(r"\[(?:%s)(?:_[0-9a-f]{6})?\]" % "|".join(ENTITY_TYPES))


@dataclass(frozen=True)
class PiiSpan:
    """One detected PII span in original-text character offsets."""

    start: int
    end: int
    entity_type: str
    score: float


@dataclass
class RedactionResult:
    """Redacted text plus the spans (in ORIGINAL text offsets) that were replaced."""

    text: str
    spans: list[PiiSpan]


def merge_spans(spans: Iterable[PiiSpan], text: str | None = None) -> list[PiiSpan]:
    """Union overlapping spans (and same-type spans separated only by spaces/punctuation);
    the merged span takes the type of its highest-scoring part, except that an address
    merged with a town or postcode stays an address."""
    items = sorted(spans, key=lambda s: (s.start, -s.end))
    out: list[PiiSpan] = []
    for s in items:
        if s.end <= s.start:
            continue
        if out:
            prev = out[-1]
            gap = text[prev.end:s.start] if text is not None and s.start >= prev.end else ""
            touching = s.start < prev.end or (
                s.start >= prev.end and s.entity_type == prev.entity_type and text is not None
                and len(gap) <= 3 and not any(c.isalnum() for c in gap))
            if touching:
                best = max((prev, s), key=lambda x: (x.score, -_PRIORITY.get(x.entity_type, 99)))
                etype = best.entity_type
                if {prev.entity_type, s.entity_type} <= _ADDRESS_PARTS and "ADDRESS" in (prev.entity_type, s.entity_type):
                    etype = "ADDRESS"  # a town or postcode inside an address block is the address
                out[-1] = PiiSpan(prev.start, max(prev.end, s.end), etype, max(prev.score, s.score))
                continue
        out.append(s)
    return out


_DIGIT_TYPES = ("PHONE", "CARD", "SSN", "ACCOUNT", "ZIP")


def _split_number_before_email(text: str, spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Keep a digit run said just before an email its own span.

    The email recognizer's local part may start inside a preceding digit run ("4532, 015,
    11283, 0366, 0 notly at mnple.com"): the overlapping spans would otherwise merge into
    one EMAIL. A digit-type span that starts before an overlapping EMAIL span is cut at
    the email's start and re-typed from the digits that remain (a Luhn-valid 13-19 digit
    run becomes CARD). Nothing is dropped: the cut-off part stays inside the EMAIL span.
    """
    emails = [sp for sp in spans if sp.entity_type == "EMAIL"]
    if not emails:
        return list(spans)
    out: list[PiiSpan] = []
    for sp in spans:
        cut = None
        if sp.entity_type in _DIGIT_TYPES:
            cut = min((em.start for em in emails if sp.start < em.start < sp.end), default=None)
        if cut is None:
            out.append(sp)
            continue
        end = cut
        while end > sp.start and (text[end - 1].isspace() or text[end - 1] in ",.;:-"):
            end -= 1
        if end <= sp.start:
            continue  # fully inside the email span, which covers it
        etype, score = sp.entity_type, sp.score
        runs = find_number_runs(text[sp.start:end])
        digits = "".join(r.digits for r in runs)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            etype, score = "CARD", max(score, 0.9)
        out.append(PiiSpan(sp.start, end, etype, score))
    return out

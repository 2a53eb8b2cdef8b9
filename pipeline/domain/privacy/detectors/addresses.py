"""Street addresses: US spoken addresses (house number, street, suffix, unit, state, ZIP),
addresses after a cue ("I live at"), and written international addresses and blocks.
"""

from __future__ import annotations

import re
from typing import Sequence

from pipeline.domain.privacy.detectors.emails import _EMAIL_STOP
from pipeline.domain.privacy.detectors.names import _match_at
from pipeline.domain.privacy.detectors.vocab import (
    _ADDRESS_CTX,
    _COMMON,
    _DIRECTIONS,
    _STREET_STRONG,
    _STREET_WEAK,
    _UNIT_WORDS,
    US_STATE_ABBR,
    US_STATES,
    _Parse,
    _parse,
    _words_before,
)
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    Token,
)


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


#: words after a number that make it a quantity, not a house number ("12 months old")
_NOT_A_STREET = {"month", "year", "day", "week", "minute", "hour", "second", "dollar", "buck", "cent",
                 "percent", "time", "box", "item", "bedroom", "room", "floor", "mile", "kilometer",
                 "pound", "euro", "point", "digit", "number", "character", "people", "kid", "child",
                 "account", "payment", "charge", "o'clock", "am", "pm"}


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
        # ASR punctuation inside an address ("one forty four. Granger. Road.", "sixty
        # seven, harrow road"): up to two stray "." / "," tokens are bridged
        bridged = 0
        while j < n and toks[j].text in (".", ",") and bridged < 1:
            j += 1
            bridged += 1
        name_start = j
        suffix_idx = None
        while j < n and j - name_start < 5 + bridged:
            t = toks[j]
            if t.text in (".", ",") and bridged < 2 and j > name_start:
                j += 1
                bridged += 1
                continue
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
            # no suffix ("it's twenty two fifteen birchwood"): only right after an
            # address cue, a house number and one or two street-name words
            cue = (any(w in _ADDRESS_CTX for w in _words_before(toks, run.first, 4))
                   and run.first > 0 and toks[run.first - 1].lower in ("at", "is", "it's", "its", "on"))
            k = run.last + 1
            if k < n and toks[k].lower in _DIRECTIONS and toks[k].kind == "word":
                k += 1
            name = [i for i in range(k, min(n, k + 2)) if toks[i].kind == "word"
                    and toks[i].lower not in _COMMON and toks[i].lower not in _EMAIL_STOP
                    and len(toks[i].text) > 2]
            name = [i for idx, i in enumerate(name) if i == k + idx]  # consecutive from k
            if cue and name and run.n_digits <= 5 and toks[name[0]].lower.rstrip("s") not in _NOT_A_STREET:
                out.append(PiiSpan(toks[run.first].start, toks[name[-1]].end, "ADDRESS", 0.7))
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

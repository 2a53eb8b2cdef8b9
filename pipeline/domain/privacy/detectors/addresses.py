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
    MONTHS,
    NUMBER_WORDS,
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
            # or, with no cue, a unit right after ("three forty one elm. apartment six")
            u = name[-1] + 1 if name else n
            while u < n and toks[u].text in (".", ","):
                u += 1
            unit_end = None
            if u + 1 < n and toks[u].lower in _UNIT_WORDS and toks[u].lower != "floor":
                unit_run = p.run_at.get(u + 1 if toks[u + 1].lower not in ("number", "no") else u + 2)
                unit_end = unit_run.last if unit_run is not None else None
            if (cue or unit_end is not None) and name and run.n_digits <= 5 \
                    and toks[name[0]].lower.rstrip("s") not in _NOT_A_STREET:
                end = toks[unit_end if unit_end is not None else name[-1]].end
                out.append(PiiSpan(toks[run.first].start, end, "ADDRESS", 0.7))
            continue
        weak = toks[suffix_idx].lower in _STREET_WEAK
        if suffix_idx + 1 < n and toks[suffix_idx + 1].lower in _DIRECTIONS and len(toks[suffix_idx + 1].text) > 1:
            suffix_idx += 1  # "Queen Street West"
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
_WA_UNIT = re.compile(r"[ \t]*(?:,[ \t]*)?(?:\n[ \t]*(?:[?*•·>–-]+[ \t]+)?)*(?:,[ \t]*)?(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor)\s*#?\s*\w{1,5}\b", re.I)
# a line break (bullets such as "???" allowed), a comma, or an ASR full stop before a
# lower-case word ("… apartment six. riverside.")
_WA_BREAK = re.compile(r"(?:[ \t]*(?:,[ \t]*)?(?:\n[ \t]*(?:[?*•·>–-]+[ \t]+)?)+(?:,[ \t]*)?|[ \t]*,[ \t]*"
                       r"|[ \t]*\.[ \t]+(?=[a-zà-ÿ]))(?:(?:uh|um|er|erm|ah)[ \t]*,[ \t]*)?")
# up to a line break, a comma or a full stop that ends a sentence ("St. Louis" stays whole)
_WA_PART = re.compile(r"(?:[^\n,.]|\.(?![ \t]|$)|(?<=\bSt)\.|(?<=\bMt)\.|(?<=\bFt)\.)*")
# a block part: a few words (city, region, country) and at most a postcode
_WA_PART_OK = re.compile(r"^[\s,]*(?:[^\W\d_][\w'’.-]*(?:[\s,]+[^\W\d_][\w'’.-]*){0,4})?[\s,]*(?:\d{1,6})?[\s,.]*$")
_WA_PART_STOP = re.compile(r"@|\d{6,}|\d{3}[-. ]\d{3}|\b(?:office|fax|mobile|tel|phone|and|for|this|card|with|is|was)\b",
                           re.I)
# capitalised place words (town, country) and a postcode closing an address on its line:
# "… Apt. 584 HEILIGENBRUNN France"
_WA_TAIL = re.compile(rf"[ \t]+((?:{_WA_CAP}[ \t]+){{0,2}}{_WA_CAP}(?:[ \t]+\d{{3,6}})?)(?=[ \t]*(?:$|\n|[.;!?](?:\s|$)))")
_WORD_RE = re.compile(r"[^\W\d_][\w'’-]*")


def _place_part(part: str) -> bool:
    """A line or comma part that can continue an address block: a few words that are
    not everyday words (town, region, country, "nan" placeholders), a postcode, or both."""
    if _POSTCODE.fullmatch(part.strip(" \t.")):
        return True
    if not part.strip() or _WA_PART_STOP.search(part) or not _WA_PART_OK.match(part):
        return False
    words = _WORD_RE.findall(part)
    return not words or any(w.lower() not in _COMMON for w in words)


def extend_address_block(text: str, end: int) -> int:
    """The end of the address block that continues after ``end``: units ("Apt. 018"),
    then the lines or comma parts that follow (unit, town, region, country, postcode,
    bullet prefixes such as "???" allowed), then capitalised place words ending the line."""
    while True:
        unit = _WA_UNIT.match(text, end)
        if unit:
            end = unit.end()
            continue
        brk = _WA_BREAK.match(text, end)
        if not brk:
            break
        part = _WA_PART.match(text, brk.end()).group(0)
        stop = _WA_PART_STOP.search(part)
        if stop and stop.start() > 0 and text[brk.end() + stop.start() - 1].isspace():
            part = part[:stop.start()]  # "Serbia 23823 for this card": the place before the stop word
        if not _place_part(part):
            break
        end = brk.end() + len(part.rstrip().rstrip("."))
        if stop:
            break
    tail = _WA_TAIL.match(text, end)
    if tail and all(w.lower() not in _COMMON for w in _WORD_RE.findall(tail.group(1))):
        end = tail.end(1)
    return end


def extend_address_spans(text: str, spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Every ADDRESS span stretched over the address block that follows it (see
    :func:`extend_address_block`), whichever detector found the street."""
    out = []
    for sp in spans:
        if sp.entity_type == "ADDRESS":
            end = extend_address_block(text, sp.end)
            if end > sp.end:
                sp = PiiSpan(sp.start, end, sp.entity_type, sp.score)
        out.append(sp)
    return out


# "the corner of Kapelaniestraat 88 and Whittaker Street", "corner of Main and Fifth"
_CORNER = re.compile(rf"\b(?:the\s+)?corner\s+of\s+(?:{_WA_CAP}|{_WA_NUM})(?:\s+(?:{_WA_CAP}|{_WA_NUM})){{0,3}}"
                     rf"\s+(?:and|&)\s+(?:{_WA_CAP}|{_WA_NUM})(?:\s+(?:{_WA_CAP}|{_WA_NUM})){{0,3}}")


def detect_written_addresses(text: str) -> list[PiiSpan]:
    """Written street addresses in international formats — "Nassaustraat 123",
    "48 Rue Descartes", "98 árpád fejedelem útja 45.", "Školní 939" before a line break,
    street corners ("the corner of Main and Fifth") — and the address block that follows
    on the next lines or after commas (unit, city, region, country, postcode). For free
    text in event payloads and notes; call speech is covered by :func:`detect_addresses`."""
    out = [PiiSpan(m.start(), extend_address_block(text, m.end()), "ADDRESS", 0.7)
           for m in _WA_STREET.finditer(text)]
    out.extend(PiiSpan(m.start(), m.end(), "ADDRESS", 0.7) for m in _CORNER.finditer(text))
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
            nxt = j + 1
            while nxt < n and toks[nxt].kind == "num":
                nxt += 1
            if nxt < n and toks[nxt].lower.rstrip("s") in _NOT_A_STREET:
                break  # "the address is 12 months old": a quantity, not a house number
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


# ------------------------------------------------------------ towns after a cue
_PLACE_CUES: list[tuple[str, ...]] = [
    ("live", "in"), ("lives", "in"), ("lived", "in"), ("living", "in"), ("grew", "up", "in"),
    ("born", "in"), ("raised", "in"), ("moved", "to"), ("moving", "to"), ("relocated", "to"),
    ("resident", "of"), ("based", "in"), ("town", "of"), ("city", "of"), ("village", "of"),
    ("i'm", "from"), ("i", "am", "from"), ("we're", "from"), ("we", "live", "in"),
] + [(verb, adverb, "in") for verb in ("live", "lives", "lived", "living", "we're", "i'm")
     for adverb in ("over", "out", "up", "down", "right")]
_PLACE_CUES_BY_FIRST: dict[str, list[tuple[str, ...]]] = {}
for _cue in sorted(_PLACE_CUES, key=len, reverse=True):
    _PLACE_CUES_BY_FIRST.setdefault(_cue[0], []).append(_cue)
#: words after a cue that are not places ("moved to savings", "born in march", "live in fear")
_NOT_A_PLACE = (set(MONTHS) | set(NUMBER_WORDS) | {
    "savings", "checking", "credit", "debit", "account", "accounts", "another", "different", "fear", "hope",
    "debt", "peace", "person", "branch", "store", "office", "line", "queue", "touch", "trouble", "order",
    "voicemail", "overdraft", "collections", "hospital", "school", "college", "work", "bed", "town", "city",
    "apartment", "house", "flat", "hotel", "area", "country", "state", "village", "suburbs", "countryside",
    "between", "advance", "case", "last", "next", "year", "years", "week", "weeks", "month", "months", "ago",
    "recently", "originally", "yesterday", "tomorrow", "when", "since", "about", "around", "back", "here", "there", "person", "general", "private", "public", "english", "spanish", "french"})
_PLACE_LINK = {"nad", "de", "del", "la", "le", "sur", "upon", "on", "am", "an", "der", "di", "da", "of", "-"}

_PLACE_CAP = r"(?:(?:St|Ste|Mt|Ft)\.[ \t]*)?[^\W\d_a-zà-ÿ][\w'’-]*"  # a capitalised word, no full stop inside
_PLACE_WRITTEN = re.compile(
    rf"{_PLACE_CAP}(?:[ \t]+(?:(?:{'|'.join(sorted(_PLACE_LINK - {'-'}))})[ \t]+)?{_PLACE_CAP}){{0,3}}"
    rf"(?:[ \t]+\d{{1,2}}\b)?(?:,[ \t]*{_PLACE_CAP}(?:[ \t]+{_PLACE_CAP})?"
    r"(?=[ \t]*(?:$|[\n.,;!?]|and\b|but\b)))?")


def detect_place_cues(text: str) -> list[PiiSpan]:
    """Towns and cities after a residence cue ("I live in Springfield", "grew up in Ústí
    nad Labem 2", "in the town of …", spoken "i'm from springfield"): up to four place
    words — capitalised in written text, any non-everyday words in lower-case speech —
    and a district number."""
    toks = _parse(text).tokens
    n = len(toks)
    out: list[PiiSpan] = []
    for i in range(n):
        for cue in _PLACE_CUES_BY_FIRST.get(toks[i].lower, ()):
            if not _match_at(toks, i, cue):
                continue
            j = i + len(cue)
            if j < n and toks[j].lower == "the" and j + 1 < n and toks[j + 1].text[:1].isupper():
                j += 1
            if j < n and toks[j].text[:1].isupper():  # written: capitalised words, any script
                m = _PLACE_WRITTEN.match(text, toks[j].start)
                if m and not all(w.lower() in _COMMON or w.lower() in _NOT_A_PLACE
                                 for w in _WORD_RE.findall(m.group(0))):
                    out.append(PiiSpan(m.start(), m.end(), "LOCATION", 0.6))
                break
            words: list[int] = []
            k = j
            cased = False
            while k < n and len(words) < 4:
                t = toks[k]
                if t.kind == "word" and t.lower not in _COMMON and t.lower not in _NOT_A_PLACE and (
                        t.text[:1].isupper() or not cased) and len(t.text) > 1:
                    words.append(k)
                elif words and cased and t.lower in _PLACE_LINK and k + 1 < n and toks[k + 1].text[:1].isupper():
                    pass
                elif words and t.kind == "num" and len(t.text) <= 2:
                    words.append(k)
                    break
                else:
                    break
                k += 1
            if words:
                out.append(PiiSpan(toks[words[0]].start, toks[words[-1]].end, "LOCATION", 0.6))
            break
    return out


# ------------------------------------------------------------ postcodes, named streets
# UK ("SW1A 1AA", "BN1 1AA") and Canadian ("M5H 2M9") postcodes, written
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)\b")
_POSTCODE_CUES = (("postal", "code"), ("postcode",), ("post", "code"), ("zip", "code"), ("zip",), ("zipcode",))
# a street named without a house number after "on"/"at"/"off": "it's on Weston Road"
# (a person's street: after "it's", "we're", "live", "address"…, not "the branch on Main Street")
_STREET_CUE = r"(?i:it's|its|it is|i'm|i am|we're|we are|they're|live|lives|lived|living|home|house|address|is)"
_NAMED_STREET = re.compile(rf"\b{_STREET_CUE}[ \t]+(?:on|at|off)[ \t]+((?:{_WA_CAP}[ \t]+){{1,3}}(?:{_WA_US_SUFFIX}))\b"
                           rf"|\b{_STREET_CUE}[ \t]+(?:on|at|off)[ \t]+((?:[a-z]{{3,}}[ \t]+){{1,2}}"
                           r"(?:street|road|avenue|boulevard|lane|drive|terrace|parkway))\b")


def detect_postcodes(text: str) -> list[PiiSpan]:
    """UK and Canadian postcodes — written ("SW1A 1AA", "M5H 2M9") or spoken letter by
    letter after a postcode cue ("postal code is m five v two t six")."""
    out = [PiiSpan(m.start(), m.end(), "ZIP", 0.8) for m in _POSTCODE.finditer(text)]
    toks = _parse(text).tokens
    n = len(toks)
    for i in range(n):
        for cue in _POSTCODE_CUES:
            if not _match_at(toks, i, cue):
                continue
            j = i + len(cue)
            while j < n and (toks[j].lower in ("is", "it's", "was", ":") or toks[j].text == ","):
                j += 1
            k, letters, digits, last = j, 0, 0, None
            while k < n and k - j < 10:
                t = toks[k]
                if t.kind == "word" and len(t.text) == 1 and (t.lower not in ("a", "i") or last is not None):
                    letters += 1
                elif t.kind == "num" or t.lower in NUMBER_WORDS and t.lower not in ("hundred", "thousand"):
                    digits += 1
                elif t.text in (",", "-", ".") and last is not None:
                    k += 1
                    continue
                else:
                    break
                last = k
                k += 1
            if last is not None and letters >= 2 and digits >= 2:
                out.append(PiiSpan(toks[j].start, toks[last].end, "ZIP", 0.8))
            break
    return out


def detect_named_streets(text: str) -> list[PiiSpan]:
    """A person's street named without a house number: "on", "at" or "off" after a
    residence cue ("it's on Weston Road", "we're at maple avenue", "I live off Elm
    Street"); "the branch on Main Street" is a business, left alone."""
    out = []
    for m in _NAMED_STREET.finditer(text):
        g = 1 if m.group(1) else 2
        words = _WORD_RE.findall(m.group(g))
        if any(w.lower() in _COMMON and w.lower() not in _STREET_STRONG and w.lower() not in _STREET_WEAK
               for w in words[:-1]):
            continue
        out.append(PiiSpan(m.start(g), m.end(g), "ADDRESS", 0.6))
    return out

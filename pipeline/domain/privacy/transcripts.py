"""Redacting a transcript: segments redacted with the engine, cues carried across
speakers ("what's your phone?" -> the customer's digits), spans aligned to word times.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from pipeline.domain.core.models import Segment, Transcript, Word
from pipeline.domain.privacy.detectors.vocab import _context_class, _parse
from pipeline.domain.privacy.engine import Redactor
from pipeline.domain.privacy.spans import PiiSpan
from pipeline.domain.privacy.spoken import (
    cached_tokens,
    luhn_valid,
)


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

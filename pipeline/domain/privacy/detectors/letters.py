"""Letters spelled out in speech inside ids (NATO words, "k as in king", single letters).
"""

from __future__ import annotations

from typing import Sequence

from pipeline.domain.privacy.detectors.vocab import _Parse
from pipeline.domain.privacy.spoken import (
    Token,
)

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

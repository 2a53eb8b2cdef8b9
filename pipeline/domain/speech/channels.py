"""Channel hygiene for stereo calls: one voice is transcribed once.

* :func:`is_dual_mono` — a mono recording saved as stereo (the channels carry the same
  signal, perhaps after lossy coding or a cheap recorder) is detected on the decoded audio
  whatever its bit depth or sample rate, and transcribed once.
* :func:`drop_bleed` — where one side's voice bleeds into the other channel, the echo
  (same word, overlapping time, much lower level on the bleeding channel) is dropped from
  the quieter channel, so a word is attributed to its true speaker only.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

#: channels this correlated (Pearson, zero lag) at a similar level are one signal
DUAL_MONO_MIN_CORRELATION = 0.98
#: ... and their levels differ by less than this (dB)
DUAL_MONO_MAX_LEVEL_DB = 6.0
#: or their difference is this far below the louder channel (dB): identical for all uses
DUAL_MONO_MAX_DIFF_DB = -25.0
#: a word heard on two channels is bleed on the one at least this much quieter (dB)
BLEED_MIN_LEVEL_DB = 10.0
#: how far apart (s) the same word may start on the two channels and still be one utterance
BLEED_MAX_OFFSET_S = 0.5
_SILENT = 1e-10


def _energy(x: np.ndarray) -> float:
    import numpy as np

    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def channel_similarity(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Correlation, level difference (dB, a over b) and difference energy (dB below the
    louder channel) of two decoded channels."""
    import numpy as np

    n = min(a.size, b.size)
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    ex, ey = _energy(x), _energy(y)
    if n == 0 or max(ex, ey) < _SILENT:
        return {"correlation": 1.0, "level_db": 0.0, "diff_db": -math.inf}
    if min(ex, ey) < _SILENT:
        return {"correlation": 0.0, "level_db": math.inf if ex > ey else -math.inf, "diff_db": 0.0}
    xc, yc = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    corr = float(np.dot(xc, yc)) / denom if denom > 0 else 0.0
    diff = _energy(x - y)
    return {
        "correlation": corr,
        "level_db": 10.0 * math.log10(ex / ey),
        "diff_db": 10.0 * math.log10(max(diff, 1e-20) / max(ex, ey)),
    }


def is_dual_mono(chans: list[np.ndarray]) -> bool:
    """True when every channel carries the same signal as the first: near-identical
    (difference ≤ -25 dB) or highly correlated (≥ 0.98) at a similar level (±6 dB)."""
    for ch in chans[1:]:
        sim = channel_similarity(chans[0], ch)
        same = sim["diff_db"] <= DUAL_MONO_MAX_DIFF_DB or (
            sim["correlation"] >= DUAL_MONO_MIN_CORRELATION and abs(sim["level_db"]) <= DUAL_MONO_MAX_LEVEL_DB)
        if not same:
            return False
    return True


_NORM = re.compile(r"[^a-z0-9']+")


def _norm(word: str) -> str:
    return _NORM.sub("", word.lower())


def _level_db(audio: np.ndarray, start: float, end: float, sr: int) -> float:
    seg = audio[max(0, int(start * sr)): max(int(start * sr) + 1, int(end * sr))]
    return 10.0 * math.log10(max(_energy(seg), 1e-12))


def drop_bleed(found: list[tuple[int, dict[str, Any]]], chans: list[np.ndarray], sr: int = 16000) -> int:
    """Remove echoed words from the quieter channel, in place; returns how many.

    ``found`` holds ``(channel, segment dict)`` with ``words`` ``[{word, start, end}]`` in
    original time. A word is an echo when another channel has the same (normalised) word
    starting within :data:`BLEED_MAX_OFFSET_S` and this channel is at least
    :data:`BLEED_MIN_LEVEL_DB` quieter than that one over the two words' span. Segments
    left without words are dropped; the others get their text rebuilt from their words.
    """
    by_word: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for ch, sd in found:
        for w in sd.get("words") or []:
            key = _norm(w["word"])
            if key:
                by_word.setdefault(key, []).append((ch, w))
    echoes: set[int] = set()
    for items in by_word.values():
        if len({ch for ch, _ in items}) < 2:
            continue
        for ch, w in items:
            for other, v in items:
                if other == ch or abs(w["start"] - v["start"]) > BLEED_MAX_OFFSET_S:
                    continue
                s, e = min(w["start"], v["start"]), max(w["end"], v["end"], min(w["start"], v["start"]) + 0.05)
                if _level_db(chans[other], s, e, sr) - _level_db(chans[ch], s, e, sr) >= BLEED_MIN_LEVEL_DB:
                    echoes.add(id(w))
                    break
    if not echoes:
        return 0
    kept: list[tuple[int, dict[str, Any]]] = []
    for ch, sd in found:
        words = sd.get("words") or []
        if not words:
            kept.append((ch, sd))
            continue
        left = [w for w in words if id(w) not in echoes]
        if not left:
            continue
        if len(left) < len(words):
            sd = dict(sd, words=left, start=left[0]["start"], end=left[-1]["end"],
                      text=" ".join(w["word"] for w in left))
        kept.append((ch, sd))
    found[:] = kept
    return len(echoes)

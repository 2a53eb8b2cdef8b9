"""Redaction quality and speed benchmark; prints ONE JSON object.

    .venv/bin/python benchmarks/redaction.py [--spoken tests/data/pii_spoken.jsonl]
        [--generated ../shared/data/pii/generated_small.json] [--errors]

Metrics (per data set):
* span recall: a gold span is found when >= 50% of its characters are covered by
  predicted spans (type-agnostic: a phone labelled ACCOUNT still hides the value);
* precision: predicted spans overlapping any gold span / predicted spans;
* char recall: covered gold characters / gold characters;
* ``char_recall_spoken_critical``: char recall on PHONE, CARD, SSN, EMAIL of the spoken set;
* per_entity: recall per gold type, precision per predicted type, n = gold spans;
* ``utterances_per_second_per_core``: ``Redactor.redact_many`` over both sets, warm,
  single process, divided by process CPU time (so it is per core even if a library
  uses a second thread); wall-clock figure reported alongside.

generated_small.json (presidio-research) types are mapped to ours: PERSON, ADDRESS,
PHONE_NUMBER->PHONE, CREDIT_CARD->CARD, US_SSN->SSN, EMAIL_ADDRESS->EMAIL,
DATE_TIME->DATE_OF_BIRTH, US_DRIVER_LICENSE->ACCOUNT, IP_ADDRESS->ACCOUNT. LOCATION,
ORGANIZATION, TITLE and DOMAIN_NAME are out of scope (a city or a company is not redacted
in call data): they are not counted for recall, and a prediction that overlaps one is not
counted against precision either (neutral).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GEN_MAP = {"PERSON": "PERSON", "ADDRESS": "ADDRESS", "PHONE_NUMBER": "PHONE",
           "CREDIT_CARD": "CARD", "US_SSN": "SSN", "EMAIL_ADDRESS": "EMAIL",
           "DATE_TIME": "DATE_OF_BIRTH", "US_DRIVER_LICENSE": "ACCOUNT", "IP_ADDRESS": "ACCOUNT"}
CRITICAL = {"PHONE", "CARD", "SSN", "EMAIL"}


def load_spoken(path: Path) -> list[dict[str, Any]]:
    """Rows {text, gold: [(start, end, type)], neutral: []} from the spoken JSONL set."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            rows.append({"text": d["text"], "neutral": [],
                         "gold": [(s["start"], s["end"], s["entity_type"]) for s in d["spans"]]})
    return rows


def load_generated(path: Path) -> list[dict[str, Any]]:
    """Rows from presidio-research generated_small.json with types mapped (see module doc)."""
    rows = []
    for d in json.loads(path.read_text(encoding="utf-8")):
        gold, neutral = [], []
        for s in d["spans"]:
            t = GEN_MAP.get(s["entity_type"])
            span = (s["start_position"], s["end_position"])
            (gold.append((*span, t)) if t else neutral.append((*span, s["entity_type"])))
        rows.append({"text": d["full_text"], "gold": gold, "neutral": neutral})
    return rows


def score(rows: list[dict[str, Any]], preds: list[list[Any]]) -> dict[str, Any]:
    """Span recall, precision, char recall (overall, critical) and per-entity figures."""
    g_found = defaultdict(int)
    g_n = defaultdict(int)
    p_tp = defaultdict(int)
    p_n = defaultdict(int)
    chars_cov = chars_all = crit_cov = crit_all = 0
    for row, pred in zip(rows, preds):
        covered = set()
        for p in pred:
            covered.update(range(p.start, p.end))
        for s, e, t in row["gold"]:
            n = e - s
            c = sum(1 for k in range(s, e) if k in covered)
            g_n[t] += 1
            g_found[t] += int(n > 0 and c / n >= 0.5)
            chars_cov += c
            chars_all += n
            if t in CRITICAL:
                crit_cov += c
                crit_all += n
        for p in pred:
            hits_gold = any(p.start < e and s < p.end for s, e, _t in row["gold"])
            hits_neutral = any(p.start < e and s < p.end for s, e, _t in row["neutral"])
            if hits_neutral and not hits_gold:
                continue
            p_n[p.entity_type] += 1
            p_tp[p.entity_type] += int(hits_gold)
    types = sorted(set(g_n) | set(p_n))
    return {
        "span_recall": round(sum(g_found.values()) / max(1, sum(g_n.values())), 4),
        "precision": round(sum(p_tp.values()) / max(1, sum(p_n.values())), 4),
        "char_recall": round(chars_cov / max(1, chars_all), 4),
        "char_recall_critical": round(crit_cov / max(1, crit_all), 4) if crit_all else None,
        "gold_spans": sum(g_n.values()),
        "predicted_spans": sum(p_n.values()),
        "per_entity": {t: {"recall": round(g_found[t] / g_n[t], 4) if g_n[t] else None,
                           "precision": round(p_tp[t] / p_n[t], 4) if p_n[t] else None,
                           "n": g_n[t]} for t in types},
    }


def errors(rows: list[dict[str, Any]], preds: list[list[Any]]) -> list[dict[str, Any]]:
    """Misses and false positives, for development (``--errors``; contains test text)."""
    out = []
    for row, pred in zip(rows, preds):
        covered = set()
        for p in pred:
            covered.update(range(p.start, p.end))
        miss = [(row["text"][s:e], t) for s, e, t in row["gold"]
                if sum(1 for k in range(s, e) if k in covered) / max(1, e - s) < 0.5]
        fp = [(row["text"][p.start:p.end], p.entity_type) for p in pred
              if not any(p.start < e and s < p.end for s, e, _ in row["gold"] + row["neutral"])]
        if miss or fp:
            out.append({"text": row["text"], "missed": miss, "false_pos": fp})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spoken", type=Path, default=ROOT / "tests" / "data" / "pii_spoken.jsonl")
    ap.add_argument("--generated", type=Path,
                    default=ROOT.parent / "shared" / "data" / "pii" / "generated_small.json")
    ap.add_argument("--errors", action="store_true", help="also print misses/false positives")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over both sets")
    a = ap.parse_args()
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(k, "1")

    from pipeline.domain.redaction import Redactor, residual_pii

    t0 = time.perf_counter()
    red = Redactor()
    build_s = time.perf_counter() - t0
    spoken = load_spoken(a.spoken)
    gen = load_generated(a.generated)
    texts = [r["text"] for r in spoken] + [r["text"] for r in gen]
    red.redact_many(texts[:50])  # warm-up
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(a.repeat):
        results = red.redact_many(texts)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    n_utt = len(texts) * a.repeat
    preds = [r.spans for r in results]
    sp, gp = preds[: len(spoken)], preds[len(spoken):]
    s_sc, g_sc = score(spoken, sp), score(gen, gp)
    residual_hits = sum(1 for r in results[: len(spoken)] if residual_pii(r.text))
    out: dict[str, Any] = {
        "char_recall_spoken_critical": s_sc["char_recall_critical"],
        "span_recall": s_sc["span_recall"],
        "precision": s_sc["precision"],
        "char_recall": s_sc["char_recall"],
        "per_entity": s_sc["per_entity"],
        "utterances_per_second_per_core": round(n_utt / cpu, 1),
        "utterances_per_second_wall": round(n_utt / wall, 1),
        "spoken_set": {"path": str(a.spoken.relative_to(ROOT)) if a.spoken.is_relative_to(ROOT) else str(a.spoken),
                       "utterances": len(spoken), "gold_spans": s_sc["gold_spans"],
                       "negatives": sum(1 for r in spoken if not r["gold"]),
                       "residual_pii_after_redaction": residual_hits},
        "generated_small.span_recall": g_sc["span_recall"],
        "generated_small.precision": g_sc["precision"],
        "generated_small.char_recall": g_sc["char_recall"],
        "generated_small.char_recall_critical": g_sc["char_recall_critical"],
        "generated_small.per_entity": g_sc["per_entity"],
        "generated_small.utterances": len(gen),
        "engine_build_seconds": round(build_s, 2),
    }
    if a.errors:
        out["errors_spoken"] = errors(spoken, sp)
        out["errors_generated"] = errors(gen, gp)
    print(json.dumps(out, indent=None if not a.errors else 1))


if __name__ == "__main__":
    main()

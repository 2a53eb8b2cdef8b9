"""Names in banking dialogue: who money is sent to; prints ONE JSON object.

    .venv/bin/python benchmarks/payees.py [--sgd ../shared/data/dialogs/sgd_banks]

Every utterance of the Schema-Guided Dialogue banking dialogues in ../shared/data
(CC-BY-SA-4.0; dev and Banks_1 train, user and system turns, ~6,900 utterances) goes
through the redaction engine twice: as written (cased, punctuated) and as lower-case
speech (letters lowered, punctuation replaced by spaces: offsets unchanged). The gold names
are the SGD slot spans ``recipient_name`` and ``recipient_account_name`` (the person a
transfer goes to). "Mom", "Dad" and the like are slot values but not identifiers; they are
counted apart and never required.

Per variant: ``payee_recall`` (share of identifying name slots covered by any redacted
span), ``person_precision`` (share of PERSON spans that overlap a person-name slot; the
slots of other services, e.g. event names, make some of these misses legitimate),
``person_spans``, and the same two figures with the payee rule switched off
(``*_without_payee_rule``: NER and the other rules alone), measured side by side in this
run. The payee rule (``detect_payee_names``) was written from generic payment wording and
its own test sentences; these dialogues were used to find the gap, not to pick words.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")

PERSON_SLOTS = ("recipient_name", "recipient_account_name")
RELATIONS = {"mom", "dad", "mum", "mother", "father"}


def load(sgd: Path) -> list[tuple[str, list[tuple[int, int]], list[tuple[int, int]]]]:
    """(utterance, identifying person-name spans, relation spans) per utterance."""
    rows = []
    for name in ("dev_banks_dialogues.json", "train_banks1_single_domain_dialogues.json"):
        path = sgd / name
        if not path.exists():
            raise SystemExit(f"missing {path}: see ../shared/data/README.md")
        for dialog in json.loads(path.read_text()):
            for turn in dialog["turns"]:
                text = turn["utterance"]
                names, relations = [], []
                for frame in turn["frames"]:
                    for s in frame.get("slots", []):
                        if s["slot"] in PERSON_SLOTS:
                            span = (s["start"], s["exclusive_end"])
                            (relations if text[span[0]:span[1]].lower() in RELATIONS else names).append(span)
                rows.append((text, names, relations))
    return rows


def lower_speech(text: str) -> str:
    return "".join(ch.lower() if ch.isalnum() or ch in " '" else " " for ch in text)


def score(texts, rows, preds) -> dict[str, float | int]:
    found = total = tp = n_person = 0
    for text, (_, names, relations), spans in zip(texts, rows, preds):
        for a, e in names:
            total += 1
            found += any(s.start < e and a < s.end for s in spans)
        gold = names + relations
        for s in spans:
            if s.entity_type == "PERSON":
                n_person += 1
                tp += any(s.start < e and a < s.end for a, e in gold)
    return {"payee_recall": round(found / max(1, total), 4), "person_precision": round(tp / max(1, n_person), 4),
            "person_spans": n_person, "payee_slots": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sgd", type=Path, default=ROOT / ".." / "shared" / "data" / "dialogs" / "sgd_banks")
    args = ap.parse_args()

    import pipeline.domain.privacy.engine as engine

    rows = load(args.sgd.resolve())
    out: dict = {"utterances": len(rows), "relation_slots_not_required": sum(len(r[2]) for r in rows)}
    red = engine.Redactor()
    rule = engine.detect_payee_names
    for variant in ("cased", "lower"):
        texts = [t if variant == "cased" else lower_speech(t) for t, _, _ in rows]
        t0 = time.perf_counter()
        out[variant] = score(texts, rows, red.analyze_many(texts))
        out[variant]["seconds"] = round(time.perf_counter() - t0, 1)
        engine.detect_payee_names = lambda text: []  # the same engine without the payee rule
        try:
            without = score(texts, rows, red.analyze_many(texts))
        finally:
            engine.detect_payee_names = rule
        out[variant].update({f"{k}_without_payee_rule": v for k, v in without.items()
                             if k in ("payee_recall", "person_precision", "person_spans")})
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Build spoken_address_holdout.jsonl from the hand-written, marked-up utterances.

    python3 make_addr_holdout.py           # validate and (re)write the JSONL (byte-stable)
    python3 make_addr_holdout.py --check   # validate only

Markup: {TYPE:value} inside the text; a leading "P|" marks a partial (no house number)
residence address. Offsets are computed here; the order is the authored order shuffled
with a fixed seed so kinds are interleaved.
"""
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from utterances import UTTS

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "pipeline" / "domain" / "data" / "pii" / "spoken_address_holdout.jsonl"
TYPES = {"ADDRESS", "ZIP", "PERSON", "PHONE", "EMAIL", "DATE_OF_BIRTH", "ACCOUNT",
         "CARD", "SSN"}
MARK = re.compile(r"\{([A-Z_]+):([^{}]+)\}")


def parse(marked):
    partial = marked.startswith("P|")
    if partial:
        marked = marked[2:]
    text, spans, pos = [], [], 0
    cur = 0
    for m in MARK.finditer(marked):
        etype, value = m.group(1), m.group(2)
        assert etype in TYPES, (etype, marked)
        text.append(marked[pos:m.start()])
        cur += m.start() - pos
        spans.append({"entity_type": etype, "start": cur, "end": cur + len(value),
                      "value": value})
        text.append(value)
        cur += len(value)
        pos = m.end()
    text.append(marked[pos:])
    text = "".join(text)
    assert "{" not in text and "}" not in text and "|" not in text, marked
    return text, spans, partial


def kind_of(spans):
    types = {s["entity_type"] for s in spans}
    if not types:
        return "NONE"
    if types <= {"ADDRESS", "ZIP"}:
        return "ADDRESS" if "ADDRESS" in types else "ZIP"
    return "MULTI"


def build():
    rows = []
    for marked in UTTS:
        text, spans, partial = parse(marked)
        rows.append((text, spans, partial))
    random.Random(20240611).shuffle(rows)
    records, partial_ids = [], []
    for i, (text, spans, partial) in enumerate(rows, 1):
        rid = f"addr-holdout-{i:04d}"
        if partial:
            partial_ids.append(rid)
        records.append({"id": rid, "text": text,
                        "spans": [{"entity_type": s["entity_type"], "start": s["start"],
                                   "end": s["end"]} for s in spans],
                        "kind": kind_of(spans), "_values": [s["value"] for s in spans]})
    return records, partial_ids


def validate(records):
    errors = []
    texts = Counter(r["text"] for r in records)
    for t, n in texts.items():
        if n > 1:
            errors.append(f"duplicate text: {t!r}")
    ids = Counter(r["id"] for r in records)
    errors += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    for r in records:
        t = r["text"]
        prev_end = -1
        for s, v in sorted(zip(r["spans"], r["_values"]), key=lambda x: x[0]["start"]):
            a, b = s["start"], s["end"]
            if not (0 <= a < b <= len(t)):
                errors.append(f"{r['id']}: span out of range {s}")
                continue
            if t[a:b] != v:
                errors.append(f"{r['id']}: text[{a}:{b}]={t[a:b]!r} != {v!r}")
            if not (t[a].isalnum() and t[b - 1].isalnum()):
                errors.append(f"{r['id']}: span starts/ends on non-alnum: {t[a:b]!r}")
            if a < prev_end:
                errors.append(f"{r['id']}: overlapping spans")
            prev_end = b
        if r["kind"] == "NONE" and r["spans"]:
            errors.append(f"{r['id']}: NONE with spans")
    return errors


def main():
    records, partial_ids = build()
    errors = validate(records)
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    kinds = Counter(r["kind"] for r in records)
    spans = Counter(s["entity_type"] for r in records for s in r["spans"])
    print("utterances:", len(records))
    print("kinds:", dict(kinds.most_common()))
    print("spans:", dict(spans.most_common()))
    print("partial ids:", len(partial_ids), " ".join(partial_ids))
    if "--check" in sys.argv:
        return
    with OUT.open("w", encoding="utf-8") as f:
        for r in records:
            r = {k: v for k, v in r.items() if k != "_values"}
            r = {"id": r["id"], "kind": r["kind"], "text": r["text"], "spans": r["spans"]}
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()

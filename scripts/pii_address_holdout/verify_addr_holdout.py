"""Independent check of spoken_address_holdout.jsonl against the marked-up source.

For every record: keys are exactly id/kind/text/spans; ids run addr-holdout-0001.. in
order; each span's text[start:end] equals the value written inside {TYPE:...} in
utterances.py with the same type, in the same order; spans do not overlap, are inside the
text and start/end on a letter or digit; kind agrees with the span types.
"""
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from utterances import UTTS  # noqa: E402

MARK = re.compile(r"\{([A-Z_]+):([^{}]+)\}")
intended = {}
for u in UTTS:
    u = u[2:] if u.startswith("P|") else u
    plain = MARK.sub(lambda m: m.group(2), u)
    intended[plain] = [(m.group(1), m.group(2)) for m in MARK.finditer(u)]

bad = 0
rows = [json.loads(l) for l in open(Path(__file__).resolve().parents[2] / "pipeline" / "domain" / "data" / "pii" / "spoken_address_holdout.jsonl", encoding="utf-8")]
assert len(rows) == len(UTTS) == len(intended), (len(rows), len(UTTS), len(intended))
for i, r in enumerate(rows, 1):
    def fail(msg):
        global bad
        bad += 1
        print(r["id"], msg)
    if set(r) != {"id", "kind", "text", "spans"}:
        fail(f"keys {sorted(r)}")
    if r["id"] != f"addr-holdout-{i:04d}":
        fail("id out of sequence")
    t = r["text"]
    if t not in intended:
        fail("text not in source")
        continue
    got = []
    last = 0
    for s in r["spans"]:
        if set(s) != {"entity_type", "start", "end"}:
            fail(f"span keys {sorted(s)}")
        a, b = s["start"], s["end"]
        if not (0 <= a < b <= len(t)):
            fail(f"span out of range {s}")
        if a < last:
            fail(f"overlap/unsorted at {s}")
        if not (t[a].isalnum() and t[b - 1].isalnum()):
            fail(f"edge not alnum {t[a:b]!r}")
        last = b
        got.append((s["entity_type"], t[a:b]))
    if got != intended[t]:
        fail(f"spans {got} != intended {intended[t]}")
    types = {e for e, _ in got}
    want = ("NONE" if not types else "ADDRESS" if types <= {"ADDRESS", "ZIP"} and "ADDRESS" in types
            else "ZIP" if types == {"ZIP"} else "MULTI")
    if r["kind"] != want:
        fail(f"kind {r['kind']} != {want}")
print(f"checked {len(rows)} records, {sum(len(r['spans']) for r in rows)} spans, {bad} problems")
sys.exit(1 if bad else 0)

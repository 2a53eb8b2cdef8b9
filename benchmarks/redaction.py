"""Redaction quality and speed benchmark; prints ONE JSON object.

    .venv/bin/python benchmarks/redaction.py [--spoken PATH] [--holdout PATH]
        [--generated PATH] [--errors] [--repeat 3]

The scoring lives in ``pipeline/domain/redaction_eval.py`` (the same code as the
``silver/redaction_quality_report`` asset; its docstring defines the metrics). Sets
default to the bundled ones in ``pipeline/domain/data/pii``:

* spoken (top-level keys): ``char_recall_spoken_critical`` (PHONE, CARD, SSN, EMAIL in
  spoken form), ``span_recall``, ``precision``, ``char_recall``, ``per_entity``;
* ``holdout.*``, ``holdout2.*``: spoken sets written independently of the engine
  (the first one's errors were looked at during tuning; the second one never);
* ``generated_small.*``: presidio-research's written sample, types mapped, out-of-scope
  types (city, company, title, domain) neutral;
* ``utterances_per_second_per_core``: ``Redactor.redact_many`` over all sets, warm,
  single process, divided by process CPU time; wall-clock figure alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.domain.privacy.evaluation import DEFAULT_SETS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spoken", type=Path, default=DEFAULT_SETS["spoken"])
    ap.add_argument("--holdout", type=Path, default=DEFAULT_SETS["holdout"])
    ap.add_argument("--holdout2", type=Path, default=DEFAULT_SETS["holdout2"])
    ap.add_argument("--generated", type=Path, default=DEFAULT_SETS["generated_small"])
    ap.add_argument("--errors", action="store_true", help="also print misses/false positives (test text)")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over all sets")
    a = ap.parse_args()
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(k, "1")

    from pipeline.domain.privacy.engine import Redactor
    from pipeline.domain.privacy.evaluation import errors, evaluate, load_set

    t0 = time.perf_counter()
    red = Redactor()
    build_s = time.perf_counter() - t0
    paths = {"spoken": a.spoken, "holdout": a.holdout, "holdout2": a.holdout2, "generated_small": a.generated}
    sets = {n: load_set(p) for n, p in paths.items() if p.exists()}
    rep = evaluate(red, sets, repeat=a.repeat)
    sp = rep.sets["spoken"]
    out: dict[str, Any] = {
        "char_recall_spoken_critical": sp["char_recall_critical"],
        "span_recall": sp["span_recall"],
        "precision": sp["precision"],
        "char_recall": sp["char_recall"],
        "per_entity": sp["per_entity"],
        "utterances_per_second_per_core": rep.utterances_per_second_per_core,
        "utterances_per_second_wall": rep.utterances_per_second_wall,
        "spoken_set": {"path": _rel(a.spoken), "utterances": sp["utterances"], "gold_spans": sp["gold_spans"],
                       "negatives": sp["negatives"],
                       "residual_pii_after_redaction": rep.residual_after_redaction["spoken"]},
    }
    for name in ("holdout", "holdout2", "generated_small"):
        if name in rep.sets:
            sc = rep.sets[name]
            for k in ("span_recall", "precision", "char_recall", "char_recall_critical", "per_entity", "utterances"):
                out[f"{name}.{k}"] = sc[k]
    out["targets_met_on_spoken"] = rep.passed
    out["engine_build_seconds"] = round(build_s, 2)
    if a.errors:
        for name, rows in sets.items():
            out[f"errors_{name}"] = errors(rows, rep.misses[name])
    print(json.dumps(out, indent=None if not a.errors else 1))


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT)) if p.resolve().is_relative_to(ROOT) else str(p)


if __name__ == "__main__":
    main()

"""Redaction quality and speed benchmark; prints ONE JSON object.

    .venv/bin/python benchmarks/redaction.py [--spoken PATH] [--holdout PATH]
        [--generated PATH] [--errors] [--repeat 3]

The scoring lives in ``pipeline/domain/privacy/evaluation.py`` (the same code as the
``silver/redaction_quality_report`` asset; its docstring defines the metrics). Sets
default to the bundled ones in ``pipeline/domain/data/pii``:

* spoken (top-level keys): ``char_recall_spoken_critical`` (PHONE, CARD, SSN, EMAIL in
  spoken form), ``span_recall``, ``precision``, ``char_recall``, ``per_entity``;
* ``holdout.*``, ``holdout2.*``: spoken sets written independently of the engine
  (the first one's errors were looked at during tuning; the second one never);
* ``generated_small.*``: presidio-research's written sample, types mapped, out-of-scope
  types (city, company, title, domain) neutral;
* ``address_holdout.*``: spoken addresses written independently of the engine;
* ``types_worse_than_vanilla``: ``set:TYPE`` for every type the redaction policy always
  redacts where callforge's character recall is below vanilla Presidio's (same spaCy
  model, default recognizers) on the same text; must be empty. ``<set>.direct_char_recall``
  (and ``_vanilla``) over all always-redacted types, ``<set>.per_type_vs_vanilla`` per type;
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
    ap.add_argument("--address-holdout", type=Path, default=DEFAULT_SETS["address_holdout"])
    ap.add_argument("--no-vanilla", action="store_true", help="skip the vanilla Presidio comparison")
    ap.add_argument("--spacy-model", default=None, help="spaCy package name or folder (default: the engine's)")
    a = ap.parse_args()
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(k, "1")

    from pipeline.domain.privacy.engine import Redactor
    from pipeline.domain.privacy.evaluation import VanillaPresidio, errors, evaluate, load_set

    t0 = time.perf_counter()
    red = Redactor(spacy_model=a.spacy_model) if a.spacy_model else Redactor()
    build_s = time.perf_counter() - t0
    paths = {"spoken": a.spoken, "holdout": a.holdout, "holdout2": a.holdout2, "generated_small": a.generated,
             "address_holdout": a.address_holdout}
    sets = {n: load_set(p) for n, p in paths.items() if p.exists()}
    rep = evaluate(red, sets, repeat=a.repeat, baseline=None if a.no_vanilla else VanillaPresidio(red.spacy_model))
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
    if rep.comparison is not None:
        out["types_worse_than_vanilla"] = rep.comparison["types_worse_than_vanilla"]
        for name, c in rep.comparison["sets"].items():
            out[f"{name}.direct_char_recall"] = c["direct_char_recall"]
            out[f"{name}.direct_char_recall_vanilla"] = c["direct_char_recall_vanilla"]
            out[f"{name}.per_type_vs_vanilla"] = c["per_type"]
    for name in ("holdout", "holdout2", "generated_small", "address_holdout"):
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

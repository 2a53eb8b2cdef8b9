"""The gold learning flows: annotations imported, the annotation queue, labelled datasets
built and checked, adapters trained and evaluated against base and champion. Called by
``gold/annotation_queue``, ``gold/training_datasets``, ``gold/lora_adapters`` and
``gold/eval_reports``.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.domain.core.keys import (
    adapter_prefix,
    dataset_prefix,
    eval_report_key,
)
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import stable_hash
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import _transcript, ready_calls
from pipeline.domain.privacy.residual import residual_pii

DATASET_VERSION = "1"
TRAINING_VERSION = "1"
EVAL_VERSION = "1"


# ---------------------------------------------------------------- annotations
def import_annotations(lz: Any, ledger: Ledger, actor: str) -> tuple[int, int, int]:
    """Import label lines {"call_id", "intent", "outcome", "annotator"?} from the landing
    zone's annotations/ folder; returns (added, total known, invalid lines)."""
    known = {(a["call_id"], a["task_id"]) for a in ledger.annotations()}
    added = invalid = 0
    for f in lz.list("annotations"):
        for i, line in enumerate(lz.read_bytes(f.key).decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                call_id = str(d["call_id"])
                labels = {k: d[k] for k in ("intent", "outcome") if d.get(k)}
                if not labels:
                    raise KeyError("intent/outcome")
            except (ValueError, KeyError, TypeError):
                invalid += 1
                continue
            task_id = f"{f.name}:{stable_hash(d)}"
            if (call_id, task_id) in known:
                continue
            ledger.add_annotation(call_id, task_id, labels, d.get("annotator", "import"))
            known.add((call_id, task_id))
            added += 1
    return added, len(known), invalid


def latest_labels(ledger: Ledger) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for a in sorted(ledger.annotations(), key=lambda a: str(a.get("ts") or "")):
        out.setdefault(a["call_id"], {}).update(a["labels"])
    return out


def annotation_tasks(store: ObjectStore, ledger: Ledger, batch_size: int) -> list[dict]:
    """Unlabelled ready calls, most uncertain ASR first (active learning)."""
    labelled = set(latest_labels(ledger))
    scored = []
    for rc in ready_calls(store, ledger):
        if rc.call_id in labelled:
            continue
        t = _transcript(store, rc.keys.redacted_transcript)
        probs = [w.probability for s in t.segments for w in s.words if w.probability is not None]
        uncertainty = 1.0 - (sum(probs) / len(probs)) if probs else 1.0
        scored.append((uncertainty, rc, t))
    scored.sort(key=lambda x: (-x[0], x[1].call_id))
    return [{"call_id": rc.call_id, "tenant": rc.tenant, "uncertainty": round(u, 4),
             "text": "\n".join(f"{s.speaker}: {s.text}" for s in t.segments)} for u, rc, t in scored[:batch_size]]


# ---------------------------------------------------------------- datasets
@dataclass
class DatasetBuild:
    version: str
    rows: int
    split_sizes: dict[str, int]
    skipped: list
    label_counts: dict[str, int]
    call_ids: list[str]
    manifest: dict


def build_dataset(store: ObjectStore, ledger: Ledger) -> DatasetBuild:
    from pipeline.domain.learning.datasets import (
        LabelledCall,
        build_examples,
        dataset_version,
        split_by_call,
    )

    labels = latest_labels(ledger)
    calls = []
    for rc in ready_calls(store, ledger):
        lab = labels.get(rc.call_id) or {}
        calls.append(LabelledCall(call_id=rc.call_id, tenant=rc.tenant, training_consent=rc.consent_training,
                                  transcript=_transcript(store, rc.keys.redacted_transcript),
                                  intent=lab.get("intent"), outcome=lab.get("outcome")))
    examples, skipped = build_examples(calls)
    examples = [e for e in examples if e.get("intent")]
    version = dataset_version(examples)
    splits = split_by_call(examples)
    prefix = dataset_prefix(version)
    for name, rows in splits.items():
        store.put_bytes(f"{prefix}{name}.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
    with tempfile.TemporaryDirectory() as tmp:
        from pipeline.domain.learning.datasets import to_dataset_dict

        to_dataset_dict(splits).save_to_disk(str(Path(tmp) / "hf"))
        for p in sorted((Path(tmp) / "hf").rglob("*")):
            if p.is_file():
                store.put_file(f"{prefix}hf/{p.relative_to(Path(tmp) / 'hf').as_posix()}", p)
    manifest = {"version": version, "prefix": prefix, "splits": {k: f"{prefix}{k}.jsonl" for k in splits},
                "rows": len(examples), "calls": sorted({e["call_id"] for e in examples})}
    store.put_json(f"{prefix}manifest.json", manifest)
    return DatasetBuild(version, len(examples), {k: len(v) for k, v in splits.items()},
                        [list(s) for s in skipped], dict(Counter(e["intent"] for e in examples)),
                        manifest["calls"], manifest)


def dataset_residual_pii(store: ObjectStore, version: str) -> int:
    n = 0
    for key in store.list(dataset_prefix(version)):
        if key.endswith(".jsonl"):
            for line in store.get_bytes(key).decode().splitlines():
                row = json.loads(line)
                n += sum(len(residual_pii(m["content"])) for m in row.get("messages", []))
                n += len(residual_pii(row.get("text", "")))
    return n


def consent_violations(ledger: Ledger, call_ids: list[str]) -> list[str]:
    bad = []
    for cid in call_ids:
        c = ledger.get_call(cid)
        if c is None or c["state"] != "active" or not c.get("consent_training"):
            bad.append(cid)
    return bad


def read_split(store: ObjectStore, manifest: dict, split: str) -> list[dict]:
    key = manifest["splits"].get(split)
    if not key or not store.exists(key):
        return []
    return [json.loads(line) for line in store.get_bytes(key).decode().splitlines() if line.strip()]


# ---------------------------------------------------------------- training
@dataclass
class TrainedAdapter:
    version: str
    steps: int
    seconds: float
    train_rows: int
    manifest: dict = field(default_factory=dict)


def train_adapter(store: ObjectStore, dataset: dict, trainer: Any,
                  on_progress: Callable[[int, int, float], None] | None) -> TrainedAdapter:
    from pipeline.domain.learning.training import train_lora_classifier

    train = read_split(store, dataset, "train") + read_split(store, dataset, "validation")
    texts, labels = [r["text"] for r in train], [r["intent"] for r in train]
    base = trainer.base_model()
    reg = trainer.registry()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora_classifier(base, texts, labels, trainer.train_config(), Path(tmp) / "adapter",
                                       on_progress=on_progress)
        manifest = {"base_model": base, "dataset_version": dataset["version"], "train_rows": len(texts),
                    "label_names": list(result.label_names), "steps": result.steps,
                    "seconds": result.seconds, "metrics": {"train_loss": result.train_loss},
                    "config": {k: v for k, v in trainer.train_config().__dict__.items()}}
        version = reg.register(result.adapter_dir, manifest)
    for p in sorted(Path(reg.path(version)).rglob("*")):
        if p.is_file():
            store.put_file(f"{adapter_prefix(version)}{p.relative_to(reg.path(version)).as_posix()}", p)
    manifest = {**manifest, "version": version, "uri": store.uri(adapter_prefix(version) + "manifest.json"),
                "registry_path": str(reg.path(version))}
    return TrainedAdapter(version, result.steps, result.seconds, len(texts), manifest)


# ---------------------------------------------------------------- evaluation
@dataclass
class EvalReport:
    candidate: dict
    champion: dict | None
    base: dict
    promoted: bool
    reasons: list[str]
    markdown: str
    summary: dict


def evaluate_adapter(store: ObjectStore, adapter: dict, dataset: dict, trainer: Any) -> EvalReport:
    from pipeline.domain.learning.evaluation import (
        compare_for_promotion,
        evaluate_predictions,
        report_markdown,
    )
    from pipeline.domain.learning.training import base_classifier, load_classifier

    test = read_split(store, dataset, "test")
    train = read_split(store, dataset, "train") + read_split(store, dataset, "validation")
    texts, y = [r["text"] for r in test], [r["intent"] for r in test]
    labels = sorted(set(y) | set(adapter["label_names"]))
    reg = trainer.registry()
    base_model = trainer.base_model()
    candidate_clf = load_classifier(base_model, reg.path(adapter["version"]))
    cand = evaluate_predictions(y, candidate_clf.predict(texts), labels)
    base_clf = base_classifier(base_model, [r["text"] for r in train], [r["intent"] for r in train])
    base = evaluate_predictions(y, base_clf.predict(texts), labels)
    champ_version = reg.champion()
    champion = None
    if champ_version and champ_version != adapter["version"]:
        champion = evaluate_predictions(y, load_classifier(base_model, reg.path(champ_version)).predict(texts), labels)
    from pipeline.domain.learning.training import _embed

    base_embed = getattr(base_clf, "embed")
    general = {"candidate": general_ability(lambda t: _embed(candidate_clf, t)), "reference": general_ability(base_embed)}
    decision = compare_for_promotion(cand, champion, base, general)
    if decision.promote:
        reg.promote(adapter["version"], reason="; ".join(decision.reasons) or "beats champion on held-out split")
    md = report_markdown(cand, champion, base, decision=decision, general=general)
    summary = {"general": general, "adapter_version": adapter["version"], "dataset_version": dataset["version"],
               "candidate": cand, "champion": champion, "champion_version": champ_version, "base": base,
               "promoted": decision.promote, "reasons": decision.reasons}
    store.put_json(eval_report_key(adapter["version"]), summary)
    return EvalReport(cand, champion, base, decision.promote, list(decision.reasons), md, summary)


GENERAL_SET = Path(__file__).resolve().parents[1] / "data" / "general_banking77.csv"


def general_ability(embed: Callable[[list[str]], Any], folds: int = 3) -> dict:
    """How well an encoder's sentence embeddings separate a fixed general intent set
    (cross-validated logistic regression): the "keeps general ability" half of the
    promotion gate. Same set, same folds for every encoder compared."""
    import csv

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from pipeline.domain.learning.evaluation import evaluate_predictions

    with GENERAL_SET.open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
    x = embed(texts)
    pred = cross_val_predict(LogisticRegression(C=10.0, max_iter=2000), x, labels,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    return evaluate_predictions(labels, list(pred), sorted(set(labels)))

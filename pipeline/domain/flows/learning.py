"""The gold learning flows: adapters trained on a dataset version and evaluated against
base and champion. Called by ``gold/lora_adapters`` and ``gold/eval_reports``; datasets
are built in :mod:`pipeline.domain.flows.datasets`, the labelling loop lives in
:mod:`pipeline.domain.flows.labelling`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.domain.core.keys import (
    adapter_prefix,
    eval_report_key,
)
from pipeline.domain.core.storage import ObjectStore

TRAINING_VERSION = "1"
EVAL_VERSION = "1"


# ---------------------------------------------------------------- datasets
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

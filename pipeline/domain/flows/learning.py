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
    plots: dict = field(default_factory=dict)


def evaluate_adapter(store: ObjectStore, adapter: dict, dataset: dict, trainer: Any,
                     alpha: float | None = 0.05, min_gain: float = 0.0,
                     min_general_retention: float | None = 0.9) -> EvalReport:
    """Candidate vs champion (or base before any champion) vs base on the held-out split:
    metrics per label, an exact McNemar test on paired correctness, calibration (ECE and
    a reliability plot), a confusion-matrix plot, general-ability retention; promote only
    if every rule holds (a significant gain at ``alpha`` and >= ``min_general_retention``
    of the reference's general ability)."""
    from pipeline.domain.learning.evaluation import (
        calibration,
        compare_for_promotion,
        confusion_png,
        evaluate_predictions,
        mcnemar,
        reliability_png,
        report_markdown,
    )
    from pipeline.domain.learning.training import _embed, base_classifier, load_classifier

    test = read_split(store, dataset, "test")
    train = read_split(store, dataset, "train") + read_split(store, dataset, "validation")
    texts, y = [r["text"] for r in test], [r["intent"] for r in test]
    labels = sorted(set(y) | set(adapter["label_names"]))
    reg = trainer.registry()
    base_model = trainer.base_model()
    candidate_clf = load_classifier(base_model, reg.path(adapter["version"]))
    probs = candidate_clf.predict_proba(texts)
    cand_pred = [candidate_clf.label_names[i] for i in probs.argmax(axis=1)] if len(texts) else []
    cand = evaluate_predictions(y, cand_pred, labels)
    base_clf = base_classifier(base_model, [r["text"] for r in train], [r["intent"] for r in train])
    base_pred = base_clf.predict(texts)
    base = evaluate_predictions(y, base_pred, labels)
    champ_version = reg.champion()
    champion, champ_pred = None, None
    if champ_version and champ_version != adapter["version"]:
        champ_pred = load_classifier(base_model, reg.path(champ_version)).predict(texts)
        champion = evaluate_predictions(y, champ_pred, labels)
    other = champ_pred if champ_pred is not None else base_pred
    significance = mcnemar([p == t for p, t in zip(cand_pred, y)], [p == t for p, t in zip(other, y)])
    significance["versus"] = "champion" if champ_pred is not None else "base"
    correct = [p == t for p, t in zip(cand_pred, y)]
    cal = calibration([float(p) for p in probs.max(axis=1)], correct)
    general = {"candidate": general_ability(lambda t: _embed(candidate_clf, t)),
               "reference": general_ability(getattr(base_clf, "embed"))}
    decision = compare_for_promotion(cand, champion, base, general, min_gain=min_gain, significance=significance,
                                     alpha=alpha, min_general_retention=min_general_retention)
    if decision.promote:
        reg.promote(adapter["version"], reason="; ".join(decision.reasons) or "beats champion on held-out split")
    md = report_markdown(cand, champion, base, decision=decision, general=general)
    md += (f"\n**Significance** (candidate vs {significance['versus']}, exact McNemar): "
           f"{significance['only_a']} items only the candidate gets right, {significance['only_b']} only the "
           f"{significance['versus']}; p = {significance['p_value']:.4g}\n\n**Calibration:** ECE {cal['ece']:.4f} "
           f"over {len(y)} held-out items\n")
    summary = {"general": general, "adapter_version": adapter["version"], "dataset_version": dataset["version"],
               "candidate": cand, "champion": champion, "champion_version": champ_version, "base": base,
               "significance": significance, "calibration": cal,
               "promoted": decision.promote, "reasons": decision.reasons}
    store.put_json(eval_report_key(adapter["version"]), summary)
    plots = {"confusion_png": confusion_png(y, cand_pred, labels), "reliability_png": reliability_png(cal)}
    return EvalReport(cand, champion, base, decision.promote, list(decision.reasons), md, summary, plots)


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


# ---------------------------------------------------------------- the nightly gate
def gate_preview(store: ObjectStore, ledger: Any, registry: Any, min_examples: int, min_new: int,
                 lock_holder: dict | None, in_flight: int) -> Any:
    """The training gate as the nightly schedule sees it, before any run starts: labelled,
    consented, ready calls now; how many more than the last trained version saw; the
    training lock; runs in flight. Returns a ``GateDecision`` whose reasons the schedule
    tick shows when it skips."""
    from pipeline.domain.flows.common import ready_calls
    from pipeline.domain.flows.labelling import latest_labels
    from pipeline.domain.learning.registry import check_gate

    labels = latest_labels(ledger)
    labelled = sum(1 for rc in ready_calls(store, ledger) if rc.consent_training and labels.get(rc.call_id, {}).get("intent"))
    versions = registry.versions()
    trained = int(registry.manifest(versions[-1]).get("train_rows", 0)) if versions else 0
    lock_busy = lock_holder is not None and not lock_holder.get("stale")
    gate = check_gate(n_labelled=labelled, n_since_last=max(0, labelled - trained), min_examples=min_examples,
                      min_new=min_new, training_in_flight=bool(in_flight) or lock_busy, data_checks_ok=True)
    if lock_busy:
        gate.reasons.append(f"training lock held by {lock_holder.get('owner')} for {lock_holder.get('age_s')} s")
    return gate


# ---------------------------------------------------------------- A/B on outcomes
def ab_report(store: ObjectStore, registry: Any, alpha: float = 0.05, min_effect: float = 0.05) -> dict:
    """Outcome events (``call.outcome`` in the redacted event logs) per served adapter
    version; the champion compared with the version it replaced. ``{"recommendation",
    "reasons", "metrics", "arms"}``."""
    from pipeline.domain.learning.ab import arms_from_events, compare

    events = []
    for key in store.list("silver/redacted_events/"):
        if key.endswith(".jsonl"):
            events += [json.loads(x) for x in store.get_bytes(key).decode().splitlines() if x.strip()]
    arms = arms_from_events(events)
    arm_summary = {v: {"n": a.n, "resolution_rate": round(a.resolution_rate, 4) if a.n else None,
                       "escalation_rate": round(a.escalation_rate, 4) if a.n else None} for v, a in arms.items()}
    champion = registry.champion()
    previous = next((h.get("previous") for h in reversed(registry.history())
                     if h["version"] == champion and h.get("previous")), None)
    if champion is None or previous is None:
        return {"recommendation": "continue", "reasons": ["no champion with a predecessor to compare"],
                "metrics": {}, "arms": arm_summary, "champion": champion, "previous": previous}
    from pipeline.domain.learning.ab import Arm

    res = compare(arms.get(previous, Arm(previous)), arms.get(champion, Arm(champion)), alpha=alpha,
                  min_effect=min_effect)
    return {"recommendation": res.recommendation, "reasons": res.reasons, "metrics": res.metrics,
            "arms": arm_summary, "champion": champion, "previous": previous}

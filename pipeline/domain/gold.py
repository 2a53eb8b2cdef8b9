"""Gold-layer flows behind the thin assets in assets/gold.py: analytics, embeddings,
annotations, datasets, training, evaluation and drift. Pure (no dagster)."""

from __future__ import annotations

import base64
import io
import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Any, Callable

from pipeline.domain.keys import (
    CallKeys,
    adapter_prefix,
    analytics_table_key,
    dataset_prefix,
    drift_report_key,
    eval_report_key,
)
from pipeline.domain.ledger import Ledger
from pipeline.domain.models import Event, Transcript, sha256_bytes, stable_hash
from pipeline.domain.processing import ready_calls
from pipeline.domain.redaction import residual_pii
from pipeline.domain.storage import ObjectStore

ANALYTICS_VERSION = "1"
EMBEDDINGS_VERSION = "1"
DATASET_VERSION = "1"
TRAINING_VERSION = "1"
EVAL_VERSION = "1"
DRIFT_VERSION = "1"


def _transcript(store: ObjectStore, key: str) -> Transcript:
    return Transcript.from_dict(store.get_json(key))


# ---------------------------------------------------------------- analytics
@dataclass
class AnalyticsResult:
    calls: int
    table_uri: str
    daily_md: str
    agent_md: str
    plot_png: str | None


def analytics_partition(store: ObjectStore, ledger: Ledger, date: str, settings: Any) -> AnalyticsResult:
    import pandas as pd

    from pipeline.domain.analytics import conversation_metrics, event_metrics, rollup
    from pipeline.domain.events import parse_event_lines

    rows = []
    calls = {c["call_id"]: c for c in ledger.calls(call_date=date)}
    for rc in ready_calls(store, ledger, date):
        t = _transcript(store, rc.keys.redacted_transcript)
        ts = settings.tenant(rc.tenant)
        m = conversation_metrics(t, list(ts.disclosure_phrases), disclosure_within_s=ts.disclosure_within_s)
        row: dict[str, Any] = {"call_id": rc.call_id, "tenant": rc.tenant, "date": date,
                               "agent_id": calls[rc.call_id].get("agent_id")}
        row.update(flatten(m))
        if store.exists(rc.keys.redacted_events):
            events = parse_event_lines(store.get_bytes(rc.keys.redacted_events).decode().splitlines(), source="events").events
            row.update(flatten(event_metrics(events), prefix="events_"))
        store.put_json(rc.keys.analytics, row)
        rows.append(row)
    if not rows:
        return AnalyticsResult(0, "", "_no calls_", "_no calls_", None)
    df = pd.DataFrame(rows)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    store.put_bytes(analytics_table_key(date), buf.getvalue())
    daily = rollup(rows, by="date")
    agents = rollup(rows, by="agent_id")
    return AnalyticsResult(len(rows), store.uri(analytics_table_key(date)), _md(daily), _md(agents), _plot(df))


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, prefix=f"{key}_"))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, default=str)
        else:
            out[key] = v
    return out


def _md(df: Any) -> str:
    try:
        return df.round(3).to_markdown()
    except Exception:  # tabulate missing or odd frame: plain text is still useful
        return "```\n" + df.to_string() + "\n```"


def _plot(df: Any) -> str | None:
    cols = [c for c in df.columns if c.startswith("talk_ratio_")]
    if not cols:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    df.set_index("call_id")[cols].plot.bar(stacked=True, ax=ax)
    ax.set_ylabel("talk ratio")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


# ---------------------------------------------------------------- embeddings
@dataclass
class EmbeddingsResult:
    calls: int = 0
    chunks: int = 0
    skipped: int = 0
    removed: int = 0
    model_version: str = ""
    sentences_per_second: float = 0.0
    residual_findings: int = 0
    index_actions: dict = field(default_factory=dict)


def embeddings_partition(store: ObjectStore, ledger: Ledger, embedder: Any, index: Any, date: str) -> EmbeddingsResult:
    """Embed the day's redacted calls; remove calls that are no longer active."""
    import time

    import numpy as np
    import pandas as pd

    from pipeline.domain.chunking import chunk_transcript

    res = EmbeddingsResult(model_version=embedder.model_version)
    gone = [c["call_id"] for c in ledger.calls(call_date=date) if c["state"] != "active"]
    if gone:
        res.removed = index.delete_calls(gone)
    labels = latest_labels(ledger)
    rows: list[dict] = []
    call_vectors = []
    code = f"{EMBEDDINGS_VERSION}:{embedder.model_version}"
    todo = []
    for rc in ready_calls(store, ledger, date):
        raw = store.get_bytes(rc.keys.redacted_transcript)
        h = sha256_bytes(raw + str(rc.consent_training).encode())
        if ledger.is_current("embed", rc.call_id, h, code):
            res.skipped += 1
            continue
        chunks = chunk_transcript(Transcript.from_dict(json.loads(raw)), rc.call_id)
        if chunks:
            todo.append((rc, h, chunks))
    if todo:
        # one encode over every chunk of the partition: batches stay full (a call alone
        # has a handful of chunks), which is what keeps the asset near bare-model speed
        texts = [c.text for _, _, chunks in todo for c in chunks]
        t0 = time.perf_counter()
        vectors = embedder.encode(texts)
        elapsed = time.perf_counter() - t0
        res.sentences_per_second = len(texts) / elapsed if elapsed else 0.0
        offset = 0
        for rc, h, chunks in todo:
            vecs = vectors[offset:offset + len(chunks)]
            offset += len(chunks)
            outcome = (labels.get(rc.call_id) or {}).get("outcome") or ""
            new_rows = []
            for c, v in zip(chunks, vecs):
                res.residual_findings += len(residual_pii(c.text))
                new_rows.append({
                    "chunk_id": c.chunk_id, "tenant": rc.tenant, "call_id": rc.call_id, "chunk_type": c.chunk_type,
                    "speaker": c.speaker or "", "started_at": rc.started_at, "call_date": date, "outcome": outcome,
                    "dataset_eligible": rc.consent_training, "model_version": embedder.model_version,
                    "text": c.text, "vector": np.asarray(v, dtype="float32"),
                })
                if c.chunk_type == "call":
                    call_vectors.append({"call_id": rc.call_id, "tenant": rc.tenant, "date": date,
                                         "vector": np.asarray(v, dtype="float32").tolist()})
            rows.extend(new_rows)
        # one delete + one upsert per partition (per-call round trips dominated the asset)
        index.delete_calls([rc.call_id for rc, _, _ in todo])
        index.upsert(rows)
        for rc, h, _ in todo:
            ledger.mark_processed("embed", rc.call_id, h, code, f"vector-index:{rc.call_id}")
        res.calls = len(todo)
    res.chunks = len(rows)
    if res.calls or res.removed:
        res.index_actions = index.ensure_index()  # scalar indices; ANN once past the size threshold
    if call_vectors:
        key = f"gold/transcript_embeddings/{date}/call_vectors.parquet"
        old = []
        if store.exists(key):
            old = pd.read_parquet(io.BytesIO(store.get_bytes(key))).to_dict("records")
        done = {r["call_id"] for r in call_vectors}
        merged = [r for r in old if r["call_id"] not in done and r["call_id"] not in gone] + call_vectors
        buf = io.BytesIO()
        pd.DataFrame(merged).to_parquet(buf, index=False)
        store.put_bytes(key, buf.getvalue())
    return res


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
    from pipeline.domain.datasets import LabelledCall, build_examples, dataset_version, split_by_call

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
        from pipeline.domain.datasets import to_dataset_dict

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
    from pipeline.domain.training import train_lora_classifier

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
    from pipeline.domain.evaluation import compare_for_promotion, evaluate_predictions, report_markdown
    from pipeline.domain.training import base_classifier, load_classifier

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
    from pipeline.domain.training import _embed

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


GENERAL_SET = Path(__file__).parent / "data" / "general_banking77.csv"


def general_ability(embed: Callable[[list[str]], Any], folds: int = 3) -> dict:
    """How well an encoder's sentence embeddings separate a fixed general intent set
    (cross-validated logistic regression): the "keeps general ability" half of the
    promotion gate. Same set, same folds for every encoder compared."""
    import csv

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from pipeline.domain.evaluation import evaluate_predictions

    with GENERAL_SET.open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
    x = embed(texts)
    pred = cross_val_predict(LogisticRegression(C=10.0, max_iter=2000), x, labels,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    return evaluate_predictions(labels, list(pred), sorted(set(labels)))


# ---------------------------------------------------------------- drift
@dataclass
class DriftReport:
    severity: str
    status: str
    reference_calls: int
    current_calls: int
    metrics: dict
    plot_png: str | None = None


def _month_bounds(month: str) -> tuple[Date, Date, Date]:
    y, m = (int(x) for x in month.split("-"))
    start = Date(y, m, 1)
    end = Date(y + (m == 12), m % 12 + 1, 1)
    prev = Date(y - (m == 1), (m - 2) % 12 + 1, 1)
    return prev, start, end


def drift_partition(store: ObjectStore, month: str) -> DriftReport:
    """Compare the month's call vectors and analytics with the previous month's."""
    import numpy as np
    import pandas as pd

    from pipeline.domain.drift import embedding_drift, metric_drift

    prev, start, end = _month_bounds(month)

    def load(prefix: str, suffix: str, lo: Date, hi: Date) -> pd.DataFrame:
        frames = []
        for key in store.list(prefix):
            if not key.endswith(suffix):
                continue
            day = key[len(prefix):].split("/", 1)[0]
            try:
                d = Date.fromisoformat(day)
            except ValueError:
                continue
            if lo <= d < hi:
                frames.append(pd.read_parquet(io.BytesIO(store.get_bytes(key))))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    ref_v = load("gold/transcript_embeddings/", "call_vectors.parquet", prev, start)
    cur_v = load("gold/transcript_embeddings/", "call_vectors.parquet", start, end)
    metrics: dict[str, Any] = {}
    plot: str | None = None
    severity, status = "ok", "compared"
    if len(ref_v) < 2 or len(cur_v) < 2:
        status = "insufficient_reference" if len(ref_v) < 2 else "insufficient_current"
    else:
        r = embedding_drift(np.stack(ref_v["vector"].map(np.asarray)), np.stack(cur_v["vector"].map(np.asarray)))
        metrics["embedding"] = {"psi": r.psi, "kl": r.kl, "wasserstein": r.wasserstein, "severity": r.severity}
        ref_a = load("gold/conversation_analytics/", "calls.parquet", prev, start)
        cur_a = load("gold/conversation_analytics/", "calls.parquet", start, end)
        for col in ("talk_ratio_agent", "longest_dead_air_s", "speaking_rate_wpm_agent"):
            if col in ref_a and col in cur_a:
                metrics[col] = metric_drift(ref_a[col].dropna().to_numpy(), cur_a[col].dropna().to_numpy())
        plot = _drift_plot(np.stack(ref_v["vector"].map(np.asarray)), np.stack(cur_v["vector"].map(np.asarray)))
        order = ["ok", "info", "warning", "critical"]
        sevs = [m["severity"] if isinstance(m, dict) else getattr(m, "severity", "ok") for m in metrics.values()]
        severity = max(sevs, key=order.index) if sevs else "ok"
    report = {"month": month, "reference_window": [prev.isoformat(), start.isoformat()],
              "current_window": [start.isoformat(), end.isoformat()], "status": status,
              "severity": severity, "metrics": metrics, "reference_calls": len(ref_v), "current_calls": len(cur_v)}
    store.put_json(drift_report_key(month), json.loads(json.dumps(report, default=_jsonable)))
    return DriftReport(severity, status, len(ref_v), len(cur_v), json.loads(json.dumps(metrics, default=_jsonable)), plot)


def _drift_plot(ref: Any, cur: Any) -> str:
    """PNG (base64): reference vs current call embeddings on the reference's first
    principal component — what moved, at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    mu = ref.mean(axis=0)
    _, _, vt = np.linalg.svd(ref - mu, full_matrices=False)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist((ref - mu) @ vt[0], bins=30, alpha=0.6, label="reference", density=True)
    ax.hist((cur - mu) @ vt[0], bins=30, alpha=0.6, label="current", density=True)
    ax.set_xlabel("projection on reference PC1")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _jsonable(o: Any) -> Any:
    if hasattr(o, "__dict__"):
        return o.__dict__
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)

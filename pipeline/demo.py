"""The main job end to end on the bundled samples, with the embedded default profile.

Copies samples/ into the landing zone, runs the daily ingest job for every day that has
calls, then the training job (gated) and the monthly drift job, on a real Dagster instance
(SQLite under $DAGSTER_HOME) so every run shows in the UI (`make ui`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.settings import get_settings

REPO = Path(__file__).resolve().parent.parent


def _sync(src: Path, dst: Path) -> int:
    """Copy files that are missing or differ (so unchanged calls stay unchanged)."""
    n = 0
    if not src.is_dir():
        return 0
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        if p.is_file():
            target = dst / p.name
            if not target.exists() or target.read_bytes() != p.read_bytes():
                shutil.copy2(p, target)
                n += 1
    return n


def stage_samples(samples: Path, landing: Path, discarded: set[str]) -> int:
    """Put the bundled samples into the landing zone. Recordings the pipeline discarded
    under opt_out consent are not put back."""
    n = 0
    for kind in ("recordings", "transcripts", "events"):
        src = samples / kind
        if kind == "recordings" and src.is_dir():
            (landing / kind).mkdir(parents=True, exist_ok=True)
            for p in sorted(src.iterdir()):
                if p.stem in discarded and p.suffix != ".json":
                    continue
                target = landing / kind / p.name
                if not target.exists() or target.read_bytes() != p.read_bytes():
                    shutil.copy2(p, target)
                    n += 1
        else:
            n += _sync(src, landing / kind)
    labels = samples / "labels.jsonl"
    if labels.exists():
        (landing / "annotations").mkdir(parents=True, exist_ok=True)
        target = landing / "annotations" / "sample_labels.jsonl"
        if not target.exists() or target.read_bytes() != labels.read_bytes():
            shutil.copy2(labels, target)
            n += 1
    return n


def prepare_instance(home: Path) -> None:
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    cfg = dagster_home / "dagster.yaml"
    if not cfg.exists():
        shutil.copy(REPO / "dagster.yaml", cfg)
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home))


def run_demo(samples: Path | None = None, echo=print) -> dict[str, Any]:
    import dagster as dg

    from pipeline.definitions import defs as load_defs
    from pipeline.jobs import training_outcome
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.intake.ingest import scan_recordings
    from pipeline.domain.intake.landing import LocalLandingZone

    t0 = time.perf_counter()
    settings = get_settings()
    samples = samples or REPO / "samples"
    if not samples.is_dir():
        raise FileNotFoundError(f"samples folder not found: {samples}")
    settings.home.mkdir(parents=True, exist_ok=True)
    prepare_instance(settings.home)
    ledger = Ledger(settings.ledger_url)
    ledger.create_all()
    discarded = {c["call_id"] for c in ledger.calls(state="opt_out")}
    staged = stage_samples(samples, settings.landing_dir, discarded)
    echo(f"staged {staged} new/changed sample files into {settings.landing_dir}")

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    dates = sorted({c.date for c in scan_recordings(LocalLandingZone(settings.landing_dir))})
    failed: list[str] = []
    for date in dates:
        echo(f"ingest_job partition {date} ...")
        res = defs.resolve_job_def("ingest_job").execute_in_process(
            partition_key=date, instance=instance, raise_on_error=False, tags={"callforge/trigger": "demo"})
        if not res.success:
            failed.append(f"ingest_job[{date}]")
    echo("redaction_quality_job ...")
    res = defs.resolve_job_def("redaction_quality_job").execute_in_process(instance=instance, raise_on_error=False)
    if not res.success:
        failed.append("redaction_quality_job")
    echo("training_job (gated) ...")
    res = defs.resolve_job_def("training_job").execute_in_process(instance=instance, raise_on_error=False,
                                                                  tags={"callforge/training": "true"})
    training = training_outcome(res)
    echo(f"training_job: {training}")
    if training == "failed":
        failed.append("training_job")
    ab = ab_demo(defs, instance, settings, echo)
    for month in sorted({d[:7] + "-01" for d in dates}):
        echo(f"drift_job partition {month} ...")
        res = defs.resolve_job_def("drift_job").execute_in_process(partition_key=month, instance=instance,
                                                                   raise_on_error=False)
        if not res.success:
            failed.append(f"drift_job[{month}]")
    summary = summarize(settings, ledger, dates)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["failed_runs"] = failed
    summary["training"] = training
    summary["ab"] = ab
    return summary


DEMO_OUTCOMES_KEY = "silver/redacted_events/2026-11-30/demo_served_outcomes.jsonl"


def synthetic_outcomes(arms: dict[str, tuple[float, float, float]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Seeded ``call.outcome`` events as a served model would report them:
    ``arms`` maps a served version to (resolution rate, escalation rate, mean handle time
    in s); ``n`` calls per arm. Synthetic, and labelled so (trace ids ``demo-ab-...``)."""
    import random

    rng = random.Random(seed)
    out = []
    for version, (resolved, escalated, handle) in arms.items():
        for i in range(n):
            out.append({"trace_id": f"demo-ab-{version}-{i:05d}", "seq": 1, "ts": "2026-11-30T12:00:00Z",
                        "type": "call.outcome",
                        "payload": {"adapter_version": version, "resolved": rng.random() < resolved,
                                    "escalated": rng.random() < escalated,
                                    "handle_time_s": round(max(30.0, rng.gauss(handle, 60.0)), 1)}})
    return out


def ab_demo(defs: Any, instance: Any, settings: Any, echo=print) -> dict[str, Any] | None:
    """The model lifecycle after training, on synthetic outcomes: the newest adapter
    goes live by hand (a first deployment — the demo's five labelled rows can never pass
    the promotion gate's significance test), two weeks of served calls are simulated
    (seeded ``call.outcome`` events: the base model vs the adapter), and ab_job compares
    them. Returns the A/B asset's recommendation, or None when no adapter was trained."""
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.learning.registry import AdapterRegistry

    store = LocalObjectStore(settings.object_store_root)
    reg = AdapterRegistry(settings.home / "registry" / "intent", name="intent", mirror=store)
    if not reg.versions():
        return None
    version = reg.versions()[-1]
    if reg.champion() is None:
        reason = "demo: first deployment, promoted by hand (too few labelled rows for the promotion gate)"
        entry = reg.promote(version, reason=reason)
        Ledger(settings.ledger_url).audit("adapter_promote", "demo", reason=reason,
                                          details={"version": version, "previous": entry["previous"], "name": "intent"})
    events = synthetic_outcomes({"base": (0.70, 0.12, 420.0), reg.champion(): (0.76, 0.10, 400.0)}, n=1500)
    store.put_bytes(DEMO_OUTCOMES_KEY, "".join(json.dumps(e) + "\n" for e in events).encode())
    echo(f"ab_job ({len(events)} synthetic served-call outcomes) ...")
    res = defs.resolve_job_def("ab_job").execute_in_process(instance=instance, raise_on_error=False)
    mats = [m for m in res.get_asset_materialization_events() if m.asset_key.path == ["gold", "ab_tests"]]
    if not mats:
        return {"recommendation": "failed"}
    md = {k: getattr(v, "value", v) for k, v in mats[-1].materialization.metadata.items()}
    return {"recommendation": md.get("recommendation"), "champion": md.get("champion"), "previous": md.get("previous")}


def summarize(settings: Any, ledger: Any, dates: list[str]) -> dict[str, Any]:
    from pipeline.domain.core.keys import eval_report_key
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.learning.registry import AdapterRegistry

    store = LocalObjectStore(settings.object_store_root)
    calls = ledger.calls()
    quarantine = ledger.open_quarantine()
    spans = ledger.spans()
    transcripts = [k for k in store.list("silver/transcripts/") if k.endswith(".json")]
    reg = AdapterRegistry(settings.home / "registry" / "intent", name="intent")
    champion = reg.champion()
    versions = reg.versions()
    eval_report = None
    if versions:
        key = eval_report_key(versions[-1])
        if store.exists(key):
            eval_report = store.get_json(key)
    datasets = sorted(k for k in store.list("gold/training_datasets/") if k.endswith("manifest.json"))
    dataset_rows = store.get_json(datasets[-1])["rows"] if datasets else 0
    try:
        from pipeline.domain.search.lance_index import LanceDBIndex

        embeddings = LanceDBIndex(settings.lancedb_uri).count()
    except Exception:
        embeddings = 0
    return {
        "partitions": dates,
        "calls_ingested": sum(1 for c in calls if c["state"] == "active"),
        "calls_opted_out": sum(1 for c in calls if c["state"] == "opt_out"),
        "calls_transcribed": len(transcripts),
        "speech_coverage": _coverage(store, transcripts),
        "quarantined": [{"call_id": q["call_id"], "stage": q["stage"], "reason": q["reason"]} for q in quarantine],
        "pii_spans_redacted": sum(1 for s in spans if s["asset"] == "silver/redacted_transcripts"),
        "pii_spans_by_type": dict(Counter(s["entity_type"] for s in spans if s["asset"] == "silver/redacted_transcripts")),
        "redaction_quality": _redaction_quality(store),
        "embeddings_written": embeddings,
        "dataset_rows": dataset_rows,
        "adapter_versions": versions,
        "champion_adapter": champion,
        "eval": ({"accuracy": eval_report["candidate"]["accuracy"], "macro_f1": eval_report["candidate"]["macro_f1"],
                  "base_accuracy": eval_report["base"]["accuracy"], "promotable": eval_report["promotable"]}
                 if eval_report else None),
        "outputs": {"objects": str(settings.object_store_root), "ledger": settings.ledger_url,
                    "vector_index": settings.lancedb_uri, "registry": str(settings.home / "registry"),
                    "dagster_home": os.environ.get("DAGSTER_HOME", "")},
    }


def _coverage(store: Any, keys: list[str]) -> dict[str, Any]:
    """Completeness of the transcripts: worst and mean per-channel speech coverage."""
    qs = [store.get_json(k).get("quality", {}) for k in keys]
    covs = [q["speech_coverage_min"] for q in qs if q.get("speech_coverage_min") is not None]
    return {"min": min(covs) if covs else None, "mean": round(sum(covs) / len(covs), 4) if covs else None,
            "redecoded_calls": sum(1 for q in qs if q.get("redecoded_channels"))}


def _redaction_quality(store: Any) -> dict[str, Any] | None:
    from pipeline.domain.core.keys import redaction_quality_key

    key = redaction_quality_key("latest")
    if not store.exists(key):
        return None
    rep = store.get_json(key)
    return {name: {m: sc[m] for m in ("span_recall", "precision", "char_recall_critical")}
            for name, sc in rep["sets"].items()} | {"targets_met": rep["passed"]}


def _quality_line(q: dict[str, Any] | None) -> str:
    if not q:
        return "-"
    sets = ", ".join(f"{n} recall {v['span_recall']} precision {v['precision']}"
                     for n, v in q.items() if isinstance(v, dict))
    return f"{sets}; targets met: {q['targets_met']}"


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        "callforge demo — summary",
        f"  partitions            {', '.join(s['partitions'])}",
        f"  calls ingested        {s['calls_ingested']} (+{s['calls_opted_out']} opt-out, audio discarded)",
        f"  calls transcribed     {s['calls_transcribed']}",
        f"  speech coverage       min {s['speech_coverage']['min']} mean {s['speech_coverage']['mean']} "
        f"({s['speech_coverage']['redecoded_calls']} re-decoded sequentially)",
        f"  quarantined           {len(s['quarantined'])}",
    ]
    lines += [f"    - {q['call_id']}: {q['stage']} / {q['reason']}" for q in s["quarantined"]]
    lines += [
        f"  PII spans redacted    {s['pii_spans_redacted']} {s['pii_spans_by_type']}",
        f"  redaction quality     {_quality_line(s.get('redaction_quality'))}",
        f"  embeddings written    {s['embeddings_written']} chunks",
        f"  dataset rows          {s['dataset_rows']}",
        f"  adapter versions      {', '.join(s['adapter_versions']) or '-'} (champion: {s['champion_adapter'] or '-'})",
        f"  training              {s.get('training', '-')}",
        f"  eval                  {s['eval']}",
        f"  A/B on outcomes       {s.get('ab') or '-'}",
        f"  wall time             {s.get('wall_seconds')} s",
        "  outputs:",
    ]
    lines += [f"    {k:13s} {v}" for k, v in s["outputs"].items()]
    if s.get("failed_runs"):
        lines.append(f"  FAILED RUNS: {', '.join(s['failed_runs'])}")
    return "\n".join(lines)

"""Helpers shared by the benchmarks: Banking77 loading and cached product embeddings."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def load_banking77(path: Path) -> tuple[list[str], list[str]]:
    """(texts, categories) of a Banking77-style CSV (columns text, category)."""
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def cached_embeddings(texts: list[str], name: str, use_cache: bool = True) -> tuple[np.ndarray, dict]:
    """The product embedder's vectors for ``texts``, cached under ``benchmarks/out/`` by
    model version and a hash of the texts (``name`` prefixes the file)."""
    from pipeline.domain.search.embedding import Embedder

    emb = Embedder()
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    h.update(emb.model_version.encode())
    path = OUT / f"{name}_{emb.model_version}_{h.hexdigest()[:16]}.npy"
    info = {"model_version": emb.model_version, "cache": str(path.relative_to(ROOT))}
    if use_cache and path.is_file():
        x = np.load(path)
        if x.shape[0] == len(texts):
            return x, {**info, "cache_hit": True, "embed_seconds": 0.0}
    t0 = time.perf_counter()
    x = emb.encode(texts)
    info.update(cache_hit=False, embed_seconds=round(time.perf_counter() - t0, 1))
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    tmp.replace(path)
    return x, info


def step_timings(instance, run_id: str) -> dict[str, dict[str, float]]:
    """Per step of a Dagster run, from its event log: ``spawn`` = STEP_WORKER_STARTING ->
    STEP_START (step process start, imports, resource set-up) and ``run`` = STEP_START ->
    STEP_SUCCESS/FAILURE, in seconds; ``start``/``end`` are unix times."""
    from dagster import DagsterEventType as E

    names = {E.STEP_WORKER_STARTING.value: "spawn_at", E.STEP_START.value: "start",
             E.STEP_SUCCESS.value: "end", E.STEP_FAILURE.value: "end"}
    raw: dict[str, dict[str, float]] = {}
    for ev in instance.all_logs(run_id, of_type={E.STEP_WORKER_STARTING, E.STEP_START, E.STEP_SUCCESS,
                                                 E.STEP_FAILURE}):
        raw.setdefault(ev.step_key, {}).setdefault(names[ev.dagster_event.event_type_value], ev.timestamp)
    out = {}
    for key, s in raw.items():
        d = {k: v for k, v in s.items() if k in ("start", "end")}
        if "spawn_at" in s and "start" in s:
            d["spawn"] = round(s["start"] - s["spawn_at"], 2)
        if "start" in s and "end" in s:
            d["run"] = round(s["end"] - s["start"], 2)
        out[key] = d
    return out


def summarize_steps(runs_steps: list[dict[str, dict[str, float]]]) -> dict:
    """Step timings of several runs grouped by step kind (``a.b[0]`` -> ``a.b``): count,
    median spawn and run seconds, and per run the summed spawn / run seconds."""
    import statistics

    kinds: dict[str, dict[str, list[float]]] = {}
    for steps in runs_steps:
        for key, d in steps.items():
            k = kinds.setdefault(key.split("[")[0], {"spawn": [], "run": []})
            for f in ("spawn", "run"):
                if f in d:
                    k[f].append(d[f])
    med = {k: {"n": len(v["run"]),
               "spawn_p50_s": round(statistics.median(v["spawn"]), 2) if v["spawn"] else None,
               "run_p50_s": round(statistics.median(v["run"]), 2) if v["run"] else None}
           for k, v in sorted(kinds.items())}
    per_run = [{"steps": len(s), "spawn_sum_s": round(sum(d.get("spawn", 0.0) for d in s.values()), 1),
                "run_sum_s": round(sum(d.get("run", 0.0) for d in s.values()), 1)} for s in runs_steps]
    return {"by_kind": med, "per_run": per_run}

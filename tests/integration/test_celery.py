"""ingest_job distributed with dagster-celery, live: Redis (Debian's redis-server) as broker
and result backend, two Celery workers (concurrency 1 each), PostgreSQL run/event storage,
the ledger on PostgreSQL and the object store, landing zone and IO manager on an S3-protocol
server (moto). One day of sample calls runs through the Celery executor, and the same day
runs in process on a second, clean store; the outputs must be the same, and the event log
must show steps on BOTH workers (dagster-celery records the worker's node name,
``w1@host``, on the engine event that opens each step it runs).

Both runs go through the CLI (``dagster job execute``) with the production profile from the
environment only, as a deployment would. CALLFORGE_LANCEDB_URI puts the vector index in a
LanceDB folder both workers see (Weaviate cannot run here).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa

from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.search.lance_index import LanceDBIndex
from tests.servers import celery_workers, redis_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DATE = "2026-11-03"
# the sample calls of DATE: four good ones over two tenants (one with a platform transcript)
# and call_0007 with corrupt audio, which both runs must quarantine. Two shards:
# sha256 puts call_0004 and call_0006 in shard 0, call_0005, call_0007 and call_0009 in shard 1.
CALLS = ["call_0004", "call_0005", "call_0006", "call_0007", "call_0009"]
GOOD = {"call_0004": "acme", "call_0005": "globex", "call_0006": "globex", "call_0009": "acme"}
WORKERS = ["w1", "w2"]
RUN_TIMEOUT_S = 420


def _create_db(pg_url: str, name: str) -> str:
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def _stage(client, bucket: str) -> None:
    client.create_bucket(Bucket=bucket)
    for cid in CALLS:
        for sub, pattern in (("recordings", f"{cid}.*"), ("transcripts", f"{cid}.*"), ("events", f"{cid}.jsonl")):
            for p in (SAMPLES / sub).glob(pattern):
                client.put_object(Bucket=bucket, Key=f"landing/{sub}/{p.name}", Body=p.read_bytes())


def _env(tmp: Path, name: str, s3_endpoint: str, ledger_url: str) -> dict[str, str]:
    home = tmp / name
    (home / "dagster_home").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALLFORGE_", "DAGSTER_", "LABEL_STUDIO_"))}
    env.update({
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CALLFORGE_PROFILE": "production", "CALLFORGE_SETTINGS": str(REPO / "callforge.yaml"),
        "CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
        # one ASR process per step: the Celery worker processes are the parallelism
        "CALLFORGE_ASR_WORKERS": "1",
        "CALLFORGE_S3_ENDPOINT_URL": s3_endpoint, "CALLFORGE_S3_BUCKET": f"callforge-{name}",
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "CALLFORGE_LEDGER_URL": ledger_url, "CALLFORGE_LANCEDB_URI": str(home / "lancedb"),
    })
    return env


def _start(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    """``dagster job execute`` ingest_job for DATE, in the background."""
    exe = Path(sys.executable).parent / "dagster"
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [str(exe), "job", "execute", "-m", "pipeline.definitions", "-a", "defs", "-j", "ingest_job",
             "--tags", json.dumps({"dagster/partition": DATE}), *extra],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(runs: dict[str, tuple[subprocess.Popen, Path]], t0: float) -> dict[str, float]:
    """Wait for the runs started by ``_start``; each one's wall time since ``t0``. Kills
    them all on a failure or after RUN_TIMEOUT_S."""
    done: dict[str, float] = {}
    try:
        while len(done) < len(runs):
            for name, (proc, log) in runs.items():
                if name in done or proc.poll() is None:
                    continue
                assert proc.returncode == 0, f"{name} exited {proc.returncode}: {log.read_text(errors='replace')[-4000:]}"
                done[name] = time.monotonic() - t0
            if time.monotonic() - t0 > RUN_TIMEOUT_S:
                pytest.fail(f"not done after {RUN_TIMEOUT_S}s: {sorted(set(runs) - set(done))}")
            time.sleep(0.5)
        return done
    finally:
        for proc, _ in runs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _instance(env: dict[str, str]) -> dg.DagsterInstance:
    keys = [k for k in env if k.startswith("DAGSTER_PG_")]
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys})  # dagster.yaml reads the DB settings from env
    try:
        return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _only_run(instance: dg.DagsterInstance):
    runs = instance.get_runs()
    assert len(runs) == 1, [r.run_id for r in runs]
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS, runs[0].status
    return runs[0]


def _sha(client, bucket: str, key: str) -> str | None:
    """The object's sha256, or None when there is no such object."""
    try:
        body = client.get_object(Bucket=bucket, Key=f"lake/{key}")["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return hashlib.sha256(body).hexdigest()


def _json(client, bucket: str, key: str):
    return json.loads(client.get_object(Bucket=bucket, Key=f"lake/{key}")["Body"].read())


def _index_rows(uri: str) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    tbl = LanceDBIndex(uri).table().to_arrow().to_pylist()
    out: dict[str, list] = {}
    for r in sorted(tbl, key=lambda r: r["chunk_id"]):
        out.setdefault(r["call_id"], []).append((r["chunk_id"], r["text"], np.asarray(r["vector"], dtype="float32")))
    return out


def _workers_by_step(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> Celery node that ran it, from the engine event dagster-celery's task
    writes before it executes a step ("Executing steps ... in celery worker")."""
    out = {}
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = rec.dagster_event.engine_event_data
        md = data.metadata if data else {}
        if "Celery worker" in md:
            out[rec.step_key] = md["Celery worker"].value
    return out


def _started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {r.step_key for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}


def test_ingest_day_on_two_celery_workers_matches_in_process(pg_url, s3_endpoint, tmp_path):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    dist = _env(tmp_path, "celery", s3_endpoint, _create_db(pg_url, "ledger_celery"))
    local = _env(tmp_path, "inproc", s3_endpoint, _create_db(pg_url, "ledger_inproc"))
    for env in (dist, local):
        _stage(client, env["CALLFORGE_S3_BUCKET"])

    # the distributed run: PostgreSQL run/event storage every worker shares
    u = urlparse(_create_db(pg_url, "dagster_celery_storage"))
    dist.update({"DAGSTER_PG_USERNAME": u.username or "postgres", "DAGSTER_PG_PASSWORD": u.password or "",
                 "DAGSTER_PG_HOST": u.hostname or "127.0.0.1", "DAGSTER_PG_PORT": str(u.port),
                 "DAGSTER_PG_DB": "dagster_celery_storage"})
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", Path(dist["DAGSTER_HOME"]) / "dagster.yaml")
    shutil.copy(REPO / "dagster.yaml", Path(local["DAGSTER_HOME"]) / "dagster.yaml")

    # the same day in process, on its own bucket, ledger, index and (SQLite) Dagster home,
    # alongside the distributed run (they share nothing but the servers)
    cfg = tmp_path / "in_process.yaml"
    cfg.write_text("execution:\n  config:\n    in_process: {}\n")
    timings = {}
    with redis_server() as redis_url:
        dist.update({"CALLFORGE_CELERY_BROKER": f"{redis_url}/0", "CALLFORGE_CELERY_BACKEND": f"{redis_url}/1"})
        t0 = time.monotonic()
        with celery_workers(WORKERS, REPO / "celery.yaml", dist, cwd=REPO) as logs:
            timings["workers_ready_s"] = time.monotonic() - t0
            t1 = time.monotonic()
            runs = {"celery_run_s": (_start(dist, tmp_path / "celery_run.log"), tmp_path / "celery_run.log"),
                    "in_process_run_s": (_start(local, tmp_path / "in_process_run.log", "-c", str(cfg)),
                                         tmp_path / "in_process_run.log")}
            try:
                timings.update(_wait(runs, t1))
            except (AssertionError, pytest.fail.Exception) as e:
                tails = "\n".join(f"--- {n}:\n{p.read_text(errors='replace')[-3000:]}" for n, p in logs.items())
                raise AssertionError(f"{e}\n{tails}") from None
    print(f"timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}")

    # ---- the Celery run really ran on Celery, on both workers
    inst = _instance(dist)
    try:
        assert "Postgres" in type(inst.run_storage).__name__
        run = _only_run(inst)
        where = _workers_by_step(inst, run.run_id)
        started = _started_steps(inst, run.run_id)
        durations = {r.step_key: r.dagster_event.event_specific_data.duration_ms / 1000
                     for r in inst.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
    finally:
        inst.dispose()
    assert started and started <= set(where), f"steps not run by a Celery worker: {sorted(started - set(where))}"
    by_worker = Counter(node.split("@")[0] for node in where.values())
    print(f"steps per worker: {dict(by_worker)}; shard steps: "
          f"{ {k: v for k, v in sorted(where.items()) if '_shard_' in k} }")
    print("slowest steps (s): " + ", ".join(f"{k}={v:.0f}" for k, v in sorted(durations.items(), key=lambda kv: -kv[1])[:8]))
    assert set(by_worker) == set(WORKERS), by_worker
    # the heavy assets fanned out: one step per shard (execution.shards = 2 in callforge.yaml)
    for op in ("transcribe_shard", "redact_shard", "redact_audio_shard", "embed_shard"):
        shards = sorted(k for k in where if f".{op}_" in k)
        assert len(shards) == 2, (op, sorted(where))

    inst = _instance(local)
    try:
        _only_run(inst)
    finally:
        inst.dispose()

    # ---- same outputs as in process (byte-identical transcripts: nothing run-specific is in them)
    b_dist, b_local = dist["CALLFORGE_S3_BUCKET"], local["CALLFORGE_S3_BUCKET"]
    for cid, tenant in GOOD.items():
        keys = CallKeys(DATE, tenant, cid)
        for key in (keys.transcript, keys.redacted_transcript):
            assert _sha(client, b_dist, key) == _sha(client, b_local, key) is not None, key
        # the muted audio too (absent in both when its verification quarantined the call)
        assert _sha(client, b_dist, keys.redacted_audio) == _sha(client, b_local, keys.redacted_audio), cid
        assert _json(client, b_dist, keys.analytics) == _json(client, b_local, keys.analytics), keys.analytics
    assert any(_sha(client, b_dist, CallKeys(DATE, t, c).redacted_audio) for c, t in GOOD.items())
    quarantined = [{(q["call_id"], q["stage"], q["reason"]) for q in Ledger(env["CALLFORGE_LEDGER_URL"]).open_quarantine(partition=DATE)}
                   for env in (dist, local)]
    assert quarantined[0] == quarantined[1]
    assert any(cid == "call_0007" for cid, _, _ in quarantined[0])
    import pandas as pd

    tables = [pd.read_parquet(io.BytesIO(client.get_object(
        Bucket=b, Key=f"lake/gold/conversation_analytics/{DATE}/calls.parquet")["Body"].read())) for b in (b_dist, b_local)]
    assert sorted(tables[0]["call_id"]) == sorted(GOOD)
    pd.testing.assert_frame_equal(tables[0].sort_values("call_id").reset_index(drop=True),
                                  tables[1].sort_values("call_id").reset_index(drop=True))
    rows = [_index_rows(env["CALLFORGE_LANCEDB_URI"]) for env in (dist, local)]
    assert {c: len(r) for c, r in rows[0].items()} == {c: len(r) for c, r in rows[1].items()}
    assert set(rows[0]) == set(GOOD)
    for cid in GOOD:
        for (id_a, text_a, vec_a), (id_b, text_b, vec_b) in zip(rows[0][cid], rows[1][cid]):
            assert (id_a, text_a) == (id_b, text_b)
            np.testing.assert_allclose(vec_a, vec_b, rtol=0, atol=1e-6)

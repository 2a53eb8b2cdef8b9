"""Faults survived, nothing lost or doubled (issue 14).

1. S3 errors (503 ServiceUnavailable / SlowDown / 500, a dropped connection, a body that
   breaks off) injected into the object store's boto3 client in front of a real
   moto_server: botocore retries with backoff, every object ends present and
   byte-identical; past the retry budget the error names the object and no partial
   object is visible.
2. A flipped byte in a stored bronze recording: the next stage quarantines the call as
   ``checksum_mismatch``, keeps the object for inspection and processes the rest.
3. SIGKILL of the step process of ``silver/transcripts`` in the middle of a day's run
   launched by the real Dagster daemon: the daemon's run retry completes the day, with no
   duplicate analytics rows, index chunks, processed marks, consent events or audit rows.
4. PostgreSQL (the ledger) crashed in the middle of a ledger transaction, and restarted
   between two of them, during runs: the first run fails cleanly with nothing
   half-written, the second survives the restart, and everything is there exactly once.

Servers are started by the tests on 127.0.0.1; under CI=true one that cannot start fails.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dagster as dg
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DAY = "2026-11-03"
CALLS = ["call_0006", "call_0009"]  # the day's two smallest clean calls (globex, acme)
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def _stage(landing: Path, call_ids: list[str]) -> None:
    (landing / "recordings").mkdir(parents=True, exist_ok=True)
    (landing / "events").mkdir(parents=True, exist_ok=True)
    for cid in call_ids:
        for p in (SAMPLES / "recordings").glob(f"{cid}.*"):
            shutil.copy(p, landing / "recordings" / p.name)
        ev = SAMPLES / "events" / f"{cid}.jsonl"
        if ev.exists():
            shutil.copy(ev, landing / "events" / ev.name)


def _settings_one_shard(tmp: Path) -> Path:
    """callforge.yaml with the day's calls in ONE transcription step (``execution.shards:
    1``), so a kill can land between two calls of the same step."""
    import yaml

    raw = yaml.safe_load((REPO / "callforge.yaml").read_text()) or {}
    raw.setdefault("execution", {})["shards"] = 1
    out = tmp / "callforge.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


# ============================================================================ 1. S3 errors


class _Raw:
    """Enough of a urllib3 response for botocore: ``stream()`` for error bodies and
    ``read()`` for a streaming body (which may be shorter than its Content-Length)."""

    def __init__(self, body: bytes) -> None:
        self._buf = io.BytesIO(body)

    def stream(self, *_: Any, **__: Any):  # type: ignore[no-untyped-def]
        yield self._buf.read()

    def read(self, amt: int | None = None) -> bytes:
        return self._buf.read() if amt is None else self._buf.read(amt)


class S3Faults:
    """A ``before-send`` hook on a boto3 S3 client that answers chosen attempts itself,
    without sending them: ``plan(op, key, n)`` returns the fault for the n-th attempt (1-based)
    of that request, or None to let it through to the server. Faults: an HTTP status with
    an S3 error code, ``"connection"`` (a dropped connection) or ``"truncated"`` (a GET
    whose body breaks off). Requests are told apart by botocore's invocation id."""

    def __init__(self, plan) -> None:  # type: ignore[no-untyped-def]
        self.plan = plan
        self.attempts: Counter = Counter()
        self.injected: list[tuple[str, str, Any]] = []
        self.real = None  # the client's own endpoint, to fetch a body to truncate
        self._lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import EndpointConnectionError

        op = {"PUT": "put", "GET": "get", "HEAD": "head"}.get(request.method, request.method.lower())
        key = unquote(urlparse(request.url).path.split("/", 2)[-1])
        inv = request.headers.get("amz-sdk-invocation-id")
        with self._lock:
            self.attempts[inv] += 1
            n = self.attempts[inv]
        fault = self.plan(op, key, n)
        if fault is None:
            return None
        self.injected.append((op, key, fault))
        if fault == "connection":
            raise EndpointConnectionError(endpoint_url=request.url)
        if fault == "truncated":
            real = self.real._send(request)  # the real answer, then lose its second half
            body = real.content
            return AWSResponse(request.url, 200, dict(real.headers), _Raw(body[: len(body) // 2]))
        status, code = fault
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
               f"<Message>injected by the fault test</Message><RequestId>fault</RequestId></Error>").encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(xml))

    def attach(self, client: Any) -> S3Faults:
        self.real = client._endpoint
        client.meta.events.register_first("before-send.s3", self, unique_id="callforge-fault-test")
        return self

    @staticmethod
    def detach(client: Any) -> None:
        client.meta.events.unregister("before-send.s3", unique_id="callforge-fault-test")


def _s3_store(endpoint: str, **retry: Any):  # type: ignore[no-untyped-def]
    import uuid

    import boto3
    from dagster_aws.s3 import S3Resource

    from resources.object_store import ObjectStoreResource

    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint, **CREDS).create_bucket(Bucket=bucket)
    res = ObjectStoreResource(backend="s3", bucket=bucket, prefix="lake",
                              s3=S3Resource(endpoint_url=endpoint, **CREDS), **retry)
    return res, res.get_store(), boto3.client("s3", endpoint_url=endpoint, **CREDS)


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_s3_errors_are_retried_with_backoff_and_nothing_is_lost(s3_endpoint, mode, caplog):
    _res, store, clean = _s3_store(s3_endpoint, retry_mode=mode, max_attempts=4)
    assert store.client.meta.config.retries == {"mode": mode, "total_max_attempts": 4}
    objects = {f"bronze/batch/obj_{i:02d}.bin": os.urandom(1000 * i + 1) for i in range(12)}
    objects["bronze/batch/big.bin"] = os.urandom(3 << 20)

    cut: list[str] = []

    def plan(op: str, key: str, n: int):  # type: ignore[no-untyped-def]
        i = int(key.rsplit("_", 1)[1][:2]) if "obj_" in key else 99
        if op == "put":
            if i % 3 == 0 and n == 1:
                return (503, "ServiceUnavailable")
            if i == 4 and n <= 2:
                return (500, "InternalError") if n == 1 else (503, "SlowDown")
            if i == 5 and n == 1:
                return "connection"
        if op == "get":
            if i % 4 == 1 and n == 1:
                return (503, "SlowDown" if i == 1 else "ServiceUnavailable")
            if i == 7 and not cut:  # once: the re-fetch is a new request
                cut.append(key)
                return "truncated"
        return None

    faults = S3Faults(plan).attach(store.client)
    try:
        with caplog.at_level(logging.WARNING, logger="callforge.storage"):
            t0 = time.monotonic()
            for k, v in objects.items():
                store.put_bytes(k, v)
            got = {k: store.get_bytes(k) for k in objects}
            elapsed = time.monotonic() - t0
    finally:
        S3Faults.detach(store.client)
    kinds = Counter(f if isinstance(f, str) else f[1] for _, _, f in faults.injected)
    # PUTs: 503 on obj 0,3,6,9 and big (once), 500 then SlowDown on obj 4, a dropped connection on obj 5;
    # GETs: SlowDown on obj 1, 503 on obj 5 and 9 (once), obj 7's body breaks off once
    assert kinds == {"ServiceUnavailable": 7, "InternalError": 1, "SlowDown": 2, "connection": 1, "truncated": 1}
    # nothing lost: every object present, byte-identical, read back through a client without faults
    assert got == objects
    listed = {o["Key"] for o in clean.list_objects_v2(Bucket=store.bucket, Prefix="lake/")["Contents"]}
    assert listed == {f"lake/{k}" for k in objects}
    for k, v in objects.items():
        assert clean.get_object(Bucket=store.bucket, Key=f"lake/{k}")["Body"].read() == v
    # every failed attempt was logged; the broken-off body was fetched again
    retries = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage() and "failed" in r.getMessage()]
    assert len(retries) == 11, retries
    assert any("SlowDown" in m and "retrying with backoff" in m for m in retries)
    assert any("broke off" in r.getMessage() for r in caplog.records)
    assert elapsed < 60


def test_s3_errors_past_the_retry_budget_name_the_object_and_leave_nothing_half_written(s3_endpoint):
    from pipeline.domain.core.storage import ObjectStoreError

    res, store, clean = _s3_store(s3_endpoint, max_attempts=3)
    store.put_bytes("silver/kept.json", b'{"v": 1}')
    down = S3Faults(lambda op, key, n: (503, "SlowDown") if op == "put" else None).attach(store.client)
    try:
        with pytest.raises(ObjectStoreError) as ei:
            store.put_bytes("silver/new.json", b'{"v": 2}' * 1000)
        with pytest.raises(ObjectStoreError, match=r"s3://.*/lake/silver/kept\.json"):
            store.put_json("silver/kept.json", {"v": 2})
    finally:
        S3Faults.detach(store.client)
    msg = str(ei.value)
    assert f"s3://{store.bucket}/lake/silver/new.json" in msg and "3 attempt(s)" in msg and "SlowDown" in msg
    assert len([f for f in down.injected if f[1] == "lake/silver/new.json"]) == 3
    # nothing half-written: the failed new object does not exist, the old one is intact
    assert not store.exists("silver/new.json")
    assert store.list("silver/") == ["silver/kept.json"]
    assert store.get_json("silver/kept.json") == {"v": 1}
    assert {o["Key"] for o in clean.list_objects_v2(Bucket=store.bucket)["Contents"]} == {"lake/silver/kept.json"}
    # the pipeline's secret-free spec carries the retry policy to a subprocess (Pipes step)
    assert res.spec()["max_attempts"] == 3 and res.spec()["retry_mode"] == "standard"


def test_bronze_ingest_to_s3_under_injected_faults(s3_endpoint, tmp_path):
    """The real asset, through the resource's own (cached) client: a 503 on every first
    attempt of every request; the day is ingested, byte-identical."""
    from assets.bronze import call_events, recordings
    from resources.landing import LandingZoneResource
    from resources.ledger import LedgerResource

    res, store, clean = _s3_store(s3_endpoint, max_attempts=3)
    landing = tmp_path / "landing"
    _stage(landing, CALLS)
    faults = S3Faults(lambda op, key, n: (503, "ServiceUnavailable") if n == 1 else None).attach(store.client)
    try:
        result = dg.materialize([recordings, call_events], partition_key=DAY, resources={
            "landing": LandingZoneResource(root=str(landing)), "object_store": res,
            "ledger": LedgerResource(url=f"sqlite:///{tmp_path / 'ledger.db'}")})
    finally:
        S3Faults.detach(store.client)
    assert result.success
    assert len(faults.injected) >= 10
    for cid, tenant in (("call_0006", "globex"), ("call_0009", "acme")):
        body = clean.get_object(Bucket=store.bucket, Key=f"lake/bronze/recordings/{DAY}/{tenant}/{cid}/audio.wav")
        assert body["Body"].read() == (SAMPLES / "recordings" / f"{cid}.wav").read_bytes()
    assert sorted(store.get_json(f"bronze/recordings/{DAY}/_manifest.json")["calls"]) == CALLS


# ============================================================================ 2. corrupt object


def test_corrupt_bronze_audio_is_quarantined_as_checksum_mismatch(callforge_env, monkeypatch):
    from assets.bronze import recordings
    from assets.silver import quarantine, transcripts
    from pipeline.domain.core.keys import CallKeys, quarantine_report_key
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from resources import build_resources

    monkeypatch.setenv("CALLFORGE_ASR_WORKERS", "1")
    settings = callforge_env
    _stage(settings.landing_dir, CALLS)
    resources = build_resources(settings)
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([recordings], partition_key=DAY, resources=resources, instance=instance).success
    store, ledger = LocalObjectStore(settings.object_store_root), Ledger(settings.ledger_url)
    bad = CallKeys(DAY, "acme", "call_0009").bronze_audio(".wav")
    data = bytearray(store.get_bytes(bad))
    for i in range(len(data) // 2, len(data) // 2 + 64):  # flip bytes inside the PCM data: still a valid WAV
        data[i] ^= 0x5A
    store.put_bytes(bad, bytes(data))

    result = dg.materialize([transcripts, quarantine], partition_key=DAY, resources=resources, instance=instance)
    assert result.success
    recs = [(q["call_id"], q["stage"], q["reason"]) for q in ledger.open_quarantine(partition=DAY)]
    assert recs == [("call_0009", "transcription", "checksum_mismatch")]
    assert ledger.get_call("call_0009")["state"] == "quarantined"
    assert ledger.processed("transcribe", "call_0009") is None
    assert not store.exists(CallKeys(DAY, "acme", "call_0009").transcript)
    # the rest of the batch went on
    assert store.exists(CallKeys(DAY, "globex", "call_0006").transcript)
    assert ledger.processed("transcribe", "call_0006") is not None
    # nothing lost: the corrupt object is kept, as it is, and the quarantine report points at it
    assert store.get_bytes(bad) == bytes(data)
    report = store.get_json(quarantine_report_key(DAY))["records"]
    assert [(r["call_id"], r["reason"], r["source_uri"]) for r in report] == [
        ("call_0009", "checksum_mismatch", store.uri(bad))]
    assert "sha256" in report[0]["detail"] and bad in report[0]["detail"]
    instance.dispose()


# ============================================================================ 3. SIGKILL + run retry


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether ``pid`` is ``ancestor`` or one of its descendants (so the test only ever
    kills a process it started)."""
    for _ in range(20):
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            return False
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _assert_each_call_exactly_once(settings: Any, calls: list[str], date: str) -> None:
    """Gold analytics rows, index chunks, processed marks, consent events and audit rows:
    each call's are there, once."""
    import pandas as pd

    from pipeline.domain.core.keys import CallKeys, analytics_table_key
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.models import Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.search.chunking import chunk_transcript
    from pipeline.domain.search.lance_index import LanceDBIndex

    store, ledger = LocalObjectStore(settings.object_store_root), Ledger(settings.ledger_url)
    table = pd.read_parquet(io.BytesIO(store.get_bytes(analytics_table_key(date))))
    assert sorted(table["call_id"]) == calls  # one analytics row per call
    rows = LanceDBIndex(settings.lancedb_uri).table().to_arrow().select(["chunk_id", "call_id"]).to_pylist()
    chunk_ids = [r["chunk_id"] for r in rows]
    assert len(chunk_ids) == len(set(chunk_ids)), "duplicate chunks in the vector index"
    per_call = Counter(r["call_id"] for r in rows)
    for cid in calls:
        call = ledger.get_call(cid)
        keys = CallKeys(date, call["tenant"], cid)
        expected = chunk_transcript(Transcript.from_dict(store.get_json(keys.redacted_transcript)), cid)
        assert per_call[cid] == len(expected) > 0, cid
        assert len(ledger.consent_events(cid)) == 1, cid
        actions = Counter(r["action"] for r in ledger.audit_rows(call_id=cid))
        assert actions["ingest"] == 1 and actions["consent_recorded"] == 1, (cid, actions)
        assert actions["redaction"] == 2 and actions["raw_audio_access"] == 1, (cid, actions)
        assert actions["quarantine"] == 0, (cid, actions)
    _assert_marks_have_objects(ledger, store)


def _assert_marks_have_objects(ledger: Any, store: Any) -> None:
    """Every processed mark (one per stage and call: the primary key) points at an object
    that exists."""
    import sqlalchemy as sa

    t = ledger.table("processed")
    with ledger.engine.connect() as conn:
        marks = [dict(r._mapping) for r in conn.execute(sa.select(t))]
        dup = conn.execute(sa.select(t.c.stage, t.c.call_id, sa.func.count()).group_by(t.c.stage, t.c.call_id)
                           .having(sa.func.count() > 1)).all()
    assert not dup
    root = store.root.as_uri()
    for m in marks:
        uri = m["output_uri"] or ""
        if uri.startswith(root):
            assert store.exists(unquote(uri[len(root) + 1:])), m


def _dagster_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_sigkilled_step_is_retried_by_the_daemon_idempotently(tmp_path, monkeypatch):
    """A code server (the code loaded once), the real daemon, automatic run retries. The
    day's run uses the product's executor: each step its own process, forked from a
    forkserver that already imported the code and the heavy libraries (pipeline/preload.py)."""
    from pipeline.settings import get_settings
    from tests.servers import free_port

    home = tmp_path / "home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    # the embedded instance + automatic run retries (the job carries dagster/max_retries)
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text() + (
        "run_retries:\n  enabled: true\n  max_retries: 1\n"))
    _stage(home / "landing", CALLS)
    settings_file = _settings_one_shard(tmp_path)
    env = {**os.environ, "CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "CALLFORGE_SETTINGS": str(settings_file), "CALLFORGE_ASR_WORKERS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("CALLFORGE_LANDING", None)
    port = free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
                         "      location_name: callforge\n")
    logs = {"code_server": tmp_path / "code_server.log", "daemon": tmp_path / "daemon.log"}

    def tail() -> str:
        return "\n".join(f"--- {n}:\n{p.read_text(errors='replace')[-2500:]}" for n, p in logs.items() if p.exists())

    # create the SQLite storages BEFORE any other process: processes that initialise a fresh
    # DAGSTER_HOME at the same moment can stamp alembic_version twice ("more than one head
    # present") and the code location then never loads
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    instance.get_runs(limit=1)
    instance.all_instigator_state()
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, cmd: list[str]) -> subprocess.Popen:
        with logs[name].open("wb") as fh:
            procs[name] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        return procs[name]

    def cli(*args: str) -> None:
        res = subprocess.run([_dagster_bin("dagster"), *args, "-w", str(workspace)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=180, check=False)
        assert res.returncode == 0, f"dagster {' '.join(args)}: {res.stdout[-1500:]} {res.stderr[-3000:]}"

    deadline = time.monotonic() + 420
    try:
        def wait_for(what: str, fn, poll: float = 1.0):  # type: ignore[no-untyped-def]
            while time.monotonic() < deadline:
                for name, proc in procs.items():
                    assert proc.poll() is None, f"{name} exited: {tail()}"
                got = fn()
                if got:
                    return got
                time.sleep(poll)
            pytest.fail(f"timed out waiting for {what}; logs:\n{tail()}")

        code_server = start("code_server", [_dagster_bin("dagster"), "api", "grpc", "-m", "pipeline.definitions",
                                            "-a", "defs", "-h", "127.0.0.1", "-p", str(port)])
        wait_for("the code server", lambda: subprocess.run(
            [_dagster_bin("dagster"), "api", "grpc-health-check", "-p", str(port)], env=env,
            capture_output=True, timeout=30, check=False).returncode == 0, poll=2.0)
        # the test launches the day's run itself: the new_recordings sensor must not add another
        cli("sensor", "stop", "new_recordings")
        # the product's executor: forkserver step processes (pipeline/distributed.py)
        run_config = {  # not under test here (and a third model load on two busy cores)
            "ops": {"silver__redacted_audio": {"config": {"verify": False}}}}
        cli("job", "launch", "-j", "ingest_job", "--tags", json.dumps({"dagster/partition": DAY}),
            "--config-json", json.dumps(run_config))
        start("daemon", [_dagster_bin("dagster-daemon"), "run", "-w", str(workspace)])

        first = wait_for("the launched run", lambda: instance.get_runs(filters=dg.RunsFilter(job_name="ingest_job")))[-1]
        assert first.tags.get("dagster/partition") == DAY and first.tags.get("dagster/max_retries") == "1"

        def transcribing():  # type: ignore[no-untyped-def]
            """(step key, pid) of the step that transcribes the calls (``silver__transcripts``,
            or its shard step when the asset fans out), once it has started."""
            for e in instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_START):
                key = e.step_key or ""
                if key.startswith("silver__transcripts") and ("shard" not in key or "transcribe" in key):
                    return key, e.dagster_event.pid
            return None

        step_key, pid = wait_for("silver/transcripts to start", transcribing, poll=0.5)
        # mid-batch: one call transcribed and marked, the other being decoded right now
        wait_for("the first transcribed call", lambda: any(
            "transcribed 1/2 calls" in (e.user_message or "") for e in instance.all_logs(first.run_id)), poll=0.05)
        assert _descends_from(pid, code_server.pid), f"step pid {pid} is not under the code server {code_server.pid}"
        done = {e.step_key for e in instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        assert step_key not in done, "the step finished before it could be killed"
        os.kill(pid, signal.SIGKILL)
        finished = wait_for("the killed run to fail", lambda: (
            r := instance.get_run_by_id(first.run_id)) is not None and r.is_finished and r)
        assert finished.status == dg.DagsterRunStatus.FAILURE
        crash = [e.user_message for e in instance.all_logs(first.run_id)
                 if e.step_key == step_key and "SIGKILL" in (e.user_message or "")]
        assert crash, "the run did not report the killed step"
        # Dagster stores the FAILURE status first and tags the retry decision in a second write
        will_retry = wait_for("the retry decision", lambda: instance.get_run_by_id(first.run_id).tags.get(
            "dagster/will_retry"), poll=0.2)
        assert will_retry == "true"

        def retry():  # type: ignore[no-untyped-def]
            runs = [r for r in instance.get_runs(filters=dg.RunsFilter(job_name="ingest_job"))
                    if r.tags.get("dagster/parent_run_id") == first.run_id]
            return runs[0] if runs and runs[0].is_finished else None

        second = wait_for("the automatic retry to finish", retry, poll=2.0)
        assert second.status == dg.DagsterRunStatus.SUCCESS, tail()
        assert second.tags.get("dagster/retry_number") == "1" and second.tags.get("dagster/partition") == DAY
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="ingest_job"))) == 2
        retry_started = instance.get_run_record_by_id(second.run_id).start_time
    finally:
        for proc in reversed(list(procs.values())):
            _stop(proc)
        instance.dispose()
    monkeypatch.setenv("CALLFORGE_HOME", str(home))
    monkeypatch.setenv("CALLFORGE_SETTINGS", str(settings_file))
    monkeypatch.delenv("CALLFORGE_LANDING", raising=False)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        _assert_each_call_exactly_once(settings, CALLS, DAY)
        # the kill landed between the calls: one was transcribed by the killed run (and
        # skipped by the retry), the other only by the retry
        from pipeline.domain.core.ledger import Ledger

        marks = {cid: Ledger(settings.ledger_url).processed("transcribe", cid)["ts"].timestamp() for cid in CALLS}
        assert sorted(ts < retry_started for ts in marks.values()) == [False, True], marks
    finally:
        get_settings.cache_clear()


# ============================================================================ 4. PostgreSQL restart


@pytest.fixture
def pg_cluster():
    from tests.servers import restartable_postgres_server

    with restartable_postgres_server() as cluster:
        yield cluster


def _forget_cached_ledger(url: str) -> None:
    """Drop the per-process cached ledger of a server that is gone (its port may be reused)."""
    from resources import ledger as ledger_resource

    for key in [k for k in ledger_resource._LEDGERS if k[1] == url]:
        ledger_resource._LEDGERS.pop(key).dispose()


def test_postgres_crash_and_restart_during_runs(pg_cluster, callforge_env, monkeypatch, request):
    """Run 1: PostgreSQL crashes (immediate stop) inside call_0009's ingest transaction ->
    the run fails cleanly; call_0006 is complete, call_0009 left no trace. Run 2: the
    server is restarted between two ledger transactions mid-run -> survived (the pool
    reconnects); every call is there exactly once."""
    import sqlalchemy as sa

    from assets.bronze import call_events, recordings
    from assets.silver import transcripts
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.storage import LocalObjectStore
    from resources import build_resources
    from resources.asr import AsrResource
    from resources.ledger import LedgerResource, cached_ledger

    monkeypatch.setenv("CALLFORGE_ASR_WORKERS", "1")
    settings = callforge_env
    _stage(settings.landing_dir, CALLS)
    faults: dict[str, Any] = {"crash_on_consent_of": "call_0009", "restart_after_first_call": False, "results": 0}

    class RestartingAsr(AsrResource):
        """The real ASR; restarts PostgreSQL once, before the run's second call result
        (the first is stored and marked by then: between two ledger transactions). Counts
        across shard steps, which the in-process executor runs one after the other."""

        def transcribe_many(self, jobs, on_progress=None):  # type: ignore[no-untyped-def]
            for item in super().transcribe_many(jobs, on_progress):
                faults["results"] += 1
                if faults["results"] == 2 and faults["restart_after_first_call"]:
                    faults["restart_after_first_call"] = False
                    pg_cluster.restart("fast")
                yield item

    base = build_resources(settings)
    resources = {**base, "ledger": LedgerResource(url=pg_cluster.url),
                 "asr": RestartingAsr(**base["asr"].model_dump())}
    ledger = cached_ledger(pg_cluster.url)  # the very instance the runs use (in-process)

    def crash_inside_transaction(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        target = faults["crash_on_consent_of"]
        if target and statement.lstrip().upper().startswith("INSERT INTO CONSENT_EVENTS") \
                and target in json.dumps(params, default=str):
            faults["crash_on_consent_of"] = None
            pg_cluster.stop("immediate")  # a crash, with the ingest transaction open

    sa.event.listen(ledger.engine, "before_cursor_execute", crash_inside_transaction)
    instance = dg.DagsterInstance.ephemeral()
    store = LocalObjectStore(settings.object_store_root)
    selection = [recordings, call_events, transcripts]
    try:
        first = dg.materialize(selection, partition_key=DAY, resources=resources, instance=instance,
                               raise_on_error=False)
        assert not first.success
        failure = [e for e in first.all_events if e.event_type_value == "STEP_FAILURE"]
        assert [e.step_key for e in failure] == ["bronze__recordings"]
        assert "OperationalError" in str(failure[0].event_specific_data.error.to_string())
        assert not pg_cluster.running()
        pg_cluster.start()
        # nothing half-written: call_0006 complete; call_0009's transaction left no row at all
        assert ledger.get_call("call_0006")["state"] == "active"
        assert len(ledger.consent_events("call_0006")) == 1
        assert ledger.get_call("call_0009") is None
        assert ledger.consent_events("call_0009") == [] and ledger.audit_rows(call_id="call_0009") == []
        assert not store.list(f"bronze/recordings/{DAY}/acme/call_0009/")
        assert ledger.open_quarantine() == []  # an outage is not bad input
        _assert_marks_have_objects(ledger, store)

        faults["restart_after_first_call"], faults["results"] = True, 0
        second = dg.materialize(selection, partition_key=DAY, resources=resources, instance=instance,
                                raise_on_error=False)
        assert faults["restart_after_first_call"] is False, "the restart fault did not fire"
        assert second.success, [e.message for e in second.all_events if e.event_type_value == "STEP_FAILURE"]
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", crash_inside_transaction)
        instance.dispose()
        request.addfinalizer(lambda: _forget_cached_ledger(pg_cluster.url))
    for cid, tenant in (("call_0006", "globex"), ("call_0009", "acme")):
        assert ledger.get_call(cid)["state"] == "active"
        assert len(ledger.consent_events(cid)) == 1
        actions = Counter(r["action"] for r in ledger.audit_rows(call_id=cid))
        assert (actions["ingest"], actions["consent_recorded"], actions["quarantine"]) == (1, 1, 0), (cid, actions)
        assert ledger.processed("transcribe", cid) is not None
        assert store.exists(CallKeys(DAY, tenant, cid).transcript)
    assert ledger.open_quarantine() == []
    _assert_marks_have_objects(ledger, store)

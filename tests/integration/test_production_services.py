"""Production profile against real servers started by the tests on 127.0.0.1:
PostgreSQL (Dagster storage via dagster-postgres + the ledger) and an S3-protocol server
(moto) for the landing zone and object store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from assets.bronze import call_events, recordings
from pipeline.domain.core.ledger import Ledger
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from sensors.recordings import new_recordings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def _stage_local(landing: Path, call_ids: list[str]) -> None:
    (landing / "recordings").mkdir(parents=True)
    (landing / "events").mkdir()
    for cid in call_ids:
        for p in (SAMPLES / "recordings").glob(f"{cid}.*"):
            shutil.copy(p, landing / "recordings" / p.name)
        ev = SAMPLES / "events" / f"{cid}.jsonl"
        if ev.exists():
            shutil.copy(ev, landing / "events" / ev.name)


def _postgres_instance(pg_url: str, home: Path, monkeypatch) -> dg.DagsterInstance:
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS dagster_storage"))
        conn.execute(sa.text("CREATE DATABASE dagster_storage"))
    engine.dispose()
    u = urlparse(pg_url)
    monkeypatch.setenv("DAGSTER_PG_USERNAME", u.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", u.password or "")
    monkeypatch.setenv("DAGSTER_PG_HOST", u.hostname or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(u.port))
    monkeypatch.setenv("DAGSTER_PG_DB", "dagster_storage")
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(dagster_home))


def test_postgres_dagster_storage_and_ledger(pg_url, tmp_path, monkeypatch):
    instance = _postgres_instance(pg_url, tmp_path, monkeypatch)
    landing = tmp_path / "landing"
    _stage_local(landing, ["call_0006", "call_0008"])
    resources = {
        "landing": LandingZoneResource(root=str(landing)),
        "object_store": ObjectStoreResource(backend="local", root=str(tmp_path / "objects")),
        "ledger": LedgerResource(url=pg_url),
    }
    result = dg.materialize([recordings, call_events], partition_key="2026-11-03", resources=resources,
                            instance=instance)
    assert result.success
    # the run and its materializations live in PostgreSQL
    assert "Postgres" in type(instance.run_storage).__name__
    assert [r.run_id for r in instance.get_runs()] == [result.run_id]
    mat = instance.get_latest_materialization_event(dg.AssetKey(["bronze", "recordings"]))
    assert mat is not None and mat.asset_materialization.partition == "2026-11-03"
    ledger = Ledger(pg_url)
    assert ledger.get_call("call_0006")["state"] == "active"
    assert ledger.get_call("call_0006")["tenant"] == "globex"
    bad = dg.materialize([recordings], partition_key="2026-11-02", resources=resources, instance=instance)
    assert bad.success
    assert [(q["call_id"], q["reason"]) for q in ledger.open_quarantine(partition="2026-11-02")] == [
        ("call_0008", "sidecar_missing_field")]
    # append-only audit is enforced by the database itself
    with pytest.raises(Exception):
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit"))
    instance.dispose()


def _s3(endpoint: str) -> S3Resource:
    return S3Resource(endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")


def test_s3_landing_zone_and_object_store(s3_endpoint, tmp_path):
    s3 = _s3(s3_endpoint)
    client = s3.get_client()
    bucket = "callforge-test"
    client.create_bucket(Bucket=bucket)
    for cid in ("call_0006", "call_0008"):
        for p in (SAMPLES / "recordings").glob(f"{cid}.*"):
            client.put_object(Bucket=bucket, Key=f"landing/recordings/{p.name}", Body=p.read_bytes())
    ev = SAMPLES / "events" / "call_0006.jsonl"
    client.put_object(Bucket=bucket, Key=f"landing/events/{ev.name}", Body=ev.read_bytes())

    landing = LandingZoneResource(backend="s3", bucket=bucket, prefix="landing", s3=s3)
    store = ObjectStoreResource(backend="s3", bucket=bucket, prefix="lake", s3=s3)
    # the sensor sees the S3 landing zone and asks for the right day partitions
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources={"landing": landing}) as ctx:
        res = new_recordings(ctx)
    assert sorted(r.partition_key for r in res.run_requests) == ["2026-11-02", "2026-11-03"]

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    resources = {"landing": landing, "object_store": store, "ledger": LedgerResource(url=ledger_url)}
    result = dg.materialize([recordings, call_events], partition_key="2026-11-03", resources=resources)
    assert result.success
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]}
    assert "lake/bronze/recordings/2026-11-03/globex/call_0006/audio.wav" in keys
    assert "lake/bronze/recordings/2026-11-03/_manifest.json" in keys
    assert "lake/bronze/call_events/2026-11-03/call_0006.jsonl" in keys
    manifest = json.loads(client.get_object(Bucket=bucket, Key="lake/bronze/recordings/2026-11-03/_manifest.json")["Body"].read())
    assert list(manifest["calls"]) == ["call_0006"]
    body = client.get_object(Bucket=bucket, Key="lake/bronze/recordings/2026-11-03/globex/call_0006/audio.wav")["Body"].read()
    assert body == (SAMPLES / "recordings" / "call_0006.wav").read_bytes()

    bad = dg.materialize([recordings], partition_key="2026-11-02", resources=resources)
    assert bad.success
    q = Ledger(ledger_url).open_quarantine(partition="2026-11-02")
    assert [(r["call_id"], r["reason"]) for r in q] == [("call_0008", "sidecar_missing_field")]
    assert any(k.startswith("lake/quarantine/2026-11-02/") for k in
               {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/quarantine/")["Contents"]})

"""new_recordings sensor: cursor, run keys, partitions for late arrivals."""

import json
import os
import time
from pathlib import Path

import dagster as dg

from resources.label_studio import LabelStudioResource
from resources.landing import LandingZoneResource
from sensors.recordings import completed_annotations, new_recordings


def _drop(root, call_id, started_at, sidecar_extra=None, audio=b"RIFF....WAVE"):
    rec = root / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    (rec / f"{call_id}.wav").write_bytes(audio)
    sc = {"call_id": call_id, "tenant": "acme", "started_at": started_at, "agent_id": "a1",
          "direction": "inbound", "consent": {"recording": "granted", "training": True}}
    sc.update(sidecar_extra or {})
    (rec / f"{call_id}.json").write_text(json.dumps(sc))


def _ctx(root, cursor=None):
    return dg.build_sensor_context(cursor=cursor, instance=dg.DagsterInstance.ephemeral(), resources={
        "landing": LandingZoneResource(root=str(root)),
        "annotation": LabelStudioResource(tasks_dir=str(Path(root) / "tasks"))})


def _eval(root, cursor=None):
    with _ctx(root, cursor) as ctx:
        return new_recordings(ctx)


def test_no_files_skips(tmp_path):
    res = _eval(tmp_path)
    assert not res.run_requests
    assert res.skip_reason is not None


def test_requests_day_partition_of_each_call_including_late_arrivals(tmp_path):
    _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
    _drop(tmp_path, "c2", "2026-11-02T11:00:00Z")
    _drop(tmp_path, "late", "2026-10-15T09:00:00Z")  # arrives weeks after the call
    res = _eval(tmp_path)
    parts = sorted(r.partition_key for r in res.run_requests)
    assert parts == ["2026-10-15", "2026-11-02"]
    assert len({r.run_key for r in res.run_requests}) == 2


def test_cursor_prevents_rerequest_and_new_file_triggers(tmp_path):
    _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
    first = _eval(tmp_path)
    again = _eval(tmp_path, cursor=first.cursor)
    assert not again.run_requests
    _drop(tmp_path, "c3", "2026-11-03T10:00:00Z")
    third = _eval(tmp_path, cursor=first.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2026-11-03"]


def test_changed_file_gets_new_run_key(tmp_path):
    _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
    first = _eval(tmp_path)
    p = tmp_path / "recordings" / "c1.wav"
    p.write_bytes(b"RIFF....WAVE-changed")
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    second = _eval(tmp_path, cursor=first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["2026-11-02"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_bad_sidecar_still_routed_to_a_partition(tmp_path):
    _drop(tmp_path, "bad", "2026-11-02T10:00:00Z")
    sc = tmp_path / "recordings" / "bad.json"
    d = json.loads(sc.read_text())
    del d["agent_id"]
    sc.write_text(json.dumps(d))
    res = _eval(tmp_path)
    assert [r.partition_key for r in res.run_requests] == ["2026-11-02"]


def test_completed_annotations_sensor(tmp_path):
    ann = tmp_path / "annotations"
    ann.mkdir()
    with _ctx(tmp_path) as ctx:
        assert not completed_annotations(ctx).run_requests
    (ann / "batch1.jsonl").write_text('{"call_id": "c1", "intent": "card_lost"}\n')
    with _ctx(tmp_path) as ctx:
        res = completed_annotations(ctx)
    assert len(res.run_requests) == 1
    with _ctx(tmp_path, res.cursor) as ctx:
        assert not completed_annotations(ctx).run_requests
    # a cursor written by the previous version (file signatures only) is still understood
    old = json.dumps(json.loads(res.cursor)["files"])
    with _ctx(tmp_path, old) as ctx:
        assert not completed_annotations(ctx).run_requests


# ---- scale: the cursor is a high-water mark, a tick reads only the changed calls' sidecars


def _reads(monkeypatch):
    """Count the landing-zone reads (sidecars) the sensor does."""
    from pipeline.domain.intake.landing import LocalLandingZone

    keys: list[str] = []
    orig = LocalLandingZone.read_bytes

    def read(self, key):
        keys.append(key)
        return orig(self, key)

    monkeypatch.setattr(LocalLandingZone, "read_bytes", read)
    return keys


def test_tick_reads_only_the_sidecars_of_new_calls(tmp_path, monkeypatch):
    for i in range(20):
        _drop(tmp_path, f"old{i:02d}", "2026-11-02T10:00:00Z")
    reads = _reads(monkeypatch)
    first = _eval(tmp_path)
    assert len(reads) == 20  # the first tick routes every call once
    reads.clear()
    _drop(tmp_path, "new1", "2026-11-03T10:00:00Z")
    res = _eval(tmp_path, cursor=first.cursor)
    assert [r.partition_key for r in res.run_requests] == ["2026-11-03"]
    assert reads == ["recordings/new1.json"]
    reads.clear()
    idle = _eval(tmp_path, cursor=res.cursor)
    assert not idle.run_requests and reads == []


def test_file_moved_in_with_an_old_mtime_is_still_new(tmp_path):
    _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
    first = _eval(tmp_path)
    # written elsewhere long ago, then moved into the landing zone (mv / rsync -t keep mtime)
    staging = tmp_path / "staging"
    _drop(staging, "late", "2026-11-01T10:00:00Z")
    old = time.time() - 400 * 86400
    for p in (staging / "recordings").iterdir():
        os.utime(p, (old, old))
        p.rename(tmp_path / "recordings" / p.name)
    res = _eval(tmp_path, cursor=first.cursor)
    assert [r.partition_key for r in res.run_requests] == ["2026-11-01"]


def test_cursor_forgets_files_older_than_the_window_without_rerequesting_them(tmp_path, monkeypatch):
    import sensors.recordings as rec_sensor

    monkeypatch.setattr(rec_sensor, "ARRIVAL_WINDOW_NS", 0)  # every file is "old" once seen
    for i in range(5):
        _drop(tmp_path, f"c{i}", "2026-11-02T10:00:00Z")
    first = _eval(tmp_path)
    assert len(first.run_requests) == 1
    cur = json.loads(first.cursor)
    assert cur["recent"] == {} and cur["hwm"] > 0  # nothing kept per file: the cursor stays small
    again = _eval(tmp_path, cursor=first.cursor)
    assert not again.run_requests
    time.sleep(0.01)  # a later change time than the mark
    _drop(tmp_path, "c9", "2026-11-04T10:00:00Z")
    third = _eval(tmp_path, cursor=again.cursor or first.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2026-11-04"]


def test_cursor_of_the_previous_version_is_understood(tmp_path):
    _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
    from pipeline.domain.intake.landing import LocalLandingZone

    old_cursor = json.dumps({f.key: f.signature for f in LocalLandingZone(tmp_path).list("recordings")})
    assert not _eval(tmp_path, cursor=old_cursor).run_requests
    _drop(tmp_path, "c2", "2026-11-03T10:00:00Z")
    res = _eval(tmp_path, cursor=old_cursor)
    assert [r.partition_key for r in res.run_requests] == ["2026-11-03"]
    assert "hwm" in json.loads(res.cursor)
    assert not _eval(tmp_path, cursor=res.cursor).run_requests


def test_landing_file_suffix_matches_pathlib():
    from pipeline.domain.intake.landing import LandingFile

    for name in ("a.wav", "A.WAV", "a.tar.gz", "a.", ".wav", "a", "a..b", "..", "...x", "x.Json", "c.aws.json"):
        assert LandingFile(f"recordings/{name}", name, 0, 0).suffix == Path(name).suffix.lower(), name


# ---- bursts: files of a day whose run is still queued join that run


def _queued_run(instance, date, status=None, **kw):
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    tags = {"dagster/partition": date, "callforge/trigger": "new_recordings", **kw.pop("tags", {})}
    origin = RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(
        code_location_origin=RegisteredCodeLocationOrigin("callforge"), repository_name="__repository__"),
        job_name="ingest_job")  # a queued run names the code location it will be launched from
    run = DagsterRun(job_name="ingest_job", run_id=make_new_run_id(), tags=tags, remote_job_origin=origin,
                     status=status or dg.DagsterRunStatus.QUEUED, **kw)
    instance.add_run(run)
    return run.run_id


def _eval_on(instance, root, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={
            "landing": LandingZoneResource(root=str(root)),
            "annotation": LabelStudioResource(tasks_dir=str(Path(root) / "tasks"))}) as ctx:
        return new_recordings(ctx)


def test_new_files_join_the_days_queued_run_instead_of_queueing_another(tmp_path):
    from sensors.recordings import queued_ingest_run

    with dg.instance_for_test() as instance:
        _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
        first = _eval_on(instance, tmp_path)
        assert [r.partition_key for r in first.run_requests] == ["2026-11-02"]
        queued = _queued_run(instance, "2026-11-02")  # what the daemon made of that request
        assert queued_ingest_run(instance, "2026-11-02") == queued
        assert queued_ingest_run(instance, "2026-11-03") is None
        # more calls of that day while its run waits, and one of another day
        _drop(tmp_path, "c2", "2026-11-02T10:05:00Z")
        _drop(tmp_path, "c3", "2026-11-03T09:00:00Z")
        second = _eval_on(instance, tmp_path, cursor=first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["2026-11-03"]
        # c2 is not forgotten: the queued run ingests the whole day when it starts; the
        # cursor moved past it, so the next tick asks for nothing
        assert not _eval_on(instance, tmp_path, cursor=second.cursor).run_requests
        # only c2 of the day arrived: nothing to request, the reason says where it went
        _drop(tmp_path, "c4", "2026-11-02T10:10:00Z")
        third = _eval_on(instance, tmp_path, cursor=second.cursor)
        assert not third.run_requests
        assert third.skip_reason.skip_message == f"new recordings: 2026-11-02 joins queued run {queued[:8]}"
        assert json.loads(third.cursor)["hwm"] > json.loads(second.cursor)["hwm"]


def test_started_runs_and_retries_are_not_joined(tmp_path):
    """A run that has started may be past its bronze step, and a retry re-executes only its
    failed steps: new files of that day get a run of their own."""
    with dg.instance_for_test() as instance:
        _queued_run(instance, "2026-11-02", status=dg.DagsterRunStatus.STARTED)
        _queued_run(instance, "2026-11-02", parent_run_id="a" * 36, root_run_id="a" * 36,
                    tags={"dagster/parent_run_id": "a" * 36})
        _queued_run(instance, "2026-11-02", tags={"callforge/trigger": "backfill"})
        _drop(tmp_path, "c1", "2026-11-02T10:00:00Z")
        res = _eval_on(instance, tmp_path)
        assert [r.partition_key for r in res.run_requests] == ["2026-11-02"]

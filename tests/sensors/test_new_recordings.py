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
    return dg.build_sensor_context(cursor=cursor, resources={
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

"""Bronze assets on real local resources (no models): bad inputs are quarantined with a
clear reason, nothing is lost, the rest of the batch goes on, reruns are idempotent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.bronze import call_events, imported_transcripts, recordings
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.storage import LocalObjectStore
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DAY1, DAY2 = "2026-11-02", "2026-11-03"


@pytest.fixture
def env(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLES / "recordings", landing / "recordings")
    shutil.copytree(SAMPLES / "events", landing / "events")
    shutil.copytree(SAMPLES / "transcripts", landing / "transcripts")
    resources = {
        "landing": LandingZoneResource(root=str(landing)),
        "object_store": ObjectStoreResource(backend="local", root=str(tmp_path / "objects")),
        "ledger": LedgerResource(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
    }
    return {"landing": landing, "resources": resources, "store": LocalObjectStore(tmp_path / "objects"),
            "ledger": Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")}


def _mat(result, key):
    ev = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key)][-1]
    return {k: v.value for k, v in ev.materialization.metadata.items()}


def test_bad_sidecar_quarantined_rest_ingested_nothing_lost(env):
    res = dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    assert res.success
    md = _mat(res, ["bronze", "recordings"])
    assert md["quarantined"] == 1 and md["processed"] == 2 and md["opted_out"] == 1
    q = env["ledger"].open_quarantine(partition=DAY1)
    assert [(r["call_id"], r["stage"], r["reason"]) for r in q] == [("call_0008", "bronze", "sidecar_missing_field")]
    assert "agent_id" in q[0]["detail"]
    # nothing lost: the quarantined inputs are kept byte for byte
    kept = env["store"].get_bytes(f"quarantine/{DAY1}/call_0008.wav")
    assert kept == (SAMPLES / "recordings" / "call_0008.wav").read_bytes()
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks == {"nothing_lost": True}
    manifest = env["store"].get_json(f"bronze/recordings/{DAY1}/_manifest.json")
    assert sorted(manifest["calls"]) == ["call_0001", "call_0002"]
    for cid, sc in manifest["calls"].items():
        from pipeline.domain.core.models import sha256_bytes
        assert sc["audio_sha256"] == sha256_bytes((SAMPLES / "recordings" / f"{cid}.wav").read_bytes())


def test_opt_out_audio_discarded_and_audited(env):
    dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    assert not (env["landing"] / "recordings" / "call_0003.wav").exists()
    assert not [k for k in env["store"].list("") if "call_0003" in k]
    rows = env["ledger"].audit_rows(call_id="call_0003")
    assert any(r["action"] == "opt_out_discard" for r in rows)
    assert env["ledger"].latest_consent("call_0003")["recording"] == "opt_out"


def test_rerun_skips_unchanged_and_changed_sidecar_is_reprocessed(env):
    dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    again = dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    md = _mat(again, ["bronze", "recordings"])
    # two calls, the quarantined one and the opt-out whose audio is gone on purpose
    assert md["processed"] == 0 and md["skipped_unchanged"] == 4
    assert len(env["ledger"].open_quarantine(partition=DAY1)) == 1  # not duplicated
    # fixing the sidecar brings the call in on the next run
    sc_path = env["landing"] / "recordings" / "call_0008.json"
    sc = json.loads(sc_path.read_text())
    sc["agent_id"] = "agent_7"
    sc_path.write_text(json.dumps(sc))
    fixed = dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    assert _mat(fixed, ["bronze", "recordings"])["processed"] == 1
    assert env["ledger"].get_call("call_0008")["state"] in {"active", "quarantined"}


def test_imports_unknown_and_malformed_formats_are_quarantined_naming_the_file(env):
    tr = env["landing"] / "transcripts"
    (tr / "call_0006.sbv").write_text("0:00:00.000,0:00:01.000\nhello\n")
    (tr / "call_0004.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:xx.000\n<v Agent>hi\n")
    dg.materialize([recordings], partition_key=DAY2, resources=env["resources"])
    res = dg.materialize([imported_transcripts], partition_key=DAY2, resources=env["resources"])
    assert res.success
    q = {r["call_id"]: r for r in env["ledger"].open_quarantine(partition=DAY2) if r["stage"] == "import"}
    assert q["call_0006"]["reason"] == "transcript_unknown_format"
    assert "call_0006.sbv" in q["call_0006"]["detail"]
    assert q["call_0004"]["reason"] == "transcript_malformed"
    assert "call_0004.vtt line 3" in q["call_0004"]["detail"]
    # the valid AWS export of call_0005 still imported to the one transcript model
    doc = env["store"].get_json(f"bronze/imported_transcripts/{DAY2}/call_0005.json")
    assert doc["source_format"] == "aws_transcribe"
    assert {s["speaker"] for s in doc["segments"]} == {"agent", "customer"}


def test_platform_vtt_with_one_bad_cue_keeps_the_good_cues_and_says_which_line(env):
    tr = env["landing"] / "transcripts"
    (tr / "call_0004.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>thanks for calling\n\n"
        "bad-->id\n\n"  # an identifier with '-->' and no timing line: that block is lost
        "00:00:03.000 --> 00:00:04.000\n<v Customer>hi there\n\n"
        "00:00:05.000 --> 00:00:xx.000\n<v Agent>lost\n\n"
        "00:00:06.000 --> 00:00:07.000\n<v Agent>how can I help\n")
    dg.materialize([recordings], partition_key=DAY2, resources=env["resources"])
    res = dg.materialize([imported_transcripts], partition_key=DAY2, resources=env["resources"])
    assert res.success
    md = _mat(res, ["bronze", "imported_transcripts"])
    assert md["cues_skipped"] == 2
    assert md["skipped_cue_lines"] == {"call_0004.vtt": [6, 11]}
    assert not [r for r in env["ledger"].open_quarantine(partition=DAY2) if r["call_id"] == "call_0004"]
    doc = env["store"].get_json(f"bronze/imported_transcripts/{DAY2}/call_0004.json")
    assert [(s["speaker"], s["text"]) for s in doc["segments"]] == [
        ("agent", "thanks for calling"), ("customer", "hi there"), ("agent", "how can I help")]
    assert doc["quality"]["import"]["skipped_lines"] == [6, 11]
    assert "lost" not in str(md)


def test_events_deduplicated_ordered_append_only(env):
    dg.materialize([recordings], partition_key=DAY1, resources=env["resources"])
    res = dg.materialize([call_events], partition_key=DAY1, resources=env["resources"])
    md = _mat(res, ["bronze", "call_events"])
    assert md["duplicates"] >= 1
    lines = [json.loads(x) for x in env["store"].get_bytes(f"bronze/call_events/{DAY1}/call_0002.jsonl").decode().splitlines()]
    seqs = [e["seq"] for e in lines]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    # the opt-out call's events are kept (they are redacted downstream)
    assert env["store"].exists(f"bronze/call_events/{DAY1}/call_0003.jsonl")
    # append-only: a new event appended to the landing log is added, the old ones stay
    path = env["landing"] / "events" / "call_0001.jsonl"
    before = len(env["store"].get_bytes(f"bronze/call_events/{DAY1}/call_0001.jsonl").decode().splitlines())
    with path.open("a") as f:
        f.write(json.dumps({"trace_id": "call_0001", "seq": 999, "ts": "2026-11-02T10:10:00Z",
                            "type": "call.ended", "payload": {}}) + "\n")
    dg.materialize([call_events], partition_key=DAY1, resources=env["resources"])
    after = env["store"].get_bytes(f"bronze/call_events/{DAY1}/call_0001.jsonl").decode().splitlines()
    assert len(after) == before + 1

"""silver/transcripts through the real asset and real faster-whisper: corrupt, empty,
silent and 0.2-second recordings each land in quarantine with the right reason while the
rest of the batch is transcribed; a reviewed call can be released (audited)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import soundfile as sf

from assets.bronze import recordings
from assets.silver import quarantine, transcripts
from pipeline.domain.core.ledger import Ledger
from resources.asr import AsrResource
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-11-03"


def _sidecar(call_id: str) -> dict:
    return {"call_id": call_id, "tenant": "acme", "started_at": f"{DATE}T10:00:00Z", "agent_id": "a1",
            "direction": "inbound", "consent": {"recording": "granted", "training": True}}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("silver")
    rec = root / "landing" / "recordings"
    rec.mkdir(parents=True)
    shutil.copy(REPO / "samples" / "recordings" / "call_0006.wav", rec / "good.wav")
    (rec / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEgarbage-not-audio" * 4)
    sf.write(rec / "empty.wav", np.zeros((0, 2), dtype=np.float32), 16000, subtype="PCM_16")
    sf.write(rec / "silent.wav", np.zeros((2 * 16000, 2), dtype=np.float32), 16000, subtype="PCM_16")
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(0.2 * 16000)) / 16000).astype(np.float32)
    sf.write(rec / "short.wav", np.stack([tone, tone], axis=1), 16000, subtype="PCM_16")
    for name in ("good", "corrupt", "empty", "silent", "short"):
        (rec / f"{name}.json").write_text(json.dumps(_sidecar(name)))
    resources = {
        "landing": LandingZoneResource(root=str(root / "landing")),
        "object_store": ObjectStoreResource(backend="local", root=str(root / "objects")),
        "ledger": LedgerResource(url=f"sqlite:///{root / 'ledger.db'}"),
        "asr": AsrResource(workers=2),
    }
    result = dg.materialize([recordings, transcripts, quarantine], partition_key=DATE, resources=resources)
    return {"root": root, "result": result, "resources": resources,
            "ledger": Ledger(f"sqlite:///{root / 'ledger.db'}")}


def test_bad_audio_each_quarantined_with_its_reason(batch):
    assert batch["result"].success
    reasons = {q["call_id"]: q["reason"] for q in batch["ledger"].open_quarantine(partition=DATE)}
    assert reasons == {"corrupt": "audio_decode_failed", "empty": "audio_empty",
                       "silent": "audio_silent", "short": "audio_too_short"}


def test_rest_of_batch_transcribed(batch):
    path = batch["root"] / "objects" / "silver" / "transcripts" / DATE / "good.json"
    doc = json.loads(path.read_text())
    assert {s["speaker"] for s in doc["segments"]} == {"agent", "customer"}
    assert all(w["start"] <= w["end"] for s in doc["segments"] for w in s.get("words", []))
    assert doc["quality"]["duration"] > 5


def test_pass_rate_check_and_quarantine_report(batch):
    checks = {c.check_name: c for c in batch["result"].get_asset_check_evaluations()}
    rate = checks["transcription_pass_rate"]
    assert rate.metadata["passed"].value == 1 and rate.metadata["attempted"].value == 5
    report = json.loads((batch["root"] / "objects" / "silver" / "quarantine" / f"{DATE}.json").read_text())
    assert len(report["records"]) == 4
    assert all(r["source_uri"] for r in report["records"])


def test_release_is_audited_and_returns_call_to_active(batch):
    ledger = batch["ledger"]
    assert ledger.get_call("silent")["state"] == "quarantined"
    assert ledger.release("silent", actor="reviewer", reason="confirmed silent line test") == 1
    assert ledger.get_call("silent")["state"] == "active"
    assert any(r["action"] == "release" and r["actor"] == "reviewer" for r in ledger.audit_rows(call_id="silent"))
    assert "silent" not in {q["call_id"] for q in ledger.open_quarantine(partition=DATE)}

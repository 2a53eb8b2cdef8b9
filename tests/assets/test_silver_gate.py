"""The quality gate through the real silver/transcripts asset: a call whose platform
transcript disagrees with what was said is decoded again and, still disagreeing, lands in
quarantine as reference_mismatch (never a silent pass); the same audio with its own
transcript passes, and the day's speech coverage is in the asset metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.bronze import imported_transcripts, recordings
from assets.silver import transcripts
from pipeline.domain.core.ledger import Ledger
from resources.asr import AsrResource
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-11-04"
WRONG_VTT = """WEBVTT

00:00:00.100 --> 00:00:03.680
<v Agent>Good morning, you have reached the mortgage department, how may I direct you?</v>

00:00:04.080 --> 00:00:06.520
<v Customer>I would like to refinance my house before the rates go up again.</v>
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    rec, tr = root / "landing" / "recordings", root / "landing" / "transcripts"
    rec.mkdir(parents=True)
    tr.mkdir(parents=True)
    for name in ("match", "mismatch"):
        shutil.copy(REPO / "samples" / "recordings" / "call_0001.wav", rec / f"{name}.wav")
        sc = json.loads((REPO / "samples" / "recordings" / "call_0001.json").read_text())
        sc.update(call_id=name, started_at=f"{DATE}T10:00:00Z")
        (rec / f"{name}.json").write_text(json.dumps(sc))
    shutil.copy(REPO / "samples" / "transcripts" / "call_0001.vtt", tr / "match.vtt")
    (tr / "mismatch.vtt").write_text(WRONG_VTT)
    resources = {
        "landing": LandingZoneResource(root=str(root / "landing")),
        "object_store": ObjectStoreResource(backend="local", root=str(root / "objects")),
        "ledger": LedgerResource(url=f"sqlite:///{root / 'ledger.db'}"),
        "asr": AsrResource(workers=1),
    }
    result = dg.materialize([recordings, imported_transcripts, transcripts], partition_key=DATE, resources=resources)
    return {"root": root, "result": result, "ledger": Ledger(f"sqlite:///{root / 'ledger.db'}")}


def test_disagreeing_platform_transcript_is_quarantined_not_passed(run):
    assert run["result"].success
    q = {r["call_id"]: (r["stage"], r["reason"]) for r in run["ledger"].open_quarantine(partition=DATE)}
    assert q == {"mismatch": ("quality_gate", "reference_mismatch")}
    doc = json.loads((run["root"] / "objects" / "silver" / "transcripts" / DATE / "mismatch.json").read_text())
    assert doc["quality"]["redecoded_channels"] == [0, 1]  # a second opinion first
    assert doc["quality"]["wer"] > 0.25
    ok = json.loads((run["root"] / "objects" / "silver" / "transcripts" / DATE / "match.json").read_text())
    assert ok["quality"]["wer"] <= 0.25 and ok["quality"]["wer_scope"] == "per_speaker"


def test_speech_coverage_in_metadata(run):
    ev = [m for m in run["result"].get_asset_materialization_events()
          if m.asset_key == dg.AssetKey(["silver", "transcripts"])][-1]
    md = {k: v.value for k, v in ev.materialization.metadata.items()}
    assert 0.85 <= md["speech_coverage_min"] <= md["speech_coverage_mean"] <= 1.0
    assert md["redecoded_calls"] == 1

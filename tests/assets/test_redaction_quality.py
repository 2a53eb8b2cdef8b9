"""silver/redaction_quality_report through the real asset and the real Presidio engine:
scores a labelled set, checks the targets from settings, summarises the ledger's spans,
writes the report to the object store, and keeps test text out of metadata and logs."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from assets.silver import redaction_quality_report
from pipeline.domain.core.ledger import Ledger
from pipeline.settings import get_settings
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.redactor import RedactorResource

ROWS = [
    {"id": "r1", "text": "my number is five five five, two one two, three four four nine",
     "spans": [{"start": 13, "end": 62, "entity_type": "PHONE"}]},
    {"id": "r2", "text": "my email is sarah underscore lee at hotmail dot com",
     "spans": [{"start": 12, "end": 51, "entity_type": "EMAIL"}]},
    {"id": "r3", "text": "press one for billing", "spans": []},
]


def _run(tmp_path: Path, monkeypatch, targets: dict, rows=ROWS):
    (tmp_path / "sets").mkdir(exist_ok=True)
    (tmp_path / "sets" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "callforge.yaml"
    cfg.write_text(json.dumps({"redaction": {"eval_sets": {"spoken": "sets/tiny.jsonl"},
                                             "quality_targets": targets}}))
    monkeypatch.setenv("CALLFORGE_SETTINGS", str(cfg))
    monkeypatch.setenv("CALLFORGE_HOME", str(tmp_path / "state"))
    get_settings.cache_clear()
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    led = Ledger(ledger_url)
    led.create_all()
    led.record_spans("c1", "silver/redacted_transcripts",
                     [{"start": 0, "end": 5, "entity_type": "PHONE"}, {"start": 9, "end": 12, "entity_type": "PERSON"}],
                     method="presidio+spoken")
    resources = {"redactor": RedactorResource(), "ledger": LedgerResource(url=ledger_url),
                 "object_store": ObjectStoreResource(backend="local", root=str(tmp_path / "objects"))}
    try:
        result = dg.materialize([redaction_quality_report], resources=resources, raise_on_error=False)
    finally:
        get_settings.cache_clear()
    return result


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(k, "1")


def test_report_scores_set_and_passes_reachable_targets(tmp_path, monkeypatch):
    result = _run(tmp_path, monkeypatch, {"span_recall": 0.6, "precision": 0.5})
    assert result.success
    md = result.asset_materializations_for_node("silver__redaction_quality_report")[0].metadata
    assert md["spoken/utterances"].value == 3
    assert 0.6 <= md["spoken/span_recall"].value <= 1.0
    assert md["production_spans_by_type"].value == {"silver/redacted_transcripts": {"PERSON": 1, "PHONE": 1}}
    check = result.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["failing"].value == "none"
    latest = tmp_path / "objects" / "silver" / "redaction_quality_report" / "latest.json"
    rep = json.loads(latest.read_text())
    assert rep["sets"]["spoken"]["gold_spans"] == 2 and rep["passed"] is True
    assert "presidio_analyzer" in rep["engine"]
    # side by side with vanilla Presidio on the same text, per type, as a markdown table
    table = md["vs_vanilla_presidio"].value
    assert "| spoken | PHONE | always | 1 |" in table and "| spoken | EMAIL | always | 1 |" in table
    email = rep["comparison"]["sets"]["spoken"]["per_type"]["EMAIL"]
    assert email["vanilla"] < email["callforge"] == 1.0  # a spoken e-mail: vanilla only catches parts
    assert md["types_worse_than_vanilla"].value == 0
    assert md["spoken/direct_char_recall"].value >= 0.9
    # metadata, logs and the stored report carry numbers and ids, never the test text
    blob = json.dumps({k: str(v.value) for k, v in md.items()}) + latest.read_text()
    for e in result.all_events:
        blob += str(e.message or "")
    for value in ("five five five", "sarah", "hotmail"):
        assert value not in blob


def test_unmet_target_fails_the_check_and_names_the_metric(tmp_path, monkeypatch):
    result = _run(tmp_path, monkeypatch, {"span_recall": 0.5, "precision": 1.01})
    assert result.success  # the asset materialised; the check reports the failure
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failing"].value == "precision"


def test_broken_set_fails_the_run_with_file_and_line(tmp_path, monkeypatch):
    bad = [*ROWS[:1], {"id": "r9", "text": "x", "spans": [{"start": 0, "end": 40, "entity_type": "PHONE"}]}]
    result = _run(tmp_path, monkeypatch, {}, rows=bad)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "tiny.jsonl:2" in str(failure.event_specific_data.error)

"""Scoring of the redaction engine against labelled sets (pipeline/domain/privacy/evaluation.py).
Pure scoring tests use hand-made predictions; no engine is built here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.domain.privacy.evaluation import (
    DEFAULT_SETS,
    EvalRow,
    EvalSetError,
    errors,
    load_set,
    misses,
    production_summary,
    resolve_sets,
    score,
)


@dataclass
class P:
    start: int
    end: int
    entity_type: str


TEXT = "call me on five five five one two one two, thanks Anna"
PHONE = (11, 41, "PHONE")
NAME = (50, 54, "PERSON")


def test_full_and_partial_recall_and_precision():
    rows = [EvalRow("a", TEXT, [PHONE, NAME])]
    assert score(rows, [[P(11, 41, "PHONE"), P(50, 54, "PERSON")]])["span_recall"] == 1.0
    half = score(rows, [[P(11, 30, "PHONE")]])  # 19 of 30 phone chars: found; name missed
    assert half["span_recall"] == 0.5
    assert half["char_recall_critical"] == round(19 / 30, 4)
    assert half["per_entity"]["PERSON"]["recall"] == 0.0
    under = score(rows, [[P(11, 20, "PHONE")]])  # 9 of 30 chars: below the 50% rule
    assert under["per_entity"]["PHONE"]["recall"] == 0.0


def test_false_positive_counts_against_precision_but_neutral_does_not():
    row = EvalRow("b", "I live in Springfield, call me", [], neutral=[(10, 21, "LOCATION")])
    assert score([row], [[P(10, 21, "ADDRESS")]])["precision"] == 0.0  # no scored prediction: 0/0 -> 0
    assert score([row], [[P(10, 21, "ADDRESS")]])["predicted_spans"] == 0
    assert score([row], [[P(23, 27, "PERSON")]])["per_entity"]["PERSON"]["precision"] == 0.0


def test_type_agnostic_recall():
    rows = [EvalRow("c", TEXT, [PHONE])]
    assert score(rows, [[P(11, 41, "ACCOUNT")]])["span_recall"] == 1.0


def test_misses_carry_no_text_but_errors_do():
    rows = [EvalRow("d", TEXT, [PHONE, NAME])]
    preds = [[P(11, 41, "PHONE"), P(0, 4, "PERSON")]]
    m = misses(rows, preds)
    assert m == [{"id": "d", "missed": [{"start": 50, "end": 54, "entity_type": "PERSON"}],
                  "false_positives": [{"start": 0, "end": 4, "entity_type": "PERSON"}]}]
    assert "Anna" not in json.dumps(m)
    assert errors(rows, m)[0]["missed"] == [("Anna", "PERSON")]


def test_loaders_read_both_formats_and_bundled_sets_exist():
    for name, path in DEFAULT_SETS.items():
        rows = load_set(path)
        assert len(rows) >= 100, name
        assert all(0 <= s < e <= len(r.text) for r in rows for s, e, _ in r.gold)
    gen = load_set(DEFAULT_SETS["generated_small"])
    assert any(r.neutral for r in gen)  # out-of-scope types kept as neutral


@pytest.mark.parametrize("content,needle", [
    ('{"id": "x", "text": "abc", "spans": []}\nnot json\n', ":2:"),
    ('{"id": "x", "text": "abc", "spans": [{"start": 1, "end": 9, "entity_type": "PHONE"}]}\n', "outside the text"),
    ('{"id": "x", "spans": []}\n', ":1:"),
])
def test_broken_set_fails_naming_file_and_line(tmp_path: Path, content: str, needle: str):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(EvalSetError, match="bad.jsonl") as e:
        load_set(p)
    assert needle in str(e.value)


def test_missing_set_is_a_clear_error(tmp_path: Path):
    with pytest.raises(EvalSetError, match="not found"):
        load_set(tmp_path / "nope.jsonl")


def test_resolve_sets_relative_to_settings_root(tmp_path: Path):
    assert resolve_sets(None) == DEFAULT_SETS
    assert resolve_sets({"mine": "x/y.jsonl"}, tmp_path) == {"mine": tmp_path / "x" / "y.jsonl"}


def test_production_summary_counts_types_only():
    spans = [{"call_id": "c1", "asset": "silver/redacted_transcripts", "entity_type": "PHONE", "method": "m"},
             {"call_id": "c1", "asset": "silver/redacted_transcripts", "entity_type": "PERSON", "method": "m"},
             {"call_id": "c2", "asset": "silver/redacted_audio", "entity_type": "PHONE", "method": "mute"}]
    quarantine = [{"stage": "redact_audio", "reason": "audio_pii_audible"},
                  {"stage": "transcription", "reason": "audio_silent"}]
    s = production_summary(spans, quarantine)
    assert s["spans_by_asset"]["silver/redacted_transcripts"] == {"PERSON": 1, "PHONE": 1}
    assert s["calls_with_spans"] == {"silver/redacted_audio": 1, "silver/redacted_transcripts": 1}
    assert s["redaction_quarantine_by_reason"] == {"audio_pii_audible": 1}

"""Checksums verified on read (pipeline/domain/core/integrity.py) and the transcription
flow quarantining a call whose bronze audio changed in storage."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.domain.core.integrity import (
    CHECKSUM_MISMATCH,
    ChecksumMismatchError,
    sha256_of,
    verify_sha256,
)

DATA = b"RIFF....WAVEfmt " + bytes(range(256)) * 8
SHA = hashlib.sha256(DATA).hexdigest()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_sha256_of_bytes_and_file_agree(tmp_path: Path) -> None:
    f = tmp_path / "a.wav"
    f.write_bytes(DATA)
    assert sha256_of(DATA) == sha256_of(f) == sha256_of(str(f)) == SHA


@pytest.mark.parametrize("expected", [SHA, SHA.upper(), f" {SHA}\n"])
def test_verify_passes_and_returns_the_digest(expected: str, tmp_path: Path) -> None:
    f = tmp_path / "a.wav"
    f.write_bytes(DATA)
    assert verify_sha256(DATA, expected, "k") == SHA
    assert verify_sha256(f, expected, "k") == SHA


@pytest.mark.parametrize("data", [_flip(DATA, 0), _flip(DATA, len(DATA) // 2), _flip(DATA, len(DATA) - 1),
                                  DATA[:-1], DATA + b"\x00", b""])
def test_any_changed_byte_is_a_checksum_mismatch(data: bytes) -> None:
    with pytest.raises(ChecksumMismatchError) as ei:
        verify_sha256(data, SHA, "bronze/recordings/2026-11-03/acme/c1/audio.wav")
    err = ei.value
    assert err.reason == CHECKSUM_MISMATCH == "checksum_mismatch"
    assert err.expected == SHA and err.actual == hashlib.sha256(data).hexdigest()
    assert "bronze/recordings/2026-11-03/acme/c1/audio.wav" in str(err)  # names the object, not its content
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("expected", ["", None, "abc", "z" * 64, SHA[:-1]])
def test_a_missing_or_malformed_checksum_is_not_a_pass(expected) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no valid recorded sha256") as ei:
        verify_sha256(DATA, expected, "k")
    assert not isinstance(ei.value, ChecksumMismatchError)


def test_transcription_flow_quarantines_corrupt_audio_and_goes_on(tmp_path: Path) -> None:
    """The flow's call site, with a fake ASR: the corrupt call is quarantined as
    checksum_mismatch (object kept, never sent to ASR); the intact call is transcribed."""
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger, sqlite_url
    from pipeline.domain.core.models import CallMetadata, Consent, Segment, Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.transcription import transcribe_partition
    from pipeline.domain.speech.quality import QualityThresholds

    store, ledger = LocalObjectStore(tmp_path / "objects"), Ledger(sqlite_url(tmp_path / "ledger.db"))
    ledger.create_all()
    date = "2026-11-03"
    for cid in ("good", "bad"):
        meta = CallMetadata(call_id=cid, tenant="acme", started_at=datetime(2026, 11, 3, 9, tzinfo=timezone.utc),
                            agent_id="a1", direction="inbound", consent=Consent("granted", True))
        ledger.ingest_call(meta, f"h-{cid}", source=f"{cid}.json")
        keys = CallKeys(date, "acme", cid)
        store.put_bytes(keys.bronze_audio(".wav"), DATA)
        store.put_json(keys.bronze_sidecar, {"call_id": cid, "tenant": "acme", "audio_key": keys.bronze_audio(".wav"),
                                             "audio_sha256": SHA})
    bad_key = CallKeys(date, "acme", "bad").bronze_audio(".wav")
    corrupt = _flip(DATA, 100)
    store.put_bytes(bad_key, corrupt)
    sent: list[str] = []

    def fake_asr(jobs, on_progress=None):  # type: ignore[no-untyped-def]
        for cid, _path, *_ in jobs:
            sent.append(cid)
            yield cid, Transcript(source_format="asr", segments=[Segment("agent", 0.0, 1.0, "hello")])

    report = transcribe_partition(store, ledger, fake_asr, "fp", date, QualityThresholds())
    assert sent == ["good"]
    assert [(q.call_id, q.stage, q.reason) for q in report.quarantined] == [("bad", "transcription", "checksum_mismatch")]
    assert [(q["call_id"], q["reason"]) for q in ledger.open_quarantine(partition=date)] == [("bad", "checksum_mismatch")]
    assert ledger.get_call("bad")["state"] == "quarantined"
    assert store.get_bytes(bad_key) == corrupt  # kept as it is, for inspection
    assert ledger.processed("transcribe", "bad") is None
    assert ledger.processed("transcribe", "good") is not None


def test_audio_redaction_refuses_audio_that_changed_after_ingest(tmp_path: Path) -> None:
    """The second reader of bronze audio (silver/redacted_audio) verifies it too."""
    import numpy as np
    import soundfile as sf

    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger, sqlite_url
    from pipeline.domain.core.models import CallMetadata, Consent
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.redaction import redact_audio_partition

    store, ledger = LocalObjectStore(tmp_path / "objects"), Ledger(sqlite_url(tmp_path / "ledger.db"))
    ledger.create_all()
    date = "2026-11-03"
    buf = io.BytesIO()
    sf.write(buf, np.random.default_rng(0).uniform(-0.5, 0.5, (16000, 2)).astype("float32"), 16000,
             format="WAV", subtype="PCM_16")
    wav = buf.getvalue()
    for cid in ("good", "bad"):
        meta = CallMetadata(call_id=cid, tenant="acme", started_at=datetime(2026, 11, 3, 9, tzinfo=timezone.utc),
                            agent_id="a1", direction="inbound", consent=Consent("granted", True))
        ledger.ingest_call(meta, f"h-{cid}", source=f"{cid}.json")
        keys = CallKeys(date, "acme", cid)
        store.put_bytes(keys.bronze_audio(".wav"), wav)
        store.put_json(keys.bronze_sidecar, {"call_id": cid, "tenant": "acme", "audio_key": keys.bronze_audio(".wav"),
                                             "audio_sha256": hashlib.sha256(wav).hexdigest()})
        store.put_json(keys.redacted_transcript, {"segments": [], "pii_spans": [
            {"segment": 0, "start": 0, "end": 4, "entity_type": "PERSON", "t_start": 0.2, "t_end": 0.4}]})
    bad_key = CallKeys(date, "acme", "bad").bronze_audio(".wav")
    store.put_bytes(bad_key, _flip(wav, 5000))

    report = redact_audio_partition(store, ledger, date, padding_s=0.1, actor="test")
    assert report.processed == ["good"]
    assert [(q.call_id, q.stage, q.reason) for q in report.quarantined] == [("bad", "redact_audio", "checksum_mismatch")]
    assert not store.exists(CallKeys(date, "acme", "bad").redacted_audio)
    assert store.exists(CallKeys(date, "acme", "good").redacted_audio)
    assert ledger.audit_rows(call_id="bad", action="raw_audio_access") == []

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
    from pipeline.domain.core.ledger import Ledger, sqlite_url
    from pipeline.domain.core.models import Segment, Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.transcription import transcribe_partition
    from pipeline.domain.speech.quality import QualityThresholds

    store, ledger = LocalObjectStore(tmp_path / "objects"), Ledger(sqlite_url(tmp_path / "ledger.db"))
    ledger.create_all()
    date = "2026-11-03"
    _bronze_call(store, ledger, date, "good", DATA)
    bad_key = _bronze_call(store, ledger, date, "bad", DATA).bronze_audio(".wav")
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


def _bronze_call(store, ledger, date: str, cid: str, wav: bytes):
    """An ingested call whose audio and sidecar are in bronze; returns its keys."""
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.models import CallMetadata, Consent

    meta = CallMetadata(call_id=cid, tenant="acme", started_at=datetime(2026, 11, 3, 9, tzinfo=timezone.utc),
                        agent_id="a1", direction="inbound", consent=Consent("granted", True))
    ledger.ingest_call(meta, f"h-{cid}", source=f"{cid}.json")
    keys = CallKeys(date, "acme", cid)
    store.put_bytes(keys.bronze_audio(".wav"), wav)
    store.put_json(keys.bronze_sidecar, {"call_id": cid, "tenant": "acme", "audio_key": keys.bronze_audio(".wav"),
                                         "audio_sha256": hashlib.sha256(wav).hexdigest()})
    return keys


def test_audio_redaction_refuses_audio_that_changed_after_ingest(tmp_path: Path) -> None:
    """The second reader of bronze audio (silver/redacted_audio) verifies it too."""
    import numpy as np
    import soundfile as sf

    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger, sqlite_url
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
        keys = _bronze_call(store, ledger, date, cid, wav)
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


def test_audio_redaction_listens_around_each_muted_value(tmp_path: Path) -> None:
    """silver/redacted_audio's verification, end to end over real WAV bytes with a stand-in
    decoder that 'hears' a word where its tone still sounds (440 Hz = the name, 880 Hz = a
    common word the engine tagged as a name). Call ``clipped``: the transcript's word time
    is late, the mute misses the name's start -> quarantined. Call ``ok``: both values muted;
    the common word is said again elsewhere, which is not a leak of what was muted."""
    import numpy as np
    import soundfile as sf

    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger, sqlite_url
    from pipeline.domain.core.models import Segment, Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.redaction import redact_audio_partition

    sr = 16000

    def call_audio(tones: list[tuple[float, float, float]]) -> bytes:
        data = np.zeros((20 * sr, 2), dtype="float32")
        for a, b, hz in tones:
            t = np.arange(int(a * sr), int(b * sr)) / sr
            data[int(a * sr):int(b * sr), 0] = 0.5 * np.sin(2 * np.pi * hz * t)
        buf = io.BytesIO()
        sf.write(buf, data, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    heard_lengths: list[float] = []

    def hears(wav: bytes) -> str:
        data, rate = sf.read(io.BytesIO(wav), always_2d=True, dtype="float32")
        heard_lengths.append(len(data) / rate)
        spec = np.abs(np.fft.rfft(data[:, 0]))
        freqs = np.fft.rfftfreq(len(data), 1 / rate)
        strong = lambda hz: spec[np.abs(freqs - hz) < 5].max(initial=0) > 50
        return " ".join(w for hz, w in ((440, "sarah"), (880, "perfect")) if strong(hz))

    store, ledger = LocalObjectStore(tmp_path / "objects"), Ledger(sqlite_url(tmp_path / "ledger.db"))
    ledger.create_all()
    date = "2026-11-03"
    text = "this is Sarah and that is perfect"
    name, word = (text.index("Sarah"), text.index("Sarah") + 5), (text.index("perfect"), len(text))
    calls = {  # call: (tones, the transcript's word times of the name and of the word)
        "ok": ([(2.0, 2.6, 440), (8.0, 8.4, 880), (15.0, 15.4, 880)], (2.0, 2.6), (8.0, 8.4)),
        "clipped": ([(10.0, 10.6, 440)], (10.5, 10.9), (17.0, 17.2)),
    }
    for cid, (tones, t_name, t_word) in calls.items():
        keys = _bronze_call(store, ledger, date, cid, call_audio(tones))
        store.put_json(keys.transcript, Transcript("asr", [Segment("customer", 0.0, 20.0, text)]).to_dict())
        store.put_json(keys.redacted_transcript, {"segments": [], "pii_spans": [
            {"segment": 0, "start": name[0], "end": name[1], "entity_type": "PERSON", "t_start": t_name[0], "t_end": t_name[1]},
            {"segment": 0, "start": word[0], "end": word[1], "entity_type": "PERSON", "t_start": t_word[0], "t_end": t_word[1]},
        ]})

    report = redact_audio_partition(store, ledger, date, padding_s=0.1, actor="test", transcribe=hears)
    assert report.processed == ["ok"]
    assert [(q.call_id, q.reason) for q in report.quarantined] == [("clipped", "audio_pii_audible")]
    assert store.exists(CallKeys(date, "acme", "ok").redacted_audio)
    assert not store.exists(CallKeys(date, "acme", "clipped").redacted_audio)
    assert report.counts["verified_calls"] == 2
    # one packed recording per call (the stretches around its values, never the 20 s call),
    # plus the name's stretch alone to confirm what was heard in call "clipped"
    assert len(heard_lengths) == 3 and max(heard_lengths) < 10.0
    # the whole-call check this replaced would have heard "perfect" at 15 s in call "ok"
    assert "perfect" in hears(store.get_bytes(CallKeys(date, "acme", "ok").redacted_audio))

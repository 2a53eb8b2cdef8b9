"""The silver redaction flows of one day partition: transcripts, audio (muted spans verified
by re-transcription) and event payloads. Called by ``silver/redacted_*``; transcripts can be
redacted one ``Shard`` of the day's calls at a time.

Idempotent per call (input hash, code version in the ledger); a call that fails is
quarantined and the batch goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.domain.core.integrity import CHECKSUM_MISMATCH, ChecksumMismatchError, verify_sha256
from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Event, Transcript, stable_hash
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import (
    Shard,
    _bronze_sidecar,
    _quarantine,
    as_shard,
    in_shard,
    open_quarantine_ids,
)
from pipeline.domain.intake.ingest import StageReport, partition_calls
from pipeline.domain.privacy.audio import pii_time_spans, verify_redacted_windows
from pipeline.domain.privacy.engine import Redactor
from pipeline.domain.privacy.residual import residual_pii
from pipeline.domain.privacy.transcripts import redact_transcript
from pipeline.domain.speech.audio import AudioError

REDACT_VERSION = "3"
REDACT_AUDIO_VERSION = "2"  # 2: verified around the muted spans, not over the whole call
REDACT_EVENTS_VERSION = "2"

# Declared event-payload schema: fields that carry PII by definition. Everything else that
# is free text goes through the redaction engine.
EVENT_PII_FIELDS = {
    "caller_number": "PHONE",
    "phone": "PHONE",
    "email": "EMAIL",
    "customer_name": "PERSON",
    "name": "PERSON",
    "address": "ADDRESS",
    "card_number": "CARD",
    "ssn": "SSN",
    "date_of_birth": "DATE_OF_BIRTH",
}


def redact_partition(store: ObjectStore, ledger: Ledger, redactor: Redactor, date: str,
                     shard: Shard | tuple[int, int] | None = None) -> StageReport:
    """Redacted transcripts for every call (of ``shard``, None: all) that passed
    transcription and its quality gate. Shards' reports merge with ``merge_reports``."""
    report = StageReport()
    shard = as_shard(shard)
    blocked = open_quarantine_ids(ledger, date, ("transcription", "quality_gate"))
    for call in partition_calls(ledger, date):
        cid = call["call_id"]
        if not in_shard(cid, shard):
            continue
        keys = CallKeys(date, call["tenant"], cid)
        if cid in blocked or not store.exists(keys.transcript):
            continue
        raw = store.get_bytes(keys.transcript)
        h = hashlib.sha256(raw).hexdigest()
        if ledger.is_current("redact", cid, h, REDACT_VERSION) and store.exists(keys.redacted_transcript):
            report.skipped.append(cid)
            continue
        transcript = Transcript.from_dict(json.loads(raw))
        redacted, spans = redact_transcript(transcript, redactor, tenant=call["tenant"])
        doc = redacted.to_dict()
        doc["pii_spans"] = [{k: s[k] for k in ("segment", "start", "end", "entity_type", "t_start", "t_end") if k in s} for s in spans]
        store.put_json(keys.redacted_transcript, doc)
        ledger.record_spans(cid, "silver/redacted_transcripts", spans, method="presidio+spoken")
        ledger.mark_processed("redact", cid, h, REDACT_VERSION, store.uri(keys.redacted_transcript))
        report.processed.append(cid)
        report.counts["pii_spans"] += len(spans)
        for s in spans:
            report.counts[f"entity:{s['entity_type']}"] += 1
    return report


def residual_pii_by_call(store: ObjectStore, keys_by_call: dict[str, str], text_of: Callable[[Any], list[str]]) -> dict[str, int]:
    """Count residual-PII findings per call (never the values)."""
    findings: dict[str, int] = {}
    for cid, key in keys_by_call.items():
        if not store.exists(key):
            continue
        raw = store.get_bytes(key).decode()
        n = sum(len(residual_pii(t)) for t in text_of(raw))
        if n:
            findings[cid] = n
    return findings


def transcript_texts(raw: str) -> list[str]:
    d = json.loads(raw)
    texts = [s["text"] for s in d.get("segments", [])]
    texts += [w["word"] for s in d.get("segments", []) for w in s.get("words", [])]
    return texts


def event_texts(raw: str) -> list[str]:
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for line in raw.splitlines():
        if line.strip():
            walk(json.loads(line).get("payload"))
    return out


def mute_spans(audio_bytes: bytes, spans: list[tuple[float, float, str]]) -> tuple[bytes, int]:
    """Silence the given time spans on every channel; returns WAV bytes and samples muted."""
    import numpy as np
    import soundfile as sf

    data, sr = sf.read(io.BytesIO(audio_bytes), always_2d=True, dtype="float32")
    muted = 0
    for start, end, _ in spans:
        a, b = max(0, int(start * sr)), min(len(data), int(end * sr) + 1)
        if b > a:
            data[a:b, :] = 0.0
            muted += b - a
    buf = io.BytesIO()
    sf.write(buf, np.asarray(data), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue(), muted


def redact_audio_partition(store: ObjectStore, ledger: Ledger, date: str, padding_s: float, actor: str,
                           transcribe: Callable[[bytes], str] | None = None,
                           shard: Shard | tuple[int, int] | None = None) -> StageReport:
    """Silence PII word spans in each call's audio (of ``shard``, None: every call), from the
    redacted transcript's spans.

    With ``transcribe`` (the real ASR: WAV bytes -> text), the redacted audio around the
    muted values is re-transcribed and scanned for them (``verify_redacted_windows``); a
    call whose PII is still audible is quarantined (``audio_pii_audible``) and its redacted
    audio is not written."""
    report = StageReport()
    shard = as_shard(shard)
    for call in partition_calls(ledger, date):
        cid = call["call_id"]
        if not in_shard(cid, shard):
            continue
        keys = CallKeys(date, call["tenant"], cid)
        sc = _bronze_sidecar(store, keys)
        if sc is None or not store.exists(keys.redacted_transcript):
            continue
        red = store.get_json(keys.redacted_transcript)
        spans = pii_time_spans([s for s in red.get("pii_spans", []) if s.get("t_start") is not None], padding_s=padding_s)
        h = stable_hash([sc["audio_sha256"], spans, padding_s])
        if ledger.is_current("redact_audio", cid, h, REDACT_AUDIO_VERSION) and store.exists(keys.redacted_audio):
            report.skipped.append(cid)
            continue
        audio = store.get_bytes(sc["audio_key"])
        try:  # the raw audio must still be what was ingested (and transcribed)
            verify_sha256(audio, sc["audio_sha256"], sc["audio_key"])
        except ChecksumMismatchError as e:
            _quarantine(ledger, report, cid, date, call["tenant"], "redact_audio", CHECKSUM_MISMATCH, str(e),
                        store.uri(sc["audio_key"]))
            continue
        try:
            wav, muted = mute_spans(audio, spans)
        except Exception as e:  # decoding formats soundfile cannot read: quarantine, go on
            _quarantine(ledger, report, cid, date, call["tenant"], "redact_audio", "audio_redaction_failed",
                        f"{type(e).__name__} on {Path(sc['audio_key']).name}", store.uri(sc["audio_key"]))
            continue
        ledger.audit("raw_audio_access", actor, cid, call["tenant"], reason="audio redaction",
                     details={"uri": store.uri(sc["audio_key"])})
        if transcribe is not None and spans:
            values, types, times = _redacted_values(store, keys, red.get("pii_spans", []))
            # a value without word times was never muted: it is still in the audio
            audible = [t for t, ts in zip(types, times) if ts is None]
            timed = [i for i, ts in enumerate(times) if ts is not None]
            audible += verify_redacted_windows(_windows_transcriber(_quiet(transcribe), wav),
                                               [times[i] for i in timed], [values[i] for i in timed],
                                               [types[i] for i in timed])
            report.counts["verified_calls"] += 1
            if audible:
                _quarantine(ledger, report, cid, date, call["tenant"], "redact_audio", "audio_pii_audible",
                            f"{len(audible)} redacted value(s) still heard: {sorted(set(audible))}",
                            store.uri(sc["audio_key"]))
                continue
        store.put_bytes(keys.redacted_audio, wav)
        ledger.record_spans(cid, "silver/redacted_audio",
                            [{"segment": -1, "start": 0, "end": 0, "entity_type": t, "t_start": a, "t_end": b}
                             for a, b, t in spans], method="silence")
        ledger.mark_processed("redact_audio", cid, h, REDACT_AUDIO_VERSION, store.uri(keys.redacted_audio))
        report.processed.append(cid)
        report.counts["muted_seconds"] += sum(b - a for a, b, _ in spans)
        report.counts["spans"] += len(spans)
    return report


def _redacted_values(store: ObjectStore, keys: CallKeys,
                     pii_spans: list[dict]) -> tuple[list[str], list[str], list[tuple[float, float] | None]]:
    """The raw values behind a call's spans (with their types and word times, None when the
    span has none), read from the raw transcript, only to check the redacted audio; they
    never leave this function's caller."""
    raw = Transcript.from_dict(store.get_json(keys.transcript))
    values, types, times = [], [], []
    for sp in pii_spans:
        seg = raw.segments[sp["segment"]] if 0 <= sp.get("segment", -1) < len(raw.segments) else None
        if seg is not None:
            values.append(seg.text[sp["start"]:sp["end"]])
            types.append(sp["entity_type"])
            has_times = sp.get("t_start") is not None and sp.get("t_end") is not None
            times.append((float(sp["t_start"]), float(sp["t_end"])) if has_times else None)
    return values, types, times


#: silence between the stretches packed into one recording for verification
PACK_GAP_S = 1.0


def _windows_transcriber(transcribe: Callable[[bytes], str], wav_bytes: bytes) -> Callable[[list[tuple[float, float]]], str]:
    """``[(start_s, end_s), ...] -> the text heard in them``: the stretches of one WAV are
    packed into ONE recording, PACK_GAP_S of silence apart, and transcribed once (Whisper's
    encoder always reads 30 s: one short stretch costs as much as a packed half-minute)."""
    import numpy as np
    import soundfile as sf

    data, sr = sf.read(io.BytesIO(wav_bytes), always_2d=True, dtype="float32")
    gap = np.zeros((int(PACK_GAP_S * sr), data.shape[1]), dtype="float32")

    def run(windows: list[tuple[float, float]]) -> str:
        parts = []
        for start, end in windows:
            a, b = max(0, int(start * sr)), min(len(data), int(end * sr) + 1)
            if b > a:
                parts += [data[a:b], gap]
        if not parts:
            return ""
        buf = io.BytesIO()
        sf.write(buf, np.concatenate(parts), sr, format="WAV", subtype="PCM_16")
        return transcribe(buf.getvalue())

    return run


def _quiet(transcribe: Callable[[bytes], str]) -> Callable[[bytes], str]:
    """Silence left after redaction may be all there is: nothing heard is the good case."""
    def run(wav: bytes) -> str:
        try:
            return transcribe(wav)
        except AudioError:
            return ""
    return run


def redact_event(event: Event, redactor: Redactor, tenant: str, key: bytes | None) -> tuple[Event, int]:
    """Redact one event's payload: declared PII fields by schema, free text by the engine."""
    n = 0

    def scrub(name: str | None, v: Any) -> Any:
        nonlocal n
        if isinstance(v, dict):
            return {k: scrub(k, x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(name, x) for x in v]
        if isinstance(v, str):
            if name in EVENT_PII_FIELDS:
                n += 1
                etype = EVENT_PII_FIELDS[name]
                if key:
                    digest = hmac.new(key, f"{tenant}|{etype}|{v}".encode(), hashlib.sha256).hexdigest()[:12]
                    return f"[{etype}_{digest}]"
                return f"[{etype}]"
            res = redactor.redact(v, tenant=tenant)
            n += len(res.spans)
            return res.text
        return v

    return Event(event.trace_id, event.seq, event.ts, event.type, scrub(None, event.payload)), n


def redact_events_partition(store: ObjectStore, ledger: Ledger, redactor: Redactor, date: str,
                            key: bytes | None) -> StageReport:
    from pipeline.domain.intake.events import events_to_jsonl, parse_event_lines

    report = StageReport()
    calls = [c for c in ledger.calls(call_date=date) if c["state"] in ("active", "opt_out", "quarantined")]
    for call in calls:
        cid = call["call_id"]
        keys = CallKeys(date, call["tenant"], cid)
        if not store.exists(keys.events):
            continue
        raw = store.get_bytes(keys.events)
        h = hashlib.sha256(raw).hexdigest()
        if ledger.is_current("redact_events", cid, h, REDACT_EVENTS_VERSION) and store.exists(keys.redacted_events):
            report.skipped.append(cid)
            continue
        events = parse_event_lines(raw.decode().splitlines(), source=keys.events).events
        out = []
        for ev in events:
            red, n = redact_event(ev, redactor, call["tenant"], key)
            out.append(red)
            report.counts["pii_fields"] += n
        store.put_bytes(keys.redacted_events, events_to_jsonl(out).encode())
        ledger.mark_processed("redact_events", cid, h, REDACT_EVENTS_VERSION, store.uri(keys.redacted_events))
        report.processed.append(cid)
        report.counts["events"] += len(out)
    return report

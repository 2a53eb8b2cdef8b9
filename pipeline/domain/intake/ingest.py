"""Bronze ingestion: landing zone -> bronze objects + ledger, per day partition.

Per-call idempotent: a call whose input hash and code version are unchanged is skipped.
Nothing is lost: an input that cannot be ingested keeps its bytes in the quarantine area
and gets a quarantine record with a machine-readable reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pipeline.domain.core.keys import CallKeys, delete_call_layers, manifest_key, quarantine_raw_key
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import CallMetadata, Event, QuarantineRecord, sha256_bytes
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.intake.events import events_to_jsonl, merge_events, parse_event_lines
from pipeline.domain.intake.formats import TranscriptFormatError, UnknownFormatError, parse_transcript
from pipeline.domain.intake.landing import AUDIO_EXTENSIONS, LandingFile, LandingZone
from pipeline.domain.intake.sidecar import SidecarError, parse_sidecar, started_at_or_none

BRONZE_RECORDINGS_VERSION = "1"
BRONZE_IMPORTS_VERSION = "1"
BRONZE_EVENTS_VERSION = "1"


@dataclass
class LandedCall:
    """One recording in the landing zone with its sidecar, routed to a day partition."""

    audio: LandingFile | None
    sidecar: LandingFile | None
    call_id: str
    date: str
    meta: CallMetadata | None = None
    error: SidecarError | None = None


@dataclass
class StageReport:
    processed: list[str] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)  # every input seen for the partition
    skipped: list[str] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    #: structured, text-free details for asset metadata (e.g. skipped cues per file)
    details: dict[str, Any] = field(default_factory=dict)

    def reasons(self) -> dict[str, int]:
        return dict(Counter(q.reason for q in self.quarantined))


def _date_of(f: LandingFile) -> str:
    return datetime.fromtimestamp(f.mtime_ns / 1e9, tz=timezone.utc).date().isoformat()


def scan_recordings(lz: LandingZone, files: list[LandingFile] | None = None) -> list[LandedCall]:
    """Pair audio with sidecars and route each call to its day partition.

    A call with an invalid sidecar is routed by the sidecar's start time when that can
    be read, else by the file's arrival date, so it is quarantined in some partition.
    ``files``: route only these recordings files (a subset of ``lz.list("recordings")``
    holding both files of each call wanted); only their sidecars are read.
    """
    files = lz.list("recordings") if files is None else files
    audio = {f.stem: f for f in files if f.suffix in AUDIO_EXTENSIONS}
    sidecars = {f.stem: f for f in files if f.suffix == ".json"}
    out: list[LandedCall] = []
    for call_id in sorted(set(audio) | set(sidecars)):
        a, s = audio.get(call_id), sidecars.get(call_id)
        arrival = _date_of(a or s)  # type: ignore[arg-type]
        if s is None:
            err = SidecarError(f"recordings/{call_id}", "sidecar_missing", "no sidecar JSON next to the audio")
            out.append(LandedCall(a, None, call_id, arrival, error=err))
            continue
        raw = lz.read_bytes(s.key)
        try:
            meta = parse_sidecar(raw, source=s.name)
            out.append(LandedCall(a, s, meta.call_id, meta.call_date, meta=meta))
        except SidecarError as e:
            started = started_at_or_none(raw)
            date = started.astimezone(timezone.utc).date().isoformat() if started else arrival
            out.append(LandedCall(a, s, call_id, date, error=e))
    return out


def ingest_recordings(
    lz: LandingZone, store: ObjectStore, ledger: Ledger, date: str, actor: str
) -> StageReport:
    report = StageReport()
    for call in (c for c in scan_recordings(lz) if c.date == date):
        report.landed.append(call.call_id)
        audio_bytes = lz.read_bytes(call.audio.key) if call.audio else b""
        sidecar_bytes = lz.read_bytes(call.sidecar.key) if call.sidecar else b""
        input_hash = sha256_bytes(audio_bytes + b"\x00" + sidecar_bytes)
        if ledger.is_current("bronze", call.call_id, input_hash, BRONZE_RECORDINGS_VERSION):
            report.skipped.append(call.call_id)
            continue
        if call.audio is None:
            existing = ledger.get_call(call.call_id)
            if existing and existing.get("state") == "opt_out":
                report.skipped.append(call.call_id)  # audio was discarded on purpose
                continue
            call = LandedCall(None, call.sidecar, call.call_id, call.date, call.meta,
                              SidecarError(call.sidecar.name if call.sidecar else call.call_id,
                                           "audio_missing", "sidecar without a recording"))
        if call.error is not None:
            rec = _quarantine_inputs(lz, store, call, date, "bronze", call.error.reason, str(call.error))
            ledger.add_quarantine(rec)
            report.quarantined.append(rec)
            ledger.mark_processed("bronze", call.call_id, input_hash, BRONZE_RECORDINGS_VERSION, rec.source_uri)
            continue
        meta = call.meta
        assert meta is not None and call.audio is not None
        # one transaction: a crash or a database restart never leaves a call without its
        # consent, and a retry after one appends no second (identical) consent event
        ledger.ingest_call(meta, input_hash, source=call.sidecar.name, actor=actor)
        if not meta.consent.recording_allowed:
            # Consent: opt_out -> the recording is never kept. Events still flow (redacted).
            row = ledger.get_call(meta.call_id)
            if row and row["state"] == "active":  # consent withdrawn after an earlier ingest
                n = delete_call_layers(store, CallKeys(row["call_date"], meta.tenant, meta.call_id), ("audio", "transcript"))
                ledger.forget_processed(meta.call_id)
                ledger.set_state(meta.call_id, "opt_out", actor, "recording consent withdrawn",
                                 details={"objects_deleted": n})
            lz.delete(call.audio.key)
            ledger.audit("opt_out_discard", actor, meta.call_id, meta.tenant, reason="consent.recording=opt_out",
                         details={"landing_key": call.audio.key, "bytes": len(audio_bytes)})
            ledger.mark_processed("bronze", meta.call_id, input_hash, BRONZE_RECORDINGS_VERSION, "")
            report.opted_out.append(meta.call_id)
            continue
        keys = CallKeys(date, meta.tenant, meta.call_id)
        audio_key = keys.bronze_audio(call.audio.suffix)
        store.put_bytes(audio_key, audio_bytes)
        bronze_sidecar = {
            **meta.to_dict(),
            "audio_key": audio_key,
            "audio_sha256": sha256_bytes(audio_bytes),
            "audio_bytes": len(audio_bytes),
            "source_uri": lz.uri(call.audio.key),
            "input_hash": input_hash,
        }
        store.put_json(keys.bronze_sidecar, bronze_sidecar)
        ledger.mark_processed("bronze", meta.call_id, input_hash, BRONZE_RECORDINGS_VERSION, store.uri(audio_key))
        report.processed.append(meta.call_id)
    return report


def _quarantine_inputs(lz: LandingZone, store: ObjectStore, call: LandedCall, date: str,
                       stage: str, reason: str, detail: str) -> QuarantineRecord:
    """Copy the inputs' bytes into the quarantine area and describe why."""
    uri = ""
    for f in (call.audio, call.sidecar):
        if f is not None:
            key = quarantine_raw_key(date, f.name)
            store.put_bytes(key, lz.read_bytes(f.key))
            uri = uri or store.uri(key)
    tenant = call.meta.tenant if call.meta else None
    return QuarantineRecord(call.call_id, stage, reason, detail, uri, partition=date, tenant=tenant)


def _quarantine_file(store: ObjectStore, ledger: Ledger, report: StageReport, name: str, data: bytes, date: str,
                     tenant: str, stage: str, reason: str, detail: str) -> QuarantineRecord:
    """Keep a landed file's bytes in the quarantine area and record why (nothing is lost)."""
    qkey = quarantine_raw_key(date, name)
    store.put_bytes(qkey, data)
    rec = QuarantineRecord(name.split(".", 1)[0], stage, reason, detail, store.uri(qkey), partition=date, tenant=tenant)
    ledger.add_quarantine(rec)
    report.quarantined.append(rec)
    return rec


def rebuild_manifest(store: ObjectStore, date: str) -> dict[str, Any]:
    """Manifest of a day's bronze recordings, rebuilt from the objects themselves."""
    prefix = f"bronze/recordings/{date}/"
    calls = {}
    for key in store.list(prefix):
        if key.endswith("/sidecar.json"):
            sc = store.get_json(key)
            calls[sc["call_id"]] = {
                "tenant": sc["tenant"],
                "audio_key": sc["audio_key"],
                "audio_sha256": sc["audio_sha256"],
                "audio_bytes": sc["audio_bytes"],
                "consent_training": sc["consent"]["training"],
            }
    manifest = {"date": date, "calls": dict(sorted(calls.items())), "count": len(calls)}
    store.put_json(manifest_key(date), manifest)
    return manifest


def partition_calls(ledger: Ledger, date: str, states: tuple[str, ...] = ("active",)) -> list[dict]:
    return [c for c in ledger.calls(call_date=date) if c["state"] in states]


def import_transcripts(lz: LandingZone, store: ObjectStore, ledger: Ledger, date: str, actor: str) -> StageReport:
    """Platform transcripts for this partition's calls -> the one transcript model."""
    report = StageReport()
    calls = {c["call_id"]: c for c in ledger.calls(call_date=date)}
    for f in lz.list("transcripts"):
        call = calls.get(f.stem)
        if call is None:
            continue  # not arrived yet (or another day): stays in the landing zone
        if call["state"] == "opt_out":
            lz.delete(f.key)
            ledger.audit("opt_out_discard", actor, f.stem, call["tenant"], reason="consent.recording=opt_out",
                         details={"landing_key": f.key, "kind": "transcript"})
            report.opted_out.append(f.stem)
            continue
        data = lz.read_bytes(f.key)
        h = sha256_bytes(data)
        if ledger.is_current("import", f.stem, h, BRONZE_IMPORTS_VERSION):
            report.skipped.append(f.stem)
            continue
        keys = CallKeys(date, call["tenant"], f.stem)
        try:
            with lz.local_path(f.key) as path:
                transcript = parse_transcript(path)
        except TranscriptFormatError as e:
            reason = "transcript_unknown_format" if isinstance(e, UnknownFormatError) else "transcript_malformed"
            rec = _quarantine_file(store, ledger, report, f.name, data, date, call["tenant"], "import", reason, str(e))
            ledger.mark_processed("import", f.stem, h, BRONZE_IMPORTS_VERSION, rec.source_uri)
            continue
        transcript.call_id = f.stem
        skipped = transcript.quality.get("import", {}).get("cues_skipped", 0)
        if skipped:  # bad cues were dropped, the good ones kept: say where
            report.counts["cues_skipped"] += skipped
            report.details.setdefault("skipped_cue_lines", {})[f.name] = transcript.quality["import"]["skipped_lines"]
        doc = transcript.to_dict() | {"source_file": f.name, "source_sha256": h}
        store.put_json(keys.imported_transcript, doc)
        ledger.mark_processed("import", f.stem, h, BRONZE_IMPORTS_VERSION, store.uri(keys.imported_transcript))
        report.processed.append(f.stem)
        report.counts[transcript.source_format] += 1
    return report


def ingest_events(lz: LandingZone, store: ObjectStore, ledger: Ledger, date: str, actor: str) -> StageReport:
    """Append-only event logs per call, ordered by trace_id + seq, duplicates dropped."""
    report = StageReport()
    calls = {c["call_id"]: c for c in ledger.calls(call_date=date)}
    for f in lz.list("events"):
        call = calls.get(f.stem)
        if call is None or call["state"] in ("purged", "erased"):
            continue
        data = lz.read_bytes(f.key)
        h = sha256_bytes(data)
        if ledger.is_current("events", f.stem, h, BRONZE_EVENTS_VERSION):
            report.skipped.append(f.stem)
            continue
        parsed = parse_event_lines(data.decode("utf-8", errors="replace").splitlines(), source=f.name)
        keys = CallKeys(date, call["tenant"], f.stem)
        existing: list[Event] = []
        if store.exists(keys.events):
            existing = parse_event_lines(store.get_bytes(keys.events).decode().splitlines(), source=keys.events).events
        merged, added = merge_events(existing, parsed.events)
        if not merged and parsed.invalid:
            _quarantine_file(store, ledger, report, f.name, data, date, call["tenant"], "events", "events_unreadable",
                             f"{f.name}: no valid event lines ({len(parsed.invalid)} invalid)")
        else:
            store.put_bytes(keys.events, events_to_jsonl(merged).encode())
        ledger.mark_processed("events", f.stem, h, BRONZE_EVENTS_VERSION, store.uri(keys.events))
        report.processed.append(f.stem)
        report.counts["events_added"] += added
        report.counts["duplicates"] += parsed.duplicates
        report.counts["invalid_lines"] += len(parsed.invalid)
        report.counts["gaps"] += sum(len(v) for v in parsed.gaps.values())
    return report

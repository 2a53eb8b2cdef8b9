"""The silver transcription flow of one day partition: each call transcribed (or its
platform transcript imported), put through the quality gate, stored or quarantined.
Called by ``silver/transcripts``.

Idempotent per call: the stage records (input hash, code version) in the ledger and skips
calls whose inputs and code are unchanged. Failures become quarantine records; one bad call
never stops the batch.

Sharded: ``transcribe_part`` does one ``Shard`` of the day's calls (several workers share a
day), ``merge_transcription`` turns the parts into the partition's report;
``transcribe_partition`` is both in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Transcript
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import (
    Shard,
    _bronze_sidecar,
    _imported,
    _intact_audio,
    _local_paths,
    _quarantine,
    as_shard,
    in_shard,
    merge_reports,
)
from pipeline.domain.intake.ingest import StageReport, partition_calls
from pipeline.domain.speech.audio import AudioError
from pipeline.domain.speech.quality import QualityThresholds, quality_gate

TRANSCRIBE_VERSION = "1"


@dataclass
class TranscriptionPart:
    """What one shard did: its report, and each transcribed call's worst-channel speech
    coverage (the partition's minimum and mean are computed over every shard's calls)."""

    report: StageReport = field(default_factory=StageReport)
    coverages: list[float] = field(default_factory=list)


def transcribe_partition(
    store: ObjectStore,
    ledger: Ledger,
    run_asr: Callable[..., Iterator[tuple[str, object]]],
    asr_fingerprint: str,
    date: str,
    thresholds: QualityThresholds,
    on_progress: Callable[[int, int], None] | None = None,
    shard: Shard | tuple[int, int] | None = None,
) -> StageReport:
    """Transcribe every active call of the partition (or of its ``shard``) that has no
    current transcript."""
    return merge_transcription([transcribe_part(store, ledger, run_asr, asr_fingerprint, date, thresholds,
                                                on_progress, shard)])


def merge_transcription(parts: Iterable[TranscriptionPart]) -> StageReport:
    """The partition's report from its shards' parts."""
    parts = list(parts)
    report = merge_reports(p.report for p in parts)
    coverages = [c for p in parts for c in p.coverages]
    if coverages:  # completeness of the day: the worst call's worst channel, and the mean
        report.counts["speech_coverage_min"] = min(coverages)
        report.counts["speech_coverage_mean"] = sum(coverages) / len(coverages)
    return report


def transcribe_part(
    store: ObjectStore,
    ledger: Ledger,
    run_asr: Callable[..., Iterator[tuple[str, object]]],
    asr_fingerprint: str,
    date: str,
    thresholds: QualityThresholds,
    on_progress: Callable[[int, int], None] | None = None,
    shard: Shard | tuple[int, int] | None = None,
) -> TranscriptionPart:
    """Transcribe the calls of ``shard`` (None: every call) that need it."""
    part = TranscriptionPart()
    report, coverages = part.report, part.coverages
    shard = as_shard(shard)
    code_version = f"{TRANSCRIBE_VERSION}:{asr_fingerprint}"
    todo: list[tuple[str, CallKeys, dict]] = []
    for call in partition_calls(ledger, date):
        if not in_shard(call["call_id"], shard):
            continue
        keys = CallKeys(date, call["tenant"], call["call_id"])
        sc = _bronze_sidecar(store, keys)
        if sc is None:
            continue
        if ledger.is_current("transcribe", call["call_id"], sc["audio_sha256"], code_version):
            report.skipped.append(call["call_id"])
            continue
        todo.append((call["call_id"], keys, sc))
    if not todo:
        return part
    by_id = {cid: (keys, sc) for cid, keys, sc in todo}
    with _local_paths(store, [sc["audio_key"] for _, _, sc in todo]) as paths:
        todo, paths = _intact_audio(store, ledger, report, date, "transcription", todo, paths)
        jobs = [
            (cid, path, {int(k): v for k, v in (sc.get("channel_map") or {}).items()} or None,
             _imported(store, keys))  # mono calls take speaker turns from a platform transcript
            for (cid, keys, sc), path in zip(todo, paths)
        ]
        # progress counts calls whose outcome is stored and marked, so a crash after a
        # reported call never has to redo it
        for done, (call_id, result) in enumerate(run_asr(jobs), start=1):
            keys, sc = by_id[call_id]
            tenant = sc["tenant"]
            if isinstance(result, AudioError):
                _quarantine(ledger, report, call_id, date, tenant, "transcription", result.reason,
                            f"{Path(sc['audio_key']).name}: {result}", store.uri(sc["audio_key"]))
            elif isinstance(result, Exception):
                _quarantine(ledger, report, call_id, date, tenant, "transcription", "transcription_failed",
                            f"{type(result).__name__} while transcribing {Path(sc['audio_key']).name}",
                            store.uri(sc["audio_key"]))
            else:
                transcript: Transcript = result  # type: ignore[assignment]
                transcript.call_id = call_id
                store.put_json(keys.transcript, transcript.to_dict())
                reasons = quality_gate(transcript.quality, thresholds)
                for reason in reasons:
                    _quarantine(ledger, report, call_id, date, tenant, "quality_gate", reason,
                                f"quality gate failed: {reason}", store.uri(keys.transcript))
                if not reasons:
                    report.processed.append(call_id)
                q = transcript.quality
                if q.get("speech_coverage_min") is not None:
                    coverages.append(float(q["speech_coverage_min"]))
                report.counts["bleed_words"] += int(q.get("bleed_words") or 0)
                report.counts["redecoded_calls"] += int(bool(q.get("redecoded_channels")))
                report.counts["audio_seconds"] += float(transcript.duration or 0.0)
                report.counts["words"] += sum(len(s.words) for s in transcript.segments)
            ledger.mark_processed("transcribe", call_id, sc["audio_sha256"], code_version, store.uri(keys.transcript))
            if on_progress is not None:
                on_progress(done, len(jobs))
    return part

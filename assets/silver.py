"""Silver: transcripts, quarantine, and redacted transcripts / audio / events.

Blocking checks stop residual PII from ever propagating to gold.
"""


from collections import Counter
from dataclasses import replace

import dagster as dg
from pydantic import Field

from assets.bronze import call_events, imported_transcripts, recordings
from assets.common import OWNERS, actor, counter_md, report_metadata, tags
from assets.shards import shard_label, shard_ops
from pipeline.domain.core.keys import CallKeys, quarantine_report_key
from pipeline.domain.core.models import stable_hash
from pipeline.domain.flows import redaction as redaction_flow
from pipeline.domain.flows import transcription as transcription_flow
from pipeline.domain.flows.common import Shard, merge_reports
from pipeline.domain.intake.ingest import StageReport, partition_calls
from pipeline.domain.speech.quality import QualityThresholds
from pipeline.partitions import daily_partitions
from pipeline.settings import get_settings
from resources.asr import AsrResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.redactor import RedactorResource

RESIDUAL_CHECK = "no_residual_pii"


def _thresholds() -> QualityThresholds:
    q = get_settings().section("quality")
    return QualityThresholds(**{k: v for k, v in q.items() if k in QualityThresholds.__dataclass_fields__})


def _transcribe_shard(shard: Shard) -> dg.OpDefinition:
    @dg.op(name=f"transcribe_shard_{shard.index}", ins={"upstream": dg.In(dg.Nothing)},
           description=f"Transcribe {shard_label(shard)} of the day's calls (faster-whisper, quality gate, quarantine).")
    def transcribe_shard(context: dg.OpExecutionContext, asr: AsrResource, object_store: ObjectStoreResource,
                         ledger: LedgerResource) -> transcription_flow.TranscriptionPart:
        fingerprint = stable_hash(asr.config().__dict__ | {"workers": None})

        def progress(done: int, total: int) -> None:
            context.log.info(f"{shard_label(shard)}: transcribed {done}/{total} calls")

        return transcription_flow.transcribe_part(object_store.get_store(), ledger.get_ledger(), asr.transcribe_many,
                                                  fingerprint, context.partition_key, _thresholds(), progress, shard)

    return transcribe_shard


TRANSCRIBE_SHARDS = shard_ops(_transcribe_shard)


@dg.op(out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing)},
       description="Merge the shards' transcription reports: the asset's metadata and pass-rate check.")
def merge_transcription(parts: list[transcription_flow.TranscriptionPart]):
    report = transcription_flow.merge_transcription(parts)
    attempted = len(report.processed) + len({q.call_id for q in report.quarantined})
    rate = len(report.processed) / attempted if attempted else 1.0
    yield dg.MaterializeResult(
        metadata=report_metadata(report, pass_rate=round(rate, 4)),
        check_results=[dg.AssetCheckResult(
            check_name="transcription_pass_rate", passed=rate >= 0.5,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"pass_rate": rate, "attempted": attempted, "passed": len(report.processed)})],
    )


TRANSCRIPTION_CHECK = dg.AssetCheckSpec("transcription_pass_rate", asset=["silver", "transcripts"],
                                        description="Share of the day's calls that transcribed and passed the quality gate.")


@dg.graph_asset(
    key=["silver", "transcripts"],
    group_name="silver",
    partitions_def=daily_partitions,
    ins={"recordings": dg.AssetIn(recordings.key, dagster_type=dg.Nothing),
         "imported_transcripts": dg.AssetIn(imported_transcripts.key, dagster_type=dg.Nothing)},
    kinds={"python", "whisper"},
    owners=OWNERS,
    tags=tags("raw", "silver"),
    code_version=transcription_flow.TRANSCRIBE_VERSION,
    check_specs=[TRANSCRIPTION_CHECK],
)
def transcripts(recordings, imported_transcripts):
    """Speaker-attributed transcripts with word timestamps (faster-whisper; agent and
    customer by channel), quality metrics per call; failures and gated calls go to
    silver/quarantine with machine-readable reasons. The day's calls fan out to one step
    per shard (settings `execution.shards`)."""
    parts = [op(upstream=[recordings, imported_transcripts]) for op in TRANSCRIBE_SHARDS]
    result, check = merge_transcription(parts)
    return {"result": result, TRANSCRIPTION_CHECK.get_python_identifier(): check}


@dg.asset(
    key=["silver", "quarantine"],
    group_name="silver",
    partitions_def=daily_partitions,
    deps=[recordings, imported_transcripts, call_events, transcripts],
    kinds={"python", "json"},
    owners=OWNERS,
    tags=tags("none", "silver"),
)
def quarantine(context: dg.AssetExecutionContext, object_store: ObjectStoreResource, ledger: LedgerResource) -> dg.MaterializeResult:
    """Open quarantine records of the day (reason per call, from every stage). Nothing is
    silently dropped: each record points at the kept input. Release with
    `callforge quarantine release CALL_ID --reason ...` (audited)."""
    date = context.partition_key
    store, led = object_store.get_store(), ledger.get_ledger()
    open_recs = led.open_quarantine(partition=date)
    report = {
        "date": date,
        "records": [{k: str(r[k]) if k == "created_at" else r[k]
                     for k in ("call_id", "stage", "reason", "detail", "source_uri", "tenant", "created_at")}
                    for r in open_recs],
    }
    store.put_json(quarantine_report_key(date), report)
    by_reason = Counter(r["reason"] for r in open_recs)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(open_recs),
        "calls": len({r["call_id"] for r in open_recs}),
        "by_reason": counter_md(by_reason, "reason", "records"),
        "report_uri": dg.MetadataValue.url(store.uri(quarantine_report_key(date))),
    })


def _residual_result(store, ledger, date: str, key_attr: str, texts, states=("active",)) -> dg.AssetCheckResult:
    keys = {c["call_id"]: getattr(CallKeys(date, c["tenant"], c["call_id"]), key_attr)
            for c in partition_calls(ledger, date, states)}
    findings = redaction_flow.residual_pii_by_call(store, keys, texts)
    return dg.AssetCheckResult(
        check_name=RESIDUAL_CHECK, passed=not findings,
        metadata={"calls_scanned": len(keys), "calls_with_findings": len(findings),
                  "findings": sum(findings.values()), "call_ids": ", ".join(sorted(findings)[:20])},
    )


def _redact_shard(shard: Shard) -> dg.OpDefinition:
    @dg.op(name=f"redact_shard_{shard.index}", ins={"upstream": dg.In(dg.Nothing)},
           description=f"Redact the transcripts of {shard_label(shard)} of the day's calls (Presidio + spoken forms).")
    def redact_shard(context: dg.OpExecutionContext, redactor: RedactorResource, object_store: ObjectStoreResource,
                     ledger: LedgerResource) -> StageReport:
        report = redaction_flow.redact_partition(object_store.get_store(), ledger.get_ledger(), redactor.get_redactor(),
                                                 context.partition_key, shard)
        context.log.info(f"{shard_label(shard)}: redacted {len(report.processed)} calls")
        return report

    return redact_shard


REDACT_SHARDS = shard_ops(_redact_shard)


@dg.op(out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing)},
       description="Merge the shards' redaction reports; the blocking residual-PII scan of the whole day.")
def merge_redaction(context: dg.OpExecutionContext, reports: list[StageReport], object_store: ObjectStoreResource,
                    ledger: LedgerResource):
    date = context.partition_key
    yield dg.MaterializeResult(
        metadata=report_metadata(merge_reports(reports)),
        check_results=[_residual_result(object_store.get_store(), ledger.get_ledger(), date, "redacted_transcript",
                                        redaction_flow.transcript_texts)],
    )


REDACTED_TRANSCRIPTS_CHECK = dg.AssetCheckSpec(
    RESIDUAL_CHECK, asset=["silver", "redacted_transcripts"], blocking=True,
    description="An independent strict detector finds no PII in the redacted text.")


@dg.graph_asset(
    key=["silver", "redacted_transcripts"],
    group_name="silver",
    partitions_def=daily_partitions,
    ins={"transcripts": dg.AssetIn(transcripts.key, dagster_type=dg.Nothing)},
    kinds={"python", "presidio"},
    owners=OWNERS,
    tags=tags("redacted", "silver"),
    code_version=redaction_flow.REDACT_VERSION,
    check_specs=[REDACTED_TRANSCRIPTS_CHECK],
)
def redacted_transcripts(transcripts):
    """Transcripts with PII replaced by typed placeholders (Presidio + spoken-form
    recognizers), words included; span offsets and types (never values) go to the ledger.
    The day's calls fan out to one step per shard (settings `execution.shards`)."""
    reports = [op(upstream=transcripts) for op in REDACT_SHARDS]
    result, check = merge_redaction(reports)
    return {"result": result, REDACTED_TRANSCRIPTS_CHECK.get_python_identifier(): check}


class RedactedAudioConfig(dg.Config):
    padding_s: float = Field(default=0.15, description="Seconds of silence added around each PII word span")
    verify: bool = Field(default=True, description="Re-transcribe the redacted audio around each muted value and "
                         "quarantine calls whose PII is still audible")


def _redact_audio_shard(shard: Shard) -> dg.OpDefinition:
    @dg.op(name=f"redact_audio_shard_{shard.index}", ins={"upstream": dg.In(dg.Nothing)},
           description=f"Silence the PII spans in the audio of {shard_label(shard)} of the day's calls and "
                       "verify them by re-transcription.")
    def redact_audio_shard(context: dg.OpExecutionContext, config: RedactedAudioConfig, asr: AsrResource,
                           object_store: ObjectStoreResource, ledger: LedgerResource) -> StageReport:
        transcribe = _retranscriber(asr) if config.verify else None
        report = redaction_flow.redact_audio_partition(object_store.get_store(), ledger.get_ledger(),
                                                       context.partition_key, config.padding_s,
                                                       actor(context), transcribe, shard)
        context.log.info(f"{shard_label(shard)}: redacted the audio of {len(report.processed)} calls")
        return report

    return redact_audio_shard


REDACT_AUDIO_SHARDS = shard_ops(_redact_audio_shard)


@dg.config_mapping
def _redacted_audio_config(config: RedactedAudioConfig) -> dict:
    """The asset's config (``ops: silver__redacted_audio: config: ...``) goes to every shard."""
    return {op.name: {"config": {"padding_s": config.padding_s, "verify": config.verify}}
            for op in REDACT_AUDIO_SHARDS}


@dg.op(out=dg.Out(dg.Nothing), description="Merge the shards' audio redaction reports into the asset's metadata.")
def merge_redacted_audio(reports: list[StageReport]) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=report_metadata(merge_reports(reports)))


@dg.graph_asset(
    key=["silver", "redacted_audio"],
    group_name="silver",
    partitions_def=daily_partitions,
    ins={"redacted_transcripts": dg.AssetIn(redacted_transcripts.key, dagster_type=dg.Nothing)},
    config=_redacted_audio_config,
    kinds={"python", "audio"},
    owners=OWNERS,
    tags=tags("redacted", "silver"),
    code_version=redaction_flow.REDACT_AUDIO_VERSION,
)
def redacted_audio(redacted_transcripts):
    """Call audio with every PII word span silenced (from word timestamps, padded),
    verified by re-transcribing the audio around each muted value and listening for it (a
    call whose PII is still audible is quarantined); the spans (times and types, never
    values) are in the ledger. The day's calls fan out to one step per shard (settings
    `execution.shards`)."""
    return merge_redacted_audio([op(upstream=redacted_transcripts) for op in REDACT_AUDIO_SHARDS])


def _retranscriber(asr: AsrResource):
    """WAV bytes -> text with the configured ASR model, loaded once per process. The
    verification audio is short stretches packed together: Whisper's sequential decoder
    without VAD reads it in one 30 s window per channel (the batched decoder would encode
    every VAD piece as a window of its own: measured 3.5 s against 12.5 s for one call)."""
    import tempfile
    from pathlib import Path

    from pipeline.domain.speech.asr import get_engine

    engine = get_engine(replace(asr.config(), workers=1, batch_size=1, vad_filter=False))

    def transcribe(wav: bytes) -> str:
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            f.write(wav)
            f.flush()
            return engine.transcribe_call(Path(f.name)).text

    return transcribe


@dg.asset(
    key=["silver", "redacted_events"],
    group_name="silver",
    partitions_def=daily_partitions,
    deps=[call_events],
    kinds={"python", "presidio"},
    owners=OWNERS,
    tags=tags("redacted", "silver"),
    code_version=redaction_flow.REDACT_EVENTS_VERSION,
    check_specs=[dg.AssetCheckSpec(RESIDUAL_CHECK, asset=["silver", "redacted_events"], blocking=True,
                                   description="No PII left in any redacted event payload.")],
)
def redacted_events(
    context: dg.AssetExecutionContext, redactor: RedactorResource, object_store: ObjectStoreResource, ledger: LedgerResource
) -> dg.MaterializeResult:
    """Event payloads with declared PII fields replaced (or keyed-hashed when a pseudonym key
    is configured) and free text redacted by the same engine as transcripts."""
    date = context.partition_key
    store, led = object_store.get_store(), ledger.get_ledger()
    red = redactor.get_redactor()
    key = redactor.pseudonym_key.encode() if redactor.pseudonym_key else None
    report = redaction_flow.redact_events_partition(store, led, red, date, key)
    return dg.MaterializeResult(
        metadata=report_metadata(report),
        check_results=[_residual_result(store, led, date, "redacted_events", redaction_flow.event_texts,
                                        states=("active", "opt_out", "quarantined"))],
    )


class RedactionQualityConfig(dg.Config):
    repeat: int = Field(default=1, ge=1, description="Timed passes over the labelled sets (speed figure)")
    compare_vanilla: bool = Field(default=True, description="Also run vanilla Presidio (same spaCy model, default "
                                  "recognizers) on the same sets and show both recalls per type")


@dg.asset(
    key=["silver", "redaction_quality_report"],
    group_name="silver",
    deps=[redacted_transcripts],
    kinds={"python", "presidio"},
    owners=OWNERS,
    tags=tags("none", "silver"),
    code_version=redaction_flow.REDACT_VERSION,
    check_specs=[dg.AssetCheckSpec("redaction_targets", asset=["silver", "redaction_quality_report"],
                                   description="Recall and precision of the engine on the labelled spoken set "
                                               "meet the targets in settings (redaction.quality_targets).")],
)
def redaction_quality_report(
    context: dg.AssetExecutionContext, config: RedactionQualityConfig, redactor: RedactorResource,
    object_store: ObjectStoreResource, ledger: LedgerResource
) -> dg.MaterializeResult:
    """How well the configured redaction engine finds PII: recall, precision and speed on
    labelled spoken-form and written sets (pipeline/domain/data/pii), and what it redacted
    in production (span counts by type, audio re-check quarantines, from the ledger).
    Numbers, ids and offsets only; the full report goes to the object store."""
    from datetime import datetime, timezone

    from pipeline.domain.core.keys import redaction_quality_key
    from pipeline.domain.privacy import evaluation as redaction_eval

    section = get_settings().section("redaction")
    set_paths = redaction_eval.resolve_sets(section.get("eval_sets"), get_settings().root)
    context.log.info(f"scoring the redaction engine on {len(set_paths)} labelled sets: {', '.join(set_paths)}")
    engine = redactor.get_redactor()
    baseline = redaction_eval.VanillaPresidio(engine.spacy_model) if config.compare_vanilla else None
    rep = redaction_eval.quality_report(
        engine, set_paths, ledger.get_ledger(),
        targets=section.get("quality_targets"), repeat=config.repeat, baseline=baseline)
    store = object_store.get_store()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    store.put_json(redaction_quality_key(stamp), rep)
    store.put_json(redaction_quality_key("latest"), rep)
    md: dict = {"report_uri": dg.MetadataValue.url(store.uri(redaction_quality_key(stamp))),
                "utterances_per_second_per_core": rep["utterances_per_second_per_core"]}
    for name, sc in rep["sets"].items():
        for metric in ("span_recall", "precision", "char_recall_critical"):
            if sc.get(metric) is not None:
                md[f"{name}/{metric}"] = sc[metric]
        md[f"{name}/utterances"] = sc["utterances"]
    if rep.get("comparison"):
        cmp = rep["comparison"]
        md["vs_vanilla_presidio"] = dg.MetadataValue.md(redaction_eval.comparison_markdown(cmp))
        md["types_worse_than_vanilla"] = len(cmp["types_worse_than_vanilla"])
        for name, c in cmp["sets"].items():
            if c["direct_char_recall"] is not None:
                md[f"{name}/direct_char_recall"] = c["direct_char_recall"]
    prod = rep.get("production", {})
    md["production_spans_by_type"] = dg.MetadataValue.json(prod.get("spans_by_asset", {}))
    md["redaction_quarantine_by_reason"] = dg.MetadataValue.json(prod.get("redaction_quarantine_by_reason", {}))
    failing = sorted(m for m, r in rep["target_results"].items() if not r["passed"])
    return dg.MaterializeResult(
        metadata=md,
        check_results=[dg.AssetCheckResult(
            check_name="redaction_targets", passed=not failing, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"target_set": rep["target_set"], "failing": ", ".join(failing) or "none",
                      **{m: r["value"] for m, r in rep["target_results"].items() if r["value"] is not None}})],
    )

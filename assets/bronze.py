"""Bronze: recordings, platform transcripts and event logs land as they are (checksummed)."""


import dagster as dg

from assets.common import OWNERS, actor, report_metadata, tags
from pipeline.domain.core.keys import manifest_key
from pipeline.domain.intake import ingest
from pipeline.partitions import daily_partitions
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource


@dg.asset(
    key=["bronze", "recordings"],
    group_name="bronze",
    partitions_def=daily_partitions,
    kinds={"python", "audio"},
    owners=OWNERS,
    tags=tags("raw", "bronze"),
    code_version=ingest.BRONZE_RECORDINGS_VERSION,
    check_specs=[dg.AssetCheckSpec("nothing_lost", asset=["bronze", "recordings"],
                                   description="Every landed recording of the day is in bronze, quarantined or discarded by opt-out consent.")],
)
def recordings(
    context: dg.AssetExecutionContext,
    landing: LandingZoneResource,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
) -> dg.MaterializeResult:
    """Call recordings copied from the landing zone into bronze with a validated sidecar
    and a checksum manifest; consent is written to the ledger. opt_out recordings are
    discarded here (audited); bad sidecars go to quarantine with a reason."""
    date = context.partition_key
    lz, store, led = landing.get_landing(), object_store.get_store(), ledger.get_ledger()
    report = ingest.ingest_recordings(lz, store, led, date, actor(context))
    manifest = ingest.rebuild_manifest(store, date)
    landed = report.landed
    accounted = set(manifest["calls"]) | {q["call_id"] for q in led.open_quarantine(partition=date)} | {
        c["call_id"] for c in led.calls(call_date=date) if c["state"] != "active"}
    missing = sorted(set(landed) - accounted)
    context.log.info(f"{date}: {len(report.processed)} ingested, {len(report.skipped)} unchanged, "
                     f"{len(report.quarantined)} quarantined, {len(report.opted_out)} opt-out")
    return dg.MaterializeResult(
        metadata=report_metadata(report, manifest_uri=dg.MetadataValue.url(store.uri(manifest_key(date))),
                                 **{"dagster/row_count": manifest["count"]}),
        check_results=[dg.AssetCheckResult(check_name="nothing_lost", passed=not missing,
                                           metadata={"landed": len(landed), "unaccounted": len(missing),
                                                     "unaccounted_call_ids": ", ".join(missing[:20])})],
    )


@dg.asset(
    key=["bronze", "imported_transcripts"],
    group_name="bronze",
    partitions_def=daily_partitions,
    deps=[recordings],
    kinds={"python", "json"},
    owners=OWNERS,
    tags=tags("raw", "bronze"),
    code_version=ingest.BRONZE_IMPORTS_VERSION,
)
def imported_transcripts(
    context: dg.AssetExecutionContext,
    landing: LandingZoneResource,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
) -> dg.MaterializeResult:
    """Platform transcripts (WebVTT with voice tags, SRT, AWS Transcribe, Google STT, plain
    text) normalised to the one transcript model. Malformed files are quarantined with the
    file name and line."""
    report = ingest.import_transcripts(landing.get_landing(), object_store.get_store(), ledger.get_ledger(),
                                       context.partition_key, actor(context))
    return dg.MaterializeResult(metadata=report_metadata(report))


@dg.asset(
    key=["bronze", "call_events"],
    group_name="bronze",
    partitions_def=daily_partitions,
    deps=[recordings],
    kinds={"python", "json"},
    owners=OWNERS,
    tags=tags("raw", "bronze"),
    code_version=ingest.BRONZE_EVENTS_VERSION,
)
def call_events(
    context: dg.AssetExecutionContext,
    landing: LandingZoneResource,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
) -> dg.MaterializeResult:
    """Agent event logs, append-only, ordered by trace_id + seq, duplicates dropped.
    Kept for opt_out calls too (redacted downstream)."""
    report = ingest.ingest_events(landing.get_landing(), object_store.get_store(), ledger.get_ledger(),
                                  context.partition_key, actor(context))
    return dg.MaterializeResult(metadata=report_metadata(report))

"""Jobs: the daily ingest flow, gated training, drift, retention and erasure."""


from datetime import datetime, timezone
from typing import Any

import dagster as dg
from pydantic import Field

from pipeline.distributed import ingest_executor
from pipeline.domain.privacy import compliance
from pipeline.domain.privacy.retention import RetentionPolicy
from pipeline.settings import get_settings
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.vector_index import VectorIndexResource

DAILY_GROUPS = dg.AssetSelection.assets(
    ["bronze", "recordings"], ["bronze", "imported_transcripts"], ["bronze", "call_events"],
    ["silver", "transcripts"], ["silver", "quarantine"], ["silver", "redacted_transcripts"],
    ["silver", "redacted_audio"], ["silver", "redacted_events"],
    ["gold", "conversation_analytics"], ["gold", "transcript_embeddings"],
)

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=DAILY_GROUPS,
    description="Bronze -> silver -> gold for one day of calls (what the new_recordings sensor runs).",
    # dagster-celery when CALLFORGE_CELERY_BROKER is set (pipeline/distributed.py), else the default
    executor_def=ingest_executor(),
    # with run_retries enabled in dagster.yaml, a run that failed (a killed step process, a
    # database restart) is retried once from the failed steps; every stage is idempotent per call
    tags={"dagster/max_retries": "1", "dagster/retry_strategy": "FROM_FAILURE"},
)

TRAINING_SELECTION = dg.AssetSelection.assets(
    ["bronze", "annotations"], ["gold", "training_datasets"], ["gold", "lora_adapters"],
    ["gold", "eval_reports"], ["gold", "adapter_promotions"], ["gold", "annotation_queue"],
    ["gold", "chat_adapters"], ["gold", "chat_eval_reports"], ["gold", "chat_adapter_promotions"],
)

training_job = dg.define_asset_job(
    "training_job",
    selection=TRAINING_SELECTION,
    tags={"callforge/training": "true"},
    description="Labels -> dataset -> gated LoRA training -> evaluation and promotion.",
)

ab_job = dg.define_asset_job(
    "ab_job", selection=dg.AssetSelection.assets(["gold", "ab_tests"]),
    description="Compare the served champion with the version it replaced on call outcomes.")

annotations_job = dg.define_asset_job("annotations_job", selection=dg.AssetSelection.assets(["bronze", "annotations"]))

redaction_quality_job = dg.define_asset_job(
    "redaction_quality_job", selection=dg.AssetSelection.assets(["silver", "redaction_quality_report"]),
    description="Score the redaction engine on the labelled PII sets; summarise production spans.")

drift_job = dg.define_asset_job("drift_job", selection=dg.AssetSelection.assets(["gold", "drift_reports"]),
                                description="Monthly embedding and analytics drift report.")


def retention_policies() -> dict[str, RetentionPolicy]:
    out = {}
    for name, t in get_settings().tenants.items():
        out[name] = RetentionPolicy(audio_days=t.retention_audio_days, transcript_days=t.retention_transcript_days,
                                    events_days=t.retention_events_days, grace_days=t.grace_days)
    return out


class RetentionConfig(dg.Config):
    now: str | None = Field(default=None, description="ISO timestamp to evaluate policies at (default: now, UTC)")


@dg.op(description="Soft-delete expired calls, purge them after the grace period; legal hold respected; audited.")
def apply_retention(context: dg.OpExecutionContext, config: RetentionConfig, object_store: ObjectStoreResource,
                    ledger: LedgerResource, vector_index: VectorIndexResource) -> dict:
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    rep = compliance.apply_retention(object_store.get_store(), ledger.get_ledger(), vector_index.get_index(),
                                     retention_policies(), now, f"dagster-run:{context.run_id}")
    summary = {"soft_deleted": len(rep.soft_deleted), "purged": len(rep.purged), "held": len(rep.held),
               "objects_deleted": rep.objects_deleted, "index_rows_deleted": rep.index_rows_deleted}
    context.log.info(f"retention: {summary}")
    context.add_output_metadata(summary)
    return summary


@dg.job(description="Nightly retention: soft delete, purge after grace, legal hold respected.")
def retention_job():
    apply_retention()


class ErasureConfig(dg.Config):
    customer_id: str | None = Field(default=None, description="Erase every call of this customer")
    call_id: str | None = Field(default=None, description="Erase one call")
    reason: str = Field(description="Why (e.g. the erasure request's ticket id)")
    requested_by: str = Field(default="privacy-team", description="Who asked")


@dg.op(description="Remove a person's or a call's data from every layer, the vector index and datasets.")
def erase_subject(context: dg.OpExecutionContext, config: ErasureConfig, object_store: ObjectStoreResource,
                  ledger: LedgerResource, vector_index: VectorIndexResource) -> dict:
    rep = compliance.erase(object_store.get_store(), ledger.get_ledger(), vector_index.get_index(),
                           actor=config.requested_by, reason=config.reason,
                           customer_id=config.customer_id, call_id=config.call_id)
    summary = {"erased": len(rep.erased), "held": len(rep.held), "objects_deleted": rep.objects_deleted,
               "index_rows_deleted": rep.index_rows_deleted}
    context.add_output_metadata(summary)
    return summary


@dg.job(description="Erasure request (GDPR/CCPA): by customer id or call id; audited.")
def erasure_job():
    erase_subject()


def training_outcome(result: Any) -> str:
    """What a training_job run did: ``promoted``, ``not promoted`` (the only failure is the
    blocking ``promotion_gate`` check: the candidate was trained and evaluated but did not
    meet the promotion rules), ``gate closed`` (no adapter trained) or ``failed``."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    mats = {tuple(m.asset_key.path) for m in result.get_asset_materialization_events()}
    if not failures:
        if mats & {("gold", "adapter_promotions"), ("gold", "chat_adapter_promotions")}:
            return "promoted"
        trained = mats & {("gold", "lora_adapters"), ("gold", "chat_adapters")}
        return "not promoted" if trained else "gate closed"
    blocked = all(getattr(getattr(e.event_specific_data, "error", None), "cls_name", "") == "DagsterAssetCheckFailedError"
                  and "promotion_gate" in (getattr(e.event_specific_data.error, "message", "") or "")
                  for e in failures)  # promotion_gate or chat_promotion_gate
    return "not promoted" if blocked else "failed"

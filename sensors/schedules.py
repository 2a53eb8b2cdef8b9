"""Schedules: nightly retention and gated training, monthly drift, weekly redaction quality."""

import dagster as dg

from pipeline.jobs import drift_job, redaction_quality_job, retention_job, training_job
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.trainer import TrainerResource

retention_schedule = dg.ScheduleDefinition(
    name="nightly_retention", job=retention_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
    description="Soft delete / purge per tenant policy; legal hold respected.")

@dg.schedule(job=training_job, cron_schedule="0 3 * * *", execution_timezone="UTC", name="nightly_training",
             description="Builds the dataset and trains, only when the training gate is open; a skipped tick "
                         "says why (too few new labels, lock held, a run in flight).")
def training_schedule(context: dg.ScheduleEvaluationContext, object_store: ObjectStoreResource,
                      ledger: LedgerResource, trainer: TrainerResource):
    from pipeline.domain.flows.learning import gate_preview
    from pipeline.domain.learning.registry import TrainingLock

    in_flight = context.instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING],
        tags={"callforge/training": "true"}))
    gate = gate_preview(object_store.get_store(), ledger.get_ledger(), trainer.registry(), trainer.min_examples,
                        trainer.min_new_examples, TrainingLock(trainer.registry_dir, trainer.lock_stale_after_s).holder(),
                        len(in_flight))
    if not gate.open:
        return dg.SkipReason("training gate closed: " + "; ".join(gate.reasons))
    return dg.RunRequest(run_key=f"training-{context.scheduled_execution_time.isoformat()}",
                         tags={"callforge/gate": "; ".join(gate.reasons)[:200]})

drift_schedule = dg.build_schedule_from_partitioned_job(drift_job, hour_of_day=4, minute_of_hour=0, name="monthly_drift")

redaction_quality_schedule = dg.ScheduleDefinition(
    name="weekly_redaction_quality", job=redaction_quality_job, cron_schedule="0 5 * * 1", execution_timezone="UTC",
    description="Re-score the redaction engine (also run it after changing recognizers or thresholds).")

"""Schedules: nightly retention and gated training, monthly drift, weekly redaction quality."""

import dagster as dg

from pipeline.jobs import drift_job, redaction_quality_job, retention_job, training_job

retention_schedule = dg.ScheduleDefinition(
    name="nightly_retention", job=retention_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
    description="Soft delete / purge per tenant policy; legal hold respected.")

training_schedule = dg.ScheduleDefinition(
    name="nightly_training", job=training_job, cron_schedule="0 3 * * *", execution_timezone="UTC",
    description="Builds the dataset and trains only if the training gate is open.")

drift_schedule = dg.build_schedule_from_partitioned_job(drift_job, hour_of_day=4, minute_of_hour=0, name="monthly_drift")

redaction_quality_schedule = dg.ScheduleDefinition(
    name="weekly_redaction_quality", job=redaction_quality_job, cron_schedule="0 5 * * 1", execution_timezone="UTC",
    description="Re-score the redaction engine (also run it after changing recognizers or thresholds).")

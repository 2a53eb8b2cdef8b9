"""The ONE Definitions entrypoint (workspace.yaml loads it)."""

from __future__ import annotations

import dagster as dg

from assets import bronze, gold, silver
from pipeline.jobs import (
    ab_job,
    annotations_job,
    drift_job,
    erasure_job,
    ingest_job,
    redaction_quality_job,
    retention_job,
    training_job,
)
from pipeline.distributed import step_executor
from pipeline.k8s import k8s_executor
from pipeline.settings import get_settings
from resources import build_resources
from sensors.recordings import ab_rollback, completed_annotations, new_recordings, run_failures
from sensors.schedules import drift_schedule, redaction_quality_schedule, retention_schedule, training_schedule


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*dg.load_assets_from_modules([bronze, silver]), *gold.gold_assets],
        asset_checks=[],
        jobs=[ingest_job, training_job, annotations_job, ab_job, drift_job, retention_job, erasure_job,
              redaction_quality_job],
        sensors=[new_recordings, completed_annotations, ab_rollback, run_failures],
        schedules=[retention_schedule, training_schedule, drift_schedule, redaction_quality_schedule],
        resources=build_resources(get_settings()),
        # k8s_job_executor when CALLFORGE_K8S_EXECUTOR_CONFIG names its YAML; else the default
        # executor with forkserver step processes (pipeline/distributed.py)
        executor=k8s_executor() or step_executor(),
    )

"""Sensors for external events: new recordings in the landing zone, completed annotations,
run failures."""


import json
from collections import defaultdict

import dagster as dg

from pipeline.domain.core.models import stable_hash
from pipeline.domain.intake.ingest import scan_recordings
from pipeline.domain.intake.landing import AUDIO_EXTENSIONS
from pipeline.jobs import annotations_job, ingest_job
from resources.landing import LandingZoneResource


def _load_cursor(raw: str | None) -> dict[str, str]:
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs the day partition of every new or changed recording (late arrivals included).")
def new_recordings(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
    """Cursor: the signature (key, mtime, size) of every recording/sidecar already requested.
    One run per day partition per batch of changes; run_key makes re-evaluation safe."""
    lz = landing.get_landing()
    seen = _load_cursor(context.cursor)
    files = {f.key: f.signature for f in lz.list("recordings")
             if f.suffix in AUDIO_EXTENSIONS or f.suffix == ".json"}
    changed = {k for k, sig in files.items() if seen.get(k) != sig}
    if not changed:
        return dg.SensorResult(skip_reason="no new recordings")
    by_date: dict[str, list[str]] = defaultdict(list)
    for call in scan_recordings(lz):
        sigs = [f.signature for f in (call.audio, call.sidecar) if f is not None and f.key in changed]
        if sigs:
            by_date[call.date].extend(sigs)
    requests = []
    for date, sigs in sorted(by_date.items()):
        requests.append(dg.RunRequest(
            run_key=f"{date}:{stable_hash(sorted(sigs))}", partition_key=date,
            tags={"callforge/trigger": "new_recordings", "callforge/files": str(len(sigs))}))
    context.log.info(f"{len(changed)} new/changed files -> {len(requests)} partition run(s)")
    # keep only files that still exist: the cursor does not grow without bound
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(files, sort_keys=True))


@dg.sensor(job=annotations_job, minimum_interval_seconds=60, description="Imports completed annotations as they arrive.")
def completed_annotations(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
    files = {f.key: f.signature for f in landing.get_landing().list("annotations")}
    if json.dumps(files, sort_keys=True) == (context.cursor or json.dumps({})):
        return dg.SensorResult(skip_reason="no new annotations")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=stable_hash(files))],
                           cursor=json.dumps(files, sort_keys=True))


@dg.run_failure_sensor(description="Logs failed runs with their job and partition (no payloads).")
def run_failures(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    context.log.error(f"run {run.run_id} of {run.job_name} failed "
                      f"(partition {run.tags.get('dagster/partition', '-')}): {context.failure_event.message}")

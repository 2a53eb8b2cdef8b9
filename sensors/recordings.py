"""Sensors for external events: new recordings in the landing zone, completed annotations,
run failures."""


import json
from collections import defaultdict

import dagster as dg

from pipeline.domain.core.models import stable_hash
from pipeline.domain.intake.ingest import scan_recordings
from pipeline.domain.intake.landing import AUDIO_EXTENSIONS
from pipeline.domain.flows import labelling as labelling_flow
from pipeline.jobs import annotations_job, ingest_job
from resources.label_studio import LabelStudioResource
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.trainer import TrainerResource


def _load_cursor(raw: str | None) -> dict[str, str]:
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}


#: A landing file is compared by signature while it is at most this much older (by its
#: ``changed_ns``) than the newest file seen; older ones were seen by an earlier tick. Covers
#: files that become visible after their timestamp (a slow S3 upload keeps its start time).
ARRIVAL_WINDOW_NS = 3600 * 10**9


def _recordings_cursor(raw: str | None) -> tuple[int | None, dict[str, str]]:
    """(high-water mark of ``changed_ns``, signatures of the files within the window). A
    cursor written by the older version (every file's signature, no mark) is compared in
    full once; the mark is None then, as on the very first tick."""
    cur = _load_cursor(raw)
    if isinstance(cur.get("recent"), dict):
        return cur.get("hwm"), cur["recent"]
    return None, {k: v for k, v in cur.items() if isinstance(v, str)}


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Runs the day partition of every new or changed recording (late arrivals included).")
def new_recordings(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
    """Cursor: ``{"hwm": newest changed_ns seen, "recent": signatures (key, mtime, size) of
    the files changed within ARRIVAL_WINDOW_NS of it}``. A file is new or changed when it is
    within the window and its signature is not in ``recent``: the cursor stays small and a
    tick reads only the sidecars of those calls (the landing zone is still listed once).
    One run per day partition per batch of changes; run_key makes re-evaluation safe. Files
    of a day whose run is still queued join that run instead (``queued_ingest_run``)."""
    lz = landing.get_landing()
    hwm, recent = _recordings_cursor(context.cursor)
    files = [f for f in lz.list("recordings") if f.suffix in AUDIO_EXTENSIONS or f.suffix == ".json"]
    arrived = {f.key: f.changed_ns or f.mtime_ns for f in files}
    floor = None if hwm is None else hwm - ARRIVAL_WINDOW_NS
    changed = {f.key for f in files if (floor is None or arrived[f.key] > floor) and recent.get(f.key) != f.signature}
    new_hwm = max([hwm or 0, *arrived.values()])
    # keep only files that still exist and are recent: the cursor does not grow with the zone
    cursor = json.dumps({"hwm": new_hwm, "recent": {f.key: f.signature for f in files
                                                    if arrived[f.key] > new_hwm - ARRIVAL_WINDOW_NS}},
                        sort_keys=True)
    if not changed:
        return dg.SensorResult(skip_reason="no new recordings", cursor=cursor)
    stems = {f.stem for f in files if f.key in changed}
    by_date: dict[str, list[str]] = defaultdict(list)
    for call in scan_recordings(lz, [f for f in files if f.stem in stems]):
        sigs = [f.signature for f in (call.audio, call.sidecar) if f is not None and f.key in changed]
        if sigs:
            by_date[call.date].extend(sigs)
    requests, joined = [], {}
    for date, sigs in sorted(by_date.items()):
        queued = queued_ingest_run(context.instance, date)
        if queued is not None:
            # that run has not started: its bronze step will ingest these files with the rest
            # of the day, so a burst of calls makes one waiting run, not one run per tick
            joined[date] = queued
            continue
        requests.append(dg.RunRequest(
            run_key=f"{date}:{stable_hash(sorted(sigs))}", partition_key=date,
            tags={"callforge/trigger": "new_recordings", "callforge/files": str(len(sigs))}))
    note = "; ".join(f"{date} joins queued run {run_id[:8]}" for date, run_id in joined.items())
    context.log.info(f"{len(changed)} new/changed files -> {len(requests)} partition run(s)" + (f"; {note}" if note else ""))
    if not requests:
        return dg.SensorResult(skip_reason=f"new recordings: {note}", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def queued_ingest_run(instance: dg.DagsterInstance, date: str) -> str | None:
    """The id of a run of ``ingest_job`` for the day ``date`` that this sensor requested and
    that is still waiting in the run queue, or None. Only a whole-job first attempt counts: a
    retry re-executes from its failed steps (bronze would not run again), and a run that has
    started may be past its bronze step."""
    runs = instance.get_runs(filters=dg.RunsFilter(
        job_name=ingest_job.name, statuses=[dg.DagsterRunStatus.QUEUED],
        tags={"dagster/partition": date, "callforge/trigger": "new_recordings"}))
    for run in runs:
        if run.parent_run_id is None and run.step_keys_to_execute is None:
            return run.run_id
    return None


@dg.sensor(job=annotations_job, minimum_interval_seconds=60,
           description="Pulls completed annotations (Label Studio, landing-zone label files) as they arrive.")
def completed_annotations(context: dg.SensorEvaluationContext, landing: LandingZoneResource,
                          annotation: LabelStudioResource) -> dg.SensorResult:
    """Cursor: ``{"files": signatures of landing label files, "label_studio": newest
    annotation timestamp pulled}``. A run is requested for new label files or for
    annotations created or edited after the cursor; the run pulls since the old cursor and
    stores each annotation version once, so a repeated run adds nothing."""
    cur = _load_cursor(context.cursor)
    if "files" not in cur:  # cursor written by an older version: file signatures only
        cur = {"files": cur, "label_studio": None}
    files = {f.key: f.signature for f in landing.get_landing().list("annotations")}
    newest = cur.get("label_studio")
    fresh = 0
    if annotation.live:
        for _project, _task, ann in labelling_flow.label_studio_completed(annotation.client(),
                                                                          cur.get("label_studio")):
            fresh += 1
            newest = max(newest or "", str(ann.get("updated_at") or ann.get("created_at") or "")) or newest
    if files == cur["files"] and not fresh:
        return dg.SensorResult(skip_reason="no new annotations")
    since = cur.get("label_studio")
    run_config = {"ops": {"bronze__annotations": {"config": {"since": since}}}}
    key = stable_hash({"files": files, "label_studio": newest})
    context.log.info(f"{fresh} new/edited annotation(s) in Label Studio, "
                     f"{len(set(files.items()) - set(cur['files'].items()))} new/changed label file(s)")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key, run_config=run_config,
                                                       tags={"callforge/trigger": "completed_annotations"})],
                           cursor=json.dumps({"files": files, "label_studio": newest}, sort_keys=True))


@dg.sensor(name="ab_rollback", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Rolls the adapter champion back when gold/ab_tests finds it significantly worse "
                       "than the version it replaced (audited in the ledger).")
def ab_rollback(context: dg.SensorEvaluationContext, trainer: TrainerResource,
                ledger: LedgerResource, object_store: ObjectStoreResource) -> dg.SkipReason | None:
    """Cursor: the run and time of the last gold/ab_tests materialization acted on."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(["gold", "ab_tests"]))
    seen = f"{event.run_id}:{event.timestamp}" if event is not None else None
    if event is None or seen == context.cursor:
        return dg.SkipReason("no new A/B report")
    context.update_cursor(seen)
    mat = event.asset_materialization
    md = {k: getattr(v, "value", v) for k, v in (mat.metadata if mat else {}).items()}
    if md.get("recommendation") != "rollback":
        return dg.SkipReason(f"A/B recommends {md.get('recommendation', '?')}: nothing to do")
    reg = trainer.registry("intent", object_store.get_store())  # the rollback is published to the store too
    if reg.champion() != md.get("champion"):
        return dg.SkipReason(f"champion is now {reg.champion()}, not {md.get('champion')}: the report is stale")
    reason = f"A/B: {md.get('reasons', '')}"[:500]
    entry = reg.rollback(reason)
    ledger.get_ledger().audit("adapter_rollback", "ab_rollback_sensor", reason=reason,
                              details={"version": entry["version"], "from": entry["previous"]})
    context.log.warning(f"rolled back the champion {entry['previous']} -> {entry['version']}: {reason}")
    return None


@dg.run_failure_sensor(description="Logs failed runs with their job and partition (no payloads).")
def run_failures(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    context.log.error(f"run {run.run_id} of {run.job_name} failed "
                      f"(partition {run.tags.get('dagster/partition', '-')}): {context.failure_event.message}")

"""Scale benchmark (issue 14, must-have 4): the new_recordings sensor on a big landing zone,
orchestration overhead per call, and Dagster event-log growth per call on PostgreSQL.

1. Sensor ticks. A landing zone of ``--files`` files (tiny placeholder WAVs + valid
   sidecars, realistic names, mtimes on their call day) across ``--partitions`` daily
   partitions is generated in a temporary folder. The sensor function
   ``sensors.recordings.new_recordings`` is evaluated with a real DagsterInstance (SQLite
   under a temporary DAGSTER_HOME, the embedded default): the first tick (empty cursor),
   then ``--ticks`` steady-state ticks, each after ``--new-per-tick`` new calls landed, and
   one tick with nothing new. Reported: each tick's time, the worst steady-state tick, the
   cursor size (the daemon stores it after every tick; the time to write a cursor of that
   size to the instance's KV store is reported too), and how many landing files were
   listed and how many sidecars read per tick (does a tick re-list / re-read everything?).

2. Orchestration overhead per call. ``ingest_job`` runs for ``--overhead-calls`` day
   partitions (one partition per entry, that many calls each) on a Dagster instance whose
   storage is a real PostgreSQL started on 127.0.0.1 (tests/servers.py), with the product's
   default multiprocess executor (each step its own process) and the product's resources,
   except ONE thing replaced, ONLY inside this benchmark: the ASR resource returns recorded
   transcripts (the reference turns in samples/manifest.json, words timed evenly inside
   each turn) instead of running faster-whisper, and silver/redacted_audio runs with its
   documented ``verify: false`` (its verification is a second ASR pass). The same domain
   flows are then replayed without Dagster, in one process, on a fresh copy of the same
   inputs (same stub ASR, same models, models loaded once and timed): that is the domain
   work. overhead = run wall time - domain time; per call = a least-squares fit
   ``overhead = fixed_per_run + per_call * calls`` over the partitions (the run's fixed
   cost is paid once per sensor-triggered run, the per-call part with every call).
   The calls are the six sample calls that pass the pipeline (audio, sidecar, events,
   platform transcripts), cloned under new ids.

3. Event-log growth. ``pg_total_relation_size`` of the event-log tables (and of the run
   tables) before and after each partition's run; per call = the same least-squares fit
   over the runs, and total bytes / total calls.

Prints ONE JSON object: sensor_tick_s (worst steady-state tick), first_tick_s,
overhead_ms_per_call, event_log_bytes_per_call, n_files, n_partitions, method notes,
load averages. Small smoke run: ``--files 2000 --partitions 30 --overhead-calls 1,3``.

Usage: python benchmarks/scale.py [--files 100000] [--partitions 365] [--ticks 5]
           [--new-per-tick 5] [--overhead-calls 1,6,24] [--skip-overhead] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")

SAMPLES = ROOT / "samples"
TENANTS = ("acme", "globex", "initech")
# the sample calls that go through every stage (0003 opt-out, 0007 corrupt, 0008 bad sidecar do not)
GOOD_SAMPLES = ("call_0001", "call_0002", "call_0004", "call_0005", "call_0006", "call_0009")
# Dagster's event-log storage tables (dagster/_core/storage/event_log/schema.py)
EVENT_LOG_TABLES = ("event_logs", "asset_keys", "asset_event_tags", "asset_check_executions",
                    "dynamic_partitions", "concurrency_limits", "concurrency_slots", "pending_steps")
RUN_TABLES = ("runs", "run_tags", "snapshots", "daemon_heartbeats", "bulk_actions", "kvs",
              "instance_info", "backfill_tags", "jobs", "job_ticks", "instigators")


METHOD = {
    "sensor": "sensors.recordings.new_recordings evaluated in-process (build_sensor_context with a real SQLite "
              "DagsterInstance) on a generated landing zone; cursor stored in the instance KV store after each tick "
              "(cursor_store_s). 'aged': the generated archive reports its mtime (its call day) as change time, as a "
              "zone filled over a year would; 'burst': every file changed within the last hour (a bulk copy). "
              "sensor_tick_s = worst steady tick (aged), incl. one idle tick.",
    "overhead": "ingest_job via dg.execute_job (default multiprocess executor, one process per step) on a "
                "PostgreSQL-backed instance, product resources except ASR = recorded transcripts (manifest turns) "
                "and redacted_audio verify=false. Domain time = the same flows replayed without Dagster in one warm "
                "process on a copy of the inputs (models loaded once per replay, library imports done beforehand). "
                "overhead = run wall - domain; fixed/marginal from a least-squares fit over the partition sizes; "
                "overhead_ms_per_call = total overhead / total calls of the measured runs. Run launch/queueing by "
                "the daemon is not included (benchmarks/e2e.py measures it).",
    "event_log": "sum of pg_total_relation_size over Dagster's event-log tables (event_logs, asset_keys, "
                 "asset_event_tags, asset_check_executions, ...) before/after each run; per call = total growth / "
                 "total calls of the measured runs (a warm-up run first absorbs one-time rows); payload bytes = "
                 "sum(length(event)) of the new event_logs rows.",
}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _tiny_wav(seconds: float = 0.05, sr: int = 8000) -> bytes:
    """A valid 16-bit mono PCM WAV of silence (placeholder recording)."""
    data = b"\x00\x00" * int(seconds * sr)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16) + b"data" + struct.pack("<I", len(data)) + data)


# ============================================================ 1. sensor ticks
def _call(rng: random.Random, day: date, seq: int) -> tuple[str, dict, float]:
    """(call_id, sidecar, arrival unix time) of one placeholder call on ``day``."""
    started = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(6 * 3600, 20 * 3600))
    tenant = rng.choice(TENANTS)
    call_id = f"{tenant}-{started:%Y%m%d-%H%M%S}-{seq:06d}"
    sidecar = {"call_id": call_id, "tenant": tenant, "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "agent_id": f"agt_{rng.randrange(100, 400)}", "direction": rng.choice(("inbound", "outbound")),
               "consent": {"recording": "granted", "training": rng.random() < 0.7},
               "customer_id": f"cust_{rng.randrange(10**6):06d}", "channel_map": {"0": "agent", "1": "customer"}}
    arrival = started.timestamp() + rng.uniform(300, 1800)  # lands minutes after the call
    return call_id, sidecar, arrival


def _land(rec: Path, call_id: str, sidecar: dict, arrival: float, wav: bytes) -> None:
    for name, data in ((f"{call_id}.wav", wav), (f"{call_id}.json", json.dumps(sidecar).encode())):
        p = rec / name
        p.write_bytes(data)
        os.utime(p, (arrival, arrival))


def build_landing(root: Path, n_files: int, n_partitions: int, seed: int = 14) -> dict:
    """``n_files`` files (a WAV and a sidecar per call) over the last ``n_partitions`` days."""
    rng = random.Random(seed)
    rec = root / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    wav = _tiny_wav()
    today = datetime.now(timezone.utc).date()
    days = [today - timedelta(days=i) for i in range(1, n_partitions + 1)]
    n_calls = n_files // 2
    t0 = time.perf_counter()
    for i in range(n_calls):
        call_id, sc, arrival = _call(rng, days[i % n_partitions], i)
        _land(rec, call_id, sc, arrival, wav)
    return {"calls": n_calls, "files": 2 * n_calls, "partitions": n_partitions,
            "generate_s": round(time.perf_counter() - t0, 1), "wav_bytes": len(wav)}


class _Counting:
    """Counts the landing-zone listings and reads the sensor does (benchmark-only wrapper
    around LocalLandingZone methods). With ``aged_before_ns``, files whose change time is
    before it (the generated archive) report their mtime -- the day they landed on -- as
    their change time, as a zone filled over a year would (ctime cannot be set back)."""

    def __init__(self) -> None:
        import dataclasses

        from pipeline.domain.intake.landing import LocalLandingZone

        self.cls = LocalLandingZone
        self.orig_list, self.orig_read = LocalLandingZone.list, LocalLandingZone.read_bytes
        self.listed = self.reads = 0
        self.aged_before_ns: int | None = None
        counter = self

        def list_(zone, kind):
            out = counter.orig_list(zone, kind)
            counter.listed += len(out)
            cut = counter.aged_before_ns
            if cut is not None and out and hasattr(out[0], "changed_ns"):
                out = [dataclasses.replace(f, changed_ns=f.mtime_ns) if f.changed_ns < cut else f for f in out]
            return out

        def read(zone, key):
            counter.reads += 1
            return counter.orig_read(zone, key)

        LocalLandingZone.list, LocalLandingZone.read_bytes = list_, read

    def take(self) -> tuple[int, int]:
        out = (self.listed, self.reads)
        self.listed = self.reads = 0
        return out

    def restore(self) -> None:
        self.cls.list, self.cls.read_bytes = self.orig_list, self.orig_read


def sensor_ticks(work: Path, n_files: int, n_partitions: int, ticks: int, new_per_tick: int,
                 burst_ticks: int = 2) -> dict:
    """First tick and steady ticks on an archive that arrived over the past year
    ("aged"), then the same on the zone as it looks right after a bulk copy ("burst":
    every file changed within the last hour)."""
    import dagster as dg

    from pipeline.domain.intake.ingest import scan_recordings
    from pipeline.domain.intake.landing import LocalLandingZone
    from resources.landing import LandingZoneResource
    from sensors.recordings import new_recordings

    landing = work / "landing"
    gen = build_landing(landing, n_files, n_partitions)
    generated_ns = time.time_ns()
    home = work / "sensor_dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    resources = {"landing": LandingZoneResource(root=str(landing))}
    counter = _Counting()
    rng = random.Random(99)
    wav = _tiny_wav()
    today = datetime.now(timezone.utc).date()
    seq = [10**6]

    def tick(cursor: str | None) -> tuple[dict, str | None]:
        counter.take()
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            t0 = time.perf_counter()
            res = new_recordings(ctx)
            took = time.perf_counter() - t0
        listed, reads = counter.take()
        new_cursor = res.cursor if res.cursor is not None else cursor
        t1 = time.perf_counter()
        if new_cursor is not None:  # what the daemon does with it after every tick: store it
            instance.run_storage.set_cursor_values({"scale_bench_sensor_cursor": new_cursor})
        store_s = time.perf_counter() - t1
        return {"tick_s": round(took, 3), "run_requests": len(res.run_requests or []),
                "files_listed": listed, "sidecars_read": reads,
                "cursor_bytes": len(new_cursor or ""), "cursor_store_s": round(store_s, 3),
                "skip": res.skip_reason is not None}, new_cursor

    def steady(cursor: str | None, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            for _ in range(new_per_tick):
                seq[0] += 1
                call_id, sc, _arr = _call(rng, today, seq[0])
                _land(landing / "recordings", call_id, sc, time.time(), wav)
            rep, cursor = tick(cursor)
            out.append(rep)
        idle, cursor = tick(cursor)
        out.append({**idle, "idle": True})
        return out

    try:
        counter.aged_before_ns = generated_ns
        first, cursor = tick(None)
        aged = steady(cursor, ticks)
        counter.aged_before_ns = None
        burst_first, cursor = tick(None)
        burst = steady(cursor, burst_ticks)
        # what bronze/recordings does at the start of every run: route every landed call
        counter.take()
        t0 = time.perf_counter()
        scan_recordings(LocalLandingZone(landing))
        bronze_scan_s = time.perf_counter() - t0
        bronze_reads = counter.take()[1]
    finally:
        counter.restore()
        instance.dispose()
    return {"generate": gen, "first": first, "steady": aged, "burst_first": burst_first, "burst": burst,
            "bronze_scan_s": round(bronze_scan_s, 2), "bronze_scan_sidecars_read": bronze_reads}


# ============================================================ 2/3. ingest job: overhead and event log
STUB_DIR_ENV = "CALLFORGE_BENCH_RECORDED_TRANSCRIPTS"


def recorded_transcript(call_id: str, turns: list[dict], duration: float) -> dict:
    """A transcript as the ASR would store it, from reference turns (words timed evenly
    inside each turn)."""
    segments = []
    for t in turns:
        words = t["text"].split()
        step = (t["end"] - t["start"]) / max(1, len(words))
        segments.append({"speaker": t["speaker"], "start": t["start"], "end": t["end"], "text": t["text"],
                         "words": [{"word": w, "start": round(t["start"] + i * step, 3),
                                    "end": round(t["start"] + (i + 1) * step, 3), "probability": 0.9}
                                   for i, w in enumerate(words)]})
    n = sum(len(s["words"]) for s in segments)
    return {"call_id": call_id, "source_format": "asr", "language": "en", "duration": duration, "diarised": True,
            "segments": segments, "quality": {"duration": duration, "word_count": n, "recorded": True}}


def _stub_asr():
    """The ASR resource with faster-whisper replaced by recorded transcripts (benchmark only)."""
    from collections.abc import Callable, Iterator
    from pathlib import Path as _P

    from pipeline.domain.core.models import Transcript
    from resources.asr import AsrResource

    class RecordedTranscriptsAsr(AsrResource):
        """Returns the recorded transcript of each call (no model)."""

        recorded_dir: str = ""

        def transcribe_many(self, jobs: list, on_progress: Callable[[int, int], None] | None = None
                            ) -> Iterator[tuple[str, object]]:
            for i, job in enumerate(jobs, 1):
                call_id = job[0]
                doc = json.loads((_P(self.recorded_dir) / f"{call_id}.json").read_text())
                yield call_id, Transcript.from_dict(doc)
                if on_progress:
                    on_progress(i, len(jobs))

    return RecordedTranscriptsAsr


def bench_ingest_job():
    """ingest_job with the product's resources (settings from the environment) except the
    ASR: recorded transcripts from $CALLFORGE_BENCH_RECORDED_TRANSCRIPTS. Module level so
    the multiprocess executor's step processes can rebuild it (dg.reconstructable)."""
    import dagster as dg

    from pipeline.definitions import defs as product_defs

    d = product_defs()
    resources = dict(d.resources or {})
    resources["asr"] = _stub_asr()(recorded_dir=os.environ[STUB_DIR_ENV], workers=1)
    return dg.Definitions(assets=d.assets, asset_checks=d.asset_checks, jobs=d.jobs, resources=resources,
                          executor=d.executor).resolve_job_def("ingest_job")


def build_partitions(landing: Path, recorded: Path, sizes: list[int]) -> list[dict]:
    """Clone the sample calls that pass every stage into one day partition per size."""
    manifest = json.loads((SAMPLES / "manifest.json").read_text())["calls"]
    rec, tr, ev = (landing / k for k in ("recordings", "transcripts", "events"))
    for d in (rec, tr, ev, recorded):
        d.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).date()
    parts = []
    k = 0
    for pi, n in enumerate(sizes):
        day = today - timedelta(days=10 + pi)
        ids = []
        for i in range(n):
            src = GOOD_SAMPLES[k % len(GOOD_SAMPLES)]
            k += 1
            cid = f"{src}_{day:%Y%m%d}_{i:03d}"
            sc = json.loads((SAMPLES / "recordings" / f"{src}.json").read_text())
            sc.update(call_id=cid, started_at=f"{day.isoformat()}T{9 + i % 8:02d}:{i % 60:02d}:00Z")
            (rec / f"{cid}.json").write_text(json.dumps(sc))
            shutil.copy(SAMPLES / "recordings" / f"{src}.wav", rec / f"{cid}.wav")
            for p in (SAMPLES / "transcripts").glob(f"{src}.*"):
                shutil.copy(p, tr / (cid + p.name[len(src):]))
            if (SAMPLES / "events" / f"{src}.jsonl").exists():
                shutil.copy(SAMPLES / "events" / f"{src}.jsonl", ev / f"{cid}.jsonl")
            m = manifest[src]
            (recorded / f"{cid}.json").write_text(json.dumps(recorded_transcript(cid, m["turns"], m["duration_s"])))
            ids.append(cid)
        parts.append({"date": day.isoformat(), "calls": n, "call_ids": ids})
    return parts


def _pg_sizes(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            rows = c.execute(sa.text(
                "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'")).all()
            ev = c.execute(sa.text("SELECT count(*), coalesce(sum(length(event)), 0) FROM event_logs")).one()
    finally:
        eng.dispose()
    out = {r[0]: int(r[1]) for r in rows}
    out["_event_rows"], out["_event_payload_bytes"] = int(ev[0]), int(ev[1])
    return out


def _fit(xs: list[float], ys: list[float]) -> tuple[float | None, float | None]:
    """Least squares y = a + b x (None when x does not vary)."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        return None, None
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def domain_replay(work: Path, landing_src: Path, recorded: Path, part: dict) -> dict:
    """The same day's domain flows, no Dagster: one process, sequential, models loaded once
    (timed in), on a fresh home with a copy of the landing zone."""
    import resources.embedder as embedder_res
    import resources.redactor as redactor_res
    from assets.silver import _thresholds
    from pipeline.domain.core.keys import CallKeys, quarantine_report_key
    from pipeline.domain.core.models import stable_hash
    from pipeline.domain.flows import analytics as analytics_flow
    from pipeline.domain.flows import embeddings as embeddings_flow
    from pipeline.domain.flows import redaction as redaction_flow
    from pipeline.domain.flows import transcription as transcription_flow
    from pipeline.domain.intake import ingest
    from pipeline.domain.intake.ingest import partition_calls
    from pipeline.settings import get_settings, load_settings
    from resources import build_resources

    redactor_res._redactor.cache_clear()  # each replay loads its models once, as one process would
    embedder_res._CACHE.clear()
    home = work / f"domain_{part['date']}"
    shutil.copytree(landing_src, home / "landing")
    settings = load_settings({**os.environ, "CALLFORGE_HOME": str(home)})
    res = build_resources(settings)
    asr = _stub_asr()(recorded_dir=str(recorded), workers=1)
    date, actor = part["date"], "bench"
    timings: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
        return out

    t0 = time.perf_counter()
    lz, store, led = res["landing"].get_landing(), res["object_store"].get_store(), res["ledger"].get_ledger()
    timed("bronze_recordings", ingest.ingest_recordings, lz, store, led, date, actor)
    timed("bronze_recordings", ingest.rebuild_manifest, store, date)
    timed("bronze_imports", ingest.import_transcripts, lz, store, led, date, actor)
    timed("bronze_events", ingest.ingest_events, lz, store, led, date, actor)
    fp = stable_hash(asr.config().__dict__ | {"workers": None})
    timed("transcripts", transcription_flow.transcribe_partition, store, led, asr.transcribe_many, fp, date,
          _thresholds())
    timed("quarantine", lambda: store.put_json(quarantine_report_key(date), {"date": date, "records": [
        {k: str(r[k]) for k in ("call_id", "stage", "reason")} for r in led.open_quarantine(partition=date)]}))
    redactor = timed("load_redactor", res["redactor"].get_redactor)
    timed("redacted_transcripts", redaction_flow.redact_partition, store, led, redactor, date)
    keys = {c["call_id"]: CallKeys(date, c["tenant"], c["call_id"]).redacted_transcript
            for c in partition_calls(led, date)}
    timed("redacted_transcripts", redaction_flow.residual_pii_by_call, store, keys, redaction_flow.transcript_texts)
    timed("redacted_audio", redaction_flow.redact_audio_partition, store, led, date, 0.15, actor, None)
    timed("redacted_events", redaction_flow.redact_events_partition, store, led, redactor, date, None)
    timed("conversation_analytics", analytics_flow.analytics_partition, store, led, date, get_settings())
    embedder = timed("load_embedder", res["embedder"].get_embedder)
    timed("load_embedder", lambda: embedder.encode(["warm up"]))
    index = res["vector_index"].get_index()
    emb = timed("transcript_embeddings", embeddings_flow.embeddings_partition, store, led, embedder, index, date)
    total = time.perf_counter() - t0
    return {"domain_s": round(total, 2), "domain_model_load_s": round(timings["load_redactor"] +
                                                                       timings["load_embedder"], 2),
            "domain_steps_s": {k: round(v, 2) for k, v in timings.items()}, "calls_embedded": emb.calls}


def overhead_and_event_log(work: Path, sizes: list[int], warmup: bool) -> dict:
    """Run ingest_job for one partition per size on a PostgreSQL-backed instance; replay the
    same domain work without Dagster; report overhead and event-log growth."""
    import dagster as dg

    from benchmarks.common import step_timings, summarize_steps
    from tests.servers import postgres_server

    landing = work / "ov_landing"
    recorded = work / "recorded"
    # [warm-up] + measured sizes (the product's executor: forkserver steps, pipeline/preload.py)
    # + the largest size again with Dagster's default start method, spawn (A/B)
    kinds = (["warmup"] if warmup else []) + ["measured"] * len(sizes) + ["spawn"]
    sizes_all = ([1] if warmup else []) + sizes + [max(sizes)]
    parts = build_partitions(landing, recorded, sizes_all)
    for part, kind in zip(parts, kinds):
        part["kind"] = kind
    home = work / "ov_home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    env_keys = {"CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "CALLFORGE_LANDING": str(landing),
                "CALLFORGE_SETTINGS": str(ROOT / "callforge.yaml"), STUB_DIR_ENV: str(recorded)}
    old_env = {k: os.environ.get(k) for k in env_keys}
    os.environ.update(env_keys)
    from pipeline.settings import get_settings

    get_settings.cache_clear()
    runs = []
    try:
        with postgres_server() as url:
            import yaml

            pg = url.split("//", 1)[1]
            host_port, db = pg.split("@", 1)[1].split("/", 1)
            host, port = host_port.split(":")
            cfg = yaml.safe_load((ROOT / "dagster.yaml").read_text())
            cfg["storage"] = {"postgres": {"postgres_db": {
                "username": "postgres", "password": "", "hostname": host, "port": int(port), "db_name": db,
                "scheme": "postgresql+psycopg2"}}}
            (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(cfg))
            instance = dg.DagsterInstance.from_config(str(dagster_home))
            job = dg.reconstructable(bench_ingest_job)
            base_config = {"ops": {"silver__redacted_audio": {"config": {"verify": False}}}}
            spawn = {"execution": {"config": {"multiprocess": {"start_method": {"spawn": {}}}}}}
            for part in parts:
                run_config = {**base_config, **(spawn if part["kind"] == "spawn" else {})}
                before = _pg_sizes(url)
                t0 = time.perf_counter()
                result = dg.execute_job(job, instance=instance, run_config=run_config,
                                        tags={"dagster/partition": part["date"], "callforge/bench": "scale"})
                wall = time.perf_counter() - t0
                after = _pg_sizes(url)
                rec = instance.get_run_record_by_id(result.run_id)
                ev_tables = sum(after.get(t, 0) - before.get(t, 0) for t in EVENT_LOG_TABLES)
                run_tables = sum(after.get(t, 0) - before.get(t, 0) for t in RUN_TABLES)
                steps = step_timings(instance, result.run_id)
                runs.append({"date": part["date"], "calls": part["calls"], "kind": part["kind"],
                             "success": result.success, "wall_s": round(wall, 2),
                             "steps": len(steps),
                             "spawn_sum_s": round(sum(d.get("spawn", 0.0) for d in steps.values()), 1),
                             "step_run_sum_s": round(sum(d.get("run", 0.0) for d in steps.values()), 1),
                             "_steps": steps,
                             "run_s": round((rec.end_time or 0) - (rec.start_time or 0), 2),
                             "event_log_bytes": ev_tables, "run_tables_bytes": run_tables,
                             "event_rows": after["_event_rows"] - before["_event_rows"],
                             "event_payload_bytes": after["_event_payload_bytes"] - before["_event_payload_bytes"],
                             "by_table": {t: after.get(t, 0) - before.get(t, 0) for t in EVENT_LOG_TABLES + RUN_TABLES
                                          if after.get(t, 0) != before.get(t, 0)},
                             "load_average": _loadavg()})
            instance.dispose()
        import presidio_analyzer  # noqa: F401 - imports once, untimed: replays time model loads, not imports
        import sentence_transformers  # noqa: F401

        for r, part in zip(runs, parts):
            r.update(domain_replay(work, landing, recorded, part))
            r["overhead_s"] = round(r["wall_s"] - r["domain_s"], 2)
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
    steps_summary = summarize_steps([r.pop("_steps") for r in runs if r["kind"] == "measured"])
    measured = [r for r in runs if r["kind"] == "measured"]
    spawned = [r for r in runs if r["kind"] == "spawn"]
    same = [r for r in measured if r["calls"] == max(sizes)]
    xs = [r["calls"] for r in measured]
    a_ov, b_ov = _fit(xs, [r["overhead_s"] for r in measured])
    a_ev, b_ev = _fit(xs, [r["event_log_bytes"] for r in measured])
    _, b_pl = _fit(xs, [r["event_payload_bytes"] for r in measured])
    n_calls = sum(xs)
    return {
        "runs": runs,
        "overhead_fixed_s_per_run": round(a_ov, 2) if a_ov is not None else None,
        "overhead_marginal_ms_per_call": round(b_ov * 1000) if b_ov is not None else None,
        "overhead_ms_per_call_avg": round(1000 * sum(r["overhead_s"] for r in measured) / n_calls),
        "event_log_bytes_fixed_per_run": round(a_ev) if a_ev is not None else None,
        "event_log_marginal_bytes_per_call": round(b_ev) if b_ev is not None else None,
        "event_log_bytes_per_call_avg": round(sum(r["event_log_bytes"] for r in measured) / n_calls),
        "event_payload_bytes_per_call_avg": round(sum(r["event_payload_bytes"] for r in measured) / n_calls),
        "event_payload_marginal_bytes_per_call": round(b_pl) if b_pl is not None else None,
        "all_success": all(r["success"] for r in runs),
        "steps": steps_summary,
        # A/B: the largest partition again with Dagster's default start method (spawn)
        "spawn_overhead_ms_per_call": round(1000 * spawned[0]["overhead_s"] / spawned[0]["calls"]) if spawned else None,
        "default_overhead_ms_per_call_same_size": round(1000 * same[0]["overhead_s"] / same[0]["calls"]) if same else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=365)
    ap.add_argument("--ticks", type=int, default=5, help="steady-state ticks, each after new calls landed")
    ap.add_argument("--new-per-tick", type=int, default=5, help="new calls (2 files each) before each steady tick")
    ap.add_argument("--overhead-calls", default="1,6,24", help="calls per partition, one ingest run each")
    ap.add_argument("--skip-overhead", action="store_true", help="sensor ticks only")
    ap.add_argument("--no-warmup", action="store_true", help="no unmeasured 1-call run first")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    out: dict = {"load_average_start": _loadavg()}
    work = Path(tempfile.mkdtemp(prefix="callforge_scale_"))
    try:
        s = sensor_ticks(work, args.files, args.partitions, args.ticks, args.new_per_tick)
        busy = [t for t in s["steady"] if not t.get("idle")]
        out.update({
            "sensor_tick_s": max(t["tick_s"] for t in s["steady"]),
            "first_tick_s": s["first"]["tick_s"],
            "n_files": s["generate"]["files"],
            "n_partitions": s["generate"]["partitions"],
            "sensor": s,
            "sensor_rereads_everything": all(t["sidecars_read"] >= s["generate"]["calls"] for t in busy),
            "sensor_tick_s_burst": max(t["tick_s"] for t in s["burst"]),
            "cursor_bytes_steady": max(t["cursor_bytes"] for t in s["steady"]),
            "cursor_bytes_burst": max(t["cursor_bytes"] for t in s["burst"]),
            "bronze_scan_s": s["bronze_scan_s"],
        })
        if not args.skip_overhead:
            sizes = [int(x) for x in args.overhead_calls.split(",") if x.strip()]
            ov = overhead_and_event_log(work, sizes, warmup=not args.no_warmup)
            day_batch = max(1, s["generate"]["calls"] // max(1, s["generate"]["partitions"]))
            fixed, marginal = ov["overhead_fixed_s_per_run"], ov["overhead_marginal_ms_per_call"]
            ev_fixed, ev_marginal = ov["event_log_bytes_fixed_per_run"], ov["event_log_marginal_bytes_per_call"]
            out.update({
                "overhead_ms_per_call": ov["overhead_ms_per_call_avg"],
                "event_log_bytes_per_call": ov["event_log_bytes_per_call_avg"],
                "overhead_calls_per_run": sizes,
                "overhead_fixed_s_per_run": fixed,
                "overhead_marginal_ms_per_call": marginal,
                # the fit applied to two ways a day's calls reach the job: one run per call (a
                # sensor tick per arrival) or the whole day in one run
                "overhead_ms_per_call_one_per_run": round(1000 * fixed + marginal) if fixed is not None else None,
                "overhead_ms_per_call_day_batch": (round(1000 * fixed / day_batch + marginal)
                                                   if fixed is not None else None),
                "event_log_bytes_per_call_one_per_run": (ev_fixed + ev_marginal) if ev_fixed is not None else None,
                "event_log_bytes_per_call_day_batch": (round(ev_fixed / day_batch + ev_marginal)
                                                       if ev_fixed is not None else None),
                "day_batch_calls": day_batch,
                "overhead": ov,
            })
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    out["load_average_end"] = _loadavg()
    out["method"] = METHOD
    print(json.dumps(out))


if __name__ == "__main__":
    main()

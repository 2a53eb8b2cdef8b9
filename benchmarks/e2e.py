"""End-to-end latency benchmark (issue 14, must-have 3): landing zone -> gold with the real
Dagster daemon, against bare faster-whisper on the same calls in the same run.

A fresh temporary CALLFORGE_HOME / DAGSTER_HOME (embedded default profile: SQLite, local
object store, LanceDB, the repo's dagster.yaml and callforge.yaml) is created and
``dagster-daemon run`` is started on a workspace that loads the product's Definitions
unchanged except for the new_recordings sensor's minimum interval (``--sensor-interval-s``;
the product default is 30 s). Once the sensor has ticked, ``--calls`` two-channel calls of
``--minutes`` minutes are dropped into the landing zone ``--gap-s`` seconds apart (WAV and
sidecar renamed in together). The calls are built at run time in the temporary folder: the
agent (left) opens with the recording disclosure, then agent and customer (right) take turns
-- banking-dialogue utterances from ../shared/data/dialogs/sgd_banks (Schema-Guided
Dialogue, CC-BY-SA-4.0) spoken by espeak-ng with the samples' voices
(scripts/generate_samples.py), with the real speech of ../shared/data/speech (LibriVox,
BSD-style/public domain; the faster-whisper stereo clip, MIT) interleaved -- over a faint
noise floor. The ~30 s of real speech alone cannot fill a 5-minute call: repeated, its
transcript is (rightly) quarantined by the quality gate as a decoder loop
(hallucination_repetition). espeak-ng and sox are apt-get installed when missing. No audio
is written into the repository.

Per call, landing -> gold is the time from the drop until BOTH its conversation-analytics
row (gold/conversation_analytics/<day>/calls/<call>.json) and its embeddings (the ledger's
``embed`` stage, written right after the vector-index upsert) exist; the object's mtime
and the ledger timestamp at first sight are used, so the 0.5 s poll adds no error. When
every call is in gold and no run is queued or running, the daemon is stopped and the
final state is checked per call. ``lost_calls``: not in gold (no analytics row in the day's
table, no index rows, or quarantined -- ``quarantined_calls`` says how many of those the
product quarantined). ``duplicated_calls``: duplicate data (more than one analytics row,
more index rows than the chunks of its redacted transcript or repeated chunk ids, more than
one ``ingest`` audit row). Repeated WORK (a call transcribed, redacted or embedded by two
runs) is reported apart: ``stage_passes`` (calls processed per asset, summed over runs) and
``calls_redacted_more_than_once``. Where the time goes comes from the runs (sensor -> run
created, queued -> started, step timings from the event log) and the ledger's stage
timestamps.

The utterances that hold a name, or that tiny.en hears as one, are left out by default
(``--with-names`` keeps them): silver/redacted_audio quarantines most calls whose names it
mutes (see NAME_WORDS), and those calls never reach gold.

Then the same calls go through bare faster-whisper with the product's model and settings
(tiny.en int8, 1 thread, VAD, greedy, word timestamps, BatchedInferencePipeline batch 8,
per channel; benchmarks/asr.py's bare path), one call at a time in one process, model
loaded once: ``asr_only_p50_s``. ``e2e_vs_asr`` = e2e_p50_s / asr_only_p50_s.
``asr_fifo_p50_s`` replays the drop schedule through that bare ASR on one FIFO worker per
core (simulated from the measured per-call times): the latency an ASR-only system with the
same cores would show for this burst; ``e2e_vs_asr_fifo`` = e2e_p50_s / asr_fifo_p50_s.

Prints ONE JSON object. Smoke: ``--calls 3 --minutes 0.5``.

Usage: python benchmarks/e2e.py [--calls 20] [--minutes 5] [--gap-s 5] [--sensor-interval-s 5]
                               [--timeout-s 7200] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
for _k, _v in OFFLINE.items():
    os.environ.setdefault(_k, _v)

INTERVAL_ENV = "CALLFORGE_BENCH_SENSOR_INTERVAL_S"
TENANT = "acme"
STAGES = ("bronze", "transcribe", "redact", "redact_audio", "embed")
# Utterances left out by default: a PERSON span in a call sends it through silver/redacted_audio's
# verification, which on this audio quarantines most such calls (audio_pii_audible: tiny.en's
# word times put "John" ~0.3 s late, so the muted span misses its start) -- they would then
# never reach gold. --with-names keeps them (to measure that path).
NAME_WORDS = ("dashwood", "amiable himself")
SGD = (ROOT / ".." / "shared" / "data" / "dialogs" / "sgd_banks").resolve()


# ---------------------------------------------------------------- the code location the daemon loads
def bench_defs():
    """The product's Definitions with the new_recordings sensor's minimum interval taken
    from $CALLFORGE_BENCH_SENSOR_INTERVAL_S (everything else unchanged)."""
    import dagster as dg

    from pipeline.definitions import defs as product_defs

    d = product_defs()
    interval = int(os.environ.get(INTERVAL_ENV, "30"))

    def faster(s):
        if s.name != "new_recordings":
            return s
        return dg.SensorDefinition.dagster_internal_init(
            name=s.name, evaluation_fn=s._raw_fn, minimum_interval_seconds=interval, description=s.description,
            job_name=None, jobs=None, job=s.job, default_status=s.default_status, asset_selection=None,
            required_resource_keys=s._raw_required_resource_keys, tags=s.tags, metadata=s.metadata, target=None,
            owners=s.owners)

    return dg.Definitions(assets=d.assets, asset_checks=d.asset_checks, jobs=d.jobs,
                          sensors=[faster(s) for s in d.sensors or []], schedules=d.schedules,
                          resources=d.resources, executor=d.executor)


# ---------------------------------------------------------------- helpers
def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 2)


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _ts(v: str) -> float:
    """A ledger timestamp (naive UTC text in SQLite) as unix seconds."""
    return datetime.fromisoformat(v).replace(tzinfo=timezone.utc).timestamp()


def _sgd_turns() -> dict[str, list[str]]:
    """Unique SGD banking utterances by speaker (SYSTEM = agent, USER = customer) with no
    digits and no capitalised word inside a sentence (names, cities, months): nothing that
    the redaction engine must mute in the audio."""
    import re

    turns: dict[str, set[str]] = {"SYSTEM": set(), "USER": set()}
    for f in sorted(SGD.glob("*dialogues.json")):
        for dialogue in json.loads(f.read_text()):
            for t in dialogue["turns"]:
                u = t["utterance"].strip()
                if not u or re.search(r"\d", u):
                    continue
                start, ok = True, True
                for m in re.finditer(r"[A-Za-z']+|[.!?]", u):
                    w = m.group(0)
                    if w in ".!?":
                        start = True
                        continue
                    if w[0].isupper() and not start and not w.startswith("I"):
                        ok = False
                        break
                    start = False
                if ok:
                    turns[t["speaker"]].add(u)
    return {k: sorted(v) for k, v in turns.items()}


def build_calls(staging: Path, n: int, minutes: float, seed: int, with_names: bool = False) -> list[dict]:
    """``n`` stereo calls (agent left, customer right) of ``minutes`` with sidecars in
    ``staging``. Each call: the agent's recording disclosure, then alternating turns -- SGD
    banking utterances spoken by espeak-ng (the samples' voices; no utterance twice in a
    call, so the transcript does not look like a decoder loop to the quality gate) with the
    real LibriVox / stereo-clip speech interleaved once per call -- 0.3-0.8 s apart, over a
    faint noise floor. Without ``with_names`` the real utterances that hold a name, or that
    tiny.en hears as one, are left out (NAME_WORDS)."""
    import concurrent.futures as cf

    import numpy as np
    import soundfile as sf

    from benchmarks.asr import _clips  # the ASR benchmark's real-speech clips

    sys.path.insert(0, str(ROOT / "scripts"))
    import generate_samples as gs  # espeak-ng synthesis exactly as samples/ is made

    gs.ensure_tools(install=True)
    real = [a for text, a in _clips() if with_names or not any(w in text.lower() for w in NAME_WORDS)]
    pool = _sgd_turns()
    rng = random.Random(seed)
    for v in pool.values():
        rng.shuffle(v)
    nxt = {"SYSTEM": 0, "USER": 0}
    sr = gs.SAMPLE_RATE
    words_per_s = gs.WPM / 60.0
    plans = []
    for i in range(n):  # pick each call's turns (text only) first, then synthesise in parallel
        turns: list[tuple[str, object]] = [("agent", gs.DISCLOSURE)]
        reals = list(range(len(real)))
        rng.shuffle(reals)
        est = len(gs.DISCLOSURE.split()) / words_per_s
        while est < minutes * 60.0 * 1.15:  # generous: the mix is cut to the exact length below
            speaker = "customer" if turns[-1][0] == "agent" else "agent"
            if reals and rng.random() < 0.12:
                k = reals.pop()
                turns.append((speaker, k))
                est += real[k].size / sr + 0.55
                continue
            src = "SYSTEM" if speaker == "agent" else "USER"
            text = pool[src][nxt[src] % len(pool[src])]
            nxt[src] += 1
            turns.append((speaker, text))
            est += len(text.split()) / words_per_s + 0.55
        plans.append(turns)
    texts = sorted({(sp, t) for plan in plans for sp, t in plan if isinstance(t, str)})
    audio: dict[tuple[str, str], object] = {}

    def synth(job: tuple[int, tuple[str, str]]) -> None:
        j, (sp, t) = job
        wd = staging / f"tts_{j % 4}"
        wd.mkdir(exist_ok=True)
        audio[(sp, t)] = gs.synthesize(t, gs.VOICES[sp], wd)

    slots = {j: [] for j in range(4)}
    for j, item in enumerate(texts):
        slots[j % 4].append((j, item))
    with cf.ThreadPoolExecutor(4) as ex:  # espeak-ng / sox subprocesses; one work folder per thread
        list(ex.map(lambda js: [synth(x) for x in js], slots.values()))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    calls = []
    for i, plan in enumerate(plans):
        cid = f"e2e_{seed}_{i:04d}"
        left: list = []
        right: list = []
        for sp, t in plan:
            clip = real[t] if isinstance(t, int) else audio[(sp, t)]
            gap = np.zeros(int(rng.uniform(0.3, 0.8) * sr), np.float32)
            turn = np.concatenate([gap, np.asarray(clip, np.float32)])
            (left if sp == "agent" else right).append(turn)
            (right if sp == "agent" else left).append(np.zeros_like(turn))
        data = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
        data = data[: int(minutes * 60.0 * sr)]
        noise = np.random.default_rng(seed * 1000 + i).standard_normal(data.shape).astype(np.float32)
        wav = staging / f"{cid}.wav"
        sf.write(wav, data + 0.0005 * noise, sr, subtype="PCM_16")
        sidecar = {"call_id": cid, "tenant": TENANT, "started_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "agent_id": f"agt_{100 + i % 7}", "direction": "inbound",
                   "consent": {"recording": "granted", "training": True},
                   "customer_id": f"cust_{i:04d}", "channel_map": {"0": "agent", "1": "customer"}}
        (staging / f"{cid}.json").write_text(json.dumps(sidecar))
        calls.append({"call_id": cid, "date": now.date().isoformat(), "wav": str(wav),
                      "seconds": round(data.shape[0] / sr, 2), "turns": len(plan),
                      "real_speech_turns": sum(1 for _, t in plan if isinstance(t, int))})
    for j in range(4):
        shutil.rmtree(staging / f"tts_{j}", ignore_errors=True)
    return calls


def _land(staging: Path, rec: Path, cid: str) -> float:
    """Rename the call's WAV and sidecar into the landing zone (mtime = now); return the
    landing time."""
    now = time.time()
    for ext in (".wav", ".json"):
        os.utime(staging / f"{cid}{ext}", (now, now))
    os.rename(staging / f"{cid}.wav", rec / f"{cid}.wav")
    os.rename(staging / f"{cid}.json", rec / f"{cid}.json")
    return now


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # a non-interactive daemon ignores SIGINT
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _first_tick(instance, timeout: float, proc: subprocess.Popen, log: Path) -> float:
    """Wait until the new_recordings sensor has ticked once; return when it did."""
    from dagster._core.scheduler.instigation import InstigatorType

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited: {log.read_text()[-3000:]}")
        for st in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if st.instigator_name == "new_recordings":
                ticks = instance.get_ticks(st.instigator_origin_id, st.selector_id, limit=1)
                if ticks:
                    return ticks[0].timestamp
        time.sleep(1)
    raise SystemExit(f"the sensor did not tick within {timeout}s: {log.read_text()[-3000:]}")


class Watcher:
    """First sight of each call's gold outputs and ledger stage timestamps."""

    def __init__(self, home: Path, calls: list[dict]) -> None:
        from pipeline.domain.core.keys import CallKeys

        self.ledger = home / "ledger.db"
        self.analytics = {c["call_id"]: home / "objects" / CallKeys(c["date"], TENANT, c["call_id"]).analytics
                          for c in calls}
        self.first: dict[str, dict[str, float]] = {c["call_id"]: {} for c in calls}

    def poll(self) -> None:
        for cid, p in self.analytics.items():
            if "analytics" not in self.first[cid]:
                try:
                    self.first[cid]["analytics"] = p.stat().st_mtime
                except FileNotFoundError:
                    pass
        if not self.ledger.exists():
            return
        try:
            con = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=5)
            rows = con.execute("SELECT stage, call_id, ts FROM processed").fetchall()
            con.close()
        except sqlite3.Error:
            return
        for stage, cid, ts in rows:
            if cid in self.first and stage not in self.first[cid]:
                self.first[cid][stage] = _ts(ts)

    def gold(self, cid: str) -> float | None:
        f = self.first[cid]
        return max(f["analytics"], f["embed"]) if "analytics" in f and "embed" in f else None


# ---------------------------------------------------------------- the run
def run_e2e(args: argparse.Namespace, work: Path, calls: list[dict], staging: Path) -> dict:
    import dagster as dg

    home = work / "home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    rec = home / "landing" / "recordings"
    rec.mkdir(parents=True)
    workspace = work / "workspace.yaml"
    workspace.write_text(json.dumps({"load_from": [{"python_file": {
        "relative_path": str(Path(__file__).resolve()), "attribute": "bench_defs",
        "working_directory": str(ROOT), "location_name": "callforge"}}]}))
    env = {**os.environ, **OFFLINE, "CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "CALLFORGE_SETTINGS": str(ROOT / "callforge.yaml"), INTERVAL_ENV: str(args.sensor_interval_s)}
    log = work / "daemon.log"
    daemon = Path(sys.executable).parent / "dagster-daemon"
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    # create the SQLite storages before the daemon starts: two processes creating them at
    # once can stamp two alembic heads into schedules.db (then no code location loads)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    instance.get_runs(limit=1)
    instance.all_instigator_state()
    t_daemon = time.time()
    with log.open("wb") as logf:
        proc = subprocess.Popen([str(daemon), "run", "-w", str(workspace)], cwd=ROOT, env=env, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    watcher = Watcher(home, calls)
    landed: dict[str, float] = {}
    try:
        first_tick = _first_tick(instance, 600, proc, log)
        t_start = time.time()
        load_start = _loadavg()
        for i, c in enumerate(calls):
            if i:
                time.sleep(args.gap_s)
            landed[c["call_id"]] = _land(staging, rec, c["call_id"])
            c["wav"] = str(rec / f"{c['call_id']}.wav")  # the bare pass reads it there afterwards
            watcher.poll()
        deadline = time.monotonic() + args.timeout_s
        while time.monotonic() < deadline:
            watcher.poll()
            if all(watcher.gold(c) is not None for c in landed):
                break
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        t_all_gold = time.time()
        # let queued / running runs finish so that any duplicate work is counted too
        settle_deadline = time.monotonic() + args.settle_s
        while time.monotonic() < settle_deadline:
            active = instance.get_runs(filters=dg.RunsFilter(statuses=[
                dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED]))
            if not active:
                break
            time.sleep(2)
        watcher.poll()
        load_end = _loadavg()
    finally:
        _stop(proc)
    runs = _runs(instance)
    instance.dispose()
    final = _final_state(home, calls)
    per_call = {}
    for c in calls:
        cid = c["call_id"]
        g = watcher.gold(cid)
        per_call[cid] = {"landed": landed.get(cid), "gold": g, "e2e_s": round(g - landed[cid], 2) if g else None,
                         **{k: v for k, v in watcher.first[cid].items()}}
    return {"per_call": per_call, "runs": runs, "final": final, "first_tick": first_tick,
            "daemon_start_to_first_tick_s": round(first_tick - t_daemon, 1),
            "drop_window_s": round(max(landed.values()) - min(landed.values()), 1),
            "all_gold_after_s": round(t_all_gold - t_start, 1), "load_start": load_start, "load_end": load_end,
            "daemon_log_tail": log.read_text()[-2000:] if any(r["status"] != "SUCCESS" for r in runs) else ""}


def _runs(instance) -> list[dict]:
    """ingest_job runs with their timing and per-step timing (from the event log)."""
    import dagster as dg
    from dagster import DagsterEventType as E

    from benchmarks.common import step_timings

    out = []
    for rec in instance.get_run_records(filters=dg.RunsFilter(job_name="ingest_job")):
        run = rec.dagster_run
        steps = step_timings(instance, run.run_id)
        mats = {}
        for ev in instance.all_logs(run.run_id, of_type=E.ASSET_MATERIALIZATION):
            m = ev.asset_materialization
            md = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
            mats["/".join(m.asset_key.path)] = {k: md[k] for k in ("processed", "skipped_unchanged", "calls_embedded",
                                                                   "calls", "quarantined") if k in md}
        out.append({"run_id": run.run_id, "status": run.status.value, "created": rec.create_timestamp.timestamp(),
                    "started": rec.start_time, "ended": rec.end_time, "files": run.tags.get("callforge/files"),
                    "partition": run.tags.get("dagster/partition"), "steps": steps, "materializations": mats})
    return sorted(out, key=lambda r: r["created"])


def _final_state(home: Path, calls: list[dict]) -> dict:
    """Per call after the daemon stopped: analytics rows, index rows vs chunks, ledger
    ingest / redaction counts, open quarantine."""
    import io

    import pandas as pd

    from pipeline.domain.core.keys import CallKeys, analytics_table_key
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.models import Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.search.chunking import chunk_transcript
    from pipeline.domain.search.lance_index import LanceDBIndex

    store = LocalObjectStore(home / "objects")
    led = Ledger(f"sqlite:///{home / 'ledger.db'}")
    dates = sorted({c["date"] for c in calls})
    analytics_rows: dict[str, int] = {}
    for d in dates:
        if store.exists(analytics_table_key(d)):
            df = pd.read_parquet(io.BytesIO(store.get_bytes(analytics_table_key(d))), columns=["call_id"])
            for cid, n in df["call_id"].value_counts().items():
                analytics_rows[cid] = int(n)
    tbl = LanceDBIndex(str(home / "lancedb")).table()
    idx = tbl.to_arrow().select(["call_id", "chunk_id"]).to_pandas() if tbl.count_rows() else pd.DataFrame(
        columns=["call_id", "chunk_id"])
    audit = led.audit_rows()
    out = {}
    for c in calls:
        cid = c["call_id"]
        keys = CallKeys(c["date"], TENANT, cid)
        rows = idx[idx["call_id"] == cid]
        expected = None
        if store.exists(keys.redacted_transcript):
            expected = len(chunk_transcript(Transcript.from_dict(store.get_json(keys.redacted_transcript)), cid))
        acts = [a for a in audit if a.get("call_id") == cid]
        ingest_actors = [a["actor"] for a in acts if a["action"] == "ingest"]
        out[cid] = {
            "analytics_rows": analytics_rows.get(cid, 0),
            "index_rows": len(rows), "index_unique_chunks": int(rows["chunk_id"].nunique()),
            "expected_chunks": expected,
            "ingests": len(ingest_actors),
            "ingest_run": ingest_actors[0].split(":", 1)[1] if ingest_actors else None,
            "transcript_redactions": sum(1 for a in acts if a["action"] == "redaction"
                                         and (a.get("details") or {}).get("asset") == "silver/redacted_transcripts"),
            "quarantine": [f"{q['stage']}/{q['reason']}" for q in led.quarantine_rows(cid) if not q.get("released_at")],
        }
    led.dispose()
    return out


# ---------------------------------------------------------------- bare faster-whisper, same calls
def bare_asr(calls: list[dict]) -> dict:
    """Each call through bare faster-whisper (benchmarks/asr.py's bare batched path: the
    product's model, int8, 1 thread, VAD, greedy, word timestamps, batch 8, per channel),
    one at a time in this process; model load timed separately."""
    from benchmarks import asr as asr_bench

    t0 = time.perf_counter()
    asr_bench._bare_init(8)
    load_s = time.perf_counter() - t0
    per_call = {}
    for c in calls:
        if not Path(c["wav"]).is_file():
            raise FileNotFoundError(c["wav"])
        t = time.perf_counter()
        asr_bench._bare_one((c["call_id"], c["wav"]))
        per_call[c["call_id"]] = round(time.perf_counter() - t, 2)
    return {"load_s": round(load_s, 2), "per_call_s": per_call}


def fifo(arrivals: list[float], service: list[float], workers: int) -> list[float]:
    """Latencies of jobs (in arrival order) on ``workers`` parallel FIFO servers."""
    free = [0.0] * workers
    out = []
    for a, s in zip(arrivals, service):
        i = min(range(workers), key=lambda k: free[k])
        start = max(a, free[i])
        free[i] = start + s
        out.append(free[i] - a)
    return out


# ---------------------------------------------------------------- report
def _breakdown(res: dict, calls: list[dict]) -> dict:
    """Where the time goes, per call (p50/p95 over calls, from the run that ingested the
    call and the ledger's stage timestamps) and per step kind (over all runs)."""
    runs = {r["run_id"]: r for r in res["runs"]}
    legs: dict[str, list[float]] = {k: [] for k in ("sensor_to_run_created", "run_queued", "run_start_to_bronze",
                                                   "bronze_to_transcribed", "transcribed_to_redacted",
                                                   "redacted_to_gold")}
    for c in calls:
        cid = c["call_id"]
        p = res["per_call"][cid]
        run = runs.get(res["final"][cid].get("ingest_run") or "")
        if run is None or p["gold"] is None:
            continue
        legs["sensor_to_run_created"].append(run["created"] - p["landed"])
        if run["started"]:
            legs["run_queued"].append(run["started"] - run["created"])
            if "bronze" in p:
                legs["run_start_to_bronze"].append(p["bronze"] - run["started"])
        if "bronze" in p and "transcribe" in p:
            legs["bronze_to_transcribed"].append(p["transcribe"] - p["bronze"])
        if "transcribe" in p and "redact" in p:
            legs["transcribed_to_redacted"].append(p["redact"] - p["transcribe"])
        if "redact" in p:
            legs["redacted_to_gold"].append(p["gold"] - p["redact"])
    from benchmarks.common import summarize_steps

    return {
        "per_call_p50_s": {k: _pct(v, 0.5) for k, v in legs.items()},
        "per_call_p95_s": {k: _pct(v, 0.95) for k, v in legs.items()},
        "steps": summarize_steps([r["steps"] for r in res["runs"]]),
        "run_wall_s": [round(r["ended"] - r["started"], 1) for r in res["runs"] if r["ended"] and r["started"]],
        "run_queued_s": [round(r["started"] - r["created"], 1) for r in res["runs"] if r["started"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--gap-s", type=float, default=5.0)
    ap.add_argument("--sensor-interval-s", type=int, default=5)
    ap.add_argument("--timeout-s", type=float, default=7200.0, help="give up waiting for gold after this")
    ap.add_argument("--settle-s", type=float, default=3600.0, help="wait at most this for runs still in flight")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--no-bare", action="store_true", help="skip the bare faster-whisper pass")
    ap.add_argument("--with-names", action="store_true", help="keep the utterances with (mis)heard names")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (state, daemon log)")
    args = ap.parse_args()
    # SIGTERM -> SystemExit, so the daemon we started is stopped by the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = Path(tempfile.mkdtemp(prefix="callforge_e2e_"))
    try:
        staging = work / "staging"
        staging.mkdir()
        calls = build_calls(staging, args.calls, args.minutes, args.seed, args.with_names)
        res = run_e2e(args, work, calls, staging)
        bare = None if args.no_bare else (bare_asr(calls), _loadavg())
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
    (work / "raw.json").write_text(json.dumps({"calls": calls, "res": res, "bare": bare}, default=str))
    try:
        out = _report(args, calls, res, bare)
    except Exception:
        print(f"report failed; raw measurements kept in {work / 'raw.json'}", file=sys.stderr)
        raise
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))


def _report(args, calls, res, bare) -> dict:
    final = res["final"]
    res["breakdown"] = _breakdown(res, calls)
    e2e = [p["e2e_s"] for p in res["per_call"].values() if p["e2e_s"] is not None]
    lost = sorted(cid for cid, p in res["per_call"].items()
                  if p["gold"] is None or final[cid]["analytics_rows"] == 0 or final[cid]["index_rows"] == 0
                  or final[cid]["quarantine"])
    dup = sorted(cid for cid, f in final.items()
                 if f["analytics_rows"] > 1 or f["index_rows"] != f["index_unique_chunks"]
                 or (f["expected_chunks"] is not None and f["index_rows"] > f["expected_chunks"])
                 or f["ingests"] > 1)
    asr_p50 = fifo_p50 = None
    bare_out = {}
    if bare is not None:
        b, load_bare = bare
        svc = [b["per_call_s"][c["call_id"]] for c in calls]
        asr_p50 = _pct(svc, 0.5)
        arr = [res["per_call"][c["call_id"]]["landed"] for c in calls]
        workers = os.cpu_count() or 1  # an ASR-only system on the same cores: one process per core
        fifo_p50 = _pct(fifo([a - arr[0] for a in arr], svc, workers), 0.5)
        bare_out = {"asr_only_p95_s": _pct(svc, 0.95), "asr_model_load_s": b["load_s"],
                    "asr_fifo_workers": workers, "asr_fifo_p50_s": fifo_p50,
                    "asr_x_realtime_per_call": _pct([c["seconds"] / s for c, s in zip(calls, svc)], 0.5),
                    "load_average_bare": load_bare}
    work_done = {}
    for asset, key in (("silver/transcripts", "processed"), ("silver/redacted_transcripts", "processed"),
                       ("silver/redacted_audio", "processed"), ("gold/transcript_embeddings", "calls_embedded"),
                       ("bronze/recordings", "processed")):
        work_done[asset] = sum(int(r["materializations"].get(asset, {}).get(key, 0) or 0) for r in res["runs"])
    e2e_p50 = _pct(e2e, 0.5)
    return {
        "e2e_p50_s": e2e_p50,
        "e2e_p95_s": _pct(e2e, 0.95),
        "asr_only_p50_s": asr_p50,
        "e2e_vs_asr": round(e2e_p50 / asr_p50, 2) if e2e_p50 and asr_p50 else None,
        # the same burst through bare ASR on the same cores (queueing included): what the
        # orchestration, redaction, embedding and writes add on top of a burst's own wait
        "e2e_vs_asr_fifo": round(e2e_p50 / fifo_p50, 2) if e2e_p50 and fifo_p50 else None,
        "lost_calls": len(lost),
        "quarantined_calls": sum(1 for f in final.values() if f["quarantine"]),
        "duplicated_calls": len(dup),
        "calls_redacted_more_than_once": sum(1 for f in final.values() if f["transcript_redactions"] > 1),
        "n_calls": len(calls),
        "call_seconds": _pct([c["seconds"] for c in calls], 0.5),
        "load_average": {"start": res["load_start"], "end": res["load_end"]},
        **bare_out,
        "e2e_max_s": max(e2e) if e2e else None,
        "all_gold_after_first_drop_s": res["all_gold_after_s"],
        "drop_window_s": res["drop_window_s"],
        "daemon_start_to_first_tick_s": res["daemon_start_to_first_tick_s"],
        "runs": len(res["runs"]),
        "runs_failed": sum(1 for r in res["runs"] if r["status"] != "SUCCESS"),
        "run_files_tags": [r["files"] for r in res["runs"]],
        "stage_passes": work_done,  # calls processed per asset summed over runs (== n_calls: no repeated work)
        "where_time_goes": res["breakdown"],
        "lost_call_ids": lost, "duplicated_call_ids": dup,
        "per_call_e2e_s": {cid: p["e2e_s"] for cid, p in res["per_call"].items()},
        "config": {"calls": args.calls, "minutes": args.minutes, "gap_s": args.gap_s,
                   "sensor_min_interval_s": args.sensor_interval_s, "product_sensor_interval_s": 30,
                   "profile": "embedded (SQLite, local objects, LanceDB)", "dagster_yaml": "repo dagster.yaml",
                   "settings": "repo callforge.yaml", "seed": args.seed},
        "daemon_log_tail": res["daemon_log_tail"],
    }


if __name__ == "__main__":
    main()

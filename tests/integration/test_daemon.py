"""The real Dagster daemon (SQLite storage): a recording dropped into the landing zone is
picked up by the new_recordings sensor, its day partition runs, and its transcript
appears. The test starts and stops everything it starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 780  # the sharded ingest has 16 steps, each a process; slow when the machine is shared


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # non-interactive: SIGINT is ignored, SIGTERM is not
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_daemon_sensor_runs_new_recording(tmp_path):
    home = tmp_path / "home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "CALLFORGE_SETTINGS": str(REPO / "callforge.yaml"), "CALLFORGE_ASR_WORKERS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    # create the instance's SQLite storages before the daemon's processes open them at once
    # (concurrent first opens can race on the schema: "more than one head present")
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen([str(daemon_bin), "run", "-w", str(REPO / "workspace.yaml")], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # drop a new call into the landing zone while the daemon is running
        rec = home / "landing" / "recordings"
        rec.mkdir(parents=True)
        for p in (REPO / "samples" / "recordings").glob("call_0006.*"):
            shutil.copy(p, rec / p.name)
        transcript = home / "objects" / "silver" / "transcripts" / "2026-11-03" / "call_0006.json"
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        deadline = time.monotonic() + TIMEOUT_S
        run = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"daemon exited: {(tmp_path / 'daemon.log').read_text()[-3000:]}"
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="ingest_job"))
            finished = [r for r in runs if r.is_finished]
            if finished:
                run = finished[0]
                break
            time.sleep(3)
        assert run is not None, f"no run within {TIMEOUT_S}s; daemon log tail:\n{(tmp_path / 'daemon.log').read_text()[-3000:]}"
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
        assert run.tags.get("dagster/partition") == "2026-11-03"
        assert run.tags.get("callforge/trigger") == "new_recordings"
        assert transcript.exists()
        instance.dispose()
    finally:
        _stop(proc)
        log.close()
    assert proc.returncode is not None

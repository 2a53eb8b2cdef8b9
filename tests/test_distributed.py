"""The executors (pipeline/distributed.py): forkserver step processes on one host, ingest_job's
Celery switch and the workers' celery.yaml, offline. The live run on Redis and two workers is
tests/integration/test_celery.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipeline.distributed import (
    BACKEND_ENV,
    BROKER_ENV,
    PRELOAD_MODULE,
    celery_executor_config,
    ingest_executor,
    step_executor,
)

REPO = Path(__file__).resolve().parents[1]


def test_no_broker_means_the_default_executor():
    assert celery_executor_config({}) is None
    assert ingest_executor({}) is None


def test_executor_config_references_env_vars_never_values():
    assert celery_executor_config({BROKER_ENV: "redis://h:6379/0"}) == {
        "broker": {"env": BROKER_ENV}, "backend": {"env": BROKER_ENV}}  # the broker doubles as backend
    cfg = celery_executor_config({BROKER_ENV: "redis://h:6379/0", BACKEND_ENV: "redis://h:6379/1"})
    assert cfg == {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}}
    assert ingest_executor({BROKER_ENV: "redis://h:6379/0"}).name == "celery_executor"


def test_ingest_job_runs_on_celery_only_when_a_broker_is_set():
    code = ("from pipeline.definitions import defs; d = defs(); "
            "print(d.resolve_job_def('ingest_job').executor_def.name, d.resolve_job_def('training_job').executor_def.name)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLFORGE_CELERY_", "CALLFORGE_K8S_"))}
    out = {}
    for label, extra in (("off", {}), ("on", {BROKER_ENV: "redis://127.0.0.1:1/0"})):
        res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**env, **extra},
                             capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        out[label] = res.stdout.split()[-2:]
    assert out["off"] == ["multi_or_in_process_executor", "multi_or_in_process_executor"]
    assert out["on"] == ["celery_executor", "multi_or_in_process_executor"]  # only the ingest job


def test_worker_yaml_is_valid_celery_executor_config(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv(BROKER_ENV, "redis://127.0.0.1:6379/0")
    monkeypatch.setenv(BACKEND_ENV, "redis://127.0.0.1:6379/1")
    cfg = get_validated_config(str(REPO / "celery.yaml"))
    assert cfg["broker"] == "redis://127.0.0.1:6379/0" and cfg["backend"] == "redis://127.0.0.1:6379/1"
    assert cfg["config_source"]["task_acks_late"] is True


def test_heavy_assets_fan_out_to_the_configured_number_of_shards(tmp_path):
    """execution.shards shapes the graph (read at import): one step per shard and a fan-in
    step for each heavy asset; asset keys and checks do not change."""
    import yaml

    cfg = yaml.safe_load((REPO / "callforge.yaml").read_text())
    cfg["execution"] = {"shards": 3}
    settings = tmp_path / "callforge.yaml"
    settings.write_text(yaml.safe_dump(cfg))
    code = ("from dagster._core.execution.api import create_execution_plan; from pipeline.definitions import defs; "
            "j = defs().resolve_job_def('ingest_job'); "
            "print(' '.join(sorted(create_execution_plan(j, tags={'dagster/partition': '2026-11-03'}).step_keys_to_execute)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLFORGE_CELERY_", "CALLFORGE_K8S_"))}
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**env, "CALLFORGE_SETTINGS": str(settings)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    steps = set(res.stdout.split())
    for graph, op, fan_in in (("silver__transcripts", "transcribe_shard", "merge_transcription"),
                              ("silver__redacted_transcripts", "redact_shard", "merge_redaction"),
                              ("silver__redacted_audio", "redact_audio_shard", "merge_redacted_audio"),
                              ("gold__transcript_embeddings", "embed_shard", "index_embeddings")):
        assert {s for s in steps if s.startswith(f"{graph}.")} == {f"{graph}.{op}_{i}" for i in range(3)} | {f"{graph}.{fan_in}"}


# ---------------------------------------------------------------- one host: forkserver steps
def _resolved(executor: dg.ExecutorDefinition, run_config: dict) -> dict:
    """The config the multi_or_in_process executor receives for ``run_config``'s
    ``execution: config:`` part."""
    res = executor.config_schema.resolve_config({"config": run_config})
    assert res.success, res.errors
    return res.value["config"]


def test_steps_start_from_a_preloaded_forkserver_unless_the_run_says_otherwise():
    ex = step_executor("forkserver")
    assert ex.name == "multi_or_in_process_executor"  # same name and run config as Dagster's default
    forkserver = {"forkserver": {"preload_modules": [PRELOAD_MODULE]}}
    assert _resolved(ex, {"multiprocess": {}})["multiprocess"]["start_method"] == forkserver
    got = _resolved(ex, {"multiprocess": {"max_concurrent": 1}})["multiprocess"]
    assert got["max_concurrent"] == 1 and got["start_method"] == forkserver
    # a run that chooses its own start method, or in-process execution, keeps it
    assert _resolved(ex, {"multiprocess": {"start_method": {"spawn": {}}}})["multiprocess"]["start_method"] == {"spawn": {}}
    assert "multiprocess" not in _resolved(ex, {"in_process": {}})
    assert step_executor("spawn") is dg.multi_or_in_process_executor


def test_unknown_start_method_is_a_clear_error():
    with pytest.raises(ValueError, match="execution.start_method must be one of"):
        step_executor("fork")


def test_preload_reports_what_it_could_not_import():
    from pipeline.preload import MODULES, preload

    assert "pipeline.definitions" in MODULES and "lancedb" not in MODULES  # lancedb starts a thread at import
    assert preload(("json", "callforge_no_such_module")) == ["callforge_no_such_module"]


@dg.op
def where_am_i() -> dict:
    return {"pid": os.getpid(), "ppid": os.getppid(), "presidio_loaded": "presidio_analyzer" in sys.modules,
            "torch_loaded": "torch" in sys.modules}


@dg.job(executor_def=step_executor("forkserver"))
def forkserver_probe():
    where_am_i()


@dg.job(executor_def=step_executor("spawn"))
def spawn_probe():
    where_am_i()


def test_a_step_process_starts_with_the_heavy_imports_already_done(tmp_path):
    """A real run per start method: under the forkserver the step process was forked with
    Presidio and torch already imported (this test module imports neither); under spawn it
    starts bare and would import them itself."""
    seen = {}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for name in ("forkserver_probe", "spawn_probe"):
            with dg.execute_job(dg.reconstructable(globals()[name]), instance=instance) as result:
                assert result.success
                seen[name] = result.output_for_node("where_am_i")
    fork, spawn = seen["forkserver_probe"], seen["spawn_probe"]
    assert fork["presidio_loaded"] and fork["torch_loaded"]
    assert not spawn["presidio_loaded"] and not spawn["torch_loaded"]
    assert fork["ppid"] != os.getpid() and fork["pid"] != os.getpid()  # its own process, not this one

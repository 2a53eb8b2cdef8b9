"""Step execution: how a run's steps get a process, on one host or on Celery workers.

One host (every profile without a broker): ``step_executor()``, Dagster's multiprocess
executor with the ``forkserver`` start method and pipeline/preload.py preloaded, so each
step forks from a process that has imported Presidio, spaCy, torch and the code location
once per run instead of importing them again (settings ``execution.start_method``).

Distributed: ``ingest_job`` with dagster-celery (Redis broker).

Inert unless ``CALLFORGE_CELERY_BROKER`` is set when the code location loads: then
``ingest_job`` submits every step to the Celery queue "dagster" and workers started with
``dagster-celery worker start -A dagster_celery.app -y celery.yaml`` run them (README
"Distributed execution"). The shard steps of silver/transcripts, silver/redacted_transcripts,
silver/redacted_audio and gold/transcript_embeddings (assets/shards.py) are what spreads a day over the workers.

Workers need the same code, settings, ``DAGSTER_HOME`` (PostgreSQL run/event storage) and an
object store and IO manager they can all reach: the production profile (S3 and
``S3PickleIOManager``). The URLs are read from the environment when a run starts
(``{"env": ...}`` config), never written into the job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

BROKER_ENV = "CALLFORGE_CELERY_BROKER"  # e.g. redis://redis.internal:6379/0
BACKEND_ENV = "CALLFORGE_CELERY_BACKEND"  # e.g. redis://redis.internal:6379/1 (default: the broker)


START_METHODS = ("forkserver", "spawn")
PRELOAD_MODULE = "pipeline.preload"


def step_executor(start_method: str | None = None):
    """Dagster's default executor (``multi_or_in_process_executor``, same run config) whose
    multiprocess mode starts steps with ``forkserver`` and pipeline/preload.py preloaded:
    steps start in ~1 s instead of 3-15 s each. A run config that names its own
    ``start_method`` (or ``in_process``) keeps it. ``execution.start_method: spawn`` in the
    settings restores Dagster's default (each step a fresh interpreter)."""
    import dagster as dg

    from pipeline.settings import get_settings

    method = start_method or str(get_settings().section("execution").get("start_method") or "forkserver")
    if method not in START_METHODS:
        raise ValueError(f"execution.start_method must be one of {START_METHODS}, got {method!r}")
    base = dg.multi_or_in_process_executor
    if method == "spawn":
        return base

    def with_forkserver(cfg: dict[str, Any]) -> dict[str, Any]:
        multi = cfg.get("multiprocess")
        if multi is None or multi.get("start_method"):
            return cfg
        return {"multiprocess": {**multi, "start_method": {"forkserver": {"preload_modules": [PRELOAD_MODULE]}}}}

    return base.configured(with_forkserver, name=base.name, config_schema=base.config_schema)


def celery_executor_config(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The celery executor's config (env-var references, not values), or None when no
    broker is configured."""
    env = os.environ if env is None else env
    if not env.get(BROKER_ENV):
        return None
    return {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV if env.get(BACKEND_ENV) else BROKER_ENV}}


def ingest_executor(env: Mapping[str, str] | None = None):
    """``celery_executor`` configured from the environment, or None (then the job keeps
    Dagster's default multiprocess executor, or the Definitions' executor)."""
    cfg = celery_executor_config(env)
    if cfg is None:
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(cfg, name="celery_executor")

"""Distributed step execution for ``ingest_job`` with dagster-celery (Redis broker).

Inert unless ``CALLFORGE_CELERY_BROKER`` is set when the code location loads: then
``ingest_job`` submits every step to the Celery queue "dagster" and workers started with
``dagster-celery worker start -A dagster_celery.app -y celery.yaml`` run them (README
"Distributed execution"). The shard steps of silver/transcripts, silver/redacted_transcripts
and gold/transcript_embeddings (assets/shards.py) are what spreads a day over the workers.

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

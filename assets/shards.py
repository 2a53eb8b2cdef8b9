"""Fan-out of a day's calls: the heavy per-call assets (silver/transcripts,
silver/redacted_transcripts, silver/redacted_audio, gold/transcript_embeddings) are graph-backed: ``SHARDS`` shard
ops (settings ``execution.shards``) each do the calls whose ``sha256(call_id) mod SHARDS``
is their index (``pipeline.domain.flows.common.Shard``), and one fan-in op merges their
reports into the asset's materialization and check results. Under the default multiprocess
executor the shards run in parallel processes; under dagster-celery on whichever workers
are free. Per-call idempotency stays in the ledger.

The shard count is part of the graph, so it is read from the settings file when this module
is imported: every process of a deployment (webserver, run worker, Celery workers) must see
the same ``execution.shards`` (a worker that does not fails loudly: the step does not exist).
Static ops rather than dynamic outputs: no planning step, which matters when every step is a
process to start (about 10-30 s each on a busy 2-core machine).
"""

from collections.abc import Callable

import dagster as dg

from pipeline.domain.flows.common import Shard
from pipeline.settings import DEFAULT_SHARDS, load_settings


def shard_setting() -> int:
    """``execution.shards`` from the settings file (default 2). Read without the settings
    cache: this runs at import time, before tests point CALLFORGE_SETTINGS elsewhere."""
    n = int(load_settings().section("execution").get("shards") or DEFAULT_SHARDS)
    if n < 1:
        raise ValueError(f"execution.shards must be >= 1, got {n}")
    return n


SHARDS = shard_setting()


def shard_label(shard: Shard) -> str:
    return f"shard {shard.index + 1}/{shard.count}"


def shard_ops(make: Callable[[Shard], dg.OpDefinition]) -> list[dg.OpDefinition]:
    """One op per shard, built by ``make(Shard(i, SHARDS))`` (its name must end in ``_{i}``)."""
    return [make(Shard(i, SHARDS)) for i in range(SHARDS)]

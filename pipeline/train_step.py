"""The training step as a Dagster Pipes subprocess: ``python -m pipeline.train_step``.

``gold/lora_adapters`` launches it through a Pipes client (``PipesSubprocessClient`` here;
in production the same module runs in a container on a GPU node, e.g. via
``PipesK8sClient``). The launching run passes plain extras — the adapter kind, the dataset
manifest, the object store's secret-free spec and the trainer settings — and this process
trains, registers the version (published to ``adapters/<name>/<version>/``), streams
progress to the run's logs and reports the materialization (counts and URIs only).

Run by hand (outside Dagster) it prints the result as JSON instead::

    python -m pipeline.train_step --extras extras.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")


def run(extras: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Train and register one adapter; returns ``{"metadata", "data_version"}``."""
    from pipeline.domain.core.storage import open_store
    from pipeline.domain.flows.learning import TrainerSettings, train_adapter

    kind = extras.get("kind", "intent")
    store = open_store(extras["store"])
    settings = TrainerSettings(**extras["trainer"])
    dataset = extras["dataset"]
    t0 = time.perf_counter()

    def progress(step: int, total: int, loss: float) -> None:
        if step == total or step % max(1, total // 10) == 0:
            log(f"training step {step}/{total} loss={loss:.4f} ({time.perf_counter() - t0:.0f} s)")

    log(f"training a {kind} adapter on dataset {dataset['version']} (pid {os.getpid()})")
    res = train_adapter(store, dataset, settings, progress, name=kind, on_message=log)
    meta = {"adapter_version": res.version, "adapter_name": kind, "steps": res.steps,
            "train_seconds": round(res.seconds, 1), "train_rows": res.train_rows,
            "labels": len(res.manifest.get("label_names") or []), "dataset_version": dataset["version"],
            "base_model_sha256": res.manifest.get("base_model_sha256") or "",
            "code_version": res.manifest.get("code_version") or "", "uri": res.manifest.get("uri") or "",
            "step_pid": os.getpid()}
    return {"metadata": meta, "data_version": res.version}


def main() -> None:
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, open_dagster_pipes

    if DAGSTER_PIPES_CONTEXT_ENV_VAR not in os.environ:  # run by hand, not launched by Dagster
        ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--extras", required=True, help="JSON file with kind, dataset, store and trainer")
        args = ap.parse_args()
        out = run(json.loads(open(args.extras, encoding="utf-8").read()), lambda m: print(m, file=sys.stderr))
        print(json.dumps(out))
        return
    with open_dagster_pipes() as pipes:
        out = run(dict(pipes.extras), pipes.log.info)
        md = {k: ({"raw_value": v, "type": "url"} if k == "uri" and v else v) for k, v in out["metadata"].items()}
        pipes.report_asset_materialization(metadata=md, data_version=out["data_version"])


if __name__ == "__main__":
    main()

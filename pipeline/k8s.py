"""Kubernetes placement (dagster-k8s): the GPU step's pod settings and the step executor.

Inert outside Kubernetes: the ``dagster-k8s/config`` tag is read only by the
K8sRunLauncher / ``k8s_job_executor`` (deploy/README.md), and ``k8s_executor()`` returns
None (the default multiprocess executor) unless ``CALLFORGE_K8S_EXECUTOR_CONFIG`` names
the executor's YAML (deploy/k8s-executor.yaml, set by deploy/values.yaml).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

K8S_CONFIG_TAG = "dagster-k8s/config"  # dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY
EXECUTOR_CONFIG_ENV = "CALLFORGE_K8S_EXECUTOR_CONFIG"

# One step's pod, in dagster-k8s's snake_case form of the Kubernetes API objects
# (V1Container / V1PodSpec / V1JobSpec), deep-merged over the executor's step defaults.
GPU_STEP_K8S_CONFIG: dict[str, Any] = {
    "container_config": {
        "resources": {
            # extended resources: a limit alone also sets the request
            "limits": {"nvidia.com/gpu": 1, "memory": "24Gi"},
            "requests": {"cpu": "4", "memory": "16Gi"},
        },
    },
    "pod_spec_config": {
        # set on GPU nodes by NVIDIA GPU feature discovery (GPU Operator); see deploy/README.md
        "node_selector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "pod_template_spec_metadata": {"labels": {"callforge.io/step": "training"}},
    # A hung training pod is killed when a later run may break its training lock anyway
    # (TrainerResource.lock_stale_after_s, 6 h by default).
    "job_spec_config": {"active_deadline_seconds": 6 * 3600},
}

# For ``@dg.asset(op_tags=GPU_OP_TAGS)``: Dagster JSON-encodes non-string op tag values.
GPU_OP_TAGS: dict[str, Any] = {K8S_CONFIG_TAG: GPU_STEP_K8S_CONFIG}


def gpu_step_tags() -> dict[str, str]:
    """The string-valued step tags Dagster derives from ``GPU_OP_TAGS``."""
    return {K8S_CONFIG_TAG: json.dumps(GPU_STEP_K8S_CONFIG, sort_keys=True)}


def load_executor_config(path: str | Path) -> dict[str, Any]:
    """The ``execution.config`` mapping of a run-config YAML such as deploy/k8s-executor.yaml."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    cfg = (raw.get("execution") or {}).get("config") if isinstance(raw, Mapping) else None
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{path}: expected a run config with an 'execution: config:' mapping")
    return dict(cfg)


def k8s_executor(env: Mapping[str, str] | None = None):
    """``k8s_job_executor`` configured from the YAML named by CALLFORGE_K8S_EXECUTOR_CONFIG,
    or None when it is unset (then Definitions keeps its default executor)."""
    path = (os.environ if env is None else env).get(EXECUTOR_CONFIG_ENV)
    if not path:
        return None
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(load_executor_config(path), name="k8s_step_executor")

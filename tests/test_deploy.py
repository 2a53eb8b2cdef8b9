"""deploy/ (Helm values, step executor, GPU step placement) checked offline against
Dagster's and dagster-k8s's OWN config schemas and code — no cluster, no helm binary.

The chart's values.schema.json cannot be fetched here, so the Helm values are checked in
two layers: (1) the keys this deployment sets against the subset of the chart's values
structure written down in CHART below (unknown/misspelled keys fail; Kubernetes objects
are checked by dagster-k8s's mapping onto the kubernetes client models), and (2) the
dagster.yaml the chart renders from them (re-created by ``render_instance``, which
mirrors the chart's instance ConfigMap templates for the sections used here) validated by
Dagster's instance schema and each configured class's own ``config_type()``, then loaded
as a real DagsterInstance (storage swapped for SQLite) whose K8sRunLauncher and
``k8s_job_executor`` build the GPU step's Kubernetes Job.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import kubernetes.client as k8s
import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.job import (
    USER_DEFINED_K8S_CONFIG_KEY,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from dagster_k8s.models import k8s_snake_case_dict

from pipeline import k8s as callforge_k8s

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
RELEASE = NAMESPACE = "callforge"
FULLNAME = f"{RELEASE}-dagster"  # the chart's "dagster.fullname" for this release name
GPU_STEP = "gold__lora_adapters"  # op name of gold/lora_adapters


def _yaml(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.fixture
def values() -> dict:
    return _yaml("values.yaml")


@pytest.fixture
def executor_config() -> dict:
    return callforge_k8s.load_executor_config(DEPLOY / "k8s-executor.yaml")


# ---------------------------------------------------------------------------------------
# (1) Helm values structure: the chart (1.13.x) keys this deployment may set
# ---------------------------------------------------------------------------------------


class K8sObject:
    """A Kubernetes API object (camelCase, as Helm passes it), checked key by key by
    dagster-k8s's own mapping onto the kubernetes client model."""

    def __init__(self, model: type) -> None:
        self.model = model


class ListOf:
    def __init__(self, item: Any) -> None:
        self.item = item


class OneOf:
    def __init__(self, *choices: str) -> None:
        self.choices = choices


STR_MAP = "map of strings"
SECRET_REFS = ListOf({"name": str})
IMAGE = {"repository": str, "tag": (str, int, type(None)), "pullPolicy": OneOf("Always", "IfNotPresent", "Never")}
RUN_K8S_CONFIG = {
    "containerConfig": K8sObject(k8s.V1Container), "podSpecConfig": K8sObject(k8s.V1PodSpec),
    "podTemplateSpecMetadata": K8sObject(k8s.V1ObjectMeta), "jobSpecConfig": K8sObject(k8s.V1JobSpec),
    "jobMetadata": K8sObject(k8s.V1ObjectMeta),
}
POD_PLACEMENT = {
    "annotations": STR_MAP, "labels": STR_MAP, "nodeSelector": STR_MAP, "affinity": K8sObject(k8s.V1Affinity),
    "tolerations": ListOf(K8sObject(k8s.V1Toleration)), "podSecurityContext": K8sObject(k8s.V1PodSecurityContext),
    "securityContext": K8sObject(k8s.V1SecurityContext), "resources": K8sObject(k8s.V1ResourceRequirements),
    "volumes": ListOf(K8sObject(k8s.V1Volume)), "volumeMounts": ListOf(K8sObject(k8s.V1VolumeMount)),
    "schedulerName": str,
}
USER_DEPLOYMENT = {
    **POD_PLACEMENT, "name": str, "image": IMAGE, "port": int, "dagsterApiGrpcArgs": ListOf(str),
    "codeServerArgs": ListOf(str), "includeConfigInLaunchedRuns": {"enabled": bool},
    "env": ListOf(K8sObject(k8s.V1EnvVar)), "envConfigMaps": SECRET_REFS, "envSecrets": SECRET_REFS,
    "livenessProbe": K8sObject(k8s.V1Probe), "startupProbe": dict, "readinessProbe": dict,
    "replicaCount": int, "deploymentLabels": STR_MAP, "service": dict,
    "initContainers": ListOf(K8sObject(k8s.V1Container)), "sidecarContainers": ListOf(K8sObject(k8s.V1Container)),
}
CHART: dict[str, Any] = {
    "global": {"postgresqlSecretName": str, "dagsterHome": str, "serviceAccountName": str,
               "celeryConfigSecretName": str},
    "serviceAccount": {"create": bool, "name": str, "annotations": STR_MAP},
    "imagePullSecrets": SECRET_REFS,
    "postgresql": {"enabled": bool, "image": dict, "postgresqlHost": str, "postgresqlUsername": str,
                   "postgresqlPassword": str, "postgresqlDatabase": str, "postgresqlParams": dict,
                   "postgresqlScheme": str, "service": {"port": int}},
    "generatePostgresqlPasswordSecret": bool,
    "generateCeleryConfigSecret": bool,
    "computeLogManager": {
        "type": OneOf("NoOpComputeLogManager", "AzureBlobComputeLogManager", "GCSComputeLogManager",
                      "S3ComputeLogManager", "CustomComputeLogManager"),
        "config": {"s3ComputeLogManager": {
            "bucket": str, "localDir": str, "prefix": str, "useSsl": bool, "verify": bool, "verifyCertPath": str,
            "endpointUrl": str, "skipEmptyFiles": bool, "uploadInterval": int, "uploadExtraArgs": dict,
            "showUrlOnly": bool, "region": str}},
    },
    "dagsterWebserver": {**POD_PLACEMENT, "replicaCount": int, "image": IMAGE, "env": ListOf(K8sObject(k8s.V1EnvVar)),
                         "envConfigMaps": SECRET_REFS, "envSecrets": SECRET_REFS, "service": dict,
                         "workspace": dict, "enableReadOnly": bool, "logLevel": str, "pathPrefix": str},
    "dagster-user-deployments": {"enabled": bool, "enableSubchart": bool, "imagePullSecrets": SECRET_REFS,
                                 "deployments": ListOf(USER_DEPLOYMENT)},
    "runLauncher": {
        "type": OneOf("K8sRunLauncher", "CeleryK8sRunLauncher", "CustomRunLauncher"),
        "config": {"k8sRunLauncher": {
            "image": IMAGE, "imagePullPolicy": OneOf("Always", "IfNotPresent", "Never"), "jobNamespace": str,
            "loadInclusterConfig": bool, "kubeconfigFile": str, "envConfigMaps": SECRET_REFS,
            "envSecrets": SECRET_REFS, "envVars": ListOf(str), "volumeMounts": ListOf(K8sObject(k8s.V1VolumeMount)),
            "volumes": ListOf(K8sObject(k8s.V1Volume)), "labels": STR_MAP, "failPodOnRunFailure": bool,
            "resources": K8sObject(k8s.V1ResourceRequirements), "schedulerName": str,
            "securityContext": K8sObject(k8s.V1SecurityContext), "runK8sConfig": RUN_K8S_CONFIG}},
    },
    "dagsterDaemon": {
        **POD_PLACEMENT, "enabled": bool, "image": IMAGE, "heartbeatTolerance": int,
        "env": ListOf(K8sObject(k8s.V1EnvVar)), "envConfigMaps": SECRET_REFS, "envSecrets": SECRET_REFS,
        "runCoordinator": {"enabled": bool, "type": OneOf("QueuedRunCoordinator", "CustomRunCoordinator"),
                           "config": {"queuedRunCoordinator": {
                               "maxConcurrentRuns": int, "tagConcurrencyLimits": ListOf(dict),
                               "dequeueIntervalSeconds": int, "dequeueUseThreads": bool, "dequeueNumWorkers": int,
                               "blockOpConcurrencyLimitedRuns": dict}}},
        "runMonitoring": {"enabled": bool, "startTimeoutSeconds": int, "pollIntervalSeconds": int,
                          "maxResumeRunAttempts": int, "freeSlotsAfterRunEndSeconds": int},
        "runRetries": {"enabled": bool, "maxRetries": int},
    },
    "concurrency": {
        "enabled": bool,
        "pools": {"defaultLimit": int, "granularity": OneOf("run", "op"), "opGranularityRunBuffer": int},
        "runs": {"maxConcurrentRuns": int,
                 "tagConcurrencyLimits": ListOf({"key": str, "value": (str, dict), "limit": int})},
    },
    "telemetry": {"enabled": bool},
}


def chart_errors(value: Any, spec: Any = CHART, path: str = "") -> list[str]:
    """Every place where ``value`` leaves the chart structure ``spec`` (empty = fine)."""
    where = path or "<root>"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping, got {type(value).__name__}"]
        errs = []
        for key, sub in value.items():
            if key not in spec:
                errs.append(f"{path}.{key}".lstrip(".") + f": not a key of the dagster chart here "
                            f"(known: {', '.join(sorted(spec))})")
            else:
                errs += chart_errors(sub, spec[key], f"{path}.{key}".lstrip("."))
        return errs
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in chart_errors(v, spec.item, f"{path}[{i}]")]
    if isinstance(spec, K8sObject):
        if not isinstance(value, dict):
            return [f"{where}: expected a {spec.model.__name__} mapping, got {type(value).__name__}"]
        try:
            k8s_snake_case_dict(spec.model, value)
        except Exception as e:  # dagster-k8s raises a bare Exception naming the bad keys
            return [f"{where}: {e}"]
        return []
    if isinstance(spec, OneOf):
        return [] if value in spec.choices else [f"{where}: {value!r} is not one of {spec.choices}"]
    if spec == STR_MAP:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return [] if ok else [f"{where}: expected a mapping of strings"]
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:  # bool is an int in Python
        return [f"{where}: expected {spec}, got bool"]
    return [] if isinstance(value, types) else [f"{where}: expected {spec}, got {type(value).__name__} {value!r}"]


# ---------------------------------------------------------------------------------------
# (2) the dagster.yaml the chart renders from the values (its instance ConfigMap)
# ---------------------------------------------------------------------------------------

S3_CLM_KEYS = {"bucket": "bucket", "localDir": "local_dir", "prefix": "prefix", "useSsl": "use_ssl",
               "verify": "verify", "verifyCertPath": "verify_cert_path", "endpointUrl": "endpoint_url",
               "skipEmptyFiles": "skip_empty_files", "uploadInterval": "upload_interval",
               "uploadExtraArgs": "upload_extra_args", "showUrlOnly": "show_url_only", "region": "region"}
K8S_LAUNCHER_KEYS = {"imagePullPolicy": "image_pull_policy", "jobNamespace": "job_namespace",
                     "loadInclusterConfig": "load_incluster_config", "kubeconfigFile": "kubeconfig_file",
                     "envVars": "env_vars", "volumeMounts": "volume_mounts", "volumes": "volumes",
                     "labels": "labels", "failPodOnRunFailure": "fail_pod_on_run_failure",
                     "resources": "resources", "schedulerName": "scheduler_name",
                     "securityContext": "security_context"}
RUN_K8S_KEYS = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                "podTemplateSpecMetadata": "pod_template_spec_metadata", "jobSpecConfig": "job_spec_config",
                "jobMetadata": "job_metadata"}
# env vars the chart sets on every Dagster pod, which the rendered dagster.yaml reads
CHART_POD_ENV = {
    "DAGSTER_HOME": "/opt/dagster/dagster_home",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": f"{FULLNAME}-instance",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql-secret",
    "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP": f"{FULLNAME}-pipeline-env",
    "DAGSTER_PG_PASSWORD": "from-the-secret",
}


def _names(refs: list[dict] | None) -> list[str]:
    return [r["name"] for r in refs or [] if r.get("name")]


def _mapped(src: dict, keys: dict[str, str]) -> dict:
    """camelCase chart values -> Dagster's snake_case config; an unmapped key is an error
    (the chart would drop or reject it)."""
    unknown = set(src) - set(keys)
    if unknown:
        raise KeyError(f"no Dagster config field for chart key(s) {sorted(unknown)}")
    return {keys[k]: v for k, v in src.items() if v is not None}


def render_instance(values: dict) -> dict:
    """The dagster.yaml of the chart's instance ConfigMap, for the sections set here."""
    pg = values["postgresql"]
    assert not pg["enabled"], "external PostgreSQL expected"
    pg_config = {"postgres_db": {
        "username": pg["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"], "db_name": pg["postgresqlDatabase"], "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
        **({"scheme": pg["postgresqlScheme"]} if pg.get("postgresqlScheme") else {})}}

    rl = values["runLauncher"]
    assert rl["type"] == "K8sRunLauncher"
    k = dict(rl["config"]["k8sRunLauncher"])
    env_config_maps = [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}, *_names(k.pop("envConfigMaps", []))]
    env_secrets = _names(k.pop("envSecrets", []))
    image = k.pop("image", None)
    run_k8s = k.pop("runK8sConfig", None)
    launcher = {
        **_mapped(k, K8S_LAUNCHER_KEYS),
        "job_namespace": k.get("jobNamespace") or NAMESPACE,
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": env_config_maps,
        **({"env_secrets": env_secrets} if env_secrets else {}),
        **({"job_image": f"{image['repository']}:{image['tag']}"} if image else {}),
        **({"run_k8s_config": _mapped(run_k8s, RUN_K8S_KEYS)} if run_k8s else {}),
    }
    for empty in ("env_vars", "volume_mounts", "volumes"):  # the chart omits empty lists
        if launcher.get(empty) == []:
            del launcher[empty]

    clm = values["computeLogManager"]
    assert clm["type"] == "S3ComputeLogManager"
    daemon = values["dagsterDaemon"]
    rc = daemon["runCoordinator"]
    assert rc["enabled"] and rc["type"] == "QueuedRunCoordinator"
    rm = daemon["runMonitoring"]
    conc = values["concurrency"]
    assert conc["enabled"]
    pools = _mapped(conc.get("pools") or {}, {"defaultLimit": "default_limit", "granularity": "granularity",
                                              "opGranularityRunBuffer": "op_granularity_run_buffer"})
    runs = _mapped(conc.get("runs") or {}, {"maxConcurrentRuns": "max_concurrent_runs",
                                            "tagConcurrencyLimits": "tag_concurrency_limits"})
    if not runs.get("tag_concurrency_limits"):
        runs.pop("tag_concurrency_limits", None)
    qrc = _mapped(rc["config"].get("queuedRunCoordinator") or {}, {
        "maxConcurrentRuns": "max_concurrent_runs", "tagConcurrencyLimits": "tag_concurrency_limits",
        "dequeueIntervalSeconds": "dequeue_interval_seconds", "dequeueUseThreads": "dequeue_use_threads",
        "dequeueNumWorkers": "dequeue_num_workers",
        "blockOpConcurrencyLimitedRuns": "block_op_concurrency_limited_runs"})
    return {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": pg_config},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": pg_config},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage",
                              "config": pg_config},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                            **({"config": qrc} if qrc else {})},
        "compute_logs": {"module": "dagster_aws.s3.compute_log_manager", "class": "S3ComputeLogManager",
                         "config": _mapped(clm["config"]["s3ComputeLogManager"], S3_CLM_KEYS)},
        "run_monitoring": {"enabled": rm["enabled"], "start_timeout_seconds": rm["startTimeoutSeconds"],
                           "poll_interval_seconds": rm["pollIntervalSeconds"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "concurrency": {**({"pools": pools} if pools else {}), **({"runs": runs} if runs else {})},
    }


def instance_errors(instance_yaml: dict, tmp_path: Path) -> None:
    """Raise DagsterInvalidConfigError unless Dagster accepts ``instance_yaml`` as a
    dagster.yaml AND every configured class accepts its ``config`` block."""
    d = tmp_path / "home"
    d.mkdir(exist_ok=True)
    (d / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    dagster_instance_config(str(d))
    for section, entry in instance_yaml.items():
        if isinstance(entry, dict) and "module" in entry:
            cls = getattr(importlib.import_module(entry["module"]), entry["class"])
            res = process_config(cls.config_type(), entry.get("config") or {})
            if not res.success:
                msgs = "; ".join(e.message for e in res.errors)
                raise DagsterInvalidConfigError(f"{section}: {entry['class']} config: {msgs}", res.errors, entry)


@pytest.fixture
def chart_env(monkeypatch, tmp_path):
    for k, v in CHART_POD_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "test", "user": {"token": "test"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": NAMESPACE}}]}))
    return kubeconfig


def _with(d: dict, dotted: str, value: Any) -> dict:
    """A deep copy of ``d`` with ``dotted`` (``a.b.0.c``) set to ``value``."""
    out = copy.deepcopy(d)
    *parents, last = dotted.split(".")
    node: Any = out
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


# ------------------------------------------------------------------------------ values
def test_values_use_only_chart_keys_with_the_right_types(values):
    assert chart_errors(values) == []


@pytest.mark.parametrize(("dotted", "bad", "message"), [
    ("runLauncher.config.k8sRunLauncher.envSecret", [{"name": "x"}],
     "runLauncher.config.k8sRunLauncher.envSecret: not a key"),
    ("dagster-user-deployments.deployments.0.envSecret", [{"name": "x"}], "deployments[0].envSecret: not a key"),
    ("concurrency.pools.defaultLimit", "1", "concurrency.pools.defaultLimit: expected <class 'int'>"),
    ("runLauncher.config.k8sRunLauncher.loadInclusterConfig", "yes", "loadInclusterConfig: expected <class 'bool'>"),
    ("dagster-user-deployments.deployments.0.volumeMounts", [{"name": "s", "mountPth": "/x"}], "mountPth"),
    ("runLauncher.config.k8sRunLauncher.runK8sConfig.podSpecConfig",
     {"nodeSelecter": {"a": "b"}}, "Unexpected keys in model class V1PodSpec"),
    ("computeLogManager.type", "S3LogManager", "is not one of"),
])
def test_values_mistakes_are_rejected_by_the_chart_structure(values, dotted, bad, message):
    errs = chart_errors(_with(values, dotted, bad))
    assert any(message in e for e in errs), errs


def test_rendered_instance_is_valid_dagster_config(values, chart_env, tmp_path):
    inst = render_instance(values)
    instance_errors(inst, tmp_path)  # raises on any schema error
    launcher = inst["run_launcher"]["config"]
    assert launcher["job_namespace"] == NAMESPACE
    assert inst["run_storage"]["config"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert inst["compute_logs"]["class"] == "S3ComputeLogManager"


@pytest.mark.parametrize(("dotted", "bad", "message"), [
    # wrong type: the chart passes it through, Dagster's K8sRunLauncher schema refuses it
    ("runLauncher.config.k8sRunLauncher.envVars", "CALLFORGE_PROFILE=production", "env_vars"),
    ("runLauncher.config.k8sRunLauncher.failPodOnRunFailure", "sometimes", "fail_pod_on_run_failure"),
    ("computeLogManager.config.s3ComputeLogManager.uploadInterval", "30s", "upload_interval"),
    ("concurrency.pools.granularity", "step", "granularity"),
    ("concurrency.runs.maxConcurrentRuns", "four", "max_concurrent_runs"),
])
def test_bad_values_are_rejected_by_dagster(values, chart_env, tmp_path, dotted, bad, message):
    with pytest.raises(DagsterInvalidConfigError) as exc:
        instance_errors(render_instance(_with(values, dotted, bad)), tmp_path)
    assert message in str(exc.value)


def test_unknown_chart_key_has_no_dagster_field(values):
    with pytest.raises(KeyError, match="envSecret"):
        render_instance(_with(values, "computeLogManager.config.s3ComputeLogManager.envSecret", "x"))


@pytest.fixture
def instance(values, chart_env, tmp_path):
    """A real DagsterInstance from the rendered dagster.yaml: storage swapped for SQLite
    (no PostgreSQL here), the K8sRunLauncher pointed at a dummy kubeconfig (no cluster)."""
    inst = render_instance(values)
    for key in ("schedule_storage", "run_storage", "event_log_storage"):
        del inst[key]
    inst["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    inst["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(chart_env))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(inst))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_instance_loads_with_k8s_launcher_queue_and_pools(instance):
    launcher = instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == NAMESPACE
    assert launcher.instance_config_map == f"{FULLNAME}-instance"
    assert launcher.postgres_password_secret == "dagster-postgresql-secret"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    conc = instance.get_concurrency_config()
    assert conc.pool_config.default_pool_limit == 1  # pool "gpu": one op at a time
    assert conc.pool_config.pool_granularity.value == "op"
    assert conc.run_queue_config.max_concurrent_runs == 4
    limits = conc.run_queue_config.tag_concurrency_limits
    assert {"key": "callforge/training", "value": "true", "limit": 1} in limits
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"


def test_queue_limit_matches_training_job_tag_and_gpu_pool():
    from pipeline.jobs import training_job

    assert training_job.tags.get("callforge/training") == "true"
    gold = (REPO / "assets" / "gold.py").read_text()
    assert re.search(r'key=\["gold", "lora_adapters"\][^@]*pool="gpu"', gold), "gold/lora_adapters left pool gpu"


# ---------------------------------------------------------------------------- executor
def test_executor_config_is_valid_for_k8s_job_executor(executor_config):
    res = process_config(k8s_job_executor.config_schema.config_type, executor_config)
    assert res.success, [e.message for e in res.errors]
    for op, cfg in res.value["per_step_k8s_config"].items():
        UserDefinedDagsterK8sConfig.from_dict(cfg)  # Kubernetes keys checked against the models


@pytest.mark.parametrize(("dotted", "bad", "message"), [
    ("max_concurent", 4, 'Received unexpected config entry "max_concurent"'),
    ("max_concurrent", "four", "max_concurrent"),
    ("step_k8s_config.pod_config", {}, 'unexpected config entry "pod_config"'),
    ("retries", {"sometimes": {}}, "sometimes"),
])
def test_executor_mistakes_are_rejected(executor_config, dotted, bad, message):
    res = process_config(k8s_job_executor.config_schema.config_type, _with(executor_config, dotted, bad))
    assert not res.success
    assert any(message in e.message for e in res.errors), [e.message for e in res.errors]


def test_k8s_executor_is_chosen_by_env_only(tmp_path):
    assert callforge_k8s.k8s_executor(env={}) is None
    ex = callforge_k8s.k8s_executor(env={callforge_k8s.EXECUTOR_CONFIG_ENV: str(DEPLOY / "k8s-executor.yaml")})
    assert isinstance(ex, dg.ExecutorDefinition) and ex.name == "k8s_step_executor"
    bad = tmp_path / "x.yaml"
    bad.write_text("max_concurrent: 4\n")
    with pytest.raises(ValueError, match="execution: config"):
        callforge_k8s.k8s_executor(env={callforge_k8s.EXECUTOR_CONFIG_ENV: str(bad)})


# ------------------------------------------------------------------------ GPU step pod
def test_gpu_tag_is_valid_dagster_k8s_config():
    cfg = get_user_defined_k8s_config(callforge_k8s.gpu_step_tags())
    assert cfg.pod_spec_config["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert cfg.container_config["resources"]["limits"]["nvidia.com/gpu"] == 1

    @dg.asset(key=["gold", "probe"], op_tags=callforge_k8s.GPU_OP_TAGS, pool="gpu")
    def probe() -> None: ...

    # Dagster JSON-encodes the dict op tag; it decodes to the same config
    assert json.loads(probe.op.tags[USER_DEFINED_K8S_CONFIG_KEY]) == callforge_k8s.GPU_STEP_K8S_CONFIG


@pytest.mark.parametrize(("patch", "error"), [
    ({"pod_spec_config": {"nodeSelecter": {"a": "b"}}}, "Unexpected keys in model class V1PodSpec"),
    ({"container_config": {"resources": {"limit": {"nvidia.com/gpu": 1}}}}, "V1ResourceRequirements"),
    ({"pod_config": {}}, "dagster-k8s/config"),
    ({"pod_spec_config": {"tolerations": {"key": "nvidia.com/gpu"}}}, "tolerations"),
])
def test_gpu_tag_mistakes_are_rejected(patch, error):
    tags = {USER_DEFINED_K8S_CONFIG_KEY: json.dumps({**callforge_k8s.GPU_STEP_K8S_CONFIG, **patch})}
    with pytest.raises(Exception, match=re.escape(error)):
        get_user_defined_k8s_config(tags)


def code_location_container_context(values: dict) -> dict:
    """What the chart hands the code server (DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT) with
    includeConfigInLaunchedRuns: it travels with every run to its run and step pods."""
    d = values["dagster-user-deployments"]["deployments"][0]
    assert d["includeConfigInLaunchedRuns"]["enabled"]
    ctx = {"image_pull_policy": d["image"]["pullPolicy"],
           "env_config_maps": [f"{FULLNAME}-{d['name']}-user-env", *_names(d.get("envConfigMaps"))],
           "env_secrets": _names(d.get("envSecrets")), "namespace": NAMESPACE,
           "service_account_name": values["global"]["serviceAccountName"], "env": d.get("env") or []}
    for src, dst in (("volumeMounts", "volume_mounts"), ("volumes", "volumes"), ("labels", "labels"),
                     ("resources", "resources"), ("schedulerName", "scheduler_name")):
        if d.get(src):
            ctx[dst] = d[src]
    return {"k8s": ctx}


def step_job(instance, values, executor_config, step_key: str, step_tags: dict[str, str]) -> k8s.V1Job:
    """The Kubernetes Job dagster-k8s builds for one step: the real K8sRunLauncher of the
    instance, the code location's container context, the real k8s_job_executor built from
    deploy/k8s-executor.yaml, and the step's tags (K8sStepHandler's own merge)."""
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

    d = values["dagster-user-deployments"]["deployments"][0]
    image = f"{d['image']['repository']}:{d['image']['tag']}"
    origin = JobPythonOrigin("training_job", RepositoryPythonOrigin(
        executable_path="/usr/local/bin/python", code_pointer=ModuleCodePointer("pipeline.definitions", "defs", None),
        container_image=image, container_context=code_location_container_context(values)))
    run = dg.DagsterRun(job_name="training_job", run_id="0" * 8 + "-0000-0000-0000-" + "0" * 12,
                        tags={"callforge/training": "true"}, job_code_origin=origin)

    exec_cfg = process_config(k8s_job_executor.config_schema.config_type, executor_config).value
    executor = k8s_job_executor.executor_creation_fn(SimpleNamespace(instance=instance, executor_config=exec_cfg))
    handler = executor._step_handler
    op_name = step_key
    ctx = SimpleNamespace(
        execute_step_args=SimpleNamespace(step_keys_to_execute=[step_key]), dagster_run=run, instance=instance,
        step_tags={step_key: step_tags},
        get_step_context=lambda key: SimpleNamespace(step=SimpleNamespace(op_name=op_name)))
    container_context = handler._get_container_context(ctx)
    job_config = container_context.get_k8s_job_config(None, instance.run_launcher)
    if not job_config.job_image:
        job_config = job_config.with_image(image)
    assert container_context.namespace == NAMESPACE
    return construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_step"], "dagster-step-test",
                                     user_defined_k8s_config=container_context.run_k8s_config,
                                     component="step_worker")


QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$")
SCALE = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(q: str | int) -> float:
    m = QUANTITY.match(str(q))
    assert m, f"not a Kubernetes quantity: {q!r}"
    return float(m.group(1)) * SCALE[m.group(2)]


def assert_requests_within_limits(resources: k8s.V1ResourceRequirements) -> None:
    for name, req in (resources.requests or {}).items():
        if name in (resources.limits or {}):
            assert quantity(req) <= quantity(resources.limits[name]), f"{name}: request {req} > limit"


def test_gpu_step_pod_lands_on_a_gpu_node(instance, values, executor_config):
    job = step_job(instance, values, executor_config, GPU_STEP, callforge_k8s.gpu_step_tags())
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert pod.node_selector == {"nvidia.com/gpu.present": "true"}
    assert any(t.key == "nvidia.com/gpu" and t.operator == "Exists" and t.effect == "NoSchedule"
               for t in pod.tolerations)
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests["cpu"] == "4"
    assert_requests_within_limits(container.resources)
    # the CUDA image from the executor's per-step override; job deadline from the tag
    assert container.image.endswith("-cuda")
    assert job.spec.active_deadline_seconds == 6 * 3600
    assert job.spec.template.metadata.labels["callforge.io/step"] == "training"
    # what every callforge pod needs: settings and secrets from the code location
    env = {e.name: e.value for e in container.env}
    assert env["CALLFORGE_PROFILE"] == "production"
    assert env["CALLFORGE_K8S_EXECUTOR_CONFIG"] == "/opt/callforge/deploy/k8s-executor.yaml"
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    secrets = {s.secret_ref.name for s in container.env_from if s.secret_ref}
    assert {"callforge-app", "callforge-aws"} <= secrets
    assert any(v.mount_path == "/var/lib/callforge" for v in container.volume_mounts)
    assert pod.service_account_name == values["global"]["serviceAccountName"]
    assert pod.security_context.run_as_non_root is True


def test_cpu_step_pod_stays_off_gpu_nodes(instance, values, executor_config):
    job = step_job(instance, values, executor_config, "silver__transcripts", {})
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert not pod.node_selector and not pod.tolerations
    assert "nvidia.com/gpu" not in (container.resources.limits or {})
    assert container.resources.requests == {"cpu": "1", "memory": "4Gi"}  # executor's step defaults
    assert_requests_within_limits(container.resources)
    d = values["dagster-user-deployments"]["deployments"][0]
    assert container.image == f"{d['image']['repository']}:{d['image']['tag']}"


def test_training_asset_carries_the_gpu_tag():
    from assets.gold import lora_adapters

    tags = lora_adapters.op.tags
    if USER_DEFINED_K8S_CONFIG_KEY not in tags:
        pytest.skip("gold/lora_adapters has no dagster-k8s/config op tag yet (op_tags=GPU_OP_TAGS)")
    assert json.loads(tags[USER_DEFINED_K8S_CONFIG_KEY]) == callforge_k8s.GPU_STEP_K8S_CONFIG
    assert lora_adapters.op.name == GPU_STEP and lora_adapters.op.pool == "gpu"


def test_gpu_deadline_not_longer_than_training_lock_staleness():
    from resources.trainer import TrainerResource

    deadline = callforge_k8s.GPU_STEP_K8S_CONFIG["job_spec_config"]["active_deadline_seconds"]
    assert deadline <= TrainerResource.model_fields["lock_stale_after_s"].default


# ------------------------------------------------------- the code location and its env
ENV_VAR_IN_CODE = re.compile(r"""EnvVar\(\s*["']([A-Z0-9_]+)["']""")
SECRET_LIKE = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|SALT|LEDGER_URL")


def test_every_env_var_the_code_reads_is_provided(values):
    wanted = set()
    for pkg in ("pipeline", "resources", "assets", "sensors"):
        for f in (REPO / pkg).rglob("*.py"):
            wanted |= set(ENV_VAR_IN_CODE.findall(f.read_text()))
    assert {"CALLFORGE_S3_BUCKET", "LABEL_STUDIO_API_KEY", "CALLFORGE_ANNOTATOR_SALT"} <= wanted  # the regex works

    d = values["dagster-user-deployments"]["deployments"][0]
    plain = {e["name"] for e in d["env"]}
    secrets = {doc["metadata"]["name"]: set(doc["stringData"])
               for doc in yaml.safe_load_all((DEPLOY / "secrets.example.yaml").read_text())}
    used_secrets = set(_names(d["envSecrets"]))
    assert used_secrets <= set(secrets), "values.yaml names a Secret missing from secrets.example.yaml"
    from_secrets = set().union(*(secrets[s] for s in used_secrets))
    # optional switches a Kubernetes deployment leaves unset (Weaviate is its vector index)
    optional = {"CALLFORGE_LANCEDB_URI"}
    assert wanted - plain - from_secrets - optional == set()
    assert not {n for n in plain if SECRET_LIKE.search(n)}, "a secret in plain env"
    assert plain & from_secrets == set()
    # Dagster's own pieces
    assert "postgresql-password" in secrets[values["global"]["postgresqlSecretName"]]
    assert set(_names(values["dagsterWebserver"]["envSecrets"])) == {"callforge-aws"}  # compute logs on S3


def test_code_location_matches_the_project():
    values = _yaml("values.yaml")
    d = values["dagster-user-deployments"]["deployments"][0]
    args = d["dagsterApiGrpcArgs"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert args[args.index("--module-name") + 1] == pyproject["tool"]["dagster"]["module_name"]
    assert args[args.index("--attribute") + 1] == workspace["attribute"]
    assert "dagster-k8s==0.29.27" in pyproject["project"]["dependencies"]
    env = {e["name"]: e["value"] for e in d["env"]}
    assert env["CALLFORGE_PROFILE"] == "production"  # S3 IO manager: steps in other pods see outputs
    clm = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert env["CALLFORGE_S3_ENDPOINT_URL"] == clm["endpointUrl"] and env["AWS_REGION"] == clm["region"]
    # the files the pods read are baked into the image at the paths values.yaml names
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^WORKDIR /opt/callforge$", dockerfile, re.M)
    assert "COPY deploy/k8s-executor.yaml ./deploy/" in dockerfile
    assert "COPY callforge.yaml ./" in dockerfile
    assert env["CALLFORGE_K8S_EXECUTOR_CONFIG"] == "/opt/callforge/deploy/k8s-executor.yaml"
    assert env["CALLFORGE_SETTINGS"] == "/opt/callforge/callforge.yaml"
    uid = d["podSecurityContext"]["runAsUser"]
    assert f"--uid {uid}" in dockerfile and f"USER {uid}" in dockerfile
    # the GPU step's image is the same release, CUDA build
    per_step = callforge_k8s.load_executor_config(DEPLOY / "k8s-executor.yaml")["per_step_k8s_config"]
    assert per_step[GPU_STEP]["container_config"]["image"] == f"{d['image']['repository']}:{d['image']['tag']}-cuda"

"""The one Definitions entrypoint loads, and holds exactly what the design names."""

from pathlib import Path

import dagster as dg
import pytest

from pipeline.definitions import defs as load_defs

EXPECTED_ASSETS = {
    ("bronze", "recordings"): "bronze",
    ("bronze", "imported_transcripts"): "bronze",
    ("bronze", "call_events"): "bronze",
    ("bronze", "annotations"): "bronze",
    ("silver", "transcripts"): "silver",
    ("silver", "quarantine"): "silver",
    ("silver", "redacted_transcripts"): "silver",
    ("silver", "redacted_audio"): "silver",
    ("silver", "redacted_events"): "silver",
    ("silver", "redaction_quality_report"): "silver",
    ("gold", "conversation_analytics"): "gold",
    ("gold", "transcript_embeddings"): "gold",
    ("gold", "annotation_queue"): "gold",
    ("gold", "training_datasets"): "gold",
    ("gold", "lora_adapters"): "gold",
    ("gold", "eval_reports"): "gold",
    ("gold", "adapter_promotions"): "gold",
    ("gold", "chat_adapters"): "gold",
    ("gold", "chat_eval_reports"): "gold",
    ("gold", "chat_adapter_promotions"): "gold",
    ("gold", "ab_tests"): "gold",
    ("gold", "drift_reports"): "gold",
}

# Everything that feeds gold is guarded by a blocking residual-PII check.
EXPECTED_BLOCKING = {
    (("silver", "redacted_transcripts"), "no_residual_pii"),
    (("silver", "redacted_events"), "no_residual_pii"),
    (("gold", "transcript_embeddings"), "no_residual_pii"),
    (("gold", "training_datasets"), "no_residual_pii"),
    (("gold", "training_datasets"), "consent_respected"),
    (("gold", "eval_reports"), "promotion_gate"),  # nothing is promoted past a failed gate
    (("gold", "chat_eval_reports"), "chat_promotion_gate"),
}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return load_defs()


def test_asset_keys_and_groups(defs):
    graph = defs.resolve_asset_graph()
    keys = {tuple(k.path) for k in graph.get_all_asset_keys()}
    assert keys == set(EXPECTED_ASSETS)
    for key, group in EXPECTED_ASSETS.items():
        node = graph.get(dg.AssetKey(list(key)))
        assert node.group_name == group, key


def test_every_asset_documented_owned_and_tagged(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no docstring"
        assert node.owners, f"{key} has no owner"
        assert node.tags.get("pii") in {"raw", "redacted", "none"}, f"{key} lacks a pii tag"
        assert node.kinds, f"{key} has no kinds"


def test_blocking_checks(defs):
    graph = defs.resolve_asset_graph()
    blocking = set()
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        if spec.blocking:
            blocking.add((tuple(check_key.asset_key.path), check_key.name))
    assert EXPECTED_BLOCKING <= blocking
    # raw layers are never guarded by a PII check pretending they are clean
    assert not any(k[0][0] == "bronze" for k in blocking)


def test_sensors_schedules_jobs(defs):
    sensors = {s.name for s in defs.sensors}
    assert {"new_recordings", "completed_annotations", "ab_rollback", "run_failures"} <= sensors
    schedules = {s.name: defs.resolve_schedule_def(s.name) for s in defs.schedules}
    assert set(schedules) == {"nightly_retention", "nightly_training", "monthly_drift", "weekly_redaction_quality"}
    assert schedules["weekly_redaction_quality"].job_name == "redaction_quality_job"
    assert schedules["nightly_retention"].job_name == "retention_job"
    assert schedules["nightly_training"].job_name == "training_job"
    assert schedules["monthly_drift"].job_name == "drift_job"
    assert schedules["monthly_drift"].cron_schedule.startswith("0 4 1 ")
    for job in ("ingest_job", "training_job", "drift_job", "retention_job", "erasure_job"):
        assert defs.resolve_job_def(job) is not None


def test_training_runs_in_gpu_pool(defs):
    node = defs.resolve_asset_graph().get(dg.AssetKey(["gold", "lora_adapters"]))
    assert node.pools == {"gpu"}


def test_partitions(defs):
    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey(["silver", "transcripts"])).partitions_def
    assert isinstance(daily, dg.DailyPartitionsDefinition)
    assert isinstance(graph.get(dg.AssetKey(["gold", "drift_reports"])).partitions_def, dg.MonthlyPartitionsDefinition)
    assert graph.get(dg.AssetKey(["gold", "training_datasets"])).partitions_def is None


def test_production_profile_uses_envvars_for_secrets(monkeypatch, tmp_path):
    from pipeline.settings import load_settings
    from resources import build_resources

    settings = load_settings({"CALLFORGE_HOME": str(tmp_path), "CALLFORGE_PROFILE": "production"})
    res = build_resources(settings)
    assert res["ledger"].url.__class__.__name__ in {"EnvVar", "str"}
    # no credential value is present in the resource config: only env-var references
    dumped = repr(res)
    for secret_env in ("AWS_SECRET_ACCESS_KEY", "CALLFORGE_LEDGER_URL", "CALLFORGE_WEAVIATE_API_KEY", "LABEL_STUDIO_API_KEY"):
        assert secret_env in dumped


def test_asr_workers_default_env_and_settings(tmp_path, monkeypatch):
    """One ASR process per core by default, shared among the transcription shard steps;
    CALLFORGE_ASR_WORKERS and asr.workers in the settings file override it."""
    import os

    from pipeline.settings import load_settings

    monkeypatch.delenv("CALLFORGE_ASR_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    cfg = tmp_path / "none.yaml"
    cfg.write_text("asr: {}\nexecution: {shards: 1}\n")
    assert load_settings({"CALLFORGE_SETTINGS": str(cfg)}).asr_workers == 8
    cfg.write_text("asr: {}\n")  # the default: 2 shards
    assert load_settings({"CALLFORGE_SETTINGS": str(cfg)}).asr_workers == 4
    cfg.write_text("asr: {}\nexecution: {shards: 16}\n")
    assert load_settings({"CALLFORGE_SETTINGS": str(cfg)}).asr_workers == 1
    cfg.write_text("asr: {workers: 5}\n")
    assert load_settings({"CALLFORGE_SETTINGS": str(cfg)}).asr_workers == 5
    monkeypatch.setenv("CALLFORGE_ASR_WORKERS", "2")
    assert load_settings({"CALLFORGE_SETTINGS": str(cfg)}).asr_workers == 2


def test_embedded_instance_runs_one_run_per_partition_and_checks_the_queue_every_second(tmp_path):
    """The repo's dagster.yaml as the daemon reads it: two runs of one day never overlap (they
    would transcribe the same calls and race on the day's tables); the queue is polled each
    second; the production file says the same."""
    import shutil

    repo = Path(__file__).resolve().parents[1]
    for name, src in (("embedded", repo / "dagster.yaml"), ("postgres", repo / "deploy" / "dagster.postgres.yaml")):
        home = tmp_path / name
        home.mkdir()
        shutil.copy(src, home / "dagster.yaml")
        if name == "postgres":  # the storage needs a server; the queue settings are what is checked
            import yaml

            cfg = yaml.safe_load((home / "dagster.yaml").read_text())
            cfg.pop("storage", None)
            (home / "dagster.yaml").write_text(yaml.safe_dump(cfg))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            queue = instance.get_concurrency_config().run_queue_config
            assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} \
                in queue.tag_concurrency_limits, name
            assert instance.run_coordinator.dequeue_interval_seconds == 1, name

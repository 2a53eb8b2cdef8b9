"""End-to-end slice on the bundled samples with REAL components (faster-whisper, Presidio,
MiniLM, LanceDB, SQLite ledger, peft): bad input, consent, PII invariants, idempotency,
erasure and retention. One pipeline run per module; destructive tests come last."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from pipeline.demo import stage_samples
from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Transcript
from pipeline.domain.core.storage import LocalObjectStore
from pipeline.domain.privacy.residual import residual_pii
from pipeline.domain.search.lance_index import LanceDBIndex

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from pipeline.definitions import defs as load_defs
    from pipeline.settings import get_settings

    home = tmp_path_factory.mktemp("callforge")
    mp = pytest.MonkeyPatch()
    mp.setenv("CALLFORGE_HOME", str(home))
    mp.setenv("CALLFORGE_SETTINGS", str(REPO / "callforge.yaml"))
    get_settings.cache_clear()
    settings = get_settings()
    stage_samples(REPO / "samples", settings.landing_dir, set())
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    results = {}
    for date in ("2026-11-02", "2026-11-03"):
        results[date] = defs.resolve_job_def("ingest_job").execute_in_process(partition_key=date, instance=instance)
    results["training"] = defs.resolve_job_def("training_job").execute_in_process(instance=instance,
                                                                                  raise_on_error=False)
    yield {"defs": defs, "instance": instance, "settings": settings, "results": results,
           "store": LocalObjectStore(settings.object_store_root), "ledger": Ledger(settings.ledger_url),
           "index": LanceDBIndex(settings.lancedb_uri)}
    mp.undo()
    get_settings.cache_clear()


def _mat_metadata(result, key):
    mats = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key)]
    assert mats, f"no materialization of {key}"
    return {k: v.value for k, v in mats[-1].materialization.metadata.items()}


def test_runs_succeed_and_blocking_checks_pass(run):
    from pipeline.jobs import training_outcome

    for name, res in run["results"].items():
        if name == "training":  # five demo rows: trained and evaluated, stopped by the blocking promotion gate
            assert training_outcome(res) == "not promoted"
            continue
        assert res.success, name
        for ev in res.get_asset_check_evaluations():
            if ev.check_name == "no_residual_pii" or ev.check_name == "consent_respected":
                assert ev.passed, f"{name}: {ev.asset_key.to_user_string()} {ev.check_name}"


def test_bad_inputs_quarantined_with_reasons_rest_of_batch_processed(run):
    q = {(r["call_id"], r["reason"]) for r in run["ledger"].open_quarantine()}
    assert ("call_0007", "audio_decode_failed") in q
    assert ("call_0008", "sidecar_missing_field") in q
    store = run["store"]
    # nothing lost: the quarantined inputs' bytes are kept
    assert any(k.endswith("call_0008.json") for k in store.list("quarantine/"))
    for cid, date, tenant in [("call_0001", "2026-11-02", "acme"), ("call_0002", "2026-11-02", "acme"),
                              ("call_0005", "2026-11-03", "globex"), ("call_0009", "2026-11-03", "acme")]:
        assert store.exists(CallKeys(date, tenant, cid).redacted_transcript), cid
    report = store.get_json("silver/quarantine/2026-11-03.json")
    assert {r["call_id"] for r in report["records"]} >= {"call_0007"}


def test_opt_out_keeps_no_audio_or_transcript_but_redacted_events(run):
    store, ledger, landing = run["store"], run["ledger"], run["settings"].landing_dir
    assert not (landing / "recordings" / "call_0003.wav").exists()
    assert not [k for k in store.list("") if "call_0003" in k and not k.startswith("silver/redacted_events/")
                and not k.startswith("bronze/call_events/")]
    assert store.exists(CallKeys("2026-11-02", "acme", "call_0003").redacted_events)
    assert ledger.get_call("call_0003")["state"] == "opt_out"
    assert any(r["action"] == "opt_out_discard" for r in ledger.audit_rows(call_id="call_0003"))


def _planted_values(run) -> set[str]:
    """The PII the pipeline found in raw transcripts, read back from the raw text via the
    ledger's spans (offsets only there). The test alone reads raw values."""
    store, ledger = run["store"], run["ledger"]
    values = set()
    for span in ledger.spans(asset="silver/redacted_transcripts"):
        call = ledger.get_call(span["call_id"])
        raw = Transcript.from_dict(store.get_json(CallKeys(call["call_date"], call["tenant"], call["call_id"]).transcript))
        seg = raw.segments[span["segment"]]
        v = seg.text[span["start"]:span["end"]].strip(" ,.")
        if len(v) >= 4:
            values.add(v.lower())
    return values


HASHY_KEYS = ("version", "sha", "hash", "uri", "run_id", "code_version")


def _downstream_texts(run) -> tuple[list[str], list[str]]:
    """(every downstream artefact, log line and metadata value as text,
        the subset that is prose: log messages and non-hash metadata values)."""
    store = run["store"]
    texts: list[str] = []
    prose: list[tuple[str, str]] = []  # (where, text)
    for k in store.list(""):
        if k.startswith(("silver/redacted_", "gold/")) and k.endswith((".json", ".jsonl")):
            texts.append(store.get_bytes(k).decode())
    tbl = run["index"].table().to_arrow()
    chunk_texts = [str(t) for t in tbl.column("text").to_pylist()]
    texts += chunk_texts
    prose += [("index", t) for t in chunk_texts]
    inst = run["instance"]
    for rec in inst.get_run_records():
        for ev in inst.all_logs(rec.dagster_run.run_id):
            texts.append(ev.user_message or "")
            prose.append(("log", ev.user_message or ""))
            data = ev.dagster_event.event_specific_data if ev.dagster_event else None
            if data is None:
                continue
            texts.append(repr(data))
            mat = getattr(data, "materialization", None)
            for key, value in (getattr(mat, "metadata", None) or {}).items():
                if not any(h in key for h in HASHY_KEYS):
                    prose.append((f"metadata:{mat.asset_key.to_user_string()}:{key}", str(getattr(value, "value", value))))
    return texts, prose


def test_planted_pii_never_reaches_gold_index_datasets_logs_or_metadata(run):
    values = _planted_values(run)
    assert len(values) >= 4, values  # the samples plant names, phones, a card, an email, a DOB, an address
    texts, prose = _downstream_texts(run)
    blob = "\n".join(texts).lower()
    leaked = sorted(v for v in values if v in blob)
    assert not leaked, f"{len(leaked)} planted values leaked"
    # partition dates, metric floats, run ids and inline PNG plots are not personal data
    benign = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.+]+)?|\d+\.\d+|[0-9a-f]{8}-[0-9a-f-]{27}|data:image/png;base64,[A-Za-z0-9+/=]+")
    prose = [(where, benign.sub(" ", t)) for where, t in prose]
    flagged = [(where, [sp.entity_type for sp in residual_pii(t)]) for where, t in prose if residual_pii(t)]
    assert not flagged, f"log/metadata/index texts carry PII-shaped content (where, types): {flagged}"


def test_every_sample_call_has_both_speakers(run):
    """Regression: a whole customer turn (digits, email) once vanished from call_0002."""
    store = run["store"]
    for cid, date, tenant in [("call_0001", "2026-11-02", "acme"), ("call_0002", "2026-11-02", "acme"),
                              ("call_0005", "2026-11-03", "globex"), ("call_0006", "2026-11-03", "globex")]:
        t = Transcript.from_dict(store.get_json(CallKeys(date, tenant, cid).transcript))
        assert {s.speaker for s in t.segments} == {"agent", "customer"}, cid


def test_redacted_audio_is_silent_over_pii_and_verified_by_reasr(run):
    import io

    import numpy as np
    import soundfile as sf

    store, ledger = run["store"], run["ledger"]
    md = _mat_metadata(run["results"]["2026-11-02"], ["silver", "redacted_audio"])
    assert md.get("verified_calls", 0) >= 1
    audible = {q["call_id"] for q in ledger.open_quarantine() if q["reason"] == "audio_pii_audible"}
    checked = 0
    for call in ledger.calls(state="active"):
        keys = CallKeys(call["call_date"], call["tenant"], call["call_id"])
        if not store.exists(keys.redacted_transcript):
            continue
        spans = [s for s in store.get_json(keys.redacted_transcript).get("pii_spans", []) if s.get("t_start") is not None]
        if not spans:
            continue
        if call["call_id"] in audible:
            assert not store.exists(keys.redacted_audio)  # never published while PII is audible
            continue
        data, sr = sf.read(io.BytesIO(store.get_bytes(keys.redacted_audio)), always_2d=True)
        for sp in spans:
            a, b = int(sp["t_start"] * sr), int(sp["t_end"] * sr)
            assert np.abs(data[a:b]).max() == 0.0
        checked += 1
    assert checked >= 2


def test_no_training_consent_never_in_dataset(run):
    store = run["store"]
    rows = []
    for k in store.list("gold/training_datasets/"):
        if k.endswith(".jsonl"):
            rows += [json.loads(line) for line in store.get_bytes(k).decode().splitlines() if line.strip()]
    ids = {r["call_id"] for r in rows}
    assert ids, "dataset is empty"
    assert "call_0004" not in ids  # training consent false
    assert "call_0003" not in ids  # opt_out
    assert not ids & {"call_0007", "call_0008"}


def test_adapter_trained_registered_and_evaluated(run):
    md = _mat_metadata(run["results"]["training"], ["gold", "eval_reports"])
    assert 0.0 <= md["accuracy"] <= 1.0
    assert md["test_rows"] >= 1
    # a handful of test rows can never show a significant gain: no promotion, and it says why
    assert 0.0 <= md["mcnemar_p"] <= 1.0 and 0.0 <= md["ece"] <= 1.0
    assert md["promotable"] is False and "not significant" in md["decision"]
    assert "McNemar" in md["report"] and "data:image/png;base64," in md["confusion_matrix"]
    gate = [e.event_specific_data for e in run["results"]["training"].all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "promotion_gate"]
    assert gate and not gate[-1].passed and "not significant" in gate[-1].description
    # the blocking check failed: nothing was promoted
    assert not [m for m in run["results"]["training"].get_asset_materialization_events()
                if m.asset_key == dg.AssetKey(["gold", "adapter_promotions"])]
    lora = _mat_metadata(run["results"]["training"], ["gold", "lora_adapters"])
    assert lora["steps"] > 0 and lora["launcher"] == "pipes_subprocess"
    assert lora["step_pid"] != os.getpid()  # trained in the Pipes subprocess
    # registered and published to the object store with its training metadata
    store, version = run["store"], lora["adapter_version"]
    meta = store.get_json(f"adapters/intent/{version}/training_metadata.json")
    assert meta["dataset_version"] == lora["dataset_version"] and len(meta["base_model_sha256"]) == 64
    assert meta["code_version"] and meta["seed"] == 0 and "train_loss" in meta["metrics"]
    # the intent model is the benchmarked ensemble: adapters per seed + the regressions' weights
    ens = store.get_json(f"adapters/intent/{version}/ensemble.json")
    assert ens["adapters"] == ["adapter_seed0", "adapter_seed1"] and ens["features"] == ["base", "mpnet"]
    assert store.exists(f"adapters/intent/{version}/adapter_seed0/adapter_model.safetensors")
    assert store.exists(f"adapters/intent/{version}/ensemble_logreg.safetensors")
    assert meta["config"]["recipe"]["seeds"] == [0, 1] and len(meta["config"]["adapters"]) == 2


def test_vector_index_rows_are_redacted_and_tenant_scoped(run):
    index = run["index"]
    assert index.count(tenant="acme") > 0 and index.count(tenant="globex") > 0
    assert index.call_ids(tenant="globex") == {"call_0005", "call_0006"}


def test_search_returns_the_semantically_right_call(run):
    from pipeline.domain.search.backends import search_chunks
    from pipeline.domain.search.embedding import Embedder

    embedder = Embedder()
    hits = search_chunks(run["index"], embedder, "customer lost their card", tenant="acme", k=3)
    assert hits[0]["call_id"] == "call_0001"
    hits = search_chunks(run["index"], embedder, "customer moved to a new address", tenant="globex", k=3)
    assert hits[0]["call_id"] == "call_0005"
    assert all(h["tenant"] == "globex" for h in hits)


def test_replay_rerun_diffs_against_recorded_outputs(run):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["replay", "call_0001", "--rerun", "redaction", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rerun"]["changed"] == 0
    store = run["store"]
    key = CallKeys("2026-11-02", "acme", "call_0001").redacted_events
    original = store.get_bytes(key)
    lines = [json.loads(x) for x in original.decode().splitlines()]
    lines[0]["payload"] = {"tampered": True}
    store.put_bytes(key, "".join(json.dumps(x) + "\n" for x in lines).encode())
    try:
        res = runner.invoke(app, ["replay", "call_0001", "--events", str(store.path(key)), "--rerun", "redaction", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["rerun"]["changed"] >= 1
    finally:
        store.put_bytes(key, original)
    res = runner.invoke(app, ["replay", "call_0001", "--rerun", "analytics", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rerun"]["changed"] == 0


def test_datasets_cli_builds_shows_and_exports(run, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    cli = CliRunner()
    built = cli.invoke(app, ["datasets", "build", "--json"])
    assert built.exit_code == 0, built.output
    info = json.loads(built.output[built.output.index("{"):])
    assert info["rows"] >= 3 and info["skipped"] >= 1  # the no-training-consent call is filtered, by reason
    shown = cli.invoke(app, ["datasets", "show"])
    assert shown.exit_code == 0 and info["version"] in shown.output and "no_training_consent" in shown.output
    out = cli.invoke(app, ["datasets", "export", str(tmp_path / "jsonl")])
    assert out.exit_code == 0 and sorted(p.name for p in (tmp_path / "jsonl").iterdir()) == [
        "test.jsonl", "train.jsonl", "validation.jsonl"]
    rows = [json.loads(x) for p in (tmp_path / "jsonl").iterdir() for x in p.read_text().splitlines()]
    assert rows and all({"text", "label", "weight", "call_id", "split"} <= set(r) for r in rows)
    hf = cli.invoke(app, ["datasets", "export", str(tmp_path / "hf"), "--format", "hf", "--kind", "chat"])
    assert hf.exit_code == 0
    import datasets as hf_datasets

    dd = hf_datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(dd) == {"train", "validation", "test"} and "messages" in dd["train"].column_names
    bad = cli.invoke(app, ["datasets", "export", str(tmp_path / "x"), "--format", "parquet"])
    assert bad.exit_code == 2 and "unknown --format" in bad.output
    missing = cli.invoke(app, ["datasets", "show", "--version", "ds-nope"])
    assert missing.exit_code == 2 and "no dataset version" in missing.output


def test_adapters_cli_round_trip_promote_rollback_pin_cleanup_export(run):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.domain.learning.registry import AdapterRegistry

    reg = AdapterRegistry(run["settings"].home / "registry" / "intent", mirror=run["store"])
    first = reg.versions()[0]  # trained by training_job in this module's run
    cli = CliRunner()
    # train -> register: the gate is closed (no new labels), --force trains anyway, through the Pipes step
    trained = cli.invoke(app, ["adapters", "train", "--force", "--json"])
    assert trained.exit_code == 0, trained.output
    info = json.loads(trained.stdout[trained.stdout.index("{"):])
    assert info["outcome"] == "not promoted" and len(info["new_versions"]) == 1
    second = info["new_versions"][0]
    assert run["store"].exists(f"adapters/intent/{second}/training_metadata.json")
    # evaluate: the same rules as the promotion gate, with the reason
    ev = cli.invoke(app, ["adapters", "evaluate", second, "--json"])
    assert ev.exit_code == 0, ev.output
    ev = json.loads(ev.stdout)
    assert ev["promotable"] is False and any("not significant" in r for r in ev["reasons"])
    assert cli.invoke(app, ["adapters", "evaluate", "v9999"]).exit_code == 2
    listed = json.loads(cli.invoke(app, ["adapters", "list", "--json"]).output)
    assert [r["version"] for r in listed][-2:] == [first, second]
    assert json.loads(cli.invoke(app, ["adapters", "show", first]).output)["dataset_version"]
    assert cli.invoke(app, ["adapters", "promote", first, "--reason", "baseline"]).exit_code == 0
    assert cli.invoke(app, ["adapters", "promote", second, "--reason", "better"]).exit_code == 0
    out = cli.invoke(app, ["adapters", "export", "--vllm", "--name", "intent"])
    assert out.exit_code == 0 and out.output.strip().endswith("/registry/intent/current")
    assert (reg.root / "current").resolve() == reg.path(second).resolve()
    assert run["store"].get_json("adapters/intent/current.json")["version"] == second
    served = cli.invoke(app, ["adapters", "serve-check", "--json", "--prompt", "my card never arrived"])
    assert served.exit_code == 0, served.output
    served = json.loads(served.stdout)
    assert served["version"] == second and served["label"] in reg.manifest(second)["label_names"]
    assert 0.0 < served["probability"] <= 1.0
    rb = cli.invoke(app, ["adapters", "rollback", "--reason", "A/B resolution rate fell"])
    assert rb.exit_code == 0 and reg.champion() == first
    assert (reg.root / "current").resolve() == reg.path(first).resolve()
    assert run["store"].get_json("adapters/intent/current.json")["version"] == first
    assert cli.invoke(app, ["adapters", "pin", second]).exit_code == 0
    assert cli.invoke(app, ["adapters", "cleanup", "--keep", "1"]).output.strip() == "deleted: nothing"
    actions = [a["action"] for a in run["ledger"].audit_rows() if a["action"].startswith("adapter_")]
    assert actions[-5:] == ["adapter_promote", "adapter_promote", "adapter_rollback", "adapter_pin", "adapter_cleanup"]
    bad = cli.invoke(app, ["adapters", "promote", "v9999", "--reason", "x"])
    assert bad.exit_code == 2 and "not registered" in bad.output
    bad = cli.invoke(app, ["adapters", "show", "latest"])
    assert bad.exit_code == 2 and "not a version name" in bad.output


def test_nightly_training_tick_says_why_it_skips(run):
    from pipeline.domain.learning.registry import TrainingLock
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource
    from resources.trainer import TrainerResource
    from sensors.schedules import training_schedule

    settings = run["settings"]
    registry_dir = str(settings.home / "registry")

    def tick(**trainer_kw):
        res = {"object_store": ObjectStoreResource(backend="local", root=str(settings.object_store_root)),
               "ledger": LedgerResource(url=settings.ledger_url),
               "trainer": TrainerResource(registry_dir=registry_dir, **trainer_kw)}
        with dg.instance_for_test() as instance, \
                dg.build_schedule_context(instance=instance, resources=res,
                                          scheduled_execution_time=datetime(2026, 12, 2, 3, tzinfo=timezone.utc)) as ctx:
            return training_schedule(ctx)

    skipped = tick(min_examples=1, min_new_examples=50)
    assert isinstance(skipped, dg.SkipReason) and "not enough new labelled examples" in skipped.skip_message
    assert isinstance(tick(min_examples=1, min_new_examples=0), dg.RunRequest)
    lock = TrainingLock(registry_dir)
    assert lock.acquire("run-elsewhere")
    try:
        held = tick(min_examples=1, min_new_examples=0)
        assert isinstance(held, dg.SkipReason) and "training lock held by run-elsewhere" in held.skip_message
    finally:
        lock.release("run-elsewhere")


def test_ab_test_finds_a_worse_champion_and_the_sensor_rolls_it_back(run):
    import random

    from pipeline.domain.learning.registry import AdapterRegistry
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource
    from resources.trainer import TrainerResource
    from sensors.recordings import ab_rollback

    store, settings = run["store"], run["settings"]
    reg = AdapterRegistry(settings.home / "registry" / "intent", mirror=store)
    first = reg.versions()[0]
    keep = {k: v for k, v in reg.manifest(first).items() if k not in ("files", "weights_sha256", "created_at", "version")}
    old, new = reg.register(reg.path(first), keep), reg.register(reg.path(first), keep)
    reg.promote(old, "served for a month")
    reg.promote(new, "beat it offline")
    rng = random.Random(7)
    lines = []
    for version, resolved in ((old, 0.72), (new, 0.60)):  # the new champion resolves fewer calls
        for i in range(1500):
            lines.append(json.dumps({"trace_id": f"syn-{version}-{i}", "seq": 1, "ts": "2026-11-20T10:00:00Z",
                                     "type": "call.outcome", "payload": {
                                         "adapter_version": version, "resolved": rng.random() < resolved,
                                         "escalated": rng.random() < 0.1, "handle_time_s": rng.gauss(300, 20)}}))
    store.put_bytes("silver/redacted_events/2026-11-20/synthetic_outcomes.jsonl", ("\n".join(lines) + "\n").encode())
    try:
        with dg.instance_for_test() as instance:
            result = run["defs"].resolve_job_def("ab_job").execute_in_process(instance=instance)
            md = _mat_metadata(result, ["gold", "ab_tests"])
            assert md["recommendation"] == "rollback" and md["champion"] == new and "resolution rate fell" in md["reasons"]
            checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
            assert checks and not checks[-1].event_specific_data.passed
            res = {"trainer": TrainerResource(registry_dir=str(settings.home / "registry")),
                   "ledger": LedgerResource(url=settings.ledger_url),
                   "object_store": ObjectStoreResource(backend="local", root=str(settings.object_store_root))}
            with dg.build_sensor_context(instance=instance, resources=res) as ctx:
                assert ab_rollback(ctx) is None
                cursor = ctx.cursor
            assert reg.champion() == old
            assert store.get_json("adapters/intent/current.json")["version"] == old  # published
            audit = [a for a in run["ledger"].audit_rows(action="adapter_rollback") if a["actor"] == "ab_rollback_sensor"]
            assert audit and audit[-1]["details"]["from"] == new
            with dg.build_sensor_context(instance=instance, resources=res, cursor=cursor) as ctx:
                assert "no new A/B report" in ab_rollback(ctx).skip_message  # acted on once only
            with dg.build_sensor_context(instance=instance, resources=res) as ctx:  # replayed: the report is stale
                assert "stale" in ab_rollback(ctx).skip_message
            assert reg.champion() == old
    finally:
        store.delete("silver/redacted_events/2026-11-20/synthetic_outcomes.jsonl")


def test_rerun_is_idempotent(run):
    res = run["defs"].resolve_job_def("ingest_job").execute_in_process(partition_key="2026-11-02",
                                                                        instance=run["instance"])
    assert res.success
    assert _mat_metadata(res, ["silver", "transcripts"])["processed"] == 0
    assert _mat_metadata(res, ["silver", "redacted_transcripts"])["processed"] == 0
    assert _mat_metadata(res, ["bronze", "recordings"])["processed"] == 0
    # second quarantine record for the same bad input is not duplicated
    assert sum(1 for r in run["ledger"].open_quarantine() if r["call_id"] == "call_0008") == 1


# ---- destructive tests last --------------------------------------------------------------

def _traces(run, call_id: str) -> list[str]:
    """Objects named after the call, and the day tables (parquet) holding a row of it."""
    import pandas as pd

    store = run["store"]
    named = [k for k in store.list("") if call_id in k]
    tables = [k for k in store.list("gold/") if k.endswith(".parquet")
              and call_id in set(pd.read_parquet(io.BytesIO(store.get_bytes(k))).get("call_id", []))]
    return named + tables


def test_erasure_by_customer_removes_every_trace(run):
    from pipeline.domain.privacy.compliance import erase

    assert _traces(run, "call_0001") and _traces(run, "call_0002")
    # before: the day tables hold a row of the customer's calls
    assert any(k.endswith(".parquet") for k in _traces(run, "call_0001"))
    rep = erase(run["store"], run["ledger"], run["index"], actor="test", reason="ticket-1", customer_id="cust_001")
    assert set(rep.erased) == {"call_0001", "call_0002"}
    for cid in ("call_0001", "call_0002"):
        assert not _traces(run, cid), cid
        assert cid not in run["index"].call_ids()
        assert run["ledger"].get_call(cid)["state"] == "erased"
        assert any(r["action"] == "erase" for r in run["ledger"].audit_rows(call_id=cid))
    for k in run["store"].list("gold/training_datasets/"):
        if k.endswith(".jsonl"):
            assert "call_0001" not in run["store"].get_bytes(k).decode()


def test_retention_soft_deletes_then_purges_legal_hold_survives(run):
    ledger, store = run["ledger"], run["store"]
    ledger.set_legal_hold("call_0005", True, actor="legal", reason="litigation")
    job = run["defs"].resolve_job_def("retention_job")
    later = datetime(2026, 11, 3, tzinfo=timezone.utc) + timedelta(days=200)
    for now in (later, later + timedelta(days=30)):
        res = job.execute_in_process(instance=run["instance"],
                                     run_config={"ops": {"apply_retention": {"config": {"now": now.isoformat()}}}})
        assert res.success
    for cid in ("call_0006", "call_0009"):
        assert ledger.get_call(cid)["state"] == "purged"
        assert not [k for k in _traces(run, cid) if not k.startswith("quarantine/")], cid
        assert cid not in run["index"].call_ids()
        actions = [r["action"] for r in ledger.audit_rows(call_id=cid)]
        assert "soft_delete" in actions and "purge" in actions
    assert ledger.get_call("call_0005")["state"] == "active"
    assert store.exists(CallKeys("2026-11-03", "globex", "call_0005").redacted_transcript)
    assert "call_0005" in run["index"].call_ids()

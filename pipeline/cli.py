"""The `callforge` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from pipeline.settings import force_offline

force_offline()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="callforge: call recordings -> compliant training data and gated adapters.")
quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect and release quarantined calls.")
app.add_typer(quarantine_app, name="quarantine")
datasets_app = typer.Typer(no_args_is_help=True, help="Build, inspect and export the curated training datasets.")
app.add_typer(datasets_app, name="datasets")
adapters_app = typer.Typer(no_args_is_help=True, help="The adapter registry: list, promote, roll back, pin, clean up.")
app.add_typer(adapters_app, name="adapters")


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command()
def demo(samples: Optional[Path] = typer.Option(None, help="Samples folder (default: the bundled samples/)"),
         as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON")) -> None:
    """Run the main job end to end on the bundled samples (embedded default profile)."""
    from pipeline.demo import format_summary, run_demo

    summary = run_demo(samples, echo=(lambda m: typer.echo(m, err=True)) if as_json else typer.echo)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    if summary["failed_runs"]:
        raise typer.Exit(1)


@app.command("import")
def import_(path: Path = typer.Argument(..., help="Platform transcript: .vtt, .srt, AWS/Google .json, .txt"),
            as_json: bool = typer.Option(False, "--json", help="Print the normalised transcript as JSON")) -> None:
    """Normalise a platform transcript export to callforge's transcript model."""
    from pipeline.domain.intake.formats import TranscriptFormatError, parse_transcript

    if not path.exists():
        _fail(f"{path}: no such file")
    try:
        t = parse_transcript(path)
    except TranscriptFormatError as e:
        _fail(str(e))
    d = t.to_dict()
    d = {"source_format": d["source_format"], "diarised": d["diarised"], "segments": d["segments"]}
    if as_json:
        typer.echo(json.dumps(d, indent=2))
    else:
        for s in d["segments"]:
            typer.echo(f"[{s['start']:7.2f}-{s['end']:7.2f}] {s['speaker']}: {s['text']}")


@app.command()
def transcribe(audio: Path = typer.Argument(..., help="Call audio (wav/flac/mp3/ogg, mono or stereo)"),
               sidecar: Optional[Path] = typer.Option(None, help="Sidecar JSON (channel_map decides speakers)"),
               as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Transcribe one call with faster-whisper (word timestamps, speakers by channel)."""
    from pipeline.domain.intake.sidecar import SidecarError, parse_sidecar
    from pipeline.domain.speech.asr import AsrConfig, AsrEngine
    from pipeline.domain.speech.audio import AudioError

    if not audio.exists():
        _fail(f"{audio}: no such file")
    channel_map = None
    if sidecar:
        try:
            channel_map = parse_sidecar(sidecar.read_bytes(), source=sidecar.name).channel_map
        except SidecarError as e:
            _fail(str(e))
    try:
        t = AsrEngine(AsrConfig()).transcribe_call(audio, channel_map=channel_map, call_id=audio.stem)
    except AudioError as e:
        _fail(f"{audio.name}: {e.reason}: {e}")
    d = t.to_dict()
    out = {"duration": d["duration"], "language": d["language"], "segments": d["segments"], "quality": d.get("quality", {})}
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for s in out["segments"]:
            typer.echo(f"[{s['start']:7.2f}-{s['end']:7.2f}] {s['speaker']}: {s['text']}")


@app.command()
def redact(jsonl: bool = typer.Option(False, "--jsonl", help='Read {"id","text"} lines on stdin, write redacted lines')) -> None:
    """Redact PII from text (spans are in original-text character offsets)."""
    from pipeline.domain.privacy.engine import Redactor, redact_jsonl

    if not jsonl:
        _fail("only --jsonl mode is supported: pipe lines of {\"id\", \"text\"}")
    redact_jsonl(sys.stdin, sys.stdout, Redactor())


@app.command()
def search(query: str = typer.Argument(...), tenant: str = typer.Option(..., help="Tenant to search (required)"),
           k: int = typer.Option(10, "-k", help="Results"),
           filter_: list[str] = typer.Option([], "--filter", help="field=value, e.g. chunk_type=turn"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Semantic search over redacted call chunks of one tenant."""
    from pipeline.domain.search.backends import make_index, search_chunks
    from pipeline.domain.search.embedding import Embedder
    from pipeline.settings import get_settings

    filters = {}
    for f in filter_:
        if "=" not in f:
            _fail(f"--filter expects field=value, got {f!r}")
        key, value = f.split("=", 1)
        filters[key] = value
    index = make_index("lancedb", uri=get_settings().lancedb_uri)
    hits = search_chunks(index, Embedder(), query, tenant=tenant, k=k, filters=filters or None)
    if as_json:
        typer.echo(json.dumps(hits, indent=2, default=str))
    else:
        for h in hits:
            text = " / ".join(h["text"].splitlines())
            typer.echo(f"{h.get('score', 0.0):.4f}  {h['call_id']}  {h['chunk_type']:6s}  {text[:100]}")


@app.command()
def replay(trace_id: str = typer.Argument(...), events_file: Optional[Path] = typer.Option(None, "--events", help="Event log JSONL (default: the redacted events in the store)"),
           rerun: Optional[str] = typer.Option(None, "--rerun", help="Re-run a stage on the replayed log and diff it against the recorded output: redaction | analytics"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Rebuild a conversation's timeline from its event log (ordered by seq; gaps,
    duplicates and out-of-order arrivals reported); optionally re-run a stage on it."""
    from pipeline.domain.core.models import Event
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.insights.replay import replay_timeline
    from pipeline.settings import get_settings

    if events_file:
        if not events_file.exists():
            _fail(f"{events_file}: no such file")
        lines = events_file.read_text().splitlines()
    else:
        store = LocalObjectStore(get_settings().object_store_root)
        keys = [k for k in store.list("silver/redacted_events/") if k.endswith(f"/{trace_id}.jsonl")]
        if not keys:
            _fail(f"no redacted event log for trace {trace_id}")
        lines = store.get_bytes(keys[-1]).decode().splitlines()
    events, invalid = [], 0
    for line in lines:  # raw lines, duplicates kept: replay reports them
        if not line.strip():
            continue
        try:
            o = json.loads(line)
            events.append(Event(str(o["trace_id"]), int(o["seq"]), str(o["ts"]), str(o["type"]), o.get("payload") or {}))
        except (ValueError, KeyError, TypeError):
            invalid += 1
    result = replay_timeline([e for e in events if e.trace_id == trace_id], trace_id=trace_id)
    d = result.to_dict() | {"invalid_lines": invalid}
    if rerun:
        d["rerun"] = _rerun(trace_id, rerun, result)
    if as_json:
        typer.echo(json.dumps(d, indent=2, default=str))
    else:
        for e in result.timeline:
            typer.echo(f"{e.seq:4d} {e.ts} {e.type}")
        typer.echo(f"duplicates: {d['duplicates']}  gaps: {d['gaps']}  out of order: {d['out_of_order']}  invalid lines: {invalid}")
        if rerun:
            r = d["rerun"]
            typer.echo(f"re-run {rerun}: {r['changed']} difference(s) against the recorded output")
            for line in r["diff"]:
                typer.echo(line)


def _rerun(trace_id: str, stage: str, result) -> dict:
    """Re-run redaction (bronze events -> redacted payloads) or event analytics on the
    replayed timeline and diff against what the pipeline recorded. Both sides are
    redacted outputs: no raw payload is printed."""
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.analytics import flatten
    from pipeline.domain.flows.redaction import redact_event
    from pipeline.domain.insights.analytics import event_metrics
    from pipeline.domain.insights.replay import format_diff, rerun_stage
    from pipeline.domain.privacy.engine import Redactor
    from pipeline.settings import get_settings

    s = get_settings()
    store, call = LocalObjectStore(s.object_store_root), Ledger(s.ledger_url).get_call(trace_id)
    if call is None:
        _fail(f"no call {trace_id} in the ledger: --rerun needs the pipeline's recorded outputs")
    keys = CallKeys(call["call_date"], call["tenant"], trace_id)
    if stage == "redaction":
        if not (store.exists(keys.events) and store.exists(keys.redacted_events)):
            _fail(f"no recorded events/redacted events for {trace_id}")
        raw = [json.loads(x) for x in store.get_bytes(keys.events).decode().splitlines() if x.strip()]
        redacted = [json.loads(x) for x in store.get_bytes(keys.redacted_events).decode().splitlines() if x.strip()]
        recorded = {int(o["seq"]): o["payload"] for o in redacted}
        from pipeline.domain.core.models import Event

        timeline = [Event(o["trace_id"], int(o["seq"]), o["ts"], o["type"], o.get("payload") or {}) for o in raw]
        redactor = Redactor()
        items = rerun_stage(lambda e: redact_event(e, redactor, call["tenant"], None)[0].payload, recorded, timeline)
    elif stage == "analytics":
        if not store.exists(keys.analytics):
            _fail(f"no recorded analytics for {trace_id}")
        row = store.get_json(keys.analytics)
        recorded = {k: v for k, v in row.items() if k.startswith("events_")}
        fresh = flatten(event_metrics(result.timeline), prefix="events_")
        items = [k for k in sorted(set(recorded) | set(fresh)) if recorded.get(k) != fresh.get(k)]
        return {"changed": len(items), "diff": [f"{k}: recorded={recorded.get(k)!r} rerun={fresh.get(k)!r}" for k in items]}
    else:
        _fail(f"unknown stage {stage!r}: use redaction or analytics")
    return {"changed": len(items), "diff": format_diff(items).splitlines()}



@app.command()
def erase(customer: Optional[str] = typer.Option(None, "--customer", help="Customer id"),
          call: Optional[str] = typer.Option(None, "--call", help="Call id"),
          reason: str = typer.Option(..., help="Why (ticket id)"),
          actor: str = typer.Option("cli", help="Who")) -> None:
    """Erase a person's or a call's data from every layer, the vector index and datasets (audited)."""
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.privacy.compliance import erase as do_erase
    from pipeline.domain.search.backends import make_index
    from pipeline.settings import get_settings

    if bool(customer) == bool(call):
        _fail("give exactly one of --customer or --call")
    s = get_settings()
    try:
        rep = do_erase(LocalObjectStore(s.object_store_root), Ledger(s.ledger_url), make_index("lancedb", uri=s.lancedb_uri),
                       actor=actor, reason=reason, customer_id=customer, call_id=call)
    except LookupError as e:
        _fail(str(e))
    typer.echo(json.dumps({"erased": rep.erased, "held": rep.held, "objects_deleted": rep.objects_deleted,
                           "index_rows_deleted": rep.index_rows_deleted}))


@quarantine_app.command("list")
def quarantine_list(partition: Optional[str] = typer.Option(None, help="Day (YYYY-MM-DD)")) -> None:
    """List open quarantine records (reasons only)."""
    from pipeline.domain.core.ledger import Ledger
    from pipeline.settings import get_settings

    for q in Ledger(get_settings().ledger_url).open_quarantine(partition=partition):
        typer.echo(f"{q['partition']}  {q['call_id']}  {q['stage']}  {q['reason']}  {q['detail']}")


@quarantine_app.command("release")
def quarantine_release(call_id: str = typer.Argument(...), reason: str = typer.Option(..., help="Why it may pass"),
                       actor: str = typer.Option("cli", help="Reviewer")) -> None:
    """Release a reviewed call from quarantine (audited); the next run processes it."""
    from pipeline.domain.core.ledger import Ledger
    from pipeline.settings import get_settings

    n = Ledger(get_settings().ledger_url).release(call_id, actor, reason)
    if not n:
        _fail(f"no open quarantine record for {call_id}")
    typer.echo(f"released {n} record(s) for {call_id}")


if __name__ == "__main__":
    app()


@app.command("label-studio")
def label_studio(port: int = typer.Option(8080, help="Port on 127.0.0.1"),
                 push: bool = typer.Option(True, help="Create the three projects and queue the demo calls once up")) -> None:
    """Run a local Label Studio (its own venv, 127.0.0.1, token preset) for labelling the
    demo calls; prints the URL, login and the LABEL_STUDIO_* exports for the pipeline."""
    import subprocess
    import time
    import urllib.request

    from pipeline.label_studio_server import label_studio_bin, launch_spec
    from pipeline.settings import get_settings

    s = get_settings()
    if not label_studio_bin().exists():
        _fail(f"Label Studio is not installed at {label_studio_bin()}: run `make install`")
    spec = launch_spec(s.home / "label_studio", port=port, files_root=s.object_store_root)
    proc = subprocess.Popen(spec.cmd, env=spec.env)
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{spec.url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    _fail(f"Label Studio exited with code {proc.returncode}")
                time.sleep(0.5)
        typer.echo(f"\nLabel Studio: {spec.url}  login {spec.username} / {spec.password}\n"
                   f"  export LABEL_STUDIO_URL={spec.url}\n  export LABEL_STUDIO_API_KEY={spec.token}\n")
        if push:
            from pipeline.domain.learning.label_studio import LabelStudioClient
            from pipeline.domain.learning.labelling import PROJECTS, label_config

            cli = LabelStudioClient(spec.url, spec.token)
            for p in PROJECTS:
                pid, action = cli.ensure_project(label_config(p))
                typer.echo(f"  project {p}: id {pid} ({action})")
            typer.echo("  queue calls: with the two exports above, materialise gold/annotation_queue "
                       "(`make ui`), then label at the URL; the completed_annotations sensor pulls the work back")
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=20)


def _dataset_store():
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.settings import get_settings

    s = get_settings()
    return LocalObjectStore(s.object_store_root), Ledger(s.ledger_url), s


def _manifest(store, version: Optional[str]) -> dict:
    from pipeline.domain.core.keys import dataset_prefix

    if version is None:
        found = sorted((store.get_json(k) for k in store.list("gold/training_datasets/") if k.endswith("/manifest.json")),
                       key=lambda m: m.get("created_at", ""))
        if not found:
            _fail("no dataset built yet: run `callforge datasets build` (or materialise gold/training_datasets)")
        return found[-1]
    key = dataset_prefix(version) + "manifest.json"
    if not store.exists(key):
        _fail(f"no dataset version {version!r}")
    return store.get_json(key)


@datasets_app.command("build")
def datasets_build(as_json: bool = typer.Option(False, "--json")) -> None:
    """Build the curated datasets from the redacted calls and labels in state/ (what
    gold/training_datasets does, without Dagster)."""
    from pipeline.domain.flows import datasets as datasets_flow
    from pipeline.domain.learning.training import chat_check_tokenizer, default_base_model_path
    from pipeline.domain.search.embedding import Embedder

    store, ledger, s = _dataset_store()
    cfg = s.section("training")
    try:
        ds = datasets_flow.build_dataset(store, ledger, embed=Embedder().encode,
                                         tokenizer=chat_check_tokenizer(cfg.get("chat_tokenizer_path")
                                                                        or cfg.get("base_model_path")
                                                                        or default_base_model_path()),
                                         max_tokens=int(cfg.get("max_tokens", 2048)))
    except datasets_flow.DatasetFormatError as e:
        _fail(str(e), code=1)
    out = {"version": ds.version, "rows": ds.rows, "chat_rows": ds.chat_rows, "splits": ds.split_sizes,
           "chat_splits": ds.chat_split_sizes, "skipped": len(ds.skipped), "prefix": ds.manifest["prefix"]}
    typer.echo(json.dumps(out, indent=2) if as_json else
               f"dataset {ds.version}: {ds.rows} intent rows {ds.split_sizes}, {ds.chat_rows} chat rows "
               f"{ds.chat_split_sizes}, {len(ds.skipped)} row(s) filtered out -> {ds.manifest['prefix']}")


@datasets_app.command("show")
def datasets_show(version: Optional[str] = typer.Option(None, help="Dataset version (default: the newest)"),
                  as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON")) -> None:
    """Print a dataset's card (lineage, counts per split and label, filters, dedupe)."""
    store, _ledger, _s = _dataset_store()
    m = _manifest(store, version)
    typer.echo(json.dumps(m, indent=2) if as_json else store.get_bytes(m["card"]).decode())


@datasets_app.command("export")
def datasets_export(dest: Path = typer.Argument(..., help="Folder to write to"),
                    fmt: str = typer.Option("jsonl", "--format", help="jsonl | hf"),
                    kind: str = typer.Option("classification", help="classification | chat"),
                    version: Optional[str] = typer.Option(None, help="Dataset version (default: the newest)")) -> None:
    """Copy a dataset out: JSONL per split, or the HF DatasetDict folder (load_from_disk)."""
    if fmt not in ("jsonl", "hf"):
        _fail(f"unknown --format {fmt!r}: use jsonl or hf")
    if kind not in ("classification", "chat"):
        _fail(f"unknown --kind {kind!r}: use classification or chat")
    store, _ledger, _s = _dataset_store()
    m = _manifest(store, version)
    src = f"{m['prefix']}{kind}/" + ("hf/" if fmt == "hf" else "")
    n = 0
    for key in store.list(src):
        rel = key[len(src):]
        if fmt == "jsonl" and (not rel.endswith(".jsonl") or "/" in rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get_bytes(key))
        n += 1
    typer.echo(f"{n} file(s) of {m['version']} ({kind}, {fmt}) -> {dest}")


_ADAPTER = {"name": "intent"}


@adapters_app.callback()
def adapters_main(adapter: str = typer.Option("intent", "--adapter", help="Which adapter's registry: intent or chat")) -> None:
    """Versions live under <home>/registry/<adapter>/ and in the object store under
    adapters/<adapter>/<version>/ (weights, training_metadata.json), with current.json."""
    _ADAPTER["name"] = adapter


def _registry():
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.learning.registry import AdapterRegistry
    from pipeline.settings import get_settings

    s = get_settings()
    try:
        reg = AdapterRegistry(s.home / "registry" / _ADAPTER["name"], name=_ADAPTER["name"],
                              mirror=LocalObjectStore(s.object_store_root))
    except ValueError as e:
        _fail(str(e))
    reg.pull()
    return reg, Ledger(s.ledger_url)


@adapters_app.command("train")
def adapters_train(force: bool = typer.Option(False, "--force", help="Train even if the gate is closed"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Run training_job (labels -> dataset -> gated training through the Pipes step ->
    evaluation -> promotion if the blocking promotion gate passes) on this instance."""
    import dagster as dg

    from pipeline.definitions import defs as load_defs
    from pipeline.demo import prepare_instance
    from pipeline.jobs import training_outcome
    from pipeline.settings import get_settings

    prepare_instance(get_settings().home)
    reg, _ = _registry()
    before = set(reg.versions())
    cfg = {"ops": {"gold__lora_adapters": {"config": {"force": force}}}}
    # the instance DAGSTER_HOME names (the UI shows the run); an ephemeral one if that folder does not exist
    home = os.environ.get("DAGSTER_HOME")
    instance = dg.DagsterInstance.get() if home and Path(home).is_dir() else dg.DagsterInstance.ephemeral()
    res = load_defs().resolve_job_def("training_job").execute_in_process(
        instance=instance, run_config=cfg, raise_on_error=False, tags={"callforge/training": "true"})
    outcome = training_outcome(res)
    new = sorted(set(reg.versions()) - before)
    out = {"outcome": outcome, "run_id": res.run_id, "new_versions": new, "champion": reg.champion()}
    typer.echo(json.dumps(out, indent=2) if as_json else
               f"{outcome}: new {', '.join(new) or '-'}; champion {out['champion'] or '-'} (run {res.run_id})")
    if outcome == "failed":
        raise typer.Exit(1)


@adapters_app.command("evaluate")
def adapters_evaluate(version: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Evaluate a registered version against the champion and base on its dataset's
    held-out split (the same code as gold/eval_reports); prints the promotion decision."""
    from pipeline.domain.core.keys import dataset_prefix, eval_report_key
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.flows.learning import TrainerSettings, evaluate_adapter, evaluate_chat_adapter
    from pipeline.settings import get_settings

    reg, _ = _registry()
    try:
        manifest = reg.manifest(version)
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))
    s = get_settings()
    store = LocalObjectStore(s.object_store_root)
    ds_key = dataset_prefix(manifest["dataset_version"]) + "manifest.json"
    if not store.exists(ds_key):
        _fail(f"dataset {manifest['dataset_version']} of {version} is not in the object store")
    promo = s.section("training").get("promotion") or {}
    cfg = s.section("training")
    trainer = TrainerSettings(registry_dir=str(s.home / "registry"), base_model_path=cfg.get("base_model_path"))
    kw = {"alpha": float(promo.get("alpha", 0.05)), "min_gain": float(promo.get("min_gain", 0.0)),
          "min_general_retention": float(promo.get("min_general_retention", 0.9))}
    adapter, dataset = {**manifest, "version": version}, store.get_json(ds_key)
    rep = (evaluate_chat_adapter(store, adapter, dataset, trainer, **kw) if reg.name == "chat"
           else evaluate_adapter(store, adapter, dataset, trainer, **kw))
    scores = ({"heldout_loss": rep.candidate["heldout_loss"], "base_heldout_loss": rep.base["heldout_loss"],
               "general_loss_ratio": rep.summary["general_loss_ratio"]} if reg.name == "chat" else
              {"accuracy": rep.candidate["accuracy"], "macro_f1": rep.candidate["macro_f1"],
               "base_accuracy": rep.base["accuracy"]})
    out = {"version": version, "promotable": rep.promoted, "reasons": rep.reasons, **scores,
           "versus": rep.summary["significance"]["versus"], "p_value": rep.summary["significance"]["p_value"],
           "report": store.uri(eval_report_key(version, reg.name))}
    typer.echo(json.dumps(out, indent=2) if as_json else
               f"{version}: {'promotable' if rep.promoted else 'not promotable'} — {'; '.join(rep.reasons) or 'all rules hold'}")


@adapters_app.command("serve-check")
def adapters_serve_check(version: str = typer.Argument(None, help="Default: the champion"),
                         prompt: str = typer.Option("I lost my card, can you block it?", help="What to ask"),
                         as_json: bool = typer.Option(False, "--json")) -> None:
    """Load the base model plus an adapter the way a server would (transformers + peft)
    and answer a prompt: an intent adapter classifies it, a chat adapter replies."""
    import time

    reg, _ = _registry()
    version = version or reg.champion()
    if not version:
        _fail("no champion yet: name a version (callforge adapters list)")
    try:
        manifest, path = reg.manifest(version), reg.path(version)
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))
    bad = reg.verify(version)
    if bad:
        _fail(f"{version} is corrupt: {', '.join(bad)} no longer match the manifest")
    t0 = time.perf_counter()
    if reg.name == "chat":
        from pipeline.domain.learning import chat_sft

        model, tok = chat_sft.load_adapter(chat_sft.ChatModelRef(**manifest["base_model_ref"]), path)
        answer = chat_sft.generate(model, tok, [{"role": "user", "content": prompt}], max_new_tokens=40)
        out = {"version": version, "reply": answer}
    else:
        from pipeline.domain.learning.ensemble import load_intent_model

        clf = load_intent_model(manifest["base_model"], path)
        probs = clf.predict_proba([prompt])[0]
        best = int(probs.argmax())
        out = {"version": version, "label": clf.label_names[best], "probability": round(float(probs[best]), 4)}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    typer.echo(json.dumps(out, indent=2) if as_json else " ".join(f"{k}={v}" for k, v in out.items()))


@adapters_app.command("list")
def adapters_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Registered versions, newest last, with the champion and pins marked."""
    reg, _ = _registry()
    champ, pins = reg.champion(), set(reg.pinned())
    rows = [{"version": v, "champion": v == champ, "pinned": v in pins, "created_at": reg.manifest(v).get("created_at"),
             "dataset_version": reg.manifest(v).get("dataset_version"),
             "metrics": reg.manifest(v).get("metrics", {})} for v in reg.versions()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        flags = ("*champion " if r["champion"] else "") + ("pinned" if r["pinned"] else "")
        typer.echo(f"{r['version']}  {r['created_at']}  {r['dataset_version']}  {flags}".rstrip())


@adapters_app.command("show")
def adapters_show(version: str = typer.Argument(...)) -> None:
    """A version's training metadata (base model, dataset, config, metrics, file hashes)."""
    reg, _ = _registry()
    try:
        typer.echo(json.dumps(reg.manifest(version), indent=2))
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))


@adapters_app.command("promote")
def adapters_promote(version: str = typer.Argument(...), reason: str = typer.Option(..., help="Why (audited)"),
                     actor: str = typer.Option("cli", help="Who")) -> None:
    """Make a version the champion by hand (the eval gate does it automatically)."""
    reg, ledger = _registry()
    try:
        entry = reg.promote(version, reason)
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))
    ledger.audit("adapter_promote", actor, reason=reason, details={"version": version, "previous": entry["previous"]})
    typer.echo(f"champion: {version} (was {entry['previous'] or '-'})")


@adapters_app.command("rollback")
def adapters_rollback(reason: str = typer.Option(..., help="Why (audited)"),
                      actor: str = typer.Option("cli", help="Who")) -> None:
    """Make the champion's predecessor champion again."""
    reg, ledger = _registry()
    try:
        entry = reg.rollback(reason)
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))
    ledger.audit("adapter_rollback", actor, reason=reason, details={"version": entry["version"],
                                                                    "from": entry["previous"]})
    typer.echo(f"rolled back: champion {entry['version']} (was {entry['previous']})")


@adapters_app.command("pin")
def adapters_pin(version: str = typer.Argument(...), unpin: bool = typer.Option(False, "--unpin"),
                 actor: str = typer.Option("cli", help="Who")) -> None:
    """Keep a version through cleanup (or release it with --unpin)."""
    reg, ledger = _registry()
    try:
        pins = reg.pin(version, pinned=not unpin)
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""))
    ledger.audit("adapter_pin", actor, details={"version": version, "pinned": not unpin})
    typer.echo(f"pinned: {', '.join(pins) or '-'}")


@adapters_app.command("cleanup")
def adapters_cleanup(keep: int = typer.Option(5, help="Newest versions to keep"),
                     actor: str = typer.Option("cli", help="Who")) -> None:
    """Delete old versions, never the champion, its rollback target or a pinned one."""
    reg, ledger = _registry()
    try:
        deleted = reg.cleanup(keep)
    except ValueError as e:
        _fail(str(e))
    ledger.audit("adapter_cleanup", actor, details={"deleted": deleted, "keep": keep})
    typer.echo(f"deleted: {', '.join(deleted) or 'nothing'}")


@adapters_app.command("export")
def adapters_export(vllm: bool = typer.Option(False, "--vllm", help="Print vLLM's --lora-modules argument"),
                    name: str = typer.Option("callforge", help="Adapter name vLLM serves it under")) -> None:
    """Where a server loads the champion: with --vllm, ``--lora-modules NAME=<registry>/current``
    (the ``current`` symlink moves atomically on promote and rollback)."""
    reg, _ = _registry()
    if not vllm:
        _fail("choose an export format: --vllm")
    try:
        typer.echo(f"--lora-modules {reg.vllm_module(name)}")
    except ValueError as e:
        _fail(str(e))

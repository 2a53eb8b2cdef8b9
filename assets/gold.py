"""Gold: analytics on every call, embeddings in the vector index, the annotation loop,
training datasets, gated LoRA adapters, eval reports with promotion, monthly drift."""


from collections import Counter

import dagster as dg
from pydantic import Field

from assets.common import OWNERS, counter_md, tags
from assets.shards import shard_label, shard_ops
from pipeline.domain.flows.common import Shard
from pipeline.k8s import GPU_OP_TAGS
from assets.labelling import annotation_queue, annotations
from pipeline.domain.flows import labelling as labelling_flow
from pipeline.domain.learning import labelling as lab
from pipeline.domain.learning.noise import noise_check
from resources.label_studio import LabelStudioResource
from assets.silver import RESIDUAL_CHECK, redacted_events, redacted_transcripts
from pipeline.domain.core.keys import dataset_prefix, drift_report_key, eval_report_key
from pipeline.domain.flows import analytics as analytics_flow
from pipeline.domain.flows import datasets as datasets_flow
from pipeline.domain.flows import drift as drift_flow
from pipeline.domain.flows import embeddings as embeddings_flow
from pipeline.domain.flows import learning as learning_flow
from pipeline.partitions import daily_partitions, monthly_partitions
from pipeline.settings import get_settings
from resources.embedder import EmbedderResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.trainer import TrainerResource
from resources.vector_index import VectorIndexResource


@dg.asset(
    key=["gold", "conversation_analytics"],
    group_name="gold",
    partitions_def=daily_partitions,
    deps=[redacted_transcripts, redacted_events],
    kinds={"python", "pandas"},
    owners=OWNERS,
    tags=tags("redacted", "gold"),
    code_version=analytics_flow.ANALYTICS_VERSION,
)
def conversation_analytics(
    context: dg.AssetExecutionContext, object_store: ObjectStoreResource, ledger: LedgerResource
) -> dg.MaterializeResult:
    """Talk ratio, dead air, overtalk, speaking rate, holds, disclosure compliance,
    escalation, sentiment for 100% of the day's redacted calls, plus failure layers and
    latency percentiles from event logs; daily and per-agent rollups."""
    store = object_store.get_store()
    result = analytics_flow.analytics_partition(store, ledger.get_ledger(), context.partition_key, get_settings())
    md = {"calls": result.calls, "dagster/row_count": result.calls,
          "table_uri": dg.MetadataValue.url(result.table_uri) if result.table_uri else "",
          "daily_rollup": dg.MetadataValue.md(result.daily_md), "per_agent_rollup": dg.MetadataValue.md(result.agent_md)}
    if result.plot_png:
        md["talk_ratio_plot"] = dg.MetadataValue.md(
            f"![talk ratio](data:image/png;base64,{result.plot_png})")
    return dg.MaterializeResult(metadata=md)


def _embed_shard(shard: Shard) -> dg.OpDefinition:
    @dg.op(name=f"embed_shard_{shard.index}", ins={"upstream": dg.In(dg.Nothing)},
           description=f"Encode the redacted chunks of {shard_label(shard)} of the day's calls (MiniLM); "
                       "stores each call's vectors and returns their keys.")
    def embed_shard(context: dg.OpExecutionContext, embedder: EmbedderResource, object_store: ObjectStoreResource,
                    ledger: LedgerResource) -> embeddings_flow.EmbeddingsPart:
        part = embeddings_flow.embed_part(object_store.get_store(), ledger.get_ledger(), embedder.get_embedder(),
                                          context.partition_key, shard)
        context.log.info(f"{shard_label(shard)}: encoded {part.texts} chunks of {len(part.calls)} calls")
        return part

    return embed_shard


EMBED_SHARDS = shard_ops(_embed_shard)


@dg.op(out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing)},
       description="Upsert every shard's vectors into the vector index (one writer per partition); residual-PII check.")
def index_embeddings(context: dg.OpExecutionContext, parts: list[embeddings_flow.EmbeddingsPart],
                     vector_index: VectorIndexResource, object_store: ObjectStoreResource, ledger: LedgerResource):
    res = embeddings_flow.index_embeddings(object_store.get_store(), ledger.get_ledger(), vector_index.get_index(),
                                           context.partition_key, parts)
    yield dg.MaterializeResult(
        metadata={"calls_embedded": res.calls, "chunks": res.chunks, "skipped_unchanged": res.skipped,
                  "calls_removed": res.removed, "model_version": res.model_version,
                  "index_actions": dg.MetadataValue.json(res.index_actions),
                  "sentences_per_second": round(res.sentences_per_second, 1)},
        check_results=[dg.AssetCheckResult(check_name=RESIDUAL_CHECK, passed=res.residual_findings == 0,
                                           metadata={"findings": res.residual_findings})],
    )


EMBEDDINGS_CHECK = dg.AssetCheckSpec(RESIDUAL_CHECK, asset=["gold", "transcript_embeddings"], blocking=True,
                                     description="Index rows of the day carry no PII.")


@dg.graph_asset(
    key=["gold", "transcript_embeddings"],
    group_name="gold",
    partitions_def=daily_partitions,
    ins={"redacted_transcripts": dg.AssetIn(redacted_transcripts.key, dagster_type=dg.Nothing)},
    kinds={"python", "lancedb"},
    owners=OWNERS,
    tags=tags("redacted", "gold"),
    code_version=embeddings_flow.EMBEDDINGS_VERSION,
    check_specs=[EMBEDDINGS_CHECK],
)
def transcript_embeddings(redacted_transcripts):
    """Hierarchical chunks (whole call, speaker turn, sliding window) of REDACTED text,
    embedded with MiniLM and upserted into the vector index with tenant, call, speaker,
    outcome and dataset eligibility; calls that left (consent, retention) are deleted.
    Encoding fans out to one step per shard (settings `execution.shards`)."""
    parts = [op(upstream=redacted_transcripts) for op in EMBED_SHARDS]
    result, check = index_embeddings(parts)
    return {"result": result, EMBEDDINGS_CHECK.get_python_identifier(): check}


NOISE_CHECK = "label_noise_within_bound"


def noise_message(rate: float | None, bound: float) -> str:
    return "not audited" if rate is None else noise_check(rate, bound).message


@dg.asset(
    key=["gold", "training_datasets"],
    group_name="gold",
    deps=[redacted_transcripts, annotations],
    kinds={"python", "huggingface"},
    owners=OWNERS,
    tags=tags("redacted", "gold"),
    code_version=datasets_flow.DATASET_VERSION,
    check_specs=[
        dg.AssetCheckSpec(RESIDUAL_CHECK, asset=["gold", "training_datasets"], blocking=True,
                          description="No PII in any dataset row."),
        dg.AssetCheckSpec(NOISE_CHECK, asset=["gold", "training_datasets"],
                          description="Estimated label noise (confident learning, out-of-fold) is at most "
                                      "labelling.max_label_noise; flagged calls are sent back for review."),
        dg.AssetCheckSpec("consent_respected", asset=["gold", "training_datasets"], blocking=True,
                          description="Every row's call has training consent and is active in the ledger."),
    ],
)
def training_datasets(
    context: dg.AssetExecutionContext, object_store: ObjectStoreResource, ledger: LedgerResource,
    embedder: EmbedderResource, trainer: TrainerResource, annotation: LabelStudioResource,
):
    """Curated, versioned training sets from redacted calls and human annotations: an
    intent/outcome classification set (text, label, weight, call, split) and a chat SFT
    set (whole calls, and segment annotations weighted as seed 003 says), as JSONL and HF
    DatasetDicts with a dataset card. Only consented, gate-passed, redaction-verified
    calls within the WER bound; split by customer then call; exact and near duplicates
    removed; blocking format checks."""
    store, led = object_store.get_store(), ledger.get_ledger()
    try:
        ds = datasets_flow.build_dataset(store, led, embed=embedder.get_embedder().encode, tokenizer=trainer.tokenizer(),
                                         max_tokens=trainer.max_tokens)
    except datasets_flow.DatasetFormatError as e:
        raise dg.Failure(description=f"dataset not written: {e}") from e
    yield dg.Output(
        ds.manifest,
        metadata={"version": ds.version, "rows": ds.rows, "dagster/row_count": ds.rows, "chat_rows": ds.chat_rows,
                  "splits": dg.MetadataValue.json(ds.split_sizes),
                  "chat_splits": dg.MetadataValue.json(ds.chat_split_sizes),
                  "skipped": dg.MetadataValue.json(ds.skipped),
                  "labels": counter_md(Counter(ds.label_counts), "intent", "rows"),
                  "class_balance": dg.MetadataValue.json(ds.balance),
                  "dedupe": dg.MetadataValue.json(ds.dedupe), "chat_weights": dg.MetadataValue.json(ds.weights),
                  "card_uri": dg.MetadataValue.url(store.uri(ds.manifest["card"])),
                  "uri": dg.MetadataValue.url(store.uri(dataset_prefix(ds.version) + "manifest.json"))},
        data_version=dg.DataVersion(ds.version),
    )
    findings = datasets_flow.dataset_residual_pii(store, ds.version)
    yield dg.AssetCheckResult(check_name=RESIDUAL_CHECK, passed=findings == 0, metadata={"findings": findings})
    bad = datasets_flow.consent_violations(led, ds.call_ids)
    yield dg.AssetCheckResult(check_name="consent_respected", passed=not bad,
                              metadata={"violations": len(bad), "call_ids": ", ".join(sorted(bad)[:20])})
    # label-noise audit: flagged calls go back to people as review tasks
    cfg = get_settings().section("labelling")
    bound = float(cfg.get("max_label_noise", 0.1))
    rep = datasets_flow.audit_label_noise(store, ds.manifest, embedder.get_embedder().encode)
    pushed = {}
    if rep.flagged:
        tasks, held = labelling_flow.noise_review_tasks(store, led, rep.flagged, ds.version,
                                                        list(cfg.get("intents") or []), list(cfg.get("outcomes") or []))
        pushed = {**annotation.push(lab.CALL_LABELLING, tasks), "held_back_residual_pii": held} if tasks else {}
    rate = rep.estimated_rate
    yield dg.AssetCheckResult(
        check_name=NOISE_CHECK, passed=rate is None or rate <= bound, severity=dg.AssetCheckSeverity.WARN,
        description=rep.note or noise_message(rate, bound),
        metadata={"estimated_noise_rate": rate if rate is not None else -1.0, "bound": bound,
                  "audited_rows": rep.audited, "flagged": len(rep.flagged),
                  "review_tasks": dg.MetadataValue.json({k: v for k, v in pushed.items() if k != "project"})})


def _training_gate(context: dg.AssetExecutionContext, dataset: dict, trainer: TrainerResource, force: bool,
                   kind: str = "intent", store=None):
    """Gate inputs from Dagster (runs in flight) and the registry (data already trained on)."""
    from pipeline.domain.learning.registry import check_gate

    in_flight = [r for r in context.instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={"callforge/training": "true"}))
        if r.run_id != context.run.run_id]
    rows_key, min_examples = ("rows", trainer.min_examples) if kind == "intent" else \
        ("chat_rows", trainer.chat_min_examples)
    n = int(dataset.get(rows_key) or 0)
    reg = trainer.registry(kind, store)
    trained_rows = n if any(reg.manifest(v).get("dataset_version") == dataset["version"] for v in reg.versions()) else 0
    gate = check_gate(n_labelled=n, n_since_last=n - trained_rows, min_examples=min_examples,
                      min_new=trainer.min_new_examples, training_in_flight=bool(in_flight), data_checks_ok=True)
    if force and not gate.open and not in_flight and n > 0:
        context.log.warning(f"gate overridden by force=True: {'; '.join(gate.reasons)}")
        return type(gate)(open=True, reasons=list(gate.reasons))
    return gate


class TrainAdapterConfig(dg.Config):
    force: bool = Field(default=False, description="Train even if the gate is closed (data checks still apply)")


PROMOTION_CHECK = "promotion_gate"
CHAT_PROMOTION_CHECK = "chat_promotion_gate"


def _train(context: dg.AssetExecutionContext, kind: str, force: bool, dataset: dict, trainer: TrainerResource,
           object_store: ObjectStoreResource, pipes: dg.PipesSubprocessClient):
    """The gate, the lock, then the Pipes training step (or in process); yields the
    registered version's manifest."""
    import sys

    from pipeline.train_step import run as train_step

    store = object_store.get_store()
    gate = _training_gate(context, dataset, trainer, force=force, kind=kind, store=store)
    if not gate.open:
        context.log.info(f"{kind} training gate closed: {'; '.join(gate.reasons)}")
        return
    lock = trainer.lock(kind)
    if not lock.acquire(context.run.run_id):
        context.log.info(f"{kind} training gate closed: the training lock is held ({lock.holder()})")
        return
    extras = {"kind": kind, "dataset": dataset, "store": object_store.spec(), "trainer": trainer.settings().to_dict()}
    try:
        if trainer.launcher == "pipes_subprocess":
            done = pipes.run(command=[sys.executable, "-m", "pipeline.train_step"], context=context, extras=extras)
            mat = done.get_materialize_result()
            metadata, data_version = dict(mat.metadata or {}), mat.data_version
            version = str(getattr(metadata.get("adapter_version"), "value", metadata.get("adapter_version")))
        else:
            out = train_step(extras, context.log.info)
            metadata, version = out["metadata"], out["data_version"]
            data_version = dg.DataVersion(version)
    finally:
        lock.release(context.run.run_id)
    reg = trainer.registry(kind, store)
    manifest = {**reg.manifest(version), "uri": reg.version_uri(version), "registry_path": str(reg.path(version))}
    yield dg.Output(manifest, metadata={**metadata, "launcher": trainer.launcher}, data_version=data_version)


def _promote(context: dg.AssetExecutionContext, kind: str, report: dict, trainer: TrainerResource,
             object_store: ObjectStoreResource, ledger: LedgerResource) -> dg.MaterializeResult:
    store = object_store.get_store()
    reg = trainer.registry(kind, store)
    version = report["adapter_version"]
    reason = "; ".join(report.get("reasons") or []) or "passed the promotion gate"
    entry = reg.promote(version, reason=reason, action="auto_promote")
    ledger.get_ledger().audit("adapter_promote", f"dagster:{context.run.run_id}", reason=reason[:500],
                              details={"version": version, "previous": entry["previous"], "name": kind,
                                       "eval_report": eval_report_key(version, kind)})
    context.log.info(f"{kind} champion: {version} (was {entry['previous'] or '-'})")
    return dg.MaterializeResult(metadata={
        "champion": version, "previous": entry["previous"] or "-", "reason": reason[:500],
        "current_uri": dg.MetadataValue.url(store.uri(f"adapters/{kind}/current.json"))})


@dg.asset(
    key=["gold", "lora_adapters"],
    group_name="gold",
    ins={"dataset": dg.AssetIn(key=["gold", "training_datasets"])},
    kinds={"python", "pytorch"},
    owners=OWNERS,
    tags=tags("none", "gold"),
    pool="gpu",
    op_tags=GPU_OP_TAGS,
    output_required=False,
    code_version=learning_flow.TRAINING_VERSION,
)
def lora_adapters(context: dg.AssetExecutionContext, config: TrainAdapterConfig, dataset: dict,
                  trainer: TrainerResource, object_store: ObjectStoreResource, pipes: dg.PipesSubprocessClient):
    """The intent classifier: the ensemble ``benchmarks/banking77.py`` measures (two MiniLM
    LoRA adapters + regressions on frozen MiniLM||mpnet embeddings and TF-IDF), trained only
    when the gate is open (enough labelled consented examples, enough new ones, no
    training in flight, data checks green). Training runs as a Dagster Pipes subprocess
    (``python -m pipeline.train_step``) so production can launch the same step on a GPU
    node; the version is registered under ``adapters/intent/<version>/`` with its
    training metadata."""
    yield from _train(context, "intent", config.force, dataset, trainer, object_store, pipes)


@dg.asset(
    key=["gold", "eval_reports"],
    group_name="gold",
    ins={"adapter": dg.AssetIn(key=["gold", "lora_adapters"]), "dataset": dg.AssetIn(key=["gold", "training_datasets"])},
    kinds={"python", "scikitlearn"},
    owners=OWNERS,
    tags=tags("none", "gold"),
    code_version=learning_flow.EVAL_VERSION,
    check_specs=[
        dg.AssetCheckSpec(PROMOTION_CHECK, asset=["gold", "eval_reports"], blocking=True,
                          description="Promotion rules (callforge.yaml training.promotion): the candidate beats the "
                                      "champion (or base) by min_gain with McNemar p < alpha and keeps at least "
                                      "min_general_retention of general ability. Blocking: gold/adapter_promotions "
                                      "only runs when it passes."),
        dg.AssetCheckSpec("candidate_beats_base", asset=["gold", "eval_reports"],
                          description="The fine-tuned adapter beats the base model on the held-out split."),
    ],
)
def eval_reports(context: dg.AssetExecutionContext, adapter: dict, dataset: dict,
                 trainer: TrainerResource, object_store: ObjectStoreResource):
    """Candidate vs champion vs base on the held-out test split (accuracy, macro-F1, per
    label, confusion matrix, calibration), a paired significance test and general-ability
    retention; the promotion decision is the blocking ``promotion_gate`` check."""
    store = object_store.get_store()
    promo = get_settings().section("training").get("promotion") or {}
    rep = learning_flow.evaluate_adapter(store, adapter, dataset, trainer, alpha=promo.get("alpha", 0.05),
                                         min_gain=float(promo.get("min_gain", 0.0)),
                                         min_general_retention=promo.get("min_general_retention", 0.9))
    yield dg.Output(
        rep.summary,
        metadata={"adapter_version": adapter["version"], "promotable": rep.promoted,
                  "accuracy": round(rep.candidate["accuracy"], 4), "macro_f1": round(rep.candidate["macro_f1"], 4),
                  "base_accuracy": round(rep.base["accuracy"], 4), "test_rows": rep.candidate["n"],
                  "mcnemar_p": rep.summary["significance"]["p_value"], "ece": rep.summary["calibration"]["ece"],
                  "decision": "; ".join(rep.reasons) or "promotable",
                  "report": dg.MetadataValue.md(rep.markdown),
                  "confusion_matrix": dg.MetadataValue.md(f"![confusion](data:image/png;base64,{rep.plots['confusion_png']})"),
                  "reliability": dg.MetadataValue.md(f"![reliability](data:image/png;base64,{rep.plots['reliability_png']})"),
                  "uri": dg.MetadataValue.url(store.uri(eval_report_key(adapter["version"])))},
    )
    yield dg.AssetCheckResult(check_name="candidate_beats_base",
                              passed=rep.candidate["macro_f1"] >= rep.base["macro_f1"],
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"candidate_macro_f1": rep.candidate["macro_f1"],
                                        "base_macro_f1": rep.base["macro_f1"]})
    yield dg.AssetCheckResult(check_name=PROMOTION_CHECK, passed=rep.promoted,
                              description="; ".join(rep.reasons)[:1000] or "promotable",
                              metadata={"candidate": adapter["version"],
                                        "versus": rep.summary["significance"]["versus"],
                                        "p_value": rep.summary["significance"]["p_value"]})


@dg.asset(
    key=["gold", "adapter_promotions"],
    group_name="gold",
    ins={"report": dg.AssetIn(key=["gold", "eval_reports"])},
    kinds={"python"},
    owners=OWNERS,
    tags=tags("none", "gold"),
)
def adapter_promotions(context: dg.AssetExecutionContext, report: dict, trainer: TrainerResource,
                       object_store: ObjectStoreResource, ledger: LedgerResource):
    """The candidate becomes champion: the registry's pointers (``current.json``, the
    ``current`` link vLLM serves, ``adapters/intent/current.json`` in the object store)
    swap atomically and the promotion is audited in the ledger. Runs only when the
    blocking ``promotion_gate`` check on gold/eval_reports passed."""
    return _promote(context, "intent", report, trainer, object_store, ledger)


@dg.asset(
    key=["gold", "chat_adapters"],
    group_name="gold",
    ins={"dataset": dg.AssetIn(key=["gold", "training_datasets"])},
    kinds={"python", "pytorch"},
    owners=OWNERS,
    tags=tags("none", "gold"),
    pool="gpu",
    op_tags=GPU_OP_TAGS,
    output_required=False,
    code_version=learning_flow.TRAINING_VERSION,
)
def chat_adapters(context: dg.AssetExecutionContext, config: TrainAdapterConfig, dataset: dict,
                  trainer: TrainerResource, object_store: ObjectStoreResource, pipes: dg.PipesSubprocessClient):
    """A LoRA adapter for the served chat LLM (seed 003; SmolLM2-135M-Instruct by
    default, any local HF causal LM in production) on the dataset's chat SFT rows:
    assistant-only loss, each row's loss scaled by its annotation weight, the model's chat
    template. CUDA (bf16) when present; CPU only below ``max_cpu_params``. Gated on
    ``training.chat_min_examples`` chat rows; the same Pipes step as the intent adapter;
    registered under ``adapters/chat/<version>/``."""
    yield from _train(context, "chat", config.force, dataset, trainer, object_store, pipes)


@dg.asset(
    key=["gold", "chat_eval_reports"],
    group_name="gold",
    ins={"adapter": dg.AssetIn(key=["gold", "chat_adapters"]), "dataset": dg.AssetIn(key=["gold", "training_datasets"])},
    kinds={"python", "pytorch"},
    owners=OWNERS,
    tags=tags("none", "gold"),
    code_version=learning_flow.EVAL_VERSION,
    check_specs=[dg.AssetCheckSpec(
        CHAT_PROMOTION_CHECK, asset=["gold", "chat_eval_reports"], blocking=True,
        description="The chat candidate's held-out loss (assistant tokens) is lower than the champion's (or the "
                    "base's) by min_gain, significantly (paired bootstrap p < alpha), and its general-text loss "
                    "keeps >= min_general_retention of general ability. Blocking: gold/chat_adapter_promotions "
                    "only runs when it passes.")],
)
def chat_eval_reports(context: dg.AssetExecutionContext, adapter: dict, dataset: dict,
                      trainer: TrainerResource, object_store: ObjectStoreResource):
    """Candidate chat adapter vs champion vs base on the held-out chat rows (per-row loss,
    paired bootstrap) and on general text (forgetting); the decision is the blocking
    ``chat_promotion_gate`` check."""
    store = object_store.get_store()
    promo = get_settings().section("training").get("promotion") or {}
    rep = learning_flow.evaluate_chat_adapter(store, adapter, dataset, trainer.settings(),
                                              alpha=float(promo.get("alpha", 0.05)),
                                              min_gain=float(promo.get("min_gain", 0.0)),
                                              min_general_retention=float(promo.get("min_general_retention", 0.9)))
    sig = rep.summary["significance"]
    yield dg.Output(rep.summary, metadata={
        "adapter_version": adapter["version"], "promotable": rep.promoted,
        "heldout_loss": round(rep.candidate["heldout_loss"], 4), "base_heldout_loss": round(rep.base["heldout_loss"], 4),
        "loss_reduction_vs_base": round(rep.summary["loss_reduction_vs_base"], 4),
        "general_loss_ratio": round(rep.summary["general_loss_ratio"], 4), "heldout_rows": rep.summary["heldout_rows"],
        "bootstrap_p": sig["p_value"], "decision": "; ".join(rep.reasons), "report": dg.MetadataValue.md(rep.markdown),
        "uri": dg.MetadataValue.url(store.uri(eval_report_key(adapter["version"], "chat")))})
    yield dg.AssetCheckResult(check_name=CHAT_PROMOTION_CHECK, passed=rep.promoted,
                              description="; ".join(rep.reasons)[:1000],
                              metadata={"candidate": adapter["version"], "versus": sig["versus"],
                                        "p_value": sig["p_value"]})


@dg.asset(
    key=["gold", "chat_adapter_promotions"],
    group_name="gold",
    ins={"report": dg.AssetIn(key=["gold", "chat_eval_reports"])},
    kinds={"python"},
    owners=OWNERS,
    tags=tags("none", "gold"),
)
def chat_adapter_promotions(context: dg.AssetExecutionContext, report: dict, trainer: TrainerResource,
                            object_store: ObjectStoreResource, ledger: LedgerResource):
    """The chat candidate becomes champion (``adapters/chat/current.json`` and the
    registry's ``current`` link that vLLM's ``--lora-modules`` serves), audited in the
    ledger. Runs only when ``chat_promotion_gate`` passed."""
    return _promote(context, "chat", report, trainer, object_store, ledger)


@dg.asset(
    key=["gold", "ab_tests"],
    group_name="gold",
    deps=[adapter_promotions, redacted_events],
    kinds={"python", "scipy"},
    owners=OWNERS,
    tags=tags("redacted", "gold"),
    check_specs=[dg.AssetCheckSpec("champion_not_worse", asset=["gold", "ab_tests"],
                                   description="The champion is not significantly worse than the version it replaced "
                                               "on resolution, escalation or handle time.")],
)
def ab_tests(context: dg.AssetExecutionContext, trainer: TrainerResource, object_store: ObjectStoreResource):
    """Outcomes per served adapter version (``call.outcome`` events): the champion against
    the version it replaced — two-proportion tests on resolution and escalation, a
    bootstrap on handle time, nothing decided before a power calculation's sample size —
    and a recommendation: promote, continue or rollback (the ab_rollback sensor acts on it)."""
    cfg = get_settings().section("training").get("ab") or {}
    store = object_store.get_store()
    rep = learning_flow.ab_report(store, trainer.registry("intent", store), alpha=float(cfg.get("alpha", 0.05)),
                                  min_effect=float(cfg.get("min_effect", 0.05)))
    context.log.info(f"A/B: {rep['recommendation']} — {'; '.join(rep['reasons'])}")
    yield dg.MaterializeResult(metadata={
        "recommendation": rep["recommendation"], "reasons": "; ".join(rep["reasons"]),
        "champion": rep["champion"] or "-", "previous": rep["previous"] or "-",
        "arms": dg.MetadataValue.json(rep["arms"]), "tests": dg.MetadataValue.json(rep["metrics"])})
    yield dg.AssetCheckResult(check_name="champion_not_worse", passed=rep["recommendation"] != "rollback",
                              severity=dg.AssetCheckSeverity.WARN, metadata={"recommendation": rep["recommendation"]})


@dg.asset(
    key=["gold", "drift_reports"],
    group_name="gold",
    partitions_def=monthly_partitions,
    deps=[transcript_embeddings, conversation_analytics],
    kinds={"python", "scipy"},
    owners=OWNERS,
    tags=tags("none", "gold"),
    code_version=drift_flow.DRIFT_VERSION,
    check_specs=[dg.AssetCheckSpec("drift_within_bounds", asset=["gold", "drift_reports"],
                                   description="Embedding and analytics drift of the month vs the reference window.")],
)
def drift_reports(context: dg.AssetExecutionContext, object_store: ObjectStoreResource):
    """Embedding drift (PSI, KL, Wasserstein over projections) and drift of key analytics
    metrics, this month vs the previous window; severities info/warning/critical."""
    store = object_store.get_store()
    month = context.partition_key[:7]
    rep = drift_flow.drift_partition(store, month)
    md = {
        "severity": rep.severity, "status": rep.status, "reference_calls": rep.reference_calls,
        "current_calls": rep.current_calls, "metrics": dg.MetadataValue.json(rep.metrics),
        "uri": dg.MetadataValue.url(store.uri(drift_report_key(month))),
    }
    if rep.plot_png:
        md["embedding_drift_plot"] = dg.MetadataValue.md(f"![embedding drift](data:image/png;base64,{rep.plot_png})")
    yield dg.MaterializeResult(metadata=md)
    sev = {"critical": dg.AssetCheckSeverity.ERROR}.get(rep.severity, dg.AssetCheckSeverity.WARN)
    yield dg.AssetCheckResult(check_name="drift_within_bounds", passed=rep.severity in ("ok", "info"),
                              severity=sev, metadata={"severity": rep.severity, "status": rep.status})


gold_assets = [conversation_analytics, transcript_embeddings, annotations, annotation_queue,
               training_datasets, lora_adapters, eval_reports, adapter_promotions, chat_adapters, chat_eval_reports,
               chat_adapter_promotions, ab_tests, drift_reports]

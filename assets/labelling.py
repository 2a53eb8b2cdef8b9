"""The human-in-the-loop assets: completed annotations in (``bronze/annotations``) and
the active-learning queue out (``gold/annotation_queue``)."""

import dagster as dg
from pydantic import Field

from assets.common import OWNERS, tags
from assets.silver import redacted_transcripts
from pipeline.domain.flows import labelling as labelling_flow
from pipeline.domain.learning import labelling as lab
from pipeline.settings import get_settings
from resources.embedder import EmbedderResource
from resources.label_studio import LabelStudioResource
from resources.landing import LandingZoneResource
from resources.ledger import LedgerResource
from resources.object_store import ObjectStoreResource
from resources.trainer import TrainerResource

AGREEMENT_CHECK = "annotator_agreement"


class AnnotationsConfig(dg.Config):
    since: str | None = Field(default=None, description="Pull Label Studio annotations updated after this ISO "
                                                        "timestamp (the sensor passes its cursor); None = all")


@dg.asset(
    key=["bronze", "annotations"],
    group_name="bronze",
    kinds={"python", "labelstudio"},
    owners=OWNERS,
    tags=tags("redacted", "bronze"),
    check_specs=[dg.AssetCheckSpec(AGREEMENT_CHECK, asset=["bronze", "annotations"],
                                   description="Inter-annotator agreement per project and label is at least "
                                               "labelling.min_agreement (kappa for two annotators, alpha for more).")],
)
def annotations(
    context: dg.AssetExecutionContext,
    config: AnnotationsConfig,
    landing: LandingZoneResource,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
    annotation: LabelStudioResource,
):
    """Completed human annotations, append-only: one object per annotation version under
    each call's ``bronze/annotations/`` prefix, with project, label-config version,
    pseudonymised annotator, lead time and training weight. From Label Studio when it is
    configured, and from JSONL label files in the landing zone's ``annotations/`` folder."""
    store, led = object_store.get_store(), ledger.get_ledger()
    res = labelling_flow.PullResult()
    records = labelling_flow.records_from_landing(landing.get_landing(), annotation.annotator_salt, res)
    versions: dict[str, str] = {}
    if annotation.live:
        pulled = labelling_flow.label_studio_completed(annotation.client(), config.since)
        records += labelling_flow.records_from_label_studio([(t, a) for _p, t, a in pulled],
                                                            annotation.annotator_salt, res)
        versions = {p: lab.label_config(p).version for p, _t, _a in pulled}
    labelling_flow.store_records(records, store, led, res)
    everything = labelling_flow.stored_records(store, led)
    current = lab.latest_per_annotator(everything)
    agreement = lab.agreement(everything)
    bound = float(get_settings().section("labelling").get("min_agreement", 0.6))
    low = {k: v for k, v in agreement.items() if v["value"] is not None and v["value"] < bound}
    kinds: dict[str, int] = {}
    for r in current:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    context.log.info(f"annotations: {res.added} new version(s), {res.already_stored} already stored, "
                     f"{res.unknown_call} for unknown/erased calls, {res.invalid} unreadable")
    yield dg.MaterializeResult(metadata={
        "annotations_added": res.added, "already_stored": res.already_stored, "unknown_call": res.unknown_call,
        "invalid": res.invalid, "added_by_project": dg.MetadataValue.json(res.by_project),
        "current_by_project": dg.MetadataValue.json(labelling_flow.label_counts(everything)),
        "kinds": dg.MetadataValue.json(kinds), "agreement": dg.MetadataValue.json(agreement),
        "disagreements": len(lab.disagreements(everything)), "label_config_versions": dg.MetadataValue.json(versions),
        "backend": annotation.backend,
    })
    yield dg.AssetCheckResult(
        check_name=AGREEMENT_CHECK, passed=not low, severity=dg.AssetCheckSeverity.WARN,
        metadata={"min_agreement": bound, "below": dg.MetadataValue.json(low),
                  "measured": len([v for v in agreement.values() if v["value"] is not None])})


class AnnotationQueueConfig(dg.Config):
    budget: int | None = Field(default=None, description="Calls sent to people this run; None = labelling.daily_budget")
    seed: int = Field(default=0, description="Seed of the random compliance sample")


@dg.asset(
    key=["gold", "annotation_queue"],
    group_name="gold",
    deps=[annotations, redacted_transcripts],
    kinds={"python", "labelstudio"},
    owners=OWNERS,
    tags=tags("redacted", "gold"),
)
def annotation_queue(
    context: dg.AssetExecutionContext,
    config: AnnotationQueueConfig,
    annotation: LabelStudioResource,
    object_store: ObjectStoreResource,
    ledger: LedgerResource,
    embedder: EmbedderResource,
    trainer: TrainerResource,
) -> dg.MaterializeResult:
    """Active learning: calls ranked by the champion's uncertainty, diversity on their
    embeddings and failures (escalation, QA fail, released quarantine), plus a random
    compliance sample, within a daily budget and never the same call twice; sent as
    call-labelling, segment-QA and ASR-correction tasks built from REDACTED text and audio
    only, with a review tier (people or experts) on every task."""
    cfg = get_settings().section("labelling")
    store, led = object_store.get_store(), ledger.get_ledger()
    plan = labelling_flow.plan_queue(
        store, led, budget=int(config.budget if config.budget is not None else cfg.get("daily_budget", 20)),
        seed=config.seed, embed=embedder.get_embedder().encode, champion=labelling_flow.champion_scorer(trainer),
        compliance_share=float(cfg.get("compliance_sample", 0.02)), expert_share=float(cfg.get("expert_share", 0.02)),
        people_share=float(cfg.get("people_share", 0.08)))
    audio_url = labelling_flow.audio_url_maker(store, annotation.audio_url_prefix)
    tasks, held = labelling_flow.build_tasks(plan.candidates, plan.chosen, audio_url, list(cfg.get("intents") or []),
                                             list(cfg.get("outcomes") or []),
                                             asr_tasks_per_call=int(cfg.get("asr_tasks_per_call", 3)))
    pushed = {p: annotation.push(p, ts) for p, ts in tasks.items() if ts}
    labelling_flow.mark_queued(store, plan.chosen)
    context.log.info(f"queue: {len(plan.chosen)} call(s) chosen of {len(plan.candidates)} candidates; "
                     f"{held} task(s) held back by the residual-PII scan")
    return dg.MaterializeResult(metadata={
        "calls_chosen": len(plan.chosen), "candidates": len(plan.candidates),
        "already_queued_or_labelled": plan.excluded, "by_reason": dg.MetadataValue.json(plan.by_reason),
        "by_tier": dg.MetadataValue.json(plan.by_tier), "champion": plan.champion or "cold start",
        "tasks": dg.MetadataValue.json({p: {k: v for k, v in r.items() if k != "project"} for p, r in pushed.items()}),
        "held_back_residual_pii": held, "backend": annotation.backend,
    })

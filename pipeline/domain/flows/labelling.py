"""The labelling flows: what goes to people (``gold/annotation_queue``) and what comes
back (``bronze/annotations``).

Out: calls ranked by the active-learning selector, turned into tasks of the three
projects from REDACTED transcripts and redacted audio only; any task in which the
residual-PII scan still finds something is held back and counted, never sent.

Back: completed annotations become normalised records (pseudonymised annotator, lead
time, label-config version, weight), written append-only to the object store under
the call's ``bronze/annotations/`` prefix — one object per annotation version, so a
re-pull adds nothing and an edit adds a version — and the latest labels per annotator
go to the ledger.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import CUSTOMER, Transcript, stable_hash
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import ReadyCall, _transcript, ready_calls
from pipeline.domain.learning import labelling as lab
from pipeline.domain.privacy.residual import residual_pii

LANDING_ANNOTATOR = "landing_import"


# ---------------------------------------------------------------- back: annotations
@dataclass
class PullResult:
    added: int = 0
    already_stored: int = 0
    unknown_call: int = 0
    invalid: int = 0
    by_project: dict[str, int] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)


def annotation_key(keys: CallKeys, rec: Mapping[str, Any]) -> str:
    return f"{keys.annotations_prefix}{rec['project']}/{rec['annotation_id']}-{rec['version']}.json"


def store_records(records: Iterable[Mapping[str, Any]], store: ObjectStore, ledger: Ledger,
                  result: PullResult | None = None) -> PullResult:
    """Write annotation records append-only (one object per version) and upsert the
    latest labels per (call, task, annotator) into the ledger. Records of calls the
    ledger does not know as active (erased, never ingested) are dropped and counted."""
    res = result or PullResult()
    for rec in records:
        call = ledger.get_call(rec["call_id"])
        if call is None or call["state"] != "active":
            res.unknown_call += 1
            continue
        keys = CallKeys(call["call_date"], call["tenant"], rec["call_id"])
        key = annotation_key(keys, rec)
        if store.exists(key):
            res.already_stored += 1
            continue
        store.put_json(key, dict(rec))
        if not rec.get("cancelled"):
            ledger.add_annotation(rec["call_id"], rec["task_key"], {**rec["labels"], "_project": rec["project"],
                                                                   "_weight": rec["weight"]},
                                  rec["annotator"])
        res.added += 1
        res.by_project[rec["project"]] = res.by_project.get(rec["project"], 0) + 1
        res.records.append(dict(rec))
    return res


def records_from_label_studio(pairs: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]], salt: str,
                              result: PullResult) -> list[dict]:
    """Label Studio ``(task, annotation)`` pairs as records; unreadable ones counted."""
    out = []
    for task, ann in pairs:
        try:
            out.append(lab.annotation_record(task, ann, salt))
        except lab.LabellingError:
            result.invalid += 1
    return out


def label_studio_completed(client: Any, since: str | None) -> list[tuple[str, dict, dict]]:
    """``(project, task, annotation)`` for every annotation of the three callforge
    projects created or edited after ``since`` (projects not created yet are skipped)."""
    out = []
    for project in lab.PROJECTS:
        proj = client.find_project(lab.PROJECT_TITLES[project])
        if proj is not None:
            out += [(project, t, a) for t, a in client.completed_since(int(proj["id"]), since)]
    return out


def records_from_landing(lz: Any, salt: str, result: PullResult) -> list[dict]:
    """Call labels dropped as JSONL in the landing zone's ``annotations/`` folder (lines
    ``{"call_id", "intent"?, "outcome"?, "annotator"?}``) as call-labelling records."""
    out = []
    for f in lz.list("annotations"):
        for i, line in enumerate(lz.read_bytes(f.key).decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                call_id = str(d["call_id"])
                labels = {k: d[k] for k in ("intent", "outcome") if d.get(k)}
                if not labels:
                    raise KeyError("intent/outcome")
            except (ValueError, KeyError, TypeError):
                result.invalid += 1
                continue
            annotator = lab.pseudonymise_annotator(d.get("annotator", LANDING_ANNOTATOR), salt)
            rid = f"{f.name}:{i}"
            out.append({"annotation_id": stable_hash(rid)[:12], "task_id": None,
                        "task_key": lab.task_key(lab.CALL_LABELLING, call_id), "project": lab.CALL_LABELLING,
                        "label_config_version": "landing-jsonl", "call_id": call_id, "tenant": d.get("tenant"),
                        "segment": None, "annotator": annotator, "lead_time_s": None, "created_at": None,
                        "updated_at": None, "cancelled": False, "labels": labels, "weight": 1.0, "kind": "label",
                        "version": stable_hash(d)[:12]})
    return out


def stored_records(store: ObjectStore, ledger: Ledger) -> list[dict]:
    """Every stored annotation record of the active calls (all versions)."""
    out = []
    for c in ledger.calls():
        if c["state"] != "active":
            continue
        prefix = CallKeys(c["call_date"], c["tenant"], c["call_id"]).annotations_prefix
        out.extend(store.get_json(k) for k in store.list(prefix) if k.endswith(".json"))
    return out


def latest_labels(ledger: Ledger) -> dict[str, dict]:
    """Per call, the consensus intent/outcome over its call-labelling annotations
    (majority of annotators; a tie goes to the most recent)."""
    recs = [{"task_key": a["task_id"], "annotator": a["annotator"], "project": a["labels"].get("_project",
                                                                                                lab.CALL_LABELLING),
             "call_id": a["call_id"], "labels": a["labels"], "updated_at": str(a.get("ts") or "")}
            for a in ledger.annotations()]
    return lab.consensus_labels(recs)


# ---------------------------------------------------------------- out: the queue
@dataclass
class Candidate:
    call: ReadyCall
    transcript: Transcript
    customer_text: str
    asr_low_confidence: float
    failure: str | None = None


def candidates(store: ObjectStore, ledger: Ledger, min_word_confidence: float = 0.6) -> list[Candidate]:
    """Ready, training-consented calls with their redacted transcripts, the share of
    low-confidence words and any failure signal: an escalation or a missing recording
    disclosure in the call's analytics (QA fail), a released quarantine record."""
    released = {q["call_id"] for q in ledger.quarantine_rows() if q.get("released_at")}
    out = []
    for rc in ready_calls(store, ledger):
        t = _transcript(store, rc.keys.redacted_transcript)
        probs = [w.probability for s in t.segments for w in s.words if w.probability is not None]
        low = sum(1 for p in probs if p < min_word_confidence) / len(probs) if probs else 0.0
        failure = None
        if store.exists(rc.keys.analytics):
            a = store.get_json(rc.keys.analytics)
            if a.get("escalated"):
                failure = "escalation"
            elif a.get("disclosure_required") and not a.get("disclosure_given"):
                failure = "qa_fail"
        if failure is None and rc.call_id in released:
            failure = "released_quarantine"
        text = " ".join(s.text for s in t.segments if s.speaker == CUSTOMER and s.text.strip())
        out.append(Candidate(rc, t, text, round(low, 4), failure))
    return out


def build_tasks(cands: Sequence[Candidate], chosen: Sequence[Mapping[str, Any]], audio_url: Callable[[str], str],
                intents: Sequence[str], outcomes: Sequence[str], asr_tasks_per_call: int = 3
                ) -> tuple[dict[str, list[dict]], int]:
    """Tasks per project for the chosen calls (``{"call_id", "reason", "tier"}``, in
    order): call labelling and segment QA for every chosen call, ASR correction for its
    least confident segments. Tasks whose text still trips the residual-PII scan are
    held back; returns ``(tasks by project, held_back)``."""
    by_id = {c.call.call_id: c for c in cands}
    cfg = {p: lab.label_config(p) for p in lab.PROJECTS}
    out: dict[str, list[dict]] = {p: [] for p in lab.PROJECTS}
    held = 0
    for pick in chosen:
        c = by_id[pick["call_id"]]
        reason, tier = str(pick.get("reason", "")), str(pick.get("tier", "human"))
        url = audio_url(c.call.keys.redacted_audio)
        tasks = {
            lab.CALL_LABELLING: [lab.call_labelling_task(c.call.call_id, c.call.tenant, c.transcript, intents,
                                                         outcomes, cfg[lab.CALL_LABELLING].version, reason, tier)],
            lab.SEGMENT_QA: lab.segment_qa_tasks(c.call.call_id, c.call.tenant, c.transcript, url,
                                                 cfg[lab.SEGMENT_QA].version, reason=reason, tier=tier),
            lab.ASR_CORRECTION: lab.asr_correction_tasks(c.call.call_id, c.call.tenant, c.transcript, url,
                                                         cfg[lab.ASR_CORRECTION].version,
                                                         max_tasks=asr_tasks_per_call, reason=reason, tier=tier),
        }
        for project, ts in tasks.items():
            for t in ts:
                if any(residual_pii(x) for x in lab.task_texts(t)):
                    held += 1
                    continue
                out[project].append(t)
    return out, held


def label_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many current annotations each project has (latest per annotator)."""
    return dict(Counter(r["project"] for r in lab.latest_per_annotator(records)))


QUEUED_PREFIX = "gold/annotation_queue/queued/"


def queued_ids(store: ObjectStore) -> set[str]:
    """Calls already sent for labelling (one marker object per call, no content)."""
    return {k[len(QUEUED_PREFIX):-len(".json")] for k in store.list(QUEUED_PREFIX) if k.endswith(".json")}


def mark_queued(store: ObjectStore, chosen: Iterable[Mapping[str, Any]]) -> None:
    """Remember that these calls were sent, so the queue never sends one twice."""
    for c in chosen:
        store.put_json(f"{QUEUED_PREFIX}{c['call_id']}.json",
                       {k: c[k] for k in ("call_id", "reason", "tier") if k in c})


def audio_url_maker(store: ObjectStore, local_prefix: str) -> Callable[[str], str]:
    """Object key -> a URL the labelling browser can load: a presigned URL on S3, else
    ``local_prefix`` + key (Label Studio's local-files serving of the object store)."""
    presign = getattr(store, "presigned_url", None)
    if callable(presign):
        return lambda key: str(presign(key))
    return lambda key: f"{local_prefix}{key}"


def champion_scorer(trainer: Any) -> Callable[[list[str]], tuple[Any, list[str]]] | None:
    """The champion intent adapter's class probabilities for texts, or None before any
    adapter was promoted (cold start: the queue then ranks by diversity and failures)."""
    reg = trainer.registry()
    version = reg.champion()
    if not version:
        return None
    from pipeline.domain.learning.ensemble import load_intent_model

    clf = load_intent_model(trainer.base_model(), reg.path(version))  # an ensemble or a lone adapter

    def score(texts: list[str]) -> tuple[Any, list[str]]:
        return clf.predict_proba(texts), list(clf.label_names)

    score.version = version  # type: ignore[attr-defined]
    return score


@dataclass
class QueuePlan:
    candidates: list[Candidate]
    chosen: list[dict]
    excluded: int
    by_reason: dict[str, int]
    by_tier: dict[str, int]
    champion: str | None


def plan_queue(store: ObjectStore, ledger: Ledger, budget: int, seed: int, embed: Callable[[list[str]], Any],
               champion: Callable[[list[str]], tuple[Any, list[str]]] | None, compliance_share: float = 0.02,
               expert_share: float = 0.02, people_share: float = 0.08) -> QueuePlan:
    """Choose which calls people label next: ready, consented calls never queued nor
    labelled before, ranked by the active-learning selector (champion uncertainty,
    diversity on embeddings of the customer's words, failures first, a random compliance
    sample), within ``budget``; each with a reason and a review tier."""
    import numpy as np

    from pipeline.domain.learning import active

    cands = [c for c in candidates(store, ledger) if c.call.consent_training and c.customer_text.strip()]
    done = queued_ids(store) | set(latest_labels(ledger))
    excluded = [c.call.call_id for c in cands if c.call.call_id in done]
    version = getattr(champion, "version", None)
    if len(excluded) == len(cands) or budget <= 0:
        return QueuePlan(cands, [], len(excluded), {}, {}, version)
    texts = [c.customer_text for c in cands]
    emb = np.asarray(embed(texts), dtype=np.float32)
    probs = champion(texts)[0] if champion is not None else None
    policy = active.ReviewPolicy(human_share=people_share, expert_share=min(expert_share, people_share),
                                 compliance_share=compliance_share)
    plan = active.select_for_annotation(
        [c.call.call_id for c in cands], emb, probs, budget=budget, seed=seed,
        failures={c.call.call_id: [c.failure] for c in cands if c.failure}, excluded=excluded, policy=policy)
    chosen = [{"call_id": r["id"], "reason": r["reason"], "tier": r["tier"], "uncertainty": r["uncertainty"]}
              for r in plan.to_rows()]
    return QueuePlan(cands, chosen, len(excluded), dict(Counter(c["reason"] for c in chosen)),
                     dict(plan.tier_counts), version)


def noise_review_tasks(store: ObjectStore, ledger: Ledger, flagged: Sequence[Mapping[str, Any]],
                       dataset_version: str, intents: Sequence[str], outcomes: Sequence[str],
                       limit: int = 50) -> tuple[list[dict], int]:
    """Call-labelling review tasks for the calls the label-noise audit flags (most
    suspicious first, at most ``limit``); residual-PII-checked like every task.
    Returns ``(tasks, held_back)``."""
    by_id = {rc.call_id: rc for rc in ready_calls(store, ledger)}
    version = lab.label_config(lab.CALL_LABELLING).version
    choices = list(intents)
    tasks, held = [], 0
    for f in list(flagged)[:limit]:
        rc = by_id.get(str(f["id"]))
        if rc is None:
            continue
        extra = [x for x in (f["given_label"], f["suggested_label"]) if x not in choices]
        t = lab.review_task(rc.call_id, rc.tenant, _transcript(store, rc.keys.redacted_transcript),
                            str(f["given_label"]), str(f["suggested_label"]), float(f["score"]), dataset_version,
                            choices + extra, outcomes, version)
        if any(residual_pii(x) for x in lab.task_texts(t)):
            held += 1
            continue
        tasks.append(t)
    return tasks, held

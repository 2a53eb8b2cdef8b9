"""Human labelling: the three Label Studio projects, their tasks and what comes back.

- **Label configs** are versioned in the repo (``pipeline/domain/data/label_configs/``);
  a config's version is the hash of its file, stored with every task and annotation.
- **Tasks** are built from REDACTED transcripts and redacted audio only, each with a
  stable ``task_key`` (project, call, segment) so a re-push is a no-op.
- **Annotations** come back as normalised records: project, label-config version,
  pseudonymised annotator, lead time, the labels, and for segment QA the training weight
  of seed 003 (agreement 0.5; correction, false-positive flag, timestamp fix 1.0) with
  the disagreement reason kept.
- **Agreement** per project and label: Cohen's kappa for two annotators, Krippendorff's
  alpha (nominal) for more.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pipeline.domain.core.models import AGENT, Transcript

CONFIG_DIR = Path(__file__).resolve().parents[1] / "data" / "label_configs"
ASR_CORRECTION = "asr_correction"
CALL_LABELLING = "call_labelling"
SEGMENT_QA = "segment_qa"
PROJECTS = (ASR_CORRECTION, CALL_LABELLING, SEGMENT_QA)
PROJECT_TITLES = {ASR_CORRECTION: "callforge · ASR correction", CALL_LABELLING: "callforge · call labelling",
                  SEGMENT_QA: "callforge · segment QA"}
#: label fields compared between annotators, per project
AGREEMENT_FIELDS = {CALL_LABELLING: ("intent", "outcome"),
                    SEGMENT_QA: ("verdict", "segment_type", "trainer_assessment"),
                    ASR_CORRECTION: ("audio_quality", "accent")}
#: seed 003's training weights for segment annotations
WEIGHT_AGREEMENT = 0.5
WEIGHT_CORRECTION = 1.0
WEIGHT_FALSE_POSITIVE = 1.0
WEIGHT_TIMESTAMP_FIX = 1.0
DISAGREEMENT_REASONS = ("too_harsh", "too_lenient", "wrong_category", "not_quality_affecting", "false_positive",
                        "incorrect_timestamp", "missed_context", "other")


class LabellingError(ValueError):
    """A task or annotation that cannot be built or read; the message says which and why."""


# ---------------------------------------------------------------- label configs
@dataclass(frozen=True)
class LabelConfig:
    project: str
    title: str
    xml: str
    version: str


def label_config(project: str, config_dir: Path | None = None) -> LabelConfig:
    """The repo's label config of ``project`` and its version (hash of the file)."""
    if project not in PROJECTS:
        raise LabellingError(f"unknown labelling project {project!r}; expected one of {PROJECTS}")
    path = (config_dir or CONFIG_DIR) / f"{project}.xml"
    if not path.exists():
        raise LabellingError(f"label config for {project!r} missing: {path}")
    xml = path.read_text(encoding="utf-8")
    return LabelConfig(project, PROJECT_TITLES[project], xml, hashlib.sha256(xml.encode()).hexdigest()[:12])


def task_key(project: str, call_id: str, segment: int | None = None) -> str:
    """Stable identity of a task: the same call (and segment) always gives the same key."""
    return f"{project}:{call_id}" + (f":{segment}" if segment is not None else "")


# ---------------------------------------------------------------- tasks
def _base(project: str, version: str, call_id: str, tenant: str, segment: int | None, reason: str,
          tier: str) -> dict[str, Any]:
    return {"task_key": task_key(project, call_id, segment), "project": project, "label_config_version": version,
            "call_id": call_id, "tenant": tenant, "segment": segment, "queue_reason": reason, "tier": tier}


def call_labelling_task(call_id: str, tenant: str, transcript: Transcript, intents: Sequence[str],
                        outcomes: Sequence[str], version: str, reason: str = "", tier: str = "human") -> dict:
    """One task per call: the redacted dialogue and the intent/outcome choices."""
    if not intents or not outcomes:
        raise LabellingError("call labelling needs at least one intent and one outcome choice")
    dialogue = [{"speaker": s.speaker, "text": s.text} for s in sorted(transcript.segments, key=lambda s: s.start)
                if s.text.strip()]
    return {"data": {**_base(CALL_LABELLING, version, call_id, tenant, None, reason, tier),
                     "title": f"Call {call_id}", "dialogue": dialogue,
                     "intent_choices": [{"value": v} for v in intents],
                     "outcome_choices": [{"value": v} for v in outcomes]}}


def review_task(call_id: str, tenant: str, transcript: Transcript, given: str, suggested: str, score: float,
                dataset_version: str, intents: Sequence[str], outcomes: Sequence[str], version: str) -> dict:
    """A call-labelling task asking people to look again at a label the noise audit
    doubts: same project, its own key per dataset version, the doubt in the title."""
    task = call_labelling_task(call_id, tenant, transcript, intents, outcomes, version, reason="label_noise",
                               tier="human")
    task["data"]["task_key"] = f"{task_key(CALL_LABELLING, call_id)}:review:{dataset_version}"
    task["data"]["title"] = (f"Review call {call_id}: labelled {given!r}; the model suggests {suggested!r} "
                             f"(given-label probability {score:.2f})")
    task["data"].update({"given_label": given, "suggested_label": suggested, "noise_score": score})
    return task


def asr_correction_tasks(call_id: str, tenant: str, transcript: Transcript, audio_url: str, version: str,
                         min_word_confidence: float = 0.6, max_tasks: int | None = None,
                         reason: str = "", tier: str = "human") -> list[dict]:
    """One task per segment whose share of low-confidence words is highest (all segments
    with any word below ``min_word_confidence``, worst first): the redacted audio, the
    segment's time span and its redacted text, pre-filled as a prediction to correct."""
    scored = []
    for i, seg in enumerate(transcript.segments):
        probs = [w.probability for w in seg.words if w.probability is not None]
        low = sum(1 for p in probs if p < min_word_confidence) / len(probs) if probs else 0.0
        if seg.text.strip() and low > 0:
            scored.append((low, i, seg))
    scored.sort(key=lambda x: (-x[0], x[1]))
    tasks = []
    for low, i, seg in scored[:max_tasks]:
        tasks.append({
            "data": {**_base(ASR_CORRECTION, version, call_id, tenant, i, reason, tier),
                     "title": f"Call {call_id} · segment {i} · {seg.speaker} · {seg.start:.1f}–{seg.end:.1f} s",
                     "audio": audio_url, "text": seg.text, "start": seg.start, "end": seg.end,
                     "speaker": seg.speaker, "low_confidence_share": round(low, 4)},
            "predictions": [{"model_version": "asr", "result": [
                {"from_name": "transcription", "to_name": "audio", "type": "textarea",
                 "value": {"text": [seg.text]}}]}],
        })
    return tasks


def segment_qa_tasks(call_id: str, tenant: str, transcript: Transcript, audio_url: str, version: str,
                     assessments: Mapping[int, str] | None = None, reason: str = "",
                     tier: str = "human") -> list[dict]:
    """One task per agent segment: its redacted text, time span and the model's
    assessment (``assessments`` by segment index; "unassessed" when the model has none)."""
    tasks = []
    for i, seg in enumerate(transcript.segments):
        if seg.speaker != AGENT or not seg.text.strip():
            continue
        tasks.append({"data": {**_base(SEGMENT_QA, version, call_id, tenant, i, reason, tier),
                               "title": f"Call {call_id} · agent segment {i} · {seg.start:.1f}–{seg.end:.1f} s",
                               "audio": audio_url, "text": seg.text, "start": seg.start, "end": seg.end,
                               "ai_assessment": (assessments or {}).get(i, "unassessed")}})
    return tasks


def task_texts(task: Mapping[str, Any]) -> list[str]:
    """Every piece of transcript content a task carries to the labelling tool: the
    values under ``text`` keys at any depth (segment text, dialogue turns, pre-filled
    predictions) — what the residual-PII check scans. Identifiers, URLs and times are
    not content."""
    out: list[str] = []

    def walk(v: Any, under_text: bool) -> None:
        if isinstance(v, str):
            if under_text:
                out.append(v)
        elif isinstance(v, Mapping):
            for k, x in v.items():
                walk(x, under_text or k == "text")
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x, under_text)

    walk(task, False)
    return out


# ---------------------------------------------------------------- annotations back
def pseudonymise_annotator(user_id: Any, salt: str) -> str:
    """A stable pseudonym for a labelling-tool user (keyed hash; no e-mail, no name)."""
    digest = hmac.new(salt.encode(), f"annotator:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"ann_{digest[:12]}"


def _result_values(result: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in result:
        name, value = r.get("from_name"), r.get("value") or {}
        if not name:
            continue
        if "choices" in value:
            ch = list(value["choices"])
            out[name] = ch[0] if len(ch) == 1 else ch
        elif "text" in value:
            txt = value["text"]
            out[name] = " ".join(txt) if isinstance(txt, list) else str(txt)
        elif "number" in value:
            out[name] = float(value["number"])
        elif "rating" in value:
            out[name] = value["rating"]
    return out


def segment_weight(labels: Mapping[str, Any], task: Mapping[str, Any]) -> tuple[float, str]:
    """Seed 003's weight and kind of a segment-QA annotation: agreement 0.5; correction,
    false-positive flag and timestamp fix 1.0 (the strongest kind wins)."""
    moved = False
    for k, orig in (("timestamp_start", task.get("start")), ("timestamp_end", task.get("end"))):
        if labels.get(k) is not None and orig is not None and abs(float(labels[k]) - float(orig)) >= 0.05:
            moved = True
    if labels.get("verdict") == "disagree":
        if labels.get("disagreement_reason") == "false_positive":
            return WEIGHT_FALSE_POSITIVE, "false_positive"
        if labels.get("disagreement_reason") == "incorrect_timestamp" or moved:
            return WEIGHT_TIMESTAMP_FIX, "timestamp_fix"
        return WEIGHT_CORRECTION, "correction"
    if moved:
        return WEIGHT_TIMESTAMP_FIX, "timestamp_fix"
    if labels.get("verdict") == "agree":
        return WEIGHT_AGREEMENT, "agreement"
    raise LabellingError("segment QA annotation without a verdict (agree/disagree)")


def annotation_record(task: Mapping[str, Any], annotation: Mapping[str, Any], salt: str) -> dict[str, Any]:
    """A completed Label Studio annotation as a normalised, PII-free record."""
    data = task.get("data") or {}
    project = data.get("project")
    if project not in PROJECTS or not data.get("call_id") or not data.get("task_key"):
        raise LabellingError(f"task {task.get('id')} is not a callforge task (no project/call_id/task_key)")
    labels = _result_values(annotation.get("result") or [])
    rec: dict[str, Any] = {
        "annotation_id": annotation.get("id"), "task_id": task.get("id"), "task_key": data["task_key"],
        "project": project, "label_config_version": data.get("label_config_version"),
        "call_id": data["call_id"], "tenant": data.get("tenant"), "segment": data.get("segment"),
        "annotator": pseudonymise_annotator(annotation.get("completed_by"), salt),
        "lead_time_s": annotation.get("lead_time"), "created_at": annotation.get("created_at"),
        "updated_at": annotation.get("updated_at") or annotation.get("created_at"),
        "cancelled": bool(annotation.get("was_cancelled")), "labels": labels, "weight": 1.0, "kind": "label",
    }
    if project == SEGMENT_QA and not rec["cancelled"]:
        rec["weight"], rec["kind"] = segment_weight(labels, data)
        rec["disagreement_reason"] = labels.get("disagreement_reason")
        rec["ai_assessment"] = data.get("ai_assessment")
    if project == ASR_CORRECTION and "transcription" in labels:
        rec["kind"] = "correction" if labels["transcription"].strip() != str(data.get("text", "")).strip() else "agreement"
    rec["version"] = hashlib.sha256(f"{rec['annotation_id']}|{rec['updated_at']}".encode()).hexdigest()[:12]
    return rec


def latest_per_annotator(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The newest version of each (task, annotator) pair; cancelled annotations dropped."""
    best: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in records:
        k = (r["task_key"], r["annotator"])
        if k not in best or str(r.get("updated_at") or "") >= str(best[k].get("updated_at") or ""):
            best[k] = r
    return [dict(r) for r in best.values() if not r.get("cancelled")]


# ---------------------------------------------------------------- agreement
def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two annotators' labels on the same items (None when undefined)."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} vs {len(b)} labels")
    n = len(a)
    if n == 0:
        return None
    cats = sorted({*map(str, a), *map(str, b)})
    po = sum(1 for x, y in zip(a, b) if str(x) == str(y)) / n
    pe = sum((sum(1 for x in a if str(x) == c) / n) * (sum(1 for y in b if str(y) == c) / n) for c in cats)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else None
    return round((po - pe) / (1 - pe), 4)


def krippendorff_alpha(units: Sequence[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha (nominal) over units, each the labels its annotators gave;
    units with fewer than two labels are ignored (None when undefined)."""
    units = [[str(v) for v in u] for u in units if len(u) >= 2]
    if not units:
        return None
    coincidence: dict[tuple[str, str], float] = defaultdict(float)
    for u in units:
        m = len(u)
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(u[i], u[j])] += 1.0 / (m - 1)
    n_c: dict[str, float] = defaultdict(float)
    for (c, _k), v in coincidence.items():
        n_c[c] += v
    n = sum(n_c.values())
    d_o = sum(v for (c, k), v in coincidence.items() if c != k)
    d_e = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k) / (n - 1) if n > 1 else 0.0
    if d_e == 0:
        return 1.0 if d_o == 0 else None
    return round(1.0 - d_o / d_e, 4)


def agreement(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Inter-annotator agreement per project and label field over tasks labelled by two
    or more annotators: Cohen's kappa when exactly two annotators took part in the
    project, Krippendorff's alpha otherwise. ``{"project/field": {"method", "value",
    "items", "annotators"}}``."""
    by_task: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    projects: dict[str, str] = {}
    for r in latest_per_annotator(records):
        by_task[r["task_key"]][r["annotator"]] = r["labels"]
        projects[r["task_key"]] = r["project"]
    out: dict[str, dict[str, Any]] = {}
    for project, fields in AGREEMENT_FIELDS.items():
        tasks = {k: v for k, v in by_task.items() if projects[k] == project and len(v) >= 2}
        annotators = sorted({a for v in tasks.values() for a in v})
        for f in fields:
            units = [[labels[f] for labels in v.values() if labels.get(f) is not None] for v in tasks.values()]
            units = [u for u in units if len(u) >= 2]
            if not units:
                continue
            if len(annotators) == 2:
                a1, a2 = annotators
                pairs = [(v[a1][f], v[a2][f]) for v in tasks.values()
                         if a1 in v and a2 in v and v[a1].get(f) is not None and v[a2].get(f) is not None]
                value = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
                method = "cohen_kappa"
            else:
                value, method = krippendorff_alpha(units), "krippendorff_alpha"
            out[f"{project}/{f}"] = {"method": method, "value": value, "items": len(units),
                                     "annotators": len(annotators)}
    return out


def disagreements(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tasks where annotators differ on a compared field: task key, field and the labels
    (for adjudication; no text)."""
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in latest_per_annotator(records):
        by_task[r["task_key"]].append(r)
    out = []
    for key, recs in sorted(by_task.items()):
        for f in AGREEMENT_FIELDS.get(recs[0]["project"], ()):
            vals = {r["annotator"]: r["labels"].get(f) for r in recs if r["labels"].get(f) is not None}
            if len(set(map(str, vals.values()))) > 1:
                out.append({"task_key": key, "field": f, "labels": vals})
    return out


def consensus_labels(records: Iterable[Mapping[str, Any]], fields: Sequence[str] = ("intent", "outcome")
                     ) -> dict[str, dict[str, Any]]:
    """Per call, the majority label of each call-labelling field over annotators (each
    annotator's latest answer on the call, review tasks included; ties: the most recent
    annotation wins) — what the classification dataset trains on."""
    votes: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}  # one vote per annotator and call: a
    for r in latest_per_annotator(records):               # review task's answer replaces theirs
        if r["project"] != CALL_LABELLING:
            continue
        k = (r["call_id"], r["annotator"])
        if k not in latest or str(r.get("updated_at") or "") >= str(latest[k].get("updated_at") or ""):
            latest[k] = r
    for r in latest.values():
        for f in fields:
            if r["labels"].get(f) is not None:
                votes[r["call_id"]][f].append((str(r["labels"][f]), str(r.get("updated_at") or "")))
    out: dict[str, dict[str, Any]] = {}
    for call_id, by_field in votes.items():
        for f, vs in by_field.items():
            counts: dict[str, int] = defaultdict(int)
            newest: dict[str, str] = {}
            for v, ts in vs:
                counts[v] += 1
                newest[v] = max(newest.get(v, ""), ts)
            out.setdefault(call_id, {})[f] = max(counts, key=lambda v: (counts[v], newest[v]))
    return out


"""The dataset flow behind ``gold/training_datasets``: curated, versioned training sets
from redacted calls and human annotations.

Two datasets per version, each as JSONL per split and an HF ``DatasetDict``:

- ``classification/``: one row per call and task (intent, outcome) — text (the
  customer's words), label (the annotators' consensus), weight, call id, split;
- ``chat/``: SFT rows — whole calls (customer = user, agent = assistant, a leading agent
  greeting folded into the system turn) with weight 1.0, and seed 003's segment
  annotations ("Dojo") weighted 0.5 for agreements and 1.0 for corrections,
  false-positive flags and timestamp fixes.

Filters (training consent, quality gate passed, redaction verified, WER bound), a split
by customer then call, exact and near-duplicate removal, a class-balance report and
blocking format checks run before anything is written; a markdown dataset card records
the lineage. Nothing here reads raw (unredacted) data.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pipeline.domain.core.keys import dataset_prefix
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import AGENT, CUSTOMER
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import _transcript, ready_calls
from pipeline.domain.flows.labelling import latest_labels, stored_records
from pipeline.domain.learning import curation as cur
from pipeline.domain.learning import labelling as lab
from pipeline.domain.learning.datasets import DEFAULT_SYSTEM_PROMPT, SPLITS, dataset_version
from pipeline.domain.privacy.residual import residual_pii

DATASET_VERSION = "2"
SEGMENT_SYSTEM_PROMPT = ("You are an expert call analyst. Assess the agent's handling of the call segment you are "
                         "given and answer with JSON.")
SEGMENT_USER_PREFIX = {"agent_action": "Analyse this call segment for AGENT ACTIONS.",
                       "score_impact": "Analyse this call segment for events that IMPACT THE QUALITY SCORE.",
                       "compliance_flag": "Analyse this call segment for COMPLIANCE concerns."}


class DatasetFormatError(ValueError):
    """Blocking format problems: the dataset is not written."""


@dataclass
class DatasetBuild:
    version: str
    rows: int
    split_sizes: dict[str, int]
    skipped: list
    label_counts: dict[str, int]
    call_ids: list[str]
    manifest: dict
    chat_rows: int = 0
    chat_split_sizes: dict[str, int] = field(default_factory=dict)
    dedupe: dict = field(default_factory=dict)
    balance: dict = field(default_factory=dict)
    format_problems: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    card: str = ""


def _call_rows(store: ObjectStore, ledger: Ledger) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """Classification rows and whole-call chat rows of every ready call, plus the
    per-call metadata the filters need."""
    labels = latest_labels(ledger)
    cls_rows, chat_rows, meta = [], [], {}
    for rc in ready_calls(store, ledger):
        t = _transcript(store, rc.keys.redacted_transcript)
        call = ledger.get_call(rc.call_id) or {}
        wer = (t.quality or {}).get("wer")
        # ready = passed the quality gate; verified = the independent residual scan finds
        # nothing in what the redactor left (a call that fails it never enters a dataset)
        meta[rc.call_id] = {"consent_training": rc.consent_training, "quality_passed": True,
                            "redaction_verified": not any(residual_pii(s.text) for s in t.segments), "wer": wer}
        customer = call.get("customer_id")
        turns: list[list[str]] = []
        for seg in sorted(t.segments, key=lambda s: (s.start, s.end)):
            text = " ".join(seg.text.split())
            if not text or seg.speaker not in (AGENT, CUSTOMER):
                continue
            role = "assistant" if seg.speaker == AGENT else "user"
            if turns and turns[-1][0] == role:
                turns[-1][1] += " " + text
            else:
                turns.append([role, text])
        lab_ = labels.get(rc.call_id) or {}
        customer_text = " ".join(x for r, x in turns if r == "user")
        for task in cur.TASKS:
            if lab_.get(task) and customer_text:
                cls_rows.append({"call_id": rc.call_id, "customer_id": customer, "tenant": rc.tenant,
                                 "text": customer_text, "label": str(lab_[task]), "task": task,
                                 "weight": 1.0, "source": "call_labelling"})
        system = DEFAULT_SYSTEM_PROMPT
        while turns and turns[0][0] == "assistant":  # the agent's greeting opens the call
            system += f"\nYou opened the call with: {turns.pop(0)[1]}"
        if any(r == "assistant" for r, _ in turns):
            chat_rows.append({"call_id": rc.call_id, "customer_id": customer, "tenant": rc.tenant,
                              "messages": [{"role": "system", "content": system}]
                              + [{"role": r, "content": x} for r, x in turns],
                              "weight": 1.0, "source": "call"})
    return cls_rows, chat_rows, meta


def _segment_rows(store: ObjectStore, ledger: Ledger) -> list[dict]:
    """Seed 003's segment annotations as weighted chat rows (latest per annotator)."""
    out = []
    ready = {rc.call_id: rc for rc in ready_calls(store, ledger)}
    transcripts: dict[str, Any] = {}
    for r in lab.latest_per_annotator(stored_records(store, ledger)):
        if r["project"] != lab.SEGMENT_QA or r["call_id"] not in ready:
            continue
        call = ledger.get_call(r["call_id"]) or {}
        if r["call_id"] not in transcripts:  # one read per call, not per annotated segment
            transcripts[r["call_id"]] = _transcript(store, ready[r["call_id"]].keys.redacted_transcript)
        t = transcripts[r["call_id"]]
        if r["segment"] is None or r["segment"] >= len(t.segments):
            continue
        seg = t.segments[r["segment"]]
        labels = r["labels"]
        seg_type = labels.get("segment_type") or "agent_action"
        verdict = labels.get("verdict")
        assessment = labels.get("trainer_assessment") or (r.get("ai_assessment") if verdict == "agree" else None)
        answer = {"segment_type": seg_type, "action_detected": labels.get("disagreement_reason") != "false_positive",
                  "quality_impact": assessment,
                  "timestamp_start": labels.get("timestamp_start", seg.start),
                  "timestamp_end": labels.get("timestamp_end", seg.end)}
        out.append({"call_id": r["call_id"], "customer_id": call.get("customer_id"), "tenant": call.get("tenant"),
                    "messages": [{"role": "system", "content": SEGMENT_SYSTEM_PROMPT},
                                 {"role": "user", "content": f"{SEGMENT_USER_PREFIX.get(seg_type, SEGMENT_USER_PREFIX['agent_action'])}"
                                                             f"\n\n{seg.text}"},
                                 {"role": "assistant", "content": json.dumps(answer, sort_keys=True)}],
                    "weight": float(r["weight"]), "source": f"segment_qa:{r['kind']}",
                    "disagreement_reason": r.get("disagreement_reason")})
    return out


def _write(store: ObjectStore, prefix: str, kind: str, by_split: Mapping[str, list[dict]]) -> dict[str, str]:
    keys = {}
    for name in SPLITS:
        key = f"{prefix}{kind}/{name}.jsonl"
        store.put_bytes(key, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                                     for r in by_split.get(name, [])).encode())
        keys[name] = key
    with tempfile.TemporaryDirectory() as tmp:
        cur.to_hf({s: by_split.get(s, []) for s in SPLITS}, kind=kind).save_to_disk(str(Path(tmp) / "hf"))
        for p in sorted((Path(tmp) / "hf").rglob("*")):
            if p.is_file():
                store.put_file(f"{prefix}{kind}/hf/{p.relative_to(Path(tmp) / 'hf').as_posix()}", p)
    return keys


def build_dataset(store: ObjectStore, ledger: Ledger, embed: Callable[[list[str]], Any] | None = None,
                  tokenizer: Any = None, max_tokens: int = 2048, max_wer: float | None = cur.DEFAULT_MAX_WER,
                  near_dup_threshold: float = 0.95, code_version: str = DATASET_VERSION) -> DatasetBuild:
    """Build, check and write the two datasets; raise :class:`DatasetFormatError` on any
    blocking format problem (nothing written then)."""
    import numpy as np

    cls_rows, chat_rows, meta = _call_rows(store, ledger)
    chat_rows += _segment_rows(store, ledger)
    cls_kept, cls_dropped = cur.filter_rows(cls_rows, meta, max_wer)
    chat_kept, chat_dropped = cur.filter_rows(chat_rows, meta, max_wer)
    all_rows = cur.fill_empty_eval_splits(cur.assign_splits(cls_kept + chat_kept))
    cls_split = [r for r in all_rows if "messages" not in r]
    chat_split = [r for r in all_rows if "messages" in r]
    leaks = cur.check_no_leakage(all_rows)
    if leaks:  # pragma: no cover - assign_splits guarantees this; a failure is a bug
        raise DatasetFormatError(f"split leakage: {leaks[:5]}")
    emb_cls = emb_chat = None
    if embed is not None and cls_split:
        emb_cls = np.asarray(embed([r["text"] for r in cls_split]), dtype=np.float32)
    if embed is not None and chat_split:
        emb_chat = np.asarray(embed([" ".join(m["content"] for m in r["messages"][1:]) for r in chat_split]),
                              dtype=np.float32)
    cls_final, cls_dedupe = cur.dedupe(cls_split, emb_cls, near_dup_threshold)
    chat_final, chat_dedupe = cur.dedupe(chat_split, emb_chat, near_dup_threshold)
    problems = cur.check_classification_format(cls_final, max_tokens, tokenizer)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        problems += cur.check_chat_format(chat_final, tokenizer, max_tokens)
    if problems:
        raise DatasetFormatError(f"{len(problems)} blocking format problem(s): {cur.summarise_problems(problems)}")
    version = dataset_version(cls_final + chat_final)
    prefix = dataset_prefix(version)
    cls_by, chat_by = cur.by_split(cls_final), cur.by_split(chat_final)
    cls_keys = _write(store, prefix, "classification", cls_by)
    chat_keys = _write(store, prefix, "chat", chat_by)
    # the intent rows per split, the shape the trainer reads (text + intent)
    intent_keys = {}
    for name in SPLITS:
        key = f"{prefix}{name}.jsonl"
        rows = [{**r, "intent": r["label"]} for r in cls_by.get(name, []) if r["task"] == "intent"]
        store.put_bytes(key, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
        intent_keys[name] = key
    balance = cur.class_balance([r for r in cls_final if r["task"] == "intent"])
    annotation_versions = dict(Counter(r.get("label_config_version") or "?" for r in stored_records(store, ledger)))
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    card = cur.dataset_card(name="callforge training datasets", rows_by_split={**cls_by},
                            created_at=created_at,
                            code_version=code_version, annotation_versions={k: str(v) for k, v in annotation_versions.items()},
                            version=version, filter_drops=cls_dropped + chat_dropped,
                            filters={"max_wer": max_wer, "near_dup_threshold": near_dup_threshold,
                                     "max_tokens": max_tokens},
                            dedupe_report=cls_dedupe, format_problems=problems, label_key="label")
    card += "\n\n## Chat SFT rows\n\n" + cur.class_balance(chat_final, key="source")["markdown"]
    store.put_bytes(f"{prefix}README.md", card.encode())
    calls = sorted({r["call_id"] for r in cls_final + chat_final})
    intent_rows = [r for r in cls_final if r["task"] == "intent"]
    manifest = {"version": version, "prefix": prefix, "splits": intent_keys,
                "classification": cls_keys, "chat": chat_keys, "card": f"{prefix}README.md",
                "rows": len(intent_rows), "chat_rows": len(chat_final), "calls": calls, "created_at": created_at}
    store.put_json(f"{prefix}manifest.json", manifest)
    weights = dict(Counter(f"{r['source']}={r['weight']}" for r in chat_final))
    return DatasetBuild(version=version, rows=len(intent_rows),
                        split_sizes={s: len([r for r in cls_by.get(s, []) if r["task"] == "intent"]) for s in SPLITS},
                        skipped=[list(d) for d in cls_dropped + chat_dropped],
                        label_counts=dict(Counter(r["label"] for r in intent_rows)), call_ids=calls,
                        manifest=manifest, chat_rows=len(chat_final),
                        chat_split_sizes={s: len(chat_by.get(s, [])) for s in SPLITS},
                        dedupe={"classification": _counts(cls_dedupe), "chat": _counts(chat_dedupe)},
                        balance={k: v for k, v in balance.items() if k != "markdown"},
                        format_problems=cur.summarise_problems(problems), weights=weights, card=card)


def _counts(report: Mapping[str, Any]) -> dict:
    return {k: v for k, v in report.items() if k != "dropped_rows"}


def dataset_residual_pii(store: ObjectStore, version: str) -> int:
    """Residual-PII findings over every JSONL row of a dataset version."""
    n = 0
    for key in store.list(dataset_prefix(version)):
        if key.endswith(".jsonl"):
            for line in store.get_bytes(key).decode().splitlines():
                row = json.loads(line)
                n += sum(len(residual_pii(m["content"])) for m in row.get("messages", []))
                n += len(residual_pii(row.get("text", "")))
    return n


def consent_violations(ledger: Ledger, call_ids: Sequence[str]) -> list[str]:
    """Calls in a dataset that are not active or have no training consent."""
    bad = []
    for cid in call_ids:
        c = ledger.get_call(cid)
        if c is None or c["state"] != "active" or not c.get("consent_training"):
            bad.append(cid)
    return bad


# ---------------------------------------------------------------- label-noise audit
@dataclass
class NoiseReport:
    audited: int
    estimated_rate: float | None
    flagged: list[dict]
    skipped_classes: int
    note: str = ""


def audit_label_noise(store: ObjectStore, manifest: Mapping[str, Any], embed: Callable[[list[str]], Any],
                      n_folds: int = 5, seed: int = 0) -> NoiseReport:
    """Confident learning on the intent rows of a dataset version (out-of-fold
    probabilities of a logistic regression on frozen embeddings): an estimate of the
    label-noise rate and the rows most likely mislabelled, as review items ``{"id":
    call_id, "given_label", "suggested_label", "score"}``. Too few rows per class to
    audit -> a note, nothing flagged."""
    import numpy as np

    from pipeline.domain.learning import noise

    rows = [json.loads(line) for s in SPLITS for line in store.get_bytes(manifest["splits"][s]).decode().splitlines()
            if line.strip()]
    counts = Counter(r["intent"] for r in rows)
    usable = [r for r in rows if counts[r["intent"]] >= 2]
    if len(usable) < 2 * n_folds or len({r["intent"] for r in usable}) < 2:
        return NoiseReport(len(rows), None, [], len(counts), note=f"too few labelled rows to audit ({len(rows)})")
    x = np.asarray(embed([r["text"] for r in usable]), dtype=np.float32)
    folds = min(n_folds, min(counts[r["intent"]] for r in usable))
    audit, _ = noise.audit_labels(x, [r["intent"] for r in usable], n_folds=max(2, folds), seed=seed)
    flagged = noise.review_tasks(audit, ids=[r["call_id"] for r in usable])
    return NoiseReport(len(usable), float(audit.estimated_noise_rate), flagged,
                       len(counts) - len({r["intent"] for r in usable}))

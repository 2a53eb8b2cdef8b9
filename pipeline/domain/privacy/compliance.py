"""Retention and erasure across every layer, the vector index and unpublished datasets.

Every deletion is an append-only ledger row (who, what, when, why). Legal hold blocks
both retention and erasure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.domain.core.keys import CallKeys, delete_call_layers
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.privacy.retention import LAYERS, RetentionPolicy, plan_retention


@dataclass
class ComplianceReport:
    soft_deleted: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    objects_deleted: int = 0
    index_rows_deleted: int = 0


def apply_retention(store: ObjectStore, ledger: Ledger, index: Any, policies: dict[str, RetentionPolicy],
                    now: datetime, actor: str) -> ComplianceReport:
    """Soft-delete expired calls (they leave the index and datasets at once), purge their
    objects after the grace period. Legal hold blocks both."""
    report = ComplianceReport()
    rows = ledger.calls()
    report.held = sorted(c["call_id"] for c in rows if c.get("legal_hold"))
    for action in plan_retention(rows, now, policies):
        call = ledger.get_call(action.call_id)
        if call is None or call.get("legal_hold"):
            continue
        keys = CallKeys(call["call_date"], call["tenant"], call["call_id"])
        whole_call = set(action.layers) >= set(LAYERS)
        details = {"layers": list(action.layers)}
        if action.action == "soft_delete" and whole_call:
            # the call leaves the index (and so search and new datasets) at once
            report.index_rows_deleted += index.delete_calls([call["call_id"]], tenant=call["tenant"])
            ledger.set_state(call["call_id"], "soft_deleted", actor, action.reason, details=details)
            report.soft_deleted.append(call["call_id"])
        elif action.action == "soft_delete":
            # some layers expired (per-layer policy): marked now, purged after the grace period
            if _layers_present(store, keys, action.layers):
                ledger.audit("soft_delete", actor, call["call_id"], call["tenant"], reason=action.reason, details=details)
                report.soft_deleted.append(call["call_id"])
        elif action.action == "purge":
            n = delete_call_layers(store, keys, tuple(action.layers))
            report.objects_deleted += n
            if whole_call:
                report.index_rows_deleted += index.delete_calls([call["call_id"]], tenant=call["tenant"])
                ledger.forget_processed(call["call_id"])
                ledger.set_state(call["call_id"], "purged", actor, action.reason, details={**details, "objects_deleted": n})
                report.purged.append(call["call_id"])
            elif n:
                ledger.audit("purge", actor, call["call_id"], call["tenant"], reason=action.reason,
                             details={**details, "objects_deleted": n})
                report.purged.append(call["call_id"])
    return report


def _layers_present(store: ObjectStore, keys: CallKeys, layers: tuple[str, ...]) -> bool:
    for layer, paths in keys.layer_keys().items():
        if layer in layers:
            for p in paths:
                if (store.list(p) if p.endswith("/") else store.exists(p)):
                    return True
    return False


def erase(store: ObjectStore, ledger: Ledger, index: Any, actor: str, reason: str,
          customer_id: str | None = None, call_id: str | None = None) -> ComplianceReport:
    """Remove a person's (or one call's) data from every layer, the vector index and
    unpublished datasets. Calls under legal hold are reported, not erased."""
    if not (customer_id or call_id):
        raise ValueError("erase needs a customer id or a call id")
    report = ComplianceReport()
    calls = ledger.calls(customer_id=customer_id) if customer_id else [c for c in [ledger.get_call(call_id)] if c]
    if not calls:
        raise LookupError(f"no calls found for {'customer ' + customer_id if customer_id else 'call ' + str(call_id)}")
    for call in calls:
        cid = call["call_id"]
        if call.get("legal_hold"):
            report.held.append(cid)
            ledger.audit("erase_blocked", actor, cid, call["tenant"], reason=f"legal hold; request: {reason}")
            continue
        keys = CallKeys(call["call_date"], call["tenant"], cid)
        n = delete_call_layers(store, keys, LAYERS)
        n += _scrub_datasets(store, cid)
        report.objects_deleted += n
        report.index_rows_deleted += index.delete_calls([cid], tenant=call["tenant"])
        ledger.forget_processed(cid)
        ledger.forget_annotations(cid)
        ledger.set_state(cid, "erased", actor, reason,
                         details={"objects_deleted": n, "by": "customer" if customer_id else "call"})
        report.erased.append(cid)
    return report


def _scrub_datasets(store: ObjectStore, call_id: str) -> int:
    """Drop the call's rows from every dataset version's JSONL splits; the HF copy of a
    touched version is removed (rebuilt on the next dataset materialisation)."""
    import json

    changed = 0
    touched: set[str] = set()
    for key in store.list("gold/training_datasets/"):
        if not key.endswith(".jsonl"):
            continue
        lines = [ln for ln in store.get_bytes(key).decode().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("call_id") != call_id]
        if len(kept) != len(lines):
            store.put_bytes(key, "".join(ln + "\n" for ln in kept).encode())
            touched.add(key.rsplit("/", 1)[0] + "/")
            changed += 1
    for prefix in touched:
        changed += store.delete_prefix(prefix + "hf/")
    return changed

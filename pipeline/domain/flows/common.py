"""What the per-partition flows share: reading a call's bronze inputs, quarantining a call
from a stage, and the calls that are ready for gold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import QuarantineRecord, Transcript
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.intake.ingest import StageReport


def _bronze_sidecar(store: ObjectStore, keys: CallKeys) -> dict | None:
    return store.get_json(keys.bronze_sidecar) if store.exists(keys.bronze_sidecar) else None


@contextlib.contextmanager
def _local_paths(store: ObjectStore, keys: list[str]) -> Iterator[list[Path]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(store.local_path(k)) for k in keys]


def _imported(store: ObjectStore, keys: CallKeys) -> Transcript | None:
    return Transcript.from_dict(store.get_json(keys.imported_transcript)) if store.exists(keys.imported_transcript) else None


def open_quarantine_ids(ledger: Ledger, date: str, stages: tuple[str, ...]) -> set[str]:
    return {q["call_id"] for q in ledger.open_quarantine(partition=date) if q["stage"] in stages}


def _quarantine(ledger: Ledger, report: StageReport, call_id: str, date: str, tenant: str | None,
                stage: str, reason: str, detail: str, uri: str) -> None:
    rec = QuarantineRecord(call_id, stage, reason, detail, uri, partition=date, tenant=tenant)
    ledger.add_quarantine(rec)
    report.quarantined.append(rec)


@dataclass(frozen=True)
class ReadyCall:
    call_id: str
    tenant: str
    date: str
    keys: CallKeys
    started_at: str
    consent_training: bool


def ready_calls(store: ObjectStore, ledger: Ledger, date: str | None = None) -> list[ReadyCall]:
    """Active calls whose redacted transcript exists (the input of every gold asset)."""
    out = []
    rows = ledger.calls(call_date=date) if date else ledger.calls()
    for c in rows:
        if c["state"] != "active":
            continue
        keys = CallKeys(c["call_date"], c["tenant"], c["call_id"])
        if store.exists(keys.redacted_transcript):
            out.append(ReadyCall(c["call_id"], c["tenant"], c["call_date"], keys, str(c.get("started_at") or ""),
                                 bool(c.get("consent_training"))))
    return out


def _transcript(store: ObjectStore, key: str) -> Transcript:
    return Transcript.from_dict(store.get_json(key))

"""What the per-partition flows share: reading a call's bronze inputs, quarantining a call
from a stage, the calls that are ready for gold, and sharding a day's calls so that
several workers share the heavy per-call work (``Shard``, ``merge_reports``).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.domain.core.integrity import (
    CHECKSUM_MISMATCH,
    ChecksumMismatchError,
    verify_sha256,
)
from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import QuarantineRecord, Transcript
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.intake.ingest import StageReport


class Shard(NamedTuple):
    """Shard ``index`` of ``count``: the calls whose ``sha256(call_id) mod count == index``.

    Stable across runs, processes and hosts, and independent of which other calls exist,
    so the shards of one partition are disjoint and together cover every call. A plain
    ``(index, count)`` tuple works wherever a ``Shard`` is taken."""

    index: int
    count: int

    def owns(self, call_id: str) -> bool:
        return shard_of(call_id, self.count) == self.index


def shard_of(call_id: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big") % count


def as_shard(shard: Shard | tuple[int, int] | None) -> Shard | None:
    """Validate an optional ``(index, count)``; None means the whole partition."""
    if shard is None:
        return None
    index, count = int(shard[0]), int(shard[1])
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"invalid shard {shard!r}: need 0 <= index < count")
    return Shard(index, count)


def in_shard(call_id: str, shard: Shard | None) -> bool:
    return shard is None or shard.owns(call_id)


def merge_reports(reports: Iterable[StageReport]) -> StageReport:
    """One report for the partition from its shards' reports: lists concatenated in shard
    order, counts summed, details merged (a later shard's key wins). Counts that are not
    sums (a minimum, a mean) are the caller's to recompute."""
    out = StageReport()
    for r in reports:
        out.processed += r.processed
        out.landed += r.landed
        out.skipped += r.skipped
        out.opted_out += r.opted_out
        out.quarantined += r.quarantined
        out.counts.update(r.counts)
        out.details.update(r.details)
    return out


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


def _intact_audio(store: ObjectStore, ledger: Ledger, report: StageReport, date: str, stage: str,
                  calls: list[tuple[str, CallKeys, dict]], paths: list[Path]
                  ) -> tuple[list[tuple[str, CallKeys, dict]], list[Path]]:
    """The calls (and their local audio files) whose bronze audio still hashes to the
    sidecar's ``audio_sha256``. A call whose audio changed in storage is quarantined from
    ``stage`` as ``checksum_mismatch`` (the object is left as it is, for inspection) and
    dropped; the rest of the batch goes on."""
    kept, kept_paths = [], []
    for (cid, keys, sc), path in zip(calls, paths):
        try:
            verify_sha256(path, sc.get("audio_sha256", ""), sc["audio_key"])
        except ChecksumMismatchError as e:
            _quarantine(ledger, report, cid, date, sc.get("tenant"), stage, CHECKSUM_MISMATCH, str(e),
                        store.uri(sc["audio_key"]))
            continue
        kept.append((cid, keys, sc))
        kept_paths.append(path)
    return kept, kept_paths


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

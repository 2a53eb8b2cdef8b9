"""Deterministic object-store keys for every layer, derived from partition and call id.

Every per-call artefact of every layer is listed by ``CallKeys.layer_keys``, and every
per-day table with one row per call by ``CallKeys.table_keys``, so retention and erasure
can remove a call from all layers without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pipeline.domain.core.storage import ObjectStore


@dataclass(frozen=True)
class CallKeys:
    date: str
    tenant: str
    call_id: str

    @property
    def bronze_prefix(self) -> str:
        return f"bronze/recordings/{self.date}/{self.tenant}/{self.call_id}/"

    def bronze_audio(self, ext: str) -> str:
        return f"{self.bronze_prefix}audio{ext}"

    @property
    def bronze_sidecar(self) -> str:
        return f"{self.bronze_prefix}sidecar.json"

    @property
    def imported_transcript(self) -> str:
        return f"bronze/imported_transcripts/{self.date}/{self.call_id}.json"

    @property
    def events(self) -> str:
        return f"bronze/call_events/{self.date}/{self.call_id}.jsonl"

    @property
    def transcript(self) -> str:
        return f"silver/transcripts/{self.date}/{self.call_id}.json"

    @property
    def redacted_transcript(self) -> str:
        return f"silver/redacted_transcripts/{self.date}/{self.call_id}.json"

    @property
    def redacted_audio(self) -> str:
        return f"silver/redacted_audio/{self.date}/{self.call_id}.wav"

    @property
    def redacted_events(self) -> str:
        return f"silver/redacted_events/{self.date}/{self.call_id}.jsonl"

    @property
    def analytics(self) -> str:
        return f"gold/conversation_analytics/{self.date}/calls/{self.call_id}.json"

    @property
    def embedding_vectors(self) -> str:
        """The call's chunk vectors (``.npy``, one row per chunk), as an embedding shard
        computed them; the vector index and ``call_vectors.parquet`` are built from them."""
        return f"gold/transcript_embeddings/{self.date}/calls/{self.call_id}.npy"

    @property
    def annotations_prefix(self) -> str:
        """Human annotations of this call, one object per annotation version."""
        return f"bronze/annotations/{self.date}/{self.call_id}/"

    def layer_keys(self) -> dict[str, list[str]]:
        """Keys (or prefixes ending in '/') of this call, grouped by retention layer
        (the names of retention.LAYERS)."""
        return {
            "audio": [self.bronze_prefix, self.redacted_audio],
            "transcript": [self.imported_transcript, self.transcript, self.redacted_transcript, self.analytics,
                           self.embedding_vectors, self.annotations_prefix],
            "events": [self.events, self.redacted_events],
        }

    def table_keys(self) -> dict[str, list[str]]:
        """The day's tables (parquet, one row per call, column ``call_id``) that hold a
        row of this call, grouped by the retention layer the row is derived from."""
        return {"transcript": [analytics_table_key(self.date), call_vectors_key(self.date)]}


def manifest_key(date: str) -> str:
    return f"bronze/recordings/{date}/_manifest.json"


def quarantine_raw_key(date: str, name: str) -> str:
    """Where a quarantined input's bytes are kept (nothing is lost)."""
    return f"quarantine/{date}/{name}"


def quarantine_report_key(date: str) -> str:
    return f"silver/quarantine/{date}.json"


def analytics_table_key(date: str) -> str:
    return f"gold/conversation_analytics/{date}/calls.parquet"


def call_vectors_key(date: str) -> str:
    """The day's call-level vectors (one row per call), read by the drift checks."""
    return f"gold/transcript_embeddings/{date}/call_vectors.parquet"


def dataset_prefix(version: str) -> str:
    return f"gold/training_datasets/{version}/"


def adapter_prefix(name: str, version: str) -> str:
    """A registered adapter version's files (see :class:`AdapterRegistry`)."""
    return f"adapters/{name}/{version}/"


def eval_report_key(version: str, name: str = "intent") -> str:
    return f"gold/eval_reports/{name}/{version}.json"


def drift_report_key(month: str) -> str:
    return f"gold/drift_reports/{month}.json"


def redaction_quality_key(stamp: str) -> str:
    """A redaction quality report; ``stamp`` is a UTC timestamp or ``latest``."""
    return f"silver/redaction_quality_report/{stamp}.json"


def delete_call_layers(store: ObjectStore, keys: CallKeys, layers: tuple[str, ...]) -> int:
    """Delete a call's objects in the given layers (names of ``layer_keys``) and its rows
    from the day's tables of those layers; returns how many objects were deleted or
    rewritten."""
    n = 0
    for layer, paths in keys.layer_keys().items():
        if layer not in layers:
            continue
        for p in paths:
            n += store.delete_prefix(p) if p.endswith("/") else int(store.delete(p))
    for layer, tables in keys.table_keys().items():
        if layer in layers:
            n += sum(drop_table_rows(store, t, keys.call_id) for t in tables)
    return n


def drop_table_rows(store: ObjectStore, key: str, call_id: str) -> bool:
    """Remove ``call_id``'s rows from the parquet table at ``key`` (the object is deleted
    when no row is left); True when the table changed."""
    import io

    import pandas as pd

    if not store.exists(key):
        return False
    df = pd.read_parquet(io.BytesIO(store.get_bytes(key)))
    keep = df["call_id"] != call_id
    if bool(keep.all()):
        return False
    if not bool(keep.any()):
        return store.delete(key)
    buf = io.BytesIO()
    df[keep].reset_index(drop=True).to_parquet(buf, index=False)
    store.put_bytes(key, buf.getvalue())
    return True

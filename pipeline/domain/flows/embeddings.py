"""The gold embeddings flow of one day partition: redacted transcripts chunked, embedded
in batches and upserted into the vector index. Called by ``gold/transcript_embeddings``.

Sharded: ``embed_part`` encodes one ``Shard`` of the day's calls, stores each call's
vectors in the object store (``CallKeys.embedding_vectors``, a layer of the call that
retention and erasure remove) and returns their keys and input hashes only -- never text
or vectors, so the step outputs the IO manager keeps hold nothing personal; the fan-in
re-chunks the stored redacted transcript (deterministic) and reads the vectors back.
``index_embeddings`` writes every part to the index in one delete + one upsert, so the
index has a single writer per partition. ``embeddings_partition`` is both in one process.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.core.keys import call_vectors_key
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Transcript, sha256_bytes
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import (
    ReadyCall,
    Shard,
    as_shard,
    in_shard,
    ready_calls,
)
from pipeline.domain.flows.labelling import latest_labels
from pipeline.domain.privacy.residual import residual_pii

EMBEDDINGS_VERSION = "1"


# ---------------------------------------------------------------- embeddings
@dataclass
class EmbeddingsResult:
    calls: int = 0
    chunks: int = 0
    skipped: int = 0
    removed: int = 0
    model_version: str = ""
    sentences_per_second: float = 0.0
    residual_findings: int = 0
    index_actions: dict = field(default_factory=dict)


@dataclass
class EmbeddedCall:
    call_id: str
    input_hash: str  # of the redacted transcript (+ consent) the vectors were computed from
    vectors_key: str  # object-store key of the float32 .npy, one row per chunk in ``chunk_transcript`` order


@dataclass
class EmbeddingsPart:
    """What one shard computed: where each call's vectors are (no text, no vectors),
    calls skipped as unchanged, and how many chunks took how long to encode."""

    model_version: str = ""
    calls: list[EmbeddedCall] = field(default_factory=list)
    skipped: int = 0
    texts: int = 0
    seconds: float = 0.0


def _input_hash(raw: bytes, rc: ReadyCall) -> str:
    return sha256_bytes(raw + str(rc.consent_training).encode())


def _chunks(raw: bytes, call_id: str) -> list:
    from pipeline.domain.search.chunking import chunk_transcript

    return chunk_transcript(Transcript.from_dict(json.loads(raw)), call_id)


def embeddings_partition(store: ObjectStore, ledger: Ledger, embedder: Any, index: Any, date: str,
                         shard: Shard | tuple[int, int] | None = None) -> EmbeddingsResult:
    """Embed the day's redacted calls (or those of ``shard``); remove calls that are no
    longer active."""
    return index_embeddings(store, ledger, index, date, [embed_part(store, ledger, embedder, date, shard)])


def embed_part(store: ObjectStore, ledger: Ledger, embedder: Any, date: str,
               shard: Shard | tuple[int, int] | None = None) -> EmbeddingsPart:
    """Encode the chunks of every ready call of ``shard`` (None: all) whose redacted
    transcript, consent or model changed since it was last indexed."""
    import time

    import numpy as np

    shard = as_shard(shard)
    part = EmbeddingsPart(model_version=embedder.model_version)
    code = f"{EMBEDDINGS_VERSION}:{embedder.model_version}"
    todo = []
    for rc in ready_calls(store, ledger, date):
        if not in_shard(rc.call_id, shard):
            continue
        raw = store.get_bytes(rc.keys.redacted_transcript)
        h = _input_hash(raw, rc)
        if ledger.is_current("embed", rc.call_id, h, code):
            part.skipped += 1
            continue
        chunks = _chunks(raw, rc.call_id)
        if chunks:
            todo.append((rc, h, chunks))
    if todo:
        # one encode over every chunk of the shard: batches stay full (a call alone
        # has a handful of chunks), which is what keeps the asset near bare-model speed
        texts = [c.text for _, _, chunks in todo for c in chunks]
        t0 = time.perf_counter()
        vectors = embedder.encode(texts)
        part.seconds = time.perf_counter() - t0
        part.texts = len(texts)
        offset = 0
        for rc, h, chunks in todo:
            vecs = np.asarray(vectors[offset:offset + len(chunks)], dtype="float32")
            offset += len(chunks)
            buf = io.BytesIO()
            np.save(buf, vecs, allow_pickle=False)
            store.put_bytes(rc.keys.embedding_vectors, buf.getvalue())
            part.calls.append(EmbeddedCall(rc.call_id, h, rc.keys.embedding_vectors))
    return part


def _load_vectors(store: ObjectStore, key: str) -> Any:
    import numpy as np

    return np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)


def index_embeddings(store: ObjectStore, ledger: Ledger, index: Any, date: str,
                     parts: Iterable[EmbeddingsPart]) -> EmbeddingsResult:
    """Write the parts' vectors to the index (one delete + one upsert for the partition),
    mark those calls done, remove calls that are no longer active and keep the day's
    call-level vectors. A call whose redacted transcript or consent changed after its
    shard encoded it, or that left, is not written (the next run embeds it again)."""
    import numpy as np
    import pandas as pd

    parts = list(parts)
    versions = {p.model_version for p in parts}
    if len(versions) > 1:
        raise ValueError(f"embedding parts from different models: {sorted(versions)}")
    model_version = versions.pop() if versions else ""
    res = EmbeddingsResult(model_version=model_version, skipped=sum(p.skipped for p in parts))
    texts, seconds = sum(p.texts for p in parts), sum(p.seconds for p in parts)
    res.sentences_per_second = texts / seconds if seconds else 0.0
    gone = [c["call_id"] for c in ledger.calls(call_date=date) if c["state"] != "active"]
    if gone:
        res.removed = index.delete_calls(gone)
    labels = latest_labels(ledger)
    embedded = {ec.call_id: ec for p in parts for ec in p.calls}
    rows: list[dict] = []
    call_vectors = []
    code = f"{EMBEDDINGS_VERSION}:{model_version}"
    done: list[tuple[ReadyCall, str]] = []
    for rc in ready_calls(store, ledger, date):  # the partition's order, however it was sharded
        ec = embedded.get(rc.call_id)
        if ec is None:
            continue
        raw = store.get_bytes(rc.keys.redacted_transcript)
        if _input_hash(raw, rc) != ec.input_hash:
            continue
        chunks = _chunks(raw, rc.call_id)
        vectors = _load_vectors(store, ec.vectors_key)
        if len(chunks) != len(vectors):
            raise ValueError(f"{rc.call_id}: {len(chunks)} chunks but {len(vectors)} vectors")
        outcome = (labels.get(rc.call_id) or {}).get("outcome") or ""
        for c, v in zip(chunks, vectors):
            res.residual_findings += len(residual_pii(c.text))
            rows.append({
                "chunk_id": c.chunk_id, "tenant": rc.tenant, "call_id": rc.call_id, "chunk_type": c.chunk_type,
                "speaker": c.speaker or "", "started_at": rc.started_at, "call_date": date, "outcome": outcome,
                "dataset_eligible": rc.consent_training, "model_version": model_version,
                "text": c.text, "vector": np.asarray(v, dtype="float32"),
            })
            if c.chunk_type == "call":
                call_vectors.append({"call_id": rc.call_id, "tenant": rc.tenant, "date": date,
                                     "vector": np.asarray(v, dtype="float32").tolist()})
        done.append((rc, ec.input_hash))
    if done:
        # one delete + one upsert per partition (per-call round trips dominated the asset)
        index.delete_calls([rc.call_id for rc, _ in done])
        index.upsert(rows)
        for rc, h in done:
            ledger.mark_processed("embed", rc.call_id, h, code, f"vector-index:{rc.call_id}")
        res.calls = len(done)
    res.chunks = len(rows)
    if res.calls or res.removed:
        res.index_actions = index.ensure_index()  # scalar indices; ANN once past the size threshold
    if call_vectors:
        key = call_vectors_key(date)
        old = []
        if store.exists(key):
            old = pd.read_parquet(io.BytesIO(store.get_bytes(key))).to_dict("records")
        done_ids = {r["call_id"] for r in call_vectors}
        merged = [r for r in old if r["call_id"] not in done_ids and r["call_id"] not in gone] + call_vectors
        buf = io.BytesIO()
        pd.DataFrame(merged).to_parquet(buf, index=False)
        store.put_bytes(key, buf.getvalue())
    return res

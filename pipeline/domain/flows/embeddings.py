"""The gold embeddings flow of one day partition: redacted transcripts chunked, embedded
in batches and upserted into the vector index. Called by ``gold/transcript_embeddings``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Transcript, sha256_bytes
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import ready_calls
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


def embeddings_partition(store: ObjectStore, ledger: Ledger, embedder: Any, index: Any, date: str) -> EmbeddingsResult:
    """Embed the day's redacted calls; remove calls that are no longer active."""
    import time

    import numpy as np
    import pandas as pd

    from pipeline.domain.search.chunking import chunk_transcript

    res = EmbeddingsResult(model_version=embedder.model_version)
    gone = [c["call_id"] for c in ledger.calls(call_date=date) if c["state"] != "active"]
    if gone:
        res.removed = index.delete_calls(gone)
    labels = latest_labels(ledger)
    rows: list[dict] = []
    call_vectors = []
    code = f"{EMBEDDINGS_VERSION}:{embedder.model_version}"
    todo = []
    for rc in ready_calls(store, ledger, date):
        raw = store.get_bytes(rc.keys.redacted_transcript)
        h = sha256_bytes(raw + str(rc.consent_training).encode())
        if ledger.is_current("embed", rc.call_id, h, code):
            res.skipped += 1
            continue
        chunks = chunk_transcript(Transcript.from_dict(json.loads(raw)), rc.call_id)
        if chunks:
            todo.append((rc, h, chunks))
    if todo:
        # one encode over every chunk of the partition: batches stay full (a call alone
        # has a handful of chunks), which is what keeps the asset near bare-model speed
        texts = [c.text for _, _, chunks in todo for c in chunks]
        t0 = time.perf_counter()
        vectors = embedder.encode(texts)
        elapsed = time.perf_counter() - t0
        res.sentences_per_second = len(texts) / elapsed if elapsed else 0.0
        offset = 0
        for rc, h, chunks in todo:
            vecs = vectors[offset:offset + len(chunks)]
            offset += len(chunks)
            outcome = (labels.get(rc.call_id) or {}).get("outcome") or ""
            new_rows = []
            for c, v in zip(chunks, vecs):
                res.residual_findings += len(residual_pii(c.text))
                new_rows.append({
                    "chunk_id": c.chunk_id, "tenant": rc.tenant, "call_id": rc.call_id, "chunk_type": c.chunk_type,
                    "speaker": c.speaker or "", "started_at": rc.started_at, "call_date": date, "outcome": outcome,
                    "dataset_eligible": rc.consent_training, "model_version": embedder.model_version,
                    "text": c.text, "vector": np.asarray(v, dtype="float32"),
                })
                if c.chunk_type == "call":
                    call_vectors.append({"call_id": rc.call_id, "tenant": rc.tenant, "date": date,
                                         "vector": np.asarray(v, dtype="float32").tolist()})
            rows.extend(new_rows)
        # one delete + one upsert per partition (per-call round trips dominated the asset)
        index.delete_calls([rc.call_id for rc, _, _ in todo])
        index.upsert(rows)
        for rc, h, _ in todo:
            ledger.mark_processed("embed", rc.call_id, h, code, f"vector-index:{rc.call_id}")
        res.calls = len(todo)
    res.chunks = len(rows)
    if res.calls or res.removed:
        res.index_actions = index.ensure_index()  # scalar indices; ANN once past the size threshold
    if call_vectors:
        key = f"gold/transcript_embeddings/{date}/call_vectors.parquet"
        old = []
        if store.exists(key):
            old = pd.read_parquet(io.BytesIO(store.get_bytes(key))).to_dict("records")
        done = {r["call_id"] for r in call_vectors}
        merged = [r for r in old if r["call_id"] not in done and r["call_id"] not in gone] + call_vectors
        buf = io.BytesIO()
        pd.DataFrame(merged).to_parquet(buf, index=False)
        store.put_bytes(key, buf.getvalue())
    return res

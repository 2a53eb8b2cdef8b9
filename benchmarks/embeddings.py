"""Embedding throughput: ``Embedder.encode`` (the path the embeddings asset uses) vs a
bare ``SentenceTransformer.encode`` loop on the same chunk texts.

Chunk texts are built from the Banking77 customer queries (../shared/data/banking77,
CC-BY-4.0) the way the chunker shapes them: single turns, plus sliding windows of 3
consecutive turns, so lengths vary like real turn/window chunks.

* asset_sentences_per_second: ``Embedder(batch_size=B).encode(texts)`` (length-sorted
  batches, order restored, float32 output).
* bare_sentences_per_second: ``for batch in chunks(texts, B): model.encode(batch)`` on
  the same loaded model (the plain loop a hand-written script would use).
* bare_single_call_sentences_per_second: one ``model.encode(texts, batch_size=B)``
  (sentence-transformers also sorts by length internally) - the fairest upper bound.

* through_asset_sentences_per_second (with ``--through-asset``, the default): the real
  gold/transcript_embeddings asset materialised with Dagster over synthetic redacted
  calls built from the same queries (chunking, one encode per partition, LanceDB upserts,
  ledger bookkeeping included); through_asset_vs_bare_ratio compares it with one bare
  ``model.encode`` call over the very chunk texts the asset embedded.

Each measurement is repeated ``--repeats`` times, interleaved, and the best run kept
(the machine is shared; load average is reported). Prints ONE JSON object.

    .venv/bin/python benchmarks/embeddings.py [--n 3000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.domain.search.embedding import Embedder

DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"


def chunk_texts(n: int) -> list[str]:
    """``n`` chunk-like texts: turns and 3-turn windows, interleaved."""
    if not DATA.exists():
        raise SystemExit(f"benchmark data not found: {DATA}")
    with DATA.open(newline="", encoding="utf-8") as f:
        turns = [row["text"].strip() for row in csv.DictReader(f) if row["text"].strip()]
    out: list[str] = []
    i = 0
    while len(out) < n:
        a = turns[i % len(turns)]
        out.append(a)
        if len(out) < n:
            window = " ".join(turns[(i + j) % len(turns)] for j in range(3))
            out.append(window)
        i += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="number of chunk texts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--calls", type=int, default=500, help="synthetic calls for the asset measurement")
    ap.add_argument("--no-asset", action="store_true", help="skip the through-the-asset measurement")
    args = ap.parse_args()

    import torch

    texts = chunk_texts(args.n)
    embedder = Embedder(batch_size=args.batch_size)
    model = embedder.model
    embedder.encode(texts[:64])  # warm-up (kernels, tokenizer caches)
    model.encode(texts[:64], batch_size=args.batch_size, show_progress_bar=False)

    def asset() -> None:
        embedder.encode(texts)

    def bare_loop() -> None:
        for s in range(0, len(texts), args.batch_size):
            model.encode(texts[s : s + args.batch_size], batch_size=args.batch_size,
                         convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)

    def bare_single() -> None:
        model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True,
                     normalize_embeddings=True, show_progress_bar=False)

    best = {"asset": float("inf"), "bare": float("inf"), "bare_single": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("asset", asset), ("bare", bare_loop), ("bare_single", bare_single)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)

    through = {} if args.no_asset else through_asset(args.calls, model, args.batch_size)
    n = len(texts)
    asset_sps = n / best["asset"]
    bare_sps = n / best["bare"]
    single_sps = n / best["bare_single"]
    print(json.dumps({
        "asset_sentences_per_second": round(asset_sps, 1),
        "bare_sentences_per_second": round(bare_sps, 1),
        "asset_vs_bare_ratio": round(asset_sps / bare_sps, 3),
        "bare_single_call_sentences_per_second": round(single_sps, 1),
        "asset_vs_bare_single_call_ratio": round(asset_sps / single_sps, 3),
        "texts": n,
        "mean_chars": round(sum(map(len, texts)) / n, 1),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "model_version": embedder.model_version,
        "load_average_1m": round(os.getloadavg()[0], 2),
        **through,
    }))


def through_asset(n_calls: int, model, batch_size: int) -> dict:
    """Materialise gold/transcript_embeddings over ``n_calls`` synthetic redacted calls."""
    import tempfile
    from datetime import datetime, timezone

    import dagster as dg

    from assets.gold import transcript_embeddings
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.ledger import Ledger
    from pipeline.domain.core.models import CallMetadata, Consent, Segment, Transcript
    from pipeline.domain.core.storage import LocalObjectStore
    from pipeline.domain.search.chunking import chunk_transcript
    from resources.embedder import EmbedderResource
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource
    from resources.vector_index import VectorIndexResource

    turns = chunk_texts(n_calls * 8)[::2]  # single turns
    date = "2026-11-01"
    with tempfile.TemporaryDirectory(prefix="callforge_emb_bench_") as tmp:
        store, ledger = LocalObjectStore(Path(tmp) / "objects"), Ledger(f"sqlite:///{tmp}/ledger.db")
        ledger.create_all()
        chunk_texts_all = []
        for i in range(n_calls):
            cid = f"bench_{i:05d}"
            segs = [Segment(speaker="customer" if j % 2 else "agent", start=j * 5.0, end=j * 5.0 + 4.0,
                            text=turns[(i * 4 + j) % len(turns)]) for j in range(4)]
            t = Transcript(source_format="asr", segments=segs, call_id=cid)
            meta = CallMetadata(cid, "bench", datetime(2026, 11, 1, 9, tzinfo=timezone.utc), "agent", "inbound",
                                Consent("granted", True))
            ledger.upsert_call(meta, cid)
            store.put_json(CallKeys(date, "bench", cid).redacted_transcript, t.to_dict())
            chunk_texts_all += [c.text for c in chunk_transcript(t, cid)]
        resources = {"object_store": ObjectStoreResource(backend="local", root=str(Path(tmp) / "objects")),
                     "ledger": LedgerResource(url=f"sqlite:///{tmp}/ledger.db"),
                     "embedder": EmbedderResource(batch_size=batch_size),
                     "vector_index": VectorIndexResource(lancedb_uri=str(Path(tmp) / "lancedb"))}
        instance = dg.DagsterInstance.ephemeral()
        t0 = time.perf_counter()
        res = dg.materialize([transcript_embeddings], partition_key=date, resources=resources, instance=instance)
        asset_s = time.perf_counter() - t0
        assert res.success
        t0 = time.perf_counter()
        model.encode(chunk_texts_all, batch_size=batch_size, convert_to_numpy=True,
                     normalize_embeddings=True, show_progress_bar=False)
        bare_s = time.perf_counter() - t0
    n = len(chunk_texts_all)
    return {"through_asset_calls": n_calls, "through_asset_chunks": n,
            "through_asset_sentences_per_second": round(n / asset_s, 1),
            "through_asset_bare_sentences_per_second": round(n / bare_s, 1),
            "through_asset_vs_bare_ratio": round(bare_s / asset_s, 3),
            "through_asset_note": "asset wall time includes Dagster run start, chunking, LanceDB writes, ledger"}


if __name__ == "__main__":
    main()

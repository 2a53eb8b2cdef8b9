"""Helpers shared by the benchmarks: Banking77 loading and cached product embeddings."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def load_banking77(path: Path) -> tuple[list[str], list[str]]:
    """(texts, categories) of a Banking77-style CSV (columns text, category)."""
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def cached_embeddings(texts: list[str], name: str, use_cache: bool = True) -> tuple[np.ndarray, dict]:
    """The product embedder's vectors for ``texts``, cached under ``benchmarks/out/`` by
    model version and a hash of the texts (``name`` prefixes the file)."""
    from pipeline.domain.search.embedding import Embedder

    emb = Embedder()
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    h.update(emb.model_version.encode())
    path = OUT / f"{name}_{emb.model_version}_{h.hexdigest()[:16]}.npy"
    info = {"model_version": emb.model_version, "cache": str(path.relative_to(ROOT))}
    if use_cache and path.is_file():
        x = np.load(path)
        if x.shape[0] == len(texts):
            return x, {**info, "cache_hit": True, "embed_seconds": 0.0}
    t0 = time.perf_counter()
    x = emb.encode(texts)
    info.update(cache_hit=False, embed_seconds=round(time.perf_counter() - t0, 1))
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    tmp.replace(path)
    return x, info

"""Choosing a vector index backend by name, and searching chunks by query text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.domain.search.index import VectorIndex, validate_tenant
from pipeline.domain.search.lance_index import LanceDBIndex
from pipeline.domain.search.weaviate_index import WeaviateIndex

if TYPE_CHECKING:  # pragma: no cover - typing only

    from pipeline.domain.search.embedding import Embedder

# --------------------------------------------------------------------------------------
# factory and search API
# --------------------------------------------------------------------------------------

BACKENDS = ("lancedb", "weaviate")


def make_index(backend: str, **kwargs: Any) -> VectorIndex:
    """Build a vector index: ``"lancedb"`` -> `LanceDBIndex`, ``"weaviate"`` -> `WeaviateIndex`."""
    if backend == "lancedb":
        return LanceDBIndex(**kwargs)
    if backend == "weaviate":
        return WeaviateIndex(**kwargs)
    raise ValueError(f"unknown vector index backend {backend!r}; choose one of {BACKENDS}")


def search_chunks(
    index: VectorIndex,
    embedder: "Embedder",
    query: str,
    tenant: str,
    k: int = 10,
    filters: dict[str, Any] | None = None,
    same_model: bool = True,
) -> list[dict[str, Any]]:
    """Embed ``query`` and return the tenant's ``k`` nearest chunks.

    With ``same_model`` (default) only rows embedded by ``embedder.model_version`` are
    searched: vectors from another model are not comparable. Pass a ``model_version``
    filter yourself to override.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty string")
    validate_tenant(tenant)
    flt = dict(filters or {})
    if same_model and "model_version" not in flt:
        flt["model_version"] = embedder.model_version
    vec = embedder.encode_one(query)
    return index.search(vec, tenant=tenant, k=k, filters=flt)

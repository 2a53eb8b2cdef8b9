"""`LanceDBIndex`: the embedded default vector index (a folder on disk). Exercised by the
tests and by ``benchmarks/search.py`` (1M rows). lancedb, pyarrow and numpy are imported
lazily.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pipeline.domain.search.index import (
    LANCE_FILE_VERSION,
    MAX_IN_VALUES,
    ROW_FIELDS,
    Clause,
    VectorIndexError,
    as_query_vector,
    check_k,
    lance_where,
    normalize_filters,
    normalize_rows,
    sql_literal,
    validate_id,
    validate_tenant,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import pyarrow as pa


# --------------------------------------------------------------------------------------
# LanceDB
# --------------------------------------------------------------------------------------


def lance_schema(dim: int) -> "pa.Schema":
    """Arrow schema of the LanceDB chunk table."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("tenant", pa.string(), nullable=False),
            pa.field("call_id", pa.string(), nullable=False),
            pa.field("chunk_type", pa.string(), nullable=False),
            pa.field("speaker", pa.string()),
            pa.field("started_at", pa.string(), nullable=False),
            pa.field("call_date", pa.string(), nullable=False),
            pa.field("outcome", pa.string()),
            pa.field("dataset_eligible", pa.bool_(), nullable=False),
            pa.field("model_version", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def rows_to_arrow(metas: list[dict[str, Any]], vectors: "np.ndarray", dim: int) -> "pa.Table":
    """Build an Arrow table in `lance_schema` order from validated rows."""
    import numpy as np
    import pyarrow as pa

    schema = lance_schema(dim)
    cols: dict[str, Any] = {f: [m[f] for m in metas] for f in ROW_FIELDS}
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    cols["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.Table.from_pydict(cols, schema=schema)


class LanceDBIndex:
    """Embedded LanceDB vector index (one table; tenant is a prefiltered column).

    Args:
        uri: database folder (or any LanceDB URI).
        table: table name.
        dim: vector dimension.
        ann_threshold: `ensure_index` builds the ANN index once the table has this
            many rows; below it search is exact (flat scan of the tenant's rows).
        nprobes: IVF partitions probed per query.
        refine_factor: re-rank ``k * refine_factor`` candidates with full vectors
            (None: off; useful with IVF_PQ).
        index_type: ``IVF_SQ`` (default), ``IVF_PQ``, ``IVF_HNSW_SQ`` or ``IVF_HNSW_PQ``.
            Measured on the shared 2-core build machine (benchmarks/search.py): IVF_SQ
            indexes 1M x 384 in 25-50 s with tenant-filtered recall@10 ~0.98 at nprobes
            8-16; IVF_PQ took 260-400 s for 100k rows and reached only 0.74 recall
            (nprobes 20, refine 10) on the same kind of data.
        num_partitions: IVF partitions; None -> rows // 4000 clamped to 16..1024
            (~256 at 1M rows; LanceDB's sqrt(rows)=1000 built 3x slower and searched
            slower with a tenant prefilter).
        num_sub_vectors: PQ sub-vectors (None: dim/16).

    Search is one ANN query with the tenant (and filters) as a prefilter and the row
    fields projected for the ``k`` hits. New tables are written in Lance file format
    `LANCE_FILE_VERSION` (2.1): measured at 1M rows it halves the cost of reading the
    hit rows' fields against 2.2, lancedb 0.40's default. A table created earlier keeps
    its format (appends, compaction and indices do not change it); to move it, create a
    new table through this class and re-add the rows (``add_arrow``), then
    ``ensure_index``.
    """

    METRIC = "cosine"

    def __init__(
        self,
        uri: str,
        table: str = "chunks",
        dim: int = 384,
        ann_threshold: int = 50_000,
        nprobes: int = 16,
        refine_factor: int | None = None,
        index_type: str = "IVF_SQ",
        num_partitions: int | None = None,
        num_sub_vectors: int | None = None,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not re.match(r"^[A-Za-z0-9_-]{1,128}$", table):
            raise ValueError(f"invalid table name {table!r}")
        if index_type not in ("IVF_PQ", "IVF_SQ", "IVF_HNSW_SQ", "IVF_HNSW_PQ"):
            raise ValueError(f"unsupported index_type {index_type!r}")
        self.uri = str(uri)
        self.table_name = table
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.nprobes = nprobes
        self.refine_factor = refine_factor
        self.index_type = index_type
        self.num_partitions = num_partitions
        self.num_sub_vectors = num_sub_vectors
        self._db: Any = None
        self._tbl: Any = None

    def __repr__(self) -> str:
        return f"LanceDBIndex(uri={self.uri!r}, table={self.table_name!r}, dim={self.dim})"

    # -- table ----------------------------------------------------------------------
    def table(self) -> Any:
        """The LanceDB table, created empty with `lance_schema` on first use."""
        if self._tbl is None:
            from datetime import timedelta

            import lancedb

            # strong read consistency: deletes by other processes (retention, erasure)
            # must be visible at once, never served from a stale snapshot
            # NEW tables are written in Lance file format 2.1 (`LANCE_FILE_VERSION`); an
            # existing table keeps the format it was created with (see the class notes)
            self._db = lancedb.connect(
                self.uri,
                read_consistency_interval=timedelta(0),
                storage_options={"new_table_data_storage_version": LANCE_FILE_VERSION},
            )
            try:
                try:
                    self._tbl = self._db.open_table(self.table_name)
                except (ValueError, FileNotFoundError):  # no such table yet
                    self._tbl = self._db.create_table(
                        self.table_name, schema=lance_schema(self.dim), exist_ok=True
                    )
            except Exception as e:
                raise VectorIndexError(
                    f"cannot open LanceDB table {self.table_name!r} at {self.uri}: {e}"
                ) from e
            field = self._tbl.schema.field("vector")
            if getattr(field.type, "list_size", self.dim) != self.dim:
                raise VectorIndexError(
                    f"table {self.table_name!r} at {self.uri} holds {field.type.list_size}-d "
                    f"vectors, index configured for {self.dim}"
                )
        return self._tbl

    def _has_vector_index(self) -> bool:
        return any("vector" in cfg.columns for cfg in self.table().list_indices())

    # -- writes ---------------------------------------------------------------------
    def upsert(self, rows: list[dict[str, Any]]) -> int:
        """Insert or replace rows by ``chunk_id`` (merge-insert); returns rows written."""
        metas, vecs = normalize_rows(rows, self.dim)
        if not metas:
            return 0
        data = rows_to_arrow(metas, vecs, self.dim)
        tbl = self.table()
        (
            tbl.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(data)
        )
        return len(metas)

    def add_arrow(self, data: "pa.Table") -> int:
        """Bulk-append an Arrow table in `lance_schema` WITHOUT upsert semantics.

        For backfills and benchmarks where chunk ids are known to be new; use
        `upsert` otherwise.
        """
        if data.schema.names != list(lance_schema(self.dim).names):
            raise ValueError(f"add_arrow expects columns {lance_schema(self.dim).names}")
        self.table().add(data)
        return data.num_rows

    def delete_calls(self, call_ids: list[str], tenant: str | None = None) -> int:
        """Delete all chunks of ``call_ids`` (in ``tenant`` only, if given)."""
        ids = sorted({validate_id("call_id", c) for c in call_ids})
        if not ids:
            return 0
        tbl = self.table()
        deleted = 0
        for start in range(0, len(ids), MAX_IN_VALUES):
            where = lance_where(tenant, [Clause("call_id", "in", tuple(ids[start : start + MAX_IN_VALUES]))])
            n = tbl.count_rows(where)
            if n:
                tbl.delete(where)
                deleted += n
        return deleted

    # -- reads ----------------------------------------------------------------------
    def search(
        self, query_vector: Any, tenant: str, k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Top-``k`` chunks of ``tenant`` nearest to ``query_vector`` (cosine)."""
        validate_tenant(tenant)
        check_k(k)
        vec = as_query_vector(query_vector, self.dim)
        where = lance_where(tenant, normalize_filters(filters))
        tbl = self.table()
        q = (
            tbl.search(vec, vector_column_name="vector")
            .distance_type(self.METRIC)
            .where(where, prefilter=True)
            .limit(k)
            .nprobes(self.nprobes)
        )
        if self.refine_factor:
            q = q.refine_factor(self.refine_factor)
        # One step: ANN top-k (tenant prefilter through the BITMAP index) with the row
        # fields late-materialised for the k hits only. Measured at 1M rows (see
        # benchmarks/search.py) faster than the former two-step search (ANN ids, then
        # take_row_ids of the fields), which also needed a row-id recheck against
        # concurrent compaction; one query reads one consistent table version.
        hits = q.select([*ROW_FIELDS, "_distance"]).to_arrow().to_pylist()
        out = []
        for h in hits:
            r = {f: h[f] for f in ROW_FIELDS}
            d = float(h["_distance"])
            r["distance"] = d
            r["score"] = 1.0 - d
            out.append(r)
        return out

    def count(self, tenant: str | None = None) -> int:
        """Row count, overall or for one tenant."""
        return int(self.table().count_rows(lance_where(tenant)))

    def _distinct_call_ids(self, where: str | None) -> set[str]:
        import pyarrow.compute as pc

        q = self.table().search().select(["call_id"]).limit(None)
        if where:
            q = q.where(where)
        col = q.to_arrow().column("call_id")
        return set(pc.unique(col).to_pylist())

    def call_ids(self, tenant: str | None = None) -> set[str]:
        """Distinct call ids, overall or for one tenant."""
        return self._distinct_call_ids(lance_where(tenant))

    def stale_model_calls(self, model_version: str) -> set[str]:
        """Calls with any chunk whose ``model_version`` differs from ``model_version``."""
        mv = validate_id("model_version", model_version)
        return self._distinct_call_ids(f"model_version != {sql_literal(mv)}")

    def sample_vectors(self, tenant: str, n: int, seed: int = 0) -> "np.ndarray":
        """Up to ``n`` vectors of ``tenant`` chosen uniformly at random (seeded)."""
        import numpy as np

        validate_tenant(tenant)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        tbl = self.table()
        ids = (
            tbl.search()
            .where(lance_where(tenant))
            .select(["tenant"])
            .with_row_id(True)
            .limit(None)
            .to_arrow()
            .column("_rowid")
            .to_numpy()
        )
        if ids.size == 0:
            return np.zeros((0, self.dim), np.float32)
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(ids, size=min(n, ids.size), replace=False))
        vec_col = tbl.take_row_ids([int(i) for i in pick]).select(["vector"]).to_arrow().column("vector")
        flat = vec_col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(-1, self.dim)

    # -- maintenance ----------------------------------------------------------------
    def ensure_index(self) -> dict[str, Any]:
        """Create scalar indices (tenant BITMAP, call_id/chunk_id BTREE) and, once the
        table has ``ann_threshold`` rows, the ANN vector index; fold new rows into
        existing indices (``optimize``). Returns a summary of the actions."""
        tbl = self.table()
        rows = tbl.count_rows()
        actions: list[str] = []
        if rows == 0:
            return {"rows": 0, "actions": actions, "ann": False}
        from lancedb.index import Bitmap, BTree

        existing = {tuple(cfg.columns): cfg for cfg in tbl.list_indices()}
        for col, kind in (("tenant", "BITMAP"), ("call_id", "BTREE"), ("chunk_id", "BTREE")):
            if (col,) not in existing:
                tbl.create_index(col, config=Bitmap() if kind == "BITMAP" else BTree())
                actions.append(f"scalar:{col}:{kind}")
        frag = (tbl.stats() or {}).get("fragment_stats", {})
        if frag.get("num_small_fragments", 0) >= 8:  # many small appends: compact first
            tbl.optimize()
            actions.append("compact")
            existing = {tuple(cfg.columns): cfg for cfg in tbl.list_indices()}
        ann = ("vector",) in existing
        if not ann and rows >= self.ann_threshold:
            tbl.create_index("vector", config=self._vector_index_config(rows))
            actions.append(f"vector:{self.index_type}")
            ann = True
        elif "compact" not in actions and any(
            (cfg.num_unindexed_rows or 0) > 0 for cfg in existing.values()
        ):
            tbl.optimize()
            actions.append("optimize")
        return {"rows": rows, "actions": actions, "ann": ann}

    def _vector_index_config(self, rows: int) -> Any:
        from lancedb.index import HnswPq, HnswSq, IvfPq, IvfSq

        parts = self.num_partitions or min(1024, max(16, rows // 4000))
        if self.index_type == "IVF_PQ":
            return IvfPq(
                distance_type=self.METRIC,
                num_partitions=parts,
                num_sub_vectors=self.num_sub_vectors,
            )
        if self.index_type == "IVF_SQ":
            return IvfSq(distance_type=self.METRIC, num_partitions=parts)
        if self.index_type == "IVF_HNSW_SQ":
            return HnswSq(distance_type=self.METRIC, num_partitions=parts)
        return HnswPq(
            distance_type=self.METRIC, num_partitions=parts, num_sub_vectors=self.num_sub_vectors
        )

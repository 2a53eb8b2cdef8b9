"""Vector index for redacted call chunks: one interface, two backends.

* `VectorIndex` - the backend-neutral protocol the pipeline codes against.
* `LanceDBIndex` - embedded default (a folder on disk). Exercised by the tests and by
  ``benchmarks/search.py`` (1M rows).
* `WeaviateIndex` - production backend (weaviate-client v4, one Weaviate tenant per
  customer tenant).

What was and was NOT exercised for Weaviate
-------------------------------------------
No Weaviate server can run on the build machine (embedded mode downloads a server binary
from GitHub; there is no Docker). `WeaviateIndex` was written against the installed
weaviate-client 4.23.1 source and only its server-free parts are tested: deterministic
UUIDs, object/property building, filter building, tenant-name validation, the batch
retry loop and its error summary (driven by a fake sender), and result mapping. Never
run against a live server: collection creation, tenant creation, ``insert_many``,
``delete_many``, ``near_vector``, aggregates and iterators. Run the resource tests
against a real Weaviate (``docker run cr.weaviate.io/semitechnologies/weaviate``) before
relying on it in production.

Security / isolation
--------------------
``search`` REQUIRES a tenant, and every backend applies it inside the query (LanceDB:
SQL prefilter; Weaviate: the tenant's own shard). Tenants must match
``[A-Za-z0-9_-]{1,64}`` (Weaviate's tenant-name rule, enforced for both backends so data
can move between them). Filter fields come from an allow-list and every string value is
quoted with `sql_literal` (single quotes doubled; control characters rejected), so call
ids or tenants cannot inject SQL.

Rows (`ROW_FIELDS`): chunk_id, tenant, call_id, chunk_type, speaker, started_at (ISO
str), call_date (YYYY-MM-DD), outcome, dataset_eligible, model_version, text (REDACTED
chunk text), vector (float32[dim]). ``search`` returns rows without the vector, plus
``distance`` (cosine distance) and ``score`` (1 - distance, cosine similarity).

Pure domain code: lancedb, pyarrow, numpy and weaviate are imported lazily.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence, runtime_checkable
from urllib.parse import urlparse

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import pyarrow as pa

    from pipeline.domain.embedding import Embedder

log = logging.getLogger(__name__)

ROW_FIELDS: tuple[str, ...] = (
    "chunk_id",
    "tenant",
    "call_id",
    "chunk_type",
    "speaker",
    "started_at",
    "call_date",
    "outcome",
    "dataset_eligible",
    "model_version",
    "text",
)
_REQUIRED_STR = ("chunk_id", "tenant", "call_id", "chunk_type", "model_version", "text")
_OPTIONAL_STR = ("speaker", "outcome")
RESULT_EXTRA = ("distance", "score")

# filterable field -> python type of its values
FILTER_FIELDS: dict[str, type] = {
    "chunk_id": str,
    "call_id": str,
    "chunk_type": str,
    "speaker": str,
    "started_at": str,
    "call_date": str,
    "outcome": str,
    "dataset_eligible": bool,
    "model_version": str,
}
RANGE_FIELDS = frozenset({"started_at", "call_date"})
RANGE_OPS: dict[str, str] = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
MAX_IN_VALUES = 1000

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_ID_LEN = 512
# Lance data file format for NEW LanceDB tables. Measured on a 1M x 384 table
# (benchmarks/search.py, 2-core machine): searching with the row fields projected took
# p50 ~20-26 ms in format 2.1 against ~38-52 ms in 2.2 (lancedb 0.40's default): 2.1's
# random access to the few hit rows is cheaper.
LANCE_FILE_VERSION = "2.1"


class VectorIndexError(RuntimeError):
    """A vector-index operation failed (backend error, failed import, bad state)."""


# --------------------------------------------------------------------------------------
# validation and filters (shared by both backends)
# --------------------------------------------------------------------------------------


def validate_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is a valid tenant name, else raise ``ValueError``."""
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise ValueError(
            f"invalid tenant {tenant!r}: must be 1-64 characters of letters, digits, '_' or '-'"
        )
    return tenant


def _validate_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {type(value).__name__}")
    if len(value) > MAX_ID_LEN:
        raise ValueError(f"{name} is longer than {MAX_ID_LEN} characters")
    if _CONTROL_RE.search(value):
        raise ValueError(f"{name} contains control characters")
    return value


def sql_literal(value: object) -> str:
    """Render ``value`` as a SQL literal for LanceDB (DataFusion) filters.

    Strings are single-quoted with embedded quotes doubled (backslashes are literal in
    DataFusion string literals); control characters are rejected; bools become
    ``true``/``false``; finite ints/floats are rendered with ``repr``.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number in filter")
        return repr(value)
    if isinstance(value, str):
        if _CONTROL_RE.search(value):
            raise ValueError("filter value contains control characters")
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot use a {type(value).__name__} as a filter value")


@dataclass(frozen=True)
class Clause:
    """One normalised filter condition: ``field op value``.

    ``op`` is ``eq``, ``in`` (value is a tuple), ``is_null`` (value None) or a range op
    (``gte``, ``gt``, ``lte``, ``lt``).
    """

    field: str
    op: str
    value: Any


def normalize_filters(filters: dict[str, Any] | None) -> list[Clause]:
    """Validate a user filter dict and turn it into clauses.

    Accepted forms per field: a scalar (equality), a list/tuple/set (membership, at
    most `MAX_IN_VALUES`), ``None`` (is null), and for ``started_at`` / ``call_date`` a
    dict of range operators ``{"gte": ..., "lt": ...}``. ``tenant`` is not a filter: it
    is the required argument of ``search``.
    """
    if filters is None:
        return []
    if not isinstance(filters, dict):
        raise TypeError(f"filters must be a dict, got {type(filters).__name__}")
    clauses: list[Clause] = []
    for field, spec in filters.items():
        if field == "tenant":
            raise ValueError("'tenant' is not a filter: pass it as the tenant argument")
        if field not in FILTER_FIELDS:
            raise ValueError(
                f"unknown filter field {field!r}; allowed: {', '.join(sorted(FILTER_FIELDS))}"
            )
        typ = FILTER_FIELDS[field]

        def check(v: Any, _field: str = field, _typ: type = typ) -> Any:
            if _typ is bool:
                if not isinstance(v, bool):
                    raise TypeError(f"filter {_field!r} takes a bool, got {type(v).__name__}")
            elif not isinstance(v, str):
                raise TypeError(f"filter {_field!r} takes a string, got {type(v).__name__}")
            sql_literal(v)  # rejects control characters early
            return v

        if spec is None:
            clauses.append(Clause(field, "is_null", None))
        elif isinstance(spec, dict):
            if field not in RANGE_FIELDS:
                raise ValueError(f"range filter is only allowed on {sorted(RANGE_FIELDS)}")
            if not spec:
                raise ValueError(f"empty range for filter {field!r}")
            for op, v in spec.items():
                if op not in RANGE_OPS:
                    raise ValueError(f"unknown range operator {op!r}; allowed {sorted(RANGE_OPS)}")
                clauses.append(Clause(field, op, check(v)))
        elif isinstance(spec, (list, tuple, set, frozenset)):
            values = tuple(check(v) for v in spec)
            if not values:
                raise ValueError(f"empty value list for filter {field!r}")
            if len(values) > MAX_IN_VALUES:
                raise ValueError(f"more than {MAX_IN_VALUES} values for filter {field!r}")
            clauses.append(Clause(field, "in", tuple(sorted(set(values), key=str))))
        else:
            clauses.append(Clause(field, "eq", check(spec)))
    return clauses


def lance_where(tenant: str | None, clauses: Sequence[Clause] = ()) -> str | None:
    """SQL ``WHERE`` text for LanceDB: tenant (validated) AND the clauses."""
    parts: list[str] = []
    if tenant is not None:
        parts.append(f"tenant = {sql_literal(validate_tenant(tenant))}")
    for c in clauses:
        if c.field not in FILTER_FIELDS:  # defence in depth: column names never from input
            raise ValueError(f"unknown filter field {c.field!r}")
        if c.op == "eq":
            parts.append(f"{c.field} = {sql_literal(c.value)}")
        elif c.op == "in":
            parts.append(f"{c.field} IN ({', '.join(sql_literal(v) for v in c.value)})")
        elif c.op == "is_null":
            parts.append(f"{c.field} IS NULL")
        elif c.op in RANGE_OPS:
            parts.append(f"{c.field} {RANGE_OPS[c.op]} {sql_literal(c.value)}")
        else:
            raise ValueError(f"unknown filter operator {c.op!r}")
    return " AND ".join(f"({p})" for p in parts) if parts else None


def _iso_datetime(value: Any, field: str, index: int) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError as e:
            raise ValueError(f"row {index}: {field} is not an ISO datetime: {value!r}") from e
        return value
    raise ValueError(f"row {index}: {field} must be an ISO string or datetime")


def normalize_rows(rows: Iterable[dict[str, Any]], dim: int) -> tuple[list[dict[str, Any]], "np.ndarray"]:
    """Validate rows and split them into metadata dicts and an ``(n, dim)`` float32 array.

    Duplicate ``chunk_id`` values in one call keep the LAST row (upsert semantics).
    ``call_date`` defaults to the UTC date of ``started_at``. Raises ``ValueError``
    naming the row index and field on any bad value.
    """
    import numpy as np

    by_id: dict[str, int] = {}
    metas: list[dict[str, Any]] = []
    vecs: list[Any] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {i}: expected a dict, got {type(row).__name__}")
        unknown = set(row) - set(ROW_FIELDS) - {"vector"}
        if unknown:
            raise ValueError(f"row {i}: unknown fields {sorted(unknown)}")
        meta: dict[str, Any] = {}
        for f in _REQUIRED_STR:
            if f not in row:
                raise ValueError(f"row {i}: missing field {f!r}")
        try:
            meta["tenant"] = validate_tenant(row["tenant"])
        except ValueError as e:
            raise ValueError(f"row {i}: {e}") from None
        for f in ("chunk_id", "call_id", "chunk_type", "model_version"):
            try:
                meta[f] = _validate_id(f, row[f])
            except ValueError as e:
                raise ValueError(f"row {i}: {e}") from None
        if not isinstance(row["text"], str):
            raise ValueError(f"row {i}: text must be a string")
        meta["text"] = row["text"]
        for f in _OPTIONAL_STR:
            v = row.get(f)
            if v is not None and not isinstance(v, str):
                raise ValueError(f"row {i}: {f} must be a string or None")
            meta[f] = v
        if "started_at" not in row or row["started_at"] is None:
            raise ValueError(f"row {i}: missing field 'started_at'")
        meta["started_at"] = _iso_datetime(row["started_at"], "started_at", i)
        cd = row.get("call_date")
        if cd is None:
            dt = datetime.fromisoformat(meta["started_at"])
            if dt.tzinfo is not None:
                dt = dt.astimezone(timezone.utc)
            cd = dt.date().isoformat()
        elif isinstance(cd, date):
            cd = cd.isoformat()
        try:
            date.fromisoformat(cd)
        except (TypeError, ValueError) as e:
            raise ValueError(f"row {i}: call_date is not YYYY-MM-DD: {cd!r}") from e
        meta["call_date"] = cd
        de = row.get("dataset_eligible", False)
        if not isinstance(de, bool):
            raise ValueError(f"row {i}: dataset_eligible must be a bool")
        meta["dataset_eligible"] = de
        if "vector" not in row:
            raise ValueError(f"row {i}: missing field 'vector'")
        v = np.asarray(row["vector"], dtype=np.float32)
        if v.shape != (dim,):
            raise ValueError(f"row {i}: vector has shape {v.shape}, expected ({dim},)")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"row {i}: vector has NaN or infinite values")
        if meta["chunk_id"] in by_id:
            j = by_id[meta["chunk_id"]]
            metas[j], vecs[j] = meta, v
        else:
            by_id[meta["chunk_id"]] = len(metas)
            metas.append(meta)
            vecs.append(v)
    arr = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32)
    return metas, arr


def _query_vector(query_vector: Any, dim: int) -> "np.ndarray":
    import numpy as np

    v = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if v.shape != (dim,):
        raise ValueError(f"query vector has {v.size} values, expected {dim}")
    if not np.all(np.isfinite(v)):
        raise ValueError("query vector has NaN or infinite values")
    return v


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 10_000:
        raise ValueError(f"k must be an int in 1..10000, got {k!r}")
    return k


# --------------------------------------------------------------------------------------
# interface
# --------------------------------------------------------------------------------------


@runtime_checkable
class VectorIndex(Protocol):
    """What the pipeline needs from a vector store of call chunks."""

    dim: int

    def upsert(self, rows: list[dict[str, Any]]) -> int:
        """Insert or replace rows by ``chunk_id``; returns rows written."""
        ...

    def delete_calls(self, call_ids: list[str], tenant: str | None = None) -> int:
        """Delete every chunk of ``call_ids`` (optionally only in ``tenant``); returns rows deleted."""
        ...

    def search(
        self, query_vector: Any, tenant: str, k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Nearest chunks of ONE tenant, best first; rows without vector plus distance/score."""
        ...

    def count(self, tenant: str | None = None) -> int:
        """Number of rows (in ``tenant`` or overall)."""
        ...

    def call_ids(self, tenant: str | None = None) -> set[str]:
        """Distinct call ids (in ``tenant`` or overall)."""
        ...

    def stale_model_calls(self, model_version: str) -> set[str]:
        """Call ids that have at least one chunk embedded by another model version."""
        ...

    def ensure_index(self) -> dict[str, Any]:
        """Create/refresh ANN and scalar indices as needed; returns what was done."""
        ...

    def sample_vectors(self, tenant: str, n: int, seed: int = 0) -> "np.ndarray":
        """Up to ``n`` random vectors of ``tenant`` (for drift), shape ``(m, dim)``."""
        ...


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
            import lancedb

            from datetime import timedelta

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
        ids = sorted({_validate_id("call_id", c) for c in call_ids})
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
        _check_k(k)
        vec = _query_vector(query_vector, self.dim)
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
        mv = _validate_id("model_version", model_version)
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
        from lancedb.index import BTree, Bitmap

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


# --------------------------------------------------------------------------------------
# Weaviate
# --------------------------------------------------------------------------------------

WEAVIATE_VECTOR_NAME = "default"
_UUID_NAMESPACE = "callforge.chunk"


def chunk_uuid(chunk_id: str) -> str:
    """Deterministic Weaviate object UUID (v5) for a chunk id."""
    from weaviate.util import generate_uuid5

    return str(generate_uuid5(_validate_id("chunk_id", chunk_id), _UUID_NAMESPACE))


def _rfc3339(value: str, *, is_date: bool) -> datetime:
    """ISO string -> aware datetime (naive values are taken as UTC)."""
    dt = datetime.fromisoformat(value + ("T00:00:00" if is_date and "T" not in value else ""))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def weaviate_properties(meta: dict[str, Any]) -> dict[str, Any]:
    """Weaviate properties for one validated row (dates become RFC 3339 datetimes)."""
    props = {f: meta[f] for f in ROW_FIELDS}
    props["started_at"] = _rfc3339(meta["started_at"], is_date=False)
    props["call_date"] = _rfc3339(meta["call_date"], is_date=True)
    return props


def weaviate_filter(clauses: Sequence[Clause]) -> Any:
    """weaviate v4 ``Filter`` for the clauses (None when there are none)."""
    from weaviate.classes.query import Filter

    parts = []
    for c in clauses:
        p = Filter.by_property(c.field)
        conv: Callable[[Any], Any] = (
            (lambda v, _d=(c.field == "call_date"): _rfc3339(v, is_date=_d))
            if c.field in RANGE_FIELDS
            else (lambda v: v)
        )
        if c.op == "eq":
            parts.append(p.equal(conv(c.value)))
        elif c.op == "in":
            parts.append(p.contains_any([conv(v) for v in c.value]))
        elif c.op == "is_null":
            parts.append(p.is_none(True))
        elif c.op == "gte":
            parts.append(p.greater_or_equal(conv(c.value)))
        elif c.op == "gt":
            parts.append(p.greater_than(conv(c.value)))
        elif c.op == "lte":
            parts.append(p.less_or_equal(conv(c.value)))
        elif c.op == "lt":
            parts.append(p.less_than(conv(c.value)))
        else:
            raise ValueError(f"unknown filter operator {c.op!r}")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


class WeaviateImportError(VectorIndexError):
    """Some objects could not be imported after all retries."""

    def __init__(self, tenant: str, failures: dict[str, str], attempts: int) -> None:
        self.tenant = tenant
        self.failures = failures  # chunk_id -> last error message
        self.attempts = attempts
        by_msg: dict[str, int] = {}
        for msg in failures.values():
            by_msg[msg[:200]] = by_msg.get(msg[:200], 0) + 1
        top = "; ".join(f"{n}x {m}" for m, n in sorted(by_msg.items(), key=lambda x: -x[1])[:5])
        sample = ", ".join(sorted(failures)[:5])
        super().__init__(
            f"Weaviate import into tenant {tenant!r} failed for {len(failures)} object(s) "
            f"after {attempts} attempt(s); errors: {top}; chunk ids e.g. {sample}"
        )


def import_with_retries(
    items: Sequence[tuple[str, Any]],
    send: Callable[[list[Any]], dict[int, str]],
    *,
    tenant: str,
    batch_size: int = 200,
    max_retries: int = 3,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send ``(chunk_id, object)`` pairs in batches, retrying failed objects.

    ``send(objects)`` returns ``{index_in_batch: error_message}`` for objects that
    failed; an exception from ``send`` fails the whole batch. Failed objects are retried
    up to ``max_retries`` times with exponential backoff. Returns the number imported;
    raises `WeaviateImportError` with a summary if any object still fails.
    """
    if batch_size < 1 or max_retries < 0:
        raise ValueError("batch_size must be >= 1 and max_retries >= 0")
    pending = list(items)
    failures: dict[str, str] = {}
    ok = 0
    attempt = 0
    while pending:
        attempt += 1
        failed: list[tuple[str, Any]] = []
        failures = {}
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            try:
                errors = send([obj for _, obj in batch])
            except Exception as e:  # network, timeout, all-failed: retry the batch
                errors = {i: f"{type(e).__name__}: {e}" for i in range(len(batch))}
            for i, item in enumerate(batch):
                if i in errors:
                    failed.append(item)
                    failures[item[0]] = str(errors[i])
                else:
                    ok += 1
        pending = failed
        if pending and attempt > max_retries:
            raise WeaviateImportError(tenant, failures, attempt)
        if pending:
            log.warning(
                "weaviate import: %d object(s) failed in tenant %s (attempt %d), retrying",
                len(pending), tenant, attempt,
            )
            sleep(backoff_s * (2 ** (attempt - 1)))
    return ok


def parse_weaviate_url(url: str) -> tuple[str, int, bool]:
    """``http(s)://host[:port]`` -> (host, port, secure)."""
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"weaviate url must look like http(s)://host[:port], got {url!r}")
    secure = u.scheme == "https"
    return u.hostname, u.port or (443 if secure else 8080), secure


class WeaviateIndex:
    """Weaviate (client v4) index: collection ``collection`` with multi-tenancy, one
    Weaviate tenant per customer tenant (created on first write), self-provided vectors
    in an HNSW index with cosine distance. See the module docstring for what has NOT
    been exercised against a live server.

    Args:
        url: ``http(s)://host:port`` of the REST API (alternatively ``http_host``...).
        grpc_host / grpc_port / grpc_secure: gRPC endpoint (default: url host, 50051).
        api_key: API key (pass a ``dg.EnvVar`` value in production), or None.
        collection: collection name.
        dim: vector dimension.
        batch_size / max_retries / retry_backoff_s: import batching and retries.
        timeout_init / timeout_query / timeout_insert: client timeouts in seconds.
        client: an already connected ``weaviate.WeaviateClient`` (tests, custom auth).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        http_host: str | None = None,
        http_port: int = 8080,
        http_secure: bool = False,
        grpc_host: str | None = None,
        grpc_port: int = 50051,
        grpc_secure: bool | None = None,
        api_key: str | None = None,
        collection: str = "CallChunk",
        dim: int = 384,
        batch_size: int = 200,
        max_retries: int = 3,
        retry_backoff_s: float = 1.0,
        timeout_init: float = 10.0,
        timeout_query: float = 30.0,
        timeout_insert: float = 120.0,
        client: Any = None,
    ) -> None:
        if url:
            http_host, http_port, http_secure = parse_weaviate_url(url)
        if client is None and not http_host:
            raise ValueError("WeaviateIndex needs url=, http_host= or client=")
        if not re.match(r"^[A-Z][A-Za-z0-9_]{0,254}$", collection):
            raise ValueError(f"invalid Weaviate collection name {collection!r} (must start uppercase)")
        self.http_host = http_host
        self.http_port = http_port
        self.http_secure = http_secure
        self.grpc_host = grpc_host or http_host
        self.grpc_port = grpc_port
        self.grpc_secure = http_secure if grpc_secure is None else grpc_secure
        self._api_key = api_key
        self.collection_name = collection
        self.dim = dim
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.timeouts = (timeout_init, timeout_query, timeout_insert)
        self._client = client
        self._owns_client = client is None
        self._collection: Any = None
        self._tenants: set[str] = set()

    def __repr__(self) -> str:  # never shows the api key
        return (
            f"WeaviateIndex(http={self.http_host}:{self.http_port}, "
            f"collection={self.collection_name!r})"
        )

    # -- connection -------------------------------------------------------------------
    def client(self) -> Any:
        """Connected weaviate client (connects lazily, with timeouts and auth)."""
        if self._client is None:
            import weaviate
            from weaviate.classes.init import AdditionalConfig, Auth, Timeout

            init, query, insert = self.timeouts
            try:
                self._client = weaviate.connect_to_custom(
                    http_host=self.http_host,
                    http_port=self.http_port,
                    http_secure=self.http_secure,
                    grpc_host=self.grpc_host,
                    grpc_port=self.grpc_port,
                    grpc_secure=self.grpc_secure,
                    auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
                    additional_config=AdditionalConfig(
                        timeout=Timeout(init=init, query=query, insert=insert)
                    ),
                )
            except Exception as e:
                raise VectorIndexError(
                    f"cannot connect to Weaviate at {self.http_host}:{self.http_port}: "
                    f"{type(e).__name__}: {e}"
                ) from e
        return self._client

    def close(self) -> None:
        """Close the client if this index opened it."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
            self._collection = None

    def __enter__(self) -> "WeaviateIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def collection_properties() -> list[Any]:
        """Property definitions: ids use FIELD tokenization so equality is exact."""
        from weaviate.classes.config import DataType, Property, Tokenization

        def ident(name: str) -> Any:
            return Property(
                name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                index_filterable=True, index_searchable=False,
            )

        return [
            ident("chunk_id"), ident("tenant"), ident("call_id"), ident("chunk_type"),
            ident("speaker"), ident("outcome"), ident("model_version"),
            Property(name="started_at", data_type=DataType.DATE, index_range_filters=True),
            Property(name="call_date", data_type=DataType.DATE, index_range_filters=True),
            Property(name="dataset_eligible", data_type=DataType.BOOL),
            Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
        ]

    def collection(self) -> Any:
        """The multi-tenant collection, created if missing."""
        if self._collection is None:
            from weaviate.classes.config import Configure, VectorDistances

            client = self.client()
            if not client.collections.exists(self.collection_name):
                client.collections.create(
                    self.collection_name,
                    properties=self.collection_properties(),
                    # is-null filters (e.g. speaker=None) need the null state indexed
                    inverted_index_config=Configure.inverted_index(index_null_state=True),
                    vector_config=Configure.Vectors.self_provided(
                        name=WEAVIATE_VECTOR_NAME,
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=VectorDistances.COSINE
                        ),
                    ),
                    multi_tenancy_config=Configure.multi_tenancy(
                        enabled=True, auto_tenant_creation=False, auto_tenant_activation=True
                    ),
                )
            self._collection = client.collections.get(self.collection_name)
        return self._collection

    def _tenant_names(self) -> list[str]:
        return sorted(self.collection().tenants.get().keys())

    def _ensure_tenant(self, tenant: str) -> None:
        if tenant in self._tenants:
            return
        from weaviate.classes.tenants import Tenant

        tenants = self.collection().tenants
        if not tenants.exists(tenant):
            tenants.create([Tenant(name=tenant)])
        self._tenants.add(tenant)

    def _tenant_exists(self, tenant: str) -> bool:
        return tenant in self._tenants or bool(self.collection().tenants.exists(tenant))

    # -- writes -----------------------------------------------------------------------
    def build_objects(self, metas: list[dict[str, Any]], vectors: "np.ndarray") -> list[tuple[str, Any]]:
        """``(chunk_id, DataObject)`` pairs with deterministic UUIDs and named vectors."""
        from weaviate.classes.data import DataObject

        return [
            (
                m["chunk_id"],
                DataObject(
                    properties=weaviate_properties(m),
                    uuid=chunk_uuid(m["chunk_id"]),
                    vector={WEAVIATE_VECTOR_NAME: vectors[i].tolist()},
                ),
            )
            for i, m in enumerate(metas)
        ]

    def upsert(self, rows: list[dict[str, Any]]) -> int:
        """Insert or replace by ``chunk_id`` (same UUID -> replaced), per tenant."""
        metas, vecs = normalize_rows(rows, self.dim)
        by_tenant: dict[str, list[int]] = {}
        for i, m in enumerate(metas):
            by_tenant.setdefault(m["tenant"], []).append(i)
        written = 0
        for tenant, idx in sorted(by_tenant.items()):
            self._ensure_tenant(tenant)
            coll = self.collection().with_tenant(tenant)
            items = self.build_objects([metas[i] for i in idx], vecs[idx])

            def send(objs: list[Any], _coll: Any = coll) -> dict[int, str]:
                res = _coll.data.insert_many(objs)
                return {int(i): getattr(err, "message", str(err)) for i, err in res.errors.items()}

            written += import_with_retries(
                items, send, tenant=tenant, batch_size=self.batch_size,
                max_retries=self.max_retries, backoff_s=self.retry_backoff_s,
            )
        return written

    def delete_calls(self, call_ids: list[str], tenant: str | None = None) -> int:
        """Delete all chunks of ``call_ids`` in ``tenant`` (or every tenant)."""
        ids = sorted({_validate_id("call_id", c) for c in call_ids})
        if not ids:
            return 0
        tenants = [validate_tenant(tenant)] if tenant else self._tenant_names()
        deleted = 0
        for t in tenants:
            if not self._tenant_exists(t):
                continue
            coll = self.collection().with_tenant(t)
            for start in range(0, len(ids), MAX_IN_VALUES):
                where = weaviate_filter([Clause("call_id", "in", tuple(ids[start : start + MAX_IN_VALUES]))])
                for _ in range(1000):  # server deletes at most QUERY_MAXIMUM_RESULTS per call
                    res = coll.data.delete_many(where=where)
                    if res.failed:
                        raise VectorIndexError(
                            f"Weaviate delete in tenant {t!r}: {res.failed} object(s) failed"
                        )
                    deleted += int(res.successful)
                    if res.matches == 0 or res.successful == 0:
                        break
        return deleted

    # -- reads ------------------------------------------------------------------------
    @staticmethod
    def result_row(obj: Any) -> dict[str, Any]:
        """Map a returned Weaviate object to the index's result dict."""
        props = dict(obj.properties)
        row = {f: props.get(f) for f in ROW_FIELDS}
        for f in ("started_at", "call_date"):
            v = row[f]
            if isinstance(v, datetime):
                row[f] = v.date().isoformat() if f == "call_date" else v.isoformat()
        d = getattr(obj.metadata, "distance", None)
        row["distance"] = float(d) if d is not None else None
        row["score"] = 1.0 - float(d) if d is not None else None
        return row

    def search(
        self, query_vector: Any, tenant: str, k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Top-``k`` chunks in the tenant's own shard (an unknown tenant has none)."""
        from weaviate.classes.query import MetadataQuery

        validate_tenant(tenant)
        _check_k(k)
        vec = _query_vector(query_vector, self.dim)
        flt = weaviate_filter(normalize_filters(filters))
        if not self._tenant_exists(tenant):
            return []
        res = self.collection().with_tenant(tenant).query.near_vector(
            near_vector=vec.tolist(),
            limit=k,
            filters=flt,
            target_vector=WEAVIATE_VECTOR_NAME,
            return_metadata=MetadataQuery(distance=True),
            return_properties=list(ROW_FIELDS),
        )
        return [self.result_row(o) for o in res.objects]

    def count(self, tenant: str | None = None) -> int:
        """Object count in one tenant or summed over all tenants."""
        tenants = [validate_tenant(tenant)] if tenant else self._tenant_names()
        total = 0
        for t in tenants:
            if self._tenant_exists(t):
                agg = self.collection().with_tenant(t).aggregate.over_all(total_count=True)
                total += int(agg.total_count or 0)
        return total

    def _iter_props(self, tenant: str | None, props: list[str], vectors: bool = False) -> Iterable[Any]:
        tenants = [validate_tenant(tenant)] if tenant else self._tenant_names()
        for t in tenants:
            if not self._tenant_exists(t):
                continue
            yield from self.collection().with_tenant(t).iterator(
                include_vector=vectors, return_properties=props
            )

    def call_ids(self, tenant: str | None = None) -> set[str]:
        """Distinct call ids (iterates the tenant's objects)."""
        return {o.properties["call_id"] for o in self._iter_props(tenant, ["call_id"])}

    def stale_model_calls(self, model_version: str) -> set[str]:
        """Calls with any chunk embedded by a model other than ``model_version``."""
        mv = _validate_id("model_version", model_version)
        return {
            o.properties["call_id"]
            for o in self._iter_props(None, ["call_id", "model_version"])
            if o.properties.get("model_version") != mv
        }

    def ensure_index(self) -> dict[str, Any]:
        """Weaviate keeps its HNSW index up to date; this only ensures the collection."""
        self.collection()
        return {"rows": None, "actions": [], "ann": True}

    def sample_vectors(self, tenant: str, n: int, seed: int = 0) -> "np.ndarray":
        """Reservoir sample of ``n`` vectors of ``tenant``."""
        import numpy as np

        validate_tenant(tenant)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        sample: list[Any] = []
        for seen, o in enumerate(self._iter_props(tenant, ["call_id"], vectors=True)):
            v = o.vector.get(WEAVIATE_VECTOR_NAME) if isinstance(o.vector, dict) else o.vector
            if len(sample) < n:
                sample.append(v)
            else:
                j = int(rng.integers(0, seen + 1))
                if j < n:
                    sample[j] = v
        if not sample:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(sample, dtype=np.float32)


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


__all__ = [
    "BACKENDS",
    "Clause",
    "FILTER_FIELDS",
    "LANCE_FILE_VERSION",
    "LanceDBIndex",
    "ROW_FIELDS",
    "VectorIndex",
    "VectorIndexError",
    "WeaviateImportError",
    "WeaviateIndex",
    "chunk_uuid",
    "import_with_retries",
    "lance_where",
    "make_index",
    "normalize_filters",
    "normalize_rows",
    "search_chunks",
    "sql_literal",
    "validate_tenant",
    "weaviate_filter",
]

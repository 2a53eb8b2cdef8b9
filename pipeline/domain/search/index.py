"""The vector index interface for redacted call chunks, backend-neutral.

`VectorIndex` is the protocol the pipeline codes against. This module also holds what every
backend shares: the row schema (`ROW_FIELDS`), validation of tenants, ids and rows, and
the filter language (`normalize_filters` -> `Clause`), so data can move between backends.

Security / isolation: ``search`` REQUIRES a tenant, and every backend applies it inside
the query (LanceDB: SQL prefilter; Weaviate: the tenant's own shard). Tenants must match
``[A-Za-z0-9_-]{1,64}`` (Weaviate's tenant-name rule, enforced for both backends). Filter
fields come from an allow-list and every string value is quoted with `sql_literal`
(single quotes doubled; control characters rejected), so call ids or tenants cannot
inject SQL.

Rows (`ROW_FIELDS`): chunk_id, tenant, call_id, chunk_type, speaker, started_at (ISO
str), call_date (YYYY-MM-DD), outcome, dataset_eligible, model_version, text (REDACTED
chunk text), vector (float32[dim]). ``search`` returns rows without the vector, plus
``distance`` (cosine distance) and ``score`` (1 - distance, cosine similarity).

Pure domain code: numpy is imported lazily.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np


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


def validate_id(name: str, value: object) -> str:
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
                meta[f] = validate_id(f, row[f])
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


def as_query_vector(query_vector: Any, dim: int) -> "np.ndarray":
    import numpy as np

    v = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if v.shape != (dim,):
        raise ValueError(f"query vector has {v.size} values, expected {dim}")
    if not np.all(np.isfinite(v)):
        raise ValueError("query vector has NaN or infinite values")
    return v


def check_k(k: int) -> int:
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

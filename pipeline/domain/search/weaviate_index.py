"""`WeaviateIndex`: the production vector index (weaviate-client v4, one Weaviate tenant
per customer tenant).

What was and was NOT exercised
------------------------------
No Weaviate server can run on the build machine (embedded mode downloads a server binary
from GitHub; there is no Docker). `WeaviateIndex` was written against the installed
weaviate-client 4.23.1 source and only its server-free parts are tested: deterministic
UUIDs, object/property building, filter building, tenant-name validation, the batch
retry loop and its error summary (driven by a fake sender), and result mapping. Never
run against a live server: collection creation, tenant creation, ``insert_many``,
``delete_many``, ``near_vector``, aggregates and iterators. Run the resource tests
against a real Weaviate before relying on it in production.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence
from urllib.parse import urlparse

from pipeline.domain.search.index import (
    MAX_IN_VALUES,
    RANGE_FIELDS,
    ROW_FIELDS,
    Clause,
    VectorIndexError,
    as_query_vector,
    check_k,
    normalize_filters,
    normalize_rows,
    validate_id,
    validate_tenant,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np


log = logging.getLogger(__name__)
# --------------------------------------------------------------------------------------
# Weaviate
# --------------------------------------------------------------------------------------

WEAVIATE_VECTOR_NAME = "default"
_UUID_NAMESPACE = "callforge.chunk"


def chunk_uuid(chunk_id: str) -> str:
    """Deterministic Weaviate object UUID (v5) for a chunk id."""
    from weaviate.util import generate_uuid5

    return str(generate_uuid5(validate_id("chunk_id", chunk_id), _UUID_NAMESPACE))


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
        ids = sorted({validate_id("call_id", c) for c in call_ids})
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
        check_k(k)
        vec = as_query_vector(query_vector, self.dim)
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
        mv = validate_id("model_version", model_version)
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

"""Vector index: LanceDB for real (tmp_path), Weaviate's server-free parts.

Weaviate cannot run on this machine; its tests cover UUIDs, object/filter building,
the retry/error aggregation loop and result mapping, plus upsert/search routing through
a small in-memory stand-in for the client (tenant routing only, not server behaviour).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

for _v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_v, "1")

from pipeline.domain.search.backends import make_index, search_chunks
from pipeline.domain.search.index import (
    Clause,
    VectorIndex,
    lance_where,
    normalize_filters,
    normalize_rows,
    sql_literal,
    validate_tenant,
)
from pipeline.domain.search.lance_index import LanceDBIndex
from pipeline.domain.search.weaviate_index import (
    WeaviateImportError,
    WeaviateIndex,
    chunk_uuid,
    import_with_retries,
    parse_weaviate_url,
    weaviate_filter,
    weaviate_properties,
)

DIM = 16


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def make_row(i: int, tenant: str, call_id: str, vec: np.ndarray, **over: Any) -> dict[str, Any]:
    row = {
        "chunk_id": f"{tenant}/{call_id}/{i}",
        "tenant": tenant,
        "call_id": call_id,
        "chunk_type": "turn",
        "speaker": "agent" if i % 2 else "customer",
        "started_at": "2026-03-0%dT10:00:00+00:00" % (1 + i % 3),
        "outcome": "resolved",
        "dataset_eligible": i % 2 == 0,
        "model_version": "m1",
        "text": f"[redacted chunk {i}]",
        "vector": vec,
    }
    row.update(over)
    return row


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture()
def index(tmp_path: Path) -> LanceDBIndex:
    return LanceDBIndex(str(tmp_path / "db"), dim=DIM, ann_threshold=10**9)


@pytest.fixture()
def two_tenants(index: LanceDBIndex, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {"acme": [], "globex": []}
    for tenant in rows:
        for c in range(3):
            for i in range(4):
                rows[tenant].append(make_row(i, tenant, f"call-{c}", unit(rng.standard_normal(DIM))))
    index.upsert(rows["acme"] + rows["globex"])
    return rows


# ---------------------------------------------------------------- tenant isolation


def test_search_never_returns_other_tenant_even_for_its_exact_vector(index, two_tenants) -> None:
    target = two_tenants["globex"][5]
    # globex finds its own row first, with distance ~0
    hit = index.search(target["vector"], tenant="globex", k=1)[0]
    assert hit["chunk_id"] == target["chunk_id"] and hit["distance"] < 1e-5
    assert hit["score"] == pytest.approx(1.0, abs=1e-5)
    # acme asking with globex's exact vector, for more rows than acme has, sees only acme
    res = index.search(target["vector"], tenant="acme", k=100)
    assert len(res) == len(two_tenants["acme"])
    assert {r["tenant"] for r in res} == {"acme"}
    assert target["chunk_id"] not in {r["chunk_id"] for r in res}


def test_search_unknown_tenant_returns_nothing(index, two_tenants) -> None:
    assert index.search(two_tenants["acme"][0]["vector"], tenant="initech", k=5) == []


@pytest.mark.parametrize("tenant", ["acme' OR '1'='1", "acme OR 1=1", "", "a b", "x" * 65, None, 7])
def test_search_rejects_invalid_tenant(index, two_tenants, tenant) -> None:
    with pytest.raises(ValueError, match="tenant"):
        index.search(np.ones(DIM), tenant=tenant, k=5)


def test_tenant_cannot_be_smuggled_in_filters(index, two_tenants) -> None:
    with pytest.raises(ValueError, match="tenant argument"):
        index.search(np.ones(DIM), tenant="acme", k=5, filters={"tenant": "globex"})


# ---------------------------------------------------------------- upsert / delete / stale


def test_upsert_is_idempotent_and_replaces_by_chunk_id(index, two_tenants) -> None:
    before = index.count()
    assert index.upsert(two_tenants["acme"]) == len(two_tenants["acme"])
    assert index.count() == before == 24
    changed = dict(two_tenants["acme"][0], text="[redacted new text]", outcome="escalated")
    index.upsert([changed])
    assert index.count() == before
    hit = index.search(changed["vector"], tenant="acme", k=1)[0]
    assert hit["chunk_id"] == changed["chunk_id"]
    assert hit["text"] == "[redacted new text]" and hit["outcome"] == "escalated"


def test_duplicate_chunk_ids_in_one_upsert_keep_last(index, rng) -> None:
    v = unit(rng.standard_normal(DIM))
    rows = [make_row(0, "acme", "c", v, text="first"), make_row(0, "acme", "c", v, text="second")]
    assert index.upsert(rows) == 1
    assert index.count() == 1
    assert index.search(v, tenant="acme", k=1)[0]["text"] == "second"


def test_upsert_empty_is_noop(index) -> None:
    assert index.upsert([]) == 0
    assert index.count() == 0


def test_delete_calls_removes_exactly_that_call(index, two_tenants) -> None:
    assert index.delete_calls(["call-1"], tenant="acme") == 4
    assert index.count("acme") == 8
    assert index.call_ids("acme") == {"call-0", "call-2"}
    # globex's call with the same id is untouched by a tenant-scoped delete
    assert index.call_ids("globex") == {"call-0", "call-1", "call-2"}
    # unscoped delete (erasure across tenants) removes it everywhere
    assert index.delete_calls(["call-1", "call-2"]) == 12  # acme call-2 + globex call-1, call-2
    assert index.call_ids() == {"call-0"}
    assert index.delete_calls(["call-1"]) == 0
    assert index.delete_calls([]) == 0


def test_stale_model_calls(index, two_tenants, rng) -> None:
    assert index.stale_model_calls("m1") == set()
    index.upsert([make_row(9, "acme", "call-2", unit(rng.standard_normal(DIM)), model_version="m0")])
    index.upsert([make_row(0, "globex", "call-0", two_tenants["globex"][0]["vector"], model_version="m0")])
    assert index.stale_model_calls("m1") == {"call-2", "call-0"}
    assert index.stale_model_calls("m0") == {"call-0", "call-1", "call-2"}


def test_count_and_call_ids(index, two_tenants) -> None:
    assert index.count() == 24 and index.count("acme") == 12 and index.count("initech") == 0
    assert index.call_ids() == {"call-0", "call-1", "call-2"}


# ---------------------------------------------------------------- filters and escaping


def test_filters_restrict_results(index, two_tenants) -> None:
    q = two_tenants["acme"][0]["vector"]
    res = index.search(q, tenant="acme", k=50, filters={"call_id": "call-2", "dataset_eligible": True})
    assert res and all(r["call_id"] == "call-2" and r["dataset_eligible"] for r in res)
    assert len(res) == 2
    res = index.search(q, tenant="acme", k=50, filters={"call_id": ["call-0", "call-1"]})
    assert {r["call_id"] for r in res} == {"call-0", "call-1"} and len(res) == 8
    res = index.search(q, tenant="acme", k=50, filters={"call_date": {"gte": "2026-03-02", "lt": "2026-03-03"}})
    assert res and {r["call_date"] for r in res} == {"2026-03-02"}
    assert index.search(q, tenant="acme", k=50, filters={"speaker": None}) == []


@pytest.mark.parametrize(
    "call_id",
    ["o'brien-call", "it''s", "back\\slash\\' quote", "semi;colon -- comment", 'dq"x"'],
)
def test_call_ids_with_sql_metacharacters_round_trip(index, rng, call_id) -> None:
    v = unit(rng.standard_normal(DIM))
    index.upsert([make_row(0, "acme", call_id, v), make_row(1, "acme", "plain", unit(rng.standard_normal(DIM)))])
    res = index.search(v, tenant="acme", k=10, filters={"call_id": call_id})
    assert [r["call_id"] for r in res] == [call_id]
    assert index.call_ids("acme") == {call_id, "plain"}
    assert index.delete_calls([call_id], tenant="acme") == 1
    assert index.call_ids("acme") == {"plain"}


@pytest.mark.parametrize(
    "evil",
    ["x' OR '1'='1", "x') OR (1=1", "' OR tenant = 'globex", "x' OR tenant != 'acme' --"],
)
def test_filter_injection_matches_nothing_and_deletes_nothing(index, two_tenants, evil) -> None:
    q = two_tenants["globex"][0]["vector"]
    assert index.search(q, tenant="acme", k=50, filters={"call_id": evil}) == []
    assert index.delete_calls([evil]) == 0
    assert index.count() == 24


def test_sql_literal_quotes_and_rejects_controls() -> None:
    assert sql_literal("o'brien") == "'o''brien'"
    assert sql_literal(True) == "true"
    assert lance_where("acme", [Clause("call_id", "in", ("a'b", "c"))]) == (
        "(tenant = 'acme') AND (call_id IN ('a''b', 'c'))"
    )
    with pytest.raises(ValueError, match="control"):
        sql_literal("a\x00b")
    with pytest.raises(ValueError, match="non-finite"):
        sql_literal(float("nan"))
    with pytest.raises(TypeError):
        sql_literal(["list"])


@pytest.mark.parametrize(
    "filters, exc, msg",
    [
        ({"colour": "red"}, ValueError, "unknown filter field"),
        ({"call_id; DROP TABLE chunks": "x"}, ValueError, "unknown filter field"),
        ({"call_id": 5}, TypeError, "takes a string"),
        ({"dataset_eligible": "true"}, TypeError, "takes a bool"),
        ({"call_id": []}, ValueError, "empty value list"),
        ({"call_id": [str(i) for i in range(1001)]}, ValueError, "more than 1000"),
        ({"call_id": {"gte": "a"}}, ValueError, "range filter is only allowed"),
        ({"call_date": {"after": "2026-01-01"}}, ValueError, "unknown range operator"),
        ({"call_date": {}}, ValueError, "empty range"),
        ({"call_id": "a\nb"}, ValueError, "control"),
        ("call_id = 'x'", TypeError, "must be a dict"),
    ],
)
def test_bad_filters_are_rejected(filters, exc, msg) -> None:
    with pytest.raises(exc, match=msg):
        normalize_filters(filters)


# ---------------------------------------------------------------- bad rows / queries


@pytest.mark.parametrize(
    "change, msg",
    [
        ({"vector": np.ones(DIM + 1)}, "shape"),
        ({"vector": np.full(DIM, np.nan)}, "NaN"),
        ({"tenant": "bad tenant"}, "invalid tenant"),
        ({"call_id": ""}, "call_id must be a non-empty"),
        ({"chunk_id": "a\x00b"}, "control"),
        ({"started_at": "yesterday"}, "ISO datetime"),
        ({"call_date": "03/01/2026"}, "YYYY-MM-DD"),
        ({"dataset_eligible": "yes"}, "dataset_eligible must be a bool"),
        ({"speaker": 3}, "speaker must be a string"),
        ({"transcript": "raw"}, "unknown fields"),
        ({"text": None}, "text must be a string"),
    ],
)
def test_bad_rows_are_rejected_with_row_index(index, change, msg) -> None:
    good = make_row(0, "acme", "c", np.ones(DIM))
    bad = dict(make_row(1, "acme", "c", np.ones(DIM)), **change)
    with pytest.raises(ValueError, match=msg) as ei:
        index.upsert([good, bad])
    assert "row 1" in str(ei.value)
    assert index.count() == 0  # nothing written on a bad batch


def test_missing_field_is_named() -> None:
    row = make_row(0, "acme", "c", np.ones(DIM))
    del row["model_version"]
    with pytest.raises(ValueError, match="row 0: missing field 'model_version'"):
        normalize_rows([row], DIM)


def test_call_date_defaults_to_utc_date_of_started_at() -> None:
    row = make_row(0, "acme", "c", np.ones(DIM), started_at=datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    metas, vecs = normalize_rows([row], DIM)
    assert metas[0]["call_date"] == "2026-03-01" and metas[0]["started_at"].startswith("2026-03-01T23:30")
    assert vecs.dtype == np.float32 and vecs.shape == (1, DIM)


@pytest.mark.parametrize("k", [0, -1, 10_001, 2.5, True])
def test_bad_k(index, two_tenants, k) -> None:
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(DIM), tenant="acme", k=k)


def test_bad_query_vector(index, two_tenants) -> None:
    with pytest.raises(ValueError, match="expected 16"):
        index.search(np.ones(DIM - 1), tenant="acme")
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full(DIM, np.inf), tenant="acme")


def test_dimension_mismatch_with_existing_table(tmp_path: Path, rng) -> None:
    LanceDBIndex(str(tmp_path), dim=DIM).upsert([make_row(0, "acme", "c", np.ones(DIM))])
    with pytest.raises(Exception, match="16-d"):
        LanceDBIndex(str(tmp_path), dim=8).count()


# ---------------------------------------------------------------- ANN index + sampling


def test_ensure_index_builds_ann_past_threshold_and_search_still_finds(tmp_path: Path, rng) -> None:
    idx = LanceDBIndex(
        str(tmp_path / "db"), dim=DIM, ann_threshold=400, index_type="IVF_SQ",
        num_partitions=4, nprobes=4,
    )
    rows = [make_row(i, "acme" if i % 2 else "globex", f"call-{i // 10}", unit(rng.standard_normal(DIM))) for i in range(300)]
    idx.upsert(rows)
    first = idx.ensure_index()
    assert first["ann"] is False and "scalar:tenant:BITMAP" in first["actions"]
    more = [make_row(i, "acme" if i % 2 else "globex", f"call-{i // 10}", unit(rng.standard_normal(DIM))) for i in range(300, 500)]
    idx.upsert(more)
    second = idx.ensure_index()
    assert second["ann"] is True and "vector:IVF_SQ" in second["actions"]
    assert any("vector" in c.columns for c in idx.table().list_indices())
    target = more[-1]
    res = idx.search(target["vector"], tenant=target["tenant"], k=5)
    assert res[0]["chunk_id"] == target["chunk_id"]
    assert {r["tenant"] for r in res} == {target["tenant"]}
    # rows added after the build are folded in by the next ensure_index
    idx.upsert([make_row(999, "acme", "late", unit(rng.standard_normal(DIM)))])
    assert "optimize" in idx.ensure_index()["actions"]


def test_sample_vectors_only_from_tenant(index, two_tenants) -> None:
    sample = index.sample_vectors("acme", 5, seed=1)
    assert sample.shape == (5, DIM) and sample.dtype == np.float32
    acme = np.stack([r["vector"] for r in two_tenants["acme"]])
    for v in sample:
        assert np.min(np.linalg.norm(acme - v, axis=1)) < 1e-6
    assert index.sample_vectors("acme", 100).shape == (12, DIM)
    assert index.sample_vectors("initech", 3).shape == (0, DIM)
    np.testing.assert_array_equal(index.sample_vectors("acme", 5, seed=1), sample)
    with pytest.raises(ValueError, match="n must be"):
        index.sample_vectors("acme", 0)


def test_make_index(tmp_path: Path) -> None:
    idx = make_index("lancedb", uri=str(tmp_path), dim=DIM)
    assert isinstance(idx, LanceDBIndex) and isinstance(idx, VectorIndex)
    w = make_index("weaviate", url="http://weaviate.internal:8080", api_key="s3cret")
    assert isinstance(w, WeaviateIndex) and isinstance(w, VectorIndex)
    with pytest.raises(ValueError, match="unknown vector index backend 'pinecone'"):
        make_index("pinecone")


# ---------------------------------------------------------------- semantic search (real MiniLM)


@pytest.fixture(scope="module")
def embedder():
    from pipeline.domain.search.embedding import Embedder

    return Embedder()


CHUNKS = {
    "call-card": "Customer: my card was stolen yesterday, please block it and send a new one.",
    "call-transfer": "Customer: I sent money abroad to [PERSON] but the transfer has not arrived.",
    "call-address": "Customer: I moved house and need to update my address on the account.",
    "call-refund": "Customer: the shop refunded me a week ago and I still do not see the refund.",
    "call-pin": "Customer: I forgot my PIN and typed it wrong three times, now it is locked.",
}


def test_search_chunks_returns_semantically_right_call(tmp_path: Path, embedder) -> None:
    idx = LanceDBIndex(str(tmp_path / "db"), dim=embedder.dim)
    texts = list(CHUNKS.values())
    vecs = embedder.encode(texts)
    rows = []
    for tenant in ("acme", "globex"):
        for (call, text), v in zip(CHUNKS.items(), vecs):
            rows.append(make_row(0, tenant, call, v, text=text, model_version=embedder.model_version,
                                 chunk_id=f"{tenant}:{call}"))
    idx.upsert(rows)
    cases = {
        "my credit card got stolen": "call-card",
        "international payment missing": "call-transfer",
        "change of home address": "call-address",
        "locked out after entering wrong pin": "call-pin",
        "where is my refund": "call-refund",
    }
    for query, want in cases.items():
        res = search_chunks(idx, embedder, query, tenant="acme", k=3)
        assert res[0]["call_id"] == want, (query, [r["call_id"] for r in res])
        assert {r["tenant"] for r in res} == {"acme"}
        assert res[0]["score"] > res[1]["score"]


def test_search_chunks_skips_rows_from_other_model(tmp_path: Path, embedder) -> None:
    idx = LanceDBIndex(str(tmp_path / "db"), dim=embedder.dim)
    v = embedder.encode([CHUNKS["call-card"]])[0]
    idx.upsert([
        make_row(0, "acme", "old", v, model_version="old-model", chunk_id="old"),
        make_row(0, "acme", "new", v, model_version=embedder.model_version, chunk_id="new"),
    ])
    res = search_chunks(idx, embedder, "stolen card", tenant="acme", k=5)
    assert [r["call_id"] for r in res] == ["new"]
    both = search_chunks(idx, embedder, "stolen card", tenant="acme", k=5, same_model=False)
    assert {r["call_id"] for r in both} == {"old", "new"}


@pytest.mark.parametrize("query", ["", "   ", None])
def test_search_chunks_rejects_empty_query(index, embedder, query) -> None:
    with pytest.raises(ValueError, match="query"):
        search_chunks(index, embedder, query, tenant="acme")


# ---------------------------------------------------------------- Weaviate (server-free)


def test_chunk_uuid_is_deterministic_and_distinct() -> None:
    a = chunk_uuid("acme:call-1:turn:0")
    assert a == chunk_uuid("acme:call-1:turn:0")
    assert a != chunk_uuid("acme:call-1:turn:1")
    assert len(a) == 36 and a[14] == "5"  # UUID version 5
    with pytest.raises(ValueError):
        chunk_uuid("")


def test_weaviate_objects_carry_uuid_named_vector_and_dates(rng) -> None:
    w = WeaviateIndex(client=object(), dim=DIM)
    metas, vecs = normalize_rows([make_row(0, "acme", "c1", unit(rng.standard_normal(DIM)))], DIM)
    [(cid, obj)] = w.build_objects(metas, vecs)
    assert cid == "acme/c1/0"
    assert str(obj.uuid) == chunk_uuid(cid)
    assert list(obj.vector) == ["default"] and len(obj.vector["default"]) == DIM
    assert obj.properties["started_at"] == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert obj.properties["call_date"] == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert obj.properties["tenant"] == "acme" and obj.properties["call_id"] == "c1"
    assert "vector" not in obj.properties


def test_weaviate_properties_naive_time_is_utc() -> None:
    metas, _ = normalize_rows([make_row(0, "acme", "c", np.ones(DIM), started_at="2026-03-01T10:00:00")], DIM)
    assert weaviate_properties(metas[0])["started_at"].tzinfo is timezone.utc


def test_weaviate_filter_building() -> None:
    from weaviate.collections.classes.filters import _FilterAnd, _FilterValue

    f = weaviate_filter(normalize_filters({
        "call_id": ["b", "a"], "call_date": {"gte": "2026-01-01"}, "dataset_eligible": True, "speaker": None,
    }))
    assert isinstance(f, _FilterAnd)
    got = {(x.target, x.operator.value, str(x.value)) for x in f.filters}
    assert got == {
        ("call_id", "ContainsAny", "['a', 'b']"),
        ("call_date", "GreaterThanEqual", "2026-01-01 00:00:00+00:00"),
        ("dataset_eligible", "Equal", "True"),
        ("speaker", "IsNull", "True"),
    }
    single = weaviate_filter([Clause("chunk_type", "eq", "turn")])
    assert isinstance(single, _FilterValue) and single.value == "turn"
    assert weaviate_filter([]) is None


def test_import_with_retries_recovers_transient_failures() -> None:
    calls: list[int] = []
    fails_left = {"c1": 2, "c3": 1}
    sleeps: list[float] = []

    def send(objs: list[str]) -> dict[int, str]:
        calls.append(len(objs))
        errors = {}
        for i, o in enumerate(objs):
            if fails_left.get(o, 0) > 0:
                fails_left[o] -= 1
                errors[i] = "shard not ready"
        return errors

    items = [(f"c{i}", f"c{i}") for i in range(5)]
    assert import_with_retries(items, send, tenant="acme", batch_size=2, max_retries=3,
                               backoff_s=0.5, sleep=sleeps.append) == 5
    assert calls == [2, 2, 1, 2, 1]  # 3 batches, then both failures, then c1 alone
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_import_with_retries_raises_summary_without_text() -> None:
    attempts = []

    def send(objs: list[dict[str, str]]) -> dict[int, str]:
        attempts.append(len(objs))
        if len(attempts) == 1:  # first attempt: a network error fails the whole batch
            raise TimeoutError("deadline exceeded")
        return {i: "invalid property" for i, o in enumerate(objs) if o["id"] == "c2"}

    items = [(f"c{i}", {"id": f"c{i}", "text": "SECRET-TEXT"}) for i in range(3)]
    with pytest.raises(WeaviateImportError) as ei:
        import_with_retries(items, send, tenant="acme", max_retries=2, sleep=lambda s: None)
    err = ei.value
    assert err.failures == {"c2": "invalid property"} and err.attempts == 3
    assert attempts == [3, 3, 1]
    assert "1 object(s)" in str(err) and "c2" in str(err) and "acme" in str(err)
    assert "SECRET-TEXT" not in str(err)


def test_import_with_retries_bad_args() -> None:
    with pytest.raises(ValueError):
        import_with_retries([], lambda o: {}, tenant="a", batch_size=0)


def test_parse_weaviate_url() -> None:
    assert parse_weaviate_url("https://vec.example.com") == ("vec.example.com", 443, True)
    assert parse_weaviate_url("http://localhost:8081") == ("localhost", 8081, False)
    with pytest.raises(ValueError, match="http"):
        parse_weaviate_url("weaviate:8080")


def test_weaviate_config_errors_and_secret_not_in_repr() -> None:
    with pytest.raises(ValueError, match="url"):
        WeaviateIndex()
    with pytest.raises(ValueError, match="collection"):
        WeaviateIndex(url="http://h:8080", collection="lowercase")
    w = WeaviateIndex(url="https://h", api_key="top-secret-key")
    assert "top-secret-key" not in repr(w) and w.grpc_secure is True and w.grpc_host == "h"


def test_weaviate_result_row_mapping() -> None:
    obj = SimpleNamespace(
        properties={
            "chunk_id": "c", "tenant": "acme", "call_id": "k", "chunk_type": "turn", "speaker": None,
            "started_at": datetime(2026, 3, 1, 10, tzinfo=timezone.utc),
            "call_date": datetime(2026, 3, 1, tzinfo=timezone.utc), "outcome": "resolved",
            "dataset_eligible": False, "model_version": "m1", "text": "[redacted]",
        },
        metadata=SimpleNamespace(distance=0.25),
    )
    row = WeaviateIndex.result_row(obj)
    assert row["call_date"] == "2026-03-01" and row["started_at"] == "2026-03-01T10:00:00+00:00"
    assert row["distance"] == 0.25 and row["score"] == 0.75 and "vector" not in row


class _FakeTenants:
    def __init__(self, store: dict[str, dict]) -> None:
        self.store = store
        self.created: list[str] = []

    def exists(self, name: str) -> bool:
        return name in self.store

    def create(self, tenants: list[Any]) -> None:
        for t in tenants:
            self.store[t.name] = {}
            self.created.append(t.name)

    def get(self) -> dict[str, Any]:
        return dict.fromkeys(self.store)


class _FakeCollection:
    """Routes by tenant like a multi-tenant collection; stores objects by UUID."""

    def __init__(self, store: dict[str, dict], tenant: str | None = None, tenants: Any = None) -> None:
        self.store, self.tenant = store, tenant
        self.tenants = tenants or _FakeTenants(store)
        self.data = SimpleNamespace(insert_many=self._insert_many)

    def with_tenant(self, tenant: str) -> "_FakeCollection":
        return _FakeCollection(self.store, tenant, self.tenants)

    def _insert_many(self, objs: list[Any]) -> Any:
        assert self.tenant is not None, "multi-tenant write without tenant"
        for o in objs:
            assert o.properties["tenant"] == self.tenant
            self.store[self.tenant][str(o.uuid)] = o
        return SimpleNamespace(errors={})


def test_weaviate_upsert_routes_rows_to_their_own_tenant(rng) -> None:
    store: dict[str, dict] = {}
    coll = _FakeCollection(store)
    w = WeaviateIndex(client=object(), dim=DIM)
    w._collection = coll  # stand-in for client.collections.get(...)
    rows = [make_row(i, t, "c", unit(rng.standard_normal(DIM))) for t in ("acme", "globex") for i in range(3)]
    assert w.upsert(rows) == 6
    assert w.upsert(rows[:2]) == 2  # same chunk ids -> same UUIDs -> replaced
    assert sorted(coll.tenants.created) == ["acme", "globex"]
    assert {k: len(v) for k, v in store.items()} == {"acme": 3, "globex": 3}
    assert set(store["acme"]) == {chunk_uuid(r["chunk_id"]) for r in rows if r["tenant"] == "acme"}


def test_validate_tenant() -> None:
    assert validate_tenant("Tenant_01-eu") == "Tenant_01-eu"
    with pytest.raises(ValueError):
        validate_tenant("tenant.eu")


def _lance_file_versions(db_dir: Path) -> set[tuple[int, int]]:
    """(major, minor) from the footer of every Lance data file: ... u16 major, u16 minor, b"LANC"."""
    versions = set()
    for f in db_dir.rglob("data/*.lance"):
        tail = f.read_bytes()[-8:]
        assert tail[4:] == b"LANC", f"{f} is not a Lance data file"
        versions.add((int.from_bytes(tail[0:2], "little"), int.from_bytes(tail[2:4], "little")))
    return versions


def test_new_tables_use_lance_file_format_2_1(tmp_path: Path, index, two_tenants) -> None:
    from pipeline.domain.search.index import LANCE_FILE_VERSION

    assert LANCE_FILE_VERSION == "2.1"
    assert _lance_file_versions(tmp_path / "db") == {(2, 1)}


def test_existing_table_in_other_format_is_searched_unchanged(tmp_path: Path, rng) -> None:
    import lancedb

    from pipeline.domain.search.index import normalize_rows
    from pipeline.domain.search.lance_index import lance_schema, rows_to_arrow

    rows = [make_row(i, "acme", f"call-{i % 2}", unit(rng.standard_normal(DIM))) for i in range(6)]
    metas, vecs = normalize_rows(rows, DIM)
    db = lancedb.connect(str(tmp_path / "old"), storage_options={"new_table_data_storage_version": "2.0"})
    db.create_table("chunks", data=rows_to_arrow(metas, vecs, DIM), schema=lance_schema(DIM))
    before = _lance_file_versions(tmp_path / "old")
    assert before and (2, 1) not in before

    index = LanceDBIndex(str(tmp_path / "old"), dim=DIM, ann_threshold=10**9)
    res = index.search(rows[3]["vector"], tenant="acme", k=3)
    assert res[0]["chunk_id"] == rows[3]["chunk_id"] and res[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert res[0]["text"] == rows[3]["text"] and "vector" not in res[0]
    index.upsert([make_row(9, "acme", "call-9", unit(rng.standard_normal(DIM)))])
    assert index.count("acme") == 7
    assert _lance_file_versions(tmp_path / "old") == before  # appends keep the table's format


def test_search_results_are_ordered_with_all_fields(index, two_tenants) -> None:
    q = two_tenants["globex"][7]["vector"]
    res = index.search(q, tenant="globex", k=5)
    assert [r["chunk_id"] for r in res][0] == two_tenants["globex"][7]["chunk_id"]
    dists = [r["distance"] for r in res]
    assert dists == sorted(dists) and len(res) == 5
    by_id = {r["chunk_id"]: r for r in two_tenants["globex"]}
    for r in res:
        assert r["score"] == pytest.approx(1.0 - r["distance"])
        src = by_id[r["chunk_id"]]
        for f in ("tenant", "call_id", "chunk_type", "speaker", "started_at", "outcome", "dataset_eligible", "model_version", "text"):
            assert r[f] == src[f], f
        assert r["call_date"] == src["started_at"][:10]


def test_search_after_delete_and_compaction_is_consistent(index, two_tenants) -> None:
    import warnings
    from datetime import timedelta

    index.delete_calls(["call-0"])
    with warnings.catch_warnings():  # "removes every version": intended, nobody else reads
        warnings.simplefilter("ignore", UserWarning)
        index.table().optimize(cleanup_older_than=timedelta(0))
    q = two_tenants["acme"][5]["vector"]  # call-1
    res = index.search(q, tenant="acme", k=20)
    assert res[0]["chunk_id"] == two_tenants["acme"][5]["chunk_id"]
    assert len(res) == 8 and {r["call_id"] for r in res} == {"call-1", "call-2"}
    assert all(r["text"].startswith("[redacted chunk") for r in res)

"""Object stores: the local folder and real S3 protocol (moto_server), same behaviour;
atomic local writes; key validation; the Dagster resource on both backends."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import boto3
import pytest

from pipeline.domain.core.storage import (
    TMP_PREFIX,
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    validate_key,
)

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
         "region_name": "us-east-1"}


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, **CREDS)


def new_bucket(endpoint: str) -> str:
    name = f"cf-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow),
                        pytest.param("s3-prefixed", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("s3_endpoint")
    prefix = "callforge/test" if request.param == "s3-prefixed" else ""
    return S3ObjectStore(s3_client(endpoint), new_bucket(endpoint), prefix=prefix)


# ------------------------------------------------------------------ behaviour on every backend


def test_round_trip_bytes_json_file(store: ObjectStore, tmp_path: Path) -> None:
    assert isinstance(store, ObjectStore)
    payload = bytes(range(256)) * 40
    uri = store.put_bytes("bronze/recordings/2024-05-02/c1.wav", payload)
    assert uri == store.uri("bronze/recordings/2024-05-02/c1.wav")
    assert uri.endswith("bronze/recordings/2024-05-02/c1.wav")
    assert store.get_bytes("bronze/recordings/2024-05-02/c1.wav") == payload

    doc = {"call_id": "c1", "n": 3, "names": ["Zoë", "Ünal"], "nested": {"ok": True}}
    store.put_json("silver/transcripts/2024-05-02/c1.json", doc)
    assert store.get_json("silver/transcripts/2024-05-02/c1.json") == doc

    src = tmp_path / "adapter.safetensors"
    src.write_bytes(os.urandom(300_000))
    store.put_file("gold/adapters/v1/adapter.safetensors", src)
    assert store.get_bytes("gold/adapters/v1/adapter.safetensors") == src.read_bytes()

    # overwrite replaces the whole object
    store.put_bytes("bronze/recordings/2024-05-02/c1.wav", b"short")
    assert store.get_bytes("bronze/recordings/2024-05-02/c1.wav") == b"short"


def test_list_is_sorted_and_uses_plain_prefixes(store: ObjectStore) -> None:
    for k in ["b/2024-05-02/z.json", "b/2024-05-02/a.json", "b/2024-05-10/a.json",
              "b/2024-05-2x.json", "c/a.json", "top.json"]:
        store.put_bytes(k, b"{}")
    assert store.list() == sorted(["b/2024-05-02/a.json", "b/2024-05-02/z.json",
                                   "b/2024-05-10/a.json", "b/2024-05-2x.json", "c/a.json",
                                   "top.json"])
    assert store.list("b/2024-05-02/") == ["b/2024-05-02/a.json", "b/2024-05-02/z.json"]
    assert store.list("b/2024-05-2") == ["b/2024-05-2x.json"]  # string prefix, not folder
    assert store.list("b/2024-05-") == ["b/2024-05-02/a.json", "b/2024-05-02/z.json",
                                       "b/2024-05-10/a.json", "b/2024-05-2x.json"]
    assert store.list("nothing/") == []


def test_exists_delete_and_delete_prefix(store: ObjectStore) -> None:
    for k in ["p/2024-05-02/a", "p/2024-05-02/b", "p/2024-05-03/a", "q/a"]:
        store.put_bytes(k, b"x")
    assert store.exists("p/2024-05-02/a") and not store.exists("p/2024-05-02/zzz")
    assert store.delete("p/2024-05-02/a") is True
    assert store.delete("p/2024-05-02/a") is False
    assert not store.exists("p/2024-05-02/a")
    assert store.delete_prefix("p/2024-05-02/") == 1
    assert store.delete_prefix("p/") == 1
    assert store.delete_prefix("p/") == 0
    assert store.list() == ["q/a"]
    with pytest.raises(ValueError, match="empty prefix"):
        store.delete_prefix("")
    assert store.list() == ["q/a"]


def test_missing_objects_raise_file_not_found_naming_the_key(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError, match="nope/missing.json"):
        store.get_bytes("nope/missing.json")
    with pytest.raises(FileNotFoundError, match="nope/missing.json"):
        store.get_json("nope/missing.json")
    with pytest.raises(FileNotFoundError, match="nope/missing.wav"):
        with store.local_path("nope/missing.wav"):
            pass
    with pytest.raises(FileNotFoundError, match="does not exist"):
        store.put_file("x/y", "/definitely/not/here.bin")


def test_get_json_on_non_json_is_a_clear_value_error(store: ObjectStore) -> None:
    store.put_bytes("bad/doc.json", b"\xff\xfe not json")
    with pytest.raises(ValueError, match="bad/doc.json.*not valid UTF-8 JSON"):
        store.get_json("bad/doc.json")


def test_local_path_yields_a_readable_file(store: ObjectStore) -> None:
    store.put_bytes("audio/c1.wav", b"RIFF....WAVE")
    with store.local_path("audio/c1.wav") as p:
        assert p.suffix == ".wav"
        assert p.read_bytes() == b"RIFF....WAVE"
        seen = p
    if isinstance(store, S3ObjectStore):
        assert not seen.exists()  # the temporary download is removed
    else:
        assert seen.exists()  # the local store hands out its own file, untouched


@pytest.mark.parametrize("key", [
    "", "/abs/key", "../escape", "a/../../etc/passwd", "a/./b", "a//b", "a/", ".",
    "a\\b", "C:/windows", f"a/{TMP_PREFIX}x", "nul\x00byte",
])
def test_bad_keys_are_rejected_everywhere(store: ObjectStore, key: str) -> None:
    for op in (lambda: store.put_bytes(key, b"x"), lambda: store.get_bytes(key),
               lambda: store.exists(key), lambda: store.delete(key), lambda: store.uri(key)):
        with pytest.raises(ValueError, match="object key"):
            op()
    assert store.list() == []


def test_list_rejects_bad_prefixes(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="object key"):
        store.list("../")
    with pytest.raises(ValueError, match="object key"):
        store.delete_prefix("/")


def test_put_bytes_rejects_non_bytes(store: ObjectStore) -> None:
    with pytest.raises(TypeError, match="k.txt.*must be bytes"):
        store.put_bytes("k.txt", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["ok.json", "a/b-c_d/e.f.json", "2024-05-02/call:1.wav",
                                 "spaces are ok/x y.txt"])
def test_good_keys_are_accepted(key: str) -> None:
    assert validate_key(key) == key


# ------------------------------------------------------------------ local specifics


def test_local_keys_cannot_escape_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    store.put_bytes("a/b.txt", b"1")
    assert store.path("a/b.txt") == (tmp_path / "root" / "a" / "b.txt").resolve()
    assert store.uri("a/b.txt").startswith("file:///")
    assert (tmp_path / "root" / "a" / "b.txt").read_bytes() == b"1"
    assert not (tmp_path / "escape").exists()


def test_local_failed_write_keeps_old_version_and_leaves_no_temp(tmp_path: Path,
                                                                 monkeypatch) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_bytes("d/obj.bin", b"version-1")

    def boom(src, dst):  # type: ignore[no-untyped-def]
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.put_bytes("d/obj.bin", b"version-2")
    monkeypatch.undo()
    assert store.get_bytes("d/obj.bin") == b"version-1"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["obj.bin"]


def test_local_temp_files_are_never_listed(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_bytes("d/real.json", b"{}")
    (tmp_path / "d" / f"{TMP_PREFIX}abc-real.json").write_bytes(b"half")  # a crashed writer
    assert store.list() == ["d/real.json"]
    assert store.delete_prefix("d/") == 1


def test_local_concurrent_writers_and_readers_never_see_partial_objects(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    versions = [bytes([i]) * 2_000_000 for i in range(1, 5)]  # 2 MB each
    store.put_bytes("race/obj.bin", versions[0])
    errors: list[str] = []
    stop = threading.Event()

    def writer(i: int) -> None:
        for _ in range(5):
            store.put_bytes("race/obj.bin", versions[i])

    def reader() -> None:
        while not stop.is_set():
            data = store.get_bytes("race/obj.bin")
            if data not in versions:
                errors.append(f"partial read: {len(data)} bytes")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert store.get_bytes("race/obj.bin") in versions
    assert store.list("race/") == ["race/obj.bin"]


def test_local_delete_prunes_empty_folders_but_not_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    store.put_bytes("a/b/c/d.txt", b"x")
    store.delete("a/b/c/d.txt")
    assert not (tmp_path / "root" / "a").exists()
    assert (tmp_path / "root").is_dir()


# ------------------------------------------------------------------ S3 specifics


@pytest.mark.slow
def test_s3_prefix_is_applied_and_stripped(s3_endpoint: str) -> None:
    client = s3_client(s3_endpoint)
    bucket = new_bucket(s3_endpoint)
    store = S3ObjectStore(client, bucket, prefix="/tenant-a/")
    store.put_bytes("k/1.json", b"{}")
    assert store.uri("k/1.json") == f"s3://{bucket}/tenant-a/k/1.json"
    raw = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert raw == ["tenant-a/k/1.json"]
    assert store.list() == ["k/1.json"]
    other = S3ObjectStore(client, bucket, prefix="tenant-b")
    assert other.list() == [] and not other.exists("k/1.json")


@pytest.mark.slow
def test_s3_listing_and_deleting_span_several_pages(s3_endpoint: str) -> None:
    store = S3ObjectStore(s3_client(s3_endpoint), new_bucket(s3_endpoint), page_size=3)
    keys = [f"many/{i:02d}" for i in range(10)]  # 4 ListObjects pages, 4 DeleteObjects calls
    for k in reversed(keys):
        store.put_bytes(k, b"")
    store.put_bytes("keep/me", b"")
    assert store.list("many/") == keys
    assert store.delete_prefix("many/") == 10
    assert store.list() == ["keep/me"]
    with pytest.raises(ValueError, match="page_size"):
        S3ObjectStore(store.client, store.bucket, page_size=1001)


def test_s3_store_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="bucket"):
        S3ObjectStore(client=None, bucket="")


# ------------------------------------------------------------------ resource


def _run_with_store(resource) -> list[str]:  # type: ignore[no-untyped-def]
    import dagster as dg

    from resources.object_store import ObjectStoreResource

    def writes_objects(objects):  # type: ignore[no-untyped-def]
        s = objects.get_store()
        s.put_json("gold/x/2024-05-02.json", {"n": 1})
        return s.list("gold/")

    writes_objects.__annotations__ = {"objects": ObjectStoreResource, "return": list}
    result = dg.materialize([dg.asset(writes_objects)], resources={"objects": resource})
    assert result.success
    return result.output_for_node("writes_objects")


def test_object_store_resource_local(tmp_path: Path) -> None:
    from resources.object_store import ObjectStoreResource

    res = ObjectStoreResource(backend="local", root=str(tmp_path / "objs"))
    assert _run_with_store(res) == ["gold/x/2024-05-02.json"]
    assert (tmp_path / "objs" / "gold" / "x" / "2024-05-02.json").is_file()
    assert isinstance(res.get_store(), LocalObjectStore)


@pytest.mark.slow
def test_object_store_resource_s3(s3_endpoint: str) -> None:
    from dagster_aws.s3 import S3Resource

    from resources.object_store import ObjectStoreResource

    bucket = new_bucket(s3_endpoint)
    res = ObjectStoreResource(backend="s3", bucket=bucket, prefix="cf",
                              s3=S3Resource(endpoint_url=s3_endpoint, **CREDS))
    assert _run_with_store(res) == ["gold/x/2024-05-02.json"]
    body = s3_client(s3_endpoint).get_object(Bucket=bucket, Key="cf/gold/x/2024-05-02.json")
    assert body["Body"].read() == b'{"n": 1}'
    store = res.get_store()
    assert isinstance(store, S3ObjectStore) and store.client is res.get_store().client


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "local"}, "needs 'root'"),
    ({"backend": "s3"}, "needs 'bucket'"),
])
def test_object_store_resource_incomplete_config_fails_clearly(kwargs: dict, match: str) -> None:
    import dagster as dg

    from resources.object_store import ObjectStoreResource

    with pytest.raises(dg.Failure, match=match):
        ObjectStoreResource(**kwargs).get_store()


def test_object_store_resource_rejects_unknown_backend() -> None:
    from pydantic import ValidationError

    from resources.object_store import ObjectStoreResource

    with pytest.raises(ValidationError, match="'local' or 's3'"):
        ObjectStoreResource(backend="gcs")  # type: ignore[arg-type]

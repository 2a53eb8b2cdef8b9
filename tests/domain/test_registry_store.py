"""The adapter registry published to an object store (local folder and real S3 protocol):
``adapters/<name>/<version>/`` with training metadata, ``current.json``, pull on a fresh
host, cleanup, concurrent promotions."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import boto3
import pytest

from pipeline.domain.core.storage import LocalObjectStore, S3ObjectStore, open_store
from pipeline.domain.learning.registry import AdapterRegistry, code_version, model_fingerprint

MANIFEST = {"base_model": "/models/minilm", "base_model_sha256": "ab" * 32, "dataset_version": "ds-1",
            "config": {"lora_r": 16, "seed": 3}, "metrics": {"macro_f1": 0.9}}
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def store(request, tmp_path):
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    endpoint = request.getfixturevalue("s3_endpoint")
    client = boto3.client("s3", endpoint_url=endpoint, **CREDS)
    bucket = f"cf-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3ObjectStore(client, bucket, prefix="lake")


@pytest.fixture
def adapter(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(b"\x00weights-1")
    (d / "adapter_config.json").write_text('{"r": 16}')
    (d / "tokenizer").mkdir()
    (d / "tokenizer" / "tokenizer.json").write_text("{}")
    return d


def test_register_publishes_files_and_training_metadata(tmp_path, store, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "reg" / "intent", name="intent", mirror=store)
    v = reg.register(adapter, MANIFEST)
    keys = store.list("adapters/intent/")
    assert {f"adapters/intent/{v}/{f}" for f in ("adapter_model.safetensors", "adapter_config.json",
                                                   "tokenizer/tokenizer.json", "training_metadata.json",
                                                   "manifest.json")} <= set(keys)
    assert store.get_bytes(f"adapters/intent/{v}/adapter_model.safetensors") == b"\x00weights-1"
    meta = store.get_json(f"adapters/intent/{v}/training_metadata.json")
    assert meta["base_model"] == "/models/minilm" and meta["base_model_sha256"] == "ab" * 32
    assert meta["dataset_version"] == "ds-1" and meta["seed"] == 3 and meta["metrics"] == {"macro_f1": 0.9}
    assert meta["config"]["lora_r"] == 16 and meta["code_version"] and meta["version"] == v
    assert (reg.path(v) / "training_metadata.json").is_file()
    assert reg.version_uri(v) == store.uri(f"adapters/intent/{v}/training_metadata.json")


def test_pointers_follow_promote_and_rollback_in_the_store(tmp_path, store, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "reg" / "chat", mirror=store)
    v1, v2 = reg.register(adapter, MANIFEST), reg.register(adapter, MANIFEST)
    assert not store.exists("adapters/chat/current.json")
    reg.promote(v1, "first")
    reg.promote(v2, "better")
    cur = store.get_json("adapters/chat/current.json")
    assert cur["version"] == v2 and cur["previous"] == v1 and cur["name"] == "chat"
    assert cur["uri"] == store.uri(f"adapters/chat/{v2}/manifest.json")[: -len("manifest.json")]
    reg.rollback("worse on A/B")
    assert store.get_json("adapters/chat/current.json")["version"] == v1
    hist = [json.loads(x) for x in store.get_bytes("adapters/chat/history.jsonl").decode().splitlines()]
    assert [h["action"] for h in hist] == ["promote", "promote", "rollback"]
    reg.pin(v2)
    assert json.loads(store.get_bytes("adapters/chat/pins.json")) == [v2]


def test_a_fresh_host_pulls_versions_and_pointers(tmp_path, store, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "host-a" / "intent", mirror=store)
    v1, v2 = reg.register(adapter, MANIFEST), reg.register(adapter, MANIFEST)
    reg.promote(v1, "first")
    reg.promote(v2, "second")
    other = AdapterRegistry(tmp_path / "host-b" / "intent", mirror=store)
    assert other.versions() == []
    assert other.pull() == [v1, v2]
    assert other.versions() == [v1, v2] and other.champion() == v2
    assert other.verify(v1) == [] and other.verify(v2) == []
    assert (other.root / "current").resolve().name == v2
    assert other.pull() == []  # idempotent
    reg.rollback("bad")
    other.pull()
    assert other.champion() == v1


def test_cleanup_deletes_from_the_store_too(tmp_path, store, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "reg" / "intent", mirror=store)
    vs = [reg.register(adapter, MANIFEST) for _ in range(4)]
    reg.promote(vs[0], "champion")
    deleted = reg.cleanup(keep=1)
    assert deleted == vs[1:3]
    remaining = {k.split("/")[2] for k in store.list("adapters/intent/") if k.count("/") >= 3}
    assert remaining == {vs[0], vs[3]}


def test_concurrent_promotions_keep_one_consistent_pointer_in_the_store(tmp_path, adapter) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    reg = AdapterRegistry(tmp_path / "reg" / "intent", mirror=store)
    vs = [reg.register(adapter, MANIFEST) for _ in range(4)]
    errors: list[BaseException] = []

    def promote_many(version: str) -> None:
        try:
            for i in range(10):
                AdapterRegistry(reg.root, mirror=store).promote(version, f"race {i}")
        except BaseException as e:  # pragma: no cover - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=promote_many, args=(v,)) for v in vs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    local = json.loads((reg.root / "champion.json").read_text())
    remote = store.get_json("adapters/intent/current.json")
    assert remote["version"] == local["version"] == (reg.root / "current").resolve().name
    assert remote["promoted_at"] == local["promoted_at"]
    assert len(store.get_bytes("adapters/intent/history.jsonl").decode().splitlines()) == 40


def test_bad_names_and_store_specs(tmp_path) -> None:
    with pytest.raises(ValueError, match="adapter name"):
        AdapterRegistry(tmp_path / "Bad Name")
    with pytest.raises(ValueError, match="unknown object store backend"):
        open_store({"backend": "ftp"})
    with pytest.raises(ValueError, match="needs 'root'"):
        open_store({"backend": "local"})
    assert isinstance(open_store({"backend": "local", "root": str(tmp_path)}), LocalObjectStore)


def test_model_fingerprint_and_code_version(tmp_path) -> None:
    d = tmp_path / "model"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"w1")
    (d / "config.json").write_text("{}")  # not a weight file: not hashed
    a = model_fingerprint(d)
    (d / "config.json").write_text('{"x": 1}')
    assert model_fingerprint(d) == a and len(a) == 64
    (d / "model.safetensors").write_bytes(b"w2")
    assert model_fingerprint(d) != a
    with pytest.raises(FileNotFoundError, match="no model weight files"):
        model_fingerprint(tmp_path / "empty-does-not-exist")
    assert code_version() not in ("",)


def test_local_spec_reopens_the_same_store(tmp_path, adapter) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    reg = AdapterRegistry(tmp_path / "reg" / "intent", mirror=store)
    v = reg.register(adapter, MANIFEST)
    again = open_store({"backend": "local", "root": str(tmp_path / "objects")})
    assert again.exists(f"adapters/intent/{v}/manifest.json")
    assert Path(again.root) == Path(store.root)

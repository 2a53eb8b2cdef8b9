"""Adapter registry (versions, manifests, champion, history) and the training gate."""

from __future__ import annotations

import json
import threading

import pytest

from pipeline.domain.core.models import sha256_bytes
from pipeline.domain.learning.registry import AdapterRegistry, TrainingGate, check_gate

MANIFEST = {"base_model": "minilm", "dataset_version": "ds-1", "config": {"lora_r": 16}, "metrics": {"macro_f1": 0.9}}


@pytest.fixture
def adapter(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(b"\x00weights-1")
    (d / "head.safetensors").write_bytes(b"head")
    (d / "labels.json").write_text('["a", "b"]')
    return d


def test_register_copies_files_and_writes_manifest(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    assert reg.versions() == [] and reg.champion() is None
    v1 = reg.register(adapter, MANIFEST)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-2")
    v2 = reg.register(adapter, MANIFEST)
    assert (v1, v2) == ("v0001", "v0002")
    assert reg.versions() == ["v0001", "v0002"]
    m = reg.manifest(v1)
    assert m["version"] == "v0001" and m["dataset_version"] == "ds-1" and m["created_at"]
    assert m["weights_sha256"] == {
        "adapter_model.safetensors": sha256_bytes(b"\x00weights-1"),
        "head.safetensors": sha256_bytes(b"head"),
    }
    assert m["files"]["labels.json"]["bytes"] == len('["a", "b"]')
    assert (reg.path(v1) / "adapter_model.safetensors").read_bytes() == b"\x00weights-1"
    assert reg.verify(v1) == []
    (reg.path(v1) / "head.safetensors").write_bytes(b"tampered")
    assert reg.verify(v1) == ["head.safetensors"]
    assert not list((tmp_path / "registry").glob(".staging-*"))


def test_concurrent_registrations_get_distinct_versions(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(reg.register(adapter, MANIFEST))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [f"v{i:04d}" for i in range(1, 7)]
    assert reg.versions() == sorted(out)


def test_promote_and_history(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    v1, v2 = reg.register(adapter, MANIFEST), reg.register(adapter, MANIFEST)
    reg.promote(v1, "first")
    reg.promote(v2, "beats v0001")
    assert reg.champion() == "v0002"
    assert [(h["version"], h["previous"], h["reason"]) for h in reg.history()] == [
        ("v0001", None, "first"),
        ("v0002", "v0001", "beats v0001"),
    ]
    # a fresh handle on the same root sees the same state
    assert AdapterRegistry(tmp_path / "registry").champion() == "v0002"


def test_register_bad_inputs(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reg.register(tmp_path / "nope", MANIFEST)
    with pytest.raises(ValueError, match="missing dataset_version"):
        reg.register(adapter, {k: v for k, v in MANIFEST.items() if k != "dataset_version"})
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "labels.json").write_text("[]")
    with pytest.raises(ValueError, match="no weight files"):
        reg.register(empty, MANIFEST)
    assert reg.versions() == []


def test_unknown_versions_and_bad_promotions(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    with pytest.raises(KeyError, match="v0007"):
        reg.manifest("v0007")
    with pytest.raises(ValueError, match="not a version name"):
        reg.path("../etc")
    with pytest.raises(KeyError):
        reg.promote("v0001", "no such version")
    v = reg.register(adapter, MANIFEST)
    with pytest.raises(ValueError, match="reason"):
        reg.promote(v, " ")
    assert reg.champion() is None and reg.history() == []


def test_corrupt_files_give_clear_errors(tmp_path, adapter) -> None:
    reg = AdapterRegistry(tmp_path / "registry")
    v = reg.register(adapter, MANIFEST)
    (reg.path(v) / "manifest.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"manifest\.json: invalid JSON"):
        reg.manifest(v)
    (tmp_path / "registry" / "champion.json").write_text(json.dumps({"nothing": 1}))
    with pytest.raises(ValueError, match="corrupt champion"):
        reg.champion()


def test_gate_open_when_all_conditions_hold() -> None:
    d = TrainingGate.check_gate(500, 120, min_examples=200, min_new=100, training_in_flight=False, data_checks_ok=True)
    assert d.open and len(d.reasons) == 4


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((150, 120, 200, 100, False, True), "not enough labelled examples"),
        ((500, 99, 200, 100, False, True), "not enough new labelled examples"),
        ((500, 120, 200, 100, True, True), "in flight"),
        ((500, 120, 200, 100, False, False), "data checks"),
    ],
)
def test_gate_closed_cases(args, why) -> None:
    d = check_gate(*args)
    assert not d.open
    assert len(d.reasons) == 1 and why in d.reasons[0]


def test_gate_reports_every_failed_condition() -> None:
    d = check_gate(0, 0, 10, 5, True, False)
    assert not d.open and len(d.reasons) == 4


@pytest.mark.parametrize(
    "args",
    [(-1, 0, 1, 1, False, True), (10, 11, 1, 1, False, True), (10, 5, 1.5, 1, False, True), (True, 0, 1, 1, False, True)],
)
def test_gate_bad_input(args) -> None:
    with pytest.raises(ValueError):
        check_gate(*args)


def _registry_with(tmp_path, adapter, n: int) -> tuple[AdapterRegistry, list[str]]:
    reg = AdapterRegistry(tmp_path / "reg")
    return reg, [reg.register(adapter, MANIFEST) for _ in range(n)]


def test_current_pointer_follows_promotion_and_rollback(tmp_path, adapter) -> None:
    reg, (v1, v2, v3) = _registry_with(tmp_path, adapter, 3)
    with pytest.raises(ValueError, match="no champion"):
        reg.rollback("nothing yet")
    reg.promote(v1, "first")
    with pytest.raises(ValueError, match="no predecessor"):
        reg.rollback("nothing before v1")
    reg.promote(v3, "better on held-out")
    assert (reg.root / "current").resolve() == reg.path(v3).resolve()
    cur = json.loads((reg.root / "current.json").read_text())
    assert cur["version"] == v3 and cur["path"] == str(reg.path(v3).resolve())
    back = reg.rollback("A/B: resolution rate fell")
    assert back["version"] == v1 and back["action"] == "rollback" and reg.champion() == v1
    assert (reg.root / "current").resolve() == reg.path(v1).resolve()
    assert [h["action"] for h in reg.history()] == ["promote", "promote", "rollback"]
    assert reg.vllm_module("intent") == f"intent={(reg.root / 'current').absolute()}"


def test_cleanup_keeps_the_newest_the_champion_its_predecessor_and_pins(tmp_path, adapter) -> None:
    reg, vs = _registry_with(tmp_path, adapter, 9)
    reg.promote(vs[1], "old champion")
    reg.promote(vs[2], "champion")   # vs[1] is its rollback target
    reg.pin(vs[0])
    deleted = reg.cleanup(keep=5)
    assert deleted == [vs[3]]
    assert reg.versions() == [vs[0], vs[1], vs[2], *vs[4:]]
    reg.pin(vs[0], pinned=False)
    assert reg.cleanup(keep=5) == [vs[0]]
    with pytest.raises(ValueError, match="keep must be"):
        reg.cleanup(keep=0)


def test_concurrent_promotions_never_leave_a_torn_pointer(tmp_path, adapter) -> None:
    reg, vs = _registry_with(tmp_path, adapter, 6)
    errors: list[BaseException] = []

    def promote_many(version: str) -> None:
        try:
            for i in range(15):
                AdapterRegistry(reg.root).promote(version, f"race {i}")
        except BaseException as e:  # pragma: no cover - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=promote_many, args=(v,)) for v in vs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    champ = json.loads((reg.root / "champion.json").read_text())["version"]
    cur = json.loads((reg.root / "current.json").read_text())["version"]
    assert champ == cur == (reg.root / "current").resolve().name
    hist = reg.history()
    assert len(hist) == 6 * 15
    # the lock serialises promotions: every entry's "previous" is the entry before it
    assert all(h["previous"] == prev["version"] for prev, h in zip(hist, hist[1:]))
    assert not list(reg.root.glob(".current-*"))


def test_training_lock_is_exclusive_and_breaks_when_stale(tmp_path) -> None:
    import os
    import time

    from pipeline.domain.learning.registry import TrainingLock

    a, b = TrainingLock(tmp_path, stale_after_s=60), TrainingLock(tmp_path, stale_after_s=60)
    assert a.holder() is None
    assert a.acquire("run-a") and a.acquire("run-a")  # re-entrant for its owner
    assert not b.acquire("run-b")
    h = b.holder()
    assert h["owner"] == "run-a" and not h["stale"]
    b.release("run-b")  # not the holder: nothing happens
    assert a.holder()["owner"] == "run-a"
    old = time.time() - 3600
    os.utime(a.path, (old, old))  # run-a crashed an hour ago
    assert b.holder()["stale"] and b.acquire("run-b")
    assert a.holder()["owner"] == "run-b"
    b.release("run-b")
    assert a.holder() is None


def test_concurrent_lock_takers_one_wins(tmp_path) -> None:
    from pipeline.domain.learning.registry import TrainingLock

    wins: list[str] = []

    def take(name: str) -> None:
        if TrainingLock(tmp_path).acquire(name):
            wins.append(name)

    threads = [threading.Thread(target=take, args=(f"run-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1

"""Sharding a day's calls (pipeline/domain/flows/common.py) and the sharded flows: shards are
disjoint and cover the day, reports merge to the partition's, and embeddings encoded in
shards reach the index exactly as in one pass."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline.domain.core.keys import CallKeys
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import CallMetadata, Consent, QuarantineRecord
from pipeline.domain.core.storage import LocalObjectStore
from pipeline.domain.flows import embeddings as emb
from pipeline.domain.flows.common import Shard, as_shard, merge_reports, shard_of
from pipeline.domain.flows.transcription import TranscriptionPart, merge_transcription
from pipeline.domain.intake.ingest import StageReport

DATE = "2026-11-03"


def test_shards_are_disjoint_cover_every_call_and_are_stable():
    ids = [f"call_{i:05d}" for i in range(600)]
    for count in (1, 2, 3, 4):
        owners = {cid: [i for i in range(count) if Shard(i, count).owns(cid)] for cid in ids}
        assert all(len(o) == 1 for o in owners.values())  # exactly one shard per call
        sizes = Counter(o[0] for o in owners.values())
        assert len(sizes) == count and min(sizes.values()) > 600 / count * 0.7  # roughly balanced
    # the assignment is a pure function of the call id: every process and host agrees
    assert [shard_of(c, 2) for c in ("call_0004", "call_0005", "call_0006", "call_0007", "call_0009")] == [0, 1, 0, 1, 1]
    assert shard_of("x", 3) == int.from_bytes(hashlib.sha256(b"x").digest()[:8], "big") % 3


@pytest.mark.parametrize("bad", [(2, 2), (-1, 2), (0, 0)])
def test_invalid_shards_are_refused(bad):
    with pytest.raises(ValueError):
        as_shard(bad)


def test_as_shard_accepts_a_plain_tuple_and_none():
    assert as_shard(None) is None
    assert as_shard((1, 3)) == Shard(1, 3) and isinstance(as_shard((1, 3)), Shard)


def test_merge_reports_concatenates_and_sums():
    a, b = StageReport(), StageReport()
    a.processed, b.processed = ["c1"], ["c2", "c3"]
    a.skipped, b.quarantined = ["c4"], [QuarantineRecord("c5", "transcription", "audio_decode_failed", "x", "u")]
    a.counts.update({"pii_spans": 2, "entity:PHONE": 1, "audio_seconds": 1.5})
    b.counts.update({"pii_spans": 3, "audio_seconds": 2.0})
    m = merge_reports([a, b])
    assert m.processed == ["c1", "c2", "c3"] and m.skipped == ["c4"] and m.reasons() == {"audio_decode_failed": 1}
    assert m.counts == Counter({"pii_spans": 5, "entity:PHONE": 1, "audio_seconds": 3.5})


def test_merge_transcription_recomputes_coverage_over_every_shard():
    p1, p2, p3 = TranscriptionPart(coverages=[0.9, 1.0]), TranscriptionPart(coverages=[0.8]), TranscriptionPart()
    p1.report.counts["words"], p2.report.counts["words"] = 10, 5
    rep = merge_transcription([p1, p2, p3])
    assert rep.counts["speech_coverage_min"] == 0.8
    assert rep.counts["speech_coverage_mean"] == pytest.approx(0.9)
    assert rep.counts["words"] == 15
    assert "speech_coverage_min" not in merge_transcription([TranscriptionPart()]).counts


# ---------------------------------------------------------------- embeddings in shards


class FakeEmbedder:
    """Deterministic per-text vectors (batch-invariant, unlike a real encoder)."""

    model_version = "fake-1"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def encode(self, texts):
        self.batches.append(len(texts))
        return np.stack([np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8)[:8].astype("float32")
                         for t in texts])


class FakeIndex:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def delete_calls(self, ids):
        gone = [k for k, r in self.rows.items() if r["call_id"] in set(ids)]
        for k in gone:
            del self.rows[k]
        return len(gone)

    def upsert(self, rows):
        self.rows.update({r["chunk_id"]: r for r in rows})

    def ensure_index(self):
        return {}


def _day(tmp_path, name):
    store, ledger = LocalObjectStore(tmp_path / name / "objects"), Ledger(f"sqlite:///{tmp_path / name / 'l.db'}")
    ledger.create_all()
    for i, cid in enumerate(["call_0004", "call_0005", "call_0006", "call_0009"]):
        meta = CallMetadata(cid, "acme", datetime(2026, 11, 3, 9 + i, tzinfo=UTC), "agent_1", "inbound",
                            Consent("granted", training=i % 2 == 0))
        ledger.upsert_call(meta, input_hash=cid)
        segs = [{"speaker": "agent" if j % 2 == 0 else "customer", "start": float(j), "end": j + 0.9,
                 "text": f"{cid} turn {j} about a card payment and a refund request"} for j in range(3 + i)]
        store.put_json(CallKeys(DATE, "acme", cid).redacted_transcript,
                       {"call_id": cid, "source_format": "whisper", "segments": segs})
    return store, ledger


def test_embeddings_in_two_shards_index_like_one_pass(tmp_path):
    store1, ledger1 = _day(tmp_path, "one")
    index1 = FakeIndex()
    whole = emb.embeddings_partition(store1, ledger1, FakeEmbedder(), index1, DATE)

    store2, ledger2 = _day(tmp_path, "two")
    index2, embedder = FakeIndex(), FakeEmbedder()
    parts = [emb.embed_part(store2, ledger2, embedder, DATE, (i, 2)) for i in range(2)]
    assert sorted(c.call_id for p in parts for c in p.calls) == ["call_0004", "call_0005", "call_0006", "call_0009"]
    assert all(p.calls for p in parts) and len(embedder.batches) == 2
    assert not index2.rows  # shards only encode; the fan-in writes the index
    sharded = emb.index_embeddings(store2, ledger2, index2, DATE, parts)

    assert (sharded.calls, sharded.chunks, sharded.residual_findings) == (whole.calls, whole.chunks, 0)
    assert index1.rows.keys() == index2.rows.keys()
    for k, r in index1.rows.items():
        r2 = index2.rows[k]
        assert {f: v for f, v in r.items() if f != "vector"} == {f: v for f, v in r2.items() if f != "vector"}
        np.testing.assert_array_equal(r["vector"], r2["vector"])
    vec_key = f"gold/transcript_embeddings/{DATE}/call_vectors.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(store1.get_bytes(vec_key))),
                                  pd.read_parquet(io.BytesIO(store2.get_bytes(vec_key))))
    # the ledger marks each call once: a re-run skips them all
    again = [emb.embed_part(store2, ledger2, embedder, DATE, (i, 2)) for i in range(2)]
    assert sum(p.skipped for p in again) == 4 and not any(p.calls for p in again)


def test_a_shard_returns_keys_not_vectors_and_erasure_removes_the_stored_vectors(tmp_path):
    """What a shard returns is kept by the IO manager for the run's lifetime and beyond:
    it names each call's vectors in the object store, where the call's layers (and so
    retention and erasure) reach them, and carries no array."""
    from pipeline.domain.core.keys import call_vectors_key, delete_call_layers

    store, ledger = _day(tmp_path, "d")
    parts = [emb.embed_part(store, ledger, FakeEmbedder(), DATE, (i, 2)) for i in range(2)]
    calls = [c for p in parts for c in p.calls]
    assert calls and all(isinstance(v, (str, int, float)) for c in calls for v in vars(c).values())
    for c in calls:
        keys = CallKeys(DATE, "acme", c.call_id)
        assert c.vectors_key == keys.embedding_vectors and store.exists(c.vectors_key)
    emb.index_embeddings(store, ledger, FakeIndex(), DATE, parts)
    table = pd.read_parquet(io.BytesIO(store.get_bytes(call_vectors_key(DATE))))
    assert "call_0005" in set(table["call_id"])

    n = delete_call_layers(store, CallKeys(DATE, "acme", "call_0005"), ("transcript",))
    assert n == 3  # the redacted transcript, the vectors, the call_vectors table rewritten
    assert not store.exists(CallKeys(DATE, "acme", "call_0005").embedding_vectors)
    after = pd.read_parquet(io.BytesIO(store.get_bytes(call_vectors_key(DATE))))
    assert sorted(after["call_id"]) == sorted(set(table["call_id"]) - {"call_0005"})
    # the other calls' rows are untouched
    keep = table[table["call_id"] != "call_0005"].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, keep)


def test_a_call_changed_after_its_shard_encoded_is_left_for_the_next_run(tmp_path):
    store, ledger = _day(tmp_path, "d")
    parts = [emb.embed_part(store, ledger, FakeEmbedder(), DATE, (i, 2)) for i in range(2)]
    key = CallKeys(DATE, "acme", "call_0005").redacted_transcript
    doc = store.get_json(key)
    doc["segments"][0]["text"] = "re-redacted meanwhile"
    store.put_json(key, doc)
    index = FakeIndex()
    res = emb.index_embeddings(store, ledger, index, DATE, parts)
    assert res.calls == 3 and "call_0005" not in {r["call_id"] for r in index.rows.values()}
    assert ledger.processed("embed", "call_0005") is None


# ---------------------------------------------------------------- audio redaction in shards


def test_audio_redaction_in_two_shards_mutes_each_call_once_like_one_pass(tmp_path):
    """Each shard mutes only its own calls; together they write exactly what one pass
    writes (byte-identical WAVs), and a re-run of either shard skips its calls."""
    import soundfile as sf

    from pipeline.domain.flows.redaction import redact_audio_partition

    rng = np.random.default_rng(0)
    wavs = {}
    for cid in ("call_0004", "call_0005", "call_0006", "call_0009"):
        buf = io.BytesIO()
        sf.write(buf, rng.uniform(-0.5, 0.5, (16000, 2)).astype("float32"), 16000, format="WAV", subtype="PCM_16")
        wavs[cid] = buf.getvalue()

    def day(name):
        store, ledger = LocalObjectStore(tmp_path / name / "objects"), Ledger(f"sqlite:///{tmp_path / name / 'l.db'}")
        ledger.create_all()
        for cid, wav in wavs.items():
            meta = CallMetadata(cid, "acme", datetime(2026, 11, 3, 9, tzinfo=UTC), "agent_1", "inbound",
                                Consent("granted", training=True))
            ledger.ingest_call(meta, f"h-{cid}", source=f"{cid}.json")
            keys = CallKeys(DATE, "acme", cid)
            store.put_bytes(keys.bronze_audio(".wav"), wav)
            store.put_json(keys.bronze_sidecar, {"call_id": cid, "tenant": "acme", "audio_key": keys.bronze_audio(".wav"),
                                                 "audio_sha256": hashlib.sha256(wav).hexdigest()})
            store.put_json(keys.redacted_transcript, {"segments": [], "pii_spans": [
                {"segment": 0, "start": 0, "end": 4, "entity_type": "PHONE_NUMBER", "t_start": 0.2, "t_end": 0.5}]})
        return store, ledger

    store1, ledger1 = day("one")
    whole = redact_audio_partition(store1, ledger1, DATE, 0.1, "test")
    store2, ledger2 = day("two")
    parts = [redact_audio_partition(store2, ledger2, DATE, 0.1, "test", shard=(i, 2)) for i in range(2)]
    assert [sorted(p.processed) for p in parts] == [["call_0004", "call_0006"], ["call_0005", "call_0009"]]
    assert sorted(merge_reports(parts).processed) == sorted(whole.processed) == sorted(wavs)
    for cid in wavs:
        key = CallKeys(DATE, "acme", cid).redacted_audio
        assert store2.get_bytes(key) == store1.get_bytes(key)
        assert len(ledger2.audit_rows(call_id=cid, action="raw_audio_access")) == 1
    again = redact_audio_partition(store2, ledger2, DATE, 0.1, "test", shard=(1, 2))
    assert sorted(again.skipped) == ["call_0005", "call_0009"] and not again.processed

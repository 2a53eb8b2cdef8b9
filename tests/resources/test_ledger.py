"""The compliance ledger on SQLite (tmp_path) and on a real PostgreSQL 15 server.

Every behavioural test runs on both backends (the PostgreSQL variant is marked slow).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from pipeline.domain.core.ledger import AUDIT_ACTIONS, Ledger, LedgerError, LegalHoldError, sqlite_url
from pipeline.domain.core.models import CallMetadata, Consent, QuarantineRecord

T0 = datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 2024-05-02 UTC


def meta(
    call_id: str = "call-1",
    tenant: str = "acme",
    recording: str = "granted",
    training: bool = True,
    customer_id: str | None = "cust-1",
    legal_hold: bool = False,
    started_at: datetime = T0,
) -> CallMetadata:
    return CallMetadata(
        call_id=call_id,
        tenant=tenant,
        started_at=started_at,
        agent_id="agent-7",
        direction="inbound",
        consent=Consent(recording=recording, training=training),
        customer_id=customer_id,
        legal_hold=legal_hold,
    )


def qrec(call_id: str = "call-1", stage: str = "silver/transcripts",
         reason: str = "audio_decode_failed", partition: str = "2024-05-02") -> QuarantineRecord:
    return QuarantineRecord(call_id=call_id, stage=stage, reason=reason,
                            detail="decoder error at byte 44", source_uri="file:///x.wav",
                            partition=partition, tenant="acme")


def fresh_pg_database(server_url: str) -> str:
    """Create an empty schema on the session server and return a URL whose connections
    use it (``search_path``). A schema per test is far cheaper than a database per test
    (creating ~40 databases made the server's teardown take ~20 s)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {name}")
    eng.dispose()
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "ledger" / "ledger.db")
    return fresh_pg_database(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger(ledger_url)
    led.create_all()
    yield led
    led.dispose()


# ------------------------------------------------------------------ schema, URLs


def test_create_all_is_idempotent_and_creates_every_table(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    led.create_all()
    led.upsert_call(meta(), "h1")
    led.create_all()  # again, same instance
    other = Ledger(ledger_url)
    other.create_all()  # again, another instance: data survives
    assert other.get_call("call-1") is not None
    names = set(sa.inspect(other.engine).get_table_names())
    assert {"calls", "consent_events", "audit", "quarantine", "redaction_spans",
            "processed", "annotations"} <= names
    led.dispose()
    other.dispose()


@pytest.mark.parametrize(
    "url, match",
    [
        ("", "non-empty"),
        ("not a url", "valid SQLAlchemy URL"),
        ("mysql+pymysql://u:secret@h/db", "sqlite and postgresql"),
    ],
)
def test_bad_urls_are_rejected_clearly(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as ei:
        Ledger(url)
    assert "secret" not in str(ei.value)  # passwords never reach error messages


def test_unreachable_postgres_gives_a_ledger_error_without_password() -> None:
    from tests.servers import free_port

    led = Ledger(f"postgresql+psycopg2://u:hunter2@127.0.0.1:{free_port()}/db")
    with pytest.raises(LedgerError, match="cannot create the ledger schema") as ei:
        led.create_all()
    assert "hunter2" not in str(ei.value)


def test_sqlite_file_uses_wal(tmp_path) -> None:
    led = Ledger(sqlite_url(tmp_path / "a" / "b" / "l.db"))  # parent folders are created
    led.create_all()
    with led.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    led.dispose()


# ------------------------------------------------------------------ calls


def test_upsert_call_round_trip_and_ingest_audit(ledger: Ledger) -> None:
    assert ledger.upsert_call(meta(), "hash-1") is True
    row = ledger.get_call("call-1")
    assert row is not None
    assert row["tenant"] == "acme"
    assert row["call_date"] == "2024-05-02"  # UTC date of a late-evening UTC-2 call
    assert row["started_at"] == T0 and row["started_at"].tzinfo is not None
    assert row["customer_id"] == "cust-1" and row["agent_id"] == "agent-7"
    assert row["consent_recording"] == "granted" and row["consent_training"] is True
    assert row["legal_hold"] is False and row["state"] == "active"
    assert row["soft_deleted_at"] is None and row["purged_at"] is None

    assert ledger.upsert_call(meta(), "hash-1") is False  # unchanged: no new audit
    assert len(ledger.audit_rows(call_id="call-1", action="ingest")) == 1
    assert ledger.upsert_call(meta(), "hash-2") is False  # input changed: audited
    ingests = ledger.audit_rows(call_id="call-1", action="ingest")
    assert [r["details"]["input_hash"] for r in ingests] == ["hash-1", "hash-2"]
    assert ledger.get_call("call-1")["input_hash"] == "hash-2"
    assert ledger.get_call("nope") is None


def test_upsert_call_rejects_empty_hash(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="call-1.*input_hash"):
        ledger.upsert_call(meta(), "")


def test_new_call_without_recording_consent_starts_opt_out(ledger: Ledger) -> None:
    ledger.upsert_call(meta("c-out", recording="opt_out", training=False), "h")
    assert ledger.get_call("c-out")["state"] == "opt_out"


def test_reingest_never_resurrects_a_deleted_call_nor_clears_a_hold(ledger: Ledger) -> None:
    ledger.upsert_call(meta("c1"), "h1")
    ledger.set_state("c1", "soft_deleted", actor="retention", reason="90 days")
    ledger.upsert_call(meta("c1"), "h2")
    assert ledger.get_call("c1")["state"] == "soft_deleted"

    ledger.upsert_call(meta("c2", legal_hold=True), "h1")
    ledger.upsert_call(meta("c2", legal_hold=False), "h1")
    assert ledger.get_call("c2")["legal_hold"] is True


def test_calls_filters(ledger: Ledger) -> None:
    ledger.upsert_call(meta("a1", tenant="acme", customer_id="x"), "h")
    ledger.upsert_call(meta("a2", tenant="acme", customer_id="y",
                            started_at=datetime(2024, 6, 1, 12, tzinfo=timezone.utc)), "h")
    ledger.upsert_call(meta("b1", tenant="beta", customer_id="x"), "h")
    ledger.set_state("a1", "soft_deleted")
    assert [c["call_id"] for c in ledger.calls()] == ["a1", "a2", "b1"]
    assert [c["call_id"] for c in ledger.calls(tenant="acme")] == ["a1", "a2"]
    assert [c["call_id"] for c in ledger.calls(state="active")] == ["a2", "b1"]
    assert [c["call_id"] for c in ledger.calls(state=["active", "soft_deleted"],
                                               tenant="acme")] == ["a1", "a2"]
    assert [c["call_id"] for c in ledger.calls(call_date="2024-06-01")] == ["a2"]
    assert [c["call_id"] for c in ledger.calls(call_date=date(2024, 5, 2))] == ["a1", "b1"]
    assert [c["call_id"] for c in ledger.calls(customer_id="x")] == ["a1", "b1"]
    with pytest.raises(ValueError, match="unknown call state 'gone'"):
        ledger.calls(state="gone")


# ------------------------------------------------------------------ state and legal hold


def test_set_state_sets_timestamps_and_audits(ledger: Ledger) -> None:
    ledger.upsert_call(meta(), "h")
    before = datetime.now(timezone.utc)
    ledger.set_state("call-1", "soft_deleted", actor="retention", reason="older than 90 d")
    row = ledger.get_call("call-1")
    assert row["state"] == "soft_deleted"
    assert row["soft_deleted_at"] >= before - timedelta(seconds=1)
    ledger.set_state("call-1", "purged", actor="retention", reason="grace over")
    row = ledger.get_call("call-1")
    assert row["state"] == "purged" and row["purged_at"] is not None
    ledger.set_state("call-1", "erased", actor="dpo", reason="erasure request")
    acts = [(r["action"], r["actor"], r["details"]["from"], r["details"]["to"])
            for r in ledger.audit_rows(call_id="call-1") if r["action"] != "ingest"]
    assert acts == [("soft_delete", "retention", "active", "soft_deleted"),
                    ("purge", "retention", "soft_deleted", "purged"),
                    ("erase", "dpo", "purged", "erased")]


def test_set_state_refusals(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown call 'ghost'"):
        ledger.set_state("ghost", "soft_deleted")
    ledger.upsert_call(meta(), "h")
    with pytest.raises(ValueError, match="unknown call state 'deleted'"):
        ledger.set_state("call-1", "deleted")
    ledger.set_state("call-1", "erased", reason="erasure request")
    with pytest.raises(LedgerError, match="is erased; cannot move to active"):
        ledger.set_state("call-1", "active")
    assert ledger.get_call("call-1")["state"] == "erased"


def test_legal_hold_blocks_deletion_until_cleared(ledger: Ledger) -> None:
    ledger.upsert_call(meta(), "h")
    ledger.set_legal_hold("call-1", True, actor="legal", reason="case 42")
    for state in ("soft_deleted", "purged", "erased"):
        with pytest.raises(LegalHoldError, match="legal hold"):
            ledger.set_state("call-1", state)
    assert ledger.get_call("call-1")["state"] == "active"
    ledger.set_legal_hold("call-1", False, actor="legal", reason="case closed")
    ledger.set_state("call-1", "soft_deleted")
    holds = ledger.audit_rows(call_id="call-1", action="legal_hold")
    assert [(r["actor"], r["details"]["hold"]) for r in holds] == [("legal", True),
                                                                   ("legal", False)]
    with pytest.raises(LedgerError, match="unknown call 'ghost'"):
        ledger.set_legal_hold("ghost", True)


def test_ledger_rows_feed_the_retention_planner(ledger: Ledger) -> None:
    from pipeline.domain.privacy.retention import LAYERS, plan_retention, policies_from_settings

    pols = policies_from_settings({"default": {}, "short": {"audio_days": 1,
                                                            "transcript_days": 1,
                                                            "events_days": 1}})
    now = datetime.now(timezone.utc)  # soft_deleted_at is wall-clock time
    ledger.upsert_call(meta("old", tenant="short", started_at=now - timedelta(days=3)), "h")
    ledger.upsert_call(meta("held", tenant="short", legal_hold=True,
                            started_at=now - timedelta(days=3)), "h")
    ledger.upsert_call(meta("young", tenant="acme", started_at=now - timedelta(days=3)), "h")
    acts = plan_retention(ledger.calls(), now, pols)
    assert [(a.call_id, a.action, a.layers) for a in acts] == [("old", "soft_delete", LAYERS)]
    ledger.set_state("old", "soft_deleted", actor="retention", reason=acts[0].reason)
    deleted_at = ledger.get_call("old")["soft_deleted_at"]
    assert plan_retention(ledger.calls(), deleted_at + timedelta(days=7), pols) == []
    acts = plan_retention(ledger.calls(), deleted_at + timedelta(days=7, seconds=1), pols)
    assert [(a.call_id, a.action) for a in acts] == [("old", "purge")]


# ------------------------------------------------------------------ consent and audit


def test_consent_history_and_latest(ledger: Ledger) -> None:
    ledger.upsert_call(meta(), "h")
    assert ledger.latest_consent("call-1") is None
    ledger.record_consent("call-1", "acme", "granted", True, source="sidecar")
    ledger.record_consent("call-1", "acme", "opt_out", False, source="crm_webhook")
    latest = ledger.latest_consent("call-1")
    assert (latest["recording"], latest["training"], latest["source"]) == (
        "opt_out", False, "crm_webhook")
    assert len(ledger.consent_events("call-1")) == 2
    row = ledger.get_call("call-1")  # the call's consent columns follow the latest event
    assert (row["consent_recording"], row["consent_training"]) == ("opt_out", False)
    assert row["state"] == "active"  # discarding is the caller's explicit step
    assert len(ledger.audit_rows(call_id="call-1", action="consent_recorded")) == 2


def test_ingest_call_is_one_transaction_and_safe_to_repeat(ledger: Ledger) -> None:
    """A retried ingest (after a killed step or a database restart) writes no second
    consent event nor audit row; a real consent change is still recorded."""
    assert ledger.ingest_call(meta(), "h1", source="call-1.json") is True
    assert ledger.ingest_call(meta(), "h1", source="call-1.json") is False  # the retry
    assert len(ledger.consent_events("call-1")) == 1
    assert [r["action"] for r in ledger.audit_rows(call_id="call-1")] == ["ingest", "consent_recorded"]
    ledger.ingest_call(meta(training=False), "h2", source="call-1.json")  # consent and input changed
    assert [e["training"] for e in ledger.consent_events("call-1")] == [True, False]
    assert ledger.get_call("call-1")["consent_training"] is False
    assert len(ledger.audit_rows(call_id="call-1", action="ingest")) == 2
    with pytest.raises(ValueError, match="recording must be"):  # validated before anything is written
        ledger.ingest_call(meta("call-2", recording="maybe"), "h", source="call-2.json")
    assert ledger.get_call("call-2") is None


@pytest.mark.parametrize("recording, source, match", [
    ("maybe", "sidecar", "recording must be 'granted' or 'opt_out'"),
    ("granted", "", "source must be non-empty"),
])
def test_record_consent_rejects_bad_input(ledger: Ledger, recording: str, source: str,
                                          match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ledger.record_consent("call-1", "acme", recording, True, source=source)
    assert ledger.consent_events() == []


def test_audit_rows_round_trip_and_validation(ledger: Ledger) -> None:
    i1 = ledger.audit("raw_audio_access", actor="alice", call_id="c9", tenant="acme",
                      reason="QA review", details={"uri": "s3://b/k.wav", "n": 1})
    i2 = ledger.audit("erase", call_id="c8")
    assert i2 > i1
    rows = ledger.audit_rows()
    assert [(r["id"], r["action"], r["actor"]) for r in rows] == [
        (i1, "raw_audio_access", "alice"), (i2, "erase", "callforge")]
    assert rows[0]["details"] == {"uri": "s3://b/k.wav", "n": 1}
    assert rows[0]["ts"].tzinfo is not None
    assert [r["id"] for r in ledger.audit_rows(call_id="c8", action="erase")] == [i2]
    assert [r["id"] for r in ledger.audit_rows(action="raw_audio_access")] == [i1]
    for bad in ("Delete Everything", "soft-delete", "", "x", "a" * 51):
        with pytest.raises(ValueError, match="must be snake_case"):
            ledger.audit(bad)
    assert ledger.audit("erase_blocked", call_id="c8") > i2  # a new, well-formed action
    with pytest.raises(ValueError, match="actor"):
        ledger.audit("erase", actor="")
    assert len(ledger.audit_rows()) == 3  # refused rows were not written
    assert {"ingest", "consent_recorded", "opt_out_discard", "quarantine", "release",
            "soft_delete", "purge", "erase", "raw_audio_access", "redaction",
            "legal_hold"} <= AUDIT_ACTIONS


@pytest.mark.parametrize("table", ["audit", "consent_events"])
@pytest.mark.parametrize("sql", [
    "UPDATE {t} SET call_id = 'rewritten'",
    "DELETE FROM {t}",
    "DELETE FROM {t} WHERE id = 1",
])
def test_append_only_tables_reject_update_and_delete(ledger: Ledger, table: str,
                                                     sql: str) -> None:
    ledger.audit("ingest", call_id="c1", reason="x")
    ledger.record_consent("c1", "acme", "granted", True, source="sidecar")
    before = [dict(r) for r in (ledger.audit_rows() if table == "audit"
                                else ledger.consent_events())]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql(sql.format(t=table))
    after = ledger.audit_rows() if table == "audit" else ledger.consent_events()
    assert after == before


@pytest.mark.slow
def test_postgres_refuses_truncate_of_audit(pg_url: str) -> None:
    led = Ledger(fresh_pg_database(pg_url))
    led.create_all()
    led.audit("ingest", call_id="c1")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with led.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit")
    assert len(led.audit_rows()) == 1
    led.dispose()


@pytest.mark.slow
def test_postgres_create_all_does_not_lock_tables_in_use(pg_url: str) -> None:
    """A run starting (create_all) while another run is mid-transaction on audit and
    consent_events must not wait for it nor deadlock with it: once the schema exists,
    create_all issues no table-locking DDL."""
    import threading

    url = fresh_pg_database(pg_url)
    led = Ledger(url)
    led.create_all()
    with led.engine.connect() as conn:
        tx = conn.begin()
        conn.execute(led.table("consent_events").insert().values(
            ts=datetime.now(timezone.utc), call_id="c1", tenant="acme", recording="granted",
            training=True, source="test"))
        conn.execute(led.table("audit").insert().values(
            ts=datetime.now(timezone.utc), actor="x", action="ingest", reason=""))
        errors: list[BaseException] = []

        def start_other_run() -> None:
            try:
                other = Ledger(url)
                other.create_all()
                other.dispose()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t = threading.Thread(target=start_other_run, daemon=True)
        t.start()
        t.join(timeout=20)
        blocked = t.is_alive()
        tx.rollback()
    t.join(timeout=20)
    assert not blocked, "create_all waited for a lock held by a writing transaction"
    assert errors == []
    led.dispose()


# ------------------------------------------------------------------ quarantine


def test_quarantine_is_idempotent_and_audited_once(ledger: Ledger) -> None:
    ledger.upsert_call(meta(), "h")
    assert ledger.add_quarantine(qrec()) is True
    assert ledger.add_quarantine(qrec()) is False  # same open (call, stage, reason)
    assert ledger.get_call("call-1")["state"] == "quarantined"
    assert ledger.add_quarantine(qrec(reason="low_asr_confidence")) is True  # another reason
    assert ledger.add_quarantine(qrec(stage="bronze/recordings")) is True  # another stage
    assert len(ledger.open_quarantine()) == 3
    assert len(ledger.audit_rows(call_id="call-1", action="quarantine")) == 3
    rec = ledger.open_quarantine(stage="silver/transcripts")[0]
    assert (rec["reason"], rec["partition"], rec["detail"], rec["source_uri"]) == (
        "audio_decode_failed", "2024-05-02", "decoder error at byte 44", "file:///x.wav")


def test_release_by_stage_then_all_and_requarantine(ledger: Ledger) -> None:
    ledger.upsert_call(meta(), "h")
    ledger.add_quarantine(qrec())
    ledger.add_quarantine(qrec(stage="bronze/recordings"))
    ledger.add_quarantine(qrec("other-call", partition="2024-05-03"))
    assert [r["call_id"] for r in ledger.open_quarantine(partition="2024-05-03")] == [
        "other-call"]

    assert ledger.release("call-1", actor="bob", reason="fixed", stage="bronze/recordings") == 1
    assert ledger.get_call("call-1")["state"] == "quarantined"  # one record still open
    assert ledger.release("call-1", actor="bob", reason="decoder upgraded") == 1
    assert ledger.get_call("call-1")["state"] == "active"
    assert ledger.release("call-1", actor="bob", reason="again") == 0  # nothing open: no audit
    rel = ledger.audit_rows(call_id="call-1", action="release")
    assert [(r["actor"], r["details"]["released"]) for r in rel] == [("bob", 1), ("bob", 1)]
    closed = [r for r in ledger.quarantine_rows("call-1") if r["released_at"] is not None]
    assert {r["release_reason"] for r in closed} == {"fixed", "decoder upgraded"}
    assert all(r["released_by"] == "bob" for r in closed)

    # once released, the same problem may be quarantined again (a new open record)
    assert ledger.add_quarantine(qrec()) is True
    assert len(ledger.quarantine_rows("call-1")) == 3


def test_add_quarantine_rejects_incomplete_records(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="call_id, stage and reason"):
        ledger.add_quarantine(qrec(reason=""))
    assert ledger.open_quarantine() == []


# ------------------------------------------------------------------ spans, processed, annotations


def test_redaction_spans_store_offsets_only_and_replace(ledger: Ledger) -> None:
    spans = [
        {"segment": 0, "start": 11, "end": 21, "t_start": 1.5, "t_end": 2.25,
         "entity_type": "PERSON", "score": 0.85},  # extra non-value keys are ignored
        {"segment": 3, "start": 0, "end": 12, "entity_type": "PHONE_NUMBER"},
    ]
    assert ledger.record_spans("c1", "silver/redacted_transcripts", spans, "presidio") == 2
    got = ledger.spans("c1")
    assert [(s["segment"], s["start"], s["end"], s["entity_type"]) for s in got] == [
        (0, 11, 21, "PERSON"), (3, 0, 12, "PHONE_NUMBER")]
    assert got[0]["t_start"] == 1.5 and got[1]["t_end"] is None
    assert "score" not in got[0]
    # a re-run replaces the spans of that (call, asset) instead of duplicating them
    ledger.record_spans("c1", "silver/redacted_transcripts", spans[:1], "presidio")
    ledger.record_spans("c1", "silver/redacted_events", spans[1:], "regex")
    assert len(ledger.spans("c1")) == 2
    assert [s["method"] for s in ledger.spans("c1", asset="silver/redacted_events")] == ["regex"]
    red = ledger.audit_rows(call_id="c1", action="redaction")
    assert red[0]["details"]["entity_counts"] == {"PERSON": 1, "PHONE_NUMBER": 1}


@pytest.mark.parametrize("span, match", [
    ({"start": 0, "end": 4, "entity_type": "PERSON", "text": "John"}, r"value field.*text"),
    ({"start": 0, "end": 4, "entity_type": "PERSON", "entity_value": "John"}, "entity_value"),
    ({"start": 0, "end": 4}, "no entity_type"),
])
def test_record_spans_refuses_values_and_untyped_spans(ledger: Ledger, span: dict,
                                                       match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ledger.record_spans("c1", "silver/x", [span], "presidio")
    assert ledger.spans() == []


def test_processed_bookkeeping(ledger: Ledger) -> None:
    assert ledger.processed("silver/transcripts", "c1") is None
    assert ledger.is_current("silver/transcripts", "c1", "h1", "v1") is False
    ledger.mark_processed("silver/transcripts", "c1", "h1", "v1", "file:///o/c1.json")
    ledger.mark_processed("silver/redacted", "c1", "h1", "v1", None)
    assert ledger.is_current("silver/transcripts", "c1", "h1", "v1") is True
    assert ledger.is_current("silver/transcripts", "c1", "h2", "v1") is False
    assert ledger.is_current("silver/transcripts", "c1", "h1", "v2") is False
    ledger.mark_processed("silver/transcripts", "c1", "h1", "v2", "file:///o/c1-v2.json")
    row = ledger.processed("silver/transcripts", "c1")
    assert (row["code_version"], row["output_uri"]) == ("v2", "file:///o/c1-v2.json")
    assert ledger.forget_processed("c1", actor="erasure") == 2
    assert ledger.processed("silver/transcripts", "c1") is None
    assert ledger.audit_rows(call_id="c1", action="forget_processed")[0]["details"] == {
        "deleted": 2}


def test_annotations_upsert_and_filters(ledger: Ledger) -> None:
    t1 = datetime(2024, 5, 3, 9, tzinfo=timezone.utc)
    a = ledger.add_annotation("c1", "task-1", {"intent": "card_lost"}, "ann1", ts=t1)
    b = ledger.add_annotation("c1", "task-1", {"intent": "card_stolen"}, "ann1",
                              ts=t1 + timedelta(hours=1))
    assert a == b  # an edited annotation replaces the earlier one
    ledger.add_annotation("c1", "task-1", {"intent": "card_lost"}, "ann2", ts=t1)
    ledger.add_annotation("c2", 7, {"intent": "refund"}, "ann1", ts=t1 + timedelta(days=1))
    rows = ledger.annotations(call_id="c1")
    assert sorted((r["annotator"], r["labels"]["intent"]) for r in rows) == [
        ("ann1", "card_stolen"), ("ann2", "card_lost")]
    assert [r["call_id"] for r in ledger.annotations(task_id=7)] == ["c2"]
    assert [r["call_id"] for r in ledger.annotations(since=t1 + timedelta(hours=2))] == ["c2"]
    assert ledger.forget_annotations("c1") == 2
    assert [r["call_id"] for r in ledger.annotations()] == ["c2"]
    with pytest.raises(ValueError, match="annotator is empty"):
        ledger.add_annotation("c1", "t", {"x": 1}, "")
    with pytest.raises(ValueError, match="labels must be a mapping"):
        ledger.add_annotation("c1", "t", ["x"], "ann")  # type: ignore[arg-type]


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        ledger.add_annotation("c1", "t", {"x": 1}, "ann", ts=datetime(2024, 1, 1))


# ------------------------------------------------------------------ concurrency

N_OPS = 25


def _writer(url: str, worker: int, start: mp.synchronize.Event, out: mp.Queue) -> None:
    """One process hammering the ledger (module level so 'spawn' can import it)."""
    try:
        led = Ledger(url)
        led.create_all()  # concurrent create_all must be safe too
        start.wait(30)
        for i in range(N_OPS):
            cid = f"w{worker}-c{i}"
            led.upsert_call(meta(cid), f"h{i}")
            led.mark_processed("silver/transcripts", cid, f"h{i}", "v1", f"file:///{cid}")
            led.record_consent(cid, "acme", "granted", True, source=f"worker{worker}")
            # both workers race to quarantine the same problem: exactly one may win
            led.add_quarantine(qrec(f"shared-{i}"))
        out.put(("ok", worker))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("error", f"{type(e).__name__}: {e}"))


@pytest.mark.parametrize("n_workers", [2])
def test_concurrent_writer_processes(ledger_url: str, n_workers: int) -> None:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(ledger_url, w, start, out))
             for w in range(n_workers)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results
    led = Ledger(ledger_url)
    assert len(led.calls()) == n_workers * N_OPS
    assert len(led.consent_events()) == n_workers * N_OPS
    assert len(led.audit_rows(action="ingest")) == n_workers * N_OPS
    assert len(led.open_quarantine()) == N_OPS  # no duplicate open records
    assert len(led.audit_rows(action="quarantine")) == N_OPS  # and audited once each
    with led.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM processed")).scalar() == n_workers * N_OPS
    led.dispose()


# ------------------------------------------------------------------ resource


def test_ledger_resource_caches_per_process_and_creates_tables(tmp_path) -> None:
    import dagster as dg

    from resources.ledger import LedgerResource

    url = sqlite_url(tmp_path / "res" / "ledger.db")
    res = LedgerResource(url=url)
    led = res.get_ledger()
    assert led is LedgerResource(url=url).get_ledger()
    led.upsert_call(meta(), "h")  # tables exist without an explicit create_all

    def uses_ledger(ledger):  # type: ignore[no-untyped-def]
        ledger.get_ledger().audit("raw_audio_access", actor="qa", call_id="call-1")
        return len(ledger.get_ledger().audit_rows(call_id="call-1"))

    # real (not string) annotations: dagster must resolve them, and this module keeps
    # dagster out of its top-level imports so the spawned writer processes start fast
    uses_ledger.__annotations__ = {"ledger": LedgerResource, "return": int}
    uses_ledger = dg.asset(uses_ledger)

    result = dg.materialize([uses_ledger], resources={"ledger": res})
    assert result.success
    assert result.output_for_node("uses_ledger") == 2

    with pytest.raises(dg.Failure, match="invalid url"):
        LedgerResource(url="mysql://h/db").get_ledger()
    from tests.servers import free_port

    dead = f"postgresql+psycopg2://u:pw@127.0.0.1:{free_port()}/db"
    with pytest.raises(dg.Failure, match="cannot create the ledger schema"):
        LedgerResource(url=dead).get_ledger()


# ------------------------------------------------------------------ test-server helpers


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception),
                                         ("false", pytest.skip.Exception),
                                         ("true", pytest.fail.Exception)])
def test_unstartable_postgres_skips_locally_but_fails_in_ci(monkeypatch, tmp_path, ci: str,
                                                            outcome: type) -> None:
    import tests.servers as servers

    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(servers, "PG_BIN", tmp_path / "no-postgres-here")
    with pytest.raises(outcome, match="initdb missing"):
        with servers.postgres_server():
            pass  # pragma: no cover - never reached

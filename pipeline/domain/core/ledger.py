"""The compliance ledger: calls and their state, consent history, an append-only audit
trail, quarantine, redaction span offsets, incremental-processing bookkeeping and
annotations.

One SQLAlchemy Core 2.x schema serves SQLite (the embedded default, a file URL such as
``sqlite:////var/callforge/ledger.db``) and PostgreSQL (``postgresql+psycopg2://...``).
``audit`` and ``consent_events`` are append-only, enforced by database triggers (SQLite
``RAISE(ABORT, ...)``, a PostgreSQL plpgsql trigger), so not even a hand-written
``UPDATE``/``DELETE`` can rewrite history.

Concurrency: SQLite runs in WAL mode with a busy timeout and write transactions start
with ``BEGIN IMMEDIATE``, so concurrent runs (threads or processes) queue instead of
failing; PostgreSQL uses ordinary transactions plus ``ON CONFLICT`` upserts and a partial
unique index for open quarantine records.

Nothing here stores transcript text or PII values: redaction spans are offsets and
entity types only, and ``detail``/``reason`` strings are the caller's responsibility.
Timestamps are stored as naive UTC and returned as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.domain.core.models import CallMetadata, QuarantineRecord

DEFAULT_ACTOR = "callforge"

CALL_STATES: tuple[str, ...] = (
    "active",
    "opt_out",
    "soft_deleted",
    "purged",
    "erased",
    "quarantined",
)
#: states that end a call's life: nothing may move a call out of them (except purged -> erased)
TERMINAL_STATES = frozenset({"purged", "erased"})
#: states that delete data and therefore are refused while a legal hold is set
DELETING_STATES = frozenset({"soft_deleted", "purged", "erased"})
#: default audit action written by :meth:`Ledger.set_state` for each target state
STATE_ACTIONS: dict[str, str] = {
    "active": "restore",
    "opt_out": "opt_out_discard",
    "soft_deleted": "soft_delete",
    "purged": "purge",
    "erased": "erase",
    "quarantined": "quarantine",
}
AUDIT_ACTIONS = frozenset(
    {
        "ingest",
        "consent_recorded",
        "erase_blocked",
        "opt_out_discard",
        "quarantine",
        "release",
        "soft_delete",
        "purge",
        "erase",
        "raw_audio_access",
        "redaction",
        "legal_hold",
        "restore",
        "forget_processed",
        "annotation",
        "adapter_promote",
        "adapter_rollback",
        "adapter_pin",
        "adapter_cleanup",
    }
)
_ACTION_RE = re.compile(r"[a-z][a-z0-9_]{1,49}")
#: keys a redaction span may carry; anything that looks like a value is refused
SPAN_FIELDS = ("segment", "start", "end", "t_start", "t_end", "entity_type")
FORBIDDEN_SPAN_FIELDS = frozenset(
    {"text", "value", "entity_value", "original", "original_text", "replacement", "word"}
)
APPEND_ONLY_TABLES = ("audit", "consent_events")


class LedgerError(RuntimeError):
    """A ledger operation was refused (unknown call, illegal transition, legal hold)."""


class LegalHoldError(LedgerError):
    """A deleting state change was attempted on a call under legal hold."""


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the ledger; pass an aware datetime")
    return value.astimezone(timezone.utc)


def _redact_url(url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only used in messages
        return "<unparsable url>"


def _build_schema() -> tuple[Any, dict[str, Any]]:
    """Build the MetaData and tables (lazily, so importing this module stays cheap)."""
    import sqlalchemy as sa

    class UTCDateTime(sa.types.TypeDecorator[datetime]):
        """Stores naive UTC, returns aware UTC (identical on SQLite and PostgreSQL)."""

        impl = sa.DateTime
        cache_ok = True

        def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
            v = _to_utc(value)
            return None if v is None else v.replace(tzinfo=None)

        def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
            if value is None:
                return None
            if value.tzinfo is None:
                return value.replace(tzinfo=timezone.utc)
            return value.astimezone(timezone.utc)

    md = sa.MetaData()
    states = ", ".join(f"'{s}'" for s in CALL_STATES)
    calls = sa.Table(
        "calls",
        md,
        sa.Column("call_id", sa.String(200), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("call_date", sa.String(10), nullable=False, index=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=True, index=True),
        sa.Column("agent_id", sa.String(200), nullable=True),
        sa.Column("input_hash", sa.String(128), nullable=False),
        sa.Column("consent_recording", sa.String(20), nullable=False),
        sa.Column("consent_training", sa.Boolean(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False, default=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("soft_deleted_at", UTCDateTime(), nullable=True),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"state IN ({states})", name="ck_calls_state"),
    )
    consent_events = sa.Table(
        "consent_events",
        md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False, index=True),
        sa.Column("tenant", sa.String(100), nullable=True),
        sa.Column("recording", sa.String(20), nullable=False),
        sa.Column("training", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
    )
    audit = sa.Table(
        "audit",
        md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False, index=True),
        sa.Column("call_id", sa.String(200), nullable=True, index=True),
        sa.Column("tenant", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, default=""),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    quarantine = sa.Table(
        "quarantine",
        md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False, index=True),
        sa.Column("partition", sa.String(100), nullable=True, index=True),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, default=""),
        sa.Column("source_uri", sa.Text(), nullable=False, default=""),
        sa.Column("tenant", sa.String(100), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(200), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
    )
    # at most one OPEN record per (call, stage, reason): makes add_quarantine idempotent
    # even when two runs race (partial index: SQLite >= 3.8 and PostgreSQL both support it)
    sa.Index(
        "uq_quarantine_open",
        quarantine.c.call_id,
        quarantine.c.stage,
        quarantine.c.reason,
        unique=True,
        sqlite_where=quarantine.c.released_at.is_(None),
        postgresql_where=quarantine.c.released_at.is_(None),
    )
    redaction_spans = sa.Table(
        "redaction_spans",
        md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(200), nullable=False, index=True),
        sa.Column("asset", sa.String(100), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=True),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("end", sa.Integer(), nullable=True),
        sa.Column("t_start", sa.Float(), nullable=True),
        sa.Column("t_end", sa.Float(), nullable=True),
        sa.Column("entity_type", sa.String(100), nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
    )
    processed = sa.Table(
        "processed",
        md,
        sa.Column("stage", sa.String(100), primary_key=True),
        sa.Column("call_id", sa.String(200), primary_key=True),
        sa.Column("input_hash", sa.String(128), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("output_uri", sa.Text(), nullable=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
    )
    annotations = sa.Table(
        "annotations",
        md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(200), nullable=False, index=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("call_id", "task_id", "annotator", name="uq_annotation"),
    )
    tables = {
        t.name: t
        for t in (calls, consent_events, audit, quarantine, redaction_spans, processed, annotations)
    }
    return md, tables


_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
    f"BEGIN SELECT RAISE(ABORT, '{t} is append-only: {op} refused'); END"
    for t in APPEND_ONLY_TABLES
    for op in ("UPDATE", "DELETE")
]
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION callforge_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
# (table, trigger name, CREATE statement); created only when missing, because
# CREATE/DROP TRIGGER locks the table and would deadlock with runs already writing
_PG_TRIGGERS = [
    trig
    for t in APPEND_ONLY_TABLES
    for trig in (
        (t, f"{t}_append_only",
         f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
         "FOR EACH ROW EXECUTE FUNCTION callforge_append_only()"),
        (t, f"{t}_no_truncate",
         f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
         "FOR EACH STATEMENT EXECUTE FUNCTION callforge_append_only()"),
    )
]
_PG_LOCK_KEY = 0x63616C6C  # "call": serialises concurrent create_all on one database


class Ledger:
    """The compliance ledger on SQLite or PostgreSQL.

    >>> led = Ledger("sqlite:////tmp/ledger.db"); led.create_all()

    Every method opens its own short transaction; instances are safe to share between
    threads. Do not share an instance across ``fork`` — create one per process (the
    resource layer caches one per process id).
    """

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_s: float = 60.0) -> None:
        """Create an engine for ``url`` (no connection is opened yet).

        ``busy_timeout_s`` is how long a SQLite writer waits for the write lock.
        """
        import sqlalchemy as sa

        if not isinstance(url, str) or not url.strip():
            raise ValueError("Ledger url must be a non-empty SQLAlchemy URL string")
        try:
            parsed = sa.make_url(url)
        except Exception as e:  # noqa: BLE001 - re-raised with context
            raise ValueError(f"Ledger url is not a valid SQLAlchemy URL: {e}") from e
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(
                f"Ledger supports sqlite and postgresql URLs, got {self.dialect!r} "
                f"({_redact_url(url)})"
            )
        self._md, self._t = _build_schema()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.dialect == "sqlite":
            db = parsed.database or ""
            if db in ("", ":memory:") or db.startswith("file::memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
                self.path: Path | None = None
            else:
                self.path = Path(db)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": busy_timeout_s}
        else:
            self.path = None
            kwargs["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            self._install_sqlite_hooks(int(busy_timeout_s * 1000))
        self._created = False

    # ------------------------------------------------------------------ plumbing

    def _install_sqlite_hooks(self, busy_ms: int) -> None:
        from sqlalchemy import event

        memory = self.path is None

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # take over transaction control from pysqlite so BEGIN IMMEDIATE is possible
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so writers queue, never deadlock)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            yield conn

    def _insert(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @staticmethod
    def _rows(result: Any) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in result]

    def table(self, name: str) -> Any:
        """The SQLAlchemy ``Table`` called ``name`` (for read-only reporting queries)."""
        try:
            return self._t[name]
        except KeyError:
            raise KeyError(f"ledger has no table {name!r}; tables: {sorted(self._t)}") from None

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Ledger({_redact_url(self.url)!r})"

    # ------------------------------------------------------------------ schema

    def create_all(self) -> None:
        """Create tables, indexes and append-only triggers. Idempotent and safe to call
        from several processes at once."""
        import sqlalchemy as sa

        try:
            with self._write() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                self._md.create_all(conn, checkfirst=True)
                if self.dialect == "sqlite":
                    for stmt in _SQLITE_TRIGGERS:
                        conn.exec_driver_sql(stmt)
                else:
                    existing = set(conn.execute(sa.text(
                        "SELECT c.relname || '.' || t.tgname FROM pg_trigger t "
                        "JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE NOT t.tgisinternal AND c.relname = ANY(:tables) "
                        "AND pg_table_is_visible(c.oid)"
                    ), {"tables": list(APPEND_ONLY_TABLES)}).scalars())
                    has_fn = conn.execute(sa.text(
                        "SELECT to_regproc('callforge_append_only') IS NOT NULL")).scalar()
                    if not has_fn:
                        # sa.text escapes the '%' of RAISE for psycopg2's pyformat paramstyle
                        conn.execute(sa.text(_PG_FUNCTION))
                    for table, name, stmt in _PG_TRIGGERS:
                        if f"{table}.{name}" not in existing:
                            conn.execute(sa.text(stmt))
        except sa.exc.OperationalError as e:
            raise LedgerError(
                f"cannot create the ledger schema at {_redact_url(self.url)}: {e.orig}"
            ) from e
        self._created = True

    # ------------------------------------------------------------------ audit

    def _audit(
        self,
        conn: Any,
        action: str,
        actor: str,
        call_id: str | None,
        tenant: str | None,
        reason: str,
        details: Mapping[str, Any] | None,
    ) -> int:
        if not isinstance(action, str) or not _ACTION_RE.fullmatch(action):
            raise ValueError(
                f"audit action {action!r} must be snake_case (a-z, 0-9, _; 2-50 chars), "
                f"e.g. one of {sorted(AUDIT_ACTIONS)}"
            )
        if not actor:
            raise ValueError("audit actor must be a non-empty string")
        res = conn.execute(
            self._t["audit"].insert().values(
                ts=utcnow(),
                actor=actor,
                action=action,
                call_id=call_id,
                tenant=tenant,
                reason=reason or "",
                details=dict(details) if details else None,
            )
        )
        return int(res.inserted_primary_key[0])

    def audit(
        self,
        action: str,
        actor: str = DEFAULT_ACTOR,
        call_id: str | None = None,
        tenant: str | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one audit row and return its id. ``action`` is a snake_case name,
        normally one of :data:`AUDIT_ACTIONS`; ``details`` is JSON (counts, URIs,
        hashes — never PII)."""
        with self._write() as conn:
            return self._audit(conn, action, actor, call_id, tenant, reason, details)

    def audit_rows(
        self, call_id: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit rows in insertion order, optionally filtered by call and/or action."""
        t = self._t["audit"]
        q = t.select().order_by(t.c.id)
        if call_id is not None:
            q = q.where(t.c.call_id == call_id)
        if action is not None:
            q = q.where(t.c.action == action)
        with self._read() as conn:
            return self._rows(conn.execute(q))

    # ------------------------------------------------------------------ calls

    def upsert_call(self, meta: CallMetadata, input_hash: str, actor: str = DEFAULT_ACTOR) -> bool:
        """Insert or refresh a call from its validated sidecar. Returns True when the call
        was new.

        A new call starts ``active`` (``opt_out`` when recording consent is not granted).
        Re-ingesting refreshes metadata, consent columns and ``input_hash`` but never the
        ``state`` (a deleted call is not resurrected) and never clears a legal hold.
        An ``ingest`` audit row is written for new calls and when ``input_hash`` changes.
        """
        if not input_hash:
            raise ValueError(f"upsert_call({meta.call_id!r}): input_hash must be non-empty")
        with self._write() as conn:
            return self._upsert_call(conn, self._call_values(meta, input_hash, utcnow()), actor)

    @staticmethod
    def _call_values(meta: CallMetadata, input_hash: str, now: datetime) -> dict[str, Any]:
        return {
            "call_id": meta.call_id,
            "tenant": meta.tenant,
            "call_date": meta.call_date,
            "started_at": _to_utc(meta.started_at),
            "customer_id": meta.customer_id,
            "agent_id": meta.agent_id,
            "input_hash": input_hash,
            "consent_recording": meta.consent.recording,
            "consent_training": bool(meta.consent.training),
            "legal_hold": bool(meta.legal_hold),
            "state": "active" if meta.consent.recording_allowed else "opt_out",
            "updated_at": now,
        }

    def _upsert_call(self, conn: Any, values: dict[str, Any], actor: str) -> bool:
        t = self._t["calls"]
        old = conn.execute(t.select().where(t.c.call_id == values["call_id"])).mappings().first()
        if old is None:
            conn.execute(t.insert().values(**values))
            self._audit(conn, "ingest", actor, values["call_id"], values["tenant"], "new call",
                        {"input_hash": values["input_hash"]})
            return True
        upd = {k: v for k, v in values.items() if k not in ("call_id", "state")}
        upd["legal_hold"] = bool(old["legal_hold"]) or bool(values["legal_hold"])
        conn.execute(t.update().where(t.c.call_id == values["call_id"]).values(**upd))
        if old["input_hash"] != values["input_hash"]:
            self._audit(conn, "ingest", actor, values["call_id"], values["tenant"], "input changed",
                        {"input_hash": values["input_hash"], "previous_hash": old["input_hash"]})
        return False

    def ingest_call(self, meta: CallMetadata, input_hash: str, source: str,
                    actor: str = DEFAULT_ACTOR) -> bool:
        """:meth:`upsert_call` and the sidecar's consent in ONE transaction, so no reader
        (and no crash or database restart) ever sees a call without its consent. Safe to
        repeat after a failure: the ``ingest`` audit row follows :meth:`upsert_call`'s
        rules, and a consent event (with its ``consent_recorded`` row) is appended only
        when it differs from the call's latest one (recording, training, source).
        Returns True when the call was new."""
        if not input_hash:
            raise ValueError(f"ingest_call({meta.call_id!r}): input_hash must be non-empty")
        self._check_consent(meta.call_id, meta.consent.recording, source)
        now = utcnow()
        ev = self._t["consent_events"]
        with self._write() as conn:
            new = self._upsert_call(conn, self._call_values(meta, input_hash, now), actor)
            last = conn.execute(ev.select().where(ev.c.call_id == meta.call_id)
                                .order_by(ev.c.id.desc()).limit(1)).mappings().first()
            same = last is not None and (last["recording"], bool(last["training"]), last["source"]) == (
                meta.consent.recording, bool(meta.consent.training), source)
            if not same:
                self._record_consent(conn, meta.call_id, meta.tenant, meta.consent.recording,
                                     bool(meta.consent.training), source, actor, now)
            return new

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        """The ``calls`` row for ``call_id`` as a dict, or None."""
        t = self._t["calls"]
        with self._read() as conn:
            row = conn.execute(t.select().where(t.c.call_id == call_id)).mappings().first()
        return dict(row) if row else None

    def calls(
        self,
        tenant: str | None = None,
        state: str | Sequence[str] | None = None,
        call_date: str | date | None = None,
        customer_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Call rows ordered by ``call_id``, filtered by any of tenant, state (one or a
        list), call date (``YYYY-MM-DD`` or a ``date``) and customer id."""
        t = self._t["calls"]
        q = t.select().order_by(t.c.call_id)
        if tenant is not None:
            q = q.where(t.c.tenant == tenant)
        if state is not None:
            wanted = [state] if isinstance(state, str) else list(state)
            for s in wanted:
                if s not in CALL_STATES:
                    raise ValueError(f"unknown call state {s!r}; known: {CALL_STATES}")
            q = q.where(t.c.state.in_(wanted))
        if call_date is not None:
            q = q.where(t.c.call_date == (call_date.isoformat()
                                          if isinstance(call_date, date) else call_date))
        if customer_id is not None:
            q = q.where(t.c.customer_id == customer_id)
        with self._read() as conn:
            return self._rows(conn.execute(q))

    def set_state(
        self,
        call_id: str,
        state: str,
        actor: str = DEFAULT_ACTOR,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        action: str | None = None,
    ) -> None:
        """Move a call to ``state`` and write an audit row (action from
        :data:`STATE_ACTIONS` unless ``action`` is given).

        Raises :class:`LedgerError` for an unknown call or a move out of ``erased`` (or
        from ``purged`` to anything but ``erased``), and :class:`LegalHoldError` for a
        deleting state while the call is under legal hold. Sets ``soft_deleted_at`` /
        ``purged_at`` when entering those states.
        """
        if state not in CALL_STATES:
            raise ValueError(f"unknown call state {state!r}; known: {CALL_STATES}")
        t = self._t["calls"]
        now = utcnow()
        with self._write() as conn:
            row = conn.execute(t.select().where(t.c.call_id == call_id)).mappings().first()
            if row is None:
                raise LedgerError(f"set_state: unknown call {call_id!r}")
            cur = row["state"]
            purged_to_erased = cur == "purged" and state == "erased"
            if cur in TERMINAL_STATES and state != cur and not purged_to_erased:
                raise LedgerError(f"set_state: call {call_id!r} is {cur}; cannot move to {state}")
            if state in DELETING_STATES and row["legal_hold"]:
                raise LegalHoldError(
                    f"set_state: call {call_id!r} is under legal hold; refusing {state}"
                )
            values: dict[str, Any] = {"state": state, "updated_at": now}
            if state == "soft_deleted" and cur != "soft_deleted":
                values["soft_deleted_at"] = now
            if state in ("purged", "erased") and row["purged_at"] is None:
                values["purged_at"] = now
            if state == "active":
                values["soft_deleted_at"] = None
            conn.execute(t.update().where(t.c.call_id == call_id).values(**values))
            self._audit(conn, action or STATE_ACTIONS[state], actor, call_id, row["tenant"],
                        reason, {"from": cur, "to": state, **(dict(details) if details else {})})

    def set_legal_hold(
        self, call_id: str, hold: bool, actor: str = DEFAULT_ACTOR, reason: str = ""
    ) -> None:
        """Set or clear the legal hold on a call (audited as ``legal_hold``)."""
        t = self._t["calls"]
        with self._write() as conn:
            row = conn.execute(t.select().where(t.c.call_id == call_id)).mappings().first()
            if row is None:
                raise LedgerError(f"set_legal_hold: unknown call {call_id!r}")
            conn.execute(t.update().where(t.c.call_id == call_id)
                         .values(legal_hold=bool(hold), updated_at=utcnow()))
            self._audit(conn, "legal_hold", actor, call_id, row["tenant"], reason,
                        {"hold": bool(hold), "previous": bool(row["legal_hold"])})

    # ------------------------------------------------------------------ consent

    def record_consent(
        self,
        call_id: str,
        tenant: str | None,
        recording: str,
        training: bool,
        source: str,
        actor: str = DEFAULT_ACTOR,
    ) -> int:
        """Append a consent event (and a ``consent_recorded`` audit row); also refresh the
        consent columns of the call if it is known. Returns the event id.

        This does not change the call's state: the caller decides what to discard and
        records that with ``set_state(call_id, "opt_out", ...)``.
        """
        self._check_consent(call_id, recording, source)
        with self._write() as conn:
            return self._record_consent(conn, call_id, tenant, recording, bool(training), source, actor,
                                        utcnow())

    @staticmethod
    def _check_consent(call_id: str, recording: str, source: str) -> None:
        if recording not in ("granted", "opt_out"):
            raise ValueError(
                f"record_consent({call_id!r}): recording must be 'granted' or 'opt_out', "
                f"got {recording!r}"
            )
        if not source:
            raise ValueError(f"record_consent({call_id!r}): source must be non-empty")

    def _record_consent(self, conn: Any, call_id: str, tenant: str | None, recording: str,
                        training: bool, source: str, actor: str, now: datetime) -> int:
        ev, calls = self._t["consent_events"], self._t["calls"]
        res = conn.execute(ev.insert().values(
            ts=now, call_id=call_id, tenant=tenant, recording=recording,
            training=training, source=source))
        conn.execute(calls.update().where(calls.c.call_id == call_id).values(
            consent_recording=recording, consent_training=training, updated_at=now))
        self._audit(conn, "consent_recorded", actor, call_id, tenant, source,
                    {"recording": recording, "training": training})
        return int(res.inserted_primary_key[0])

    def latest_consent(self, call_id: str) -> dict[str, Any] | None:
        """The most recent consent event for a call, or None."""
        ev = self._t["consent_events"]
        q = ev.select().where(ev.c.call_id == call_id).order_by(ev.c.id.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def consent_events(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """All consent events (optionally for one call), oldest first."""
        ev = self._t["consent_events"]
        q = ev.select().order_by(ev.c.id)
        if call_id is not None:
            q = q.where(ev.c.call_id == call_id)
        with self._read() as conn:
            return self._rows(conn.execute(q))

    # ------------------------------------------------------------------ quarantine

    def add_quarantine(self, rec: QuarantineRecord, actor: str = DEFAULT_ACTOR) -> bool:
        """Record a quarantine. Idempotent: when an OPEN record with the same
        (call_id, stage, reason) exists nothing is written and False is returned.
        A new record also writes one ``quarantine`` audit row and, when the call is
        known and ``active``, moves it to ``quarantined``."""
        import sqlalchemy as sa

        q, calls = self._t["quarantine"], self._t["calls"]
        if not rec.call_id or not rec.stage or not rec.reason:
            raise ValueError("add_quarantine: call_id, stage and reason must be non-empty")
        now = utcnow()
        try:
            with self._write() as conn:
                exists = conn.execute(
                    sa.select(q.c.id).where(
                        q.c.call_id == rec.call_id, q.c.stage == rec.stage,
                        q.c.reason == rec.reason, q.c.released_at.is_(None))
                ).first()
                if exists is not None:
                    return False
                tenant = rec.tenant or conn.execute(sa.select(calls.c.tenant).where(
                    calls.c.call_id == rec.call_id)).scalar_one_or_none()
                conn.execute(q.insert().values(
                    created_at=now, call_id=rec.call_id, partition=rec.partition,
                    stage=rec.stage, reason=rec.reason, detail=rec.detail or "",
                    source_uri=rec.source_uri or "", tenant=tenant))
                conn.execute(calls.update().where(
                    calls.c.call_id == rec.call_id, calls.c.state == "active"
                ).values(state="quarantined", updated_at=now))
                self._audit(conn, "quarantine", actor, rec.call_id, tenant, rec.reason,
                            {"stage": rec.stage, "partition": rec.partition,
                             "source_uri": rec.source_uri})
                return True
        except sa.exc.IntegrityError:
            # a concurrent run inserted the same open record first
            return False

    def open_quarantine(
        self, partition: str | None = None, stage: str | None = None
    ) -> list[dict[str, Any]]:
        """Unreleased quarantine records, oldest first."""
        q = self._t["quarantine"]
        sel = q.select().where(q.c.released_at.is_(None)).order_by(q.c.id)
        if partition is not None:
            sel = sel.where(q.c.partition == partition)
        if stage is not None:
            sel = sel.where(q.c.stage == stage)
        with self._read() as conn:
            return self._rows(conn.execute(sel))

    def quarantine_rows(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """All quarantine records (open and released), oldest first."""
        q = self._t["quarantine"]
        sel = q.select().order_by(q.c.id)
        if call_id is not None:
            sel = sel.where(q.c.call_id == call_id)
        with self._read() as conn:
            return self._rows(conn.execute(sel))

    def release(
        self, call_id: str, actor: str = DEFAULT_ACTOR, reason: str = "", stage: str | None = None
    ) -> int:
        """Release the open quarantine records of a call (optionally of one stage) and
        return how many were released. Audited as ``release`` when anything was
        released; a ``quarantined`` call with no open record left returns to ``active``."""
        import sqlalchemy as sa

        q, calls = self._t["quarantine"], self._t["calls"]
        now = utcnow()
        with self._write() as conn:
            cond = [q.c.call_id == call_id, q.c.released_at.is_(None)]
            if stage is not None:
                cond.append(q.c.stage == stage)
            res = conn.execute(q.update().where(*cond).values(
                released_at=now, released_by=actor, release_reason=reason))
            n = int(res.rowcount or 0)
            if n == 0:
                return 0
            still_open = conn.execute(sa.select(sa.func.count()).select_from(q).where(
                q.c.call_id == call_id, q.c.released_at.is_(None))).scalar_one()
            if still_open == 0:
                conn.execute(calls.update().where(
                    calls.c.call_id == call_id, calls.c.state == "quarantined"
                ).values(state="active", updated_at=now))
            tenant = conn.execute(sa.select(calls.c.tenant).where(
                calls.c.call_id == call_id)).scalar_one_or_none()
            self._audit(conn, "release", actor, call_id, tenant, reason,
                        {"released": n, "stage": stage})
            return n

    # ------------------------------------------------------------------ redaction spans

    def record_spans(
        self,
        call_id: str,
        asset: str,
        spans: Sequence[Mapping[str, Any]],
        method: str,
        actor: str = DEFAULT_ACTOR,
    ) -> int:
        """Replace the redaction spans of (call_id, asset) with ``spans`` and audit it as
        ``redaction``. Each span carries offsets and a type only: keys from
        :data:`SPAN_FIELDS`; ``entity_type`` is required. A span holding a value
        (``text``, ``value``, ``entity_value``, ...) is refused with ValueError so PII
        cannot leak into the ledger. Returns the number of spans stored."""
        rows = []
        for i, s in enumerate(spans):
            bad = FORBIDDEN_SPAN_FIELDS.intersection(s)
            if bad:
                raise ValueError(
                    f"record_spans({call_id!r}, {asset!r}): span {i} carries value field(s) "
                    f"{sorted(bad)}; only offsets and entity types may be stored"
                )
            if not s.get("entity_type"):
                raise ValueError(
                    f"record_spans({call_id!r}, {asset!r}): span {i} has no entity_type"
                )
            row = {k: s.get(k) for k in SPAN_FIELDS}
            rows.append({**row, "call_id": call_id, "asset": asset, "method": method})
        t = self._t["redaction_spans"]
        with self._write() as conn:
            conn.execute(t.delete().where(t.c.call_id == call_id, t.c.asset == asset))
            if rows:
                conn.execute(t.insert(), rows)
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["entity_type"]] = counts.get(r["entity_type"], 0) + 1
            self._audit(conn, "redaction", actor, call_id, None, method,
                        {"asset": asset, "spans": len(rows), "entity_counts": counts})
        return len(rows)

    def spans(self, call_id: str | None = None, asset: str | None = None) -> list[dict[str, Any]]:
        """Stored redaction spans (offsets and types), in insertion order.
        Spans are not PII and are kept after erasure as evidence of redaction."""
        t = self._t["redaction_spans"]
        q = t.select().order_by(t.c.id)
        if call_id is not None:
            q = q.where(t.c.call_id == call_id)
        if asset is not None:
            q = q.where(t.c.asset == asset)
        with self._read() as conn:
            return self._rows(conn.execute(q))

    # ------------------------------------------------------------------ incremental processing

    def mark_processed(
        self, stage: str, call_id: str, input_hash: str, code_version: str, output_uri: str | None
    ) -> None:
        """Record that ``stage`` produced ``output_uri`` for ``call_id`` from
        ``input_hash`` with ``code_version`` (upsert)."""
        t = self._t["processed"]
        values = {"stage": stage, "call_id": call_id, "input_hash": input_hash,
                  "code_version": code_version, "output_uri": output_uri, "ts": utcnow()}
        stmt = self._insert(t).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.stage, t.c.call_id],
            set_={k: stmt.excluded[k] for k in ("input_hash", "code_version", "output_uri", "ts")},
        )
        with self._write() as conn:
            conn.execute(stmt)

    def processed(self, stage: str, call_id: str) -> dict[str, Any] | None:
        """The processing record for (stage, call_id), or None."""
        t = self._t["processed"]
        with self._read() as conn:
            row = conn.execute(
                t.select().where(t.c.stage == stage, t.c.call_id == call_id)
            ).mappings().first()
        return dict(row) if row else None

    def is_current(self, stage: str, call_id: str, input_hash: str, code_version: str) -> bool:
        """True when ``stage`` already processed exactly this input with this code version."""
        row = self.processed(stage, call_id)
        return bool(row and row["input_hash"] == input_hash and row["code_version"] == code_version)

    def forget_processed(self, call_id: str, actor: str = DEFAULT_ACTOR) -> int:
        """Delete every processing record of a call (erasure); audited. Returns the count."""
        t = self._t["processed"]
        with self._write() as conn:
            n = int(conn.execute(t.delete().where(t.c.call_id == call_id)).rowcount or 0)
            self._audit(conn, "forget_processed", actor, call_id, None, "erasure",
                        {"deleted": n})
        return n

    # ------------------------------------------------------------------ annotations

    def add_annotation(
        self,
        call_id: str,
        task_id: str,
        labels: Mapping[str, Any],
        annotator: str,
        ts: datetime | None = None,
    ) -> int:
        """Store an annotation (upsert on call_id + task_id + annotator: a re-imported or
        edited annotation replaces the earlier one). Returns the row id."""
        if not annotator:
            raise ValueError(f"add_annotation({call_id!r}, {task_id!r}): annotator is empty")
        if not isinstance(labels, Mapping):
            raise ValueError(f"add_annotation({call_id!r}, {task_id!r}): labels must be a mapping")
        t = self._t["annotations"]
        values = {"call_id": call_id, "task_id": str(task_id), "labels": dict(labels),
                  "annotator": annotator, "ts": _to_utc(ts) or utcnow()}
        stmt = self._insert(t).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.call_id, t.c.task_id, t.c.annotator],
            set_={"labels": stmt.excluded.labels, "ts": stmt.excluded.ts},
        ).returning(t.c.id)
        with self._write() as conn:
            return int(conn.execute(stmt).scalar_one())

    def annotations(
        self,
        call_id: str | None = None,
        task_id: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Annotations, oldest first, optionally filtered by call, task or ``ts >= since``."""
        t = self._t["annotations"]
        q = t.select().order_by(t.c.ts, t.c.id)
        if call_id is not None:
            q = q.where(t.c.call_id == call_id)
        if task_id is not None:
            q = q.where(t.c.task_id == str(task_id))
        if since is not None:
            q = q.where(t.c.ts >= _to_utc(since))
        with self._read() as conn:
            return self._rows(conn.execute(q))

    def forget_annotations(self, call_id: str) -> int:
        """Delete the annotations of a call (erasure). Returns the count."""
        t = self._t["annotations"]
        with self._write() as conn:
            return int(conn.execute(t.delete().where(t.c.call_id == call_id)).rowcount or 0)


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of a SQLite ledger file at ``path`` (made absolute)."""
    return f"sqlite:///{Path(path).resolve()}"

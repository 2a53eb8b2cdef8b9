"""Ledger resource: the compliance ledger (consent, audit, quarantine, retention,
processing state, annotations) on SQLite by default, PostgreSQL in production.

Embedded default: ``LedgerResource(url=sqlite_url(<home>/ledger.db))`` (the lead builds
the path from the settings); production:
``LedgerResource(url=dg.EnvVar("CALLFORGE_LEDGER_URL"))`` with a
``postgresql+psycopg2://...`` URL.
"""

from __future__ import annotations

import os
import threading

import dagster as dg
from pydantic import Field

from pipeline.domain.core.ledger import Ledger, LedgerError

_LEDGERS: dict[tuple[int, str], Ledger] = {}
_LOCK = threading.Lock()


def cached_ledger(url: str) -> Ledger:
    """One :class:`Ledger` per process and URL, schema created on first use."""
    key = (os.getpid(), url)
    with _LOCK:
        led = _LEDGERS.get(key)
        if led is None:
            led = Ledger(url)
            led.create_all()
            _LEDGERS[key] = led
        return led


class LedgerResource(dg.ConfigurableResource):
    """The compliance ledger database."""

    url: str = Field(
        description="SQLAlchemy URL: 'sqlite:////abs/path/ledger.db' (embedded) or "
        "'postgresql+psycopg2://user:pass@host:5432/db' (set via EnvVar in production)."
    )

    def get_ledger(self) -> Ledger:
        """The ledger for ``url`` (cached per process; tables created on first use)."""
        try:
            return cached_ledger(self.url)
        except ValueError as e:
            raise dg.Failure(f"LedgerResource: invalid url: {e}") from e
        except LedgerError as e:  # unreachable database, no permission, ...
            raise dg.Failure(f"LedgerResource: {e}") from e

"""Shared fixtures: repo paths, real servers (PostgreSQL, moto S3) started on 127.0.0.1.

Under CI=true a server that cannot start FAILS the run (tests/servers.py) — CI must never
silently skip the production-profile tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.settings import force_offline
from tests.servers import moto_s3_server, postgres_server

force_offline()
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a throw-away PostgreSQL 15 database on 127.0.0.1."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto S3 server on 127.0.0.1 (any credentials, us-east-1)."""
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def callforge_env(tmp_path, monkeypatch):
    """A fresh embedded-profile home for one test; settings re-read from it."""
    from pipeline.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("CALLFORGE_HOME", str(home))
    monkeypatch.setenv("CALLFORGE_SETTINGS", str(REPO / "callforge.yaml"))
    monkeypatch.delenv("CALLFORGE_LANDING", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()

"""Real local servers for tests: PostgreSQL 15 and an S3-protocol server (moto).

Each helper is a context manager that starts the server on 127.0.0.1 on a free port,
yields its address and stops it (and removes its files) afterwards. When a server cannot
start, the calling test is skipped with the reason — unless the environment variable
``CI`` is ``"true"``, in which case it fails: CI must never silently skip a server test.

Usage (session-scoped fixtures live in a conftest)::

    with postgres_server() as url:      # postgresql+psycopg2://postgres@127.0.0.1:PORT/callforge
        ...
    with moto_s3_server() as endpoint:  # http://127.0.0.1:PORT
        ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def _find_pg_bin() -> Path:
    """$CALLFORGE_PG_BIN, else PostgreSQL 15, else the newest /usr/lib/postgresql/*/bin."""
    if os.environ.get("CALLFORGE_PG_BIN"):
        return Path(os.environ["CALLFORGE_PG_BIN"])
    preferred = Path("/usr/lib/postgresql/15/bin")
    if (preferred / "initdb").exists():
        return preferred
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else preferred


PG_BIN = _find_pg_bin()
PG_USER = "postgres"
START_TIMEOUT_S = 60.0


def server_unavailable(reason: str) -> NoReturn:
    """Skip the current test because a server cannot start, or fail it when CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"test server unavailable (CI=true, so not skipping): {reason}")
    pytest.skip(f"test server unavailable: {reason}")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- PostgreSQL


def _pg_cmd(args: list[str]) -> list[str]:
    """Prefix a PostgreSQL command so it runs as ``postgres`` when we are root
    (initdb and postgres refuse to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *args]
    return args


def _run(cmd: list[str], what: str, timeout: float = START_TIMEOUT_S) -> None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        server_unavailable(f"{what} could not run: {e}")
    if res.returncode != 0:
        server_unavailable(
            f"{what} exited {res.returncode}: {(res.stderr or res.stdout).strip()[-1500:]}"
        )


@contextlib.contextmanager
def postgres_server(dbname: str = "callforge") -> Iterator[str]:
    """Start a throw-away PostgreSQL 15 cluster on 127.0.0.1 and yield its SQLAlchemy URL
    (``postgresql+psycopg2://postgres@127.0.0.1:PORT/<dbname>``, trust auth)."""
    if not (PG_BIN / "initdb").exists():
        server_unavailable(f"PostgreSQL binaries not found in {PG_BIN} (initdb missing)")
    # as root the cluster belongs to `postgres`, which must be able to reach the folder:
    # use /tmp rather than a $TMPDIR that may sit under /root
    base = Path(tempfile.mkdtemp(prefix="callforge-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    data = base / "data"
    log = base / "postgres.log"
    if os.geteuid() == 0:
        try:
            shutil.chown(base, user=PG_USER)
        except (LookupError, PermissionError) as e:
            shutil.rmtree(base, ignore_errors=True)
            server_unavailable(f"cannot hand {base} to user {PG_USER!r}: {e}")
    base.chmod(0o700)
    port = free_port()
    started = False
    try:
        _run(
            _pg_cmd([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER,
                     "--auth=trust", "--encoding=UTF8", "--no-sync"]),
            "initdb",
        )
        opts = (f"-k {base} -h 127.0.0.1 -p {port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        _run(
            _pg_cmd([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                     "-t", str(int(START_TIMEOUT_S)), "-o", opts, "start"]),
            f"pg_ctl start (log {log}: {_tail(log, 800)!r})",
        )
        started = True
        _run(
            _pg_cmd([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                     "-U", PG_USER, dbname]),
            "createdb",
        )
        yield f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{port}/{dbname}"
    finally:
        if started:
            subprocess.run(
                _pg_cmd([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True, timeout=START_TIMEOUT_S, check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- S3 (moto)


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """Start ``moto_server`` (from ``moto[server]``) on 127.0.0.1 and yield its endpoint
    URL. Any access key / secret is accepted; use region ``us-east-1``."""
    try:
        import moto.server  # noqa: F401
    except ImportError as e:
        server_unavailable(f"moto[server] is not installed: {e}")
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="callforge-moto-"))
    log = log_dir / "moto.log"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=fh, stderr=subprocess.STDOUT, env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        if not _wait_port(port, proc, START_TIMEOUT_S) or not _moto_ready(endpoint):
            server_unavailable(f"moto_server did not start on {endpoint}: {_tail(log, 1500)!r}")
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(log_dir, ignore_errors=True)


def _moto_ready(endpoint: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2) as r:
                if r.status < 500:
                    return True
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    return False


# --------------------------------------------------------------------------- Label Studio


@contextlib.contextmanager
def label_studio_server() -> Iterator[tuple[str, str]]:
    """Start Label Studio (its own venv, see ``pipeline/label_studio_server.py``) on
    127.0.0.1 with a preset API token; yield ``(url, token)``. First start ≈ 30 s."""
    from pipeline.label_studio_server import label_studio_bin, launch_spec

    if not label_studio_bin().exists():
        server_unavailable(f"Label Studio not installed at {label_studio_bin()} (make install builds it)")
    base = Path(tempfile.mkdtemp(prefix="callforge-ls-"))
    port = free_port()
    spec = launch_spec(base / "data", port=port, files_root=base / "files")
    log = base / "label_studio.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(spec.cmd, stdout=fh, stderr=subprocess.STDOUT, env=spec.env, cwd=base,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{spec.url}/health", timeout=2) as r:
                    ready = r.status == 200
            except (OSError, urllib.error.URLError):
                pass
            if ready:
                break
            time.sleep(0.5)
        if not ready:
            server_unavailable(f"Label Studio did not start on {spec.url}: {_tail(log, 1500)!r}")
        yield spec.url, spec.token
    finally:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)

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


# --------------------------------------------------------------------------- Dagster webserver


@contextlib.contextmanager
def dagster_webserver(env: dict[str, str], workspace: Path, cwd: Path,
                      timeout: float = 180.0) -> Iterator[str]:
    """Start ``dagster-webserver`` (no daemon: nothing is launched behind the test's back)
    on 127.0.0.1 for ``workspace`` with ``env`` (DAGSTER_HOME etc.) and yield its URL once
    ``/server_info`` answers and every code location is LOADED. Stops the process group.
    A webserver that cannot start fails the test: it is the project's own server."""
    import json
    import signal

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="callforge-webserver-"))
    log = log_dir / "webserver.log"
    exe = Path(sys.executable).parent / "dagster-webserver"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)],
                                cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                 "locationOrLoadError { __typename ... on PythonError { message } } } } } }"}).encode()
    try:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited {proc.returncode}: {_tail(log, 3000)}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    pass
                req = urllib.request.Request(f"{url}/graphql", data=query,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    entries = json.load(r)["data"]["workspaceOrError"]["locationEntries"]
                errors = [e for e in entries if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
                if errors:
                    pytest.fail(f"code location failed to load in dagster-webserver: {errors}")
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    break
                last = str(entries)
            except (OSError, urllib.error.URLError, KeyError, ValueError) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver not ready on {url} after {timeout:.0f}s ({last}): {_tail(log, 3000)}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(log_dir, ignore_errors=True)


# --------------------------------------------------------------------------- headless Chromium


def browser_unavailable(reason: str) -> NoReturn:
    """Skip a browser test locally; fail it when ``CI`` is set (to anything but 0/false)."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"headless browser unavailable (CI is set, so not skipping): {reason}. "
                    "Install Debian's `chromium chromium-driver` (.ci/run does) and `pip install selenium`.")
    pytest.skip(f"headless browser unavailable: {reason}")


def chromium_paths() -> tuple[Path, Path]:
    """(chromium, chromedriver): $CALLFORGE_CHROMIUM / $CALLFORGE_CHROMEDRIVER, else Debian's
    /usr/bin/chromium and /usr/bin/chromedriver. Skips (fails on CI) when either or the
    ``selenium`` package is missing."""
    browser = Path(os.environ.get("CALLFORGE_CHROMIUM", "/usr/bin/chromium"))
    driver = Path(os.environ.get("CALLFORGE_CHROMEDRIVER", "/usr/bin/chromedriver"))
    missing = [str(p) for p in (browser, driver) if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        browser_unavailable(f"not found or not executable: {', '.join(missing)}")
    try:
        import selenium  # noqa: F401
    except ImportError as e:
        browser_unavailable(f"the selenium package is not installed: {e}")
    return browser, driver


@contextlib.contextmanager
def headless_chromium(width: int = 1600, height: int = 1000) -> Iterator:
    """Yield a Selenium WebDriver on Debian's headless Chromium, driven by the system
    chromedriver given explicitly (so Selenium Manager never tries to download one), with
    a throw-away profile. Quits the browser afterwards."""
    browser, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="callforge-chromium-"))
    log = profile.parent / f"{profile.name}.chromedriver.log"
    opts = Options()
    opts.binary_location = str(browser)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    try:
        drv = webdriver.Chrome(service=Service(executable_path=str(driver_path), log_output=str(log)),
                               options=opts)
    except WebDriverException as e:
        shutil.rmtree(profile, ignore_errors=True)
        browser_unavailable(f"{browser} with {driver_path} did not start: {e.msg} {_tail(log, 1500)}")
    try:
        drv.set_page_load_timeout(120)
        yield drv
    finally:
        with contextlib.suppress(Exception):
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
        log.unlink(missing_ok=True)


# --------------------------------------------------------------------------- PostgreSQL, restartable


class PostgresCluster:
    """A throw-away PostgreSQL cluster the test may stop and start again (same data
    folder and port): ``url``, ``stop(mode)``, ``start()``, ``restart()``, ``running()``."""

    def __init__(self, base: Path, port: int, dbname: str) -> None:
        self.base, self.port, self.dbname = base, port, dbname
        self.data, self.log = base / "data", base / "postgres.log"
        self.url = f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{port}/{dbname}"

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_pg_cmd([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
                              capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)

    def start(self) -> None:
        # synchronous_commit stays on: with it off, a crash (immediate stop) loses the last
        # commits, which a crash test would read as lost data; fsync=off is safe here (the
        # OS, and its page cache, does not crash)
        opts = f"-k {self.base} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"
        res = self._ctl("-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT_S)), "-o", opts, "start")
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {res.stderr or res.stdout} {_tail(self.log, 800)}")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` rolls back open transactions and closes every connection;
        ``immediate`` is a crash (recovery on the next start)."""
        res = self._ctl("-m", mode, "-w", "stop")
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {res.stderr or res.stdout}")

    def running(self) -> bool:
        return self._ctl("status").returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()


@contextlib.contextmanager
def restartable_postgres_server(dbname: str = "callforge") -> Iterator[PostgresCluster]:
    """Like :func:`postgres_server`, but yields the :class:`PostgresCluster` so a test can
    restart the server under a running pipeline (fault tests). Skipped, or failed under
    CI=true, when PostgreSQL cannot start."""
    if not (PG_BIN / "initdb").exists():
        server_unavailable(f"PostgreSQL binaries not found in {PG_BIN} (initdb missing)")
    base = Path(tempfile.mkdtemp(prefix="callforge-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    if os.geteuid() == 0:
        try:
            shutil.chown(base, user=PG_USER)
        except (LookupError, PermissionError) as e:
            shutil.rmtree(base, ignore_errors=True)
            server_unavailable(f"cannot hand {base} to user {PG_USER!r}: {e}")
    base.chmod(0o700)
    cluster = PostgresCluster(base, free_port(), dbname)
    try:
        _run(_pg_cmd([str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", PG_USER,
                      "--auth=trust", "--encoding=UTF8", "--no-sync"]), "initdb")
        try:
            cluster.start()
        except RuntimeError as e:
            server_unavailable(str(e))
        _run(_pg_cmd([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port),
                      "-U", PG_USER, dbname]), "createdb")
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster._ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- Redis + Celery workers


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Start Debian's ``redis-server`` on 127.0.0.1 (free port, no persistence) and yield
    ``redis://127.0.0.1:PORT``. Stops it and removes its folder afterwards."""
    import signal

    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(exe).exists():
        server_unavailable("redis-server not found (apt-get install redis-server; .ci/run does)")
    port = free_port()
    base = Path(tempfile.mkdtemp(prefix="callforge-redis-"))
    log = base / "redis.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", str(base)], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not _wait_port(port, proc, START_TIMEOUT_S) or not _redis_ping(port):
            server_unavailable(f"redis-server did not start on port {port}: {_tail(log, 1500)!r}")
        yield f"redis://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def celery_workers(names: list[str], config_yaml: Path, env: dict[str, str], cwd: Path,
                   timeout: float = 180.0) -> Iterator[dict[str, Path]]:
    """Start one ``dagster-celery worker start -A dagster_celery.app`` per name (Celery
    node ``NAME@host``, concurrency 1) with ``env`` (DAGSTER_HOME, broker, profile...) and
    yield ``{name: log path}`` once every worker logged that it is ready. Each worker is
    its own process group and is stopped (SIGTERM, then SIGKILL) afterwards. A worker
    that cannot start fails the test: it is the project's own code."""
    import signal

    bin_dir = Path(sys.executable).parent
    exe = bin_dir / "dagster-celery"
    # dagster-celery runs the `celery` binary found on PATH: the venv's
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"}
    log_dir = Path(tempfile.mkdtemp(prefix="callforge-celery-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: log_dir / f"{name}.log" for name in names}
    try:
        for name in names:
            with open(logs[name], "wb") as fh:
                procs[name] = subprocess.Popen(
                    [str(exe), "worker", "start", "-A", "dagster_celery.app", "-y", str(config_yaml), "-n", name,
                     "--", "--concurrency=1"],
                    cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting:
            for name in sorted(waiting):
                if procs[name].poll() is not None:
                    pytest.fail(f"celery worker {name} exited {procs[name].returncode}: {_tail(logs[name], 3000)}")
                if " ready." in _tail(logs[name], 100_000):
                    waiting.discard(name)
            if waiting and time.monotonic() > deadline:
                pytest.fail(f"celery workers {sorted(waiting)} not ready after {timeout:.0f}s: "
                            + " | ".join(_tail(logs[n], 1500) for n in sorted(waiting)))
            time.sleep(0.5)
        yield logs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(log_dir, ignore_errors=True)

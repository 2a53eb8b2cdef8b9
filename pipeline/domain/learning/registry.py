"""Adapter registry and the training gate (pure domain).

One registry per adapter name (``intent``, ``chat``, ...). The working copy is a folder,
because vLLM's ``--lora-modules name=path`` and peft load from paths; every change is
published to the object store (``mirror``, local or S3) under ``adapters/<name>/``, and a
host that starts with an empty folder (a Kubernetes pod, a GPU node) pulls it back with
:meth:`AdapterRegistry.pull`.

Layout under ``root``::

    versions/v0001/            adapter files + manifest.json + training_metadata.json
    versions/v0002/ ...
    champion.json              {"version", "previous", "reason", "promoted_at"}
    current.json               the same, plus the champion's absolute path
    current -> versions/vNNNN  symlink: what vLLM's ``--lora-modules name=<root>/current`` loads
    pins.json                  versions cleanup never deletes
    history.jsonl              one line per promotion or rollback (append-only)

Registration is atomic: files are copied into a staging folder which is renamed to the
next free version; two concurrent registrations get different versions. Promotion,
rollback, pinning and cleanup hold an exclusive lock on ``.lock`` and swap every pointer
with an atomic rename, so a concurrent promote never leaves a torn pointer and the
pointers always agree.

In the object store::

    adapters/<name>/v0001/...            the version's files (the same bytes)
    adapters/<name>/current.json         the champion pointer (one object, one atomic PUT)
    adapters/<name>/history.jsonl        promotions and rollbacks
    adapters/<name>/pins.json

The flock serialises promotions on one host (or hosts sharing the folder); hosts that
share only the object store should promote from one place (the eval asset, the CLI).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.domain.core.models import sha256_bytes

VERSION_RE = re.compile(r"^v(\d{4,})$")
REQUIRED_MANIFEST_KEYS = ("base_model", "dataset_version", "config", "metrics")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
MODEL_SUFFIXES = WEIGHT_SUFFIXES + (".gguf",)
MANIFEST = "manifest.json"
TRAINING_METADATA = "training_metadata.json"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def model_fingerprint(path: Path | str) -> str:
    """sha256 over a model's weight files (a folder's ``*.safetensors|bin|pt|gguf`` in name
    order, or one file), cached per (path, size, mtime): the base model's identity in
    ``training_metadata.json``."""
    import hashlib

    p = Path(path)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in MODEL_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no model weight files under {p}")
    st = [f.stat() for f in files]
    key = (str(p.resolve()), sum(x.st_size for x in st), int(max(x.st_mtime_ns for x in st)))
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0")
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _FINGERPRINTS[key] = h.hexdigest()
    return _FINGERPRINTS[key]


def code_version() -> str:
    """The code that trained an adapter: the git commit of this checkout (``+dirty`` when
    modified), else ``CALLFORGE_CODE_VERSION`` (set it in container images), else unknown."""
    import subprocess

    env = os.environ.get("CALLFORGE_CODE_VERSION")
    if env:
        return env
    repo = Path(__file__).resolve().parents[3]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AdapterRegistry:
    """Versioned adapters in a folder, with a champion pointer and promotion history,
    published to ``mirror`` (an object store) under ``adapters/<name>/`` when given."""

    def __init__(self, root: Path | str, name: str | None = None, mirror: Any = None) -> None:
        self.root = Path(root)
        self.name = name or self.root.name
        if not NAME_RE.match(self.name):
            raise ValueError(f"adapter name {self.name!r} must match {NAME_RE.pattern}")
        self.mirror = mirror
        self.versions_dir = self.root / "versions"
        self.versions_dir.mkdir(parents=True, exist_ok=True)

    # -- object store -------------------------------------------------------------
    @property
    def mirror_prefix(self) -> str:
        return f"adapters/{self.name}/"

    def version_key(self, version: str) -> str:
        """Object-store prefix of a version: ``adapters/<name>/<version>/``."""
        return f"{self.mirror_prefix}{version}/"

    def prefix_uri(self, version: str) -> str:
        """URI of a version's folder in the object store (``.../adapters/<name>/<version>/``)."""
        return self.mirror.uri(self.version_key(version) + MANIFEST)[: -len(MANIFEST)]

    def version_uri(self, version: str) -> str | None:
        return self.mirror.uri(self.version_key(version) + TRAINING_METADATA) if self.mirror is not None else None

    def _publish_version(self, version: str) -> None:
        if self.mirror is None:
            return
        root = self.versions_dir / version
        # weights first, the manifest last: a reader that sees manifest.json sees every file
        files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: (p.name == MANIFEST, str(p)))
        for p in files:
            self.mirror.put_file(self.version_key(version) + p.relative_to(root).as_posix(), p)

    def _publish_pointers(self) -> None:
        if self.mirror is None:
            return
        for fname in ("history.jsonl", "pins.json"):
            p = self.root / fname
            if p.is_file():
                self.mirror.put_bytes(self.mirror_prefix + fname, p.read_bytes())
        champ = self.root / "champion.json"
        if champ.is_file():
            entry = json.loads(champ.read_text())
            self.mirror.put_json(self.mirror_prefix + "current.json",
                                 {**entry, "name": self.name, "uri": self.prefix_uri(entry["version"])})

    def pull(self) -> list[str]:
        """Bring the folder up to date from the object store: versions missing here are
        downloaded (manifest last, so a half-pulled version is never listed) and the
        pointers are taken from the store when its history is longer. Returns the
        versions pulled."""
        if self.mirror is None:
            return []
        keys = self.mirror.list(self.mirror_prefix)
        remote = sorted({k[len(self.mirror_prefix):].split("/", 1)[0] for k in keys
                         if VERSION_RE.match(k[len(self.mirror_prefix):].split("/", 1)[0])
                         and k.endswith("/" + MANIFEST)}, key=lambda v: int(v[1:]))
        pulled = []
        for v in remote:
            if (self.versions_dir / v / MANIFEST).is_file():
                continue
            staging = self.root / f".pulling-{uuid.uuid4().hex}"
            prefix = self.version_key(v)
            try:
                for k in (k for k in keys if k.startswith(prefix)):
                    dst = staging / k[len(prefix):]
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(self.mirror.get_bytes(k))
                try:
                    os.rename(staging, self.versions_dir / v)
                    pulled.append(v)
                except OSError:
                    pass  # pulled concurrently by another process
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        hist_key = self.mirror_prefix + "history.jsonl"
        if hist_key in keys:
            remote_hist = self.mirror.get_bytes(hist_key)
            with self._locked():
                local = self.root / "history.jsonl"
                if len(remote_hist.splitlines()) > len(local.read_bytes().splitlines() if local.is_file() else []):
                    _atomic_write_text(local, remote_hist.decode("utf-8"))
                    last = json.loads(remote_hist.decode("utf-8").splitlines()[-1])
                    if (self.versions_dir / last["version"] / MANIFEST).is_file():
                        entry = {k: last.get(k) for k in ("version", "previous", "reason", "promoted_at", "action")}
                        self._swap_pointers(entry)
        pins_key = self.mirror_prefix + "pins.json"
        if pins_key in keys and not (self.root / "pins.json").is_file():
            _atomic_write_text(self.root / "pins.json", self.mirror.get_bytes(pins_key).decode("utf-8"))
        return pulled

    # -- versions -----------------------------------------------------------------
    def versions(self) -> list[str]:
        """Registered versions, oldest first."""
        found = [
            p.name
            for p in self.versions_dir.iterdir()
            if p.is_dir() and VERSION_RE.match(p.name) and (p / MANIFEST).is_file()
        ]
        return sorted(found, key=lambda v: int(v[1:]))

    def path(self, version: str) -> Path:
        """Folder of a registered version (KeyError if unknown)."""
        if not VERSION_RE.match(version or ""):
            raise ValueError(f"not a version name: {version!r} (expected like 'v0001')")
        p = self.versions_dir / version
        if not (p / MANIFEST).is_file():
            raise KeyError(f"adapter version {version} is not registered under {self.versions_dir}")
        return p

    def manifest(self, version: str) -> dict[str, Any]:
        """The manifest.json of a version."""
        p = self.path(version) / MANIFEST
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: invalid JSON at line {e.lineno}: {e.msg}") from e

    def register(self, adapter_dir: Path | str, manifest: dict[str, Any]) -> str:
        """Copy an adapter folder into the registry as the next version; returns it.

        ``manifest`` must hold ``base_model``, ``dataset_version``, ``config`` and
        ``metrics`` (and should hold ``base_model_sha256``, see :func:`model_fingerprint`);
        the registry adds ``version``, ``name``, ``created_at``, ``code_version``, ``files``
        (sha256 and size of every file) and ``weights_sha256`` (weight files only), and
        writes ``training_metadata.json`` (base model id and hash, dataset version,
        config, seed, metrics, code version) beside the weights. The version is then
        published to the object store.
        """
        adapter_dir = Path(adapter_dir)
        if not adapter_dir.is_dir():
            raise FileNotFoundError(f"adapter folder {adapter_dir} does not exist")
        missing = [k for k in REQUIRED_MANIFEST_KEYS if k not in manifest]
        if missing:
            raise ValueError(f"manifest for {adapter_dir} is missing {', '.join(missing)}")
        files = sorted(p for p in adapter_dir.rglob("*") if p.is_file() and p.name not in (MANIFEST, TRAINING_METADATA))
        if not any(p.suffix in WEIGHT_SUFFIXES for p in files):
            raise ValueError(f"adapter folder {adapter_dir} has no weight files ({', '.join(WEIGHT_SUFFIXES)})")

        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            file_info: dict[str, dict[str, Any]] = {}
            for src in files:
                rel = src.relative_to(adapter_dir).as_posix()
                dst = staging / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                data = dst.read_bytes()
                file_info[rel] = {"sha256": sha256_bytes(data), "bytes": len(data)}
            record = json.loads(json.dumps(manifest, default=str))  # JSON-safe deep copy
            record.setdefault("code_version", code_version())
            record.setdefault("seed", (record.get("config") or {}).get("seed"))
            record.setdefault("base_model_sha256", None)
            record.update(
                {
                    "name": self.name,
                    "created_at": _now(),
                    "files": file_info,
                    "weights_sha256": {
                        k: v["sha256"] for k, v in file_info.items() if Path(k).suffix in WEIGHT_SUFFIXES
                    },
                }
            )
            # claim the next free version by renaming (atomic; fails if taken)
            for _ in range(1000):
                existing = [int(p.name[1:]) for p in self.versions_dir.iterdir() if VERSION_RE.match(p.name)]
                version = f"v{(max(existing, default=0) + 1):04d}"
                record["version"] = version
                meta = {k: record.get(k) for k in ("name", "version", "created_at", "base_model", "base_model_sha256",
                                                    "dataset_version", "config", "seed", "metrics", "code_version")}
                (staging / TRAINING_METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
                (staging / MANIFEST).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
                try:
                    os.rename(staging, self.versions_dir / version)
                except OSError:
                    continue  # raced with another registration: try the next number
                self._publish_version(version)
                return version
            raise RuntimeError(f"could not allocate a version under {self.versions_dir}")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def verify(self, version: str) -> list[str]:
        """Files of ``version`` whose bytes no longer match the manifest (empty = intact)."""
        root = self.path(version)
        bad = []
        for rel, info in self.manifest(version).get("files", {}).items():
            p = root / rel
            if not p.is_file() or sha256_bytes(p.read_bytes()) != info["sha256"]:
                bad.append(rel)
        return bad

    # -- champion -----------------------------------------------------------------
    def champion(self) -> str | None:
        """The promoted version, or None before any promotion."""
        p = self.root / "champion.json"
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())["version"]
        except (json.JSONDecodeError, KeyError) as e:
            raise ValueError(f"{p}: corrupt champion pointer ({e})") from e

    @contextlib.contextmanager
    def _locked(self):
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _swap_pointers(self, entry: dict[str, Any]) -> None:
        """champion.json, current.json and the ``current`` symlink, each by atomic rename."""
        version_dir = self.path(entry["version"])
        _atomic_write_text(self.root / "champion.json", json.dumps(entry, indent=2, sort_keys=True) + "\n")
        _atomic_write_text(self.root / "current.json",
                           json.dumps({**entry, "path": str(version_dir.resolve())}, indent=2, sort_keys=True) + "\n")
        tmp = self.root / f".current-{uuid.uuid4().hex}"
        os.symlink(os.path.relpath(version_dir, self.root), tmp)
        os.replace(tmp, self.root / "current")

    def _record(self, entry: dict[str, Any]) -> None:
        with (self.root / "history.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def promote(self, version: str, reason: str, action: str = "promote") -> dict[str, Any]:
        """Make ``version`` the champion (pointers swapped atomically) and append the
        promotion to history.jsonl. Returns the history entry."""
        self.path(version)  # raises if unknown
        if not reason or not reason.strip():
            raise ValueError("a promotion needs a reason")
        with self._locked():
            entry = {"version": version, "previous": self.champion(), "reason": reason, "promoted_at": _now(),
                     "action": action}
            self._record(entry)
            self._swap_pointers(entry)
            self._publish_pointers()
        return entry

    def rollback(self, reason: str) -> dict[str, Any]:
        """Make the champion's predecessor champion again (the version it replaced);
        raises when there is nothing to roll back to."""
        if not reason or not reason.strip():
            raise ValueError("a rollback needs a reason")
        with self._locked():
            current = self.champion()
            if current is None:
                raise ValueError("nothing to roll back: no champion yet")
            previous = next((h.get("previous") for h in reversed(self.history())
                             if h["version"] == current and h.get("previous")), None)
            if previous is None:
                raise ValueError(f"nothing to roll back to: {current} has no predecessor")
            self.path(previous)
            entry = {"version": previous, "previous": current, "reason": reason, "promoted_at": _now(),
                     "action": "rollback"}
            self._record(entry)
            self._swap_pointers(entry)
            self._publish_pointers()
        return entry

    def history(self) -> list[dict[str, Any]]:
        """All promotions and rollbacks, oldest first."""
        p = self.root / "history.jsonl"
        if not p.is_file():
            return []
        out = []
        for lineno, line in enumerate(p.read_text().splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}:{lineno}: invalid JSON ({e.msg})") from e
        return out

    # -- pins and cleanup ---------------------------------------------------------
    def pinned(self) -> list[str]:
        """Versions cleanup must keep."""
        p = self.root / "pins.json"
        return sorted(json.loads(p.read_text())) if p.is_file() else []

    def pin(self, version: str, pinned: bool = True) -> list[str]:
        """Pin (or unpin) a version; returns the pins."""
        self.path(version)
        with self._locked():
            pins = set(self.pinned())
            (pins.add if pinned else pins.discard)(version)
            _atomic_write_text(self.root / "pins.json", json.dumps(sorted(pins)) + "\n")
            self._publish_pointers()
        return sorted(pins)

    def cleanup(self, keep: int = 5) -> list[str]:
        """Delete all but the newest ``keep`` versions, never the champion, its
        predecessor (the rollback target) or a pinned version. Returns what was deleted."""
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        with self._locked():
            champion = self.champion()
            protected = set(self.pinned()) | {champion}
            protected |= {h.get("previous") for h in self.history() if h["version"] == champion}
            versions = self.versions()
            doomed = [v for v in versions[:-keep] if v not in protected]
            for v in doomed:
                trash = self.root / f".deleting-{v}-{uuid.uuid4().hex}"
                os.rename(self.versions_dir / v, trash)  # atomic: a version is there or gone
                shutil.rmtree(trash, ignore_errors=True)
                if self.mirror is not None:
                    # the manifest first, so a reader never lists a version with missing files
                    self.mirror.delete(self.version_key(v) + MANIFEST)
                    self.mirror.delete_prefix(self.version_key(v))
        return doomed

    def vllm_module(self, name: str) -> str:
        """The ``--lora-modules`` argument for vLLM: ``name=<root>/current``."""
        if self.champion() is None:
            raise ValueError("no champion to serve yet: promote a version first")
        return f"{name}={(self.root / 'current').absolute()}"


# -- training lock ----------------------------------------------------------------------
class TrainingLock:
    """One training at a time across processes and hosts sharing the registry folder:
    a lock file created with O_EXCL holding the owner and the time it was taken. A lock
    older than ``stale_after_s`` (a crashed run) may be broken by the next taker."""

    def __init__(self, root: Path | str, stale_after_s: float = 6 * 3600) -> None:
        self.path = Path(root) / "training.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stale_after_s = stale_after_s

    def holder(self) -> dict[str, Any] | None:
        """``{"owner", "since", "age_s", "stale"}`` of the current lock, or None."""
        try:
            d = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            d = {"owner": "?", "since": None}
        age = max(0.0, datetime.now(timezone.utc).timestamp() - self.path.stat().st_mtime)
        return {**d, "age_s": round(age, 1), "stale": age > self.stale_after_s}

    def acquire(self, owner: str) -> bool:
        """Take the lock for ``owner``; False when someone else holds a fresh one. A stale
        lock is broken (renamed away first, so two breakers cannot both win)."""
        h = self.holder()
        if h is not None and h.get("owner") == owner:
            return True
        if h is not None and h["stale"]:
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.path, self.path.with_name(f".stale-{uuid.uuid4().hex}.lock"))
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"owner": owner, "since": _now()}))
        return True

    def release(self, owner: str) -> None:
        """Release the lock if ``owner`` holds it (a lock taken over by another is left)."""
        h = self.holder()
        if h is not None and h.get("owner") == owner:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


# -- training gate ----------------------------------------------------------------------


@dataclass
class GateDecision:
    """Whether training may start; ``reasons`` lists every failed condition (or, when
    open, the conditions that were met)."""

    open: bool
    reasons: list[str] = field(default_factory=list)


class TrainingGate:
    """Training runs only when all conditions hold (architecture invariant 6)."""

    @staticmethod
    def check_gate(
        n_labelled: int,
        n_since_last: int,
        min_examples: int,
        min_new: int,
        training_in_flight: bool,
        data_checks_ok: bool,
    ) -> GateDecision:
        """Open only if there are >= ``min_examples`` labelled examples, >= ``min_new``
        new ones since the last training, no training in flight and data checks green."""
        for name, value in (
            ("n_labelled", n_labelled),
            ("n_since_last", n_since_last),
            ("min_examples", min_examples),
            ("min_new", min_new),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if n_since_last > n_labelled:
            raise ValueError(f"n_since_last ({n_since_last}) exceeds n_labelled ({n_labelled})")
        failed = []
        if n_labelled < min_examples:
            failed.append(f"not enough labelled examples: {n_labelled} < {min_examples}")
        if n_since_last < min_new:
            failed.append(f"not enough new labelled examples since last training: {n_since_last} < {min_new}")
        if training_in_flight:
            failed.append("another training run is in flight")
        if not data_checks_ok:
            failed.append("data checks are not green")
        if failed:
            return GateDecision(False, failed)
        return GateDecision(
            True,
            [
                f"{n_labelled} labelled >= {min_examples}",
                f"{n_since_last} new >= {min_new}",
                "no training in flight",
                "data checks green",
            ],
        )


check_gate = TrainingGate.check_gate

"""The landing zone: where recordings, sidecars, platform transcripts, event logs and
annotation exports arrive. A local folder by default, an S3 prefix in production.

Layout (under the root/prefix)::

    recordings/<call_id>.<wav|flac|mp3|ogg>   + recordings/<call_id>.json (sidecar)
    transcripts/<call_id>.<vtt|srt|json|txt>  platform exports (optional)
    events/<call_id>.jsonl                    agent event logs (optional)
    annotations/*.jsonl                       completed labels exported from annotation
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
KINDS = ("recordings", "transcripts", "events", "annotations")


@dataclass(frozen=True)
class LandingFile:
    key: str  # "<kind>/<name>"
    name: str
    mtime_ns: int
    size: int
    #: when the file last arrived or changed, by the storage's clock (0 = unknown). Local:
    #: max(ctime, mtime) -- ctime moves forward on create, rename, write and utime and
    #: cannot be set back, so a file moved in with an old mtime still looks new. S3:
    #: LastModified. The new_recordings sensor's cursor is a high-water mark of it.
    changed_ns: int = 0

    @property
    def stem(self) -> str:
        """The call id a file belongs to: its name up to the first dot."""
        return self.name.split(".", 1)[0]

    @property
    def suffix(self) -> str:
        """``Path(name).suffix.lower()`` without building a Path (the sensor asks it of
        every file of the landing zone on every tick)."""
        i = self.name.rfind(".")
        return self.name[i:].lower() if 0 < i < len(self.name) - 1 else ""

    @property
    def signature(self) -> str:
        return f"{self.key}:{self.mtime_ns}:{self.size}"


class LandingZone(Protocol):
    def uri(self, key: str) -> str: ...
    def list(self, kind: str) -> list[LandingFile]: ...
    def read_bytes(self, key: str) -> bytes: ...
    def delete(self, key: str) -> bool: ...
    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]: ...


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown landing kind {kind!r}; expected one of {KINDS}")


class LocalLandingZone:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def uri(self, key: str) -> str:
        return (self.root / key).resolve().as_uri()

    def list(self, kind: str) -> list[LandingFile]:
        _check_kind(kind)
        folder = self.root / kind
        if not folder.is_dir():
            return []
        out = []
        with os.scandir(folder) as entries:  # one stat per file (is_file uses the dirent type)
            for e in entries:
                if e.name.startswith(".") or not e.is_file():
                    continue
                try:
                    st = e.stat()
                except FileNotFoundError:  # removed while listing
                    continue
                out.append(LandingFile(f"{kind}/{e.name}", e.name, st.st_mtime_ns, st.st_size,
                                       max(st.st_ctime_ns, st.st_mtime_ns)))
        return sorted(out, key=lambda f: f.name)

    def read_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete(self, key: str) -> bool:
        p = self.root / key
        if p.exists():
            p.unlink()
            return True
        return False

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self.root / key


class S3LandingZone:
    """Landing zone on an S3 prefix (boto3 client, e.g. from dagster-aws S3Resource)."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def list(self, kind: str) -> list[LandingFile]:
        _check_kind(kind)
        base = self._full(kind) + "/"
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):]
                if not name or "/" in name or name.startswith("."):
                    continue
                mtime_ns = int(obj["LastModified"].timestamp() * 1e9)
                out.append(LandingFile(f"{kind}/{name}", name, mtime_ns, int(obj["Size"]), mtime_ns))
        return sorted(out, key=lambda f: f.name)

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()

    def delete(self, key: str) -> bool:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        return True

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        fd, tmp = tempfile.mkstemp(suffix=Path(key).suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.read_bytes(key))
            yield Path(tmp)
        finally:
            os.unlink(tmp)

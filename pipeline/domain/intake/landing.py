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

    @property
    def stem(self) -> str:
        """The call id a file belongs to: its name up to the first dot."""
        return self.name.split(".", 1)[0]

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

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
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out.append(LandingFile(f"{kind}/{p.name}", p.name, st.st_mtime_ns, st.st_size))
        return out

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
                out.append(LandingFile(f"{kind}/{name}", name, mtime_ns, int(obj["Size"])))
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

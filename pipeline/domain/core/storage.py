"""Object storage behind one small interface: a local folder (the embedded default) or
S3 / any S3-protocol server (production).

Keys are relative POSIX paths such as ``bronze/recordings/2024-05-01/call-1.wav``.
Absolute keys, ``..``/``.`` components, empty components, backslashes and names that
start with the reserved temp-file prefix are rejected with ``ValueError``, so no key can
escape the store's root. Local writes are atomic (temp file in the same folder, then
``os.replace``): a reader never sees a half-written object, and two writers racing on
one key leave one complete version. S3 ``PUT`` is atomic by nature.

S3 faults (503 / ``SlowDown``, throttling, dropped connections) are retried by botocore's
own retry handler with exponential backoff and jitter (``standard`` or ``adaptive`` mode,
``max_attempts`` in total; :func:`make_s3_client`); every failed attempt is logged on the
``callforge.storage`` logger, and a body that breaks off mid-read is fetched again. When
the budget is spent the error is an :class:`ObjectStoreError` naming the operation, the
object's URI and the attempts made; a PUT that never succeeded leaves no object behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

TMP_PREFIX = ".cf-tmp-"
#: S3 retry defaults: total attempts per request (the first included) and botocore mode
DEFAULT_S3_MAX_ATTEMPTS = 6
DEFAULT_S3_RETRY_MODE = "standard"
S3_RETRY_MODES = ("standard", "adaptive")
log = logging.getLogger("callforge.storage")


class ObjectStoreError(OSError):
    """An object-store operation failed for good (after the client's retries)."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX key, else raise ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise ValueError(f"object key must be relative, got absolute key {key!r}")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"object key {key!r} contains a backslash or NUL")
    parts = key.split("/")
    for p in parts:
        if p in ("", ".", ".."):
            raise ValueError(
                f"object key {key!r} has an empty, '.' or '..' path component"
            )
    if parts[-1].startswith(TMP_PREFIX):
        raise ValueError(f"object key {key!r} uses the reserved prefix {TMP_PREFIX!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a listing prefix: ``""`` or a key-like string, optionally ending in ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


@runtime_checkable
class ObjectStore(Protocol):
    """What the pipeline needs from an object store. All keys are validated."""

    def uri(self, key: str) -> str:
        """A URI naming the object (``file://...`` or ``s3://bucket/...``)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> str:
        """Write ``data`` atomically; return the object's URI."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read an object; ``FileNotFoundError`` when missing."""
        ...

    def put_json(self, key: str, obj: Any) -> str:
        """Write ``obj`` as UTF-8 JSON atomically; return the URI."""
        ...

    def get_json(self, key: str) -> Any:
        """Read and parse a JSON object; ``FileNotFoundError`` / ``ValueError``."""
        ...

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        """Copy a local file into the store atomically; return the URI."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object exists at ``key``."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (plain string prefix, S3 semantics)."""
        ...

    def delete(self, key: str) -> bool:
        """Delete one object; True if it existed."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a non-empty prefix; return how many."""
        ...

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """Context manager yielding a readable local file holding the object."""
        ...


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _loads(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: not valid UTF-8 JSON: {e}") from e


class LocalObjectStore:
    """An object store in a local folder (created on demand)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Use ``root`` (made absolute) as the store's folder."""
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The local path of ``key`` (the object need not exist)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    def uri(self, key: str) -> str:
        """``file://`` URI of the object."""
        return self.path(key).as_uri()

    def _atomic_write(self, key: str, write: Any) -> str:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{dest.name}")
        try:
            with open(tmp, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return dest.as_uri()

    def put_bytes(self, key: str, data: bytes) -> str:
        """Write ``data`` atomically (temp file + ``os.replace``); return the URI."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_bytes({key!r}): data must be bytes, got {type(data).__name__}")
        return self._atomic_write(key, lambda fh: fh.write(data))

    def get_bytes(self, key: str) -> bytes:
        """Read an object; ``FileNotFoundError`` naming the key when missing."""
        p = self.path(key)
        try:
            return p.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(f"object {key!r} not found in {self.root}") from None

    def put_json(self, key: str, obj: Any) -> str:
        """Write ``obj`` as JSON atomically; return the URI."""
        return self.put_bytes(key, _dumps(obj))

    def get_json(self, key: str) -> Any:
        """Read a JSON object."""
        return _loads(self.get_bytes(key), f"object {key!r} in {self.root}")

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        """Copy a local file in atomically; return the URI."""
        src = Path(path)
        if not src.is_file():
            raise FileNotFoundError(f"put_file({key!r}): source file {src} does not exist")
        with open(src, "rb") as inp:
            return self._atomic_write(key, lambda fh: shutil.copyfileobj(inp, fh, 1 << 20))

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return self.path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys that start with ``prefix`` (temp files are never listed)."""
        validate_prefix(prefix)
        # walk only the deepest folder the prefix fully names
        base_parts = prefix.split("/")[:-1]
        base = self.root.joinpath(*base_parts) if base_parts else self.root
        if not base.is_dir():
            return []
        out: list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for f in files:
                if f.startswith(TMP_PREFIX):
                    continue
                key = f if rel_dir == "." else f"{rel_dir}/{f}"
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    def delete(self, key: str) -> bool:
        """Delete one object (and now-empty parent folders); True if it existed."""
        p = self.path(key)
        try:
            p.unlink()
        except FileNotFoundError:
            return False
        self._prune(p.parent)
        return True

    def _prune(self, d: Path) -> None:
        while d != self.root and self.root in d.parents:
            try:
                d.rmdir()
            except OSError:
                return
            d = d.parent

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (must be non-empty)."""
        if not prefix:
            raise ValueError("delete_prefix: refusing an empty prefix (it would delete everything)")
        return sum(1 for k in self.list(prefix) if self.delete(k))

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Yield the object's own path (no copy)."""
        p = self.path(key)
        if not p.is_file():
            raise FileNotFoundError(f"object {key!r} not found in {self.root}")
        yield p


_THROTTLING_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                               "TooManyRequestsException", "RequestThrottled", "BandwidthLimitExceeded"})
_RETRY_LOG_ID = "callforge-s3-retry-log"


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS,
    retry_mode: str = DEFAULT_S3_RETRY_MODE,
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 60.0,
    profile_name: str | None = None,
    use_ssl: bool = True,
    verify: bool | str | None = None,
    unsigned: bool = False,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 S3 client whose transient failures (5xx, ``SlowDown`` and other throttling,
    connection errors, timeouts) botocore retries with exponential backoff and jitter:
    ``retry_mode`` ``standard`` or ``adaptive`` (adds client-side rate limiting after
    throttling), ``max_attempts`` in total, the first included. Failed attempts are logged
    (see :func:`log_s3_retries`). Credentials: given, or boto3's own chain."""
    import boto3
    from botocore.config import Config

    if retry_mode not in S3_RETRY_MODES:
        raise ValueError(f"S3 retry_mode must be one of {S3_RETRY_MODES}, got {retry_mode!r}")
    if int(max_attempts) < 1:
        raise ValueError(f"S3 max_attempts must be >= 1 (the first attempt counts), got {max_attempts}")
    extra: dict[str, Any] = {}
    if unsigned:
        from botocore import UNSIGNED

        extra["signature_version"] = UNSIGNED
    config = Config(retries={"mode": retry_mode, "total_max_attempts": int(max_attempts)},
                    connect_timeout=connect_timeout_s, read_timeout=read_timeout_s, **extra)
    session = boto3.session.Session(profile_name=profile_name)
    client = session.client("s3", endpoint_url=endpoint_url or None, region_name=region_name or None,
                            use_ssl=use_ssl, verify=verify, aws_access_key_id=aws_access_key_id,
                            aws_secret_access_key=aws_secret_access_key, aws_session_token=aws_session_token,
                            config=config)
    return log_s3_retries(client)


def client_max_attempts(client: Any) -> int:
    """Total attempts per request the client's retry handler makes (1 when unknown)."""
    retries = getattr(getattr(getattr(client, "meta", None), "config", None), "retries", None) or {}
    if retries.get("total_max_attempts"):
        return int(retries["total_max_attempts"])
    if retries.get("max_attempts") is not None:  # botocore's legacy name counts retries only
        return int(retries["max_attempts"]) + 1
    return 1


def log_s3_retries(client: Any) -> Any:
    """Log every failed attempt of a request on ``client`` (a WARNING on the
    ``callforge.storage`` logger: operation, path, attempt n of max, status or exception).
    botocore's retry handler still decides; this only observes. Idempotent per client."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return client
    total = client_max_attempts(client)

    def _observe(response: Any = None, attempts: int | None = None, caught_exception: Any = None,
                 request_dict: Any = None, operation: Any = None, **_: Any) -> None:
        detail = ""
        if caught_exception is not None:
            detail = f"{type(caught_exception).__name__}: {caught_exception}"
        elif response is not None:
            http, parsed = response
            status = int(getattr(http, "status_code", 0) or 0)
            code = str(((parsed or {}).get("Error") or {}).get("Code") or "")
            if status >= 500 or status == 429 or code in _THROTTLING_CODES:
                detail = f"HTTP {status} {code}".strip()
        if detail:
            path = (request_dict or {}).get("url_path", "")
            then = "retrying with backoff" if (attempts or 0) < total else "retry budget spent"
            log.warning("S3 %s %s: attempt %s of %s failed (%s); %s", getattr(operation, "name", "?"),
                        path, attempts, total, detail, then)

    events.register("needs-retry.s3", _observe, unique_id=_RETRY_LOG_ID)
    return client


class S3ObjectStore:
    """An object store in an S3 bucket (or any S3-protocol server) via a boto3 client.

    ``prefix`` (e.g. ``"callforge/prod"``) is prepended to every key and stripped from
    listed keys.
    """

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, page_size: int = 1000
    ) -> None:
        """Use ``bucket`` through ``client`` (a boto3 S3 client), under ``prefix``.
        ``page_size`` (1..1000) is the listing page and delete batch size."""
        if not bucket:
            raise ValueError("S3ObjectStore: bucket must be non-empty")
        if not 1 <= page_size <= 1000:
            raise ValueError(f"S3ObjectStore: page_size must be 1..1000, got {page_size}")
        self.page_size = page_size
        self.client = log_s3_retries(client)
        self.max_attempts = client_max_attempts(client)
        self.bucket = bucket
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.prefix = f"{prefix}/" if prefix else ""

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._k(key)}"

    def presigned_url(self, key: str, expires_s: int = 7 * 24 * 3600) -> str:
        """A time-limited GET URL for a browser (e.g. the labelling tool loading redacted audio)."""
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._k(key)},
                                                  ExpiresIn=int(expires_s))

    @staticmethod
    def _missing(e: Exception) -> bool:
        code = str((getattr(e, "response", None) or {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def _error(self, op: str, key: str, e: BaseException) -> ObjectStoreError:
        """A clear, final error: operation, object URI, attempts made, cause."""
        resp = getattr(e, "response", None) or {}
        retried = (resp.get("ResponseMetadata") or {}).get("RetryAttempts")
        attempts = f"{int(retried) + 1} attempt(s)" if retried is not None else f"up to {self.max_attempts} attempt(s)"
        code = (resp.get("Error") or {}).get("Code") or type(e).__name__
        return ObjectStoreError(f"S3 {op} of {self.uri(key)} failed after {attempts}: {code}: {e}")

    def _call(self, op: str, key: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as e:
            if self._missing(e):
                raise FileNotFoundError(f"object {self.uri(key)} not found") from None
            raise self._error(op, key, e) from e

    def put_bytes(self, key: str, data: bytes) -> str:
        """PUT the object (atomic in S3; retried by the client); return the URI."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_bytes({key!r}): data must be bytes, got {type(data).__name__}")
        self._call("PUT", key, self.client.put_object, Bucket=self.bucket, Key=self._k(key), Body=bytes(data))
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        """GET the object; ``FileNotFoundError`` naming the URI when missing. A body that
        breaks off mid-read (botocore retries the request, not the body's stream) is
        fetched again, within the same attempt budget."""
        from botocore.exceptions import (
            ConnectionClosedError,
            FlexibleChecksumError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
        )

        broken = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, ConnectionClosedError,
                  FlexibleChecksumError)  # short, cut off or corrupted in transit
        for attempt in range(1, self.max_attempts + 1):
            resp = self._call("GET", key, self.client.get_object, Bucket=self.bucket, Key=self._k(key))
            try:
                return bytes(resp["Body"].read())
            except broken as e:
                if attempt >= self.max_attempts:
                    raise ObjectStoreError(f"S3 GET of {self.uri(key)} failed after {attempt} attempt(s): "
                                           f"the body broke off: {type(e).__name__}: {e}") from e
                log.warning("S3 GetObject %s: body read %s of %s broke off (%s); fetching again",
                            self.uri(key), attempt, self.max_attempts, type(e).__name__)
        raise AssertionError("unreachable")  # pragma: no cover

    def put_json(self, key: str, obj: Any) -> str:
        """PUT ``obj`` as JSON; return the URI."""
        return self.put_bytes(key, _dumps(obj))

    def get_json(self, key: str) -> Any:
        """GET and parse a JSON object."""
        return _loads(self.get_bytes(key), f"object {self.uri(key)}")

    def put_file(self, key: str, path: str | os.PathLike[str]) -> str:
        """Upload a local file (multipart for large files); return the URI."""
        src = Path(path)
        if not src.is_file():
            raise FileNotFoundError(f"put_file({key!r}): source file {src} does not exist")
        self._call("PUT", key, self.client.upload_file, Filename=str(src), Bucket=self.bucket, Key=self._k(key))
        return self.uri(key)

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            self._call("HEAD", key, self.client.head_object, Bucket=self.bucket, Key=self._k(key))
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (paginated ``ListObjectsV2``)."""
        validate_prefix(prefix)
        out: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        try:
            for page in pages:
                for obj in page.get("Contents", []) or []:
                    out.append(obj["Key"][len(self.prefix):])
        except Exception as e:
            raise self._error("LIST", prefix + "*", e) from e
        return sorted(out)

    def delete(self, key: str) -> bool:
        """Delete one object; True if it existed."""
        if not self.exists(key):
            return False
        self._call("DELETE", key, self.client.delete_object, Bucket=self.bucket, Key=self._k(key))
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a non-empty prefix (batches of ``page_size``)."""
        if not prefix:
            raise ValueError("delete_prefix: refusing an empty prefix (it would delete everything)")
        keys = self.list(prefix)
        for i in range(0, len(keys), self.page_size):
            batch = [{"Key": self.prefix + k} for k in keys[i:i + self.page_size]]
            resp = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors = resp.get("Errors") or []
            if errors:
                raise OSError(
                    f"delete_prefix({prefix!r}) in s3://{self.bucket}: {len(errors)} objects "
                    f"not deleted, first: {errors[0].get('Key')} {errors[0].get('Code')}"
                )
        return len(keys)

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Download the object to a temp file (same suffix), yield it, delete it after."""
        suffix = PurePosixPath(key).suffix
        fd, name = tempfile.mkstemp(prefix="callforge-", suffix=suffix)
        os.close(fd)
        tmp = Path(name)
        try:
            try:
                self.client.download_file(self.bucket, self._k(validate_key(key)), name)
            except Exception as e:
                if self._missing(e):
                    raise FileNotFoundError(f"object {self.uri(key)} not found") from None
                raise self._error("GET", key, e) from e
            yield tmp
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()


def open_store(spec: dict[str, Any]) -> "LocalObjectStore | S3ObjectStore":
    """An object store from a plain, secret-free spec — how a subprocess (a Dagster Pipes
    step, possibly on another node) reaches the same store as the run that launched it:
    ``{"backend": "local", "root"}`` or ``{"backend": "s3", "bucket", "prefix",
    "endpoint_url", "region_name", "max_attempts"?, "retry_mode"?}``. S3 credentials come
    from the environment (boto3's credential chain), never from the spec."""
    backend = spec.get("backend")
    if backend == "local":
        if not spec.get("root"):
            raise ValueError("local store spec needs 'root'")
        return LocalObjectStore(spec["root"])
    if backend == "s3":
        client = make_s3_client(endpoint_url=spec.get("endpoint_url"), region_name=spec.get("region_name"),
                                max_attempts=int(spec.get("max_attempts") or DEFAULT_S3_MAX_ATTEMPTS),
                                retry_mode=spec.get("retry_mode") or DEFAULT_S3_RETRY_MODE)
        return S3ObjectStore(client, spec["bucket"], spec.get("prefix", ""))

    raise ValueError(f"unknown object store backend {backend!r} (expected 'local' or 's3')")

"""Object-store resource: a local folder by default, S3 (or MinIO / any S3-protocol
server) in production, behind the same :class:`pipeline.domain.core.storage.ObjectStore`.

Embedded default::

    ObjectStoreResource(backend="local", root="/var/callforge/objects")

Production (credentials only through ``EnvVar``; ``endpoint_url`` for MinIO & co.)::

    ObjectStoreResource(
        backend="s3", bucket="callforge-prod", prefix="callforge",
        s3=S3Resource(endpoint_url=dg.EnvVar("CALLFORGE_S3_ENDPOINT_URL"),
                      region_name="eu-west-1",
                      aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                      aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY")),
    )

The nested ``s3`` is a ``dagster_aws.s3.S3Resource`` (endpoint, region, credentials), so
the same S3 connection can also be given to ``S3PickleIOManager``. Without it the
default boto3 credential chain is used. The store's own client retries 5xx / ``SlowDown``
/ connection errors with botocore's backoff: ``retry_mode`` (``standard`` or ``adaptive``)
and ``max_attempts`` (total, first included) here; each failed attempt is logged on
``callforge.storage`` and a request that exhausts them raises ``ObjectStoreError`` naming
the object.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pipeline.domain.core.storage import (
    DEFAULT_S3_MAX_ATTEMPTS,
    DEFAULT_S3_RETRY_MODE,
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    make_s3_client,
)

_CLIENTS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def _s3_client(s3: S3Resource, retries: dict[str, Any]) -> Any:
    """One boto3 client per process, S3 configuration and retry policy (clients are
    thread-safe)."""
    key = (os.getpid(), tuple(sorted((k, str(v)) for k, v in s3.model_dump().items())),
           tuple(sorted(retries.items())))
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = make_s3_client(
                endpoint_url=s3.endpoint_url, region_name=s3.region_name, profile_name=s3.profile_name,
                use_ssl=s3.use_ssl, verify=s3.verify, unsigned=bool(getattr(s3, "use_unsigned_session", False)),
                aws_access_key_id=s3.aws_access_key_id, aws_secret_access_key=s3.aws_secret_access_key,
                aws_session_token=s3.aws_session_token, **retries)
        return client


class ObjectStoreResource(dg.ConfigurableResource):
    """Where callforge keeps large objects (audio, transcripts, shards, adapters)."""

    backend: Literal["local", "s3"] = Field(
        default="local", description="'local' (a folder) or 's3' (S3 / an S3-protocol server)."
    )
    root: str | None = Field(
        default=None, description="Folder of the local store (backend 'local')."
    )
    bucket: str | None = Field(default=None, description="S3 bucket (backend 's3').")
    prefix: str = Field(
        default="", description="Key prefix inside the bucket, e.g. 'callforge/prod'."
    )
    s3: S3Resource | None = Field(
        default=None,
        description="S3 connection (endpoint_url, region_name, credentials via EnvVar). "
        "Defaults to boto3's own credential chain.",
    )
    retry_mode: Literal["standard", "adaptive"] = Field(
        default=DEFAULT_S3_RETRY_MODE,
        description="botocore retry mode for S3: 'standard' (exponential backoff with jitter) or 'adaptive' "
        "(also rate-limits the client after throttling such as SlowDown).",
    )
    max_attempts: int = Field(
        default=DEFAULT_S3_MAX_ATTEMPTS, ge=1,
        description="Attempts per S3 request, the first included, before the error is raised "
        "(5xx, SlowDown/throttling, connection errors and timeouts are retried).",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, description="S3 connect timeout (seconds).")
    read_timeout_s: float = Field(default=60.0, gt=0, description="S3 read timeout (seconds).")

    def get_store(self) -> ObjectStore:
        """The configured object store. Raises ``dg.Failure`` on incomplete config."""
        if self.backend == "local":
            if not self.root:
                raise dg.Failure("ObjectStoreResource(backend='local') needs 'root' (a folder)")
            return LocalObjectStore(self.root)
        if self.backend == "s3":
            if not self.bucket:
                raise dg.Failure("ObjectStoreResource(backend='s3') needs 'bucket'")
            return S3ObjectStore(_s3_client(self.s3 or S3Resource(), self._retries()), self.bucket, self.prefix)
        raise dg.Failure(f"ObjectStoreResource: unknown backend {self.backend!r}")

    def _retries(self) -> dict[str, Any]:
        return {"retry_mode": self.retry_mode, "max_attempts": self.max_attempts,
                "connect_timeout_s": self.connect_timeout_s, "read_timeout_s": self.read_timeout_s}

    def spec(self) -> dict[str, Any]:
        """The store as a plain, secret-free dict that ``storage.open_store`` reopens in a
        subprocess (the Pipes training step); credentials stay in the environment."""
        if self.backend == "local":
            return {"backend": "local", "root": self.root}
        s3 = self.s3 or S3Resource()
        return {"backend": "s3", "bucket": self.bucket, "prefix": self.prefix,
                "endpoint_url": s3.endpoint_url, "region_name": s3.region_name,
                "max_attempts": self.max_attempts, "retry_mode": self.retry_mode}

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

The nested ``s3`` is a ``dagster_aws.s3.S3Resource`` (retries via ``max_attempts``), so
the same S3 connection can also be given to ``S3PickleIOManager``. Without it the
default boto3 credential chain is used.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pipeline.domain.core.storage import LocalObjectStore, ObjectStore, S3ObjectStore

_CLIENTS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def _s3_client(s3: S3Resource) -> Any:
    """One boto3 client per process and S3 configuration (clients are thread-safe)."""
    key = (os.getpid(), tuple(sorted((k, str(v)) for k, v in s3.model_dump().items())))
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = s3.get_client()
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

    def get_store(self) -> ObjectStore:
        """The configured object store. Raises ``dg.Failure`` on incomplete config."""
        if self.backend == "local":
            if not self.root:
                raise dg.Failure("ObjectStoreResource(backend='local') needs 'root' (a folder)")
            return LocalObjectStore(self.root)
        if self.backend == "s3":
            if not self.bucket:
                raise dg.Failure("ObjectStoreResource(backend='s3') needs 'bucket'")
            return S3ObjectStore(_s3_client(self.s3 or S3Resource()), self.bucket, self.prefix)
        raise dg.Failure(f"ObjectStoreResource: unknown backend {self.backend!r}")

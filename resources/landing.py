"""Landing-zone resource: a local folder by default, an S3 prefix in production."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pipeline.domain.intake.landing import LandingZone, LocalLandingZone, S3LandingZone


class LandingZoneResource(dg.ConfigurableResource):
    """Where new recordings, sidecars, platform transcripts and event logs arrive."""

    backend: str = Field(default="local", description="local or s3")
    root: str = Field(default="state/landing", description="Local folder (backend=local)")
    bucket: str = Field(default="", description="S3 bucket (backend=s3)")
    prefix: str = Field(default="landing", description="S3 key prefix (backend=s3)")
    s3: S3Resource | None = Field(default=None, description="S3 connection (endpoint_url, credentials via EnvVar)")

    def get_landing(self) -> LandingZone:
        if self.backend == "local":
            return LocalLandingZone(self.root)
        if self.backend == "s3":
            if self.s3 is None or not self.bucket:
                raise dg.Failure("landing backend 's3' needs `bucket` and an `s3` connection")
            return S3LandingZone(self.s3.get_client(), self.bucket, self.prefix)
        raise dg.Failure(f"unknown landing backend {self.backend!r} (expected local or s3)")

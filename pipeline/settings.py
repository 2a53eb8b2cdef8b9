"""Settings: paths, profile, tenants, retention policy, thresholds.

Read once per process from environment variables and an optional YAML file
(``CALLFORGE_SETTINGS``, default ``callforge.yaml`` in the working directory). Secrets are
NOT settings: they are read by resources through ``dg.EnvVar`` (see resources/__init__.py).

Environment variables:
    CALLFORGE_HOME      state folder for the embedded profile (default ./state)
    CALLFORGE_PROFILE   "embedded" (default) or "production"
    CALLFORGE_LANDING   landing zone folder (default $CALLFORGE_HOME/landing)
    CALLFORGE_SETTINGS  YAML file with the sections below (optional)
    CALLFORGE_ASR_WORKERS  transcription worker processes (default: number of cores)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def force_offline() -> None:
    """Models load from local paths only: never let a library reach for a hub."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


force_offline()


@dataclass(frozen=True)
class TenantSettings:
    retention_audio_days: int = 90
    retention_transcript_days: int = 90
    retention_events_days: int = 90
    grace_days: int = 7
    disclosure_phrases: tuple[str, ...] = (
        "this call may be recorded",
        "recorded for quality",
    )
    disclosure_within_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    home: Path
    profile: str
    landing_dir: Path
    tenants: dict[str, TenantSettings]
    raw: dict[str, Any] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)  # relative paths in the settings resolve here

    # ---- embedded-profile locations -------------------------------------------------
    @property
    def object_store_root(self) -> Path:
        return self.home / "objects"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.home / 'ledger.db'}"

    @property
    def lancedb_uri(self) -> str:
        return str(self.home / "lancedb")

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    # ---- sections ----------------------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name) or {})

    def tenant(self, tenant: str) -> TenantSettings:
        return self.tenants.get(tenant) or self.tenants["default"]

    @property
    def asr_workers(self) -> int:
        env = os.environ.get("CALLFORGE_ASR_WORKERS")
        if env:
            return max(1, int(env))
        from pipeline.domain.speech.asr import default_workers

        configured = self.section("asr").get("workers")
        if configured:
            return int(configured)
        # the shard steps of silver/transcripts already run side by side: each gets its share
        # of the cores (2 shards on 2 cores: one process each, not 2 x 2 competing for 2 cores)
        shards = max(1, int(self.section("execution").get("shards") or DEFAULT_SHARDS))
        return max(1, default_workers() // shards)


def _tenant_settings(base: TenantSettings, d: dict[str, Any]) -> TenantSettings:
    kw = {k: v for k, v in d.items() if k in TenantSettings.__dataclass_fields__}
    if "disclosure_phrases" in kw:
        kw["disclosure_phrases"] = tuple(kw["disclosure_phrases"])
    return TenantSettings(**{**base.__dict__, **kw})


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("CALLFORGE_HOME", "state")).resolve()
    settings_file = env.get("CALLFORGE_SETTINGS")
    raw: dict[str, Any] = {}
    path = Path(settings_file) if settings_file else Path("callforge.yaml")
    if path.exists():
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: settings must be a YAML mapping")
    elif settings_file:
        raise FileNotFoundError(f"CALLFORGE_SETTINGS points to a missing file: {path}")
    tenants_raw = raw.get("tenants") or {}
    default = _tenant_settings(TenantSettings(), tenants_raw.get("default") or {})
    tenants = {"default": default}
    for name, d in tenants_raw.items():
        if name != "default":
            tenants[name] = _tenant_settings(default, d or {})
    return Settings(
        home=home,
        profile=env.get("CALLFORGE_PROFILE", raw.get("profile", "embedded")),
        landing_dir=Path(env.get("CALLFORGE_LANDING", home / "landing")).resolve(),
        tenants=tenants,
        raw=raw,
        root=path.resolve().parent,
    )


#: shard steps per heavy asset when ``execution.shards`` is not set (assets/shards.py)
DEFAULT_SHARDS = 2


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

"""Label Studio resource: where labelling tasks go and completed annotations come from.

With ``url`` and ``api_key`` set (EnvVar LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY) it talks
to a Label Studio server: projects from the repo's label configs, idempotent task import,
annotations since a cursor. Without them (the embedded default, no services) tasks are
written to a local folder as JSON, and completed labels arrive as JSONL in the landing
zone's ``annotations/`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import dagster as dg
from pydantic import Field

from pipeline.domain.learning.label_studio import LabelStudioClient
from pipeline.domain.learning.labelling import LabelConfig, label_config


class LabelStudioResource(dg.ConfigurableResource):
    url: str | None = Field(default=None, description="Label Studio URL; EnvVar LABEL_STUDIO_URL. None = local folder")
    api_key: str | None = Field(default=None, description="Label Studio token; EnvVar LABEL_STUDIO_API_KEY")
    annotator_salt: str = Field(default="callforge-local",
                                description="Key for annotator pseudonyms; EnvVar CALLFORGE_ANNOTATOR_SALT in production")
    tasks_dir: str = Field(default="state/annotation_tasks", description="Task folder when no server is configured")
    audio_url_prefix: str = Field(
        default="/data/local-files/?d=",
        description="Prefix that turns an object-store key into a URL the labelling browser can load "
                    "(Label Studio local-files serving by default; presigned URLs are used on S3)")
    timeout_s: float = Field(default=30.0, description="HTTP timeout per request")

    @property
    def live(self) -> bool:
        """True when a Label Studio server is configured."""
        return bool(self.url and self.api_key)

    @property
    def backend(self) -> str:
        return "label_studio" if self.live else "local"

    def client(self) -> LabelStudioClient:
        if not self.live:
            raise dg.Failure("Label Studio is not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY "
                             "(`make label-studio` starts a local server and prints them)")
        return LabelStudioClient(str(self.url), str(self.api_key), timeout_s=self.timeout_s)

    def config(self, project: str) -> LabelConfig:
        return label_config(project)

    def push(self, project: str, tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Send one project's tasks; returns counts. Re-pushing a task key is a no-op in
        both backends (and never overwrites human work)."""
        cfg = self.config(project)
        if not self.live:
            root = Path(self.tasks_dir) / project
            root.mkdir(parents=True, exist_ok=True)
            new = 0
            for t in tasks:
                path = root / (t["data"]["task_key"].replace(":", "__").replace("/", "_") + ".json")
                if path.exists():
                    continue
                tmp = path.with_suffix(".json.tmp")
                tmp.write_text(json.dumps(t, sort_keys=True))
                tmp.replace(path)
                new += 1
            return {"project": project, "imported": new, "already_there": len(tasks) - new,
                    "label_config_version": cfg.version, "project_action": "local"}
        cli = self.client()
        pid, action = cli.ensure_project(cfg)
        imported, existing = cli.import_tasks(pid, tasks)
        return {"project": project, "project_id": pid, "imported": imported, "already_there": existing,
                "label_config_version": cfg.version, "project_action": action}

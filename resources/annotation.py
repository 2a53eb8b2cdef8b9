"""Annotation resource: Label Studio in production, a local task folder by default.

The local backend writes tasks as JSON files and reads completed labels from the landing
zone's annotations/ folder (JSONL lines {"call_id", "intent", "outcome", "annotator"}),
which is also what a Label Studio export is converted to.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from pydantic import Field


class AnnotationResource(dg.ConfigurableResource):
    backend: str = Field(default="local", description="local or label_studio")
    tasks_dir: str = Field(default="state/annotation_tasks", description="Task folder (backend=local)")
    url: str = Field(default="http://127.0.0.1:8080", description="Label Studio URL (backend=label_studio)")
    api_key: str | None = Field(default=None, description="Label Studio token; set via EnvVar LABEL_STUDIO_API_KEY")
    project_id: int | None = Field(default=None, description="Label Studio project id")
    timeout_s: float = Field(default=30.0, description="HTTP timeout")

    def push_tasks(self, tasks: list[dict]) -> int:
        """Send tasks (redacted text only) for labelling; returns how many were queued."""
        if self.backend == "local":
            root = Path(self.tasks_dir)
            root.mkdir(parents=True, exist_ok=True)
            for t in tasks:
                tmp = root / f".{t['call_id']}.json.tmp"
                tmp.write_text(json.dumps(t, sort_keys=True))
                tmp.replace(root / f"{t['call_id']}.json")
            return len(tasks)
        if self.backend == "label_studio":
            import requests

            if not (self.api_key and self.project_id):
                raise dg.Failure("label_studio backend needs api_key (EnvVar LABEL_STUDIO_API_KEY) and project_id")
            resp = requests.post(
                f"{self.url.rstrip('/')}/api/projects/{self.project_id}/import",
                headers={"Authorization": f"Token {self.api_key}"},
                json=[{"data": t} for t in tasks],
                timeout=self.timeout_s,
            )
            resp.raise_for_status()
            return len(tasks)
        raise dg.Failure(f"unknown annotation backend {self.backend!r}")

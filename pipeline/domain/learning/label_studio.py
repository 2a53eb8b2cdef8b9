"""A small Label Studio REST client (the SDK would downgrade numpy in this environment).

Covers what the labelling loop needs: projects created or updated from the repo's label
configs, idempotent task import by ``task_key``, completed annotations since a cursor,
and — for tests and simulated annotators — users and annotations. Errors name the
endpoint and the HTTP status, never a task's content.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from pipeline.domain.learning.labelling import LabelConfig


class LabelStudioError(RuntimeError):
    """Label Studio refused or could not be reached; the message names the call."""


class LabelStudioClient:
    """``url`` like ``http://127.0.0.1:8080``; ``token`` a user's API token (legacy token
    auth, ``Authorization: Token …``)."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0, retries: int = 2) -> None:
        if not url:
            raise LabelStudioError("Label Studio url is empty (set LABEL_STUDIO_URL)")
        if not token:
            raise LabelStudioError("Label Studio token is empty (set LABEL_STUDIO_API_KEY)")
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._s = requests.Session()
        self._s.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
        retry = Retry(total=retries, backoff_factor=0.5, status_forcelist=(502, 503, 504),
                      allowed_methods=frozenset({"GET", "PATCH"}))
        self._s.mount("http://", HTTPAdapter(max_retries=retry))
        self._s.mount("https://", HTTPAdapter(max_retries=retry))

    # ------------------------------------------------------------ http
    def _call(self, method: str, path: str, **kw: Any) -> Any:
        import requests

        try:
            r = self._s.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kw)
        except requests.RequestException as e:
            raise LabelStudioError(f"{method} {path}: Label Studio at {self.url} unreachable "
                                   f"({type(e).__name__})") from e
        if r.status_code == 401:
            raise LabelStudioError(f"{method} {path}: 401 unauthorised — check LABEL_STUDIO_API_KEY "
                                   "(legacy token auth must be enabled)")
        if r.status_code >= 400:
            raise LabelStudioError(f"{method} {path}: HTTP {r.status_code}")
        return r.json() if r.content else None

    def health(self) -> bool:
        """True when the server answers its health endpoint."""
        try:
            return self._call("GET", "/health") is not None
        except LabelStudioError:
            return False

    # ------------------------------------------------------------ projects
    def find_project(self, title: str) -> dict | None:
        """The project with exactly this title, or None."""
        import urllib.parse

        page = self._call("GET", f"/api/projects?title={urllib.parse.quote(title)}&page_size=100")
        results = page.get("results", page) if isinstance(page, dict) else page
        return next((p for p in results or [] if p.get("title") == title), None)

    def ensure_project(self, cfg: LabelConfig) -> tuple[int, str]:
        """Create the project of a label config, or update its label config when the repo's
        version changed. Returns ``(project id, "created" | "updated" | "unchanged")``."""
        existing = self.find_project(cfg.title)
        description = f"callforge {cfg.project}; label config version {cfg.version}"
        if existing is None:
            p = self._call("POST", "/api/projects", json={"title": cfg.title, "label_config": cfg.xml,
                                                          "description": description})
            return int(p["id"]), "created"
        if existing.get("label_config", "").strip() != cfg.xml.strip():
            self._call("PATCH", f"/api/projects/{existing['id']}", json={"label_config": cfg.xml,
                                                                          "description": description})
            return int(existing["id"]), "updated"
        return int(existing["id"]), "unchanged"

    # ------------------------------------------------------------ tasks
    def tasks(self, project_id: int, page_size: int = 500) -> list[dict]:
        """Every task of a project with its annotations (paged)."""
        out: list[dict] = []
        page = 1
        while True:
            r = self._call("GET", f"/api/tasks?project={project_id}&fields=all&page={page}&page_size={page_size}")
            batch = r.get("tasks", []) if isinstance(r, dict) else r
            out.extend(batch)
            total = r.get("total", len(out)) if isinstance(r, dict) else len(out)
            if not batch or len(out) >= total:
                return out
            page += 1

    def task_ids_by_key(self, project_id: int) -> dict[str, int]:
        """``task_key`` → Label Studio task id for the project's callforge tasks."""
        return {t["data"]["task_key"]: int(t["id"]) for t in self.tasks(project_id)
                if isinstance(t.get("data"), dict) and t["data"].get("task_key")}

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Import the tasks whose ``task_key`` the project does not have yet; existing
        tasks (and any human work on them) are left untouched. Returns ``(imported,
        already_there)``."""
        have = self.task_ids_by_key(project_id)
        new, seen = [], set()
        for t in tasks:
            key = t["data"]["task_key"]
            if key in have or key in seen:
                continue
            seen.add(key)
            new.append(dict(t))
        if new:
            self._call("POST", f"/api/projects/{project_id}/import", json=new)
        return len(new), len(tasks) - len(new)

    # ------------------------------------------------------------ annotations
    def completed_since(self, project_id: int, since: str | None) -> list[tuple[dict, dict]]:
        """``(task, annotation)`` pairs whose annotation was created or updated after
        ``since`` (ISO timestamp; None = all), oldest first."""
        pairs = []
        for t in self.tasks(project_id):
            for a in t.get("annotations") or []:
                ts = str(a.get("updated_at") or a.get("created_at") or "")
                if since is None or ts > since:
                    pairs.append((t, a))
        pairs.sort(key=lambda p: (str(p[1].get("updated_at") or ""), p[1].get("id", 0)))
        return pairs

    def annotate(self, task_id: int, result: Iterable[Mapping[str, Any]], lead_time: float | None = None,
                 completed_by: int | None = None) -> dict:
        """Submit an annotation (as ``completed_by`` when the token's user may): used by
        tests and simulated annotators."""
        body: dict[str, Any] = {"result": list(result)}
        if lead_time is not None:
            body["lead_time"] = lead_time
        if completed_by is not None:
            body["completed_by"] = completed_by
        return self._call("POST", f"/api/tasks/{task_id}/annotations", json=body)

    def update_annotation(self, annotation_id: int, result: Iterable[Mapping[str, Any]]) -> dict:
        """Replace an annotation's result (a human edit)."""
        return self._call("PATCH", f"/api/annotations/{annotation_id}", json={"result": list(result)})

    def create_user(self, email: str, username: str) -> int:
        """Create a user in the organisation (returns its id; an existing e-mail is reused)."""
        for u in self._call("GET", "/api/users") or []:
            if u.get("email") == email:
                return int(u["id"])
        return int(self._call("POST", "/api/users", json={"email": email, "username": username})["id"])

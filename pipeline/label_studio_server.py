"""Start a local Label Studio for labelling the demo calls (and for the tests).

Label Studio lives in its own virtualenv (``.venv-label-studio``, built by ``make
install``): its SDK and opencv would downgrade numpy in the main one. The server binds
127.0.0.1 only, keeps its data in ``state/label_studio``, starts with a preset admin and
API token (legacy token auth, needed for ``Authorization: Token …``) and serves the
object store's redacted audio through its local-files endpoint so tasks can play it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = ROOT / ".venv-label-studio"


@dataclass(frozen=True)
class LabelStudioLaunch:
    cmd: list[str]
    env: dict[str, str]
    url: str
    token: str
    username: str
    password: str


def label_studio_bin() -> Path:
    """``$CALLFORGE_LABEL_STUDIO_BIN``, else the project's ``.venv-label-studio``."""
    if os.environ.get("CALLFORGE_LABEL_STUDIO_BIN"):
        return Path(os.environ["CALLFORGE_LABEL_STUDIO_BIN"])
    return DEFAULT_VENV / "bin" / "label-studio"


def launch_spec(data_dir: Path, port: int = 8080, token: str | None = None, files_root: Path | None = None,
                username: str = "admin@callforge.local", password: str | None = None) -> LabelStudioLaunch:
    """Command and environment for a Label Studio on 127.0.0.1:``port`` with data in
    ``data_dir``. The token and password are preset on the first start only (later starts
    keep what the first one created)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    token_file = data_dir / "callforge_token"
    if token is None:
        token = token_file.read_text().strip() if token_file.exists() else secrets.token_hex(20)
    token_file.write_text(token)
    token_file.chmod(0o600)
    password = password or token[:16]
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": username,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        # no telemetry, no update checks: this machine has no internet
        "COLLECT_ANALYTICS": "false", "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    }
    for k in ("USERNAME", "PASSWORD"):  # Label Studio also reads these plain names
        env.pop(k, None)
    if files_root is not None:
        env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] = "true"
        env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] = str(Path(files_root).resolve())
    cmd = [str(label_studio_bin()), "start", "--no-browser", "--internal-host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(data_dir)]
    return LabelStudioLaunch(cmd, env, f"http://127.0.0.1:{port}", token, username, password)

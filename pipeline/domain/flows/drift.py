"""The monthly drift flow: this month's embeddings and metrics against the previous
month's, with a severity, a stored report and a plot. Called by ``gold/drift_reports``.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import date as Date
from typing import Any

from pipeline.domain.core.keys import (
    drift_report_key,
)
from pipeline.domain.core.storage import ObjectStore

DRIFT_VERSION = "1"


# ---------------------------------------------------------------- drift
@dataclass
class DriftReport:
    severity: str
    status: str
    reference_calls: int
    current_calls: int
    metrics: dict
    plot_png: str | None = None


def _month_bounds(month: str) -> tuple[Date, Date, Date]:
    y, m = (int(x) for x in month.split("-"))
    start = Date(y, m, 1)
    end = Date(y + (m == 12), m % 12 + 1, 1)
    prev = Date(y - (m == 1), (m - 2) % 12 + 1, 1)
    return prev, start, end


def drift_partition(store: ObjectStore, month: str) -> DriftReport:
    """Compare the month's call vectors and analytics with the previous month's."""
    import numpy as np
    import pandas as pd

    from pipeline.domain.insights.drift import embedding_drift, metric_drift

    prev, start, end = _month_bounds(month)

    def load(prefix: str, suffix: str, lo: Date, hi: Date) -> pd.DataFrame:
        frames = []
        for key in store.list(prefix):
            if not key.endswith(suffix):
                continue
            day = key[len(prefix):].split("/", 1)[0]
            try:
                d = Date.fromisoformat(day)
            except ValueError:
                continue
            if lo <= d < hi:
                frames.append(pd.read_parquet(io.BytesIO(store.get_bytes(key))))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    ref_v = load("gold/transcript_embeddings/", "call_vectors.parquet", prev, start)
    cur_v = load("gold/transcript_embeddings/", "call_vectors.parquet", start, end)
    metrics: dict[str, Any] = {}
    plot: str | None = None
    severity, status = "ok", "compared"
    if len(ref_v) < 2 or len(cur_v) < 2:
        status = "insufficient_reference" if len(ref_v) < 2 else "insufficient_current"
    else:
        r = embedding_drift(np.stack(ref_v["vector"].map(np.asarray)), np.stack(cur_v["vector"].map(np.asarray)))
        metrics["embedding"] = {"psi": r.psi, "kl": r.kl, "wasserstein": r.wasserstein, "severity": r.severity}
        ref_a = load("gold/conversation_analytics/", "calls.parquet", prev, start)
        cur_a = load("gold/conversation_analytics/", "calls.parquet", start, end)
        for col in ("talk_ratio_agent", "longest_dead_air_s", "speaking_rate_wpm_agent"):
            if col in ref_a and col in cur_a:
                metrics[col] = metric_drift(ref_a[col].dropna().to_numpy(), cur_a[col].dropna().to_numpy())
        plot = _drift_plot(np.stack(ref_v["vector"].map(np.asarray)), np.stack(cur_v["vector"].map(np.asarray)))
        order = ["ok", "info", "warning", "critical"]
        sevs = [m["severity"] if isinstance(m, dict) else getattr(m, "severity", "ok") for m in metrics.values()]
        severity = max(sevs, key=order.index) if sevs else "ok"
    report = {"month": month, "reference_window": [prev.isoformat(), start.isoformat()],
              "current_window": [start.isoformat(), end.isoformat()], "status": status,
              "severity": severity, "metrics": metrics, "reference_calls": len(ref_v), "current_calls": len(cur_v)}
    store.put_json(drift_report_key(month), json.loads(json.dumps(report, default=_jsonable)))
    return DriftReport(severity, status, len(ref_v), len(cur_v), json.loads(json.dumps(metrics, default=_jsonable)), plot)


def _drift_plot(ref: Any, cur: Any) -> str:
    """PNG (base64): reference vs current call embeddings on the reference's first
    principal component — what moved, at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    mu = ref.mean(axis=0)
    _, _, vt = np.linalg.svd(ref - mu, full_matrices=False)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist((ref - mu) @ vt[0], bins=30, alpha=0.6, label="reference", density=True)
    ax.hist((cur - mu) @ vt[0], bins=30, alpha=0.6, label="current", density=True)
    ax.set_xlabel("projection on reference PC1")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _jsonable(o: Any) -> Any:
    if hasattr(o, "__dict__"):
        return o.__dict__
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)

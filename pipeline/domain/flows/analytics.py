"""The gold analytics flow of one day partition: metrics of every ready call and its
events, the partition's table, daily and per-agent roll-ups and a plot. Called by
``gold/conversation_analytics``.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from pipeline.domain.core.keys import (
    analytics_table_key,
)
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.storage import ObjectStore
from pipeline.domain.flows.common import _transcript, ready_calls

ANALYTICS_VERSION = "1"


# ---------------------------------------------------------------- analytics
@dataclass
class AnalyticsResult:
    calls: int
    table_uri: str
    daily_md: str
    agent_md: str
    plot_png: str | None


def analytics_partition(store: ObjectStore, ledger: Ledger, date: str, settings: Any) -> AnalyticsResult:
    import pandas as pd

    from pipeline.domain.insights.analytics import conversation_metrics, event_metrics, rollup
    from pipeline.domain.intake.events import parse_event_lines

    rows = []
    calls = {c["call_id"]: c for c in ledger.calls(call_date=date)}
    for rc in ready_calls(store, ledger, date):
        t = _transcript(store, rc.keys.redacted_transcript)
        ts = settings.tenant(rc.tenant)
        m = conversation_metrics(t, list(ts.disclosure_phrases), disclosure_within_s=ts.disclosure_within_s)
        row: dict[str, Any] = {"call_id": rc.call_id, "tenant": rc.tenant, "date": date,
                               "agent_id": calls[rc.call_id].get("agent_id")}
        row.update(flatten(m))
        if store.exists(rc.keys.redacted_events):
            events = parse_event_lines(store.get_bytes(rc.keys.redacted_events).decode().splitlines(), source="events").events
            row.update(flatten(event_metrics(events), prefix="events_"))
        store.put_json(rc.keys.analytics, row)
        rows.append(row)
    if not rows:
        return AnalyticsResult(0, "", "_no calls_", "_no calls_", None)
    df = pd.DataFrame(rows)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    store.put_bytes(analytics_table_key(date), buf.getvalue())
    daily = rollup(rows, by="date")
    agents = rollup(rows, by="agent_id")
    return AnalyticsResult(len(rows), store.uri(analytics_table_key(date)), _md(daily), _md(agents), _plot(df))


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, prefix=f"{key}_"))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, default=str)
        else:
            out[key] = v
    return out


def _md(df: Any) -> str:
    try:
        return df.round(3).to_markdown()
    except Exception:  # tabulate missing or odd frame: plain text is still useful
        return "```\n" + df.to_string() + "\n```"


def _plot(df: Any) -> str | None:
    cols = [c for c in df.columns if c.startswith("talk_ratio_")]
    if not cols:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    df.set_index("call_id")[cols].plot.bar(stacked=True, ax=ax)
    ax.set_ylabel("talk ratio")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()

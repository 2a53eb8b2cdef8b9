"""Shared asset conventions: owners, tags, metadata helpers. No business logic here."""


from collections import Counter
from typing import Any

import dagster as dg

from pipeline.domain.intake.ingest import StageReport

OWNERS = ["team:callforge-data"]


def tags(pii: str, layer: str) -> dict[str, str]:
    """Governance tags: pii is "raw" | "redacted" | "none"."""
    return {"pii": pii, "layer": layer}


def actor(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    return f"dagster-run:{context.run.run_id}"


def report_metadata(report: StageReport, **extra: Any) -> dict[str, Any]:
    """Counts and reasons only: never transcript text or PII."""
    md: dict[str, Any] = {
        "processed": len(report.processed),
        "skipped_unchanged": len(report.skipped),
        "quarantined": len(report.quarantined),
        "opted_out": len(report.opted_out),
    }
    if report.quarantined:
        md["quarantine_reasons"] = dg.MetadataValue.json(report.reasons())
    for k, v in sorted(report.counts.items()):
        md[k.replace(":", "_")] = round(v, 3) if isinstance(v, float) else v
    for k, v in sorted(report.details.items()):
        md[k] = dg.MetadataValue.json(v)
    md.update(extra)
    return md


def counter_md(counter: Counter | dict, key: str, value: str) -> dg.MetadataValue:
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(counter.items()))
    return dg.MetadataValue.md(f"| {key} | {value} |\n|---|---|\n{rows}" if rows else "_none_")

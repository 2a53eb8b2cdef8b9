"""Validation of a recording's JSON sidecar into :class:`~pipeline.domain.core.models.CallMetadata`.

A sidecar looks like::

    {"call_id": "call_0001", "tenant": "acme", "started_at": "2026-11-20T09:15:00Z",
     "agent_id": "a-17", "direction": "inbound",
     "consent": {"recording": "granted", "training": true},
     "customer_id": "c-9", "channel_map": {"0": "agent", "1": "customer"},
     "legal_hold": false}

Errors are :class:`SidecarError` with a machine-readable ``reason`` (used as the
quarantine reason) and the offending ``field``. Messages name the field and the
expected shape but never echo values (a sidecar may hold customer identifiers).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pipeline.domain.core.models import AGENT, CUSTOMER, CallMetadata, Consent

__all__ = [
    "SidecarError",
    "parse_sidecar",
    "started_at_or_none",
    "INVALID_JSON",
    "MISSING_FIELD",
    "INVALID_VALUE",
]

INVALID_JSON = "sidecar_invalid_json"
MISSING_FIELD = "sidecar_missing_field"
INVALID_VALUE = "sidecar_invalid_value"

DIRECTIONS = ("inbound", "outbound")
RECORDING_CONSENT = ("granted", "opt_out")
ROLES = (AGENT, CUSTOMER)
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_TEXT_ID = 128


class SidecarError(ValueError):
    """An invalid sidecar. ``source`` names the file, ``reason`` is one of
    ``sidecar_invalid_json`` / ``sidecar_missing_field`` / ``sidecar_invalid_value``,
    ``field`` is the dotted field name (``consent.training``) or None."""

    def __init__(self, source: str, reason: str, detail: str, field: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(source, reason, detail, field)

    def __str__(self) -> str:
        where = f"{self.source}: field {self.field!r}" if self.field else self.source
        return f"{where}: {self.detail} ({self.reason})"


def _load(raw: bytes | str | dict[str, Any], source: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SidecarError(source, INVALID_JSON, "not valid UTF-8") from None
    if not isinstance(raw, str):
        raise SidecarError(
            source, INVALID_JSON, f"expected JSON bytes, text or a dict, got {type(raw).__name__}"
        )
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SidecarError(
            source, INVALID_JSON, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise SidecarError(source, INVALID_JSON, "invalid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise SidecarError(
            source, INVALID_JSON, f"top level must be a JSON object, got {type(obj).__name__}"
        )
    return obj


def _required(obj: dict[str, Any], key: str, source: str, prefix: str = "") -> Any:
    value = obj.get(key)
    if value is None:
        raise SidecarError(source, MISSING_FIELD, "required field is missing", prefix + key)
    return value


def _string(value: Any, field: str, source: str) -> str:
    if not isinstance(value, str):
        raise SidecarError(
            source, INVALID_VALUE, f"expected a string, got {type(value).__name__}", field
        )
    text: str = value.strip()
    if not text:
        raise SidecarError(source, INVALID_VALUE, "must not be empty", field)
    return text


def _safe_id(raw: Any, field: str, source: str) -> str:
    value = _string(raw, field, source)
    if not _SAFE_ID_RE.fullmatch(value):
        raise SidecarError(
            source,
            INVALID_VALUE,
            "must be 1-64 characters of letters, digits, '_' or '-' (it becomes a storage key)",
            field,
        )
    return value


def _choice(value: Any, allowed: tuple[str, ...], field: str, source: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SidecarError(source, INVALID_VALUE, f"must be one of {', '.join(allowed)}", field)
    return value


def _bool(value: Any, field: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise SidecarError(
            source, INVALID_VALUE, f"must be true or false, got {type(value).__name__}", field
        )
    return value


def _parse_datetime(value: Any) -> datetime:
    """ISO-8601 text (``Z`` allowed) or a datetime -> aware datetime (naive = UTC)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(type(value).__name__)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def _channel_map(value: Any, source: str) -> dict[int, str]:
    field = "channel_map"
    if not isinstance(value, dict) or not value:
        raise SidecarError(
            source, INVALID_VALUE, 'must be an object like {"0": "agent", "1": "customer"}', field
        )
    out: dict[int, str] = {}
    for key, role in value.items():
        if isinstance(key, bool):
            channel = -1
        elif isinstance(key, int):
            channel = key
        elif isinstance(key, str) and key.strip() in ("0", "1"):
            channel = int(key.strip())
        else:
            channel = -1
        if channel not in (0, 1):
            raise SidecarError(source, INVALID_VALUE, "channel keys must be 0 or 1", field)
        if channel in out:
            raise SidecarError(source, INVALID_VALUE, f"channel {channel} is listed twice", field)
        out[channel] = _choice(role, ROLES, f"{field}.{channel}", source)
    if len(set(out.values())) != len(out):
        raise SidecarError(source, INVALID_VALUE, "two channels cannot have the same role", field)
    return dict(sorted(out.items()))


def parse_sidecar(raw: bytes | str | dict[str, Any], source: str) -> CallMetadata:
    """Validate a sidecar (JSON bytes/text or an already-parsed dict) into CallMetadata.

    Required: ``call_id`` and ``tenant`` (safe identifiers: letters, digits, ``_``/``-``,
    max 64), ``started_at`` (ISO-8601; naive means UTC), ``agent_id``, ``direction``
    (inbound/outbound), ``consent.recording`` (granted/opt_out), ``consent.training``
    (bool). Optional: ``customer_id``, ``channel_map`` (keys 0/1, values agent/customer,
    distinct), ``legal_hold`` (bool). Unknown fields are ignored. Raises SidecarError.
    """
    obj = _load(raw, source)
    call_id = _safe_id(_required(obj, "call_id", source), "call_id", source)
    tenant = _safe_id(_required(obj, "tenant", source), "tenant", source)
    started_raw = _required(obj, "started_at", source)
    try:
        started_at = _parse_datetime(started_raw)
    except (TypeError, ValueError):
        raise SidecarError(
            source,
            INVALID_VALUE,
            "must be an ISO-8601 date-time, e.g. 2026-11-20T09:15:00Z",
            "started_at",
        ) from None
    agent_id = _string(_required(obj, "agent_id", source), "agent_id", source)
    if len(agent_id) > _MAX_TEXT_ID:
        raise SidecarError(
            source, INVALID_VALUE, f"longer than {_MAX_TEXT_ID} characters", "agent_id"
        )
    direction = _choice(_required(obj, "direction", source), DIRECTIONS, "direction", source)
    consent_raw = _required(obj, "consent", source)
    if not isinstance(consent_raw, dict):
        raise SidecarError(
            source, INVALID_VALUE, f"must be an object, got {type(consent_raw).__name__}", "consent"
        )
    recording = _choice(
        _required(consent_raw, "recording", source, "consent."),
        RECORDING_CONSENT,
        "consent.recording",
        source,
    )
    training = _bool(
        _required(consent_raw, "training", source, "consent."), "consent.training", source
    )
    customer_id: str | None = None
    if obj.get("customer_id") is not None:
        cid = obj["customer_id"]
        if not isinstance(cid, str):
            raise SidecarError(
                source, INVALID_VALUE, f"expected a string, got {type(cid).__name__}", "customer_id"
            )
        customer_id = cid.strip() or None
        if customer_id is not None and len(customer_id) > _MAX_TEXT_ID:
            raise SidecarError(
                source, INVALID_VALUE, f"longer than {_MAX_TEXT_ID} characters", "customer_id"
            )
    kwargs: dict[str, Any] = {}
    if obj.get("channel_map") is not None:
        kwargs["channel_map"] = _channel_map(obj["channel_map"], source)
    legal_hold = False
    if obj.get("legal_hold") is not None:
        legal_hold = _bool(obj["legal_hold"], "legal_hold", source)
    return CallMetadata(
        call_id=call_id,
        tenant=tenant,
        started_at=started_at,
        agent_id=agent_id,
        direction=direction,
        consent=Consent(recording=recording, training=training),
        customer_id=customer_id,
        legal_hold=legal_hold,
        **kwargs,
    )


def started_at_or_none(raw: bytes | str | dict[str, Any] | None) -> datetime | None:
    """Best-effort ``started_at`` of a sidecar that may be invalid otherwise (used to
    route a bad sidecar to its day partition). Never raises; None if not readable."""
    if raw is None:
        return None
    try:
        obj = _load(raw, "<sidecar>")
        return _parse_datetime(obj.get("started_at"))
    except (SidecarError, TypeError, ValueError, OverflowError):
        return None

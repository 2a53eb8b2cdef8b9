"""Sidecar validation: every field rule has a failing case with its machine reason."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline.domain.core.models import AGENT, CUSTOMER, CallMetadata
from pipeline.domain.intake.sidecar import (
    INVALID_JSON,
    INVALID_VALUE,
    MISSING_FIELD,
    SidecarError,
    parse_sidecar,
    started_at_or_none,
)

FULL: dict[str, Any] = {
    "call_id": "call_0001",
    "tenant": "acme-bank",
    "started_at": "2026-11-20T09:15:00+01:00",
    "agent_id": "agent-17",
    "direction": "inbound",
    "consent": {"recording": "granted", "training": True},
    "customer_id": "cust-9",
    "channel_map": {"0": "customer", "1": "agent"},
    "legal_hold": True,
    "extra_vendor_field": {"ignored": 1},
}
MINIMAL: dict[str, Any] = {
    "call_id": "c1",
    "tenant": "t1",
    "started_at": "2026-11-20T09:15:00Z",
    "agent_id": "a1",
    "direction": "outbound",
    "consent": {"recording": "opt_out", "training": False},
}


def test_full_sidecar() -> None:
    meta = parse_sidecar(json.dumps(FULL).encode(), "call_0001.json")
    assert meta == CallMetadata(
        call_id="call_0001",
        tenant="acme-bank",
        started_at=datetime(2026, 11, 20, 9, 15, tzinfo=timezone(timedelta(hours=1))),
        agent_id="agent-17",
        direction="inbound",
        consent=meta.consent,
        customer_id="cust-9",
        channel_map={0: CUSTOMER, 1: AGENT},
        legal_hold=True,
    )
    assert meta.consent.recording_allowed and meta.consent.training is True
    assert meta.call_date == "2026-11-20"


def test_minimal_sidecar_gets_defaults() -> None:
    meta = parse_sidecar(MINIMAL, "c1.json")
    assert meta.channel_map == {0: AGENT, 1: CUSTOMER}
    assert meta.legal_hold is False and meta.customer_id is None
    assert not meta.consent.recording_allowed and meta.consent.training is False
    assert meta.started_at == datetime(2026, 11, 20, 9, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize("as_type", [bytes, str, dict])
def test_accepts_bytes_text_and_dict(as_type: type) -> None:
    raw: Any = {bytes: json.dumps(FULL).encode("utf-8"), str: json.dumps(FULL), dict: FULL}[as_type]
    assert parse_sidecar(raw, "x.json").call_id == "call_0001"


def test_bom_and_round_trip_through_to_dict() -> None:
    meta = parse_sidecar(b"\xef\xbb\xbf" + json.dumps(FULL).encode(), "x.json")
    assert parse_sidecar(json.dumps(meta.to_dict()), "x.json") == meta


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T23:30:00", datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)),
        ("2026-11-20 23:30:00.250", datetime(2026, 11, 20, 23, 30, 0, 250000, tzinfo=timezone.utc)),
        ("2026-11-20T23:30:00-05:00", datetime(2026, 11, 21, 4, 30, tzinfo=timezone.utc)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=timezone.utc)),
    ],
)
def test_started_at_forms(value: str, expected: datetime) -> None:
    meta = parse_sidecar({**MINIMAL, "started_at": value}, "x.json")
    assert meta.started_at == expected and meta.started_at.tzinfo is not None
    assert meta.call_date == expected.date().isoformat()


def _with(path: str, value: Any = None, delete: bool = False) -> dict[str, Any]:
    d = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    target = d
    for p in parents:
        target = target[p]
    if delete:
        del target[last]
    else:
        target[last] = value
    return d


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (_with("call_id", delete=True), MISSING_FIELD, "call_id"),
        (_with("call_id", None), MISSING_FIELD, "call_id"),
        (_with("call_id", "../../etc/passwd"), INVALID_VALUE, "call_id"),
        (_with("call_id", "call 1"), INVALID_VALUE, "call_id"),
        (_with("call_id", "x" * 65), INVALID_VALUE, "call_id"),
        (_with("call_id", ""), INVALID_VALUE, "call_id"),
        (_with("call_id", 1234), INVALID_VALUE, "call_id"),
        (_with("tenant", delete=True), MISSING_FIELD, "tenant"),
        (_with("tenant", "acme/bank"), INVALID_VALUE, "tenant"),
        (_with("tenant", "ácme"), INVALID_VALUE, "tenant"),
        (_with("started_at", delete=True), MISSING_FIELD, "started_at"),
        (_with("started_at", "yesterday"), INVALID_VALUE, "started_at"),
        (_with("started_at", "2026-13-01T00:00:00"), INVALID_VALUE, "started_at"),
        (_with("started_at", 1732000000), INVALID_VALUE, "started_at"),
        (_with("agent_id", delete=True), MISSING_FIELD, "agent_id"),
        (_with("agent_id", "   "), INVALID_VALUE, "agent_id"),
        (_with("agent_id", ["a"]), INVALID_VALUE, "agent_id"),
        (_with("agent_id", "a" * 129), INVALID_VALUE, "agent_id"),
        (_with("direction", delete=True), MISSING_FIELD, "direction"),
        (_with("direction", "sideways"), INVALID_VALUE, "direction"),
        (_with("direction", "Inbound"), INVALID_VALUE, "direction"),
        (_with("consent", delete=True), MISSING_FIELD, "consent"),
        (_with("consent", "granted"), INVALID_VALUE, "consent"),
        (_with("consent.recording", delete=True), MISSING_FIELD, "consent.recording"),
        (_with("consent.recording", "maybe"), INVALID_VALUE, "consent.recording"),
        (_with("consent.recording", True), INVALID_VALUE, "consent.recording"),
        (_with("consent.training", delete=True), MISSING_FIELD, "consent.training"),
        (_with("consent.training", "true"), INVALID_VALUE, "consent.training"),
        (_with("consent.training", 1), INVALID_VALUE, "consent.training"),
        (_with("customer_id", 42), INVALID_VALUE, "customer_id"),
        (_with("customer_id", "c" * 129), INVALID_VALUE, "customer_id"),
        (_with("channel_map", {"2": "agent"}), INVALID_VALUE, "channel_map"),
        (_with("channel_map", {"left": "agent"}), INVALID_VALUE, "channel_map"),
        (_with("channel_map", {"0": "boss"}), INVALID_VALUE, "channel_map.0"),
        (_with("channel_map", {"0": "agent", "1": "agent"}), INVALID_VALUE, "channel_map"),
        (_with("channel_map", {"0": "agent", " 0": "customer"}), INVALID_VALUE, "channel_map"),
        (_with("channel_map", ["agent", "customer"]), INVALID_VALUE, "channel_map"),
        (_with("channel_map", {}), INVALID_VALUE, "channel_map"),
        (_with("legal_hold", "no"), INVALID_VALUE, "legal_hold"),
        (_with("legal_hold", 0), INVALID_VALUE, "legal_hold"),
    ],
)
def test_invalid_fields(raw: dict[str, Any], reason: str, field: str) -> None:
    with pytest.raises(SidecarError) as ei:
        parse_sidecar(json.dumps(raw), "call_0001.json")
    err = ei.value
    assert (err.reason, err.field, err.source) == (reason, field, "call_0001.json")
    assert str(err).startswith(f"call_0001.json: field {field!r}: ")
    assert str(err).endswith(f"({reason})")
    assert isinstance(err, ValueError)


def test_int_channel_keys_from_a_dict() -> None:
    meta = parse_sidecar({**MINIMAL, "channel_map": {1: "agent", 0: "customer"}}, "x.json")
    assert meta.channel_map == {0: CUSTOMER, 1: AGENT}
    single = parse_sidecar({**MINIMAL, "channel_map": {"0": "agent"}}, "x.json")
    assert single.channel_map == {0: AGENT}


def test_optional_nulls_and_empty_customer() -> None:
    meta = parse_sidecar(
        {**MINIMAL, "customer_id": "  ", "channel_map": None, "legal_hold": None}, "x.json"
    )
    assert meta.customer_id is None and meta.legal_hold is False
    assert meta.channel_map == {0: AGENT, 1: CUSTOMER}


@pytest.mark.parametrize(
    "raw",
    [b"{", "", "[1, 2]", '"just a string"', b"\xff\xfe{}", "null", "{'single': 'quotes'}", 42],
)
def test_invalid_json(raw: Any) -> None:
    with pytest.raises(SidecarError) as ei:
        parse_sidecar(raw, "bad.json")
    assert ei.value.reason == INVALID_JSON and ei.value.field is None
    assert str(ei.value).startswith("bad.json: ")


def test_errors_never_echo_values() -> None:
    secret = "Jane Doe 555-0100"
    for raw in (
        _with("call_id", secret),
        _with("customer_id", [secret]),
        _with("direction", secret),
    ):
        with pytest.raises(SidecarError) as ei:
            parse_sidecar(raw, "x.json")
        assert "Jane" not in str(ei.value) and "555" not in str(ei.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps(FULL).encode(), datetime(2026, 11, 20, 8, 15, tzinfo=timezone.utc)),
        ({"started_at": "2026-11-20T09:15:00"}, datetime(2026, 11, 20, 9, 15, tzinfo=timezone.utc)),
        # the rest of the sidecar is broken but the date is still usable for routing
        (
            json.dumps({"call_id": "bad id!", "started_at": "2026-01-02T03:04:05Z"}),
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        ),
        (b"{not json", None),
        ("[]", None),
        ({"started_at": "soon"}, None),
        ({"started_at": 5}, None),
        ({}, None),
        (None, None),
        (b"\xff", None),
    ],
)
def test_started_at_or_none(raw: Any, expected: datetime | None) -> None:
    got = started_at_or_none(raw)
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None

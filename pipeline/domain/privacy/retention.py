"""Retention planning: which layers of which calls must be soft-deleted or purged now.

Policy (per tenant, with a ``default``): each data layer — ``audio``, ``transcript``,
``events`` — is kept for its own number of days counted from the call's start time.
A layer *strictly older* than its limit is soft-deleted (moved out of reach, still
recoverable); ``grace_days`` later it is purged (gone for good).

- A call on legal hold gets no action at all.
- ``purged`` and ``erased`` calls get no action (nothing is left to delete).
- A ``soft_deleted`` call (all layers soft-deleted) is purged — every layer — once its
  ``soft_deleted_at`` is strictly older than ``grace_days``.
- Any other call (``active``, ``opt_out``, ``quarantined``): when every layer is past
  its limit, one ``soft_delete`` of all layers (the executor then sets the call's state to
  ``soft_deleted``; the purge follows ``grace_days`` after that, so a whole call is never
  purged without its grace period, even if the job did not run for a while). When only
  some layers are past their limit (e.g. audio 30 days, transcript 90): those layers are
  soft-deleted, and purged once past limit + grace; the call stays in its state.

Plans are statements of "what must be gone by ``now``": executing one twice is a no-op
for layers already handled, so the executor audits only what it actually deleted.
``plan_retention`` is pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

LAYERS: tuple[str, ...] = ("audio", "transcript", "events")
DEFAULT_TENANT = "default"
NO_ACTION_STATES = frozenset({"purged", "erased"})


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each layer is kept, and the grace period between soft delete and purge."""

    audio_days: int = 90
    transcript_days: int = 90
    events_days: int = 90
    grace_days: int = 7

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"RetentionPolicy.{f.name} must be an int, got {v!r}")
            if v < 0:
                raise ValueError(f"RetentionPolicy.{f.name} must be >= 0, got {v}")

    def days(self, layer: str) -> int:
        """Retention days for ``layer`` (one of :data:`LAYERS`)."""
        if layer not in LAYERS:
            raise ValueError(f"unknown retention layer {layer!r}; known: {LAYERS}")
        return int(getattr(self, f"{layer}_days"))


@dataclass(frozen=True)
class RetentionAction:
    """One thing the retention job must do for one call."""

    call_id: str
    tenant: str
    action: Literal["soft_delete", "purge"]
    layers: tuple[str, ...]
    reason: str


_POLICY_KEYS = frozenset(f.name for f in fields(RetentionPolicy))


def policies_from_settings(settings: Mapping[str, Any] | None) -> dict[str, RetentionPolicy]:
    """Build per-tenant policies from the retention section of the settings.

    Accepts ``{"default": {...}, "<tenant>": {...}}`` or
    ``{"default": {...}, "tenants": {"<tenant>": {...}}}``; every tenant inherits the
    fields it does not set from ``default``, which itself falls back to
    :class:`RetentionPolicy`'s defaults. The result always has a ``"default"`` entry.
    Unknown fields and bad values raise ``ValueError`` naming the tenant.
    """
    settings = dict(settings or {})
    tenants_raw: dict[str, Any] = {}
    nested = settings.pop("tenants", None)
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise ValueError(f"retention settings: 'tenants' must be a mapping, got {nested!r}")
        tenants_raw.update(nested)
    default_raw = settings.pop(DEFAULT_TENANT, {}) or {}
    for name, value in settings.items():
        if name in tenants_raw:
            raise ValueError(f"retention settings: tenant {name!r} is defined twice")
        tenants_raw[name] = value

    def build(name: str, raw: Any, base: Mapping[str, int]) -> RetentionPolicy:
        if not isinstance(raw, Mapping):
            raise ValueError(f"retention settings for {name!r} must be a mapping, got {raw!r}")
        unknown = set(raw) - _POLICY_KEYS
        if unknown:
            raise ValueError(
                f"retention settings for {name!r}: unknown field(s) {sorted(unknown)}; "
                f"known: {sorted(_POLICY_KEYS)}"
            )
        try:
            return RetentionPolicy(**{**base, **raw})
        except ValueError as e:
            raise ValueError(f"retention settings for {name!r}: {e}") from e

    default = build(DEFAULT_TENANT, default_raw, {})
    base = {f.name: getattr(default, f.name) for f in fields(default)}
    out = {DEFAULT_TENANT: default}
    for name, raw in tenants_raw.items():
        out[str(name)] = build(str(name), raw, base)
    return out


def policy_for(policies: Mapping[str, RetentionPolicy], tenant: str | None) -> RetentionPolicy:
    """The tenant's policy, else ``default``, else the built-in defaults."""
    if tenant is not None and tenant in policies:
        return policies[tenant]
    return policies.get(DEFAULT_TENANT, RetentionPolicy())


def _aware(value: Any, call_id: str, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"call {call_id!r}: {field} {value!r} is not an ISO date/time"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=timezone.utc)
    if not isinstance(value, datetime):
        raise ValueError(f"call {call_id!r}: {field} must be a datetime, got {value!r}")
    if value.tzinfo is None:  # the ledger stores UTC
        value = value.replace(tzinfo=timezone.utc)
    return value


def plan_retention(
    calls: Iterable[Mapping[str, Any]],
    now: datetime,
    policies: Mapping[str, RetentionPolicy],
) -> list[RetentionAction]:
    """Plan soft deletes and purges for ledger ``calls`` rows at time ``now``.

    Each row needs ``call_id``, ``tenant``, ``state``, ``started_at`` (or
    ``call_date``), and may carry ``legal_hold`` and ``soft_deleted_at``. Ages compare
    strictly: a layer exactly ``days`` old is kept; one microsecond later it is due.
    Returns actions ordered by call id then purge before soft delete.
    """
    if now.tzinfo is None:
        raise ValueError("plan_retention: now must be timezone-aware")
    actions: list[RetentionAction] = []
    for row in sorted(calls, key=lambda r: str(r.get("call_id"))):
        call_id = row.get("call_id")
        if not call_id:
            raise ValueError(f"plan_retention: a call row has no call_id: keys {sorted(row)}")
        tenant = str(row.get("tenant") or DEFAULT_TENANT)
        state = row.get("state", "active")
        if row.get("legal_hold") or state in NO_ACTION_STATES:
            continue
        policy = policy_for(policies, tenant)
        grace = timedelta(days=policy.grace_days)

        if state == "soft_deleted":
            deleted_at = _aware(row.get("soft_deleted_at"), call_id, "soft_deleted_at")
            if deleted_at is None:
                raise ValueError(f"call {call_id!r} is soft_deleted but has no soft_deleted_at")
            if now - deleted_at > grace:
                actions.append(RetentionAction(
                    call_id, tenant, "purge", LAYERS,
                    f"soft-deleted more than {policy.grace_days} days ago"))
            continue

        started = _aware(row.get("started_at") or row.get("call_date"), call_id, "started_at")
        if started is None:
            raise ValueError(f"call {call_id!r} has neither started_at nor call_date")
        age = now - started
        due = tuple(layer for layer in LAYERS if age > timedelta(days=policy.days(layer)))
        if due == LAYERS:
            # the whole call expired: soft-delete everything; the purge follows grace_days
            # after soft_deleted_at, so a call is never purged without its grace period
            actions.append(RetentionAction(
                call_id, tenant, "soft_delete", LAYERS,
                "all layers older than retention: "
                + ", ".join(f"{lay} {policy.days(lay)} d" for lay in LAYERS)))
            continue
        purge = tuple(
            layer for layer in LAYERS if age > timedelta(days=policy.days(layer)) + grace
        )
        soft = tuple(
            layer for layer in LAYERS
            if layer not in purge and age > timedelta(days=policy.days(layer))
        )
        if purge:
            actions.append(RetentionAction(
                call_id, tenant, "purge", purge,
                "older than retention + grace: "
                + ", ".join(f"{lay} {policy.days(lay)}+{policy.grace_days} d" for lay in purge)))
        if soft:
            actions.append(RetentionAction(
                call_id, tenant, "soft_delete", soft,
                "older than retention: "
                + ", ".join(f"{lay} {policy.days(lay)} d" for lay in soft)))
    return actions

"""Retention planning: boundaries, per-tenant policies, layer differences, legal hold."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from pipeline.domain.privacy.retention import (
    LAYERS,
    RetentionAction,
    RetentionPolicy,
    plan_retention,
    policies_from_settings,
    policy_for,
)

NOW = datetime(2024, 9, 1, 12, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
DEFAULT = {"default": RetentionPolicy()}


def call(call_id: str = "c1", age: timedelta = timedelta(days=10), tenant: str = "acme",
         state: str = "active", legal_hold: bool = False,
         soft_deleted_ago: timedelta | None = None) -> dict:
    return {
        "call_id": call_id,
        "tenant": tenant,
        "state": state,
        "legal_hold": legal_hold,
        "started_at": NOW - age,
        "soft_deleted_at": None if soft_deleted_ago is None else NOW - soft_deleted_ago,
    }


def plan(*calls: dict, policies=DEFAULT) -> list[tuple[str, str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    return [(a.call_id, a.action, a.layers) for a in plan_retention(list(calls), NOW, policies)]


# ------------------------------------------------------------------ boundaries


@pytest.mark.parametrize("age, expected", [
    (timedelta(days=89), []),
    (timedelta(days=90), []),  # exactly 90 days old: still kept
    (timedelta(days=90) + US, [("c1", "soft_delete", LAYERS)]),  # strictly older: due
    (timedelta(days=400), [("c1", "soft_delete", LAYERS)]),  # long overdue: soft delete first
])
def test_soft_delete_boundary(age: timedelta, expected: list) -> None:
    assert plan(call(age=age)) == expected


@pytest.mark.parametrize("ago, expected", [
    (timedelta(days=6), []),
    (timedelta(days=7), []),  # exactly the grace period: not yet
    (timedelta(days=7) + US, [("c1", "purge", LAYERS)]),
])
def test_purge_boundary_counts_from_soft_deleted_at(ago: timedelta, expected: list) -> None:
    # the call itself is very old; only soft_deleted_at decides the purge
    c = call(age=timedelta(days=500), state="soft_deleted", soft_deleted_ago=ago)
    assert plan(c) == expected


def test_zero_day_policy_deletes_anything_older_than_now() -> None:
    pols = {"default": RetentionPolicy(0, 0, 0, 0)}
    assert plan(call(age=US), policies=pols) == [("c1", "soft_delete", LAYERS)]
    assert plan(call(age=timedelta(0)), policies=pols) == []


# ------------------------------------------------------------------ states and holds


@pytest.mark.parametrize("state", ["purged", "erased"])
def test_purged_and_erased_calls_get_nothing(state: str) -> None:
    assert plan(call(age=timedelta(days=999), state=state,
                     soft_deleted_ago=timedelta(days=900))) == []


@pytest.mark.parametrize("state, sd", [("active", None), ("soft_deleted", timedelta(days=30)),
                                       ("opt_out", None), ("quarantined", None)])
def test_legal_hold_means_no_action(state: str, sd: timedelta | None) -> None:
    assert plan(call(age=timedelta(days=999), state=state, legal_hold=True,
                     soft_deleted_ago=sd)) == []


@pytest.mark.parametrize("state", ["opt_out", "quarantined"])
def test_other_live_states_follow_the_policy(state: str) -> None:
    assert plan(call(age=timedelta(days=91), state=state)) == [("c1", "soft_delete", LAYERS)]


def test_soft_deleted_without_timestamp_is_an_error() -> None:
    with pytest.raises(ValueError, match="'c1' is soft_deleted but has no soft_deleted_at"):
        plan(call(state="soft_deleted"))


# ------------------------------------------------------------------ layers and tenants


def test_layer_differences_soft_delete_then_purge_single_layers() -> None:
    pols = {"default": RetentionPolicy(audio_days=30, transcript_days=90, events_days=365,
                                       grace_days=7)}
    assert plan(call(age=timedelta(days=30)), policies=pols) == []
    assert plan(call(age=timedelta(days=31)), policies=pols) == [
        ("c1", "soft_delete", ("audio",))]
    assert plan(call(age=timedelta(days=37, hours=1)), policies=pols) == [
        ("c1", "purge", ("audio",))]
    assert plan(call(age=timedelta(days=91)), policies=pols) == [
        ("c1", "purge", ("audio",)), ("c1", "soft_delete", ("transcript",))]
    assert plan(call(age=timedelta(days=100)), policies=pols) == [
        ("c1", "purge", ("audio", "transcript"))]
    # once every layer is past its limit the whole call is soft-deleted (grace restarts)
    assert plan(call(age=timedelta(days=366)), policies=pols) == [
        ("c1", "soft_delete", LAYERS)]


def test_per_tenant_policies_and_default_fallback() -> None:
    pols = policies_from_settings({
        "default": {"audio_days": 90},
        "short": {"audio_days": 10, "transcript_days": 10, "events_days": 10},
    })
    calls = [call("a", age=timedelta(days=11), tenant="short"),
             call("b", age=timedelta(days=11), tenant="unknown-tenant"),
             call("c", age=timedelta(days=91), tenant="unknown-tenant")]
    assert plan(*calls, policies=pols) == [("a", "soft_delete", LAYERS),
                                           ("c", "soft_delete", LAYERS)]


def test_actions_carry_tenant_and_a_reason_and_are_sorted() -> None:
    acts = plan_retention([call("z", age=timedelta(days=95)),
                           call("a", age=timedelta(days=95), tenant="beta")], NOW, DEFAULT)
    assert [a.call_id for a in acts] == ["a", "z"]
    assert acts[0] == RetentionAction("a", "beta", "soft_delete", LAYERS, acts[0].reason)
    assert "90 d" in acts[0].reason


def test_started_at_as_string_or_call_date_is_accepted() -> None:
    c1 = {"call_id": "s", "tenant": "t", "state": "active",
          "started_at": (NOW - timedelta(days=91)).isoformat()}
    c2 = {"call_id": "d", "tenant": "t", "state": "active",
          "call_date": (NOW - timedelta(days=92)).date()}
    naive = {"call_id": "n", "tenant": "t", "state": "active",
             "started_at": (NOW - timedelta(days=91)).replace(tzinfo=None)}  # ledger UTC
    assert plan(c1, c2, naive) == [("d", "soft_delete", LAYERS), ("n", "soft_delete", LAYERS),
                                   ("s", "soft_delete", LAYERS)]


@pytest.mark.parametrize("row, match", [
    ({"tenant": "t"}, "has no call_id"),
    ({"call_id": "x", "tenant": "t", "state": "active"}, "neither started_at nor call_date"),
    ({"call_id": "x", "tenant": "t", "started_at": "last tuesday"}, "not an ISO date"),
    ({"call_id": "x", "tenant": "t", "started_at": 12345}, "must be a datetime"),
])
def test_bad_rows_fail_clearly(row: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan_retention([row], NOW, DEFAULT)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_retention([], NOW.replace(tzinfo=None), DEFAULT)


def test_plan_is_pure() -> None:
    rows = [call("a", age=timedelta(days=95)), call("b", age=timedelta(days=3))]
    snapshot = [dict(r) for r in rows]
    assert plan_retention(rows, NOW, DEFAULT) == plan_retention(rows, NOW, DEFAULT)
    assert rows == snapshot


# ------------------------------------------------------------------ settings


def test_policies_from_settings_inherit_from_default() -> None:
    pols = policies_from_settings({"default": {"grace_days": 14, "audio_days": 30},
                                   "tenants": {"acme": {"audio_days": 7}}})
    assert pols["default"] == RetentionPolicy(audio_days=30, grace_days=14)
    assert pols["acme"] == RetentionPolicy(audio_days=7, transcript_days=90, events_days=90,
                                           grace_days=14)
    assert policy_for(pols, "acme").audio_days == 7
    assert policy_for(pols, "nobody") is pols["default"]
    assert policy_for({}, "x") == RetentionPolicy()


@pytest.mark.parametrize("settings", [None, {}])
def test_empty_settings_give_the_builtin_default(settings) -> None:  # type: ignore[no-untyped-def]
    assert policies_from_settings(settings) == {"default": RetentionPolicy()}


@pytest.mark.parametrize("settings, match", [
    ({"acme": {"audio_dayz": 3}}, r"'acme'.*unknown field.*audio_dayz"),
    ({"default": {"grace_days": -1}}, r"'default'.*grace_days must be >= 0"),
    ({"acme": {"audio_days": "30"}}, r"'acme'.*audio_days must be an int"),
    ({"acme": {"audio_days": True}}, r"audio_days must be an int"),
    ({"acme": 30}, r"'acme' must be a mapping"),
    ({"tenants": ["acme"]}, r"'tenants' must be a mapping"),
    ({"acme": {}, "tenants": {"acme": {}}}, r"'acme' is defined twice"),
])
def test_bad_settings_fail_clearly(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        policies_from_settings(settings)


def test_policy_days_rejects_unknown_layer() -> None:
    with pytest.raises(ValueError, match="unknown retention layer 'video'"):
        RetentionPolicy().days("video")


def test_call_date_as_date_object_is_midnight_utc() -> None:
    # a call on 2024-06-03 (date only) is 90 days old at 2024-09-01T00:00Z exactly
    row = {"call_id": "d", "tenant": "t", "state": "active", "call_date": date(2024, 6, 3)}
    at = datetime(2024, 9, 1, tzinfo=timezone.utc)
    assert plan_retention([row], at, DEFAULT) == []
    assert [a.action for a in plan_retention([row], at + US, DEFAULT)] == ["soft_delete"]

"""The ``policy:`` section of an inventory: slice sizes and budgets, durations, canaries, order, pace,
maintenance windows and the drift audit's settings.

The keys it accepts are the fields of ``console.model.policy.Policy`` (``POLICY_KEYS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.load.values import Values
from console.load.yamldoc import Path_
from console.model.errors import did_you_mean
from console.model.findings import DriftPolicy
from console.model.inventory import Group
from console.model.policy import POLICY_KEYS, Amount, Policy
from console.model.windows import DAYS, MaintenanceWindow, parse_time

ORDERS = ("inventory", "uptime", "risk")
WINDOW_KEYS = ("days", "start", "end", "timezone")
# Durations that may be zero: no bake, no gap between slices.
_ZERO_DURATIONS = ("bake", "min_slice_gap")


def read_policy(v: Values, value: object, names: set[str], groups: Mapping[str, Group], total: int) -> Policy:
    """The policy; ``names`` and ``groups`` are the inventory's (canaries name them), ``total`` its size."""
    path: Path_ = ("policy",)
    data = v.mapping(value, path, POLICY_KEYS)
    kw: dict[str, Any] = {}
    if "batch" in data:
        kw["batch"] = _batch(v, data["batch"], (*path, "batch"))
    _numbers(v, data, path, kw)
    if "windows" in data:
        kw["windows"] = read_windows(v, data["windows"], (*path, "windows"))
    if "max_failures" in data:
        kw["max_failures"] = v.integer(data["max_failures"], (*path, "max_failures"), low=0)
    for key in ("reboot_command", "boot_id_command"):
        if key in data:
            kw[key] = v.string(data[key], (*path, key), what="a command")
    if "order" in data:
        kw["order"] = _order(v, data["order"], (*path, "order"))
    if "canaries" in data:
        kw["canaries"] = _canaries(v, data["canaries"], (*path, "canaries"), names, groups, total)
    kw["drift"] = _drift(v, data, path, kw.get("max_uptime"))
    policy = Policy(**kw)
    if policy.poll_interval > policy.reboot_timeout:
        raise v.err((*path, "poll_interval"), "poll_interval is longer than reboot_timeout")
    return policy


def _batch(v: Values, raw: object, path: Path_) -> tuple[Amount, ...]:
    steps = raw if isinstance(raw, list) else [raw]
    if not steps:
        raise v.err(path, "expected a number, a percentage or a non-empty list of them")
    return tuple(
        v.amount(s, (*path, i) if isinstance(raw, list) else path, what="batch size")
        for i, s in enumerate(steps)
    )


def _numbers(v: Values, data: Mapping[str, Any], path: Path_, kw: dict[str, Any]) -> None:
    """Budgets, durations and the pace, into ``kw``."""
    for key in ("max_unavailable", "group_max_unavailable"):
        if key in data:
            kw[key] = v.amount(data[key], (*path, key), what=key)
    for key in Policy.DURATIONS:  # (pace_window is not a key: it is the hour of max_reboots_per_hour)
        if key in data:
            kw[key] = v.duration(data[key], (*path, key), positive=key not in _ZERO_DURATIONS)
    if "max_uptime" in data:
        kw["max_uptime"] = v.duration(data["max_uptime"], (*path, "max_uptime"))
    if "max_reboots_per_hour" in data:
        kw["max_reboots_per_hour"] = v.integer(
            data["max_reboots_per_hour"], (*path, "max_reboots_per_hour"), low=1
        )


def _order(v: Values, order: object, path: Path_) -> str:
    if order not in ORDERS:
        raise v.err(
            path, f"expected one of {', '.join(ORDERS)}, got {order!r}{did_you_mean(str(order), ORDERS)}"
        )
    return str(order)


def _canaries(
    v: Values, raw: object, path: Path_, names: set[str], groups: Mapping[str, Group], total: int
) -> tuple[str, ...]:
    """Hosts rolled first, alone: named one by one or by group (a group's members in its order)."""
    canaries: list[str] = []
    for i, item in enumerate(v.str_list(raw, path, what="host or group names")):
        ipath = (*path, i) if isinstance(raw, list) else path
        if item in groups:
            canaries.extend(m for m in groups[item].members if m not in canaries)
        elif item in names:
            if item not in canaries:
                canaries.append(item)
        else:
            raise v.err(ipath, f"unknown host or group {item!r}{did_you_mean(item, [*names, *groups])}")
    if len(canaries) >= total and total > 1:
        raise v.err(path, "every host is a canary; leave at least one host for the roll proper")
    return tuple(canaries)


def _drift(v: Values, data: Mapping[str, Any], path: Path_, max_uptime: float | None) -> DriftPolicy | None:
    """The drift audit's settings with ``max_uptime`` in them; None for ``drift: off`` (no facts at all)."""
    if data.get("drift") is False:
        if max_uptime is not None:
            raise v.err(
                (*path, "max_uptime"),
                "max_uptime is a drift finding, and the drift audit is off (drift: off)",
            )
        return None
    drift = read_drift(v, data["drift"], (*path, "drift")) if "drift" in data else DriftPolicy.default()
    return drift.with_max_uptime(max_uptime)


def read_drift(v: Values, value: object, path: Path_) -> DriftPolicy:
    data = v.mapping(value, path, None)
    try:
        return DriftPolicy.from_mapping(data)
    except ValueError as exc:
        # Point at the most specific key the message names, when we can find it.
        sub = path
        for key in data:
            if isinstance(key, str) and key in str(exc):
                sub = (*path, key)
                break
        raise v.err(sub, str(exc)) from None


def read_windows(v: Values, value: object, path: Path_) -> tuple[MaintenanceWindow, ...]:
    """One maintenance window or a list of them."""
    if isinstance(value, list):
        return tuple(_window(v, item, (*path, i)) for i, item in enumerate(value))
    return (_window(v, value, path),)


def _window(v: Values, item: object, wpath: Path_) -> MaintenanceWindow:
    body = v.mapping(item, wpath, WINDOW_KEYS)
    for key in ("start", "end"):
        if key not in body:
            raise v.err(wpath, f"a maintenance window needs '{key}' (a time of day such as 22:00)")
    times = []
    for key in ("start", "end"):
        raw = body[key]
        if isinstance(raw, int) and not isinstance(raw, bool):  # YAML 1.1 reads 22:00 as 1320
            raw = f"{raw // 60}:{raw % 60:02d}"
        try:
            times.append(parse_time(str(raw)))
        except ValueError as exc:
            raise v.err((*wpath, key), str(exc)) from None
    days = _days(v, body.get("days", list(DAYS)), (*wpath, "days"))
    tz = str(body.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.err((*wpath, "timezone"), f"unknown time zone {tz!r} (expected e.g. Europe/Paris)") from None
    if times[0] == times[1]:
        raise v.err(wpath, "a maintenance window must not start and end at the same time")
    return MaintenanceWindow(days, times[0], times[1], tz)


def _days(v: Values, raw: object, path: Path_) -> frozenset[int]:
    """Week days (0 = Monday) from ``mon``, ``tuesday``... (one day or a list)."""
    days: set[int] = set()
    for j, d in enumerate(raw if isinstance(raw, list) else [raw]):
        word = str(d).strip().lower()[:3]
        if word not in DAYS:
            raise v.err(
                (*path, j) if isinstance(raw, list) else path,
                f"expected a day such as mon or tuesday, got {d!r}",
            )
        days.add(DAYS.index(word))
    return frozenset(days)

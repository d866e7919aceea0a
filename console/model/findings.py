from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    BLOCK = "block"  # the roll pauses (before: the host is not rebooted) until someone decides
    WARN = "warn"  # shown and recorded; the roll goes on
    IGNORE = "ignore"  # not reported


# How a severity is shown to people, never by colour alone: the console and `slowroll audit` alike.
SEVERITY_GLYPH: dict[Severity, str] = {Severity.BLOCK: "■", Severity.WARN: "▲", Severity.IGNORE: "·"}


SEVERITY_WORD: dict[Severity, str] = {
    Severity.BLOCK: "BLOCK",
    Severity.WARN: "warn",
    Severity.IGNORE: "ignore",
}


def severity_label(severity: Severity | str) -> str:
    """``■ BLOCK``, ``▲ warn``: glyph and word."""
    sev = Severity(severity)
    return f"{SEVERITY_GLYPH[sev]} {SEVERITY_WORD[sev]}"


KINDS_BEFORE: tuple[str, ...] = (
    "running-not-enabled",
    "not-in-boot-tree",
    "failed-units",
    "degraded",
    "live-patched",
    "kernel-pending",
    "reboot-required",
    "uptime-debt",
)


KINDS_AFTER: tuple[str, ...] = (
    "lost-unit",
    "new-failed-unit",
    "enabled-not-active",
    "kernel-not-updated",
    "degraded-after-boot",
)


ALL_KINDS: tuple[str, ...] = KINDS_BEFORE + KINDS_AFTER


DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    **dict.fromkeys(KINDS_BEFORE, Severity.WARN),
    **dict.fromkeys(KINDS_AFTER, Severity.BLOCK),
}


# The two "won't come back at boot" kinds are one problem seen with two levels of certainty; a unit gets
# at most one of them, and a per-unit exception written for either applies to both.
BOOT_START_KINDS = ("running-not-enabled", "not-in-boot-tree")


# Units the host needs to be reachable over SSH again. One of these running now but not coming back at
# boot blocks the reboot: the host would not answer afterwards. systemd-resolved is deliberately not in
# the list: without it the host still answers on its address (name lookups *on* the host break, which a
# health check should catch), so it is a warning like any other unit.
DEFAULT_REACHABILITY_UNITS: tuple[str, ...] = (
    "ssh.service",
    "sshd.service",
    "ssh.socket",
    "sshd.socket",
    "systemd-networkd.service",
    "NetworkManager.service",
    "networking.service",
    "network.service",
    "wicked.service",
    "dhcpcd.service",
)


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: Severity
    subject: str  # a unit name, a kernel release, or "host"
    message: str  # one sentence for the person on call
    evidence: str = ""  # what the host said: journal lines, unit states
    phase: str = "before"  # "before" or "after" the reboot

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "severity": str(self.severity),
            "subject": self.subject,
            "message": self.message,
            "evidence": self.evidence,
            "phase": self.phase,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        if not isinstance(data, Mapping):
            raise ValueError(f"a finding must be a mapping, got {type(data).__name__}")
        try:
            values = {k: data[k] for k in ("kind", "severity", "subject", "message")}
        except KeyError as exc:
            raise ValueError(f"a finding needs {exc.args[0]!r}") from None
        evidence = data.get("evidence", "")
        phase = data.get("phase", "before")
        if not all(isinstance(v, str) for v in (*values.values(), evidence, phase)):
            raise ValueError("finding fields must be strings")
        if phase not in ("before", "after"):
            raise ValueError(f"phase must be 'before' or 'after', got {phase!r}")
        try:
            severity = Severity(values["severity"])
        except ValueError:
            raise ValueError(f"unknown severity {values['severity']!r}") from None
        return cls(values["kind"], severity, values["subject"], values["message"], evidence, phase)


@dataclass(frozen=True)
class DriftPolicy:
    """How findings are rated.

    Precedence for one finding: a per-unit exception, then (for a reachability unit that would not
    come back at boot) ``block``, then the kind's severity override, then the kind's default.
    """

    severities: Mapping[str, Severity] = field(default_factory=dict)
    exceptions: Mapping[str, Mapping[str, Severity]] = field(default_factory=dict)
    max_uptime: float | None = None  # seconds; None: no uptime-debt finding
    reachability_units: tuple[str, ...] = DEFAULT_REACHABILITY_UNITS

    @classmethod
    def default(cls) -> DriftPolicy:
        return cls()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, max_uptime: float | None = None) -> DriftPolicy:
        """Read the ``drift:`` configuration. Raises ValueError naming the bad key or value."""
        if not isinstance(data, Mapping):
            raise ValueError(
                f"expected a mapping with severity, exceptions, reachability_units; got {data!r}"
            )
        allowed = ("severity", "exceptions", "reachability_units")
        for key in data:
            if key not in allowed:
                hint = " (max_uptime is a policy setting: policy.max_uptime)" if key == "max_uptime" else ""
                raise ValueError(
                    f"unknown key {key!r}{_did_you_mean(str(key), allowed)}{hint}; "
                    f"expected {', '.join(allowed)}"
                )
        severities: dict[str, Severity] = {}
        raw = data.get("severity") or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"severity: expected a mapping of finding kind to severity, got {raw!r}")
        for kind, value in raw.items():
            _check_kind("severity", kind)
            severities[kind] = _severity(f"severity: {kind}", value)
        exceptions: dict[str, dict[str, Severity]] = {}
        raw = data.get("exceptions") or {}
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"exceptions: expected a mapping of finding kind to {{unit: severity}}, got {raw!r}"
            )
        for kind, units in raw.items():
            _check_kind("exceptions", kind)
            if not isinstance(units, Mapping):
                raise ValueError(
                    f"exceptions: {kind}: expected a mapping of unit name or glob to severity, got {units!r}"
                )
            per_kind: dict[str, Severity] = {}
            for pattern, value in units.items():
                if not isinstance(pattern, str) or not pattern.strip():
                    raise ValueError(f"exceptions: {kind}: a unit name or glob must be a non-empty string")
                per_kind[pattern.strip()] = _severity(f"exceptions: {kind}: {pattern}", value)
            exceptions[kind] = per_kind
        reach = DEFAULT_REACHABILITY_UNITS
        if "reachability_units" in data:
            raw = data["reachability_units"]
            if not isinstance(raw, list | tuple) or not all(isinstance(u, str) and u.strip() for u in raw):
                raise ValueError(f"reachability_units: expected a list of unit names or globs, got {raw!r}")
            reach = tuple(u.strip() for u in raw)
        if max_uptime is not None and (isinstance(max_uptime, bool) or max_uptime <= 0):
            raise ValueError(f"max_uptime must be a positive number of seconds, got {max_uptime!r}")
        return cls(severities, exceptions, max_uptime, reach)

    def with_max_uptime(self, seconds: float | None) -> DriftPolicy:
        return replace(self, max_uptime=seconds)

    def to_dict(self) -> dict[str, Any]:
        """The configuration shape ``from_mapping`` reads, plus ``max_uptime`` (seconds)."""
        return {
            "severity": {k: str(v) for k, v in self.severities.items()},
            "exceptions": {k: {p: str(s) for p, s in v.items()} for k, v in self.exceptions.items()},
            "reachability_units": list(self.reachability_units),
            "max_uptime": self.max_uptime,
        }

    def is_reachability_unit(self, name: str, aliases: Iterable[str] = ()) -> bool:
        return matches_any((name, *aliases), self.reachability_units)

    def severity_for(self, kind: str, subject: str, aliases: Iterable[str] = ()) -> Severity:
        names = (subject, *aliases)
        kinds = BOOT_START_KINDS if kind in BOOT_START_KINDS else (kind,)
        ordered = (kind, *(k for k in kinds if k != kind))
        for k in ordered:
            found = _exception(self.exceptions.get(k, {}), names)
            if found is not None:
                return found
        if kind in BOOT_START_KINDS and self.is_reachability_unit(subject, aliases):
            return Severity.BLOCK
        return self.severities.get(kind, DEFAULT_SEVERITIES.get(kind, Severity.WARN))


def _exception(table: Mapping[str, Severity], names: Iterable[str]) -> Severity | None:
    names = tuple(names)
    for name in names:  # an exact name first, then globs in the order written
        if name in table:
            return table[name]
    for pattern, severity in table.items():
        if any(fnmatch.fnmatchcase(n, pattern) for n in names):
            return severity
    return None


def matches_any(names: Iterable[str], patterns: Iterable[str]) -> bool:
    pats = tuple(patterns)
    return any(fnmatch.fnmatchcase(n, p) for n in names for p in pats)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_kind(where: str, kind: object) -> None:
    if not isinstance(kind, str) or kind not in ALL_KINDS:
        raise ValueError(
            f"{where}: unknown finding kind {kind!r}{_did_you_mean(str(kind), ALL_KINDS)}; "
            f"known kinds: {', '.join(ALL_KINDS)}"
        )


def _severity(where: str, value: object) -> Severity:
    if isinstance(value, str):
        try:
            return Severity(value.strip().lower())
        except ValueError:
            pass
    choices = [s.value for s in Severity]
    return_hint = _did_you_mean(str(value), choices)
    raise ValueError(f"{where}: expected one of {', '.join(choices)}, got {value!r}{return_hint}")

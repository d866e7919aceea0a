"""What a rehearsal keeps of an inventory, and how its checks reach the simulated hosts (pure functions).

Every check kind runs in a rehearsal as it would for real, against the simulated host: ``command`` and
``systemd`` checks over SSH on the twin (its systemd runs the units that systemd checks name), ``tcp`` and
``http`` checks from the console against endpoints the simulated host serves on 127.0.0.1 (one port per
host and check, named in the twin's host vars ``sim_check_port_N``). What cannot be rehearsed -- an
``http`` body regex no answer can satisfy, service checks and console-side hooks that would reach the real
service -- is left out and said once, in one line each, before the roll starts (``rehearsal_notes``).
"""

from __future__ import annotations

import re
import string
import urllib.parse
from dataclasses import replace
from re import _constants as C
from re import _parser
from typing import Any

from console.load.redact import SECRET_NAME
from console.model.inventory import Inventory
from console.model.specs import CheckSpec

SERVED_KINDS = ("tcp", "http")  # per-host checks the console runs, answered by the simulated host's endpoints
REDACTED = "<redacted>"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def port_var(index: int) -> str:
    """The twin host var holding the port that serves the inventory's ``index``-th check."""
    return f"sim_check_port_{index}"


def served(check: CheckSpec) -> bool:
    """A per-host check that the simulated host answers on an endpoint of its own."""
    return check.scope == "host" and check.kind in SERVED_KINDS and example_body(check.body) is not None


def answer(check: CheckSpec) -> tuple[int, str]:
    """What a simulated host's endpoint for ``check`` answers when healthy: an accepted status and a body."""
    body = example_body(check.body)
    bodied = [s for s in check.status if s not in (204, 205, 304)]  # statuses whose answer has a body
    status = bodied[0] if bodied else (check.status[0] if check.status else 200)
    return status, (body if body is not None else "ok\n")


def twin_check(check: CheckSpec, index: int) -> CheckSpec:
    """``check`` as the rehearsal runs it: a ``tcp`` or ``http`` check probes the twin's endpoint (same kind,
    status and body), plain HTTP on 127.0.0.1; every other check is unchanged."""
    if not served(check):
        return check
    where = f"127.0.0.1:{{{'vars.' + port_var(index)}}}"  # the twin's own address may be a jump alias
    if check.kind == "tcp":
        return replace(check, command=where)
    parts = urllib.parse.urlsplit(check.command)
    url = urllib.parse.urlunsplit(("http", where, parts.path or "/", parts.query, ""))
    return replace(check, command=url, insecure=False)


def stays_local(check: CheckSpec) -> bool:
    """A service check that contacts nothing but this machine (a command, or a loopback endpoint)."""
    if check.kind == "command":
        return True
    target = check.command
    host = (
        urllib.parse.urlsplit(target).hostname if "://" in target else target.rpartition(":")[0].strip("[]")
    )
    return host in LOOPBACK


def rehearsal_notes(inventory: Inventory, *, local_hooks: bool = False) -> list[str]:
    """One line for each part of ``inventory`` that a rehearsal leaves out, and why."""
    notes = []
    for c in inventory.checks:
        if c.kind in SERVED_KINDS and not served(c):
            notes.append(
                f"not rehearsable: check {c.name!r} (left out): no simulated answer matches its body /{c.body}/"
            )
    for c in inventory.service_checks:
        if not stays_local(c):
            notes.append(
                f"not rehearsable: service check {c.name!r} (left out): it would reach the real service "
                f"({c.describe()})"
            )
    if not local_hooks:
        for h in inventory.hooks:
            if h.where != "host":
                notes.append(
                    f"not rehearsable: {h.phase} hook {h.name!r} (left out): it runs on the console's machine "
                    "and would act on the real service"
                )
    return notes


def redacted(value: Any) -> Any:
    """``value`` (vars) with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_NAME.search(str(k)) else redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------
# A body that an http check's regex matches


class _Unsupported(Exception):
    pass


_CLASS = {
    C.CATEGORY_DIGIT: r"\d",
    C.CATEGORY_NOT_DIGIT: r"\D",
    C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S",
    C.CATEGORY_WORD: r"\w",
    C.CATEGORY_NOT_WORD: r"\W",
}
_CATEGORY = {
    C.CATEGORY_DIGIT: "0",
    C.CATEGORY_NOT_DIGIT: "a",
    C.CATEGORY_SPACE: " ",
    C.CATEGORY_NOT_SPACE: "a",
    C.CATEGORY_WORD: "a",
    C.CATEGORY_NOT_WORD: " ",
}


def example_body(pattern: str | None) -> str | None:
    """A short text that ``re.search(pattern, text)`` accepts ("ok\\n" for no pattern), or None."""
    if pattern is None:
        return "ok\n"
    try:
        text = _emit(_parser.parse(pattern), {})
    except (_Unsupported, re.error, RecursionError, OverflowError, MemoryError):
        return None
    return text if len(text) < 65536 and re.search(pattern, text) else None


def _emit(items: Any, groups: dict[int, str]) -> str:
    out = []
    for op, av in items:
        out.append(_emit_one(op, av, groups))
    return "".join(out)


def _emit_one(op: Any, av: Any, groups: dict[int, str]) -> str:
    if op is C.LITERAL:
        return chr(av)
    if op is C.NOT_LITERAL:
        return "a" if av != ord("a") else "b"
    if op is C.ANY:
        return "x"
    if op is C.IN:
        return _one_of(av)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = av
        if low > 1000:
            raise _Unsupported
        return _emit(sub, groups) * low
    if op is C.SUBPATTERN:
        group, _add, _del, sub = av
        text = _emit(sub, groups)
        if group is not None:
            groups[group] = text
        return text
    if op is C.ATOMIC_GROUP:
        return _emit(av, groups)
    if op is C.BRANCH:
        return _emit(av[1][0], groups)
    if op is C.GROUPREF:
        return groups.get(av, "")
    if op in (C.AT, C.ASSERT_NOT):
        return ""
    if op is C.CATEGORY:
        return _CATEGORY.get(av, "a")
    raise _Unsupported


def _one_of(items: Any) -> str:
    negate = bool(items) and items[0][0] is C.NEGATE
    if not negate:
        op, av = items[0]
        if op is C.LITERAL:
            return chr(av)
        if op is C.RANGE:
            return chr(av[0])
        if op is C.CATEGORY:
            return _CATEGORY.get(av, "a")
        raise _Unsupported
    for candidate in "a0 Z_-." + string.printable:
        if not any(_in(candidate, op, av) for op, av in items[1:]):
            return candidate
    raise _Unsupported


def _in(ch: str, op: Any, av: Any) -> bool:
    if op is C.LITERAL:
        return ord(ch) == av
    if op is C.RANGE:
        return av[0] <= ord(ch) <= av[1]
    if op is C.CATEGORY:
        return bool(re.fullmatch(_CLASS.get(av, "[^\\s\\S]"), ch))
    raise _Unsupported

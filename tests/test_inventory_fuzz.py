"""Fuzzing the inventory loader: whatever the file holds, the answer is an inventory or a located error.

Hypothesis writes YAML around the real schema (docs/inventory.md) -- valid-ish inventories with random
mutations, random scalars, wrong types, deep nesting, odd unicode, shared nodes (anchors and aliases), and
text-level damage (lines dropped, duplicated, re-indented, characters inserted) -- to a file, and loads it
with ``console.inventory.load_inventory`` and with ``slowroll check`` (in process for every input, as a
subprocess for a sample). Every input must end in a loaded inventory or an ``InventoryError`` (exit 2)
whose message starts ``FILE:LINE:``; never another exception, never a traceback.

The crashes this fuzzing found are fixed; their minimal inputs stay as regression tests at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli.main import main as cli_main
from console.load.checks import CHECK_KEYS, SERVICE_CHECK_KEYS
from console.load.hosts import GROUP_KEYS, HOST_KEYS
from console.load.native import TOP_KEYS, load_inventory
from console.load.settings import SSH_KEYS
from console.model.errors import InventoryError
from console.model.findings import ALL_KINDS
from console.model.inventory import Inventory
from console.model.policy import POLICY_KEYS

ROOT = Path(__file__).resolve().parents[1]
SLOWROLL = [sys.executable, "-m", "console.cli"]

# One folder for the whole module: hypothesis runs many examples per test and function-scoped fixtures
# (tmp_path) are not reset between them.
_WORK = Path(tempfile.mkdtemp(prefix="slowroll-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
_counter = itertools.count()

# SLOWROLL_FUZZ_SCALE=20 runs twenty times as many examples (a longer hunt than CI's few seconds).
SCALE = max(0.1, float(os.environ.get("SLOWROLL_FUZZ_SCALE", "1")))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


FUZZ = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)

# ---------------------------------------------------------------------------------------------------
# Scalars

# Unicode that tends to break things: right-to-left marks, zero-width joiners, combining marks, emoji,
# the BOM, full-width digits, NEL and the line/paragraph separators (YAML line breaks), NUL and friends.
ODD_CHARS = "\u200f\u200d\u0301\U0001f4a5\ufeff\uff11\u0085\u2028\u2029\x00\x07\x1b\t\\\"'#:&*!|>%@`{}[],-?"
odd_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),  # no lone surrogates: they cannot be written as UTF-8
        st.sampled_from(ODD_CHARS),
    ),
    max_size=24,
)
# fmt: off
TRICKY_WORDS = [
    "25%", "0%", "150%", "100%", " 3 ", "-1", "0", "1e999", "1_000", "0x1F", "0o17", "+5",
    "5m", "1h30m", "0.5s", "250ms", "2d", "1w", "-5s", "5 minutes", "inf", ".inf", "-.inf", ".nan", "nan",
    "yes", "no", "on", "off", "~", "null", "true", "2024-01-01", "2024-01-01T10:00:00Z", "22:00", "10:61",
    "{name}", "{address}", "{vars.x}", "{vars.}", "{vars.nope}", "${X}", "{{name}}", "\\{name}",
    "a;b", "$(id)", "`id`", "'", '"', "-rf", "--help", "web-01", "db", "all", "", " ", "\n", "é",
    "http://127.0.0.1:9/x", "https://[::1]:8443/health?token=t", "ftp://x", "10.0.0.1", "::1",
    "ssh.service", "*.service", "running-not-enabled", "lost-unit", "block", "warn", "ignore", "BLOCK",
    "mon", "tuesday", "sun", "Europe/Paris", "Mars/Olympus", "inventory", "uptime", "risk",
]
# fmt: on
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    st.sampled_from(TRICKY_WORDS),
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Anything: scalars, lists and mappings, up to ``depth`` levels (keys may be numbers, bools, null)."""
    keys = st.one_of(odd_text, st.sampled_from(TRICKY_WORDS), st.integers(-5, 5), st.booleans(), st.none())
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(keys, inner, max_size=4),
        ),
        max_leaves=depth * 3,
    )


junk = nested(4)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested 10-120 levels deep (lists and mappings alternating at random)."""
    value: Any = draw(scalars)
    for _ in range(draw(st.integers(10, 120))):
        value = (
            [value] if draw(st.booleans()) else {draw(st.sampled_from(["a", "hosts", "vars", "0"])): value}
        )
    return value


def maybe(strategy: st.SearchStrategy[Any], junk_weight: int = 1) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(*([strategy] * 4), *([junk] * junk_weight))


# ---------------------------------------------------------------------------------------------------
# Plausible inventories

host_names = st.one_of(
    st.sampled_from(["web-01", "web-02", "db-01", "db-02", "app-1", "x", "h.example.org"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    odd_text.filter(bool),
)
group_names = st.one_of(st.sampled_from(["web", "db", "app", "all", "canary"]), odd_text.filter(bool))
durations = st.one_of(
    st.sampled_from(["1s", "0.5s", "250ms", "5m", "1h30m", "2d", "0", "0s", "-1s", "1w", "soon", ""]),
    st.integers(-2, 100000),
    st.floats(allow_nan=True, allow_infinity=True),
)
amounts = st.one_of(
    st.integers(-2, 50), st.sampled_from(["25%", "0%", "100%", "101%", "50 %", "3", "1.5", "%", "x%"])
)
severities = st.sampled_from(["block", "warn", "ignore", "WARN", "fatal", ""])


@st.composite
def drift_section(draw: st.DrawFn) -> Any:
    kinds = st.one_of(st.sampled_from(ALL_KINDS), odd_text)
    out: dict[Any, Any] = {}
    if draw(st.booleans()):
        out["severity"] = draw(st.dictionaries(kinds, maybe(severities), max_size=3))
    if draw(st.booleans()):
        units = st.dictionaries(st.sampled_from(["my*.service", "ssh.service", "", " ", "x"]), severities)
        out["exceptions"] = draw(st.dictionaries(kinds, maybe(units), max_size=2))
    if draw(st.booleans()):
        out["reachability_units"] = draw(
            maybe(st.lists(st.sampled_from(["ssh.service", "wg-quick@*.service"])))
        )
    if draw(st.integers(0, 5)) == 0:
        out[draw(odd_text)] = draw(junk)
    return out


@st.composite
def window(draw: st.DrawFn) -> Any:
    w: dict[str, Any] = {}
    for key, values in (
        ("days", maybe(st.lists(st.sampled_from(["mon", "Tuesday", "sun", "sat", "xyz", 3]), max_size=3))),
        ("start", maybe(st.sampled_from(["22:00", "06:30", "24:00", "7", "25:61", 1320]))),
        ("end", maybe(st.sampled_from(["06:00", "22:00", "00:00", "noon"]))),
        ("timezone", maybe(st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus", ""]))),
    ):
        if draw(st.integers(0, 4)) > 0:
            w[key] = draw(values)
    return w


@st.composite
def policy_section(draw: st.DrawFn, hosts: list[str], groups: list[str]) -> Any:
    pol: dict[str, Any] = {}
    names = st.sampled_from(hosts + groups + ["nobody"])
    gen: dict[str, st.SearchStrategy[Any]] = {
        "batch": st.one_of(amounts, st.lists(amounts, max_size=4)),
        "max_unavailable": amounts,
        "group_max_unavailable": amounts,
        "max_failures": st.integers(-1, 5),
        "reboot_command": st.sampled_from(["systemctl reboot", "", "reboot; echo {name}"]),
        "boot_id_command": st.sampled_from(["cat /proc/sys/kernel/random/boot_id", " "]),
        "canaries": st.one_of(names, st.lists(names, max_size=3)),
        "order": st.sampled_from(["inventory", "uptime", "risk", "random", "Inventory"]),
        "drift": drift_section(),
        "windows": st.one_of(window(), st.lists(window(), max_size=2)),
        "max_reboots_per_hour": st.integers(-1, 100),
    }
    for key in draw(st.lists(st.sampled_from(POLICY_KEYS), max_size=8, unique=True)):
        strategy = gen.get(key, durations)
        pol[key] = draw(maybe(strategy))
    return pol


@st.composite
def check_item(draw: st.DrawFn, hosts: list[str], groups: list[str], service: bool) -> Any:
    kinds = ["command", "tcp", "http", "prometheus"] if service else ["command", "systemd", "tcp", "http"]
    kind = draw(st.sampled_from([*kinds, "systemd", "prometheus"]))
    targets = {
        "command": st.sampled_from(
            [
                "true",
                "test {name} = {name}",
                "curl -fsS http://{address}:{vars.port}/",
                "echo ${HOME} {vars.nope}",
            ]
        ),
        "systemd": st.sampled_from(["ssh.service", "{vars.unit}", ""]),
        "tcp": st.one_of(st.integers(-1, 70000), st.sampled_from(["22", "db-01:5432", "[::1]:22", "x:y"])),
        "http": st.sampled_from(
            ["http://{address}:8080/healthz", "https://h/x?t={vars.token}", "file:///etc"]
        ),
        "prometheus": st.sampled_from(["http://prom:9090", "prom:9090"]),
    }
    item: dict[str, Any] = {kind: draw(maybe(targets[kind]))}
    for key in draw(st.lists(st.sampled_from(SERVICE_CHECK_KEYS if service else CHECK_KEYS), max_size=4)):
        if key in item:
            continue
        item[key] = draw(
            {
                "name": maybe(st.sampled_from(["ssh", "http", "ssh", ""])),
                "groups": st.lists(st.sampled_from([*groups, "nope"]), max_size=2),
                "hosts": st.lists(st.sampled_from([*hosts, "nope"]), max_size=2),
                "retries": st.integers(-1, 200),
                "status": st.one_of(st.integers(0, 700), st.lists(st.integers(99, 600), max_size=3)),
                "body": st.sampled_from(["ok", "(", "[a-z]+"]),
                "insecure": st.one_of(st.booleans(), st.just("yes")),
                "alerts": st.sampled_from([".*", "(", "Node.*"]),
            }.get(key, maybe(durations))
        )
    return item


@st.composite
def hook_section(draw: st.DrawFn, hosts: list[str], groups: list[str]) -> Any:
    def hook() -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from(["drain {name}", "true"]),
            st.fixed_dictionaries(
                {"command": st.sampled_from(["drain {name}", "", "x"])},
                optional={
                    "name": st.sampled_from(["drain", ""]),
                    "on": st.sampled_from(["local", "host", "moon"]),
                    "timeout": durations,
                    "groups": st.lists(st.sampled_from([*groups, "nope"]), max_size=2),
                    "hosts": st.lists(st.sampled_from([*hosts, "nope"]), max_size=2),
                },
            ),
        )

    phases = st.sampled_from(["pre_reboot", "post_reboot", "pre-reboot"])
    return draw(st.dictionaries(phases, st.one_of(hook(), st.lists(hook(), max_size=2)), max_size=2))


@st.composite
def inventories(draw: st.DrawFn) -> Any:
    """A dict shaped like an inventory: mostly right, with a few wrong types and unknown keys."""
    hosts = draw(st.lists(host_names, min_size=1, max_size=5, unique=True))
    groups = draw(st.lists(group_names, max_size=3, unique=True))
    addresses = st.sampled_from(["10.0.0.1", "10.0.0.2", "db.internal", "::1", "-oProxyCommand=x", "a b", ""])
    inv: dict[str, Any] = {}
    if draw(st.booleans()):
        inv["name"] = draw(maybe(st.sampled_from(["shop", "prod-eu", ""])))
    if draw(st.booleans()):
        ssh: dict[str, Any] = {}
        for key in draw(st.lists(st.sampled_from([*SSH_KEYS, "password", "key_passphrase"]), max_size=4)):
            ssh[key] = draw(
                {
                    "port": maybe(st.integers(-1, 70000)),
                    "agent": maybe(st.booleans()),
                    "identity_files": maybe(
                        st.lists(st.sampled_from(["~/.ssh/id_ed25519", "k"]), max_size=2)
                    ),
                }.get(key, maybe(st.sampled_from(["root", "./known_hosts", "~/x", ""])))
            )
        inv["ssh"] = ssh
    if draw(st.booleans()):
        inv["vars"] = draw(
            st.dictionaries(st.sampled_from(["port", "unit", "token", "x"]), scalars, max_size=3)
        )
    if groups and draw(st.booleans()):
        gsec: dict[str, Any] = {}
        for g in groups:
            members = st.lists(st.sampled_from([*hosts, "ghost"]), max_size=3)
            if draw(st.booleans()):
                gsec[g] = draw(members)
            else:
                body: dict[str, Any] = {}
                for key in draw(st.lists(st.sampled_from(GROUP_KEYS), max_size=3, unique=True)):
                    body[key] = draw(
                        {"hosts": members, "max_unavailable": amounts}.get(key, maybe(st.just({"x": 1})))
                    )
                gsec[g] = body
        inv["groups"] = gsec
    entries = []
    for h in hosts:
        shape = draw(st.integers(0, 3))
        if shape == 0:
            entries.append((h, draw(addresses)))
        elif shape == 1:
            entries.append((h, None))
        else:
            body = {"address": draw(addresses)}
            for key in draw(st.lists(st.sampled_from(HOST_KEYS), max_size=3, unique=True)):
                body[key] = draw(
                    {
                        "port": maybe(st.integers(-1, 70000)),
                        "groups": maybe(st.lists(st.sampled_from([*groups, "nope"]), max_size=2)),
                        "vars": maybe(st.dictionaries(st.sampled_from(["port", "unit", "rack"]), scalars)),
                        "name": st.just(h),
                    }.get(key, maybe(st.sampled_from(["ops", "10.0.0.9", ""])))
                )
            entries.append((h, body))
    if draw(st.booleans()):
        inv["hosts"] = dict(entries)
    else:
        inv["hosts"] = [
            (h if v is None else ({"name": h, **v} if isinstance(v, dict) else {"name": h, "address": v}))
            for h, v in entries
        ]
    if draw(st.booleans()):
        inv["policy"] = draw(policy_section(hosts, groups))
    if draw(st.booleans()):
        inv["checks"] = draw(st.lists(check_item(hosts, groups, False), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        inv["service_checks"] = draw(st.lists(check_item(hosts, groups, True), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        inv["hooks"] = draw(hook_section(hosts, groups))
    if draw(st.integers(0, 4)) == 0:
        inv["notify"] = draw(
            st.fixed_dictionaries(
                {"webhook": st.sampled_from(["https://hooks.example/x", "mailto:x", ""])},
                optional={
                    "events": st.lists(st.sampled_from(["pause", "failure", "boom"])),
                    "timeout": durations,
                },
            )
        )
    return inv


# ---------------------------------------------------------------------------------------------------
# Mutations


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _containers(value: Any) -> set[int]:
    """The ids of every list and dict in ``value`` (itself included)."""
    out: set[int] = set()
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict | list) and id(v) not in out:
            out.add(id(v))
            todo.extend(v.values() if isinstance(v, dict) else v)
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """An inventory dict with 0-4 structural mutations: wrong types, junk, deletions, unknown keys,
    deep nesting, and shared (aliased) nodes."""
    data = draw(inventories())
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add-key", "deep", "share", "rename"]))
        if not path:
            if op == "replace":
                data = draw(junk)
            continue
        parent = _get(data, path[:-1])
        last = path[-1]
        if op == "replace":
            parent[last] = draw(junk)
        elif op == "delete":
            del parent[last]
        elif op == "add-key":
            target = parent[last]
            if isinstance(target, dict):
                target[draw(st.one_of(odd_text, st.sampled_from([*TOP_KEYS, *POLICY_KEYS, "pasword"])))] = (
                    draw(junk)
                )
            elif isinstance(target, list):
                target.append(draw(junk))
        elif op == "deep":
            parent[last] = draw(deep())
        elif op == "share":
            # the same Python object twice: yaml.safe_dump writes an anchor and an alias
            other = draw(st.sampled_from(paths))
            shared = _get(data, other) if other else None
            if other and id(parent) not in _containers(shared):  # never a cycle (that is a known crash)
                parent[last] = shared
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from([*TOP_KEYS, *POLICY_KEYS, "host", "polcy", ""]))] = parent.pop(last)
    return data


def dump(data: Any, flow: bool | None, unicode: bool) -> str:
    try:
        return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, sort_keys=False, width=60)
    except yaml.representer.RepresenterError:
        return yaml.safe_dump(repr(data))


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Inventory text: a dumped (mutated) structure, sometimes damaged at the text level."""
    text = dump(draw(mutated()), draw(st.sampled_from([None, False, True])), draw(st.booleans()))
    lines = text.splitlines()
    for _ in range(draw(st.integers(0, 3)) if draw(st.integers(0, 2)) == 0 else 0):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "indent", "dedent", "insert", "chars", "tab", "comment"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = "  " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][2:]
        elif op == "insert":
            lines.insert(
                i, draw(st.sampled_from(["- x", "x: [", "? a", "&a b", "*nowhere", "!!binary x", "%TAG"]))
            )
        elif op == "chars":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = (
                lines[i][:pos]
                + draw(st.text(alphabet=":-[]{}&*!|>'\"#%@` \t", min_size=1, max_size=3))
                + lines[i][pos:]
            )
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "comment":
            lines[i] = "# " + lines[i]
    return "\n".join(lines) + ("\n" if draw(st.booleans()) else "")


# ---------------------------------------------------------------------------------------------------
# The contract


def no_content(text: str) -> bool:
    """Nothing but blank lines and comments: there is no line to point at."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def write(text: str) -> Path:
    path = _WORK / f"inv-{next(_counter)}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_located(message: str, path: Path, text: str, *, line_owed: bool = True) -> None:
    shown = str(path)
    assert message.startswith(shown + ":"), f"the error does not start with the file name: {message!r}"
    if not line_owed or no_content(text):
        return
    line = re.match(re.escape(shown) + r":(\d+): ", message)
    assert line, f"the error does not name a line (FILE:LINE:): {message!r}"
    assert 1 <= int(line.group(1)) <= max(1, len(text.splitlines()) + 1), message


def load_or_error(text: str) -> Inventory | InventoryError:
    path = write(text)
    try:
        inv = load_inventory(path)
    except InventoryError as exc:
        assert exc.path == str(path)
        assert_located(str(exc), path, text)
        return exc
    # what loaded is usable
    assert inv.hosts and len({h.name for h in inv.hosts}) == len(inv.hosts)
    assert all(1 <= h.port <= 65535 for h in inv.hosts)
    for g in inv.groups.values():
        assert set(g.members) <= {h.name for h in inv.hosts}
    return inv


def cli_in_process(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def check_cli(path: Path, text: str, loaded: Inventory | InventoryError) -> None:
    """`slowroll check` (and `plan` when it passes) in process: exit 0 or 2, a located message."""
    code, out, err = cli_in_process("check", str(path))
    assert code in (0, 2), (code, out, err)
    if code == 2:
        assert err.startswith("slowroll: "), err
        assert_located(err.removeprefix("slowroll: ").strip(), path, text)
    elif isinstance(loaded, Inventory):
        code, out, err = cli_in_process("plan", "--json", str(path))
        assert code == 0, (out, err)


# ---------------------------------------------------------------------------------------------------
# Property tests


@FUZZ
@given(data=mutated(), flow=st.sampled_from([None, False, True]), unicode=st.booleans())
def test_structures_load_or_fail_with_file_and_line(data: Any, flow: bool | None, unicode: bool) -> None:
    load_or_error(dump(data, flow, unicode))


@settings(FUZZ, max_examples=examples(100))
@given(text=texts())
def test_damaged_text_loads_or_fails_with_file_and_line(text: str) -> None:
    result = load_or_error(text)
    check_cli(write(text), text, result)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(junk, deep(), st.binary(max_size=40)))
def test_any_document_at_all(value: Any) -> None:
    """Not an inventory at all: a scalar, a list, raw bytes -- still a located error, never a crash."""
    if isinstance(value, bytes):
        path = _WORK / f"bin-{next(_counter)}.yaml"
        path.write_bytes(value)
        try:
            load_inventory(path)
        except InventoryError as exc:
            assert str(exc).startswith(str(path) + ":")  # not UTF-8: a byte offset, not a line
        return
    load_or_error(dump(value, None, True))


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts())
def test_slowroll_check_subprocess_never_shows_a_traceback(text: str) -> None:
    """A sample through the real command line: exit 0 or 2, a located message, no traceback."""
    path = write(text)
    proc = subprocess.run(
        [*SLOWROLL, "check", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), (proc.returncode, proc.stderr)
    if proc.returncode == 2:
        assert proc.stderr.startswith("slowroll: "), proc.stderr
        message = proc.stderr.removeprefix("slowroll: ").strip()
        assert_located(message, path, text)
    else:
        assert proc.stdout.startswith(f"{path}: OK"), proc.stdout


# ---------------------------------------------------------------------------------------------------
# Examples the generator might find rarely, checked every time


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "hosts:\n",
        "hosts: []\n",
        "hosts: {}\n",
        "hosts: 7\n",
        "hosts: {web-01: {address: 10.0.0.1}}\nhosts: {}\n",
        "hosts: {a: 10.0.0.1}\n---\nhosts: {b: 10.0.0.2}\n",
        "hosts: {a: !!python/object:os.system x}\n",
        "hosts: {a: !!binary aGVsbG8=}\n",
        "hosts: {a: {address: 10.0.0.1, port: 1e999}}\n",
        "hosts: {a: 10.0.0.1}\npolicy: {reboot_timeout: 2024-01-01}\n",
        "hosts: {a: 10.0.0.1}\npolicy: {windows: {start: 2024-01-01, end: 22:00}}\n",
        "hosts: {a: 10.0.0.1}\npolicy: {batch: [], max_unavailable: .inf}\n",
        "hosts: {? [a, b] : 10.0.0.1}\n",
        "hosts: {null: 10.0.0.1, true: 10.0.0.2, 3: 10.0.0.3}\n",
        "hosts: {a: 10.0.0.1}\nchecks: [{command: 'echo {vars.x}'}]\n",
        "hosts: {a: 10.0.0.1}\nchecks: {command: true}\n",
        "hosts: {a: 10.0.0.1}\nvars: {password: x}\n",
        "hosts: {a: 10.0.0.1}\nvars: &v {x: 1}\ngroups: {g: {vars: *v, hosts: [a]}}\n",
        "\ufeffhosts: {a: 10.0.0.1}\n",
        "hosts:\n  a: 10.0.0.1\n\tb: 10.0.0.2\n",
        'hosts: {a: "\\u0000"}\n',
        'hosts: {"\\u2028": 10.0.0.1}\n',
        "hosts: {a: 10.0.0.1}\npolicy: {drift: {severity: {lost-unit: [block]}}}\n",
        "hosts: {a: 10.0.0.1}\npolicy: {drift: {exceptions: {lost-unit: {1: warn}}}}\n",
        "hosts: {a: 10.0.0.1}\npolicy: {drift: [severity]}\n",
    ],
)
def test_edge_inputs_load_or_fail_with_file_and_line(text: str) -> None:
    result = load_or_error(text)
    check_cli(write(text), text, result)


# ---------------------------------------------------------------------------------------------------
# Crashes the fuzzing found (fixed): each minimal input stays as a regression test


class Crashed(AssertionError):
    """The loader or the command line raised something other than InventoryError."""


def _expect_located_error(text: str) -> None:
    path = write(text)
    try:
        # (a RecursionError is re-raised short: formatting its 1,000-frame traceback takes seconds)
        with pytest.raises(InventoryError) as info:
            load_inventory(path)
        assert_located(str(info.value), path, text)
        code, _out, err = cli_in_process("check", str(path))
    except (RecursionError, ValueError, OverflowError) as exc:
        raise Crashed(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    assert code == 2 and "Traceback" not in err, (code, err)


@pytest.mark.parametrize("text", ["hosts: &a [*a]\n", "hosts: {a: 10.0.0.1}\nvars: &v {x: *v}\n"])
def test_recursive_alias_is_a_located_error(text: str) -> None:
    _expect_located_error(text)


def test_very_deep_nesting_is_a_located_error() -> None:
    _expect_located_error("hosts: " + "[" * 1000 + "]" * 1000 + "\n")


def test_special_character_error_names_the_line() -> None:
    _expect_located_error('hosts:\n  h1: 10.0.0.1\n  h2: "a\x01b"\n')


@pytest.mark.parametrize("text", ["[null]\n", "[web-01]\n"])
def test_yaml_list_is_not_taken_for_an_ini_file(text: str) -> None:
    path = write(text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert_located(str(info.value), path, text)  # the loader itself is right...
    code, _out, err = cli_in_process("check", str(path))
    assert code == 2
    assert_located(err.removeprefix("slowroll: ").strip(), path, text)  # ...the command line is not


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_infinite_or_nan_duration_is_a_located_error(value: str) -> None:
    _expect_located_error(f"hosts: {{a: 10.0.0.1}}\npolicy: {{bake: {value}}}\n")

"""Security on real hosts: hostile inventory values are never executed; secrets never leave the inventory.

- Host names, group names and vars full of ``;``, ``$(…)``, backticks, quotes, globs and newlines (where
  the loader allows them) go through check placeholders (``{name}``, ``{groups}``, ``{vars.X}``) and hooks
  (their environment) during a real roll. Each hostile value would create a marker file if a shell ever
  ran it; no marker may appear on the hosts or on this machine, and the checks' output must show each
  value literally.
- Secrets in vars (``api_token``, ``db_secret``, ``key_passphrase``, nested, group and host vars) are
  used on the host by a check, and must then appear nowhere: not in the JSON events, the plain log, the
  journal database (every text column, and the raw files), ``slowroll history`` or ``slowroll report``.
"""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real.helpers import (
    file_exists,
    plain,
    restore,
    run_roll,
    shared_lab,
    write_inventory,
)
from tests.reallab.lab import GoldenImage, Lab

pytestmark = pytest.mark.realhost

RUN = uuid.uuid4().hex[:8]  # markers and secrets of this run cannot be left over from another


def marker(tag: str) -> str:
    return f"/var/tmp/slowroll-pwned-{RUN}-{tag}"


@pytest.fixture(scope="module")
def lab(golden_image: GoldenImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with shared_lab(golden_image, tmp_path_factory.mktemp("security"), ("s1", "s2", "s3")) as lab:
        yield lab


@pytest.fixture(autouse=True)
def _restored(lab: Lab) -> Iterator[None]:
    yield
    restore(lab)


def markers_found(lab: Lab, tags: list[str]) -> list[str]:
    """Markers that exist on any host or on this machine (where local hooks and the console run)."""
    found = [f"{h.name}:{marker(t)}" for h in lab.hosts.values() for t in tags if file_exists(h, marker(t))]
    found += [f"console:{marker(t)}" for t in tags if Path(marker(t)).exists()]
    return found


# ---------------------------------------------------------------------------------------------------
# Hostile values


HOSTILE_NAMES = {
    "s1": f"semi;touch {marker('name-semi')};x",
    "s2": f"$(touch {marker('name-subst')})",
    "s3": f'`touch {marker("name-tick")}` it\'s "q" & |',
}
HOSTILE_GROUP = f"g'$(touch {marker('group')})'"
HOSTILE_VARS = {
    "subst": f"$(touch {marker('var-subst')})",
    "tick": f"`touch {marker('var-tick')}`",
    "quotes": f'it\'s "quoted" \' " \\ $HOME ; touch {marker("var-quotes")}',
    "newline": f"one\ntouch {marker('var-newline')}\nthree",
    "glob": "/*",
    "dash": "-n",
    "empty": "",
}
TAGS = ["name-semi", "name-subst", "name-tick", "group", "var-subst", "var-tick", "var-quotes", "var-newline"]
ECHO_ALL = "printf '<%s>\\n' {name} {groups} " + " ".join(f"{{vars.{k}}}" for k in HOSTILE_VARS)
ECHO_ENV = 'printf "<%s>\\n" "$SLOWROLL_HOST" "$SLOWROLL_GROUPS"'


def test_hostile_names_and_vars_in_checks_and_hooks_are_never_executed(lab: Lab, tmp_path: Path) -> None:
    named = {HOSTILE_NAMES[n]: lab.hosts[n] for n in ("s1", "s2", "s3")}
    before = {n: h.boot_ids() for n, h in named.items()}
    inv = write_inventory(
        lab,
        tmp_path / "hostile.yaml",
        named,
        {"batch": 3},
        vars=HOSTILE_VARS,
        groups={HOSTILE_GROUP: {"hosts": list(named), "max_unavailable": 3}},
        checks=[{"name": "echo", "command": ECHO_ALL}],
        hooks={
            "pre_reboot": [
                {"name": "on-host", "on": "host", "command": ECHO_ENV},
                {"name": "local", "on": "local", "command": ECHO_ENV},
            ]
        },
    )
    r = run_roll(inv, tmp_path / "state")

    assert r.returncode == 0, r.explain()
    assert sorted(r.summary["rebooted"]) == sorted(named), r.summary
    for name, host in named.items():
        # each value arrived as one argument, exactly as written
        values = [name, HOSTILE_GROUP, *HOSTILE_VARS.values()]
        expected = "".join(f"<{v}>\n" for v in values).strip()
        outputs = {(c["phase"], c["check"]): (c["ok"], c["output"]) for c in r.of("check", name)}
        assert outputs[("pre", "echo")] == (True, expected), outputs[("pre", "echo")]
        assert outputs[("post", "echo")] == (True, expected), outputs[("post", "echo")]
        for hook in ("hook on-host", "hook local"):
            assert outputs[("pre_reboot", hook)] == (True, f"<{name}>\n<{HOSTILE_GROUP}>"), outputs
        after = host.boot_ids()
        assert after[:-1] == before[name] and len(after) == len(before[name]) + 1  # pre and post both ran
    assert markers_found(lab, TAGS) == []


def test_hostile_unit_name_in_a_systemd_check_is_not_executed(lab: Lab, tmp_path: Path) -> None:
    s1 = lab.hosts["s1"]
    before = s1.boot_ids()
    unit = f"ssh.service;touch {marker('unit')}"
    inv = write_inventory(
        lab,
        tmp_path / "unit.yaml",
        [s1],
        vars={"unit": unit},
        checks=[{"name": "unit", "systemd": "{vars.unit}"}],
    )
    r = run_roll(inv, tmp_path / "state")

    assert r.returncode == 1, r.explain()  # no such unit: unhealthy before its reboot, not rebooted
    assert r.states("s1") == ["prechecking", "unhealthy"]
    assert s1.boot_ids() == before
    assert markers_found(lab, ["unit"]) == []


def test_newline_in_a_host_name_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nl.yaml"
    path.write_text(yaml.safe_dump({"hosts": {"a\nb": {"address": "10.213.7.99"}}}))
    proc = plain("check", path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"slowroll: {path}:2: hosts.a\nb: names cannot contain control characters")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("template", "host_name", "var"),
    [
        ("echo '{name}'", f"x y;touch {marker('quoted-single')};", "-"),
        ('echo "{vars.v}"', "s1", f"$(touch {marker('quoted-double')})"),
    ],
    ids=["single-quoted-name", "double-quoted-var"],
)
def test_placeholder_inside_quotes_in_a_template_is_not_executed(
    lab: Lab, tmp_path: Path, template: str, host_name: str, var: str
) -> None:
    s1 = lab.hosts["s1"]
    before = s1.boot_ids()
    inv = write_inventory(
        lab,
        tmp_path / "quoted.yaml",
        {host_name: s1},
        vars={"v": var},
        # the second check fails on purpose: the host is left unhealthy, not rebooted (the test is cheap)
        checks=[{"name": "quoted", "command": template}, {"name": "stop-here", "command": "false"}],
    )
    r = run_roll(inv, tmp_path / "state")

    # 1: ran, and stopped at the failing check; 2 would be a loader that refuses quoted placeholders
    assert r.returncode in (1, 2), r.explain()
    assert s1.boot_ids() == before
    tag = "quoted-single" if "name" in template else "quoted-double"
    assert markers_found(lab, [tag]) == [], "the value was executed by the host's shell"


# ---------------------------------------------------------------------------------------------------
# Secrets


SECRETS = {
    "api_token (fleet var)": f"tok-{RUN}-api",
    "db_secret (fleet var)": f"sec-{RUN}-db",
    "key_passphrase (fleet var)": f"pass-{RUN}-key",
    "auth_token (nested var)": f"tok-{RUN}-nested",
    "deploy_token (group var)": f"tok-{RUN}-group",
    "private_key (host var)": f"key-{RUN}-host",
}
WEBHOOK_TOKEN = f"T{RUN}/B{RUN}/hook{RUN}"  # the secret part of a Slack-style webhook URL


@dataclass
class SecretRun:
    outputs: dict[str, str]  # where -> text
    state: Path
    webhook_requests: list[tuple[str, str]]


class _Webhook(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.seen.append((self.path, self.rfile.read(length).decode()))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _secret_inventory(lab: Lab, path: Path, host: str, webhook: str) -> Path:
    h = lab.hosts[host]
    inv = write_inventory(
        lab,
        path,
        [h],
        vars={
            "api_token": SECRETS["api_token (fleet var)"],
            "db_secret": SECRETS["db_secret (fleet var)"],
            "key_passphrase": SECRETS["key_passphrase (fleet var)"],
            "service": {"endpoint": "https://api.example", "auth_token": SECRETS["auth_token (nested var)"]},
        },
        groups={"app": {"hosts": [host], "vars": {"deploy_token": SECRETS["deploy_token (group var)"]}}},
        # the secret is really used on the host: the check compares it with the token deployed there
        checks=[{"name": "token", "command": 'test "$(cat /etc/slowroll-api-token)" = {vars.api_token}'}],
        notify={"webhook": webhook, "events": ["pause", "failure", "complete"]},
    )
    data = yaml.safe_load(inv.read_text())
    data["hosts"][host]["vars"] = {"private_key": SECRETS["private_key (host var)"]}
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    return inv


@pytest.fixture(scope="module")
def secret_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretRun]:
    work = tmp_path_factory.mktemp("secrets")
    state = work / "state"
    handler = type("Webhook", (_Webhook,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{server.server_port}/services/{WEBHOOK_TOKEN}"
    try:
        for h in ("s1", "s2"):
            lab.hosts[h].run(f"echo {SECRETS['api_token (fleet var)']} > /etc/slowroll-api-token", check=True)
        outputs: dict[str, str] = {}
        # one roll with --json, one with the plain log, into the same journal
        r = run_roll(_secret_inventory(lab, work / "sec-json.yaml", "s1", webhook), state)
        assert r.returncode == 0, r.explain()
        assert {(c["phase"], c["ok"]) for c in r.of("check", "s1")} == {("pre", True), ("post", True)}
        outputs["run --json: stdout"] = json.dumps(r.events)
        outputs["run --json: stderr"] = r.stderr
        inv = _secret_inventory(lab, work / "sec-plain.yaml", "s2", webhook)
        proc = plain("run", inv, "--headless", "--state", state, timeout=90)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "check token (post): ✔ pass" in proc.stdout
        outputs["run --headless: stdout"] = proc.stdout
        outputs["run --headless: stderr"] = proc.stderr
        for args in (
            ("history",),
            ("history", "--json"),
            ("history", "--host", "s1"),
            ("report",),
            ("report", "1"),
            ("report", "--toml"),
        ):
            shown = plain(*args, "--state", state)
            assert shown.returncode == 0, shown.stderr
            outputs[f"slowroll {' '.join(args)}"] = shown.stdout + shown.stderr
        yield SecretRun(outputs, state, handler.seen)
    finally:
        server.shutdown()
        server.server_close()


def _db_texts(state: Path) -> dict[str, str]:
    """Every value of every column of every table, as text, per table.column."""
    out: dict[str, str] = {}
    db = sqlite3.connect(f"file:{state / 'slowroll.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        key = f"{table}.{column}"
                        out[key] = (
                            out.get(key, "")
                            + "\n"
                            + (value.decode("latin-1") if isinstance(value, bytes) else str(value))
                        )
    finally:
        db.close()
    return out


def _raw_files(state: Path) -> dict[str, str]:
    return {
        str(p.relative_to(state)): p.read_bytes().decode("latin-1") for p in state.rglob("*") if p.is_file()
    }


def test_secret_vars_were_really_used_and_redacted_in_the_stored_inventory(secret_run: SecretRun) -> None:
    texts = _db_texts(secret_run.state)
    stored = texts["rolls.inventory_text"]
    for key in ("api_token", "db_secret", "key_passphrase", "auth_token", "deploy_token", "private_key"):
        assert f"{key}: '<redacted>'" in stored, (key, stored)
    assert "endpoint: https://api.example" in stored  # only secret-looking keys are redacted


@pytest.mark.parametrize("secret", list(SECRETS))
def test_no_secret_var_in_logs_events_history_or_report(secret_run: SecretRun, secret: str) -> None:
    value = SECRETS[secret]
    leaks = [where for where, text in secret_run.outputs.items() if value in text]
    assert leaks == [], f"{secret} appears in: {leaks}"


@pytest.mark.parametrize("secret", list(SECRETS))
def test_no_secret_var_in_the_journal_database(secret_run: SecretRun, secret: str) -> None:
    value = SECRETS[secret]
    columns = [where for where, text in _db_texts(secret_run.state).items() if value in text]
    files = [where for where, text in _raw_files(secret_run.state).items() if value in text]
    assert (columns, files) == ([], []), f"{secret} appears in columns {columns}, files {files}"


def test_no_secret_var_in_webhook_notifications(secret_run: SecretRun) -> None:
    assert secret_run.webhook_requests, "no notification arrived"
    bodies = "\n".join(body for _path, body in secret_run.webhook_requests)
    assert [s for s, v in SECRETS.items() if v in bodies] == []
    assert WEBHOOK_TOKEN not in bodies


def test_webhook_url_secret_not_in_logs_history_or_report(secret_run: SecretRun) -> None:
    leaks = [where for where, text in secret_run.outputs.items() if WEBHOOK_TOKEN in text]
    assert leaks == []


def test_webhook_url_secret_not_in_the_journal_database(secret_run: SecretRun) -> None:
    columns = [where for where, text in _db_texts(secret_run.state).items() if WEBHOOK_TOKEN in text]
    files = [where for where, text in _raw_files(secret_run.state).items() if WEBHOOK_TOKEN in text]
    assert (columns, files) == ([], [])

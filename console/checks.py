"""Health checks: what they are (specs, parsed from the inventory) and how they run.

Per-host checks run over SSH on the host; service-level checks run on the console's machine and are
about the service as a whole (e.g. the load balancer's health URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .inventory import Host
    from .ssh import CommandResult

PLACEHOLDER = re.compile(r"(?<![$\\{])\{(name|address|port|user|groups|vars\.[A-Za-z_][A-Za-z0-9_-]*)\}")
OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class CheckSpec:
    name: str
    command: str
    kind: str = "command"  # command: over SSH on the host; local: on the console's machine
    timeout: float | None = None  # None: the policy's command_timeout
    retries: int = 0
    retry_delay: float = 1.0
    initial_delay: float = 0.0
    groups: tuple[str, ...] = ()  # empty: every host
    hosts: tuple[str, ...] = ()

    def applies_to(self, host: Host) -> bool:
        if not self.groups and not self.hosts:
            return True
        return host.name in self.hosts or any(g in self.groups for g in host.groups)

    def render(self, host: Host) -> str:
        """The command for ``host``: placeholders become shell-quoted values, never raw text."""
        return render_command(self.command, host)

    def scaled(self, speed: float) -> CheckSpec:
        from dataclasses import replace

        return replace(
            self,
            timeout=None if self.timeout is None else self.timeout / speed,
            retry_delay=self.retry_delay / speed,
            initial_delay=self.initial_delay / speed,
        )


def placeholder_value(name: str, host: Host) -> str | None:
    if name == "name":
        return host.name
    if name == "address":
        return host.address
    if name == "port":
        return str(host.port)
    if name == "user":
        return host.user or ""
    if name == "groups":
        return ",".join(host.groups)
    if name.startswith("vars."):
        key = name[5:]
        if key not in host.vars:
            return None
        return str(host.vars[key])
    return None


def render_command(template: str, host: Host) -> str:
    def sub(match: re.Match[str]) -> str:
        value = placeholder_value(match.group(1), host)
        if value is None:
            raise KeyError(match.group(1))
        return shlex.quote(value)

    return PLACEHOLDER.sub(sub, template)


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    ok: bool
    output: str
    duration: float
    attempts: int = 1
    exit_status: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "ok": self.ok,
            "output": self.output,
            "duration": round(self.duration, 3),
            "attempts": self.attempts,
            "exit_status": self.exit_status,
        }


class CommandRunner(Protocol):
    async def run(self, command: str, *, timeout: float) -> CommandResult: ...


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) > OUTPUT_LIMIT:
        return text[: OUTPUT_LIMIT - 20] + "\n… (output cut)"
    return text


async def run_host_check(
    spec: CheckSpec,
    host: Host,
    runner: CommandRunner,
    *,
    default_timeout: float,
    sleep: SleepFn | None = None,
) -> CheckOutcome:
    """Run one per-host check over SSH, with its retries."""
    from .ssh import SSHError

    timeout = spec.timeout if spec.timeout is not None else default_timeout
    command = spec.render(host)
    do_sleep = sleep or asyncio.sleep
    start = time.monotonic()
    outcome_text = ""
    status: int | None = None
    for attempt in range(1, spec.retries + 2):
        try:
            result = await runner.run(command, timeout=timeout)
        except SSHError as exc:
            outcome_text = str(exc)
            status = None
        else:
            status = result.exit_status
            outcome_text = _clip(result.stdout + (("\n" + result.stderr) if result.stderr.strip() else ""))
            if result.ok:
                return CheckOutcome(spec.name, True, outcome_text, time.monotonic() - start, attempt, status)
        if attempt <= spec.retries:
            await do_sleep(spec.retry_delay)
    if status is None and not outcome_text:
        outcome_text = "no answer"
    return CheckOutcome(spec.name, False, outcome_text, time.monotonic() - start, spec.retries + 1, status)


async def run_local_check(
    spec: CheckSpec,
    *,
    default_timeout: float,
    env: Mapping[str, str] | None = None,
    sleep: SleepFn | None = None,
) -> CheckOutcome:
    """Run one service-level check on the console's machine (``sh -c``; values only through env)."""
    timeout = spec.timeout if spec.timeout is not None else default_timeout
    do_sleep = sleep or asyncio.sleep
    start = time.monotonic()
    text = ""
    status: int | None = None
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    for attempt in range(1, spec.retries + 2):
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            spec.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            _kill_group(proc)
            await proc.wait()
            text = f"timed out after {timeout:g}s"
            status = None
        else:
            status = proc.returncode
            text = _clip(out.decode(errors="replace"))
            if status == 0:
                return CheckOutcome(spec.name, True, text, time.monotonic() - start, attempt, status)
        if attempt <= spec.retries:
            await do_sleep(spec.retry_delay)
    return CheckOutcome(spec.name, False, text, time.monotonic() - start, spec.retries + 1, status)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class SleepFn(Protocol):
    async def __call__(self, delay: float, /) -> None: ...


@dataclass
class CheckHistory:
    """The last outcome of every check on one host, for the detail view and the report."""

    outcomes: dict[str, CheckOutcome] = field(default_factory=dict)

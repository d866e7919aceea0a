"""Hooks around a host's reboot: ``pre_reboot`` (e.g. drain it from the load balancer) and ``post_reboot``
(return it), run on the console's machine or on the host, with a timeout.

The host's name, address and groups reach a hook through its environment (``SLOWROLL_HOST``,
``SLOWROLL_ADDRESS``, ``SLOWROLL_PORT``, ``SLOWROLL_GROUP``, ``SLOWROLL_GROUPS``, ``SLOWROLL_ROLL``,
``SLOWROLL_PHASE``) — never pasted into the command line. On the host, the variables are set with
``env NAME=<quoted value> sh -c <quoted command>``.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass

from console.model.host import Host
from console.model.specs import HookSpec
from console.remote.checks import OUTPUT_LIMIT, run_shell
from console.remote.result import Runner
from console.remote.ssh import SSHError


@dataclass(frozen=True)
class HookOutcome:
    hook: str
    phase: str
    ok: bool
    output: str
    duration: float


def hook_env(host: Host, phase: str, roll: str) -> dict[str, str]:
    return {
        "SLOWROLL_HOST": host.name,
        "SLOWROLL_ADDRESS": host.address,
        "SLOWROLL_PORT": str(host.port),
        "SLOWROLL_GROUP": host.groups[0] if host.groups else "",
        "SLOWROLL_GROUPS": ",".join(host.groups),
        "SLOWROLL_ROLL": roll,
        "SLOWROLL_PHASE": phase,
    }


def remote_command(command: str, env: Mapping[str, str]) -> str:
    """A shell line that runs ``command`` with ``env`` set, every value quoted."""
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"env {assigns} sh -c {shlex.quote(command)}"


async def run_hook(spec: HookSpec, host: Host, *, roll: str, session: Runner | None) -> HookOutcome:
    env = hook_env(host, spec.phase, roll)
    started = time.monotonic()
    if spec.where == "host":
        if session is None:
            return HookOutcome(spec.name, spec.phase, False, "no SSH session to the host", 0.0)
        try:
            result = await session.run(remote_command(spec.command, env), timeout=spec.timeout)
        except SSHError as exc:
            return HookOutcome(spec.name, spec.phase, False, str(exc), time.monotonic() - started)
        text = (result.stdout + ("\n" + result.stderr if result.stderr.strip() else "")).strip()
        ok = result.ok
        if not ok and not text:
            text = f"exit {result.exit_status}"
    else:
        ok, text, status = await run_shell(spec.command, spec.timeout, env=env)
        text = text.strip()
        if not ok and not text:
            text = f"exit {status}"
    return HookOutcome(spec.name, spec.phase, ok, text[-OUTPUT_LIMIT:], time.monotonic() - started)

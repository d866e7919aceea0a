"""The engine's conversations with one host: connect, read its boot id, its facts, run its checks and hooks.

Each one speaks for the roll: outcomes become events (``CheckRan``), and a boot id that can not be read
ends the host's cycle (``HostProblem``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from console.engine.core import Room
from console.engine.hostrun import HostProblem, HostRun
from console.model.events import CheckRan, HostState
from console.model.host import Host
from console.model.specs import CheckSpec, HookSpec
from console.remote.checks import CheckOutcome, run_host_check
from console.remote.facts import Facts
from console.remote.gather import gather_facts
from console.remote.hooks import run_hook
from console.remote.ssh import HostSession, SSHError, SSHErrorKind, SSHTarget


def target(host: Host) -> SSHTarget:
    return SSHTarget(host.name, host.address, host.port, host.user, host.explicit)


class HostIO(Room):
    async def connect(self, run: HostRun) -> HostSession:
        return await self.core.connector.connect(target(run.host), timeout=self.policy.connect_timeout)

    async def read_boot_id(self, session: HostSession) -> str:
        result = await session.run(self.policy.boot_id_command, timeout=self.policy.command_timeout)
        boot_id = result.stdout.strip()
        if not result.ok or not boot_id or len(boot_id) > 200 or "\n" in boot_id:
            raise HostProblem(
                HostState.UNHEALTHY,
                f"cannot read the boot id with {self.policy.boot_id_command!r}: "
                f"exit {result.exit_status}, {(result.stderr or result.stdout).strip()[:200]!r}",
            )
        return boot_id

    async def probe(self, run: HostRun) -> tuple[HostSession, str]:
        """A new connection and the boot id read on it."""
        session = await self.connect(run)
        try:
            return session, await self.read_boot_id(session)
        except BaseException:
            session.close()
            raise

    async def facts(self, run: HostRun, session: HostSession) -> Facts | None:
        """The host's facts for the drift audit; None when they could not be read or ``drift: off``."""
        if self.policy.drift is None:
            return None
        try:
            return await gather_facts(session, timeout=self.policy.command_timeout)
        except SSHError as exc:
            if exc.kind == SSHErrorKind.DISCONNECTED:
                raise
            self.core.log(f"could not gather facts: {exc}", run.name, "warn")
            return None

    async def checks(self, run: HostRun, session: HostSession, phase: str) -> str | None:
        """Run the host's checks at once; returns a description of the first failure, or None."""
        specs = self.core.inventory.checks_for(run.host)
        if not specs:
            return None

        async def one(spec: CheckSpec) -> CheckOutcome:
            if phase == "post" and spec.initial_delay:
                await asyncio.sleep(spec.initial_delay)
            return await run_host_check(spec, run.host, session, default_timeout=self.policy.command_timeout)

        outcomes = await asyncio.gather(*(one(s) for s in specs))
        failed = None
        for o in outcomes:
            previous = run.checks.get(o.check)
            run.checks[o.check] = o
            run.check_phase[o.check] = phase
            # Repeated passing bake checks are not news; everything else is.
            if phase != "bake" or not o.ok or previous is None or not previous.ok:
                self.core.emit(
                    CheckRan(
                        self.core.clock(), run.name, o.check, phase, o.ok, o.output, o.duration, o.attempts
                    )
                )
            if not o.ok and failed is None:
                last = o.output.strip().splitlines()[-1] if o.output.strip() else f"exit {o.exit_status}"
                failed = f"check {o.check} failed: {last}"
        return failed

    async def hooks(self, run: HostRun, hooks: Sequence[HookSpec], session: HostSession | None) -> str | None:
        """Run hooks in order; returns a description of the first failure (the rest are not run)."""
        for hook in hooks:
            outcome = await run_hook(hook, run.host, roll=self.core.inventory.name, session=session)
            self.core.emit(
                CheckRan(
                    self.core.clock(),
                    run.name,
                    f"hook {hook.name}",
                    hook.phase,
                    outcome.ok,
                    outcome.output,
                    outcome.duration,
                )
            )
            if not outcome.ok:
                last = outcome.output.strip().splitlines()[-1] if outcome.output.strip() else "failed"
                return f"{hook.phase} hook {hook.name} failed: {last}"
        return None

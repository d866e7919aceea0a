"""Waiting for a host to come back from its reboot with a new boot id.

Cheap TCP probes run every poll interval and overlap (a host that does not answer makes each one wait its
connect timeout), so a port that opens is seen within about one interval; only then is an SSH handshake
tried, one at a time per host, so a slice of hundreds of hosts coming back does not become a herd of key
exchanges. A refused connection (the host's network is up, its sshd not yet) is probed again after 50 ms,
then 100, 200... up to the interval: sshd is seen moments after it listens. Through a jump host there is
no direct TCP path: SSH probes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from console.engine.core import Core, Room
from console.engine.hostio import HostIO, target
from console.engine.hostrun import HostProblem, HostRun
from console.model.aio import Deadline, cancel_and_wait
from console.model.events import HostState
from console.remote.ssh import HostSession, SSHError, SSHErrorKind

REFUSED = "connection refused"
REFUSED_REPROBE = 0.05  # s: the first re-probe after a refused connection (then doubling)
OLD_BOOT = "answers with its old boot id"


class BootWait(Room):
    def __init__(self, core: Core, io: HostIO) -> None:
        super().__init__(core)
        self.io = io

    async def wait_for_new_boot_id(self, run: HostRun, deadline: Deadline) -> HostSession:
        """Poll (at least every ``poll_interval``) until the host answers SSH with a boot id other than before.

        Returns the session that read the new boot id; raises ``HostProblem`` at ``deadline`` (which moves
        back by the event loop's own lag: a stalled console is not a host that did not come back).
        """
        return await _Race(self, run, deadline).wait()

    async def tcp_probe(self, host: str, port: int) -> str | None:
        """None when the port accepts a connection; otherwise why not."""
        timeout = self.policy.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return f"{host}:{port}: no answer within {timeout:g}s"
        except ConnectionRefusedError:
            return f"{host}:{port}: {REFUSED}"
        except OSError as exc:
            return f"{host}:{port}: {exc.strerror or exc}"
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return None


class _Race:
    """One wait for a new boot id: overlapping TCP probes, one SSH probe at a time, and what they saw."""

    def __init__(self, room: BootWait, run: HostRun, deadline: Deadline) -> None:
        self.room = room
        self.core = room.core
        self.policy = room.policy
        self.run = run
        self.deadline = deadline
        self.loop = asyncio.get_running_loop()
        self.before = run.boot_id_before
        route = self.core.connector.route(target(run.host))
        self.hostname, self.port = route.hostname, route.port
        self.direct = not route.jumps
        self.tcp: set[asyncio.Task[str | None]] = set()
        self.ssh: asyncio.Task[tuple[HostSession, str]] | None = None
        self.max_parallel = max(1, min(8, math.ceil(self.policy.connect_timeout / self.policy.poll_interval)))
        self.last_error = "no answer yet"
        self.winner: HostSession | None = None
        self.refused = 0  # consecutive refused TCP probes
        self.next_start = self.loop.time()

    async def wait(self) -> HostSession:
        try:
            while self.winner is None:
                now = self.loop.time()
                if self.deadline.passed():
                    break
                if now >= self.next_start and self.ssh is None:
                    self._launch(now)
                wait_for = max(0.0, min(self.next_start, self.deadline.at) - self.loop.time())
                pending: set[asyncio.Future[Any]] = set(self.tcp) | (
                    {self.ssh} if self.ssh is not None else set()
                )
                if not pending:
                    await asyncio.sleep(wait_for)
                    continue
                done, _ = await asyncio.wait(pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not self.ssh:
                        self._tcp_done(task)
                    else:
                        self._ssh_done(task)
        finally:
            await self._stop()
        if self.winner is None:
            raise self._timed_out()
        return self.winner

    def _launch(self, now: float) -> None:
        """The next probe: TCP while the port is not known to be open, SSH through a jump host."""
        if self.direct and len(self.tcp) < self.max_parallel:
            self.tcp.add(asyncio.ensure_future(self.room.tcp_probe(self.hostname, self.port)))
        elif not self.direct:
            self.ssh = asyncio.ensure_future(self.room.io.probe(self.run))
        self.next_start = now + self.policy.poll_interval

    def _went_down(self, reason: str) -> None:
        self.last_error = reason
        run = self.run
        if run.state is HostState.REBOOTING:
            run.down_at = self.core.clock()
            self.core.set_host(run, HostState.DOWN, "not answering")

    def _tcp_done(self, task: asyncio.Future[str | None]) -> None:
        self.tcp.discard(task)
        closed = task.result()
        if closed is None:
            if self.ssh is None:
                self.ssh = asyncio.ensure_future(self.room.io.probe(self.run))  # the port is open: try SSH
            return
        self._went_down(closed)
        if closed.endswith(REFUSED):
            # Its network is up and sshd is about to listen: look again soon, backing off to the poll
            # interval if it stays refused (a host that refuses while down costs a handful of extra SYNs,
            # not one every 50 ms).
            self.refused += 1
            soon = min(self.policy.poll_interval, REFUSED_REPROBE * 2 ** (self.refused - 1))
            self.next_start = min(self.next_start, self.loop.time() + soon)
        else:
            self.refused = 0

    def _ssh_done(self, task: asyncio.Future[tuple[HostSession, str]]) -> None:
        self.ssh = None
        try:
            session, boot_id = task.result()
        except SSHError as exc:
            if exc.kind in (SSHErrorKind.HOSTKEY_CHANGED, SSHErrorKind.HOSTKEY_UNKNOWN):
                raise HostProblem(HostState.FAILED, f"refused after the reboot: {exc}") from exc
            if exc.kind == SSHErrorKind.AUTH:
                raise HostProblem(HostState.FAILED, f"after the reboot: {exc}") from exc
            self._went_down(str(exc))
            return
        except HostProblem as problem:
            self.last_error = problem.reason
            return
        if boot_id == self.before:
            session.close()  # still the old boot: the reboot has not happened yet
            self.last_error = f"{OLD_BOOT} {self.before}"
            return
        self.winner = session
        run = self.run
        if boot_id == run.boot_id_after and run.up_at is not None:
            return  # a retry of a host already back in this boot: its up time stays
        run.boot_id_after = boot_id
        run.rebooted = True
        run.up_at = self.core.clock()
        if run.down_at is None:
            run.down_at = run.up_at
        self.core.set_host(run, HostState.BOOTING, "back with a new boot id")

    async def _stop(self) -> None:
        leftovers: list[asyncio.Future[Any]] = [*self.tcp, *([self.ssh] if self.ssh is not None else [])]
        await cancel_and_wait(leftovers)
        for task in leftovers:  # a probe that won the race with its cancellation: close its session
            if task.done() and not task.cancelled() and task.exception() is None:
                result = task.result()
                if isinstance(result, tuple):
                    result[0].close()

    def _timed_out(self) -> HostProblem:
        self.run.timed_out = True  # if it comes back healthy after all, it is done late, not failed
        if self.run.down_at is None and self.last_error.startswith(OLD_BOOT):
            return HostProblem(
                HostState.FAILED,
                f"did not reboot: still up with its old boot id {self.before} {self.policy.reboot_timeout:g}s "
                f"after {self.policy.reboot_command!r} returned (a scheduled or refused reboot?)",
            )
        lag = self.deadline.extension
        waited = f" + {lag:.1f}s the console itself ran late" if lag >= 0.1 else ""
        return HostProblem(
            HostState.FAILED,
            f"not back with a new boot id within reboot_timeout "
            f"({self.policy.reboot_timeout:g}s{waited}); last: {self.last_error}",
        )

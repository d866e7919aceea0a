"""Small asyncio helpers shared by the engine and the notifier."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar, overload

_A = TypeVar("_A")
_B = TypeVar("_B")
_C = TypeVar("_C")


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, limit: float = 5.0) -> None:
    """Cancel the tasks and wait until they have ended, without raising their errors.

    Unlike ``await task`` under ``suppress(BaseException)``, a cancellation of the *caller* while it waits
    is not swallowed: it propagates, so a cancelled roll or console never keeps running here. A task that
    does not end within ``limit`` seconds of its cancellation (a library that swallowed it) is left
    behind, cancelled, rather than keeping the roll or the console from stopping.
    """
    tasks = list(tasks)
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=limit)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: never "exception was never retrieved"


@overload
async def together(a: Awaitable[_A], b: Awaitable[_B], /) -> tuple[_A, _B]: ...


@overload
async def together(a: Awaitable[_A], b: Awaitable[_B], c: Awaitable[_C], /) -> tuple[_A, _B, _C]: ...


async def together(*aws: Awaitable[Any]) -> tuple[Any, ...]:
    """Await all at once; on the first exception cancel the rest and raise it. Results in argument order."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        await cancel_and_wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return tuple(task.result() for task in tasks)


class Notifier:
    """Wakes every waiter on any change (a condition without a lock, for one event loop)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait(self, timeout: float | None = None) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            if timeout is None:
                await fut
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, timeout)
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)


class LoopLag:
    """How late this event loop has been: a ticker sleeps ``tick`` seconds and adds up how much later it woke.

    A busy machine (or a console doing CPU work on its loop) delays every timer alike: a host's deadline
    would pass while the probes that would have seen it back never got to run. ``Deadline`` moves itself
    back by the lag measured while it was running, so only the host's own slowness can make it pass.
    """

    def __init__(self, tick: float = 0.05, slack: float = 0.01) -> None:
        self.tick = tick
        self.slack = slack  # lateness below this is ordinary scheduling jitter, not lag
        self.total = 0.0  # seconds of lag seen since the ticker started
        self.worst = 0.0  # the longest single stall
        self.task: asyncio.Task[None] | None = None
        self._asked: float | None = None  # when the ticker's current sleep should end

    def seen(self) -> float:
        """The lag so far, including the ticker's own sleep if it is overdue right now (a stall in progress)."""
        if self._asked is None or not self.running:
            return self.total
        late = asyncio.get_running_loop().time() - self._asked
        return self.total + (late if late > self.slack else 0.0)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        while True:
            self._asked = asked = loop.time() + self.tick
            await asyncio.sleep(self.tick)
            self._asked = None
            late = loop.time() - asked
            if late > self.slack:
                self.total += late
                self.worst = max(self.worst, late)

    def deadline(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now that moves back by the lag seen until it is asked."""
        return Deadline(asyncio.get_running_loop().time() + seconds, self)


class Deadline:
    """A point in the loop's time, extended by the loop's own lag measured since it was set."""

    def __init__(self, at: float, lag: LoopLag | None = None) -> None:
        self.base = at
        self.lag = lag
        self.mark = lag.seen() if lag is not None else 0.0

    @property
    def extension(self) -> float:
        """Seconds added for the loop's lag since this deadline was set."""
        return self.lag.seen() - self.mark if self.lag is not None else 0.0

    @property
    def at(self) -> float:
        return self.base + self.extension

    def left(self) -> float:
        return self.at - asyncio.get_running_loop().time()

    def passed(self) -> bool:
        return self.left() <= 0

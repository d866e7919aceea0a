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

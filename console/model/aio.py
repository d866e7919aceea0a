"""Small asyncio helpers shared by the engine and the notifier."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


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

"""TCP ports on 127.0.0.1 for a simulated fleet (one per host and per tcp/http endpoint) and the open files
they cost. Ports are taken outside the kernel's ephemeral range, so a host can listen again after a reboot:
from a random start between PORT_LOW and PORT_HIGH upwards, then the rest of 1024-65535 (room for ~35,000).
"""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from console.model.errors import SlowrollError

PORT_LOW, PORT_HIGH = 20000, 32000
PORT_MIN = 1024
# Open files beyond one per listening port: connections in flight (the connector holds at most a few hundred
# at once, and `audit --sim` serves them in its own process), the journal, the Python runtime.
FILES_MARGIN = 1024
_T = TypeVar("_T")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (outgoing connections take their ports from it)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def port_order(start: int, ephemeral: tuple[int, int]) -> Iterator[int]:
    """Every port from 1024 to 65535 outside ``ephemeral``, once: from ``start`` upwards, then from 1024."""
    low, high = ephemeral
    start = max(start, PORT_MIN)
    for span in (range(start, 65536), range(PORT_MIN, start)):
        for port in span:
            if not low <= port <= high:
                yield port


def allocate_ports(
    count: int,
    order: Iterable[int],
    bind: Callable[[int], _T | None],
    *,
    ephemeral: tuple[int, int],
) -> list[tuple[int, _T]]:
    """The first ``count`` ports of ``order`` that ``bind`` takes (with what it returned); SlowrollError
    when there are not that many."""
    taken: list[tuple[int, _T]] = []
    for port in order:
        if len(taken) == count:
            break
        held = bind(port)
        if held is not None:
            taken.append((port, held))
    if len(taken) < count:
        for _, held in taken:
            if isinstance(held, socket.socket):
                held.close()
        raise SlowrollError(
            f"the simulated fleet needs {count} TCP ports on 127.0.0.1 (one per host and per tcp/http check "
            f"endpoint), but only {len(taken)} are free outside the ephemeral range "
            f"{ephemeral[0]}-{ephemeral[1]}: simulate fewer hosts"
        )
    return taken


def ensure_open_files(needed: int) -> None:
    """Raise the soft limit of open files to serve ``needed`` of them (up to the hard limit), or say why not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SlowrollError(
            f"the simulated fleet needs about {needed} open files and the limit is {soft} (hard {hard}): "
            "raise it (ulimit -n) or simulate fewer hosts"
        )

"""What running a command on a host gives back, and what can run one: ``HostSession`` over SSH, the
simulator in process. Checks, facts and hooks take any ``Runner``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    """What one remote command gave back. ``exit_status`` is None when it did not finish (timeout, cut)."""

    exit_status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class Runner(Protocol):
    # The timeout is the runner's to enforce (it kills the remote command), hence a parameter.
    async def run(self, command: str, *, timeout: float) -> CommandResult: ...

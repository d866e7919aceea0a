"""The simulated fleet in its own process (``slowroll sim``), as ``demo`` and ``run --sim`` use it.

A separate process keeps the simulator's work (thousands of SSH servers, key exchanges, fact scripts)
off the console's event loop, so a 2,000-host rehearsal behaves like a real fleet: hosts answer on
time and the screen stays responsive. It runs in its own session (the operator's Ctrl-C pauses the
roll, it must not take the fleet down mid-reboot) and dies with the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from console.model.errors import SlowrollError

READY_TIMEOUT = 300.0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the kernel ends the simulator with the console
    os.setsid()


class SimProcess:
    def __init__(
        self,
        inventory_path: str,
        out: Path,
        *,
        speed: float,
        faults: dict[str, set[str]],
        seed: int | None = None,
        policy: str | None = None,
    ) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "console.cli",
            "sim",
            inventory_path,
            "--out",
            str(out),
            "--speed",
            repr(speed),
        ]
        for host, kinds in faults.items():
            for kind in sorted(kinds):
                self.argv += ["--fault", f"{kind}@{host}"]
        if seed is not None:
            self.argv += ["--seed", str(seed)]
        if policy is not None:
            self.argv += ["--policy", policy]
        self.out = out
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def inventory_path(self) -> Path:
        return self.out / "inventory.yaml"

    @property
    def ledger_path(self) -> Path:
        return self.out / "ledger.jsonl"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            line = b""
        if b"serving" not in line:
            err = b""
            if self.proc.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    err = await asyncio.wait_for(self.proc.stderr.read(), 5)
            await self.stop()
            raise SlowrollError(
                f"the simulated fleet did not start: {(line + err).decode(errors='replace').strip()}"
            )

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

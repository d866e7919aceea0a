"""Helpers for console tests: a console over a real simulated fleet, and staged scenes for snapshots."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path

from rich.console import Console as RichConsole
from textual.pilot import Pilot
from textual.widgets import Static

from console.engine.facade import Engine
from console.load.native import parse_inventory
from console.model.events import (
    CheckRan,
    Event,
    HostState,
    HostStateChanged,
    LogLine,
    RollState,
    RollStateChanged,
    SliceStarted,
)
from console.model.findings import Finding, Severity
from console.remote.checks import CheckOutcome
from console.remote.facts import Facts, UnitState
from console.remote.ssh import Connector, SSHOptions
from console.tui.app import SlowrollApp
from console.tui.components.vocab import Clock
from tests.simlab import Roll, fleet_yaml, sim_roll

GROUPS = {"web": ["w1", "w2", "w3", "w4"], "db": ["d1", "d2"]}
BUDGETS = {"web": 2, "db": 1}
SIZE = (120, 40)


@dataclass
class Console:
    roll: Roll
    app: SlowrollApp
    pilot: Pilot[int]

    @property
    def engine(self) -> Engine:
        return self.roll.engine

    async def until(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        """Wait (on engine events and screen frames) until ``condition`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for a condition")
            await self.pilot.pause(0.02)

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await self.pilot.pause()

    async def start(self) -> None:
        await self.press("g")
        await self.press("y")
        assert self.engine.state is not RollState.READY

    def reboots(self) -> int:
        return len(self.roll.fleet.ledger)


@asynccontextmanager
async def console(
    tmp_path: Path,
    *,
    groups: dict[str, list[str]] | None = None,
    policy: str = "batch: 2\nbake: 0.1s",
    faults: dict[str, set[str]] | None = None,
    size: tuple[int, int] = SIZE,
    boot_time: float = 0.15,
    budgets: dict[str, object] | None = BUDGETS,
    audit_on_open: bool = False,
    notifications: bool = False,
) -> AsyncIterator[Console]:
    text = fleet_yaml(groups or GROUPS, budgets=budgets, policy=policy)
    async with sim_roll(tmp_path, text, faults=faults, boot_time=boot_time) as roll:
        app = SlowrollApp(roll.engine, simulated=True, speed=1.0, audit_on_open=audit_on_open)
        try:
            async with app.run_test(size=size, notifications=notifications) as pilot:
                yield Console(roll, app, pilot)
        finally:
            # Never leave the engine driving hosts of a fleet that is about to stop.
            if app.roll_task is not None and not app.roll_task.done():
                app.forced = True
            await asyncio.wait_for(app.settle_roll(), 20)


def plain(renderable: object, width: int = 120) -> str:
    """A Rich renderable as the text it shows."""
    out = RichConsole(width=width, record=True, file=io.StringIO(), color_system=None)
    out.print(renderable)
    return out.export_text()


def screen_text(app: SlowrollApp, widget_id: str) -> str:
    """The text a Static shows now (what the person sees, without colour)."""
    widget = app.query_one(f"#{widget_id}", Static)
    content = widget.content
    return str(getattr(content, "plain", content))


# ----------------------------------------------------------------------------------------------------
# Staged scenes: an engine over an inventory with no fleet, hosts set into fixed states.

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def frozen_clock(offset: float = 754.0) -> Clock:
    return Clock(now=lambda: T0 + offset, tz=UTC)


def staged_engine(tmp_path: Path, hosts: int = 24) -> Engine:
    groups = {
        "web": [f"web-{i:02d}" for i in range(1, hosts // 2 + 1)],
        "app": [f"app-{i:02d}" for i in range(1, hosts // 3 + 1)],
        "db": [f"db-{i:02d}" for i in range(1, hosts - hosts // 2 - hosts // 3 + 1)],
    }
    text = fleet_yaml(
        groups,
        budgets={"web": "25%", "app": "25%", "db": 1},
        policy="batch: [1, 2, '25%']\nmax_unavailable: '25%'\ncanaries: [web-01]\nbake: 60s",
    ).replace("name: test", "name: shop-prod")
    inv = parse_inventory(text, str(tmp_path / "inventory.yaml"))
    connector = Connector(SSHOptions(known_hosts=str(tmp_path / "known_hosts"), agent=False))
    return Engine(inv, connector, clock=lambda: T0, operator="oncall@console")


def big_app(tmp_path: Path, hosts: int = 2000) -> SlowrollApp:
    """A headless app over a staged running roll of ``hosts`` hosts (no SSH, not driven)."""
    engine = staged_engine(tmp_path, hosts=hosts)
    engine.state = RollState.RUNNING
    engine.started_at = T0
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    return SlowrollApp(engine, clock=frozen_clock(), env=env, theme="dark", drive=False)


def _facts(boot: str, uptime: float, kernel: str) -> Facts:
    return Facts(
        boot_id=boot,
        uptime_seconds=uptime,
        kernel_running=kernel,
        kernels_installed=(kernel, "6.1.0-28-amd64"),
        livepatches=(),
        tainted=0,
        reboot_required=kernel != "6.1.0-28-amd64",
        system_state="running",
    )


def stage_running(engine: Engine) -> list[Event]:
    """Slice 4 of a roll under way: some done, some in flight, one failed, one skipped, one unhealthy."""
    names = list(engine.hosts)
    done = ["web-01", "web-02", "web-03", "web-04", "app-01", "app-02", "db-01"]
    for i, name in enumerate(done):
        run = engine.hosts[name]
        run.state = HostState.DONE
        run.rebooted = True
        run.reboot_issued = True
        run.boot_id_before = f"{i:08x}-0000-4000-8000-00000000aaaa"
        run.boot_id_after = f"{i:08x}-0000-4000-8000-00000000bbbb"
        run.reboot_sent_at = T0 + 30 * i
        run.up_at = T0 + 30 * i + 41
        run.slice_index = min(i, 3)
        run.reason = "healthy"
    flight = {
        "web-05": HostState.REBOOTING,
        "web-06": HostState.DOWN,
        "app-03": HostState.CHECKING,
        "db-02": HostState.BAKING,
    }
    for name, state in flight.items():
        run = engine.hosts[name]
        run.state = state
        run.slice_index = 3
        run.reboot_issued = True
        run.boot_id_before = "11111111-2222-4333-8444-555555555555"
    failed = engine.hosts["web-07"]
    failed.state = HostState.FAILED
    failed.slice_index = 3
    failed.reboot_issued = True
    failed.rebooted = True
    failed.reason = "check http failed: curl: (7) Failed to connect to 127.0.0.1 port 80"
    skipped = engine.hosts["app-04"]
    skipped.state = HostState.SKIPPED
    skipped.skipped = True
    skipped.reason = "skipped by oncall@console"
    unhealthy = engine.hosts["db-03"]
    unhealthy.state = HostState.UNHEALTHY
    unhealthy.reason = "unhealthy before its reboot: check postgres failed"
    engine.state = RollState.RUNNING
    engine.started_at = T0
    engine.slice_index = 3
    engine.ramp_step = 3
    engine.current_slice = ("web-05", "web-06", "web-07", "app-03", "db-02")
    engine.slice_times = [95.0, 120.0, 130.0]
    assert len(names) == 24
    return [
        RollStateChanged(T0, RollState.READY, RollState.RUNNING, "started"),
        SliceStarted(T0 + 400, 3, engine.current_slice, False, "batch step 3: 25% → 6 host(s)"),
        HostStateChanged(
            T0 + 401, "web-05", HostState.PRECHECKING, HostState.REBOOTING, "reboot command sent"
        ),
        HostStateChanged(T0 + 402, "web-06", HostState.REBOOTING, HostState.DOWN, "not answering"),
        CheckRan(T0 + 430, "app-03", "app", "post", True, "", 0.1),
        CheckRan(
            T0 + 431,
            "web-07",
            "http",
            "post",
            False,
            "curl: (7) Failed to connect to 127.0.0.1 port 80 after 0 ms: Couldn't connect to server",
            2.0,
            3,
        ),
        HostStateChanged(T0 + 431, "web-07", HostState.CHECKING, HostState.FAILED, failed.reason),
        LogLine(T0 + 431, "web-07 failed (1 of max_failures 1); the roll goes on", "web-07", "warn"),
    ]


def stage_detail_host(engine: Engine) -> str:
    """web-07: failed after its reboot, with checks, findings, facts and a timeline."""
    run = engine.hosts["web-07"]
    run.boot_id_before = "5f0c2a4e-93c1-4b7e-9a51-0d6a3c1e2b7f"
    run.boot_id_after = "a7d91e02-6b3f-4c55-8e2d-4f1b9c0d3e6a"
    run.rebooted = True
    run.reboot_sent_at = T0 + 401
    run.down_at = T0 + 402
    run.up_at = T0 + 441
    ssh = UnitState("ssh.service", "loaded", "active", "running", "enabled", "success")
    run.facts_before = replace(
        _facts(run.boot_id_before, 97 * 86400, "6.1.0-26-amd64"),
        units={
            "ssh.service": ssh,
            "metrics-agent.service": UnitState(
                "metrics-agent.service", "loaded", "active", "running", "disabled", "success"
            ),
            "nginx-exporter.service": UnitState(
                "nginx-exporter.service", "loaded", "active", "running", "enabled", "success"
            ),
        },
    )
    run.facts_after = replace(
        _facts(run.boot_id_after, 35, "6.1.0-28-amd64"),
        units={
            "ssh.service": ssh,
            "nginx-exporter.service": UnitState(
                "nginx-exporter.service", "loaded", "failed", "failed", "enabled", "exit-code"
            ),
        },
    )
    run.checks = {
        "nginx": CheckOutcome("nginx", True, "", 0.05, 1, 0),
        "http": CheckOutcome(
            "http",
            False,
            "curl: (7) Failed to connect to 127.0.0.1 port 80 after 0 ms: Couldn't connect to server",
            2.0,
            3,
            7,
        ),
    }
    run.check_phase = {"nginx": "post", "http": "post"}
    run.findings = [
        Finding(
            "running-not-enabled",
            Severity.WARN,
            "metrics-agent.service",
            "metrics-agent.service runs but is not enabled: it will not start after the reboot",
            "",
            "before",
        ),
        Finding(
            "lost-unit",
            Severity.BLOCK,
            "nginx-exporter.service",
            "nginx-exporter.service ran before the reboot and is not running after it",
            "Nov 14 22:20:41 web-07 systemd[1]: nginx-exporter.service: Failed with result 'exit-code'.",
            "after",
        ),
    ]
    run.timeline = [
        (T0 + 400, "prechecking", ""),
        (T0 + 401, "rebooting", "reboot command sent"),
        (T0 + 402, "down", "not answering"),
        (T0 + 441, "booting", "back with a new boot id"),
        (T0 + 443, "checking", ""),
        (T0 + 450, "failed", run.reason),
    ]
    return "web-07"


def stage_paused(engine: Engine) -> list[Event]:
    events = stage_running(engine)
    for name in ("web-05", "web-06", "app-03", "db-02"):
        engine.hosts[name].state = HostState.DONE
    engine.state = RollState.PAUSED
    engine.auto_paused = True
    engine.reason = "web-07 failed: check http failed: curl: (7) Failed to connect to 127.0.0.1 port 80"
    engine.reason_host = "web-07"
    events.append(
        RollStateChanged(T0 + 431, RollState.RUNNING, RollState.PAUSING, engine.reason, "web-07", True)
    )
    events.append(
        RollStateChanged(T0 + 460, RollState.PAUSING, RollState.PAUSED, engine.reason, "web-07", True)
    )
    return events


def stage_complete(engine: Engine) -> list[Event]:
    """Every host rebooted and healthy but one skipped: the roll is over."""
    events = stage_running(engine)
    for run in engine.hosts.values():
        if run.state is not HostState.SKIPPED:
            run.state = HostState.DONE
    engine.state = RollState.COMPLETE
    events.append(RollStateChanged(T0 + 900, RollState.RUNNING, RollState.COMPLETE, "", None, False))
    return events


def staged_app(
    tmp_path: Path, stage: Callable[[Engine], list[Event]] | None, *, theme: str | None = "dark"
) -> SlowrollApp:
    engine = staged_engine(tmp_path)
    events = stage(engine) if stage is not None else []
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = SlowrollApp(
        engine, simulated=True, speed=20, clock=frozen_clock(), env=env, theme=theme, drive=False
    )
    for ev in events:
        app.handle_engine_event(ev)
    return app

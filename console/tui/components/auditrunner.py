"""The drift audit in the background: ``AuditRunner`` runs ``engine.audit()`` without blocking the console.

It runs only while the roll is READY (nothing is rebooted, one SSH round trip per host) and follows any
audit the engine runs itself (``policy.order: uptime | risk``); the engine keeps the result in
``engine.audit_results`` and the roll reuses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from console.drift.audit import FleetAudit
from console.engine.facade import Engine
from console.model.events import (
    AuditFinished,
    AuditStarted,
    Event,
    FindingsReported,
    HostAudited,
    HostStateChanged,
    RollState,
)
from console.tui.components.auditlines import summarize
from console.tui.components.vocab import Clock

AUTO_AUDIT_MAX = 300  # hosts audited by themselves when a simulated console opens
Notify = Callable[..., None]  # App.notify: (message, *, title, severity, timeout)


class AuditRunner:
    """Runs the fleet audit without blocking the console, and counts its progress.

    The engine says when an audit starts and ends and when each host is done (``AuditStarted``,
    ``HostAudited``, ``AuditFinished``): progress is the hosts it has reported on, reachable or not."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        notify: Notify,
        *,
        enabled: bool = True,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """``notify`` tells the operator (the app's ``notify``); ``enabled=False`` never starts an audit (a
        staged scene); ``on_end`` is called when an audit ends (the grid redraws its drift marks)."""
        self.engine = engine
        self.clock = clock
        self.notify = notify
        self.enabled = enabled
        self.on_end = on_end
        self.task: asyncio.Task[FleetAudit] | None = None
        self.running = False
        self.began: float | None = None  # time.monotonic() when the current (or last) audit began
        self.took: float | None = None
        self.finished_at: float | None = None  # wall clock, for "audited at"
        self.failure: str | None = None
        self.errors: dict[str, str] = {}  # unreachable hosts of the current (or last) audit
        self.version = 0  # bumped by anything that changes what the view shows
        self.audited: set[str] = set()  # hosts the current audit has reported on (HostAudited)
        self._unsubscribe: Callable[[], None] | None = self.engine.subscribe(self._on_event)

    # ---- what the engine says

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AuditStarted):
            self._begin()  # ours, or the engine's own (ordering by uptime or risk)
        elif isinstance(event, HostAudited):
            if self.running:
                self.audited.add(event.host)
                if event.error:
                    self.errors[event.host] = event.error
            self.version += 1
        elif isinstance(event, AuditFinished):
            if not self._ours_running():
                self._end()  # the engine's own audit; ours ends in _done, with its result
        elif isinstance(event, (FindingsReported, HostStateChanged)):
            self.version += 1

    def _ours_running(self) -> bool:
        return self.task is not None and not self.task.done()

    def _begin(self) -> None:
        if self.running:
            return
        self.running = True
        self.failure = None
        self.errors = {}
        self.began = time.monotonic()
        self.took = None
        self.audited = set()
        self.version += 1

    def _end(self) -> None:
        if not self.running:
            return
        self.running = False
        self.took = time.monotonic() - (self.began or time.monotonic())
        self.finished_at = self.clock.now()
        self.version += 1
        if self.on_end is not None:
            self.on_end()

    # ---- commands

    @property
    def can_start(self) -> bool:
        """Only before the roll (nothing in flight to disturb), and never in a staged scene."""
        return not self.running and self.engine.state is RollState.READY and self.enabled

    def start(self) -> bool:
        """Audit every host now (READY only); False when it cannot start."""
        if not self.can_start:
            return False
        self._begin()
        self.task = asyncio.ensure_future(self.engine.audit())
        self.task.set_name("slowroll console: engine.audit")
        self.task.add_done_callback(self._done)
        return True

    def start_on_open(self) -> None:
        """When the console opens (simulated fleets): audit a small fleet at once; a big one only on d
        (2,000 hosts take ~25 s of SSH and fact parsing on the console's loop, and g would wait for it)."""
        hosts = len(self.engine.hosts)
        if hosts <= AUTO_AUDIT_MAX:
            self.start()
        elif self.can_start:
            self.notify(
                f"d audits the {hosts} hosts for drift before the roll (one SSH round trip each; "
                "not started by itself on a fleet this big).",
                title="Drift audit",
                timeout=8,
            )

    def _done(self, task: asyncio.Task[FleetAudit]) -> None:
        self._end()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failure = repr(exc)
            self.notify(f"The drift audit failed: {exc!r}", severity="error", timeout=10)
            return
        counts = summarize(self.engine, self)
        severity = (
            "error"
            if counts.blocking
            else ("warning" if counts.warned or counts.unreachable else "information")
        )
        self.notify(
            f"{counts.sentence()}. d shows it.",
            title=f"Drift audit: {len(self.engine.hosts)} hosts",
            severity=severity,
            timeout=8,
        )

    async def settle(self) -> None:
        """Before the roll's first reboot: let a running audit finish (the roll reuses its result, and
        its facts must not land on a host the roll has already rebooted)."""
        task = self.task
        if task is None or task.done():
            return
        done, total = self.progress()
        self.notify(
            f"The roll starts when the drift audit has finished ({done} of {total} hosts so far).",
            timeout=6,
        )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the roll itself was cancelled while it waited: it must not start after all
        except Exception:
            pass  # an audit that failed does not hold the roll back

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- progress

    def progress(self) -> tuple[int, int]:
        """(hosts audited, hosts) of the audit under way."""
        hosts = len(self.engine.hosts)
        return (len(self.audited) if self.running else hosts), hosts

    def error_of(self, name: str) -> str | None:
        if name in self.errors:
            return self.errors[name]
        audit = self.engine.audit_results
        if audit is not None and not self.running:
            entry = audit.hosts.get(name)
            if entry is not None and entry.error and self.engine.hosts[name].facts_before is None:
                return entry.error
        return None

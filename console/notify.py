"""Webhook notifications: a JSON POST (Slack-compatible ``text`` plus structured fields) when a roll pauses,
a host fails, the roll waits for a maintenance window, and when it completes or is aborted.

``Notifier`` is an engine subscriber: ``engine.subscribe(notifier)``. The engine calls subscribers
synchronously on its event loop, so ``__call__`` only decides whether the event is news and queues it;
one task sends the queue in order. Delivery failures are retried, then recorded in ``notifier.failures``
and logged — never raised into the engine. ``await notifier.drain(timeout)`` before the process exits.

HTTP is the standard library's ``urllib.request`` in a worker thread (``asyncio.to_thread``): it brings
TLS with certificate and host name verification, SNI, redirects and the ``HTTPS_PROXY`` / ``NO_PROXY``
environment for free, where raw asyncio streams would need a hand-written HTTP client. A notification is
one small request now and then; a thread per request costs nothing that matters. See ``docs/notify.md``.

A webhook URL often carries its secret in the path (Slack: ``/services/T…/B…/TOKEN``): logs and recorded
failures show only ``scheme://host:port/…``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import http.client
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console import __version__
from console.model.aio import cancel_and_wait
from console.model.durations import SPACED, format_duration
from console.model.events import (
    PROBLEMS,
    Event,
    HostStateChanged,
    OperatorAction,
    RollFinished,
    RollState,
    RollStateChanged,
    WindowWait,
)
from console.model.inventory import NOTIFY_EVENTS, NotifySettings

log = logging.getLogger("slowroll.notify")

MAX_PENDING = 200  # beyond this, the oldest waiting notification is dropped (and recorded as a failure)
_PAUSED = (RollState.PAUSING, RollState.PAUSED)


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: no user info, path, query or fragment (they may hold a token)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<webhook>"
    if ":" in host:
        host = f"[{host}]"
    tail = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{tail}"


def slack_escape(text: str) -> str:
    """Slack's three control characters: a reason cannot become a link or an @channel mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Notification:
    """One message: ``event`` is pause, failure, window-wait, complete or abort."""

    event: str
    category: str  # the ``events`` filter it belongs to (abort belongs to complete)
    roll: str
    state: str  # the host's state for a failure, the roll's otherwise
    reason: str
    at: float
    text: str
    host: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "event": self.event,
            "roll": self.roll,
            "state": self.state,
            "host": self.host,
            "reason": self.reason,
            "at": _iso(self.at),
            **self.extra,
        }


@dataclass(frozen=True)
class DeliveryFailure:
    notification: Notification
    attempts: int
    error: str  # never contains the webhook's path or query
    at: float

    def __str__(self) -> str:
        return f"{self.notification.event} notification not delivered after {self.attempts} attempt(s): {self.error}"


class Notifier:
    """Sends webhook notifications for a roll's events; use as an engine subscriber."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        headers: Mapping[str, str] | None = None,
        events: Iterable[str] = NOTIFY_EVENTS,
        roll: str = "",
        retry_delay: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        on_failure: Callable[[DeliveryFailure], None] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a webhook needs an http:// or https:// URL, got {redact_url(url)}")
        unknown = [e for e in events if e not in NOTIFY_EVENTS]
        if unknown:
            raise ValueError(f"unknown notification events {unknown}; known: {', '.join(NOTIFY_EVENTS)}")
        self._url = url
        self.where = redact_url(url)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.retry_delay = retry_delay
        self.events = frozenset(events)
        self.roll = roll
        self.headers = {"Content-Type": "application/json", "User-Agent": f"slowroll/{__version__}"}
        self.headers.update(headers or {})
        self.ssl_context = ssl_context
        self.on_failure = on_failure
        self.sent: list[Notification] = []
        self.failures: list[DeliveryFailure] = []
        self._pending: collections.deque[Notification] = collections.deque()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._roll_state = RollState.READY.value
        self._last_pause_by: tuple[str, str] | None = None  # (who, why) of the last operator pause
        self._last_window: tuple[str, float | None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: NotifySettings,
        *,
        roll: str = "",
        on_failure: Callable[[DeliveryFailure], None] | None = None,
    ) -> Notifier:
        """From the inventory's ``notify:`` settings (``webhook``, ``events``, ``timeout``)."""
        return cls(
            settings.webhook,
            timeout=settings.timeout,
            events=settings.events,
            roll=roll,
            on_failure=on_failure,
        )

    def __repr__(self) -> str:
        return f"Notifier({self.where}, events={sorted(self.events)})"

    # -- the subscriber -----------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Queue a notification if ``event`` is news; returns at once and never raises."""
        try:
            n = self.notification_for(event)
        except Exception as exc:  # a surprise here must not reach the engine
            log.warning("notification skipped: cannot describe %r: %r", event.kind, exc)
            return
        if n is None or n.category not in self.events:
            return
        if len(self._pending) >= MAX_PENDING:
            dropped = self._pending.popleft()
            self._fail(dropped, 0, f"dropped: more than {MAX_PENDING} notifications waiting")
        self._pending.append(n)
        self._idle.clear()
        self._start()

    def _start(self) -> None:
        if self._worker is not None and not self._worker.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (yet): drain() sends them
        self._worker = loop.create_task(self._work(), name="webhook notifications")

    def notification_for(self, event: Event) -> Notification | None:
        """What to send for ``event`` (whatever the ``events`` filter says), or None if it is not news."""
        if isinstance(event, OperatorAction):
            if event.action == "pause":
                self._last_pause_by = (event.who, event.why)
            return None
        if isinstance(event, RollStateChanged):
            return self._pause(event)
        if isinstance(event, HostStateChanged):
            return self._failure(event)
        if isinstance(event, WindowWait):
            return self._window_wait(event)
        if isinstance(event, RollFinished):
            return self._finished(event)
        return None

    def _pause(self, event: RollStateChanged) -> Notification | None:
        old, new = event.old, event.new
        self._roll_state = new.value
        if new not in _PAUSED or old in _PAUSED:
            return None
        if event.automatic:
            who, text = None, f"paused by itself — {event.reason or 'no reason given'}"
        else:
            who, why = self._last_pause_by or (None, "")
            text = f"paused by {who or 'an operator'}" + (f" — {why}" if why else "")
        self._last_pause_by = None
        extra: dict[str, Any] = {"automatic": event.automatic}
        if who:
            extra["who"] = who
        text = self._text("⏸", text)
        return Notification(
            "pause", "pause", self.roll, new.value, event.reason, event.at, text, event.host, extra
        )

    def _failure(self, event: HostStateChanged) -> Notification | None:
        if event.new not in PROBLEMS or event.old == event.new:
            return None
        text = self._text("✘", f"{event.host} {event.new.value} — {event.reason or 'no reason given'}")
        return Notification(
            "failure", "failure", self.roll, event.new.value, event.reason, event.at, text, event.host
        )

    def _window_wait(self, event: WindowWait) -> Notification | None:
        key = (event.reason, event.until)
        if key == self._last_window:
            return None
        self._last_window = key
        opens = f"; next window opens {_iso(event.until)}" if event.until is not None else "; no window ahead"
        text = self._text("⏳", f"waiting for a maintenance window — {event.reason}{opens}")
        extra = {"until": _iso(event.until)} if event.until is not None else {}
        return Notification(
            "window-wait",
            "window-wait",
            self.roll,
            self._roll_state,
            event.reason,
            event.at,
            text,
            None,
            extra,
        )

    def _finished(self, event: RollFinished) -> Notification | None:
        if not event.state.final:
            return None  # stopped while paused: the pause was the news
        roll = self.roll or str(event.extra.get("roll", ""))
        lists = {
            "rebooted": list(event.rebooted),
            "failed": list(event.failed),
            "skipped": list(event.skipped),
            "untouched": list(event.untouched),
        }
        counts = ", ".join(f"{len(v)} {k}" for k, v in lists.items() if v or k == "rebooted")
        name = "complete" if event.state is RollState.COMPLETE else "abort"
        glyph = "✔" if name == "complete" and not event.failed else "✘"
        text = f"{event.state.value} — {counts} in {format_duration(event.duration, SPACED)}"
        if event.reason:
            text += f" — {event.reason}"
        extra = {**lists, "duration": round(event.duration, 3)}
        text = self._text(glyph, text, roll)
        return Notification(
            name, "complete", roll, event.state.value, event.reason, event.at, text, None, extra
        )

    def _text(self, glyph: str, text: str, roll: str | None = None) -> str:
        name = roll if roll is not None else self.roll
        head = f"{glyph} slowroll *{slack_escape(name)}*: " if name else f"{glyph} slowroll: "
        return head + slack_escape(" ".join(text.split()))

    # -- delivery -----------------------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while self._pending:
                n = self._pending[0]
                try:
                    await self._deliver(n)
                finally:
                    if self._pending and self._pending[0] is n:
                        self._pending.popleft()
        finally:
            if not self._pending:
                self._idle.set()

    async def _deliver(self, n: Notification) -> None:
        body = json.dumps(n.payload()).encode()
        error = ""
        for attempt in range(1, self.retries + 2):
            try:
                status = await asyncio.to_thread(self._post, body)
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} {exc.reason}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    self._fail(n, attempt, error + " (not retried)")
                    return
            except (OSError, ValueError, http.client.HTTPException) as exc:
                error = self._describe(exc)
            else:
                if 200 <= status < 300:
                    self.sent.append(n)
                    return
                error = f"HTTP {status}"
            if attempt <= self.retries:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        self._fail(n, self.retries + 1, error)

    def _post(self, body: bytes) -> int:
        request = urllib.request.Request(self._url, data=body, headers=self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
            response.read(65536)
            return int(response.status)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, urllib.error.URLError):
            reason = exc.reason
            text = str(reason) if not isinstance(reason, str) else reason
        else:
            text = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError) or "timed out" in text:
            text = f"no answer within {self.timeout:g}s ({text})"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        parts = urllib.parse.urlsplit(self._url)
        for secret in (self._url, parts.path, parts.query, parts.username or "", parts.password or ""):
            if secret and secret not in ("/",):
                text = text.replace(secret, "…")
        return text

    def _fail(self, n: Notification, attempts: int, error: str) -> None:
        failure = DeliveryFailure(n, attempts, self._scrub(error), time.time())
        self.failures.append(failure)
        log.warning("webhook %s: %s", self.where, failure)
        if self.on_failure is not None:
            with contextlib.suppress(Exception):
                self.on_failure(failure)

    async def drain(self, timeout: float) -> bool:
        """Send what is queued, waiting at most ``timeout`` seconds; True when nothing is left.

        What could not be sent in time is recorded in ``failures``; nothing raises.
        """
        if self._pending:
            self._start()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            pass
        worker, self._worker = self._worker, None
        left = list(self._pending)
        self._pending.clear()
        if worker is not None:
            await cancel_and_wait([worker])
        for n in left:
            self._fail(n, 0, f"not confirmed within the drain timeout ({timeout:g}s) before exit")
        self._idle.set()
        return False

"""Webhook notifications against real local HTTP(S) servers on 127.0.0.1, and from a real simulated roll."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.model.events import (
    CheckRan,
    HostState,
    HostStateChanged,
    LogLine,
    OperatorAction,
    RollFinished,
    RollState,
    RollStateChanged,
    WindowWait,
)
from console.notify import Notifier, redact_url, slack_escape
from tests.simlab import fleet_yaml, sim_roll

TOKEN = "T0000/B0000/XXXXsecretXXXX"
AT = 1_700_000_000.0


@dataclass
class Hook:
    """A webhook receiver: answers each POST with the next scripted status (200 once the script is over)."""

    script: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/services/{TOKEN}"

    def bodies(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests]


@contextlib.contextmanager
def serve(script: list[int] | None = None, *, tls: ssl.SSLContext | None = None) -> Iterator[Hook]:
    hook = Hook(script=list(script or []), scheme="https" if tls else "http")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"null")}
            )
            status = hook.script.pop(0) if hook.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts TCP connections (the kernel completes them) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/services/{TOKEN}"
    finally:
        sock.close()


def pause_auto() -> RollStateChanged:
    return RollStateChanged(
        AT, RollState.RUNNING, RollState.PAUSING, "w2 failed: check health failed", "w2", automatic=True
    )


def host_failed(host: str = "w2", reason: str = "check health failed: exit 1") -> HostStateChanged:
    return HostStateChanged(AT, host, HostState.CHECKING, HostState.FAILED, reason)


def finished(state: RollState = RollState.COMPLETE, **kw: Any) -> RollFinished:
    values: dict[str, Any] = {
        "rebooted": ("w1", "w3"),
        "failed": ("w2",),
        "skipped": (),
        "untouched": (),
        "reason": "done, with 1 problem host(s)",
        "duration": 125.0,
        "extra": {"roll": "shop-prod"},
    }
    values.update(kw)
    return RollFinished(AT, state, **values)


async def test_payload_shape_and_slack_text(tmp_path: Path) -> None:
    with serve() as hook:
        n = Notifier(hook.url, roll="shop-prod", headers={"X-Team": "infra"})
        n(pause_auto())
        n(host_failed())
        n(WindowWait(AT, "outside Sat 22:00-06:00", AT + 3600))
        n(finished())
        assert await n.drain(10)
    assert n.failures == [] and len(n.sent) == 4
    assert all(r["path"] == f"/services/{TOKEN}" for r in hook.requests)
    headers = hook.requests[0]["headers"]
    assert headers["Content-Type"] == "application/json" and headers["X-Team"] == "infra"
    assert headers["User-Agent"].startswith("slowroll/")
    pause, failure, window, complete = hook.bodies()
    assert pause == {
        "text": "⏸ slowroll *shop-prod*: paused by itself — w2 failed: check health failed",
        "event": "pause",
        "roll": "shop-prod",
        "state": "pausing",
        "host": "w2",
        "reason": "w2 failed: check health failed",
        "at": "2023-11-14T22:13:20Z",
        "automatic": True,
    }
    assert failure == {
        "text": "✘ slowroll *shop-prod*: w2 failed — check health failed: exit 1",
        "event": "failure",
        "roll": "shop-prod",
        "state": "failed",
        "host": "w2",
        "reason": "check health failed: exit 1",
        "at": "2023-11-14T22:13:20Z",
    }
    assert window["event"] == "window-wait" and window["until"] == "2023-11-14T23:13:20Z"
    assert window["text"] == (
        "⏳ slowroll *shop-prod*: waiting for a maintenance window — outside Sat 22:00-06:00; "
        "next window opens 2023-11-14T23:13:20Z"
    )
    assert complete["event"] == "complete" and complete["state"] == "complete"
    assert (
        complete["rebooted"] == ["w1", "w3"]
        and complete["failed"] == ["w2"]
        and complete["duration"] == 125.0
    )
    assert complete["text"] == (
        "✘ slowroll *shop-prod*: complete — 2 rebooted, 1 failed in 2m 05s — done, with 1 problem host(s)"
    )
    for body in hook.bodies():
        assert set(body) >= {"text", "event", "roll", "state", "host", "reason", "at"}


async def test_operator_pause_abort_and_what_is_not_news() -> None:
    with serve() as hook:
        n = Notifier(hook.url, roll="shop-prod")
        n(OperatorAction(AT, "pause", None, "alice@console", "lunch"))
        n(RollStateChanged(AT, RollState.RUNNING, RollState.PAUSING, "lunch"))
        n(RollStateChanged(AT, RollState.PAUSING, RollState.PAUSED, "lunch"))  # the same pause, settled
        n(HostStateChanged(AT, "w1", HostState.BAKING, HostState.DONE, "healthy"))
        n(
            HostStateChanged(AT, "w2", HostState.FAILED, HostState.FAILED, "skipped", None, True)
        )  # a skip marker
        n(CheckRan(AT, "w1", "health", "bake", False, "exit 1", 0.1))
        n(LogLine(AT, "hello"))
        n(WindowWait(AT, "outside", None))
        n(WindowWait(AT + 5, "outside", None))  # the same wait again: not news
        n(finished(RollState.PAUSED))  # the console stopped while paused: the pause was the news
        n(finished(RollState.ABORTED, reason="aborted by bob@console", failed=()))
        n(object())  # not an event at all
        assert await n.drain(10)
    events = [(b["event"], b["state"]) for b in hook.bodies()]
    assert events == [("pause", "pausing"), ("window-wait", "paused"), ("abort", "aborted")]
    pause, window, abort = hook.bodies()
    assert pause["text"] == "⏸ slowroll *shop-prod*: paused by alice@console — lunch"
    assert pause["who"] == "alice@console" and pause["automatic"] is False and pause["host"] is None
    assert "until" not in window and window["text"].endswith("no window ahead")
    assert abort["text"].startswith("✘ slowroll *shop-prod*: aborted — 2 rebooted in 2m 05s — aborted by bob")


async def test_events_filter_and_slack_control_characters_are_escaped() -> None:
    with serve() as hook:
        n = Notifier(hook.url, roll="r", events=["failure"])
        n(pause_auto())
        n(host_failed(reason="<!channel> disk & <http://x|click>"))
        n(finished())
        assert await n.drain(10)
    (body,) = hook.bodies()
    assert body["event"] == "failure"
    assert body["text"] == "✘ slowroll *r*: w2 failed — &lt;!channel&gt; disk &amp; &lt;http://x|click&gt;"
    assert body["reason"] == "<!channel> disk & <http://x|click>"  # the structured field is the raw text
    assert slack_escape("a<b>&") == "a&lt;b&gt;&amp;"


async def test_the_subscriber_never_sends_from_the_engines_call() -> None:
    with serve() as hook:
        n = Notifier(hook.url)
        n(host_failed())
        assert hook.requests == [] and n.sent == []  # queued: only the task sends
        assert await n.drain(10)
        assert len(hook.requests) == 1 and len(n.sent) == 1


async def test_retries_on_server_errors_then_delivers() -> None:
    with serve([500, 503]) as hook:
        n = Notifier(hook.url, retries=2, retry_delay=0.01)
        n(host_failed())
        assert await n.drain(10)
    assert len(hook.requests) == 3 and len(n.sent) == 1 and n.failures == []
    assert hook.bodies()[0] == hook.bodies()[2]


async def test_gives_up_after_the_retries_and_logs_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []
    with serve([500, 500, 500, 404]) as hook, caplog.at_level(logging.WARNING, "slowroll.notify"):
        n = Notifier(hook.url, retries=2, retry_delay=0.01, on_failure=seen.append)
        n(host_failed())
        n(host_failed("w3"))  # a 404 is not retried
        assert await n.drain(10)
    assert len(hook.requests) == 4 and n.sent == []
    first, second = n.failures
    assert (first.attempts, first.error) == (3, "HTTP 500 Internal Server Error")
    assert second.attempts == 1 and second.error.startswith("HTTP 404")
    assert seen == n.failures
    logged = caplog.text
    assert f"http://127.0.0.1:{hook.port}/…" in logged and "HTTP 500" in logged
    assert "secret" not in logged and "services" not in logged
    assert all("secret" not in str(f) for f in n.failures)
    assert "secret" not in repr(n)


async def test_a_server_that_never_answers_times_out_and_drain_still_returns() -> None:
    with silent_server() as url:
        n = Notifier(url, timeout=0.3, retries=1, retry_delay=0.01)
        n(host_failed())
        assert await n.drain(10)
        assert n.sent == [] and len(n.failures) == 1
        assert n.failures[0].attempts == 2 and "no answer within 0.3s" in n.failures[0].error
        # A drain shorter than the delivery gives up on what is left, without raising.
        slow = Notifier(url, timeout=5, retries=0)
        slow(host_failed())
        slow(host_failed("w3"))
        assert await slow.drain(0.2) is False
        assert [f.notification.host for f in slow.failures] == ["w2", "w3"]
        assert all("not confirmed" in f.error for f in slow.failures)


async def test_connection_refused_is_a_recorded_failure() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    n = Notifier(f"http://127.0.0.1:{port}/hook", retries=0)
    n(host_failed())
    assert await n.drain(10)
    assert len(n.failures) == 1 and "refused" in n.failures[0].error.lower()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with serve(tls=server_ctx) as hook:
        untrusted = Notifier(hook.url, retries=0)
        untrusted(host_failed())
        assert await untrusted.drain(10)
        assert untrusted.sent == [] and "CERTIFICATE_VERIFY_FAILED" in untrusted.failures[0].error
        trusted = Notifier(hook.url, retries=0, ssl_context=ssl.create_default_context(cafile=str(cert)))
        trusted(host_failed())
        assert await trusted.drain(10)
    assert len(trusted.sent) == 1 and trusted.failures == []
    assert [b["event"] for b in hook.bodies()] == ["failure"]


def test_urls_are_checked_and_redacted() -> None:
    assert redact_url(f"https://hooks.slack.com/services/{TOKEN}") == "https://hooks.slack.com/…"
    assert redact_url("http://user:pw@[::1]:8080/x?token=1") == "http://[::1]:8080/…"
    assert redact_url("https://example.org") == "https://example.org"
    with pytest.raises(ValueError, match="http:// or https://"):
        Notifier("ftp://example.org/x")
    with pytest.raises(ValueError, match="unknown notification events"):
        Notifier("http://127.0.0.1/x", events=["pause", "reboot"])


def test_from_settings_takes_the_inventory_notify_section() -> None:
    @dataclass(frozen=True)
    class Settings:
        webhook: str
        events: tuple[str, ...]
        timeout: float

    n = Notifier.from_settings(Settings("http://127.0.0.1:9/h", ("pause",), 2.5), roll="shop")
    assert (n.timeout, n.events, n.roll) == (2.5, frozenset({"pause"}), "shop")


async def test_a_real_roll_with_a_failing_host_sends_exactly_the_expected_notifications(
    tmp_path: Path,
) -> None:
    text = fleet_yaml({"web": ["w1", "w2"]}, budgets={"web": 2}, policy="batch: 1")
    with serve() as hook:
        async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
            notifier = Notifier(hook.url, roll=roll.inventory.name, retry_delay=0.01)
            roll.engine.subscribe(notifier)
            first = await roll.engine.run()
            assert first.state is RollState.PAUSED  # w1 failed: the roll paused by itself
            roll.engine.resume(who="bob@console", why="w1 is known bad")
            second = await roll.engine.run()
            assert second.state is RollState.COMPLETE
            assert await notifier.drain(10)
    assert notifier.failures == []
    bodies = hook.bodies()
    assert [(b["event"], b["host"], b["state"]) for b in bodies] == [
        ("failure", "w1", "failed"),
        ("pause", "w1", "pausing"),
        ("complete", None, "complete"),
    ]
    failure, pause, complete = bodies
    assert "simulated check failure on w1" in failure["reason"]
    assert pause["automatic"] is True and pause["reason"].startswith("w1 failed: check health failed")
    assert complete["rebooted"] == ["w2"] and complete["failed"] == ["w1"]
    assert all(b["roll"] == "test" for b in bodies)

"""Health checks: how they run (their specs are ``console.model.specs.CheckSpec``, read by
``console.load.checks``).

Per-host checks (``checks:``) run before a host's reboot, after it and during its bake:
``command`` (a shell line over SSH on the host), ``systemd`` (a unit active, over SSH), ``tcp`` (a port
open, from the console's side) and ``http`` (status and optional body match, from the console's side).

Service-level checks (``service_checks:``) are about the service, not a host: before every slice and
repeatedly during bake; a failure pauses the roll. Kinds: ``command`` (on the console's machine),
``tcp``, ``http`` and ``prometheus`` (the alert gate: fails while alerts matching a regex are firing).

HTTP uses the standard library (``http.client`` in a worker thread): a check is one small request, the
console makes at most a few per second, and no third-party client is worth its upgrade churn for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from console.model.host import Host
from console.model.specs import CheckSpec
from console.remote.result import Runner
from console.remote.ssh import SSHError

OUTPUT_LIMIT = 4000


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    ok: bool
    output: str
    duration: float
    attempts: int = 1
    exit_status: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "ok": self.ok,
            "output": self.output,
            "duration": round(self.duration, 3),
            "attempts": self.attempts,
            "exit_status": self.exit_status,
        }


class SleepFn(Protocol):
    async def __call__(self, delay: float, /) -> None: ...


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) > OUTPUT_LIMIT:
        return text[: OUTPUT_LIMIT - 20] + "\n… (output cut)"
    return text


Attempt = Callable[[float], Awaitable[tuple[bool, str, int | None]]]


async def _with_retries(
    spec: CheckSpec, attempt: Attempt, timeout: float, sleep: SleepFn | None
) -> CheckOutcome:
    do_sleep = sleep or asyncio.sleep
    start = time.monotonic()
    text = ""
    status: int | None = None
    for n in range(1, spec.retries + 2):
        ok, text, status = await attempt(timeout)
        if ok:
            return CheckOutcome(spec.name, True, _clip(text), time.monotonic() - start, n, status)
        if n <= spec.retries:
            await do_sleep(spec.retry_delay)
    return CheckOutcome(
        spec.name, False, _clip(text) or "no answer", time.monotonic() - start, spec.retries + 1, status
    )


async def run_host_check(
    spec: CheckSpec,
    host: Host,
    runner: Runner,
    *,
    default_timeout: float,
    sleep: SleepFn | None = None,
) -> CheckOutcome:
    """Run one per-host check (over SSH for command/systemd; from the console for tcp/http), with retries."""
    timeout = spec.timeout if spec.timeout is not None else default_timeout
    target = spec.render(host)

    async def over_ssh(t: float) -> tuple[bool, str, int | None]:
        try:
            result = await runner.run(target, timeout=t)
        except SSHError as exc:
            return False, str(exc), None
        text = result.stdout + (("\n" + result.stderr) if result.stderr.strip() else "")
        return result.ok, text, result.exit_status

    async def tcp(t: float) -> tuple[bool, str, int | None]:
        hostname, port = _host_port(target, host.address)
        return await tcp_probe(hostname, port, t)

    async def http_check(t: float) -> tuple[bool, str, int | None]:
        return await http_probe(target, t, status=spec.status, body=spec.body, insecure=spec.insecure)

    attempt: Attempt = {"tcp": tcp, "http": http_check}.get(spec.kind, over_ssh)
    return await _with_retries(spec, attempt, timeout, sleep)


async def run_local_check(
    spec: CheckSpec,
    *,
    default_timeout: float,
    env: Mapping[str, str] | None = None,
    sleep: SleepFn | None = None,
) -> CheckOutcome:
    """Run one service-level check on the console's machine."""
    timeout = spec.timeout if spec.timeout is not None else default_timeout

    async def shell(t: float) -> tuple[bool, str, int | None]:
        return await run_shell(spec.command, t, env=env)

    async def tcp(t: float) -> tuple[bool, str, int | None]:
        hostname, port = _host_port(spec.command, None)
        return await tcp_probe(hostname, port, t)

    async def http_check(t: float) -> tuple[bool, str, int | None]:
        return await http_probe(spec.command, t, status=spec.status, body=spec.body, insecure=spec.insecure)

    async def prometheus(t: float) -> tuple[bool, str, int | None]:
        return await prometheus_gate(spec.command, spec.alerts, t, insecure=spec.insecure)

    attempt: Attempt = {"tcp": tcp, "http": http_check, "prometheus": prometheus}.get(spec.kind, shell)
    return await _with_retries(spec, attempt, timeout, sleep)


# ---------------------------------------------------------------------------------------------------
# Probes


async def run_shell(
    command: str, timeout: float, *, env: Mapping[str, str] | None = None
) -> tuple[bool, str, int | None]:
    """``sh -c command`` on the console's machine; values reach it through ``env``, never pasted in."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=full_env,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"timed out after {timeout:g}s", None
    return proc.returncode == 0, out.decode(errors="replace"), proc.returncode


def _host_port(text: str, default_host: str | None) -> tuple[str, int]:
    text = text.strip()
    if text.isdigit():
        if default_host is None:
            raise ValueError(f"tcp check needs host:port, got {text!r}")
        return default_host, int(text)
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str, int | None]:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return False, f"tcp {host}:{port}: no answer within {timeout:g}s", None
    except OSError as exc:
        return False, f"tcp {host}:{port}: {exc.strerror or exc}", None
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True, f"tcp {host}:{port} open", None


def _http_get(url: str, timeout: float, insecure: bool) -> tuple[int, str, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "slowroll", "Accept": "*/*"})
        resp = conn.getresponse()
        data = resp.read(256 * 1024)
        return resp.status, resp.reason, data.decode("utf-8", errors="replace")
    finally:
        conn.close()


def _safe_url(url: str) -> str:
    """The URL without credentials or query (which may carry tokens), for messages."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def http_probe(
    url: str, timeout: float, *, status: tuple[int, ...] = (), body: str | None = None, insecure: bool = False
) -> tuple[bool, str, int | None]:
    shown = _safe_url(url)
    try:
        code, reason, text = await asyncio.wait_for(
            asyncio.to_thread(_http_get, url, timeout, insecure), timeout + 1
        )
    except TimeoutError:
        return False, f"GET {shown}: no answer within {timeout:g}s", None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return False, f"GET {shown}: {exc}", None
    accepted = code in status if status else 200 <= code < 400
    if not accepted:
        want = ", ".join(map(str, status)) if status else "2xx/3xx"
        return False, f"GET {shown}: {code} {reason} (expected {want})\n{text[:300]}", code
    if body is not None and not re.search(body, text):
        return (
            False,
            f"GET {shown}: {code} {reason}, but the body does not match /{body}/\n{text[:300]}",
            code,
        )
    return True, f"GET {shown}: {code} {reason}", code


async def prometheus_gate(
    url: str, alerts: str, timeout: float, *, insecure: bool = False
) -> tuple[bool, str, int | None]:
    """Fails while alerts whose name matches ``alerts`` are firing (as kured's alert gate)."""
    api = url.rstrip("/") + "/api/v1/alerts"
    shown = _safe_url(api)
    try:
        code, reason, text = await asyncio.wait_for(
            asyncio.to_thread(_http_get, api, timeout, insecure), timeout + 1
        )
    except TimeoutError:
        return False, f"prometheus {shown}: no answer within {timeout:g}s", None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return False, f"prometheus {shown}: {exc}", None
    if code != 200:
        return False, f"prometheus {shown}: {code} {reason}", code
    try:
        data = json.loads(text)
        items = data["data"]["alerts"]
    except (ValueError, KeyError, TypeError):
        return False, f"prometheus {shown}: unexpected answer {text[:200]!r}", code
    pattern = re.compile(alerts)
    firing = sorted(
        {
            str(a.get("labels", {}).get("alertname", "?"))
            for a in items
            if a.get("state") == "firing" and pattern.search(str(a.get("labels", {}).get("alertname", "")))
        }
    )
    if firing:
        return False, f"alerts firing: {', '.join(firing)}", code
    return True, f"no alert matching /{alerts}/ is firing", code

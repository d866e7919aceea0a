"""The TCP and HTTP endpoints of a simulated host, on 127.0.0.1: what its ``tcp:`` and ``http:`` checks probe.

An endpoint listens while its host is up and its service healthy; while the host reboots its port is held
(bound, not listening: connections are refused, as from a machine that is down). An HTTP endpoint answers
every request with the status and body its check accepts (``rehearse.answer``), or 503 while its host's
health fault says the service is failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable
from http import HTTPStatus

REQUEST_LIMIT = 64 * 1024


def hold(port: int) -> socket.socket | None:
    """A socket bound to 127.0.0.1:``port`` and not listening (no SO_REUSEADDR: nobody can share it), or
    None when the port is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    return s


class Endpoint:
    """One port of a simulated host: a bare TCP listener, or an HTTP server with one answer."""

    def __init__(
        self,
        port: int,
        *,
        http: bool,
        status: int,
        body: str,
        failing: Callable[[bool], str | None],
        held: socket.socket | None = None,
    ) -> None:
        self.port = port
        self.http = http
        self.status = status
        self.body = body
        self.failing = failing  # failing(flap): the host's health fault now (a reason), or None when healthy
        self.requests = 0
        self._held = held
        self._server: asyncio.AbstractServer | None = None

    async def open(self) -> None:
        """Listen (a ``tcp`` endpoint only while its service is healthy: a failing port refuses)."""
        if self._server is not None or (not self.http and self.failing(False) is not None):
            return
        if self._held is not None:
            self._held.close()
            self._held = None
        for attempt in range(50):
            try:
                self._server = await asyncio.start_server(
                    self._serve, "127.0.0.1", self.port, reuse_address=True, limit=REQUEST_LIMIT
                )
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 49:
                    raise
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop listening and hold the port until the host is back."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        if self._held is None:
            self._held = hold(self.port)

    def release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.http:
                await self._answer(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        self.requests += 1
        failure = self.failing(True)
        status, body = (503, f"simulated failure: {failure}\n") if failure else (self.status, self.body)
        data = body.encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        with contextlib.suppress(Exception):  # the client closes first: no TIME_WAIT left on this port
            await asyncio.wait_for(reader.read(), 2)

"""Check kinds against real servers on loopback: command/systemd over SSH, tcp, http(s), Prometheus alerts."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.load.native import parse_inventory
from console.model.errors import InventoryError
from console.model.host import Host
from console.model.specs import CheckSpec
from console.remote.checks import run_host_check, run_local_check
from console.remote.ssh import Connector, SSHOptions, SSHTarget
from tests.simlab import fleet_yaml, sim_roll

REQUIRE = os.environ.get("SLOWROLL_REQUIRE_REALHOST") == "1"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(3)
        code = 500 if self.path.startswith("/broken") else 200
        body = b"status: ok" if code == 200 else b"boom"
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout test)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[str]:
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


HOST = Host("h1", "127.0.0.1")


async def local(spec: CheckSpec) -> tuple[bool, str]:
    o = await run_local_check(spec, default_timeout=2)
    return o.ok, o.output


async def test_http_checks(web: str) -> None:
    assert (await local(CheckSpec("a", f"{web}/health", kind="http", scope="service")))[0]
    ok, out = await local(CheckSpec("b", f"{web}/broken", kind="http", scope="service"))
    assert not ok and "500" in out and "expected 2xx/3xx" in out
    assert (await local(CheckSpec("c", f"{web}/broken", kind="http", scope="service", status=(500,))))[0]
    assert (await local(CheckSpec("d", f"{web}/x", kind="http", scope="service", body=r"status: ok")))[0]
    ok, out = await local(CheckSpec("e", f"{web}/x", kind="http", scope="service", body=r"^nope"))
    assert not ok and "does not match" in out
    ok, out = await local(CheckSpec("f", f"{web}/slow", kind="http", scope="service", timeout=0.5))
    assert not ok and "no answer within" in out


async def test_https_verifies_certificates_unless_insecure(tls_web: str) -> None:
    ok, out = await local(CheckSpec("v", f"{tls_web}/", kind="http", scope="service"))
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in out
    assert (await local(CheckSpec("i", f"{tls_web}/", kind="http", scope="service", insecure=True)))[0]


async def test_tcp_checks_and_retries() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        spec = CheckSpec("t", str(port), kind="tcp")
        assert (await run_host_check(spec, HOST, None, default_timeout=1)).ok  # type: ignore[arg-type]
        ok, out = await local(CheckSpec("s", f"127.0.0.1:{port}", kind="tcp", scope="service"))
        assert ok and "open" in out
    finally:
        server.close()
        await server.wait_closed()
    o = await run_host_check(
        CheckSpec("t", str(port), kind="tcp", retries=2, retry_delay=0.01),
        HOST,
        None,  # type: ignore[arg-type]
        default_timeout=1,
    )
    assert not o.ok and o.attempts == 3


async def test_systemd_and_command_checks_over_ssh_on_the_simulator(tmp_path: Path) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        h = roll.inventory.host("w1")
        conn = Connector(
            SSHOptions(
                known_hosts=roll.inventory.ssh.known_hosts,
                identity_files=roll.inventory.ssh.identity_files,
                agent=False,
            )
        )
        session = await conn.connect(SSHTarget(h.name, h.address, h.port, h.user), timeout=5)
        try:
            good = await run_host_check(
                CheckSpec("ssh", "ssh.service", kind="systemd"), h, session, default_timeout=3
            )
            assert good.ok and good.output == "active"
            bad = await run_host_check(
                CheckSpec("nope", "nope.service", kind="systemd"), h, session, default_timeout=3
            )
            assert not bad.ok and "inactive" in bad.output
        finally:
            session.close()


@pytest.mark.parametrize(
    ("checks", "key", "words"),
    [
        ("checks:\n  - {name: a, prometheus: 'http://x'}\n", "checks[0].prometheus", "unknown key"),
        ("service_checks:\n  - {name: a, systemd: x.service}\n", "service_checks[0].systemd", "unknown key"),
        ("checks:\n  - {name: a, http: 'ftp://x'}\n", "checks[0].http", "http:// or https://"),
        ("checks:\n  - {name: a, tcp: 'abc'}\n", "checks[0].tcp", "a port or host:port"),
        ("service_checks:\n  - {name: a, tcp: 80}\n", "service_checks[0].tcp", "needs host:port"),
        ("checks:\n  - {name: a, command: 'true', http: 'http://x'}\n", "checks[0]", "exactly one of"),
        ("checks:\n  - {name: a, http: 'http://x', body: '('}\n", "checks[0].body", "regular expression"),
        (
            "checks:\n  - {name: a, command: 'true', status: 200}\n",
            "checks[0].status",
            "only applies to http",
        ),
    ],
)
def test_check_kind_errors(checks: str, key: str, words: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory("hosts:\n  a: x\n" + checks, "inv.yaml")
    assert info.value.key == key and words in str(info.value)


# ---------------------------------------------------------------------------------------------------
# The Prometheus alert gate, against a real Prometheus server (Debian's package)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        if REQUIRE:
            pytest.fail("prometheus is not installed (apt-get install prometheus)")
        pytest.skip("prometheus is not installed (Debian package 'prometheus')")
    port = _free_port()
    (tmp_path / "rules.yml").write_text(
        textwrap.dedent("""\
        groups:
          - name: test
            interval: 1s
            rules:
              - alert: NodeDown
                expr: vector(1)
                labels: {severity: page}
              - alert: NeverFires
                expr: vector(1) == 2
    """)
    )
    (tmp_path / "prometheus.yml").write_text(
        textwrap.dedent("""\
        global: {evaluation_interval: 1s, scrape_interval: 1h}
        rule_files: [rules.yml]
    """)
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Ready when the first rule evaluation has made NodeDown fire (the readiness API, then the alert).
        deadline = time.monotonic() + 60
        import json
        import urllib.request

        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=1) as resp:
                    if any(a["state"] == "firing" for a in json.load(resp)["data"]["alerts"]):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "prometheus did not evaluate its rules in time"
            time.sleep(0.2)  # polling a server we started; no event to await
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_prometheus_gate_blocks_while_matching_alerts_fire(prometheus: str) -> None:
    ok, out = await local(CheckSpec("alerts", prometheus, kind="prometheus", scope="service", alerts="^Node"))
    assert not ok and out == "alerts firing: NodeDown"
    ok, out = await local(
        CheckSpec("alerts", prometheus, kind="prometheus", scope="service", alerts="^Never")
    )
    assert ok, out


async def test_prometheus_gate_pauses_a_roll_before_any_reboot(tmp_path: Path, prometheus: str) -> None:
    extra = f"service_checks:\n  - name: alerts\n    prometheus: '{prometheus}'\n    alerts: '^NodeDown$'\n"
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1", "w2"]}, extra=extra)) as roll:
        result = await roll.engine.run()
        assert result.state.value == "paused"
        assert "alerts firing: NodeDown" in result.reason
        assert not roll.fleet.ledger

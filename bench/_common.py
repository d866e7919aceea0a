"""Shared helpers for the benchmarks in bench/ (not a benchmark itself)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SLOWROLL = str(Path(sys.executable).parent / "slowroll")


def result(metric: str, value: float, unit: str, target: str, met: bool, *, digits: int = 3) -> str:
    """One comparable line per target: ``RESULT <metric>=<value> <unit> target=<target> met|missed``."""
    line = f"RESULT {metric}={value:.{digits}f} {unit} target={target} {'met' if met else 'missed'}"
    print(line, flush=True)
    return line


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit (children inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        with contextlib.suppress(ValueError, OSError):  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        want = hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _die_with_parent() -> None:
    """In a child between fork and exec: the kernel sends it SIGTERM when this process dies."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, math.ceil(p / 100 * len(s)) - 1)
    return s[min(k, len(s) - 1)]


def machine() -> str:
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return f"{os.cpu_count()} cores, {mem / 1024:.1f} GiB RAM, Python {sys.version.split()[0]}"


def fleet_inventory(
    path: Path,
    n_hosts: int,
    policy: dict[str, object],
    *,
    checks: bool = True,
    name: str = "bench",
    prefix: str = "h",
) -> Path:
    """An inventory of ``n_hosts`` hosts in one group whose budget never limits the slice size."""
    width = max(4, len(str(n_hosts)))
    hosts = {
        f"{prefix}{i:0{width}d}": {"address": f"192.0.2.{1 + i % 250}", "groups": ["fleet"]}
        for i in range(n_hosts)
    }
    data: dict[str, object] = {
        "name": name,
        "ssh": {"user": "root"},
        "policy": policy,
        "groups": {"fleet": {"max_unavailable": "100%"}},
        "hosts": hosts,
    }
    if checks:
        data["checks"] = [{"name": "health", "command": "curl -fsS http://127.0.0.1/healthz"}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class SimServer:
    """Simulated fleet in its own process: ``slowroll sim``, or bench/simserve.py for a jitter or port range.

    ``with SimServer(...) as sim:`` waits for its ``ready`` file; on exit (also on errors) it is stopped
    with SIGTERM (then SIGKILL), so no server outlives the benchmark.
    """

    def __init__(
        self,
        inventory: Path,
        out: Path,
        *,
        boot_time: float | None = None,
        jitter: float | None = None,
        seed: int = 1,
        nofile: int | None = None,
        ready_timeout: float = 600,
        ports: tuple[int, int] | None = None,
    ) -> None:
        self.inventory = inventory
        self.out = out
        self.boot_time = boot_time
        self.jitter = jitter
        self.seed = seed
        self.nofile = nofile
        self.ready_timeout = ready_timeout
        self.ports = ports
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0
        self._t0 = 0.0

    @property
    def twin(self) -> Path:
        return self.out / "inventory.yaml"

    @property
    def ledger(self) -> Path:
        return self.out / "ledger.jsonl"

    def command(self) -> list[str]:
        if self.jitter is None and self.ports is None:
            cmd = [SLOWROLL, "sim", str(self.inventory), "--out", str(self.out), "--seed", str(self.seed)]
        else:
            cmd = [sys.executable, str(BENCH / "simserve.py"), str(self.inventory), "--out", str(self.out)]
            cmd += ["--seed", str(self.seed), "--jitter", str(0.2 if self.jitter is None else self.jitter)]
            if self.ports is not None:
                cmd += ["--ports", f"{self.ports[0]}-{self.ports[1]}"]
        if self.boot_time is not None:
            cmd += ["--boot-time", str(self.boot_time)]
        return cmd

    def _preexec(self) -> None:
        _die_with_parent()
        if self.nofile:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            n = self.nofile if hard == resource.RLIM_INFINITY else min(self.nofile, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))

    def start(self) -> None:
        """Start the process (do not wait): several simulators can start side by side."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "ready").unlink(missing_ok=True)
        self._t0 = time.monotonic()
        with open(self.out / "sim.log", "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=self._preexec
            )

    def wait_ready(self) -> None:
        assert self.proc is not None
        try:
            while not (self.out / "ready").exists():
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"simulator exited with {self.proc.returncode}: "
                        + (self.out / "sim.log").read_text(errors="replace")[-2000:]
                    )
                if time.monotonic() - self._t0 > self.ready_timeout:
                    raise RuntimeError(f"simulator not ready within {self.ready_timeout:g}s")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - self._t0

    def __enter__(self) -> SimServer:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def read_ledger(self) -> list[dict[str, object]]:
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def sim_servers(servers: Sequence[SimServer]) -> Iterator[Sequence[SimServer]]:
    """Start several simulator processes side by side (all ready, or all stopped)."""
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()


# ---------------------------------------------------------------------------------------------------
# The machine is shared: say how busy the rest of it was while a benchmark ran.


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid → (ppid, CPU seconds so far) for every process."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[int, float]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def _mine(table: dict[int, tuple[int, float]]) -> set[int]:
    me = os.getpid()
    mine = {me}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return mine


class OtherLoad:
    """CPU seconds used by processes that are not this benchmark (nor its children) between start and stop."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        table = _proc_table()
        mine = _mine(table)
        self.before = {pid: cpu for pid, (_, cpu) in table.items() if pid not in mine}

    def stop(self) -> str:
        table = _proc_table()
        mine = _mine(table)
        used = sum(cpu - self.before.get(pid, 0.0) for pid, (_, cpu) in table.items() if pid not in mine)
        took = time.monotonic() - self.t0
        load = os.getloadavg()[0]
        return (
            f"other processes on this machine used {used:.1f} CPU-s during the {took:.0f} s run "
            f"({used / took / (os.cpu_count() or 1):.0%} of the machine); load average now {load:.2f}"
        )


def wait_quiet(max_wait: float, *, busy: float = 0.25, sample: float = 5.0) -> str:
    """Wait (at most ``max_wait`` s) until other processes use less than ``busy`` of the machine."""
    t0 = time.monotonic()
    while True:
        probe = OtherLoad()
        time.sleep(sample)
        table = _proc_table()
        used = sum(
            cpu - probe.before.get(pid, 0.0) for pid, (_, cpu) in table.items() if pid not in _mine(table)
        )
        share = used / sample / (os.cpu_count() or 1)
        if share < busy:
            return f"machine quiet ({share:.0%} busy) after {time.monotonic() - t0:.0f} s"
        if time.monotonic() - t0 >= max_wait:
            return f"machine still {share:.0%} busy after waiting {max_wait:.0f} s: figures are disturbed"


def add_quiet_option(parser: Any) -> None:
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="S",
        help="first wait up to S seconds for other processes to leave the machine (default: 600 for a full "
        "run, 0 with --quick)",
    )


def settle(args: Any) -> OtherLoad:
    """Print the machine, wait for quiet if asked, and start counting other processes' CPU."""
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    wait = args.wait_quiet if args.wait_quiet is not None else (0.0 if args.quick else 600.0)
    if wait > 0:
        print(wait_quiet(wait), flush=True)
    return OtherLoad()

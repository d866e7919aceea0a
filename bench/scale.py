"""Scale: a fleet-wide audit (``slowroll audit INVENTORY --json``: facts from every host) of 1,000, 5,000
and 10,000 simulated hosts; its wall time and the console process's peak memory.

The simulator runs in its own processes, at most 2,000 hosts each (``--per-shard``), each with its own
``--out``: ``bench/simserve.py``, which is ``slowroll sim`` plus a port range, because ``slowroll sim``
takes every port from 20000–32000 — 12,000 ports for every simulator on the machine, fewer than a
10,000-host fleet needs when anyone else runs one; here each shard gets its own slice of 1100–32700.
Each shard makes its own client key, so the merged inventory names hosts by a per-shard alias
(``address: simK``) and an ssh config (``--ssh-config``) maps ``simK`` to 127.0.0.1 and that shard's key;
the shards' known_hosts are merged into one file. The shards are started once, for the largest size; a
smaller audit takes hosts round-robin across the shards. Open-file limits are raised with ``setrlimit``
for the shards and the console (both inherit it from this script).

The console is a child process; its peak memory is ``ru_maxrss`` from ``wait4``, its CPU time from the
same ``rusage``, the shards' CPU time from ``/proc``: the machine's two cores serve both sides of every
SSH handshake here, where a real fleet's hosts bring their own CPUs.

    .venv/bin/python bench/scale.py                # 1,000 / 5,000 / 10,000 hosts
    .venv/bin/python bench/scale.py --quick        # 200 / 1,000 hosts
    .venv/bin/python bench/scale.py --profile      # then a py-spy profile of the largest audit
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from _common import (
    BENCH,
    SLOWROLL,
    SimServer,
    add_quiet_option,
    fleet_inventory,
    raise_nofile,
    result,
    settle,
    sim_servers,
)

TARGET_SECONDS = {10_000: 60.0}
TARGET_MB = 300.0
NOFILE = 65536


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process, seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PORTS = (1100, 32700)  # below the ephemeral range (32768-60999 here)


def start_shards(total: int, per_shard: int, work: Path) -> list[SimServer]:
    n = math.ceil(total / per_shard)
    width = (PORTS[1] - PORTS[0]) // n
    servers = []
    for k in range(n):
        count = min(per_shard, total - k * per_shard)
        # names are distinct across shards: s<k>h<index>
        inv = fleet_inventory(
            work / f"shard{k}.yaml", count, {}, checks=False, name=f"shard{k}", prefix=f"s{k}h"
        )
        ports = (PORTS[0] + k * width, PORTS[0] + (k + 1) * width)
        servers.append(SimServer(inv, work / f"shard{k}", nofile=NOFILE, ready_timeout=900, ports=ports))
    return servers


def merged_inventory(servers: list[SimServer], size: int, work: Path) -> tuple[Path, Path]:
    """An inventory of ``size`` hosts taken round-robin across shards, plus the ssh config naming keys."""
    known = work / "known_hosts"
    known.write_text("".join(s.out.joinpath("known_hosts").read_text() for s in servers))
    config = work / "ssh_config"
    config.write_text(
        "".join(
            f"Host sim{k}\n  HostName 127.0.0.1\n  IdentityFile {s.out / 'client_key'}\n"
            for k, s in enumerate(servers)
        )
    )
    per: list[list[tuple[str, int]]] = []
    for s in servers:
        twin = yaml.safe_load(s.twin.read_text())
        per.append([(name, spec["port"]) for name, spec in twin["hosts"].items()])
    hosts: dict[str, dict[str, object]] = {}
    i = 0
    while len(hosts) < size:
        k = i % len(per)
        j = i // len(per)
        if j < len(per[k]):
            name, port = per[k][j]
            hosts[name] = {"address": f"sim{k}", "port": port}
        i += 1
    inv = work / f"fleet-{size}.yaml"
    inv.write_text(
        yaml.safe_dump(
            {
                "name": f"scale-{size}",
                "ssh": {"user": "root", "known_hosts": str(known), "agent": False},
                "hosts": hosts,
            },
            sort_keys=False,
        )
    )
    return inv, config


def audit(inv: Path, config: Path, state: Path, servers: list[SimServer], out: Path) -> dict[str, float]:
    sims0 = sum(proc_cpu(s.proc.pid) for s in servers if s.proc)
    t0 = time.monotonic()
    cmd = [SLOWROLL, "audit", str(inv), "--json", "--ssh-config", str(config), "--state", str(state)]
    with open(out, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    sims = sum(proc_cpu(s.proc.pid) for s in servers if s.proc) - sims0
    lines = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]
    hosts = [x for x in lines if x.get("event") == "audit"]
    errors = Counter((x["error"] or "").split(": ", 1)[-1][:60] for x in hosts if x.get("error"))
    if not hosts:
        raise SystemExit(f"audit printed nothing (exit {proc.returncode}): {err[-2000:]}")
    return {
        "wall": wall,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "sim_cpu": sims,
        "hosts": len(hosts),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(3)),  # type: ignore[dict-item]
        "exit": proc.returncode,
    }


def profile(inv: Path, config: Path, state: Path, dest: Path) -> None:
    """py-spy (sampling, native threads off) of one audit; prints the heaviest frames."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = dest.with_suffix(".txt")
    cmd = [
        spy,
        "record",
        "--format",
        "raw",
        "--rate",
        "200",
        "-o",
        str(raw),
        "--",
        SLOWROLL,
        "audit",
        str(inv),
        "--json",
        "--ssh-config",
        str(config),
        "--state",
        str(state),
    ]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    summarize_profile(raw)
    print(f"profile: {raw} (collapsed stacks: flamegraph.pl or speedscope read them)")


def summarize_profile(raw: Path, top: int = 14) -> None:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[0].startswith("Thread._bootstrap"):
            continue  # asyncio's executor threads (asyncssh prepares options there): mostly idle waits
        total += n
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl[f] += n
    if not total:
        print("profile: no samples")
        return
    print(f"profile: {total} samples of the event loop's thread; self time (the frame itself):")
    for f, n in own.most_common(top):
        print(f"  {n / total:6.1%}  {f}")
    print("inclusive time of selected parts:")
    for key in (
        "audit_host",
        "_connect_one",
        "connect (asyncssh/connection.py",
        "_process_kexinit",
        "kex",
        "_send_newkeys",
        "sign",
        "verify",
        "gather_facts",
        "parse_facts",
        "preflight",
        "json",
        "load_inventory",
        "_run_once",
        "select",
    ):
        hits = [(f, n) for f, n in incl.items() if key in f]
        if hits:
            f, n = max(hits, key=lambda x: x[1])
            print(f"  {n / total:6.1%}  {f}")


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" → "func (file.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="200 and 1,000 hosts")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--per-shard", type=int, default=2000, help="hosts per simulator process")
    p.add_argument("--profile", action="store_true", help="also profile the largest audit with py-spy")
    p.add_argument("--keep", metavar="DIR", help="work here and keep it (default: a temporary folder)")
    add_quiet_option(p)
    args = p.parse_args()
    sizes = args.sizes or ([200, 1000] if args.quick else [1000, 5000, 10_000])
    per_shard = min(args.per_shard, 500) if args.quick and args.per_shard == 2000 else args.per_shard
    limit = raise_nofile(NOFILE)
    print(
        f"scale: audits of {', '.join(f'{n:,}' for n in sizes)} hosts; simulator: bench/simserve.py, "
        f"≤{per_shard:,} hosts per process; open-file limit {limit}"
    )
    other = settle(args)
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="slowroll-scale-"))
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)  # nothing from an earlier run (keys, ports) may leak in
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        servers = start_shards(max(sizes), per_shard, work)
        t0 = time.monotonic()
        with sim_servers(servers):
            print(f"{len(servers)} simulator processes ready in {time.monotonic() - t0:.1f} s")
            print(
                f"{'hosts':>7} {'wall s':>8} {'hosts/s':>8} {'peak MB':>8} {'console CPU s':>14} "
                f"{'sim CPU s':>10} {'errors':>7}"
            )
            for size in sizes:
                inv, config = merged_inventory(servers, size, work)
                r = audit(inv, config, work / "state", servers, work / f"audit-{size}.jsonl")
                rows.append((size, r))
                print(
                    f"{size:>7,} {r['wall']:>8.2f} {size / r['wall']:>8.0f} {r['maxrss_mb']:>8.1f} "
                    f"{r['cpu']:>14.2f} {r['sim_cpu']:>10.2f} {r['errors']:>7}"
                    + (f"  {r['error_kinds']}" if r["errors"] else ""),
                    flush=True,
                )
            if args.profile:
                size = max(sizes)
                inv, config = merged_inventory(servers, size, work)
                profile(
                    inv,
                    config,
                    work / "state",
                    (Path(args.keep) if args.keep else BENCH / "out") / f"audit-{size}.profile",
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for size, r in rows:
        per_host_cpu = r["cpu"] / size * 1000
        print(
            f"{size:,} hosts: console {per_host_cpu:.1f} ms CPU per host; the console alone would need "
            f"≥{r['cpu']:.0f} s on one core (one event loop), simulators {r['sim_cpu']:.0f} s on the others"
        )
    print(other.stop())
    tag = "quick" if args.quick else "full"
    for size, r in rows:
        ok = r["errors"] == 0
        target = TARGET_SECONDS.get(size)
        if target is not None or size == max(sizes):
            target = target or 60.0 * size / 10_000  # quick: the same rate as 10,000 in 60 s
            result(f"audit_wall[{tag}:{size}h]", r["wall"], "s", f"<{target:g}s", ok and r["wall"] < target)
    for size, r in rows:
        if size == max(sizes):
            result(
                f"console_peak_rss[{tag}:{size}h]",
                r["maxrss_mb"],
                "MB",
                f"<{TARGET_MB:g}MB",
                r["maxrss_mb"] < TARGET_MB,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

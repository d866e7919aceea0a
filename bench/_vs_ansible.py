"""The driver behind bench/vs_ansible.sh (run that): the same reboot of the same real hosts, by Ansible and
by slowroll, against the floor the hosts measure themselves.

Hosts: Debian 12 containers from tests/reallab (real systemd, real OpenSSH, real ``systemctl reboot``),
plus Debian's ``python3`` packages unpacked into each one (Ansible runs Python modules on its targets;
the lab image has no Python) and two units that stamp, on the host itself, when a shutdown begins
(``ExecStop`` of a unit ordered after multi-user.target, so stopped first) and when sshd is up again (a
unit ordered after ssh.service). A host's real reboot time is ``up`` (new boot) − ``down`` (old boot); the
floor of a roll is their sum (one host at a time).

Ansible: ``serial: 1``, ``gather_facts: false``, the ``reboot`` module with ``reboot_command:
/usr/bin/systemctl reboot`` (absolute, so the module does not look it up on the host) and
``boot_time_command: cat /proc/sys/kernel/random/boot_id``; everything else at its defaults (OpenSSH
with ControlPersist, no pipelining). slowroll: ``slowroll run --headless --json``, ``batch: 1``,
``bake: 0``, no checks, as shipped: the boot id, and the facts of its drift audit before and after each
reboot (work Ansible's reboot module does not do). slowroll-nodrift: the same with ``drift: off``: the same
work as Ansible's run. Each is timed from the command's start to its exit; who goes first rotates by round. Before each
timed run Ansible's ControlPersist masters are closed (the warm-up's, or the previous run's): every run starts
cold, as slowroll's does. Both run with Python byte code (``PYTHONDONTWRITEBYTECODE`` is dropped for them).

For slowroll the phases come from its JSON events and the hosts' stamps: start (command start → first
event), pre-check (connect, boot id, facts), sshd up → new boot id seen, post-check (facts, drift audit),
exit. Logs of the last run: bench/out/vs_ansible-{quick,full}/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCH, REPO, SLOWROLL, add_quiet_option, result, settle

sys.path.insert(0, str(REPO))
from tests.reallab.lab import Lab, LabHost

TARGET_RATIO = 0.2
TOOLS = [
    "ansible",
    "slowroll",
    "slowroll-nodrift",
]  # slowroll-nodrift: the same, with `drift: off`  # slowroll's overhead at most a fifth of Ansible's
PYTHON_DEBS = (
    "python3",
    "python3-minimal",
    "python3.11",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libpython3-stdlib",
    "libreadline8",
    "readline-common",
    "libsqlite3-0",
    "media-types",
    "libgdbm6",
)
STAMPS = "var/lib/lab/bench_stamps"
UP_UNIT = """[Unit]
Description=bench: stamp the moment sshd is up
After=ssh.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo up $(date +%%s.%%N) >> /var/lib/lab/bench_stamps'
[Install]
WantedBy=multi-user.target
"""
DOWN_UNIT = """[Unit]
Description=bench: stamp the moment a shutdown begins (stopped first: ordered after everything)
After=multi-user.target ssh.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sh -c 'echo down $(date +%%s.%%N) >> /var/lib/lab/bench_stamps'
[Install]
WantedBy=multi-user.target
"""
PLAYBOOK = """- name: rolling reboot, one host at a time
  hosts: lab
  serial: 1
  gather_facts: false
  tasks:
    - name: reboot
      ansible.builtin.reboot:
        reboot_command: /usr/bin/systemctl reboot
        boot_time_command: cat /proc/sys/kernel/random/boot_id
"""


def python_debs(cache: Path) -> list[Path]:
    """Debian bookworm's python3 packages (downloaded once with apt-get into ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_", 1)[0]: p for p in cache.glob("*.deb")}
    missing = [p for p in PYTHON_DEBS if p not in have]
    if missing:
        cmd = ["apt-get", "download", "-q", *missing]
        if subprocess.run(cmd, cwd=cache, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(cmd, cwd=cache, check=True, stdout=subprocess.DEVNULL)
        have = {p.name.split("_", 1)[0]: p for p in cache.glob("*.deb")}
    return [have[p] for p in PYTHON_DEBS]


def unpack_deb(deb: Path, rootfs: Path) -> None:
    """Unpack a package's files into a host's root, keeping its merged-/usr symlinks (/lib → usr/lib).

    Not ``dpkg-deb -x``: its tar replaces a symlink to a directory by a real directory, so a package with
    files under ./lib (libreadline8) turned /lib into a folder and the host no longer found
    /lib/systemd/systemd (nor the dynamic loader) at its next boot.
    """
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as tar:
        cmd = ["tar", "-x", "--keep-directory-symlink", "-C", str(rootfs)]
        subprocess.run(cmd, stdin=tar.stdout, check=True)
    if tar.returncode:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb}: exit {tar.returncode}")


def stamps(host: LabHost) -> list[tuple[str, float]]:
    try:
        text = (host.rootfs / STAMPS).read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        kind, _, at = line.partition(" ")
        with contextlib.suppress(ValueError):
            out.append((kind, float(at)))
    return out


def wait_stamps(hosts: list[LabHost], before: dict[str, int], timeout: float = 10) -> None:
    """Each host's new ``down`` and ``up`` lines are written (the up stamp may lag sshd a little)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(len(stamps(h)) >= before[h.name] + 2 for h in hosts):
            return
        time.sleep(0.05)


def close_masters(control_dir: Path) -> None:
    """Stop Ansible's OpenSSH ControlPersist masters: each timed run starts cold (as slowroll's does), and
    none outlives the benchmark (they would linger 60 s, holding connections to hosts that are gone)."""
    for sock in control_dir.glob("*"):
        if sock.is_socket():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab-host"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )


def slowroll_phases(log: Path, t0: float, t1: float, reboots: dict[str, tuple[float, float]]) -> dict:
    """Where slowroll's time went, from its JSON events and the hosts' own stamps (seconds)."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    states = [e for e in events if e.get("event") == "host-state"]
    at: dict[tuple[str, str], float] = {}
    for e in states:
        at.setdefault((e["host"], e["new"]), e["at"])
    out: dict[str, list[float]] = {"pre": [], "seen": [], "post": []}
    for host, (_down, up) in reboots.items():
        with contextlib.suppress(KeyError):
            out["pre"].append(at[host, "rebooting"] - at[host, "prechecking"])  # connect, boot id, facts
            out["seen"].append(at[host, "booting"] - up)  # sshd up (host's stamp) → slowroll has the new id
            out["post"].append(at[host, "done"] - at[host, "booting"])  # settle, facts, drift audit
    return {
        "start": events[0]["at"] - t0 if events else float("nan"),  # interpreter, imports, inventory, journal
        "exit": t1 - events[-1]["at"] if events else float("nan"),
        **out,
    }


def timed_roll(name: str, cmd: list[str], env: dict[str, str], hosts: list[LabHost], log: Path) -> dict:
    before = {h.name: len(stamps(h)) for h in hosts}
    boots = {h.name: len(h.boot_ids()) for h in hosts}
    t0 = time.time()
    with open(log, "wb") as f:
        rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    t1 = time.time()
    wait_stamps(hosts, before)
    per_host: dict[str, tuple[float, float]] = {}
    for h in hosts:
        new = stamps(h)[before[h.name] :]
        down = [at for kind, at in new if kind == "down"]
        up = [at for kind, at in new if kind == "up"]
        rebooted = len(h.boot_ids()) - boots[h.name]
        if rc != 0 or rebooted != 1 or len(down) != 1 or len(up) != 1:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{name}: exit {rc}, {h.name} rebooted {rebooted}× (stamps {new}); log:\n{tail}")
        per_host[h.name] = (down[0], up[0])
    order = sorted(per_host.values())
    floor = sum(up - down for down, up in order)
    gaps = [order[0][0] - t0] + [order[i + 1][0] - order[i][1] for i in range(len(order) - 1)]
    gaps.append(t1 - order[-1][1])
    res = {"wall": t1 - t0, "floor": floor, "overhead": t1 - t0 - floor, "gaps": gaps, "reboots": order}
    if name.startswith("slowroll"):
        res["phases"] = slowroll_phases(log, t0, t1, per_host)
    return res


def fmt(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def main() -> int:
    p = argparse.ArgumentParser(description="slowroll vs Ansible on real hosts (run bench/vs_ansible.sh)")
    p.add_argument("--quick", action="store_true", help="2 hosts, 1 round")
    p.add_argument("--hosts", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--ansible", required=True, help="the venv with ansible-core")
    add_quiet_option(p)
    args = p.parse_args()
    n = args.hosts or (2 if args.quick else 4)
    rounds = args.rounds or (1 if args.quick else 3)
    tag = f"{'quick' if args.quick else 'full'}:{n}h×{rounds}r"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the lab's context manager tears down
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    print(f"vs_ansible: {n} real hosts (Debian 12 containers), {rounds} round(s) of each tool")
    ansible_bin = Path(args.ansible) / "bin"
    version = subprocess.run([ansible_bin / "ansible", "--version"], capture_output=True, text=True).stdout
    print(f"ansible: {version.splitlines()[0] if version else '?'}")
    debs = python_debs(BENCH / "out" / "python3-debs")
    other = settle(args)
    work = Path(tempfile.mkdtemp(prefix="srbench-"))  # short: OpenSSH control sockets live under it
    control_dir = work / "cp"
    runs: dict[str, list[dict]] = {tool: [] for tool in TOOLS}
    try:
        with Lab.claim(work / "lab") as lab:
            hosts = []
            for i in range(n):
                h = lab.add_host(
                    f"node{i}",
                    extra_units={"bench-up.service": UP_UNIT, "bench-down.service": DOWN_UNIT},
                    enable=["bench-up.service", "bench-down.service"],
                )
                for deb in debs:
                    unpack_deb(deb, h.rootfs)
                hosts.append(h)
            lab.start()
            print(f"lab {lab.name}: {', '.join(f'{h.name} {h.address}' for h in hosts)}")
            inv = lab.write_inventory(
                work / "slowroll.yaml",
                policy={"batch": 1, "bake": 0, "reboot_command": "systemctl reboot"},
                name="vs-ansible",
            )
            inv_nodrift = lab.write_inventory(
                work / "slowroll-nodrift.yaml",
                policy={"batch": 1, "bake": 0, "reboot_command": "systemctl reboot", "drift": False},
                name="vs-ansible",
            )
            key, known = lab.client_key_path, lab.known_hosts_path
            (work / "hosts.ini").write_text(
                "[lab]\n"
                + "".join(f"{h.name} ansible_host={h.address}\n" for h in hosts)
                + "\n[lab:vars]\nansible_user=root\n"
                + f"ansible_ssh_private_key_file={key}\n"
                + f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes'\n"
                + "ansible_python_interpreter=/usr/bin/python3\n"
            )
            (work / "reboot.yml").write_text(PLAYBOOK)
            env = dict(os.environ)
            # Both tools run as installed: with byte code. This sandbox sets PYTHONDONTWRITEBYTECODE=1, and
            # slowroll is an editable install without __pycache__: each start compiled console/ again
            # (~0.25 s of a ~0.5 s start), while ansible-core's wheel install came with its .pyc files.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update(
                ANSIBLE_HOME=str(work / "ah"),
                ANSIBLE_LOCAL_TEMP=str(work / "ah" / "tmp"),
                ANSIBLE_SSH_CONTROL_PATH_DIR=str(control_dir),
                ANSIBLE_NOCOLOR="1",
                ANSIBLE_RETRY_FILES_ENABLED="0",
                PATH=f"{ansible_bin}:{env.get('PATH', '')}",
            )
            ansible_cmd = [
                str(ansible_bin / "ansible-playbook"),
                "-i",
                str(work / "hosts.ini"),
                str(work / "reboot.yml"),
            ]
            commands = {
                "ansible": ansible_cmd,
                "slowroll": [
                    SLOWROLL,
                    "run",
                    str(inv),
                    "--headless",
                    "--json",
                    "--state",
                    str(work / "state"),
                ],
                "slowroll-nodrift": [
                    *(SLOWROLL, "run", str(inv_nodrift), "--headless", "--json"),
                    *("--state", str(work / "state")),
                ],
            }
            # Warm-up (not timed): both tools reach every host once (page caches, Python byte code).
            subprocess.run(
                [str(ansible_bin / "ansible"), "-i", str(work / "hosts.ini"), "lab", "-m", "ping"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                [SLOWROLL, "audit", str(inv), "--state", str(work / "state")],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for r in range(rounds):
                order = TOOLS[r % len(TOOLS) :] + TOOLS[: r % len(TOOLS)]  # who goes first rotates
                for tool in order:
                    close_masters(control_dir)
                    cmd = commands[tool]
                    res = timed_roll(tool, cmd, env, hosts, work / f"{tool}-{r}.log")
                    runs[tool].append(res)
                    gaps = ", ".join(f"{g:.2f}" for g in res["gaps"])
                    print(
                        f"round {r + 1} {tool:<16} wall {res['wall']:6.2f} s  floor {res['floor']:5.2f} s  "
                        f"overhead {res['overhead']:6.2f} s  (gaps: start→down, up→next down…, up→exit: {gaps})",
                        flush=True,
                    )
                    if "phases" in res:
                        ph = res["phases"]
                        print(
                            f"        slowroll phases: start {ph['start']:.2f}; per host: pre-check {fmt(ph['pre'])}, "
                            f"sshd up→new boot id seen {fmt(ph['seen'])}, post-check {fmt(ph['post'])}; "
                            f"exit {ph['exit']:.2f}",
                            flush=True,
                        )
    finally:
        close_masters(control_dir)
        logs = BENCH / "out" / f"vs_ansible-{'quick' if args.quick else 'full'}"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True, exist_ok=True)
        for f in work.glob("*.log"):
            shutil.copy(f, logs / f.name)
        shutil.rmtree(work, ignore_errors=True)
    print()
    med = {
        t: {k: statistics.median(x[k] for x in v) for k in ("wall", "floor", "overhead")}
        for t, v in runs.items()
    }
    for tool in TOOLS:
        m = med[tool]
        print(
            f"{tool:<16} median wall {m['wall']:6.2f} s, floor {m['floor']:5.2f} s (Σ real reboots), "
            f"overhead {m['overhead']:6.2f} s = {m['overhead'] / n:.2f} s per host"
        )
    for tool in TOOLS[1:]:
        phases = [x["phases"] for x in runs[tool]]
        pre = statistics.median(v for ph in phases for v in ph["pre"])
        seen = statistics.median(v for ph in phases for v in ph["seen"])
        post = statistics.median(v for ph in phases for v in ph["post"])
        start = statistics.median(ph["start"] for ph in phases)
        end = statistics.median(ph["exit"] for ph in phases)
        print(
            f"{tool} median phases: start {start:.2f} s, exit {end:.2f} s; per host: pre-check {pre:.2f} s "
            f"(connect, boot id{', facts' if tool == 'slowroll' else ''}), sshd up→new boot id seen "
            f"{seen:.2f} s, post-check {post:.2f} s "
            f"({'settle, facts, drift audit' if tool == 'slowroll' else 'settle'})"
        )
    ratios = {tool: med[tool]["overhead"] / med["ansible"]["overhead"] for tool in TOOLS[1:]}
    for tool, ratio in ratios.items():
        print(
            f"{tool}'s overhead / Ansible's = {ratio:.3f} (Ansible's is {1 / ratio:.1f}× {tool}'s); "
            f"wall time ratio {med[tool]['wall'] / med['ansible']['wall']:.2f}"
        )
    print(other.stop())
    allowed = TARGET_RATIO * med["ansible"]["overhead"] / n
    for tool, ratio in ratios.items():
        # slowroll: as shipped (drift audit before and after every reboot, which Ansible does not do);
        # slowroll-nodrift: `drift: off`, the same work as Ansible's reboot module
        name = "slowroll" if tool == "slowroll" else "slowroll_drift_off"
        result(
            f"overhead_ratio_{name}_over_ansible[{tag}]",
            ratio,
            "ratio",
            f"<={TARGET_RATIO:g}",
            ratio <= TARGET_RATIO,
        )
        per_host = med[tool]["overhead"] / n
        # a fifth of Ansible's, measured in the same run
        result(f"{name}_overhead_per_host[{tag}]", per_host, "s", f"<={allowed:.3f}", per_host <= allowed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gathering a host's facts, and the journal of its units, in one SSH round trip each.

``FACTS_SCRIPT`` is one constant POSIX ``sh`` script. It prints sections, each introduced by a line
``@@slowroll:NAME`` and closed by ``@@exit=N`` (the exit status of the section's command). It is sent as
``sh -c <quoted script>`` (``FACTS_COMMAND``): OpenSSH hands an exec request to the user's login shell
as ``$SHELL -c <string>``, and the quoted script is one word for any POSIX-style login shell (sh, dash,
bash, zsh, ksh; fish too, since the script has no doubled backslash). A csh/tcsh login shell is not supported
(it rejects newlines inside quotes).

The script's stdout carries only the sections; stderr is left alone (the parser never needs it).
Everything host-specific is read on the host; no inventory value is ever pasted into the script.
``console.remote.factsparse`` reads the output back (``parse_facts``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace

from console.remote.facts import Facts
from console.remote.factsparse import parse_facts
from console.remote.result import Runner

# Unit types the audit looks at: services and the units that activate them.
UNIT_TYPES = "service,socket,timer,path"

# Properties read with `systemctl show` for every loaded unit of UNIT_TYPES. The rest (load, active, sub,
# description) comes from list-units.
SHOW_PROPERTIES = (
    "Id",
    "Names",
    "RequiredBy",
    "WantedBy",
    "BoundBy",
    "UpheldBy",
    "TriggeredBy",
    "UnitFileState",
    "Result",
    "InactiveExitTimestampMonotonic",
    "ConditionResult",
    "ConditionTimestampMonotonic",
)

FACTS_SCRIPT = r"""PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
SYSTEMD_PAGER=
SYSTEMD_COLORS=0
export PATH LC_ALL SYSTEMD_PAGER SYSTEMD_COLORS
s() { printf '@@slowroll:%s\n' "$1"; shift; "$@" </dev/null; printf '\n@@exit=%s\n' "$?"; }
have() { command -v "$1" >/dev/null 2>&1; }
sd() { have systemctl || return 127; systemctl "$@"; }
livepatches() { [ -e /sys/kernel/livepatch ] || return 0; ls -1 /sys/kernel/livepatch; }
reboot_required() {
  if [ -e /var/run/reboot-required ]; then
    echo required; cat /var/run/reboot-required.pkgs 2>/dev/null; return 0
  fi
  if have needs-restarting; then
    nr=$(needs-restarting -r 2>/dev/null)
    case $? in 0) echo not-required;; 1) echo required; printf '%s\n' "$nr";; *) return 2;; esac
    return 0
  fi
  if [ -d /var/lib/dpkg ]; then echo not-required; return 0; fi
  return 127
}
units() {
  have systemctl || return 127
  out=$(systemctl list-units --type=service,socket,timer,path --all --output=json --no-pager 2>/dev/null)
  case $out in '['*) printf '%s\n' "$out"; return 0;; esac
  systemctl list-units --type=service,socket,timer,path --all --no-legend --plain --full --no-pager
}
dbus_services() {
  for d in /usr/share/dbus-1 /etc/dbus-1 /usr/local/share/dbus-1; do
    [ -d "$d/system-services" ] && grep -h '^SystemdService=' "$d"/system-services/*.service 2>/dev/null
  done
  return 0
}
s boot_id cat /proc/sys/kernel/random/boot_id
s uptime cat /proc/uptime
s kernel uname -r
s boot ls -1 /boot
s modules ls -1 /lib/modules
s livepatch livepatches
s tainted cat /proc/sys/kernel/tainted
s reboot_required reboot_required
s system_state sd is-system-running
s units units
props=Id,Names,RequiredBy,WantedBy,BoundBy,UpheldBy,TriggeredBy,UnitFileState,Result
props=$props,InactiveExitTimestampMonotonic,ConditionResult,ConditionTimestampMonotonic
s unit_props sd show --all --no-pager -p "$props" '*.service' '*.socket' '*.timer' '*.path'
s boot_tree sd list-dependencies --all --plain --full --no-pager default.target
s dbus dbus_services
"""

# What gather_facts sends: the login shell runs `sh -c '<script>'`.
FACTS_COMMAND = "sh -c " + shlex.quote(FACTS_SCRIPT)

SECTION_NAMES = (
    "boot_id",
    "uptime",
    "kernel",
    "boot",
    "modules",
    "livepatch",
    "tainted",
    "reboot_required",
    "system_state",
    "units",
    "unit_props",
    "boot_tree",
    "dbus",
)


async def gather_facts(runner: Runner, *, timeout: float) -> Facts:
    """Run ``FACTS_COMMAND`` once and parse it. Connection errors from the runner propagate."""
    result = await runner.run(FACTS_COMMAND, timeout=timeout)
    facts = parse_facts(result.stdout)
    extra: list[str] = []
    if result.exit_status is None:
        extra.append(f"the facts command did not finish within {timeout:g}s")
    if not result.stdout.strip() and result.stderr.strip():
        extra.append("stderr: " + result.stderr.strip().splitlines()[0][:200])
    if extra:
        facts = replace(facts, errors=(*facts.errors, *extra))
    return facts


def evidence_command(units: Sequence[str], *, lines: int = 20) -> str:
    """One command that prints this boot's journal for each unit, each after a marker line.

    Unit names come from the host: each one is passed through ``shlex.quote`` as a single
    ``--unit=NAME`` word. Markers carry an index, never a name, so no name can forge one.
    """
    n = max(1, int(lines))
    parts: list[str] = []
    for i, unit in enumerate(units):
        parts.append(f"printf '@@slowroll:evidence:%s\\n' {i}")
        parts.append(
            "journalctl -b --no-pager -o short-iso -n " + str(n) + " " + shlex.quote("--unit=" + unit)
        )
    return "; ".join(parts)


def parse_evidence(text: str, units: Sequence[str]) -> dict[str, str]:
    """Split ``evidence_command`` output per unit; lines such as ``-- No entries --`` are dropped."""
    out = dict.fromkeys(units, "")
    current: str | None = None
    collected: dict[str, list[str]] = {u: [] for u in units}
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        m = re.fullmatch(r"@@slowroll:evidence:(\d+)\s*", line)
        if m:
            idx = int(m.group(1))
            current = units[idx] if idx < len(units) else None
            continue
        if current is None or not line.strip() or line.startswith("-- "):
            continue
        collected[current].append(line)
    for unit, got in collected.items():
        out[unit] = "\n".join(got)
    return out


async def gather_evidence(
    runner: Runner,
    units: Sequence[str],
    *,
    timeout: float,
    lines: int = 20,
) -> dict[str, str]:
    """This boot's last ``lines`` journal lines for each unit, in one round trip: {unit: text}."""
    wanted = list(dict.fromkeys(u for u in units if isinstance(u, str) and u))
    if not wanted:
        return {}
    result = await runner.run(evidence_command(wanted, lines=lines), timeout=timeout)
    return parse_evidence(result.stdout, wanted)

"""The small shell of a simulated host: the command lines slowroll sends, answered as bash would.

``Shell.execute`` understands ``FACTS_SCRIPT`` (whole, or under ``sh -c``), lists of simple commands
joined by ``;``, ``&&`` and ``||`` (redirections dropped), and the commands that matter: ``cat`` and
``ls`` of the host's files, ``uname``, ``hostname``, ``echo``, ``printf``, ``true``, ``false``,
``systemctl`` and ``journalctl``. Anything else (pipes, background jobs, other programs) gives ``None``:
the simulated host (``fleet.py``) answers health checks and reboots itself.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from console.remote.gather import FACTS_COMMAND, FACTS_SCRIPT, SHOW_PROPERTIES
from console.sim.result import ExecResult
from console.sim.systemctl import dependency_text, journalctl, list_units_json, show, systemctl
from console.sim.systemd import Systemd
from console.sim.units import DBUS_SERVICES, UNIT_TYPES

__all__ = ["Host", "Shell"]


class Host(Protocol):
    """What the shell reads of the host it runs on."""

    hostname: str
    kernel: str
    reboot_required_pkgs: list[str] | None
    systemd: Systemd

    def files(self) -> dict[str, str]: ...

    def dirs(self) -> dict[str, list[str]]: ...


@dataclass
class _Output:
    """What a run of simple commands printed."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    status: int = 0


class Shell:
    def __init__(self, host: Host) -> None:
        self.host = host

    def execute(self, command: str) -> ExecResult | None:
        """What the host prints for ``command``, or None when it is not an OS command modelled here."""
        text = command.strip()
        if text in (FACTS_COMMAND.strip(), FACTS_SCRIPT.strip()):
            return self.facts_output()
        try:
            words = shlex.split(text)
        except ValueError:
            return None
        if len(words) == 3 and words[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and words[1] == "-c":
            if words[2].strip() == FACTS_SCRIPT.strip():
                return self.facts_output()
            return self.execute(words[2])
        commands = _command_list(text)
        if commands is None:
            return None
        shell = _Output()
        for op, words in commands:
            if not words:
                continue
            if (op == "&&" and shell.status != 0) or (op == "||" and shell.status == 0):
                continue
            result = self._simple(_strip_redirections(words))
            if result is None:
                return None
            shell.out.append(result.stdout)
            shell.err.append(result.stderr)
            shell.status = result.exit_status
        return ExecResult(shell.status, "".join(shell.out), "".join(shell.err))

    def _simple(self, words: list[str]) -> ExecResult | None:
        if not words:
            return ExecResult(0)
        cmd, args = words[0].rsplit("/", 1)[-1], words[1:]
        host = self.host
        if cmd == "cat":
            return self._cat(args)
        if cmd == "ls":
            return self._ls(args)
        if cmd == "uname":
            return self._uname(args)
        if cmd == "hostname" and not args:
            return ExecResult(0, host.hostname + "\n")
        if cmd in ("printf", "echo"):
            return ExecResult(0, _printf(args) if cmd == "printf" else " ".join(args) + "\n")
        if cmd in ("true", ":"):
            return ExecResult(0)
        if cmd == "false":
            return ExecResult(1)
        if cmd == "systemctl":
            return systemctl(host.systemd, host.hostname, args)
        if cmd == "journalctl":
            return journalctl(host.systemd, host.hostname, args)
        return None

    def _cat(self, paths: Sequence[str]) -> ExecResult:
        files = self.host.files()
        out, err, code = [], [], 0
        for path in paths:
            if path in files:
                out.append(files[path])
            elif path in self.host.dirs():
                err.append(f"cat: {path}: Is a directory\n")
                code = 1
            else:
                err.append(f"cat: {path}: No such file or directory\n")
                code = 1
        return ExecResult(code, "".join(out), "".join(err))

    def _ls(self, args: Sequence[str]) -> ExecResult | None:
        paths = [a for a in args if not a.startswith("-")]
        if any(a.startswith("-") and a not in ("-1", "-A", "-a") for a in args):
            return None
        dirs, files = self.host.dirs(), self.host.files()
        out, err, code = [], [], 0
        for path in paths or ["."]:
            if path in dirs:
                if len(paths) > 1:
                    out.append(f"{path}:\n")
                out.extend(f"{n}\n" for n in dirs[path])
            elif path in files:
                out.append(path + "\n")
            else:
                err.append(f"ls: cannot access '{path}': No such file or directory\n")
                code = 2
        return ExecResult(code, "".join(out), "".join(err))

    def _uname(self, args: Sequence[str]) -> ExecResult | None:
        if args == ["-r"]:
            return ExecResult(0, self.host.kernel + "\n")
        if args == ["-n"]:
            return ExecResult(0, self.host.hostname + "\n")
        if not args or args == ["-s"]:
            return ExecResult(0, "Linux\n")
        return None

    def facts_output(self) -> ExecResult:
        """Exactly what ``FACTS_SCRIPT`` prints on this host (stdout), and its stderr."""
        out: list[str] = []
        err: list[str] = []
        sd = self.host.systemd

        def section(name: str, result: ExecResult) -> None:
            out.append(f"@@slowroll:{name}\n{result.stdout}\n@@exit={result.exit_status}\n")
            err.append(result.stderr)

        def run(*words: str) -> ExecResult:
            result = self._simple(list(words))
            assert result is not None
            return result

        section("boot_id", run("cat", "/proc/sys/kernel/random/boot_id"))
        section("uptime", run("cat", "/proc/uptime"))
        section("kernel", run("uname", "-r"))
        section("boot", run("ls", "-1", "/boot"))
        section("modules", run("ls", "-1", "/lib/modules"))
        section("livepatch", run("ls", "-1", "/sys/kernel/livepatch"))
        section("tainted", run("cat", "/proc/sys/kernel/tainted"))
        pkgs = self.host.reboot_required_pkgs
        if pkgs is not None:
            rr = ExecResult(0, "required\n" + "".join(p + "\n" for p in pkgs))
        else:
            rr = ExecResult(0, "not-required\n")
        section("reboot_required", rr)
        section("system_state", run("systemctl", "is-system-running"))
        section("units", ExecResult(0, list_units_json(sd, UNIT_TYPES)))
        names = [n for n, _, _ in sd.listed(UNIT_TYPES)]
        section("unit_props", ExecResult(0, show(sd, names, SHOW_PROPERTIES)))
        section("boot_tree", ExecResult(0, dependency_text(sd)))
        dbus = "".join(f"SystemdService={svc}\n" for _, svc in DBUS_SERVICES)
        section("dbus", ExecResult(0, dbus))
        return ExecResult(0, "".join(out), "".join(err))


def _command_list(text: str) -> list[tuple[str, list[str]]] | None:
    """``a; b && c || d`` as [(";", a), (";", b), ("&&", c), ("||", d)]; None for pipes and jobs."""
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return None
    commands: list[tuple[str, list[str]]] = []
    current: list[str] = []
    op = ";"
    for tok in tokens:
        if tok in (";", "&&", "||"):
            commands.append((op, current))
            current, op = [], tok
        elif tok in ("|", "&", ";;") or set(tok) <= set(";&|"):
            return None  # pipes and background jobs are not modelled
        else:
            current.append(tok)
    commands.append((op, current))
    return commands


def _printf(args: Sequence[str]) -> str:
    """printf(1) for %s, %d, %% and the \\n and \\t escapes; the format is reused for extra arguments."""
    if not args:
        return ""
    fmt = args[0].replace("\\n", "\n").replace("\\t", "\t")
    values = list(args[1:])
    per_round = len(re.findall(r"%[sd]", fmt))
    out = []
    while True:
        group, values = values[:per_round], values[per_round:]
        it = iter(group)
        out.append(re.sub(r"%[sd]|%%", lambda m, it=it: "%" if m.group() == "%%" else next(it, ""), fmt))
        if not values or per_round == 0:
            break
    return "".join(out)


def _strip_redirections(words: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if re.fullmatch(r"\d?>>?|<", word):
            skip = True
            continue
        if re.fullmatch(r"\d?>>?\S+|\d>&\d|<\S+", word):
            continue
        out.append(word)
    return out

"""The command line's grammar: one small function per command, sharing the option groups that several take."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from console import __version__
from console.model.exits import EPILOG, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="slowroll",
        description="Supervise slow rolling reboots of a Linux fleet over SSH.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"slowroll {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _demo(sub.add_parser("demo", help="the console on the built-in simulated fleet"))
    _run(sub.add_parser("run", help="roll an inventory (console, or --headless)"))
    _sim(sub.add_parser("sim", help="serve simulated twins of an inventory until stopped"))
    _inventory(sub.add_parser("check", help="validate an inventory and summarise it (connects to nothing)"))
    _plan(sub.add_parser("plan", help="print the ordered slices and why (connects to nothing)"))
    _audit(sub.add_parser("audit", help="drift audit of the whole fleet; reboots nothing"))
    _resume(
        sub.add_parser(
            "resume", help="continue the last unfinished roll (or ROLL_ID) after a crash or a stop"
        )
    )
    _history(sub.add_parser("history", help="past rolls, and the last good reboot of each host"))
    _report(sub.add_parser("report", help="a roll's report: Markdown for people, --toml for tools"))
    sub.add_parser("faults", help="list the simulator's named faults")
    return p


# ----------------------------------------------------------------------------------------------------
# Commands


def _demo(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--fleet", type=_positive_int, default=None, metavar="N", help="number of hosts (default 24)"
    )
    _roll(sp)


def _run(sp: argparse.ArgumentParser) -> None:
    _inventory(sp)
    sp.add_argument("--sim", action="store_true", help="roll simulated twins of the hosts (a rehearsal)")
    _roll(sp)


def _sim(sp: argparse.ArgumentParser) -> None:
    _inventory(sp)
    sp.add_argument(
        "--out", required=True, metavar="DIR", help="write inventory.yaml, known_hosts, ledger here"
    )
    _simulator(sp, speed=1.0)
    sp.add_argument(
        "--boot-time", type=float, default=None, metavar="SECONDS", help="boot time before --speed"
    )


def _plan(sp: argparse.ArgumentParser) -> None:
    _inventory(sp)
    sp.add_argument("--json", action="store_true")


def _audit(sp: argparse.ArgumentParser) -> None:
    _inventory(sp)
    sp.add_argument("--sim", action="store_true", help="audit simulated twins of the hosts")
    _simulator(sp)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--all", action="store_true", help="also list hosts without findings")
    _ssh(sp)
    _state(sp, "history for uptime-debt when uptime is unknown")


def _resume(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("roll", nargs="?", type=int, metavar="ROLL_ID")
    _output(sp)
    _state(sp)
    sp.add_argument(
        "--accept-changes", action="store_true", help="continue even though the inventory changed"
    )
    sp.add_argument(
        "--acknowledge",
        metavar="WHY",
        default=None,
        help="after an automatic pause (a security stop): why it is safe to go on; journaled with who",
    )
    _break_lock(sp)
    _ssh(sp)


def _history(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--host", metavar="NAME")
    _state(sp)
    sp.add_argument("--json", action="store_true")


def _report(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("roll", nargs="?", type=int, metavar="ROLL_ID", help="default: the latest roll")
    sp.add_argument("--toml", action="store_true")
    sp.add_argument("--width", type=_positive_int, default=None, help="timeline width (default: terminal)")
    _state(sp)


# ----------------------------------------------------------------------------------------------------
# Option groups


def _roll(sp: argparse.ArgumentParser) -> None:
    """What ``run`` and ``demo`` share."""
    _simulator(sp)
    _output(sp)
    _ssh(sp)
    _state(sp)
    sp.add_argument(
        "--discard-unfinished",
        action="store_true",
        help="start a new roll even though one of this inventory is unfinished",
    )
    _break_lock(sp)


def _inventory(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("inventory")
    sp.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")


def _simulator(sp: argparse.ArgumentParser, *, speed: float | None = None) -> None:
    sp.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[@HOST]",
        help="(simulator) place a fault on a host; KIND alone: the first host after the canary slice",
    )
    sp.add_argument("--speed", type=_speed, default=speed, help="(simulator) divide every duration by X")
    sp.add_argument("--seed", type=int, default=None, help="(simulator) random seed")


def _output(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--headless", action="store_true", help="no console: one line per event")
    sp.add_argument("--json", action="store_true", help="headless, one JSON object per line")


def _ssh(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--accept-new", action="store_true", help="record keys of hosts seen for the first time")
    sp.add_argument("--ssh-config", metavar="FILE", help="ssh config to honour (default ~/.ssh/config)")


def _state(
    sp: argparse.ArgumentParser, help: str = "where rolls are journaled (default: user state folder)"
) -> None:
    sp.add_argument("--state", metavar="DIR", help=help)


def _break_lock(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--break-lock",
        action="store_true",
        help="take over the lock of a console on another machine known to be gone",
    )


# ----------------------------------------------------------------------------------------------------
# Value types


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 20, got {text!r}") from None
    if not 0 < value <= 10000:
        raise argparse.ArgumentTypeError(f"expected a speed between 0 and 10000, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value

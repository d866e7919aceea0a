"""``slowroll``: the command line. The console (Textual) is imported only when it is used."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from console import __version__
from console.model.durations import format_duration
from console.model.errors import SlowrollError, UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="slowroll",
        description="Supervise slow rolling reboots of a Linux fleet over SSH.",
        epilog="Exit codes: 0 complete, 1 stopped by itself (automatic pause) or aborted, "
        "2 usage or inventory error, 130 stopped by the operator.",
    )
    p.add_argument("--version", action="version", version=f"slowroll {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def roll_options(sp: argparse.ArgumentParser, *, sim_default: bool) -> None:
        if not sim_default:
            sp.add_argument(
                "--sim", action="store_true", help="roll simulated twins of the hosts (a rehearsal)"
            )
        sp.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="KIND[@HOST]",
            help="(simulator) place a fault on a host; KIND alone: the first host after the canary slice",
        )
        sp.add_argument("--speed", type=_speed, default=None, help="(simulator) divide every duration by X")
        sp.add_argument("--seed", type=int, default=None, help="(simulator) random seed")
        sp.add_argument("--headless", action="store_true", help="no console: one line per event")
        sp.add_argument("--json", action="store_true", help="headless, one JSON object per line")
        sp.add_argument(
            "--accept-new", action="store_true", help="record keys of hosts seen for the first time"
        )
        sp.add_argument(
            "--state", metavar="DIR", help="where rolls are journaled (default: user state folder)"
        )
        sp.add_argument("--ssh-config", metavar="FILE", help="ssh config to honour (default ~/.ssh/config)")
        sp.add_argument(
            "--discard-unfinished",
            action="store_true",
            help="start a new roll even though one of this inventory is unfinished",
        )
        sp.add_argument(
            "--break-lock",
            action="store_true",
            help="take over the lock of a console on another machine known to be gone",
        )

    demo = sub.add_parser("demo", help="the console on the built-in simulated fleet")
    demo.add_argument(
        "--fleet", type=_positive_int, default=None, metavar="N", help="number of hosts (default 24)"
    )
    roll_options(demo, sim_default=True)

    run = sub.add_parser("run", help="roll an inventory (console, or --headless)")
    run.add_argument("inventory")
    run.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")
    roll_options(run, sim_default=False)

    sim = sub.add_parser("sim", help="serve simulated twins of an inventory until stopped")
    sim.add_argument("inventory")
    sim.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")
    sim.add_argument(
        "--out", required=True, metavar="DIR", help="write inventory.yaml, known_hosts, ledger here"
    )
    sim.add_argument("--fault", action="append", default=[], metavar="KIND[@HOST]")
    sim.add_argument("--speed", type=_speed, default=1.0)
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument(
        "--boot-time", type=float, default=None, metavar="SECONDS", help="boot time before --speed"
    )

    check = sub.add_parser("check", help="validate an inventory and summarise it (connects to nothing)")
    check.add_argument("inventory")
    check.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")

    plan = sub.add_parser("plan", help="print the ordered slices and why (connects to nothing)")
    plan.add_argument("inventory")
    plan.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")
    plan.add_argument("--json", action="store_true")

    audit = sub.add_parser("audit", help="drift audit of the whole fleet; reboots nothing")
    audit.add_argument("inventory")
    audit.add_argument("--policy", metavar="FILE", help="slowroll policy for an Ansible inventory")
    audit.add_argument("--sim", action="store_true", help="audit simulated twins of the hosts")
    audit.add_argument("--fault", action="append", default=[], metavar="KIND[@HOST]")
    audit.add_argument("--speed", type=_speed, default=None)
    audit.add_argument("--seed", type=int, default=None)
    audit.add_argument("--json", action="store_true")
    audit.add_argument("--all", action="store_true", help="also list hosts without findings")
    audit.add_argument("--accept-new", action="store_true")
    audit.add_argument("--ssh-config", metavar="FILE", help="ssh config to honour (default ~/.ssh/config)")
    audit.add_argument("--state", metavar="DIR", help="history for uptime-debt when uptime is unknown")

    resume = sub.add_parser(
        "resume", help="continue the last unfinished roll (or ROLL_ID) after a crash or a stop"
    )
    resume.add_argument("roll", nargs="?", type=int, metavar="ROLL_ID")
    resume.add_argument("--headless", action="store_true")
    resume.add_argument("--json", action="store_true")
    resume.add_argument("--state", metavar="DIR")
    resume.add_argument(
        "--accept-changes", action="store_true", help="continue even though the inventory changed"
    )
    resume.add_argument(
        "--break-lock",
        action="store_true",
        help="take over the lock of a console on another machine known to be gone",
    )
    resume.add_argument("--accept-new", action="store_true")
    resume.add_argument("--ssh-config", metavar="FILE", help="ssh config to honour (default ~/.ssh/config)")

    history = sub.add_parser("history", help="past rolls, and the last good reboot of each host")
    history.add_argument("--host", metavar="NAME")
    history.add_argument("--state", metavar="DIR")
    history.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="a roll's report: Markdown for people, --toml for tools")
    report.add_argument("roll", nargs="?", type=int, metavar="ROLL_ID", help="default: the latest roll")
    report.add_argument("--toml", action="store_true")
    report.add_argument(
        "--width", type=_positive_int, default=None, help="timeline width (default: terminal)"
    )
    report.add_argument("--state", metavar="DIR")

    faults = sub.add_parser("faults", help="list the simulator's named faults")
    faults.set_defaults()
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _dispatch(args)
    except SlowrollError as exc:
        print(f"slowroll: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("slowroll: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`slowroll plan … | head`): nothing left to say to it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "check":
        return cmd_check(args)
    if cmd == "plan":
        return cmd_plan(args)
    if cmd == "faults":
        from console.sim.fleet import FAULT_HELP

        for kind, text in FAULT_HELP.items():
            print(f"{kind:<18} {text}")
        return 0
    if cmd == "sim":
        return cmd_sim(args)
    if cmd in ("run", "demo"):
        return cmd_roll(args)
    if cmd == "audit":
        return cmd_audit(args)
    if cmd == "resume":
        return cmd_resume(args)
    if cmd == "history":
        return cmd_history(args)
    if cmd == "report":
        return cmd_report(args)
    raise UsageError(f"unknown command {cmd}")


# ----------------------------------------------------------------------------------------------------
# check / plan


def load_any_inventory(path: str, policy: str | None = None) -> Any:
    """A native slowroll inventory, or an Ansible YAML inventory (with its slowroll policy file)."""
    from console.load.ansible import is_ansible_inventory, load_ansible_inventory, unread_vars_dirs
    from console.load.native import load_inventory

    if is_ansible_inventory(path):
        for folder in unread_vars_dirs(path):
            print(
                f"slowroll: warning: {folder} is not read (put slowroll settings in --policy)",
                file=sys.stderr,
            )
        return load_ansible_inventory(path, policy_path=policy)
    if policy is not None:
        raise UsageError(
            f"--policy is for Ansible inventories; {path} is a slowroll inventory (put policy in it)"
        )
    return load_inventory(path)


def cmd_check(args: argparse.Namespace) -> int:
    from console.model.budgets import Budgets

    inv = load_any_inventory(args.inventory, getattr(args, "policy", None))
    pol = inv.policy
    budgets = Budgets.for_inventory(inv)
    print(f"{inv.path}: OK — inventory {inv.name!r}")
    print(f"  hosts    {len(inv.hosts)} in {len(inv.groups)} group(s)")
    for g in inv.groups.values():
        print(
            f"    {g.name:<14} {len(g.members):>5} hosts   max unavailable {budgets.per_group[g.name]}"
            f" ({g.budget(pol)}{'' if g.max_unavailable else ', default'})"
        )
    loose = [h.name for h in inv.hosts if not h.groups]
    if loose:
        print(f"    {'(no group)':<14} {len(loose):>5} hosts")
    fleet = (
        f"{budgets.fleet} ({pol.max_unavailable})"
        if budgets.fleet is not None
        else "bounded by the slice size"
    )
    print(f"  fleet    max unavailable {fleet}")
    print(f"  batch    {', '.join(str(a) for a in pol.batch)} (the last step repeats)")
    print(f"  canaries {', '.join(pol.canaries) or 'none'}")
    print(
        f"  timing   bake {format_duration(pol.bake)}, reboot timeout {format_duration(pol.reboot_timeout)}, "
        f"connect {format_duration(pol.connect_timeout)}, command {format_duration(pol.command_timeout)}, "
        f"poll every {format_duration(pol.poll_interval)}"
    )
    print(f"  failures pause after {pol.max_failures + 1} failure(s) (max_failures {pol.max_failures})")
    print(f"  reboot   {pol.reboot_command!r}; boot id from {pol.boot_id_command!r}")
    print(f"  checks   {len(inv.checks)} per host, {len(inv.service_checks)} service-level")
    for c in inv.checks:
        scope = ", ".join([*c.groups, *c.hosts]) or "all hosts"
        print(f"    {c.name:<14} [{scope}] {c.describe()}")
    for c in inv.service_checks:
        print(f"    {c.name:<14} [service] {c.describe()}")
    if pol.windows:
        print(f"  windows  {'; '.join(w.describe() for w in pol.windows)} (no reboot starts outside them)")
    if pol.max_reboots_per_hour or pol.min_slice_gap:
        pace = []
        if pol.max_reboots_per_hour:
            pace.append(f"at most {pol.max_reboots_per_hour} reboots an hour")
        if pol.min_slice_gap:
            pace.append(f"{format_duration(pol.min_slice_gap)} between slices")
        print(f"  pace     {', '.join(pace)}")
    if pol.drift is None:
        print("  drift    off (drift: off): no facts before or after each reboot, no drift findings")
    for h in inv.hooks:
        scope = ", ".join([*h.groups, *h.hosts]) or "all hosts"
        print(f"  hook     {h.phase:<12} {h.name:<12} [{scope}, on {h.where}] {h.command}")
    if inv.notify is not None:
        from console.notify import redact_url

        print(f"  notify   {redact_url(inv.notify.webhook)} on {', '.join(inv.notify.events)}")
    kh = inv.ssh.known_hosts or "~/.ssh/known_hosts"
    print(
        f"  ssh      user {inv.ssh.user or '(current user)'}, known_hosts {kh} (strict)"
        + (f", config {inv.ssh.config}" if inv.ssh.config else "")
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from console.model.budgets import Budgets, plan

    inv = load_any_inventory(args.inventory, getattr(args, "policy", None))
    slices, why = plan(inv)
    budgets = Budgets.for_inventory(inv)
    if args.json:
        print(
            json.dumps(
                {
                    "inventory": inv.name,
                    "order": why,
                    "budgets": {**budgets.per_group, **({"fleet": budgets.fleet} if budgets.fleet else {})},
                    "slices": [
                        {"index": s.index + 1, "hosts": list(s.hosts), "canary": s.canary, "reason": s.reason}
                        for s in slices
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(f"Plan for {inv.name!r}: {len(inv.hosts)} hosts in {len(slices)} slices")
    print(f"Order: {why}; canaries first.")
    limits = ", ".join(f"{g} {n}" for g, n in budgets.per_group.items())
    print(f"Budgets (max unavailable): {limits}" + (f", fleet {budgets.fleet}" if budgets.fleet else ""))
    print("Each slice starts only when the one before it is done and baked.")
    print()
    width = len(str(len(slices)))
    for s in slices:
        tag = "canary" if s.canary else f"{len(s.hosts)} host(s)"
        print(f"  {s.index + 1:>{width}}. {tag:<10} {', '.join(s.hosts)}")
        print(f"  {'':>{width}}  {'':<10} ↳ {s.reason}")
    return 0


# ----------------------------------------------------------------------------------------------------
# sim


def cmd_sim(args: argparse.Namespace) -> int:
    from console.sim.fleet import DEFAULT_BOOT_TIME, FaultError, SimFleet, parse_faults
    from console.sim.twin import twin_yaml

    inv = load_any_inventory(args.inventory, getattr(args, "policy", None))
    try:
        faults = parse_faults(args.fault, inv)
    except FaultError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out).resolve()  # the twin inventory names files in it: absolute, wherever it is read
    out.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        fleet = SimFleet(
            inv,
            out,
            speed=args.speed,
            faults=faults,
            seed=args.seed,
            boot_time=args.boot_time or DEFAULT_BOOT_TIME,
        )
        await fleet.start()
        target = out / "inventory.yaml"
        tmp = out / "inventory.yaml.tmp"
        tmp.write_text(twin_yaml(fleet))
        os.replace(tmp, target)
        print(f"serving {len(fleet.hosts)} simulated hosts on 127.0.0.1; inventory: {target}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        (out / "ready").write_text(str(os.getpid()))
        await stop.wait()
        await fleet.stop()

    asyncio.run(serve())
    return 0


# ----------------------------------------------------------------------------------------------------
# run / demo / resume


def cmd_roll(args: argparse.Namespace) -> int:

    demo = args.command == "demo"
    simulate = demo or args.sim
    if args.fault and not simulate:
        raise UsageError("--fault needs the simulator: add --sim (or use slowroll demo)")
    if args.speed is not None and not simulate:
        raise UsageError("--speed needs the simulator: add --sim (or use slowroll demo)")
    speed = args.speed if args.speed is not None else (10.0 if demo else 1.0)
    with tempfile.TemporaryDirectory(prefix="slowroll-") as tmp:
        work = Path(tmp)
        if demo:
            from console.sim.twin import demo_inventory

            inv = demo_inventory(work, args.fleet)
        else:
            inv = load_any_inventory(args.inventory, getattr(args, "policy", None))
        faults: dict[str, set[str]] = {}
        if simulate:
            from console.sim.fleet import FaultError, parse_faults

            try:
                faults = parse_faults(args.fault, inv)
            except FaultError as exc:
                raise UsageError(str(exc)) from None
        code = asyncio.run(_roll(inv, work, args, simulate=simulate, faults=faults, speed=speed))
    return _exit_if_terminal_gone(code)


def _exit_if_terminal_gone(code: int) -> int:
    """After a console whose terminal went away (the roll settled, the journal, lock and simulator are closed
    by now): leave at once. Nothing is left to say to anyone, and interpreter shutdown must not wait on a
    thread that still thinks it has a terminal."""
    terminal = sys.modules.get(f"{__package__ or 'console'}.tui.terminal")
    if terminal is not None and terminal.TERMINAL.gone:
        os._exit(code)
    return code


def _open_journal(args: argparse.Namespace) -> Any:
    from console.journal.store import Journal

    return Journal(getattr(args, "state", None))


async def _roll(
    inv: Any,
    work: Path,
    args: argparse.Namespace,
    *,
    simulate: bool,
    faults: dict[str, set[str]],
    speed: float,
) -> int:
    from console.engine.facade import Engine
    from console.journal.store import RollLock

    journal = _open_journal(args)
    lock = None
    fleet = None
    try:
        if not simulate:
            lock = RollLock(journal.dir, inv.path)
            lock.acquire(None, break_lock=getattr(args, "break_lock", False))
            stale = [r for r in journal.unfinished(_inventory_key(inv.path)) if not r.simulated]
            if stale and not args.discard_unfinished:
                r = stale[0]
                raise UsageError(
                    f"roll {r.id} of {inv.path} is unfinished ({r.state}{': ' + r.reason if r.reason else ''}). "
                    f"Continue it with `slowroll resume {r.id}`, or start a new roll with --discard-unfinished "
                    "(hosts it rebooted stay in the history)."
                )
            for r in stale:
                journal.roll_id = r.id
                journal.set_roll_state("abandoned", f"discarded by a new roll ({_who()})")
        if simulate:
            from console.sim.process import SimProcess

            fleet = SimProcess(
                inv.path,
                work / "sim",
                speed=speed,
                faults=faults,
                seed=args.seed,
                policy=getattr(args, "policy", None),
            )
            await fleet.start()
            target = load_any_inventory(str(fleet.inventory_path))
        else:
            target = inv
        roll_id = journal.create_roll(
            target, simulated=simulate, command=_command_line(), policy_path=getattr(args, "policy", None)
        )
        if lock is not None:
            lock.set_roll(roll_id)
        history = journal.last_reboot_times([h.name for h in target.hosts], simulated=simulate)
        connector = _connector(target, args, simulated=simulate)
        engine = Engine(
            target,
            connector,
            journal=journal,
            history=history,
            typical_cycle=journal.typical_cycle(inventory_key_of(target), simulated=simulate),
        )
        try:
            code = await _face(engine, args, simulated=simulate, speed=speed, roll_id=roll_id)
        finally:
            await connector.close()
        if simulate and not engine.state.final:
            journal.set_roll_state("abandoned", "the simulated fleet ended with the console")
        return code
    finally:
        if fleet is not None:
            await fleet.stop()
        if lock is not None:
            lock.release()
        journal.close()


def _connector(target: Any, args: argparse.Namespace, *, simulated: bool = False) -> Any:
    from console.remote.ssh import Connector, SSHOptions
    from console.remote.sshconfig import SSHConfig, default_config

    config = None
    if not simulated:  # simulated twins live on loopback: the user's ssh config must not redirect them
        chosen = getattr(args, "ssh_config", None) or target.ssh.config
        config = SSHConfig(chosen) if chosen else default_config()
        for warning in config.unsupported if config else []:
            print(f"slowroll: warning: {warning}", file=sys.stderr)
    return Connector(
        SSHOptions(
            known_hosts=target.ssh.known_hosts,
            accept_new=getattr(args, "accept_new", False),
            identity_files=target.ssh.identity_files,
            agent=target.ssh.agent,
            config=config,
            known_hosts_explicit=target.ssh.known_hosts is not None,
            identity_files_explicit=bool(target.ssh.identity_files),
        )
    )


async def _face(engine: Any, args: argparse.Namespace, *, simulated: bool, speed: float, roll_id: int) -> int:
    notifier = None
    if engine.inventory.notify is not None:
        from console.notify import Notifier

        notifier = Notifier.from_settings(
            engine.inventory.notify,
            roll=engine.inventory.name,
            on_failure=lambda failure: engine.log(f"notification not delivered: {failure}", level="warn"),
        )
        engine.subscribe(notifier)
    try:
        return await _face_only(engine, args, simulated=simulated, speed=speed, roll_id=roll_id)
    finally:
        if notifier is not None:
            await notifier.drain(10)


async def _face_only(
    engine: Any, args: argparse.Namespace, *, simulated: bool, speed: float, roll_id: int
) -> int:
    if args.headless or args.json:
        from console.headless import run_headless

        if not args.json:
            print(f"roll {roll_id}: {engine.inventory.name} ({len(engine.hosts)} hosts)", flush=True)
        return await run_headless(engine, as_json=args.json)
    from console.tui.app import run_console

    return await run_console(engine, simulated=simulated, speed=speed)


def inventory_key_of(inv: Any) -> str:
    return _inventory_key(inv.path)


def _inventory_key(path: str) -> str:
    from console.journal.store import inventory_key

    return inventory_key(path)


def _who() -> str:
    from console.journal.store import whoami

    user, machine = whoami()
    return f"{user}@{machine}"


def _command_line() -> str:
    return " ".join(["slowroll", *sys.argv[1:]])


def cmd_resume(args: argparse.Namespace) -> int:
    from console.journal.store import inventory_diff, policy_diff
    from console.load.redact import redact_secrets
    from console.model.events import RollState

    journal = _open_journal(args)
    try:
        if args.roll is not None:
            roll = journal.roll(args.roll)
            if roll is None:
                raise UsageError(f"no roll {args.roll} in {journal.path}")
        else:
            candidates = [r for r in journal.unfinished() if not r.simulated]
            if not candidates:
                raise UsageError(f"no unfinished roll to resume in {journal.path} (see `slowroll history`)")
            roll = candidates[0]
        if not roll.unfinished:
            raise UsageError(f"roll {roll.id} is {roll.state}: nothing to resume")
        if roll.simulated:
            journal.roll_id = roll.id
            journal.set_roll_state(
                "abandoned", "its simulated fleet lived in the console process and is gone"
            )
            raise UsageError(
                f"roll {roll.id} ran against a simulated fleet inside its console process; that fleet is gone, "
                "so there is nothing to resume (it is now marked abandoned)"
            )
        inv = load_any_inventory(roll.inventory_path, roll.policy_path)
        changed = inv.content_hash != roll.inventory_hash
        if changed:
            diff = inventory_diff(roll.inventory_text, redact_secrets(inv.text), roll.inventory_path)
            if not diff.strip():  # the change is in a file whose text the journal does not keep (--policy)
                diff = policy_diff(roll.policy, inv.policy.to_dict(), roll.policy_path or roll.inventory_path)
            if not args.accept_changes:
                print(diff, file=sys.stderr)
                raise UsageError(
                    f"the inventory changed since roll {roll.id} started (diff above); "
                    "rerun with --accept-changes to continue with the new inventory"
                )
            print(diff)
    except BaseException:
        journal.close()
        raise
    return _exit_if_terminal_gone(
        asyncio.run(_resume(journal, roll, inv, args, changed=changed, state=RollState))
    )


async def _resume(
    journal: Any, roll: Any, inv: Any, args: argparse.Namespace, *, changed: bool, state: Any
) -> int:
    from console.engine.facade import Engine
    from console.journal.store import RollLock

    lock = RollLock(journal.dir, inv.path)
    try:
        lock.acquire(roll.id, break_lock=args.break_lock)
        journal.attach(roll.id, inventory=inv if changed else None)
        history = journal.last_reboot_times([h.name for h in inv.hosts], simulated=roll.simulated)
        connector = _connector(inv, args)
        engine = Engine(
            inv,
            connector,
            journal=journal,
            history=history,
            typical_cycle=journal.typical_cycle(inventory_key_of(inv), simulated=roll.simulated),
        )
        engine.restore(
            journal.hosts(roll.id),
            state=state(roll.state),
            reason=roll.reason,
            automatic=roll.automatic,
            slice_index=roll.slice_index,
            ramp_step=roll.ramp_step,
            started_at=roll.started_at,
        )
        engine.log(
            f"roll {roll.id} resumed by {engine.operator} (was {roll.state}, started by {roll.started_by} "
            f"on {roll.started_on})"
        )
        if (args.headless or args.json) and engine.state in (state.PAUSED, state.PAUSING):
            engine.resume(why="slowroll resume")
        try:
            return await _face(engine, args, simulated=False, speed=1.0, roll_id=roll.id)
        finally:
            await connector.close()
    finally:
        lock.release()
        journal.close()


def cmd_audit(args: argparse.Namespace) -> int:

    if (args.fault or args.speed is not None) and not args.sim:
        raise UsageError("--fault and --speed need the simulator: add --sim")
    inv = load_any_inventory(args.inventory, getattr(args, "policy", None))
    faults: dict[str, set[str]] = {}
    if args.sim:
        from console.sim.fleet import FaultError, parse_faults

        try:
            faults = parse_faults(args.fault, inv)
        except FaultError as exc:
            raise UsageError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="slowroll-") as tmp:
        return asyncio.run(_audit(inv, Path(tmp), args, faults))


async def _audit(inv: Any, work: Path, args: argparse.Namespace, faults: dict[str, set[str]]) -> int:
    from console.drift.audit import audit_fleet, format_audit

    fleet = None
    journal = _open_journal(args)
    try:
        if args.sim:
            from console.sim.fleet import SimFleet

            fleet = SimFleet(inv, work / "sim", speed=args.speed or 1.0, faults=faults, seed=args.seed)
            await fleet.start()
            target = fleet.twin_inventory()
        else:
            target = inv
        history = journal.last_reboot_times([h.name for h in target.hosts], simulated=args.sim)
        connector = _connector(target, args, simulated=args.sim)
        try:
            result = await audit_fleet(target, connector, history=history, keep_facts=False)
        finally:
            await connector.close()
    finally:
        journal.close()
        if fleet is not None:
            await fleet.stop()
    if args.json:
        for a in result.hosts.values():
            print(json.dumps({"event": "audit", **a.to_dict()}))
        print(
            json.dumps(
                {
                    "event": "audit-finished",
                    "hosts": len(result.hosts),
                    "blocking": result.blocking,
                    "unreachable": result.unreachable,
                }
            )
        )
    else:
        print(format_audit(result, show_ok=args.all))
    return 1 if result.blocking or result.unreachable else 0


def cmd_report(args: argparse.Namespace) -> int:
    import shutil

    from console.report.build import build_report
    from console.report.markdown import render_markdown
    from console.report.toml import render_toml

    journal = _open_journal(args)
    try:
        roll_id = args.roll
        if roll_id is None:
            latest = journal.rolls(limit=1)
            if not latest:
                raise UsageError(f"no roll in {journal.path} yet")
            roll_id = latest[0].id
        report = build_report(journal, roll_id)
        if args.toml:
            sys.stdout.write(render_toml(report))
        else:
            width = args.width or min(max(shutil.get_terminal_size((100, 24)).columns, 60), 160)
            sys.stdout.write(render_markdown(report, width=width))
        return 0
    finally:
        journal.close()


def cmd_history(args: argparse.Namespace) -> int:
    journal = _open_journal(args)
    try:
        if args.json:
            data = {
                "rolls": [
                    {
                        "id": r.id,
                        "inventory": r.inventory_name,
                        "path": r.inventory_path,
                        "state": r.state,
                        "reason": r.reason,
                        "started_by": r.started_by,
                        "started_on": r.started_on,
                        "started_at": r.started_at,
                        "finished_at": r.finished_at,
                        "simulated": r.simulated,
                    }
                    for r in journal.rolls()
                    if args.host is None
                ],
                "reboots": journal.last_reboots(args.host),
                "rehearsal_reboots": journal.last_reboots(args.host, simulated=True),
            }
            print(json.dumps(data, indent=2))
            return 0
        if args.host is None:
            rolls = journal.rolls()
            print(f"Rolls ({journal.path}):")
            if not rolls:
                print("  none yet")
            for r in rolls:
                when = _when(r.started_at or r.created_at)
                sim = " [simulated]" if r.simulated else ""
                counts = ""
                if r.summary:
                    counts = (
                        f" — {len(r.summary.get('rebooted', []))} rebooted, {len(r.summary.get('failed', []))}"
                        f" failed, {len(r.summary.get('untouched', []))} untouched"
                    )
                print(
                    f"  {r.id:>4}  {when}  {r.state.upper():<9} {r.inventory_name}{sim}  by {r.started_by}@"
                    f"{r.started_on}{counts}"
                )
                if r.reason and r.state not in ("complete",):
                    print(f"        ↳ {r.reason}")
            print()
        reboots = journal.last_reboots(args.host)
        title = f"Good reboots of {args.host}:" if args.host else "Last good reboot per host:"
        print(title)
        if not reboots:
            print("  none recorded")
        for b in reboots:
            print(
                f"  {b['host']:<20} {_when(b['healthy_at'])}  roll {b['roll']} ({b['inventory']})  "
                f"boot {str(b['boot_id_before'])[:8]}→{str(b['boot_id_after'])[:8]}"
            )
        rehearsed = journal.last_reboots(args.host, simulated=True)
        if rehearsed:
            print()
            print(
                f"Rehearsals on the simulated fleet ({len(rehearsed)}; the hosts themselves were not rebooted):"
            )
            for b in rehearsed[:10]:
                print(
                    f"  {b['host']:<20} {_when(b['healthy_at'])}  roll {b['roll']} ({b['inventory']}) [simulated]"
                )
            if len(rehearsed) > 10:
                print(f"  … {len(rehearsed) - 10} more")
        return 0
    finally:
        journal.close()


def _when(at: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"


if __name__ == "__main__":
    sys.exit(main())

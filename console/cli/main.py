"""``slowroll COMMAND``: parse the command line, run the command's module, turn errors into exit codes.

Each command lives in its own module (``console.cli.check``, ``plan``, ``sim``, ``roll`` for run and demo,
``resume``, ``audit``, ``history``, ``report``, ``faults``) with ``run(args) -> exit code``; rolls go through
``console.session``. The grammar is in ``console.cli.parser``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from console.cli.parser import build_parser
from console.model.errors import SlowrollError, UsageError
from console.model.exits import EXIT_COMPLETE, EXIT_OPERATOR, EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _run(args)
    except SlowrollError as exc:
        print(f"slowroll: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("slowroll: interrupted", file=sys.stderr)
        return EXIT_OPERATOR
    except BrokenPipeError:
        # The reader went away (`slowroll plan … | head`): nothing left to say to it.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_COMPLETE


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command. Its module is imported only now: ``check`` and ``plan`` start without the
    SSH library, the engine or the simulator, and only the console itself loads Textual."""
    match args.command:
        case "check":
            from console.cli import check

            return check.run(args)
        case "plan":
            from console.cli import plan

            return plan.run(args)
        case "faults":
            from console.cli import faults

            return faults.run(args)
        case "sim":
            from console.cli import sim

            return sim.run(args)
        case "run" | "demo":
            from console.cli import roll

            return roll.run(args)
        case "audit":
            from console.cli import audit

            return audit.run(args)
        case "resume":
            from console.cli import resume

            return resume.run(args)
        case "history":
            from console.cli import history

            return history.run(args)
        case "report":
            from console.cli import report

            return report.run(args)
    raise UsageError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())

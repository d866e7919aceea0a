"""``slowroll COMMAND``: parse the command line, run the command's module, turn errors into exit codes.

Each command lives in its own module (``console.cli.check``, ``plan``, ``sim``, ``roll`` for run and demo,
``resume``, ``audit``, ``history``, ``report``, ``faults``) with ``run(args) -> exit code``; rolls go through
``console.session``. The grammar is in ``console.cli.parser``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
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


# Each command's module, imported only when it runs: ``check`` and ``plan`` start without the SSH
# library, the engine or the simulator, and only the console itself loads Textual.
COMMAND_MODULES = {
    "check": "check",
    "plan": "plan",
    "faults": "faults",
    "sim": "sim",
    "run": "roll",
    "demo": "roll",
    "audit": "audit",
    "resume": "resume",
    "history": "history",
    "report": "report",
}


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command through its module's ``run(args)``."""
    name = COMMAND_MODULES.get(args.command)
    if name is None:
        raise UsageError(f"unknown command {args.command}")
    module = importlib.import_module(f"console.cli.{name}")
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

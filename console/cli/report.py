"""``slowroll report [ROLL_ID]``: a roll's report, Markdown for people or ``--toml`` for tools."""

from __future__ import annotations

import argparse
import shutil
import sys

from console.cli.inventory import open_journal
from console.model.errors import UsageError
from console.report.build import build_report
from console.report.markdown import render_markdown
from console.report.toml import render_toml


def run(args: argparse.Namespace) -> int:
    journal = open_journal(args.state)
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

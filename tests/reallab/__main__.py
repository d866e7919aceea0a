"""``python -m tests.reallab cleanup [--force]``: remove what crashed lab sessions left behind.

``python -m tests.reallab build-image``: build the golden image now (it is cached).
``python -m tests.reallab check``: say whether real hosts can run here.
``python -m tests.reallab capture DEST``: capture real systemd outputs from a lab host into DEST.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .lab import GoldenImage, LabError, cleanup_leftovers, lab_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reallab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    clean = sub.add_parser("cleanup", help="tear down labs whose owning process is gone")
    clean.add_argument("--force", action="store_true", help="also labs whose owner still runs")
    sub.add_parser("build-image", help="build (or find) the cached golden image and print its path")
    sub.add_parser("check", help="print why real hosts cannot run here; exit 1 if they cannot")
    cap = sub.add_parser("capture", help="capture real systemd outputs (before/after a reboot) into DEST")
    cap.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "cleanup":
            names = cleanup_leftovers(force=args.force)
            print("cleaned: " + (", ".join(names) if names else "nothing to clean"))
        elif args.command == "build-image":
            image = GoldenImage()
            print(image.ensure())
            if image.build_seconds is not None:
                print(f"built in {image.build_seconds:.1f} s")
        elif args.command == "capture":
            from .capture import capture

            capture(args.dest)
        else:
            problems = lab_problems()
            for p in problems:
                print(p)
            if problems:
                return 1
            print("ok: real hosts can run here")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``slowroll COMMAND``."""

from console.cli.main import main

__all__ = ["main"]

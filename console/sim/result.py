"""What a command run on a simulated host gives back."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExecResult"]


@dataclass(frozen=True)
class ExecResult:
    exit_status: int
    stdout: str = ""
    stderr: str = ""

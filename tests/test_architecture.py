"""The house's rules, checked rather than hoped for: layers, no loops, strict types, small rooms.

docs/ARCHITECTURE.md explains the layers; pyproject.toml holds the import-linter contracts and the mypy
settings these tests run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "console"
BIN = Path(sys.executable).parent

MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable} (pip install -e '.[test]')")
    return str(path)


def test_import_contracts_hold() -> None:
    """Layers import only downwards, the engine and below never import Textual or Rich, no loops."""
    proc = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_strict_outside_the_console_and_the_simulator() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_too_long() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) >= MAX_MODULE_LINES
    }
    assert not long, f"modules of {MAX_MODULE_LINES} lines or more: {long}"


def _measure(kind: type | tuple[type, ...], limit: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, kind):
                assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > limit:
                    out[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = size
    return out


def test_no_class_too_long() -> None:
    long = _measure(ast.ClassDef, MAX_CLASS_LINES)
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


def test_no_function_too_long() -> None:
    long = _measure((ast.FunctionDef, ast.AsyncFunctionDef), MAX_FUNCTION_LINES)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"

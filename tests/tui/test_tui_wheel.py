"""The console's themes and stylesheet come with the wheel: built, installed apart, loaded from there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "console", "themes", "sample_inventories")

PROBE = """
import json, sys
from importlib import resources
import console, console.tui.app as app
from console.tui.components.themes import shipped_themes, load_themes
themes = shipped_themes()
everything = load_themes()
print(json.dumps({
    "console": console.__file__,
    "themes_folder": str(resources.files("console.themes")),
    "names": list(themes),
    "user": everything.names(),
    "problems": everything.problems,
    "css_exists": (resources.files("console.tui") / app.SlowrollApp.CSS_PATH).is_file(),
}))
"""


def build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` from a copy of the sources (a build writes build/ and egg-info where it runs)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path / "dist"
    base = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(out)]
    attempts = [base, [*base, "--no-build-isolation"]]  # the second needs setuptools + wheel here
    errors = []
    for cmd in attempts:
        proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300)
        wheels = sorted(out.glob("slowroll-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[0]
        errors.append(f"$ {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    raise AssertionError("could not build the wheel:\n" + "\n".join(errors))


def test_themes_load_from_the_installed_wheel(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    assert (target / "console" / "themes" / "screen-share.toml").is_file()
    user = tmp_path / "config" / "slowroll" / "themes"
    user.mkdir(parents=True)
    (user / "mine.toml").write_text('name = "mine"\nbased_on = "screen-share"\n[grid]\ncursor = "#ffff00"\n')
    env = {**os.environ, "PYTHONPATH": str(target), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    # Run from elsewhere so the checkout is not on sys.path: the installed copy must be the one found.
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert Path(found["console"]).is_relative_to(target)
    assert Path(found["themes_folder"]).is_relative_to(target)
    assert found["names"] == ["dark", "light", "screen-share"]
    assert found["user"] == ["dark", "light", "screen-share", "mine"] and not found["problems"]
    assert found["css_exists"]

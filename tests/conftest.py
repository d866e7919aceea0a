"""Shared test setup: every test gets its own state and config folders (the journal, settings)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config")):
        path = Path(base) / sub
        path.mkdir()
        monkeypatch.setenv(var, str(path))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (it does so in the same hook)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist, all real-host tests share one worker: one golden image and one lab at a time."""
    real = Path(__file__).resolve().parent / "real"
    for item in items:
        if real in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("realhost"))

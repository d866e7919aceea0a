"""Fixtures for end-to-end tests against real Debian 12 hosts (see tests/reallab/README.md).

- ``golden_image`` (session): the cached Debian 12 root file system, built once (~1 min) if missing.
- ``lab_factory`` (function): ``lab_factory()`` sets up a fresh ``Lab`` in a free slot; all are torn down
  after the test, also when it fails.
- ``lab`` (function): one such lab, for tests that need just one.

Every test in this folder is marked ``realhost``. Without root, systemd-nspawn/debootstrap, cgroups or
namespaces the tests are skipped with the reason -- unless ``SLOWROLL_REQUIRE_REALHOST=1`` (CI), where they
fail instead, so a suite that silently skipped everything cannot pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reallab.lab import GoldenImage, Lab, cleanup_leftovers, lab_problems

HERE = Path(__file__).resolve().parent
# The first real-host test may build the golden image (debootstrap, ~1 min on 2 cores).
FIRST_TEST_TIMEOUT = 600


def _required() -> bool:
    return os.environ.get("SLOWROLL_REQUIRE_REALHOST", "") not in ("", "0")


def unavailable(reason: str) -> None:
    """Skip (or fail, when real hosts are required) because real hosts cannot run here."""
    if _required():
        pytest.fail(f"real hosts are required (SLOWROLL_REQUIRE_REALHOST=1) but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(trylast=True)  # after -k / -m deselection, so "first" is the first test that runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    first = True
    for item in items:
        if HERE not in Path(str(item.path)).resolve().parents:
            continue
        item.add_marker(pytest.mark.realhost)
        if first:
            first = False
            marker = item.get_closest_marker("timeout")
            current = marker.args[0] if marker and marker.args else 0
            if current < FIRST_TEST_TIMEOUT:
                item.add_marker(pytest.mark.timeout(FIRST_TEST_TIMEOUT), append=False)


@pytest.fixture(scope="session")
def golden_image() -> GoldenImage:
    problems = lab_problems()
    if problems:
        unavailable("real hosts cannot run here: " + "; ".join(problems))
    cleanup_leftovers()  # labs of sessions that died (only those whose process is gone)
    image = GoldenImage()
    image.ensure()
    return image


@pytest.fixture
def lab_factory(
    golden_image: GoldenImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Lab]]:
    labs: list[Lab] = []

    def make() -> Lab:
        lab = Lab.claim(tmp_path_factory.mktemp("lab"), image=golden_image)
        labs.append(lab)
        return lab

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Exception as exc:
            errors.append(f"{lab.name}: {exc}")
    if errors:
        pytest.fail("lab cleanup failed: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def lab(lab_factory: Callable[[], Lab]) -> Lab:
    return lab_factory()

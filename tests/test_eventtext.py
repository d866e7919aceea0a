"""One event, the same words in both faces: the headless printer's lines and the console's log entries.

The texts are pinned as the faces printed them before ``console/eventtext.py`` held the words for both."""

from __future__ import annotations

import time

import pytest

from console.headless import format_event
from console.model.events import (
    CheckRan,
    Event,
    FindingsReported,
    HostState,
    HostStateChanged,
    LogLine,
    RollFinished,
    RollState,
    RollStateChanged,
    SliceFinished,
    SliceStarted,
)
from console.model.findings import Finding, Severity
from console.tui.components.logpane import entries_for

T = 1_700_000_000.25
OUTPUT = "\n".join(f"line {i}" for i in range(10))
FINDING = Finding("lost-unit", Severity.BLOCK, "x.service", "x.service ran before", "ev 1\nev 2", "after")

CASES: list[tuple[Event, str, list[tuple[bool, str | None, str, str]]]] = [
    (
        HostStateChanged(T, "web-01", HostState.CHECKING, HostState.FAILED, "check http failed"),
        "web-01           checking → failed  check http failed",
        [(True, "web-01", "checking → ✘ failed  check http failed", "error")],
    ),
    (
        HostStateChanged(T, "web-01", HostState.REBOOTING, HostState.REBOOTING, "skipped", None, True),
        "web-01           rebooting  skipped",
        [(True, "web-01", "⟳ rebooting (skipped)  skipped", "warn")],
    ),
    (
        RollStateChanged(T, RollState.RUNNING, RollState.PAUSING, "web-01 failed", "web-01", True),
        "ROLL             running → PAUSING (automatic): web-01 failed",
        [(True, None, "ROLL ◐ PAUSING (automatic): web-01 failed", "error")],
    ),
    (
        SliceStarted(T, 2, ("a", "b"), False, "batch step 3"),
        "SLICE 3          slice of 2: a, b  (batch step 3)",
        [(True, None, "SLICE 3 slice of 2: a, b  (batch step 3)", "info")],
    ),
    (
        SliceFinished(T, 2, ("a", "b"), 95.0),
        "SLICE 3          finished in 95.0s",
        [(True, None, "SLICE 3 finished in 1m35s", "info")],
    ),
    (
        CheckRan(T, None, "lb", "slice", False, OUTPUT, 1.0, 3),
        "SERVICE          check lb (slice): ✘ FAIL after 3 attempts  line 9",
        [
            (True, None, "check lb (slice): ✘ FAIL after 3 attempts", "error"),
            (False, None, "  … 2 earlier line(s)", "error"),
            *[(False, None, f"  │ line {i}", "error") for i in range(2, 10)],
        ],
    ),
    (
        FindingsReported(T, "db-1", "after", (FINDING,)),
        "db-1             finding (after) [block] lost-unit: x.service ran before",
        [
            (True, "db-1", "finding (after) [block] lost-unit: x.service ran before", "error"),
            (False, "db-1", "  │ ev 1", "error"),
            (False, "db-1", "  │ ev 2", "error"),
        ],
    ),
    (
        LogLine(T, "slow", None, "warn"),
        "-                WARN: slow",
        [(True, None, "WARN slow", "warn")],
    ),
    (
        RollFinished(T, RollState.ABORTED, ("a",), ("b",), (), ("c",), "operator", 12.34),
        "FINISHED         ABORTED in 12.3s: 1 rebooted, 1 failed ['b'], 0 skipped, 1 untouched  — operator",
        [(True, None, "FINISHED ABORTED: 1 rebooted, 1 failed, 0 skipped, 1 untouched", "warn")],
    ),
]


@pytest.mark.parametrize(("event", "headless", "pane"), CASES, ids=lambda c: type(c).__name__)
def test_both_faces_say_it(
    event: Event, headless: str, pane: list[tuple[bool, str | None, str, str]]
) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(T)) + ".250"
    assert format_event(event) == f"{stamp}  {headless}"
    assert [(e.at is not None, e.host, e.text, e.level) for e in entries_for(event)] == pane


def test_a_failed_check_with_blank_output_has_no_tail() -> None:
    event = CheckRan(T, "h", "http", "post", False, "  \n ", 1.0)
    assert str(format_event(event)).endswith("check http (post): ✘ FAIL")

"""What each operator action may do now, and why not: the engine's one answer, shown by every face.

Faces never restate these rules; they ask ``Engine.availability(action, host)`` and show the reason
(adding, if they like, the key that would help: ``hint`` names the action that would).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from console.model.events import HostState, RollState

ROLL_ACTIONS = ("start", "pause", "resume", "abort")
HOST_ACTIONS = ("skip", "retry")
Action = Literal["start", "pause", "resume", "abort", "skip", "retry"]

RETRYABLE = "failed, unhealthy, blocked or unconfirmed"


@dataclass(frozen=True, slots=True)
class Answer:
    """``ok``, or why not (``reason``), and the action that would make sense instead (``hint``)."""

    ok: bool
    reason: str = ""
    hint: str | None = None

    def __bool__(self) -> bool:
        return self.ok


YES = Answer(True)


class HostView(Protocol):
    @property
    def state(self) -> HostState: ...

    @property
    def skipped(self) -> bool: ...

    @property
    def busy(self) -> bool:
        """A task (a retry, a verification) is still working on it."""
        ...


def roll_action(action: str, state: RollState) -> Answer:
    """May ``action`` (start, pause, resume, abort) be taken while the roll is ``state``?"""
    word = state.value
    if action == "start":
        if state is RollState.READY:
            return YES
        return Answer(False, f"the roll has already started (it is {word})")
    if action == "pause":
        if state is RollState.RUNNING:
            return YES
        if state is RollState.READY:
            return Answer(False, "nothing to pause: the roll has not started", hint="start")
        if state in (RollState.PAUSING, RollState.PAUSED):
            return Answer(False, f"the roll is already {word}: no new reboot is being issued", hint="resume")
        return Answer(False, f"the roll is {word}")
    if action == "resume":
        if state in (RollState.PAUSING, RollState.PAUSED):
            return YES
        if state is RollState.RUNNING:
            return Answer(False, "the roll is running", hint="pause")
        if state is RollState.READY:
            return Answer(False, "the roll has not started", hint="start")
        return Answer(False, f"the roll is {word}")
    if action == "abort":
        if not state.final and state is not RollState.ABORTING:
            return YES
        if state is RollState.ABORTING:
            return Answer(False, "the roll is already aborting")
        return Answer(False, f"the roll is over ({word})")
    raise ValueError(f"unknown roll action {action!r}")


def host_action(action: str, state: RollState, name: str, host: HostView | None) -> Answer:
    """May ``action`` (skip, retry) be taken on host ``name`` while the roll is ``state``?"""
    if host is None:
        return Answer(False, f"no host named {name!r} in this roll")
    if state.final:
        return Answer(False, f"the roll is over ({state.value})")
    if action == "skip":
        if host.skipped or host.state is HostState.SKIPPED:
            return Answer(False, f"{name} is already skipped")
        if host.state is HostState.DONE:
            return Answer(False, f"{name} is done: nothing to skip")
        return YES
    if action == "retry":
        if not host.state.problem:
            return Answer(False, f"only {RETRYABLE} hosts can be retried; {name} is {host.state.value}")
        if host.busy:
            return Answer(False, f"{name} is still being worked on")
        return YES
    raise ValueError(f"unknown host action {action!r}")

"""The log pane: engine events and check output as timestamped lines, for one host or for all.

Bounded in memory (a deque of ``MAX_LINES``); drawn with the line API; appends are coalesced (the app calls
``tick`` ~10 times a second) so a burst of thousands of events costs one redraw.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from console.model.durations import format_duration
from console.model.events import (
    BudgetHeld,
    CheckRan,
    Event,
    FindingsReported,
    HostStateChanged,
    LogLine,
    OperatorAction,
    RollFinished,
    RollState,
    RollStateChanged,
    SliceFinished,
    SliceStarted,
)
from console.model.findings import Severity
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, Clock, ellipsize, roll_label

MAX_LINES = 5000
OUTPUT_LINES = 8  # lines of a failed check's output shown in the log (all of it is in the host detail)
LINE_CHARS = 400


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: float | None  # None: a continuation line (output under the line above)
    host: str | None
    text: str
    level: str = "info"  # info, ok, warn, error


def entries_for(event: Event) -> list[LogEntry]:
    """The log lines one event deserves (none for events not worth a line)."""
    at = event.at
    match event:
        case HostStateChanged(host=host, old=old, new=new, reason=reason, skipped=skipped):
            tail = f"  {reason}" if reason else ""
            mark = " (skipped)" if skipped else ""
            level = "error" if new.problem and old is not new else "info"
            if old is new:
                return [
                    LogEntry(
                        at, host, f"{HOST_GLYPHS[new]} {new.value}{mark}{tail}", "warn" if skipped else "info"
                    )
                ]
            return [LogEntry(at, host, f"{old.value} → {HOST_GLYPHS[new]} {new.value}{mark}{tail}", level)]
        case RollStateChanged(new=new, reason=reason, automatic=automatic):
            how = " (automatic)" if automatic else ""
            level = "warn" if new in (RollState.PAUSING, RollState.PAUSED, RollState.ABORTING) else "info"
            if new is RollState.ABORTED or (automatic and new is RollState.PAUSING):
                level = "error"
            return [
                LogEntry(at, None, f"ROLL {roll_label(new)}{how}{': ' + reason if reason else ''}", level)
            ]
        case SliceStarted(index=index, hosts=hosts, canary=canary, reason=reason):
            kind = "canary slice" if canary else "slice"
            return [
                LogEntry(
                    at, None, f"SLICE {index + 1} {kind} of {len(hosts)}: {', '.join(hosts)}  ({reason})"
                )
            ]
        case SliceFinished(index=index, duration=duration):
            return [LogEntry(at, None, f"SLICE {index + 1} finished in {format_duration(duration)}")]
        case CheckRan(host=host, check=check, phase=phase, ok=ok, output=output, attempts=attempts):
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            verdict = "✔ pass" if ok else "✘ FAIL"
            out = [LogEntry(at, host, f"check {check} ({phase}): {verdict}{tries}", "ok" if ok else "error")]
            if not ok and output.strip():
                lines = output.strip().splitlines()
                if len(lines) > OUTPUT_LINES:
                    out.append(
                        LogEntry(None, host, f"  … {len(lines) - OUTPUT_LINES} earlier line(s)", "error")
                    )
                    lines = lines[-OUTPUT_LINES:]
                out.extend(
                    LogEntry(None, host, "  │ " + ellipsize(line, LINE_CHARS), "error") for line in lines
                )
            return out
        case FindingsReported(host=host, phase=phase, findings=findings):
            out = []
            for f in findings:
                level = "error" if f.severity is Severity.BLOCK else "warn"
                out.append(
                    LogEntry(
                        at,
                        host,
                        f"finding ({phase}) [{f.severity}] {f.kind}: {f.message}",
                        level,
                    )
                )
                evidence = f.evidence.strip().splitlines()[:4]
                out.extend(
                    LogEntry(None, host, "  │ " + ellipsize(line, LINE_CHARS), level) for line in evidence
                )
            return out
        case BudgetHeld(budget=budget, limit=limit, holders=holders):
            return [
                LogEntry(
                    at, None, f"BUDGET {budget}: {len(holders)}/{limit} held by {', '.join(holders)}", "warn"
                )
            ]
        case OperatorAction(action=action, host=host, who=who, why=why):
            target = f" {host}" if host else ""
            return [
                LogEntry(at, host, f"OPERATOR {who}: {action}{target}{' — ' + why if why else ''}", "warn")
            ]
        case LogLine(message=message, host=host, level=level):
            prefix = {"warn": "WARN ", "error": "ERROR "}.get(level, "")
            return [LogEntry(at, host, prefix + message, level if level in ("warn", "error") else "info")]
        case RollFinished(
            state=state, rebooted=rebooted, failed=failed, skipped=skipped, untouched=untouched
        ):
            return [
                LogEntry(
                    at,
                    None,
                    f"FINISHED {state.value.upper()}: {len(rebooted)} rebooted, {len(failed)} failed, "
                    f"{len(skipped)} skipped, {len(untouched)} untouched",
                    "ok" if state is RollState.COMPLETE else "warn",
                )
            ]
    return []


class LogPane(ScrollView):
    """The last ``MAX_LINES`` log lines, all hosts or one."""

    DEFAULT_CSS = """
    LogPane {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(
        self,
        theme: ConsoleTheme,
        clock: Clock,
        *,
        host_width: int = 12,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.console_theme = theme
        self.clock = clock
        self.host_width = max(6, min(20, host_width))
        self.entries: deque[LogEntry] = deque(maxlen=MAX_LINES)
        self.only_host: str | None = None
        self._view: deque[LogEntry] = deque()
        self._dirty = False
        self.auto_scroll = True

    # ------------------------------------------------------------------------------------------------

    def _matches(self, entry: LogEntry) -> bool:
        return self.only_host is None or entry.host == self.only_host

    def add(self, new: list[LogEntry]) -> None:
        for entry in new:
            if len(self.entries) == self.entries.maxlen:
                evicted = self.entries[0]
                if self._view and self._view[0] is evicted:
                    self._view.popleft()
            self.entries.append(entry)
            if self._matches(entry):
                self._view.append(entry)
            self._dirty = True

    def show_host(self, host: str | None) -> None:
        """Only ``host``'s lines (None: every line)."""
        self.only_host = host
        self._view = deque(e for e in self.entries if self._matches(e))
        self._dirty = True
        self.tick(force_end=True)

    @property
    def view(self) -> list[LogEntry]:
        return list(self._view)

    def set_console_theme(self, theme: ConsoleTheme) -> None:
        self.console_theme = theme
        self.refresh()

    def _prefix_width(self) -> int:
        return 8 + 2 + self.host_width + 1

    def tick(self, *, force_end: bool = False) -> None:
        if force_end:
            self.auto_scroll = True
        if not self._dirty:
            return
        self._dirty = False
        size = Size(max(1, self.scrollable_content_region.width), len(self._view))
        if size != self.virtual_size:
            # Not ``self.virtual_size = size``: that asks for a layout of the whole screen (every widget
            # drawn again, thousands of tiles) each time a line arrives. The pane's own size does not change,
            # and its vertical scrollbar is always there, so updating the scrollbars is enough.
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        if self.auto_scroll:
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and not self._dirty:
            self.auto_scroll = False  # the reader scrolled up: stop jumping to the newest line
        if new_value >= self.max_scroll_y:
            self.auto_scroll = True

    # ------------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._view):
            if index == 0 and not self._view:
                text = (
                    f" nothing logged for {self.only_host} yet" if self.only_host else " nothing logged yet"
                )
                dim = base + Style(color=self.console_theme.grid["dim"], italic=True)
                return Strip([Segment(text, dim)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        entry = self._view[index]
        theme = self.console_theme
        dim = base + Style(color=theme.grid["dim"])
        text_style = base
        if entry.level == "error":
            text_style = base + Style(color=theme.ui.get("error"), bold=True)
        elif entry.level == "warn":
            text_style = base + Style(color=theme.ui.get("warning"))
        elif entry.level == "ok":
            text_style = base + Style(color=theme.ui.get("success"))
        stamp = self.clock.stamp(entry.at) if entry.at is not None else ""
        who = ellipsize(entry.host or "·", self.host_width) if entry.at is not None else ""
        room = max(1, min(width, self.scrollable_content_region.width or width) - self._prefix_width())
        segs = [
            Segment(f"{stamp:<8}  ", dim),
            Segment(f"{who:<{self.host_width}} ", base + Style(bold=entry.host is not None)),
            Segment(ellipsize(entry.text, room), text_style),
        ]
        return Strip(segs).adjust_cell_length(width, base)

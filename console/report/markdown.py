"""The report for people, in Markdown: summary, timeline, hosts, operator actions, roll states, service
checks, slices and policy — one function per section."""

from __future__ import annotations

import time

from console.model.durations import SPACED, format_duration
from console.model.events import LATE
from console.report.model import CheckFailure, FindingRow, HostReport, Report
from console.report.timeline import TIMELINE_LEGEND, timeline_axis, timeline_rows

STATE_MARK = {
    "done": "✔",
    "complete": "✔",
    "failed": "✘",
    "unhealthy": "✘",
    "blocked": "✘",
    "reboot-unconfirmed": "?",
    "aborted": "✘",
    "skipped": "»",
    "pending": "·",
    "paused": "‖",
    "pausing": "‖",
}


def render_markdown(report: Report, *, width: int = 100) -> str:
    """The report for people: summary, timeline, hosts, operator actions, states, slices, policy."""
    out = [
        *_summary(report),
        *_timeline(report, width),
        *_hosts(report),
        *_operator_actions(report),
        *_roll_states(report),
        *_service_failures(report),
        *_slices(report),
        *_policy(report),
    ]
    return "\n".join(out).rstrip() + "\n"


def format_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 10)}"


# ---------------------------------------------------------------------------------------------------
# Sections: each a list of lines, ending with a blank one


def _summary(r: Report) -> list[str]:
    left = [
        f"{len(r.summary[k])} {k}" for k in ("failed", "skipped", "untouched", "late") if r.summary.get(k)
    ]
    problems = (
        f" — {', '.join(left)}" if r.state == "complete" and left else ""
    )  # never clean when it was not
    out = [f"# Roll {r.roll_id} — {r.inventory_name}: {_state(r.state)}{problems}", ""]
    if r.reason:
        stopped = r.automatic and r.state in ("paused", "pausing")
        out += [f"**{'Stopped by itself' if stopped else 'Reason'}:** {' '.join(r.reason.split())}", ""]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = [
        ("started by", f"{r.started_by} on {r.started_on} (pid {r.pid})"),
        ("command", _code(r.command) if r.command else "—"),
        ("inventory", f"{_code(r.inventory_path)}, sha256 `{r.inventory_hash[:16]}`"),
        ("simulated", "yes (simulated twins)" if r.simulated else "no"),
        ("created", format_time(r.created_at)),
        ("started", format_time(r.started_at)),
        ("finished", format_time(r.finished_at) if r.finished_at else f"not finished ({r.state})"),
        ("duration", format_duration(r.duration, SPACED)),
        ("hosts", f"{len(r.hosts)}: {counts}" if r.hosts else "none"),
    ]
    for key in ("rebooted", "failed", "skipped", "untouched", "late"):
        if r.summary.get(key):
            rows.append((key, ", ".join(r.summary[key])))
    out += ["| | |", "| --- | --- |"]
    out += [f"| {k} | {v if k in ('command', 'inventory') else _cell(v)} |" for k, v in rows]
    return [*out, ""]


def _timeline(r: Report, width: int) -> list[str]:
    data = r.timeline()
    start = r.started_at or r.created_at
    return [
        "## Timeline",
        "",
        "```text",
        *timeline_rows(data, width, start=start, end=r.ended_at),
        timeline_axis(data, width, start=start, end=r.ended_at),
        "",
        TIMELINE_LEGEND,
        "```",
        "",
    ]


def _hosts(r: Report) -> list[str]:
    out = [
        "## Hosts",
        "",
        "| host | state | slice | downtime | to healthy | boot id before → after | findings | reason |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for h in r.hosts:
        late = _late(h)
        state = _state(h.state) + (" (skipped)" if h.skipped and h.state != "skipped" else "")
        state += " (late)" if late else ""
        findings = f"{len(h.findings)}" if h.findings else ""
        boot = f"{_short_id(h.boot_id_before)} → {_short_id(h.boot_id_after)}" if h.boot_id_before else "—"
        out.append(
            f"| {_cell(h.name)} | {state} | {h.slice_index + 1 if h.slice_index is not None else '—'} "
            f"| {format_duration(h.downtime, SPACED)} | {format_duration(h.time_to_healthy, SPACED)} | {boot} "
            f"| {findings} | {_cell(h.reason) if h.state != 'done' or late else ''} |"
        )
    out.append("")
    for h in r.hosts:
        if h.findings or h.failed_checks or h.actions or h.state not in ("done", "pending") or _late(h):
            out += _host_detail(h)
    return out


def _late(h: HostReport) -> bool:
    """Done, but only after its reboot_timeout had failed it (the engine's reason says so)."""
    return h.state == "done" and h.reason.startswith(LATE)


def _host_detail(h: HostReport) -> list[str]:
    out = [f"### {h.name} — {_state(h.state)}", ""]
    if h.reason:
        out.append(f"- reason: {' '.join(h.reason.split())}")
    if h.address:
        out.append(f"- address: `{h.address}`" + (f", groups: {', '.join(h.groups)}" if h.groups else ""))
    if h.boot_id_before:
        out.append(f"- boot id: `{h.boot_id_before}` → `{h.boot_id_after or 'none seen'}`")
    if h.reboot_at is not None:
        out.append("- " + ", ".join(_reboot_times(h, h.reboot_at)))
    if h.reissued:
        out.append("- the reboot command was re-issued after a restart of the console")
    if h.healthy_again:
        out.append("- healthy again after the problem (its budget slot was released)")
    if h.vars:
        out.append("- vars: " + ", ".join(f"{k}={_code(str(v))}" for k, v in h.vars.items()))
    for c in h.failed_checks:
        out.append(
            f"- ✘ check **{_cell(c.check)}** failed ({c.phase}, {c.attempts} attempt"
            f"{'s' if c.attempts != 1 else ''}, {format_time(c.at)}): {_last_output(c)}"
        )
    for f in h.findings:
        out += _finding(f)
    for a in h.actions:
        out.append(
            f"- operator: **{a.action}** by {a.who} at {format_time(a.at)}" + (f": {a.why}" if a.why else "")
        )
    return [*out, ""]


def _reboot_times(h: HostReport, reboot_at: float) -> list[str]:
    parts = [f"reboot {format_time(reboot_at)}"]
    if h.up_at is not None:
        parts.append(f"back {format_time(h.up_at)} (downtime {format_duration(h.downtime, SPACED)})")
    else:
        parts.append("not seen back with a new boot id")
    if h.done_at is not None:
        parts.append(
            f"healthy {format_time(h.done_at)} ({format_duration(h.time_to_healthy, SPACED)} after the reboot)"
        )
    return parts


def _finding(f: FindingRow) -> list[str]:
    out = [f"- finding {f.phase} the reboot — **{f.severity}** {f.kind} `{f.subject}`: {f.message}"]
    if f.evidence.strip():
        out += ["", "  ```text"]
        out += ["  " + line for line in f.evidence.rstrip().splitlines()[:40]]
        out += ["  ```", ""]
    return out


def _operator_actions(r: Report) -> list[str]:
    out = ["## Operator actions", ""]
    if not r.actions:
        return [*out, "None.", ""]
    out += ["| when | who | action | host | why |", "| --- | --- | --- | --- | --- |"]
    out += [
        f"| {format_time(a.at)} | {_cell(a.who)} | {a.action} | {_cell(a.host or '')} | {_cell(a.why)} |"
        for a in r.actions
    ]
    return [*out, ""]


def _roll_states(r: Report) -> list[str]:
    if not r.states:
        return []
    out = ["## Roll states", ""]
    for s in r.states:
        how = " (by itself)" if s.automatic else ""
        why = f" — {' '.join(s.reason.split())}" if s.reason else ""
        out.append(f"- {format_time(s.at)}: {s.old} → **{s.new}**{how}{why}")
    return [*out, ""]


def _service_failures(r: Report) -> list[str]:
    if not r.service_failures:
        return []
    out = ["## Service checks that failed", ""]
    out += [
        f"- ✘ **{_cell(c.check)}** ({c.phase}, {format_time(c.at)}): {_last_output(c)}"
        for c in r.service_failures
    ]
    return [*out, ""]


def _slices(r: Report) -> list[str]:
    out = ["## Slices", ""]
    if not r.slices:
        return [*out, "None started.", ""]
    out += ["| # | hosts | started | took | why |", "| --- | --- | --- | --- | --- |"]
    for sl in r.slices:
        name = f"{sl.index + 1}{' (canary)' if sl.canary else ''}"
        out.append(
            f"| {name} | {_cell(', '.join(sl.hosts))} | {format_time(sl.started_at)} "
            f"| {format_duration(sl.duration, SPACED)} | {_cell(sl.reason)} |"
        )
    return [*out, ""]


def _policy(r: Report) -> list[str]:
    out = ["## Policy", ""]
    for k, v in r.policy.items():
        if v is None or v == [] or v == {}:
            continue
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        elif isinstance(v, float) and k not in ("max_failures",):
            v = format_duration(v, SPACED) if k != "max_reboots_per_hour" else f"{v:g}"
        out.append(f"- {k}: {_code(str(v)) if k.endswith('command') else v}")
    return [*out, ""]


# ---------------------------------------------------------------------------------------------------
# Text helpers


def _state(state: str) -> str:
    """A state as glyph and word (never by colour alone)."""
    return f"{STATE_MARK.get(state, '…')} {state}"


def _cell(text: object) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def _code(text: str) -> str:
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _short_id(boot_id: str | None) -> str:
    return boot_id[:8] if boot_id else "—"


def _last_output(check: CheckFailure) -> str:
    """The last line a failed check printed, as code."""
    lines = [line for line in check.output.strip().splitlines() if line.strip()]
    return _code(lines[-1] if lines else "no output")

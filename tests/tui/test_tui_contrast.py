"""The themes, measured: every text colour on the background it is drawn on reaches WCAG AA (4.5:1), and in
greyscale every host state stays distinguishable (its own glyph, or its own lightness)."""

from __future__ import annotations

import pytest

from console.model.events import HostState, RollState
from console.tui.components.themes import SHIPPED_ORDER, ConsoleTheme, load_themes
from console.tui.components.vocab import HOST_GLYPHS

AA = 4.5


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def pairs(theme: ConsoleTheme) -> list[tuple[str, str, str]]:
    """Every (what, text colour, background) the console draws with this theme."""
    ui, grid = theme.ui, theme.grid
    back = ui["background"]
    out = [(f"text on {s}", ui["foreground"], ui[s]) for s in ("background", "surface", "panel", "boost")]
    out += [
        ("key letters on the key bar", ui["accent"], ui["panel"]),
        ("dimmed keys on the key bar", grid["dim"], ui["panel"]),
        ("'full' budget on the header", ui["warning"], ui["panel"]),
        ("warnings on the background", ui["warning"], back),
        ("group headings", grid["group"], back),
        ("the cursor's brackets", ui.get("accent", ui["primary"]), grid["cursor"]),
    ]
    for state, swatch in theme.states.items():
        out.append((f"host {state.value}", swatch.fg, swatch.bg or back))
        if not state.problem:  # the cursor's tint replaces the tile's fill (problem tiles keep theirs)
            out.append((f"host {state.value} under the cursor", swatch.fg, grid["cursor"]))
    for roll, swatch in theme.roll.items():
        out.append((f"badge {roll.value}", swatch.fg, swatch.bg or ui["panel"]))
    return out


THEMES = load_themes({}).themes


@pytest.mark.parametrize("name", SHIPPED_ORDER)
def test_every_text_colour_reaches_4_5_to_1(name: str) -> None:
    low = [f"{what}: {fg} on {bg} is {contrast(fg, bg):.2f}:1" for what, fg, bg in pairs(THEMES[name])]
    low = [line for line, (_, fg, bg) in zip(low, pairs(THEMES[name]), strict=True) if contrast(fg, bg) < AA]
    assert not low, "\n".join(low)


@pytest.mark.parametrize("name", SHIPPED_ORDER)
def test_every_state_is_distinguishable_in_greyscale(name: str) -> None:
    """Two states may share a glyph only if their tiles differ clearly in lightness."""
    theme = THEMES[name]
    back = theme.ui["background"]
    states = list(HostState)
    for i, a in enumerate(states):
        for b in states[i + 1 :]:
            if HOST_GLYPHS[a] != HOST_GLYPHS[b]:
                continue
            la = luminance(theme.states[a].bg or back)
            lb = luminance(theme.states[b].bg or back)
            assert abs(la - lb) > 0.2, f"{a.value} and {b.value}: same glyph, same grey"


@pytest.mark.parametrize("name", SHIPPED_ORDER)
def test_ready_running_and_complete_badges_differ(name: str) -> None:
    roll = THEMES[name].roll
    looks = {(roll[s].fg, roll[s].bg) for s in (RollState.READY, RollState.RUNNING, RollState.COMPLETE)}
    assert len(looks) == 3


IN_FLIGHT_FILLS = (HostState.PRECHECKING, HostState.DRAINING, HostState.BOOTING, HostState.CHECKING)


def test_screen_share_fills_survive_greyscale() -> None:
    """An in-progress fill that is nearly white vanishes when a video call squashes the colours."""
    theme = THEMES["screen-share"]
    for state in (*IN_FLIGHT_FILLS, HostState.BAKING, HostState.REBOOTING, HostState.DOWN):
        fill = theme.states[state].bg
        assert fill and contrast(fill, theme.ui["background"]) >= 1.5, state.value

"""Console themes (TOML) and the user's settings file.

A theme file maps to a Textual ``Theme`` (the ``[ui]`` table) plus a colour for every host state (``[states]``)
and roll state (``[roll]``) and the grid cursor (``[grid]``). Shipped themes live in the package
``console.themes`` (the repository's ``themes/`` folder) and are read with ``importlib.resources`` so they
load from an installed wheel too. User themes are ``$XDG_CONFIG_HOME/slowroll/themes/*.toml``; a user theme
may start from another with ``based_on`` (by default the shipped ``dark`` or ``light``, after its ``dark``
flag), so it only needs the keys it changes. A broken user theme is reported, never fatal.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

from console.model.errors import did_you_mean
from console.model.events import HostState, RollState

SHIPPED_ORDER = ("dark", "light", "screen-share")
DEFAULT_THEME = "dark"
UI_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
TOP_KEYS = ("name", "description", "dark", "based_on", "ui", "states", "roll", "grid")
GRID_KEYS = ("cursor", "group", "dim")
SWATCH_KEYS = ("fg", "bg", "bold")


class ThemeError(Exception):
    """A theme file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Swatch:
    """How one state is painted: a foreground, an optional fill, bold or not."""

    fg: str
    bg: str | None = None
    bold: bool = False

    def style(self) -> Style:
        return Style(color=self.fg, bgcolor=self.bg, bold=self.bold)

    def markup(self) -> str:
        parts = [self.fg]
        if self.bg:
            parts.append(f"on {self.bg}")
        if self.bold:
            parts.append("bold")
        return " ".join(parts)


@dataclass(frozen=True)
class ConsoleTheme:
    name: str
    description: str
    dark: bool
    ui: Mapping[str, str]
    variables: Mapping[str, str]
    states: Mapping[HostState, Swatch]
    roll: Mapping[RollState, Swatch]
    grid: Mapping[str, str]
    source: str = "built-in"

    @property
    def textual_name(self) -> str:
        """The name registered with Textual (prefixed, so it never collides with Textual's own themes)."""
        return f"slowroll-{self.name}"

    def textual_theme(self) -> Theme:
        ui = dict(self.ui)
        return Theme(
            name=self.textual_name,
            primary=ui["primary"],
            secondary=ui.get("secondary"),
            accent=ui.get("accent"),
            warning=ui.get("warning"),
            error=ui.get("error"),
            success=ui.get("success"),
            foreground=ui.get("foreground"),
            background=ui.get("background"),
            surface=ui.get("surface"),
            panel=ui.get("panel"),
            boost=ui.get("boost"),
            dark=self.dark,
            variables=dict(self.variables),
        )

    def state_style(self, state: HostState) -> Style:
        return self.states[state].style()

    def roll_style(self, state: RollState) -> Style:
        return self.roll[state].style()


@dataclass
class ThemeSet:
    """Every usable theme, in cycling order, and the problems met while loading user themes."""

    themes: dict[str, ConsoleTheme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(self.themes)

    def next_after(self, name: str) -> str:
        names = self.names()
        if name not in names:
            return names[0]
        return names[(names.index(name) + 1) % len(names)]


# ----------------------------------------------------------------------------------------------------
# Where things live


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/slowroll`` (default ``~/.config/slowroll``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "slowroll"


def user_themes_dir(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "themes"


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "settings.toml"


# ----------------------------------------------------------------------------------------------------
# Parsing


def _colour(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f'{where}: expected a colour such as "#1e88e5", got {type(value).__name__}')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{where}: {value!r} is not a colour (use #rrggbb or a colour name)") from None
    return value


def _unknown(keys: Iterable[str], allowed: Iterable[str], where: str) -> None:
    allowed = list(allowed)
    for key in keys:
        if key not in allowed:
            raise ThemeError(f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}")


def _swatch(value: Any, where: str, base: Swatch | None) -> Swatch:
    if isinstance(value, str):
        return Swatch(_colour(value, where), base.bg if base else None, base.bold if base else False)
    if isinstance(value, dict):
        _unknown(value, SWATCH_KEYS, where)
        fg = value.get("fg", base.fg if base else None)
        if fg is None:
            raise ThemeError(f"{where}: needs fg (a colour)")
        bg = value.get("bg", base.bg if base else None)
        bold = value.get("bold", base.bold if base else False)
        if not isinstance(bold, bool):
            raise ThemeError(f"{where}.bold: expected true or false")
        return Swatch(
            _colour(fg, f"{where}.fg"),
            None if bg in (None, "") else _colour(bg, f"{where}.bg"),
            bold,
        )
    raise ThemeError(f"{where}: expected a colour or a table {{fg, bg, bold}}, got {type(value).__name__}")


def _header(data: dict[str, Any], source: str) -> tuple[str, bool, str]:
    """The theme's name, whether it is dark, and its description."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f'{source}: name: required, a word such as "night-shift"')
    name = name.strip()
    if not all(c.isalnum() or c in "-_" for c in name):
        raise ThemeError(f"{source}: name: {name!r} may hold only letters, digits, '-' and '_'")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{source}: dark: expected true or false")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ThemeError(f"{source}: description: expected text")
    return name, dark, description


def _base(
    data: dict[str, Any], source: str, known: Mapping[str, ConsoleTheme] | None, complete: bool, dark: bool
) -> ConsoleTheme | None:
    """The theme this one is built upon (None for a complete one)."""
    if complete:
        if "based_on" in data:
            raise ThemeError(f"{source}: based_on: a shipped theme must be complete")
        return None
    known = known or {}
    base_name = data.get("based_on", "dark" if dark else "light")
    if not isinstance(base_name, str) or base_name not in known:
        raise ThemeError(
            f"{source}: based_on: no theme named {base_name!r}{did_you_mean(str(base_name), known)}; "
            f"known: {', '.join(known)}"
        )
    return known[base_name]


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ThemeError(f"{source}: [{key}]: expected a table")
    return value


def _colours(
    raw: dict[str, Any],
    allowed: Iterable[str],
    where: str,
    base: Mapping[str, str] | None,
    required: Iterable[str],
) -> dict[str, str]:
    """A table of colours (``[ui]``, ``[grid]``): the base's, with ``raw``'s on top."""
    _unknown(raw, allowed, where)
    out: dict[str, str] = dict(base) if base else {}
    for key, value in raw.items():
        out[key] = _colour(value, f"{where} {key}")
    for key in required:
        if key not in out:
            raise ThemeError(f"{where} {key}: required")
    return out


def _variables(raw: dict[str, Any], source: str, base: Mapping[str, str] | None) -> dict[str, str]:
    variables = dict(base) if base else {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ThemeError(f"{source}: [ui.variables] {key}: expected text")
        variables[key] = value
    return variables


State = TypeVar("State", HostState, RollState)


def _swatches(
    raw: dict[str, Any], members: Iterable[State], where: str, base: Mapping[State, Swatch] | None
) -> dict[State, Swatch]:
    """A swatch for every host (or roll) state: ``raw``'s, or the base's."""
    members = list(members)
    _unknown(raw, (m.value for m in members), where)
    out: dict[State, Swatch] = {}
    for member in members:
        if member.value in raw:
            out[member] = _swatch(
                raw[member.value], f"{where} {member.value}", base[member] if base else None
            )
        elif base is not None:
            out[member] = base[member]
        else:
            raise ThemeError(f"{where} {member.value}: required")
    return out


def parse_theme(
    text: str, source: str, known: Mapping[str, ConsoleTheme] | None = None, *, complete: bool = False
) -> ConsoleTheme:
    """One theme from TOML text; ``known`` themes can be built upon (``based_on``).

    ``complete``: every key must be present (the shipped themes); otherwise missing keys come from the
    base theme.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{source}: not valid TOML: {exc}") from None
    _unknown(data, TOP_KEYS, source)
    name, dark, description = _header(data, source)
    base = _base(data, source, known, complete, dark)
    ui_raw = _table(data, "ui", source)
    variables_raw = ui_raw.pop("variables", {})
    if not isinstance(variables_raw, dict):
        raise ThemeError(f"{source}: [ui.variables]: expected a table")
    ui = _colours(
        ui_raw, UI_KEYS, f"{source}: [ui]", base.ui if base else None, ("primary", "foreground", "background")
    )
    variables = _variables(variables_raw, source, base.variables if base else None)
    states = _swatches(
        _table(data, "states", source), HostState, f"{source}: [states]", base.states if base else None
    )
    roll = _swatches(
        _table(data, "roll", source), RollState, f"{source}: [roll]", base.roll if base else None
    )
    grid = _colours(
        _table(data, "grid", source), GRID_KEYS, f"{source}: [grid]", base.grid if base else None, GRID_KEYS
    )
    return ConsoleTheme(
        name=name,
        description=description,
        dark=dark,
        ui=ui,
        variables=variables,
        states=states,
        roll=roll,
        grid=grid,
        source=source,
    )


def shipped_themes() -> dict[str, ConsoleTheme]:
    """The themes in the package ``console.themes`` (checkout or installed wheel)."""
    folder = resources.files("console.themes")
    found: dict[str, ConsoleTheme] = {}
    entries = sorted(
        (e for e in folder.iterdir() if e.name.endswith(".toml")),
        key=lambda e: (SHIPPED_ORDER.index(e.name[:-5]) if e.name[:-5] in SHIPPED_ORDER else 99, e.name),
    )
    for entry in entries:
        theme = parse_theme(entry.read_text(encoding="utf-8"), f"console.themes/{entry.name}", complete=True)
        found[theme.name] = theme
    return found


def load_themes(env: Mapping[str, str] | None = None) -> ThemeSet:
    """Shipped themes, then the user's (a user theme with a shipped theme's name replaces it)."""
    out = ThemeSet(dict(shipped_themes()))
    folder = user_themes_dir(env)
    try:
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    except OSError as exc:
        out.problems.append(f"{folder}: cannot read: {exc.strerror or exc}")
        files = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.problems.append(f"{path}: cannot read: {exc}")
            continue
        try:
            theme = parse_theme(text, str(path), out.themes)
        except ThemeError as exc:
            out.problems.append(f"{exc} — theme not loaded")
            continue
        out.themes[theme.name] = replace(theme, source=str(path))
    return out


# ----------------------------------------------------------------------------------------------------
# Settings


class Settings:
    """The user's ``settings.toml``: read with tomllib, written with tomli_w, other keys kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        self.problem: str | None = None

    @classmethod
    def load(cls, path: Path) -> Settings:
        settings = cls(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return settings
        except (OSError, UnicodeDecodeError) as exc:
            settings.problem = f"{path}: cannot read: {exc}"
            return settings
        try:
            settings.data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            settings.problem = f"{path}: not valid TOML ({exc}); using defaults, the file is left as it is"
        return settings

    @property
    def theme(self) -> str | None:
        value = self.data.get("theme")
        return value if isinstance(value, str) else None

    def set_theme(self, name: str) -> None:
        """Remember the theme (atomically). Raises OSError when the file cannot be written."""
        if self.problem and self.path.exists():
            # Never overwrite a file we could not understand: the person may have work in it.
            raise OSError(f"{self.path} was not understood; not overwriting it")
        self.data["theme"] = name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(self.data), encoding="utf-8")
        os.replace(tmp, self.path)

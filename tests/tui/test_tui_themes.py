"""Themes: shipped ones complete and colour-blind safe by construction, switching, persistence, user themes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from console.model.events import HostState, RollState
from console.tui.app import SlowrollApp
from console.tui.components.themes import (
    SHIPPED_ORDER,
    Settings,
    ThemeError,
    config_dir,
    load_themes,
    parse_theme,
    settings_path,
    shipped_themes,
)
from console.tui.components.vocab import HOST_GLYPHS, HOST_MEANING, ROLL_GLYPHS, match_states
from tests.tui.scenes import staged_app, staged_engine


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_every_state_has_its_own_glyph_and_a_word() -> None:
    assert set(HOST_GLYPHS) == set(HostState) and set(HOST_MEANING) == set(HostState)
    assert len(set(HOST_GLYPHS.values())) == len(HostState)
    assert set(ROLL_GLYPHS) == set(RollState) and len(set(ROLL_GLYPHS.values())) == len(RollState)


def test_shipped_themes_are_complete_and_problems_never_rely_on_hue_alone() -> None:
    themes = shipped_themes()
    assert list(themes)[: len(SHIPPED_ORDER)] == list(SHIPPED_ORDER)
    for theme in themes.values():
        assert set(theme.states) == set(HostState) and set(theme.roll) == set(RollState)
        theme.textual_theme()  # Textual accepts it
        for state in HostState:
            if state.problem:
                # Problem hosts are filled in every theme: seen as a block, whatever the eye or the video.
                assert theme.states[state].bg is not None, (theme.name, state)
    share = themes["screen-share"]
    okabe_or_neutral = {
        "#0072b2",
        "#56b4e9",
        "#005a8c",  # Okabe-Ito blue darkened to reach 4.5:1 as text
        "#e69f00",
        "#000000",
        "#ffffff",
        "#4d4d4d",
    }
    for state, swatch in share.states.items():
        assert swatch.fg.lower() in okabe_or_neutral, state
        assert swatch.bg is None or swatch.bg.lower() in okabe_or_neutral, state
    # No red and no green anywhere in the screen-share state colours.
    assert not any(
        c in {"#ff0000", "#00ff00", "#d55e00", "#009e73"} for s in share.states.values() for c in (s.fg, s.bg)
    )


def test_state_words_filter() -> None:
    assert match_states("fail") == {HostState.FAILED}
    assert match_states("reboot-unconfirmed") == {HostState.UNCONFIRMED}
    assert HostState.REBOOTING in match_states("reb")
    assert match_states("problems") == {s for s in HostState if s.problem}
    assert match_states("web") == set()


async def test_t_switches_theme_and_it_is_remembered(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    app = SlowrollApp(staged_engine(tmp_path), env=env, drive=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.console_theme.name == "dark" and app.theme == "slowroll-dark"
        await pilot.press("t")
        assert app.console_theme.name == "light" and app.theme == "slowroll-light"
        assert app.grid.console_theme.name == "light" and app.log_pane.console_theme.name == "light"
        await pilot.press("t")
        assert app.console_theme.name == "screen-share"
    saved = tomllib.loads(settings_path(env).read_text())
    assert saved == {"theme": "screen-share"}
    again = SlowrollApp(staged_engine(tmp_path), env=env, drive=False)
    assert again.console_theme.name == "screen-share" and again.theme == "slowroll-screen-share"


def test_settings_keep_other_keys_and_a_broken_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('editor = "vi"\n')
    settings = Settings.load(path)
    settings.set_theme("light")
    assert tomllib.loads(path.read_text()) == {"editor": "vi", "theme": "light"}
    path.write_text("theme = [unclosed\n")
    broken = Settings.load(path)
    assert broken.problem and "not valid TOML" in broken.problem and str(path) in broken.problem
    with pytest.raises(OSError):
        broken.set_theme("dark")
    assert path.read_text() == "theme = [unclosed\n"


def test_config_folder_follows_xdg_and_defaults_to_dot_config(tmp_path: Path) -> None:
    assert config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "slowroll"
    assert config_dir({}) == Path.home() / ".config" / "slowroll"
    assert config_dir({"XDG_CONFIG_HOME": "relative/path"}) == Path.home() / ".config" / "slowroll"


def write_user_theme(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "config" / "slowroll" / "themes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


async def test_user_themes_load_and_broken_ones_are_explained(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    write_user_theme(
        tmp_path,
        "night.toml",
        'name = "night-shift"\nbased_on = "dark"\n[states]\ndone = "#00aaff"\nfailed = { bg = "#ffffff" }\n',
    )
    bad = write_user_theme(tmp_path, "bad.toml", 'name = "bad"\n[states]\ndone = "not-a-colour"\n')
    typo = write_user_theme(tmp_path, "typo.toml", 'name = "typo"\n[states]\nrebootin = "#ffffff"\n')
    broken = write_user_theme(tmp_path, "broken.toml", "name = \n")
    themes = load_themes(env)
    assert "night-shift" in themes.names()
    night = themes.themes["night-shift"]
    assert night.states[HostState.DONE].fg == "#00aaff"
    assert night.states[HostState.FAILED].bg == "#ffffff" and night.states[HostState.FAILED].bold
    assert night.states[HostState.PENDING] == themes.themes["dark"].states[HostState.PENDING]
    problems = "\n".join(themes.problems)
    assert f"{bad}: [states] done: 'not-a-colour' is not a colour" in problems
    assert f"{typo}: [states]: unknown key 'rebootin' (did you mean 'rebooting'?)" in problems
    assert f"{broken}: not valid TOML" in problems
    # The console starts anyway, says what is wrong, and can use the good user theme.
    app = SlowrollApp(staged_engine(tmp_path), env=env, drive=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        shown = "\n".join(n.message for n in app._notifications)
        assert "bad.toml" in shown and "typo.toml" in shown and "broken.toml" in shown
        for _ in range(3):
            await pilot.press("t")
        assert app.console_theme.name == "night-shift"


def test_unknown_remembered_theme_falls_back_with_a_note(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    path = settings_path(env)
    path.parent.mkdir(parents=True)
    path.write_text('theme = "solarized"\n')
    app = staged_app(tmp_path, None, theme=None)
    assert app.console_theme.name == "dark"
    assert any("'solarized' is not known" in note for note in app._startup_notes)


def test_parse_theme_names_the_key() -> None:
    with pytest.raises(ThemeError, match=r"x.toml: \[ui\] primary: expected a colour"):
        parse_theme('name = "x"\n[ui]\nprimary = 12\n', "x.toml", shipped_themes())
    with pytest.raises(ThemeError, match="based_on: no theme named 'nord'"):
        parse_theme('name = "x"\nbased_on = "nord"\n', "x.toml", shipped_themes())

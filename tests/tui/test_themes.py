"""Themes as data: bundled files validate, user files load or fail with one notification, switching is
live and remembered in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core import paths
from baton.core.config import config_path, load_config
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from baton.tui.app import BatonApp
from baton.tui.screens.home import HomeScreen
from baton.tui.themes_loader import APP_VARIABLES, DEFAULT_THEME, ThemeInvalid, bundled_themes, parse_theme, user_themes
from tests.helpers import run, workflow
from tests.tui.drive import GATED, screen_text, until, until_text

GOOD = """
name = "mine"
dark = true
[colors]
primary = "#ff00aa"
background = "#101010"
[variables]
agent-running = "#00ff00"
"""


def test_bundled_themes_cover_dark_light_and_high_contrast() -> None:
    themes = {t.name: t for t in bundled_themes()}
    assert set(themes) == {"baton-dark", "baton-light", "baton-high-contrast"}
    assert themes["baton-dark"].dark and not themes["baton-light"].dark
    for theme in themes.values():
        assert set(APP_VARIABLES) <= set(theme.variables), theme.name


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('name = "x"\n[colors\n', ":2:8:", "Expected ']'"),
        ('name = "x"\n[colors]\nprimary = "#zzzzzz"\n', ":3:1:", "is not a colour"),
        ('name = "x"\n[colors]\nprimary = "#fff"\nglow = "#000"\n', ":4:1:", "unknown colour 'glow'"),
        ('name = "Bad Name"\n[colors]\nprimary = "#fff"\n', ":1:1:", "'name' must be"),
        ('name = "x"\ndark = "yes"\n[colors]\nprimary = "#fff"\n', ":2:1:", "'dark' must be true or false"),
        ('name = "x"\n[colors]\nsecondary = "#fff"\n', ":2:1:", "needs at least 'primary'"),
        ('name = "x"\n[colors]\nprimary = "#fff"\n[variables]\nagent-running = 3\n', ":5:1:", "expected a colour"),
        ('name = "x"\nshade = 1\n[colors]\nprimary = "#fff"\n', ":2:1:", "unknown key 'shade'"),
    ],
)
def test_broken_theme_files_say_where(text: str, where: str, message: str) -> None:
    with pytest.raises(ThemeInvalid) as caught:
        parse_theme(text, Path("t.toml"))
    assert str(caught.value).startswith("t.toml" + where) and message in str(caught.value)


def test_user_themes_load_and_broken_ones_are_reported(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "bad.toml").write_text('name = "bad"\n[colors]\nprimary = "nope"\n')
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    themes, problems = user_themes(tmp_path)
    assert [t.name for t in themes] == ["mine"]
    assert themes[0].variables["agent-running"] == "#00ff00"
    assert sorted(p.path.name for p in problems) == ["bad.toml", "binary.toml"]
    assert any("bad.toml:3:1:" in str(p) for p in problems)


async def test_broken_user_theme_is_one_notification_not_a_crash(store: Store, db_path: Path) -> None:
    folder = paths.config_dir() / "themes"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text(GOOD)
    (folder / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = 12\n')
    (folder / "worse.toml").write_text("name = \n")
    app = BatonApp(db=db_path)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        text = await until_text(pilot, "theme files skipped")
        assert text.count("theme files skipped") == 1
        assert "broken.toml:3:1:" in text.replace("\n", "") or "broken.toml:3:1:" in "".join(text.split())
        assert "mine" in app.baton_themes
        app.theme = "mine"
        await until(pilot, lambda: app.theme_variables.get("agent-running") == "#00ff00", what="its colours")
        assert app.theme_variables["agent-done"], "a user theme gets defaults for baton's variables"
        await pilot.press("q")


async def test_theme_switch_is_live_and_remembered(store: Store, db_path: Path) -> None:
    _, view = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    app = BatonApp(db=db_path)
    assert app.theme == DEFAULT_THEME
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and view.session_id in screen_text(app))
        before = app.export_screenshot()
        await pilot.press("ctrl+t")
        await until(pilot, lambda: app.theme == "baton-high-contrast", what="the next theme")
        await until(pilot, lambda: app.export_screenshot() != before, what="the screen in the new theme")
        assert app.theme_variables["agent-done"] == "#00ff5f"
        await pilot.press("q")
    assert load_config().ui["theme"] == "baton-high-contrast"
    assert 'theme = "baton-high-contrast"' in config_path().read_text()
    again = BatonApp(db=db_path)
    assert again.theme == "baton-high-contrast"


def test_unknown_theme_in_the_config_falls_back(tmp_path: Path) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[ui]\ntheme = "no-such-theme"\n')
    app = BatonApp(db=tmp_path / "b.db")
    assert app.theme == DEFAULT_THEME
    assert any("no-such-theme" in message for message, _ in app.problems)

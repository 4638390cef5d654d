"""Screenshots of Home, Run (two agents mid-stream), Review and Trace in every bundled theme.

The sessions were made by real runners (one killed mid-stream with SIGKILL) and pinned in time; the
app reads a fixed clock, toasts are off and cursors do not blink, so the pictures are stable.
Update with `pytest tests/tui/test_snapshots.py --snapshot-update` after checking the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from baton.tui.app import BatonApp
from baton.tui.screens.review import ReviewScreen
from baton.tui.screens.trace import TraceScreen
from tests.tui.drive import footer, screen_text, until
from tests.tui.snapshot_data import IDS, NOW, build

THEMES = ["baton-dark", "baton-light", "baton-high-contrast"]
SIZE = (150, 42)
_BUILT: dict[str, Path] = {}


@pytest.fixture
def snap_db(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pinned database, built once per test run, at `~/snapshots/baton.db` (Home names the store's
    file, so its folder must not change from run to run)."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("HOME", str(base))
    if "db" not in _BUILT:
        folder = base / "snapshots"
        folder.mkdir(exist_ok=True)
        build(folder / "baton.db")
        _BUILT["db"] = folder / "baton.db"
    return _BUILT["db"]


def _app(db: Path, theme: str, attach: str = "") -> BatonApp:
    app = BatonApp(db=db, attach=attach, clock=lambda: NOW, blink=False, liveness=3600.0, toasts=False)
    app.theme = theme
    return app


@pytest.mark.parametrize("theme", THEMES)
def test_home(snap_compare: Any, snap_db: Path, theme: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: all(i in screen_text(pilot.app) for i in IDS.values()), what="three sessions")

    assert snap_compare(_app(snap_db, theme), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("theme", THEMES)
def test_run_mid_stream(snap_compare: Any, snap_db: Path, theme: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, BatonApp)
        await until(pilot, lambda: app.run_screen is not None and len(app.run_screen.feed.panes) == 3)
        await until(pilot, lambda: "Critics: payback" in screen_text(app) and "News: three" in screen_text(app))
        screen = app.run_screen
        assert screen is not None
        await until(
            pilot,
            lambda: (
                "research/critics  running" in screen.inspector.shown_text()
                and "Critics: payback periods still exceed ten years" in screen_text(app)
                and " Q stop " in footer(app)
            ),
            what="the focused agent in full, in the inspector, and the keys",
        )

    assert snap_compare(_app(snap_db, theme, IDS["streaming"]), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("theme", THEMES)
def test_review(snap_compare: Any, snap_db: Path, theme: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, BatonApp)
        await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "paused")
        screen = app.run_screen
        assert screen is not None
        await until(pilot, lambda: "draft  awaiting" in screen.inspector.shown_text(), what="the inspector")
        await pilot.press("v")  # a paused session's checkpoint is read, and decided once it resumes
        await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen), what="the review")
        await until(pilot, lambda: "twice as fast" in screen_text(pilot.app))
        await until(
            pilot,
            lambda: (
                app.focused is not None
                and "decide after resuming it" in screen_text(app)
                and " esc later " in footer(app)
            ),
            what="the review focused, its menu and its keys",
        )

    assert snap_compare(_app(snap_db, theme, IDS["paused"]), terminal_size=SIZE, run_before=ready)


@pytest.mark.parametrize("theme", THEMES)
def test_trace(snap_compare: Any, snap_db: Path, theme: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, BatonApp)
        await until(pilot, lambda: app.run_screen is not None and app.run_screen.feed.view.status == "completed")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen) and "call #1" in screen_text(app))
        await until(
            pilot,
            lambda: app.focused is not None and " esc back " in footer(app),
            what="the trace focused, and its keys",
        )

    assert snap_compare(_app(snap_db, theme, IDS["completed"]), terminal_size=SIZE, run_before=ready)

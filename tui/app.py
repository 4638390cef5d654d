"""The full-screen app: Home (bare `baton`) and the Run screen a viewer attaches to a session with.

The app only talks to a session through `core.bus.Bus` (and to the store through `Launcher` on Home);
it never imports litellm, so the first frame is quick. Themes are data (`tui.themes_loader`), key
bindings carry ids that the config file's `[keys]` table can remap, the palette lists every action.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import CommandPalette
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Input, TextArea

from baton.core.bus import Bus
from baton.core.config import Config, ConfigInvalid, load_config, save_ui_setting
from baton.core.view import SessionView
from baton.sessions.interface import SessionStore
from baton.sessions.open import is_dsn, open_store
from baton.sessions.store import Store
from baton.tui import keymap
from baton.tui.launch import decided_from, user_name
from baton.tui.probe import Probe
from baton.tui.screens.help import HelpScreen
from baton.tui.screens.home import HomeScreen
from baton.tui.screens.launcher import Launcher
from baton.tui.screens.palette import ActionsProvider
from baton.tui.screens.run import RunScreen
from baton.tui.themes_loader import DEFAULT_THEME, install_themes, variable_defaults


class BatonApp(App[Any]):
    """baton's Textual app. Give it a `db` (Home, or `attach` a session id) or a `bus` (one session)."""

    TITLE = "baton"
    COMMANDS = {ActionsProvider}
    BINDINGS = keymap.bindings("app")

    def __init__(
        self,
        *,
        db: Path | str | None = None,
        attach: str = "",
        bus: Bus | None = None,
        launcher: Launcher | None = None,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
        blink: bool = True,
        naive: bool = False,
        probe: Probe | None = None,
        liveness: float = 1.0,
        toasts: bool = True,
    ) -> None:
        super().__init__()
        self.db = db
        self.attach = attach
        self.bus = bus
        self.launcher = launcher
        self.clock = clock
        self.blink = blink
        self.naive = naive
        self.probe = probe
        self.liveness = liveness
        self.toasts = toasts
        self.by = user_name()
        self.where = decided_from("tui")
        """From where this app's decisions are made (the Inbox says `inbox`)."""
        self.store: SessionStore | None = None
        self.run_screen: RunScreen | None = None
        self.problems: list[tuple[str, SeverityLevel]] = []
        self.key_overrides: dict[str, str] = {}
        self._theme_ready = False
        self.config = config if config is not None else self._load_config()
        self.auto_review = str(self.config.ui.get("auto_review", "true")).lower() not in ("false", "0", "no")
        self.baton_themes, theme_problems = install_themes(self, str(self.config.ui.get("theme", DEFAULT_THEME)))
        self.problems += theme_problems
        self._apply_keymap()

    # --- set-up ----------------------------------------------------------------------------------

    def _load_config(self) -> Config:
        try:
            return load_config()
        except ConfigInvalid as exc:
            self.problems.append((f"config: {exc}", "error"))
            return Config()

    def _apply_keymap(self) -> None:
        usable, problems = keymap.check_keymap(self.config.keys, keymap.table_ids())
        self.key_overrides = usable
        if usable:
            self.set_keymap(usable)
        if problems:
            self.problems.append(("config: " + "\n".join(problems), "warning"))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """baton's colour variables, derived from the current theme when it does not set them."""
        return variable_defaults(self.current_theme)

    async def on_mount(self) -> None:
        for message, severity in self.problems:
            self.notify(message, severity=severity, timeout=12, markup=False)
        self._theme_ready = True
        if self.probe is not None:
            self.probe.start()
        if self.db is not None and self.launcher is None:
            self.store = await open_store(self.db)
            self.launcher = Launcher(self.store, self.db, liveness=self.liveness)
        if self.bus is not None:
            launcher = self.launcher or _launcher_for(self.bus)
            self.push_screen(RunScreen(self.bus, launcher=launcher, naive=self.naive, standalone=True))
        elif self.attach and self.launcher is not None:
            bus = self.launcher.bus(self.attach)
            self.push_screen(RunScreen(bus, launcher=self.launcher, naive=self.naive, standalone=True))
        elif self.launcher is not None:
            self.push_screen(HomeScreen(self.launcher))
        self.call_after_refresh(_settle_memory)

    async def on_unmount(self) -> None:
        if self.probe is not None:
            await self.probe.stop()
        if self.store is not None:
            await self.store.close()
            self.store = None

    def notify(self, message: str, **kwargs: Any) -> None:
        """A toast (unless toasts are off, as in snapshot tests: they come and go with time)."""
        if self.toasts:
            super().notify(message, **kwargs)

    # --- themes ----------------------------------------------------------------------------------

    def watch_theme(self, theme: str) -> None:
        """Remember a theme the person chose (not the one the app started with)."""
        if not self._theme_ready:
            return
        try:
            save_ui_setting("theme", theme)
        except OSError as exc:
            self.notify(f"cannot save the theme: {exc.strerror}", severity="warning", markup=False)
        for screen in self.screen_stack:
            hook = getattr(screen, "theme_changed", None)
            if callable(hook):
                hook()

    def action_next_theme(self) -> None:
        """Cycle through baton's themes (and the user's)."""
        names = self.baton_themes
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", markup=False)

    # --- help ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The app's own keys (help, theme, quit) work where `?` can list them: not while text is being
        typed (`?` types a question mark there), nor in a dialog (its footer lists all it does)."""
        if action not in ("help", "next_theme", "quit"):
            return True
        screen = self.screen
        if isinstance(screen, CommandPalette) and len(self.screen_stack) > 1:
            screen = self.screen_stack[-2]  # the palette runs the actions of the screen it was opened on
        if isinstance(screen.focused, Input | TextArea):
            return False
        return not isinstance(screen, ModalScreen) or keymap.offers_help(getattr(screen, "KEY_CONTEXT", ""))

    def action_help(self) -> None:
        """Every key of the current screen, and when it works."""
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        context = getattr(screen, "KEY_CONTEXT", "") or "app"
        facts = screen.key_facts() if isinstance(screen, keymap.Keyed) else keymap.KeyFacts()
        self.push_screen(HelpScreen(context, facts, self.key_overrides))


def _settle_memory() -> None:
    """After start-up, move what exists into the permanent generation, and collect less often.

    Measured with sixteen streaming panes: full collections walked Textual's long-lived objects about
    once a second and paused the UI for 50–100 ms each time. Reference counting still frees ordinary
    garbage at once; only cycles wait for the (rarer) collections. No collection runs here: on the Run
    screen agents may already be streaming, and a full collection of the start-up heap paused the first
    keys for 100–300 ms (`view_session` collects before the screen starts instead).
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _launcher_for(bus: Bus) -> Launcher | None:
    """A launcher over the bus's own store (so the Run screen can resume), when it has one."""
    store = getattr(bus, "store", None)
    if isinstance(store, Store):
        return Launcher(store, store.path)
    dsn = getattr(store, "dsn", None)  # a PostgreSQL store (not imported here: the first frame stays quick)
    return Launcher(store, dsn) if isinstance(dsn, str) and is_dsn(dsn) and store is not None else None


def _report(app: BatonApp) -> None:
    """Add what the panes showed to the probe's file."""
    if app.probe is None:
        return
    screen = app.run_screen
    if screen is not None:
        try:
            app.probe.extra.update(screen.shown_report())
        except Exception as exc:  # the probe must never turn a clean exit into a crash
            app.probe.extra["report_error"] = repr(exc)
    app.probe.write()


async def view_session(bus: Bus) -> str:
    """The Run screen on one session; returns its end state, `lost`, or `detached`."""
    app = BatonApp(bus=bus, probe=Probe.from_env(), naive=_naive())
    gc.collect()  # before the first frame: what start-up left behind, while nothing is on screen yet
    result = await app.run_async()
    _report(app)
    screen = app.run_screen
    status = result if isinstance(result, str) else screen.final_status() if screen is not None else "detached"
    if screen is not None:
        print_outcome(screen.feed.view, status)
    return status


def print_outcome(view: SessionView, status: str) -> None:
    """What stays on the terminal after the full screen closes: the summary, or how to come back."""
    from rich.console import Console
    from rich.text import Text

    from baton.tui.report import summary

    console = Console(highlight=False)
    if status == "detached":
        console.print(Text(f"detached; the runner goes on — baton attach {view.session_id}", style="yellow"))
        return
    if view.status in ("new", "running") or not view.steps:
        return
    console.print(summary(view))
    if view.status in ("paused", "cancelled"):
        console.print(Text(f"resume with: baton resume {view.session_id}", style="yellow"))


def open_home(db: Path | str) -> int:
    """Bare `baton`: the Home screen over a session store (a file, or a PostgreSQL URL); returns the exit code."""
    app = BatonApp(db=db, probe=Probe.from_env(), naive=_naive())
    result = app.run()
    _report(app)
    return result if isinstance(result, int) else 0


def _naive() -> bool:
    return os.environ.get("BATON_TUI_NAIVE") == "1"

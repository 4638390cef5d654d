"""Steering a session from the Run screen: step mode, breakpoints, pause, cancel, resume, leave.

Every change is a command sent through the bus; the runner persists what it accepts as an event, and
the screen shows it once the event comes back (never before).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.screen import Screen

from baton.core.bus import Bus
from baton.core.commands import Command
from baton.core.view import SESSION_ENDED
from baton.tui import decisions
from baton.tui.feed import Feed
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.launcher import Launcher
from baton.tui.widgets.step_tree import StepTree, step_id

if TYPE_CHECKING:
    from baton.tui.app import BatonApp


class SteeringScreen(Screen[str]):
    """The commands half of the Run screen."""

    bus: Bus
    launcher: Launcher | None
    feed: Feed
    step_tree: StepTree
    focused_step: str
    standalone: bool
    _leaving: bool

    @property
    def baton(self) -> BatonApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    # --- actions: steering -----------------------------------------------------------------------

    def action_step_mode(self) -> None:
        """Toggle step mode for the rest of the run."""
        enabled = not self.feed.view.step_mode
        command = Command(kind="step_mode", enabled=enabled, by=self.baton.by)
        self.send(command, f"step mode {'on' if enabled else 'off'}")

    def action_breakpoint(self) -> None:
        """Toggle a breakpoint before the chosen step."""
        path = self.step_tree.selected_path() or self.focused_step
        if not path:
            self.notify("choose a step in the tree first", markup=False)
            return
        sid = step_id(path)
        enabled = sid not in self.feed.view.breakpoints
        command = Command(kind="breakpoint", step=sid, enabled=enabled, by=self.baton.by)
        self.send(command, f"breakpoint {'set before' if enabled else 'removed from'} {one_line(sid, 40)}")

    def action_pause(self) -> None:
        """Pause after the running steps finish."""
        self.send(Command(kind="pause", by=self.baton.by), "pausing once the running steps finish")

    def action_cancel(self) -> None:
        """Cancel now (asks first)."""
        from baton.tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.send(Command(kind="cancel", by=self.baton.by), "cancelling")

        question = ConfirmScreen("Cancel this session?", "Running steps stop; resume runs them again.")
        self.app.push_screen(question, answered)

    def action_stop(self) -> None:
        """Cancel the session, then leave."""
        from baton.tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop_and_leave()

        self.app.push_screen(ConfirmScreen("Stop the session and leave?", "The runner cancels the run."), answered)

    @work(group="commands", exit_on_error=False, description="cancel and leave")
    async def _stop_and_leave(self) -> None:
        verdict = await decisions.send_and_wait(self.bus, Command(kind="cancel", by=self.baton.by))
        if not verdict.ok:
            self.notify(f"refused: {inert(verdict.reason)}", severity="error", markup=False)
            return
        for _ in range(200):
            if self.feed.view.status in SESSION_ENDED:
                break
            await asyncio.sleep(0.05)
        self.leave()

    def action_resume(self) -> None:
        """Start a runner again for this session."""
        self._resume()

    @work(group="commands", exit_on_error=False, description="resume the session")
    async def _resume(self) -> None:
        if self.launcher is None:
            return
        try:
            await self.launcher.resume(self.bus.session_id)
        except Exception as exc:
            self.notify(f"cannot resume: {inert(exc)}", severity="error", markup=False)
            return
        self.notify("resumed", markup=False)
        self.resumed()

    def resumed(self) -> None:
        """A new runner took the session over (the Run screen offers its waiting checkpoints again)."""

    def send(self, command: Command, done: str, after: Callable[[], Any] | None = None) -> None:
        """Send a command in the background; say what happened."""
        self._send(command, done, after)

    @work(group="commands", exit_on_error=False, description="send a command to the runner")
    async def _send(self, command: Command, done: str, after: Callable[[], Any] | None) -> None:
        verdict = await decisions.send_and_wait(self.bus, command)
        if verdict.ok:
            self.notify(done, markup=False)
            if after is not None:
                after()
        else:
            self.notify(f"refused: {inert(verdict.reason)}", severity="error", markup=False)

    # --- leaving ---------------------------------------------------------------------------------

    def final_status(self) -> str:
        """What the viewer returns: the session's end state, `lost`, or `detached`."""
        status = self.feed.view.status
        if status in SESSION_ENDED:
            return status
        if self.feed.lost:
            return "lost"
        return "detached"

    def action_detach(self) -> None:
        """Leave; the runner keeps going."""
        self.leave()

    def leave(self) -> None:
        """Back to Home, or out of the app when this screen is all there is."""
        if self._leaving:
            return
        self._leaving = True
        status = self.final_status()
        if self.standalone:
            self.app.exit(status)
            return
        while self.app.screen is not self:
            self.app.pop_screen()
        self.dismiss(status)

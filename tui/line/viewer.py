"""Line mode: live progress in the normal terminal flow, and decisions at checkpoints.

The bus is consumed by one task that feeds a `Feed` (the same fold and text buffers the full-screen
viewer keeps); its events become lines that scroll (`lines.EventLines`), the followed step's text is
written row by row into the scrollback (`stream.Stream`), and a small live region under them shows the
row being written, a compact line per other running step, and the session's status. When a checkpoint
is waiting, the live region stops and the person is asked (`checkpoint.CheckpointDialog`). Every string
from a model, a tool or a file is made inert and printed as plain `Text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from baton.core import events as ev
from baton.core.bus import Bus
from baton.core.commands import Command
from baton.core.view import CheckpointView, SessionView
from baton.tui import decisions
from baton.tui.feed import Feed
from baton.tui.line import ask
from baton.tui.line.checkpoint import CheckpointDialog
from baton.tui.line.lines import EventLines
from baton.tui.line.render import progress_lines, status_line, titled
from baton.tui.line.stream import GUTTER, Stream
from baton.tui.report import summary
from baton.tui.sanitize import inert

REFRESH_S = 0.08


class LineViewer:
    """Watches one session in line mode; answers its checkpoints when `interactive`."""

    def __init__(
        self,
        bus: Bus,
        *,
        console: Console | None = None,
        interactive: bool = True,
        by: str = "user",
        bell: bool = True,
        exit_on_pause: bool = True,
    ) -> None:
        self.bus = bus
        self.console = console or Console(highlight=False, soft_wrap=not sys.stdout.isatty())
        self.interactive = interactive and sys.stdin.isatty()
        self.by = by
        self.bell = bell
        self.exit_on_pause = exit_on_pause
        self.feed = Feed(bus.session_id, on_event=self._on_event)
        width = self.console.width - len(GUTTER) - 1 if self.console.is_terminal else None
        self.stream = Stream(self.feed, max(20, width) if width is not None else None)
        self.events = EventLines(self.feed.view, asking=self.interactive, bell=self._ring)
        self.dialog = CheckpointDialog(self.console, bus, self.feed.view, by, self.stream.printed)
        self.changed = asyncio.Event()
        self._pending: list[Text] = []
        self._prompting = False
        self._live: Live | None = None
        self._interrupt = asyncio.Event()
        self._later: set[str] = set()
        self._consumer: asyncio.Future[None] | None = None

    @property
    def view(self) -> SessionView:
        """The session as folded so far."""
        return self.feed.view

    @property
    def lost(self) -> str:
        """Why no runner holds the session any more (empty while one does)."""
        return self.feed.lost

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> str:
        """Watch until the session ends, pauses, or the person detaches; returns the final status."""
        consumer = self._consumer = asyncio.ensure_future(self._consume())
        loop = asyncio.get_running_loop()
        self._catch_ctrl_c()
        try:
            if self.console.is_terminal:
                self._live = self._new_live()
                self._live.start()
            return await self._main()
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            if self._live is not None:
                self._live.stop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    async def _main(self) -> str:
        last = 0.0
        while True:
            waiter = asyncio.ensure_future(self.changed.wait())
            interrupt = asyncio.ensure_future(self._interrupt.wait())
            await asyncio.wait({waiter, interrupt}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            interrupt.cancel()
            self.changed.clear()
            if self._consumer is not None and self._consumer.done():
                self._consumer.result()  # the events stopped coming because reading them failed: say why
            if self._interrupt.is_set():
                self._interrupt.clear()
                outcome = await self._on_interrupt()
                if outcome is not None:
                    return outcome
            self._flush_lines()
            now = time.monotonic()
            if self._live is not None and now - last >= REFRESH_S:
                self._live.refresh()
                last = now
            if self.lost:
                self._say(
                    Text(f"⚠ {self.lost}\n  continue it with: baton resume {self.view.session_id}", style="yellow")
                )
                self._finish(summary_too=False)
                return "lost"
            status = self.view.status
            if status in ("completed", "degraded", "failed") or (
                status in ("paused", "cancelled") and self.exit_on_pause
            ):
                self._finish()
                return status
            waiting = self._waiting()
            if waiting and self.interactive and status == "running":
                await self._decide(waiting)

    async def _consume(self) -> None:
        async for batch in self.bus.updates():
            self.feed.apply(batch)
            self.feed.take()  # line mode draws from the fold and the panes, not from what changed
            self._pending += self.stream.take()
            self.changed.set()

    def _on_event(self, env: ev.Envelope, history: bool) -> None:
        """An event folded by the feed: the followed step's text comes before the event's line, and the next
        agent's after it."""
        agent = not history and env.event.step in self.feed.panes
        if agent:
            self._pending += self.stream.flow()
        if isinstance(env.event, ev.CheckpointOpened):
            self._later.clear()
        self._pending += self.events.lines(env)
        if agent:
            self._pending += self.stream.take()

    def _ring(self) -> None:
        if self.bell and self.console.is_terminal:
            self.console.file.write("\a")

    # --- lines that scroll -----------------------------------------------------------------------

    def _say(self, line: Text) -> None:
        self._pending.append(line)

    def _flush_lines(self) -> None:
        if self._prompting or not self._pending:
            return
        lines, self._pending = self._pending, []
        if self._live is None:
            for line in lines:
                self.console.print(line)
            return
        with self._live.console:  # one write: the lines, and under them the live region as it is now
            self._live.refresh()
            self._live.console.print(Group(*lines))

    # --- the live region -------------------------------------------------------------------------

    def _renderable(self) -> Group:
        view = self.view
        parts: list[Text] = list(self.stream.partial())
        parts += progress_lines(view, self.feed.panes, time.time(), followed=self.stream.step)
        parts.append(status_line(view, time.time()))
        return Group(*parts)

    def _finish(self, summary_too: bool = True) -> None:
        self._pending += self.stream.finish()
        self._flush_lines()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if not summary_too:
            return
        self.console.print(summary(titled(self.view)))
        if self.view.status in ("paused", "cancelled"):
            self.console.print(Text(f"resume with: baton resume {self.view.session_id}", style="yellow"))

    # --- deciding --------------------------------------------------------------------------------

    def _pause_live(self) -> None:
        self._prompting = True
        if self._live is not None:
            self._live.stop()

    def _catch_ctrl_c(self) -> None:
        """Ctrl-C opens the menu (detach, pause, cancel, …). Again after every prompt: prompt-toolkit takes
        SIGINT while it asks and leaves the default behind (an abrupt exit)."""
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._interrupt.set)

    def _resume_live(self) -> None:
        self._catch_ctrl_c()
        self._prompting = False
        if self._live is not None:
            # A fresh Live: a restarted one would move the cursor up over the lines printed meanwhile.
            self._live = self._new_live()
            self._live.start()
        self._flush_lines()

    def _new_live(self) -> Live:
        return Live(console=self.console, auto_refresh=False, transient=True, get_renderable=self._renderable)

    def _waiting(self) -> list[CheckpointView]:
        """The inbox (oldest first), without the checkpoints the person put off until something changes."""
        return [c for c in self.view.open_checkpoints if c.checkpoint_id not in self._later]

    async def _decide(self, waiting: list[CheckpointView]) -> None:
        """Answer checkpoints until none waits (or the person puts them off): the oldest first, any other
        on request (`n` for the next one, or its number in the inbox)."""
        current = waiting[0].checkpoint_id
        self._pause_live()
        self._flush_direct()
        try:
            while True:
                waiting = self._waiting()
                if not waiting or self.view.status != "running":
                    return
                ids = [c.checkpoint_id for c in waiting]
                if current not in ids:
                    current = ids[0]
                cp = self.view.checkpoints[current]
                index = ids.index(current)
                self._flush_direct()
                self.dialog.show(cp, waiting, index)
                task = asyncio.ensure_future(self.dialog.answer(cp, len(waiting)))
                while not task.done():
                    await asyncio.wait({task}, timeout=0.2)
                    latest = self.view.checkpoints.get(cp.checkpoint_id)
                    if (latest is None or not latest.is_open or self.view.status != "running") and not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                        self.console.print(Text("  (decided elsewhere, or the session stopped)", style="dim"))
                result = "" if task.cancelled() else task.result()
                if result == "done":
                    await self._settled(cp.checkpoint_id)
                elif result == "next":
                    current = ids[(index + 1) % len(ids)]
                elif result.startswith("pick:"):
                    current = ids[int(result[5:])]
                elif result == "interrupt":
                    self._interrupt.set()
                    return
                elif result == "later":
                    self._later.update(ids)
                    self.console.print(
                        Text("  put off until the next one opens (Ctrl-C, then Enter: back to the inbox)", style="dim")
                    )
                    return
        finally:
            self._resume_live()

    async def _settled(self, checkpoint_id: str, wait_s: float = 5.0) -> None:
        """Wait until the decision the runner accepted has reached this viewer's fold."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            latest = self.view.checkpoints.get(checkpoint_id)
            if latest is None or not latest.is_open or self.view.status != "running":
                return
            await asyncio.sleep(0.01)

    def _flush_direct(self) -> None:
        lines, self._pending = self._pending, []
        for line in lines:
            self.console.print(line)

    # --- Ctrl-C ----------------------------------------------------------------------------------

    async def _on_interrupt(self) -> str | None:
        if not sys.stdin.isatty():
            self.console.print(Text("interrupted: cancelling the session", style="yellow"))
            await decisions.send_and_wait(self.bus, _control("cancel", self.by), wait_s=10)
            return None
        self._pause_live()
        try:
            inbox = len(self.view.open_checkpoints)
            stepping = "off" if self.view.step_mode else "on"
            self.console.print(
                Text(
                    f"\n[Enter] back to the inbox ({inbox} waiting)  [s] step mode {stepping}  [b] breakpoint  "
                    "[d] detach (the runner keeps going)  [p] pause  [c] cancel now",
                    style="bold",
                )
            )
            choice = await ask.line("> ", ["s", "b", "d", "p", "c"])
            command = await self._control_choice(choice)
            if command != "detach":
                self._later.clear()
        finally:
            self._resume_live()
        if command == "detach":
            self.console.print(Text(f"detached; come back with: baton attach {self.view.session_id}", style="cyan"))
            return "detached"
        return None

    async def _control_choice(self, choice: str | None) -> str:
        """Act on a Ctrl-C menu choice; `detach` when the viewer should leave."""
        picked = (choice or "").strip()
        if choice is None or picked in ("d", "detach"):
            return "detach"
        if picked in ("s", "step"):
            enabled = not self.view.step_mode
            verdict = await decisions.send_and_wait(self.bus, Command(kind="step_mode", enabled=enabled, by=self.by))
            self._report(verdict, f"step mode {'on: pausing before every step' if enabled else 'off'}")
        elif picked in ("b", "breakpoint"):
            ids = _step_ids(self.view.workflow_text)
            step = await ask.line("breakpoint before step (prefix - to clear)> ", ids + [f"-{i}" for i in ids])
            if step and step.strip():
                name = step.strip()
                enabled = not name.startswith("-")
                command = Command(kind="breakpoint", step=name.lstrip("-"), enabled=enabled, by=self.by)
                verdict = await decisions.send_and_wait(self.bus, command)
                self._report(verdict, f"breakpoint {'set before' if enabled else 'cleared at'} {inert(command.step)}")
        elif picked in ("p", "pause"):
            await decisions.send_and_wait(self.bus, _control("pause", self.by))
            self.console.print(Text("pausing after the running steps finish…", style="yellow"))
        elif picked in ("c", "cancel"):
            await decisions.send_and_wait(self.bus, _control("cancel", self.by))
        return ""

    def _report(self, verdict: decisions.Verdict, done: str) -> None:
        if verdict.ok:
            self.console.print(Text(f"  {done}", style="cyan"))
        else:
            self.console.print(Text(f"  refused: {inert(verdict.reason)}", style="red"))


def _step_ids(workflow_text: str) -> list[str]:
    """Step ids named in a workflow's text (for completion; the runner checks what is sent)."""
    return list(dict.fromkeys(re.findall(r"\bid:\s*[\"']?([A-Za-z][A-Za-z0-9_\-]*)", workflow_text)))


def _control(kind: str, by: str) -> Command:
    return Command(kind=kind, by=by)

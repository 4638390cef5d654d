"""The Run screen: a session live — the step tree, agent panes streaming, the inspector, the header;
once the session is over, its result.

One worker reads the bus and only folds (`Feed.apply`); one timer (25 Hz) draws what changed, inside
`App.batch_update()`, touching only visible panes. Commands (pause, cancel, step mode, breakpoints) go
through the bus; decisions go through the Review screen and `tui.decisions`, which opens by itself on
every checkpoint of the focused session. Which keys work follows the session (`tui.keymap`). A
tool-calling agent's pane is its transcript; one of its tool calls at a time is chosen (`n` / `N`) and
shown in full on request (`e`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Tree

from baton.core import events as ev
from baton.core.bus import Bus
from baton.core.commands import Command
from baton.core.economics import usd
from baton.core.view import SESSION_ENDED
from baton.tui import decisions, keymap
from baton.tui.feed import Feed
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.result import result_markdown, session_result
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.launcher import Launcher
from baton.tui.screens.steering import SteeringScreen
from baton.tui.step_notes import StepNotes
from baton.tui.transcript import call_detail, chosen_call, loop_of, loop_title
from baton.tui.widgets.agent_pane import AgentPane
from baton.tui.widgets.focus_view import FocusView
from baton.tui.widgets.inspector import Inspector
from baton.tui.widgets.pane_grid import PaneGrid
from baton.tui.widgets.session_bar import SessionBar
from baton.tui.widgets.step_tree import StepTree

FRAME_S = 1 / 25
STRUCTURE_S = 0.1
BAR_S = 0.5
JUMPS_PER_FRAME = 3
PANES_PER_FRAME = 6
"""Panes whose new text one frame draws (the others wait for the next): a frame stays short, so a key
waits behind little."""
INSPECTOR_S = 0.25
KEYS_QUIET_S = 0.3
"""The inspector waits until keys have paused this long: its redraw costs a layout of the whole screen,
which a key arriving meanwhile would wait behind."""
_TOKEN_RE = re.compile(r"\S+\s*|\s+")


class RunScreen(Keyed, SteeringScreen):
    """Watch and steer one session."""

    CSS_PATH = "run.tcss"
    KEY_CONTEXT = "run"
    BINDINGS = keymap.bindings("run")

    def __init__(
        self, bus: Bus, *, launcher: Launcher | None = None, naive: bool = False, standalone: bool = False
    ) -> None:
        super().__init__()
        self.bus = bus
        self.standalone = standalone
        self.launcher = launcher
        self.naive = naive
        self.feed = Feed(bus.session_id)
        self.notes = StepNotes()
        self.focused_step = ""
        self.user_focus = False
        self.user_compact = False
        self.zoomed = False
        self.chosen_call = ""
        """The tool call a person chose in the focused agent ('' : the one waiting, else the latest)."""
        self.call_open = False
        """The chosen tool call is shown in full in the focus view."""
        self._last_structure = 0.0
        self._last_bar = 0.0
        self._structure_pending = True
        self._dirty_text: set[str] = set()
        self._ended_noticed = ""
        self._lost_noticed = ""
        self._leaving = False
        self.seen_checkpoints: set[str] = set()
        self._jump_turn = 0
        self._text_turn = 0
        self._urgent = False
        self._grid_label: Content | None = None
        self._urgent_frame = False
        self._inspector_due = True
        self._last_inspector = 0.0
        self._last_key = 0.0
        self._facts: KeyFacts | None = None
        self._result: tuple[int, str] = (-1, "")
        self.bar = SessionBar(id="bar")
        self.step_tree = StepTree(id="tree")
        self.focus_view = FocusView(id="focus")
        self.grid = PaneGrid(naive=naive, id="grid")
        self.inspector = Inspector(id="inspector")

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.bar
        with Horizontal(id="body"):
            yield self.step_tree
            with Vertical(id="middle"):
                yield self.focus_view
                yield self.grid
            yield self.inspector
        yield Footer()

    def on_mount(self) -> None:
        self.baton.run_screen = self
        self.step_tree.border_title = "steps"
        self.grid.border_title = "agents"
        self.step_tree.focus()
        self._consume()
        self.set_interval(FRAME_S, self._frame, name="frame")

    # --- the bus ---------------------------------------------------------------------------------

    @work(exclusive=True, group="bus", exit_on_error=False, description="follow the session's events")
    async def _consume(self) -> None:
        grid = self.grid
        async for batch in self.bus.updates():
            self.notes.apply(batch)
            self.feed.apply(batch)
            if self.naive:
                for update in batch:
                    if isinstance(update, ev.TokenDelta) and update.step in grid.panes:
                        for token in _TOKEN_RE.findall(update.text):
                            grid.panes[update.step].write_now(token)

    # --- the frame -------------------------------------------------------------------------------

    def _frame(self) -> None:
        changes = self.feed.take()
        now = time.monotonic()
        self._dirty_text |= changes.text
        if changes.opened:
            # before any early return: a checkpoint that opens in a quiet frame still gets its review
            self._checkpoints_opened(changes.opened)
        if changes.structure or changes.new_panes:
            self._structure_pending = True
        structure = self._structure_pending and (self._urgent or now - self._last_structure >= STRUCTURE_S)
        self._urgent_frame, self._urgent = self._urgent, False
        bar = structure or now - self._last_bar >= BAR_S
        if not (structure or bar or self._dirty_text or self._inspector_due):
            return
        view = self.feed.view
        grid = self.grid
        with self.app.batch_update():
            for step in changes.new_panes:
                pane = grid.add(step)
                if self.naive:
                    pane.write_now(self.feed.panes[step].text)
            if structure:
                self._structure_pending = False
                self._last_structure = now
                self._choose_focus(grid)
                self.step_tree.sync(view, self.baton.theme_variables, self.notes)
                for pane in grid.shown_panes():
                    titled = self.notes.titled(view, pane.step)
                    pane.show_step(view.steps.get(pane.step), titled, self.loop_text(pane.step))
                label = grid.label()
                if label != self._grid_label:
                    self._grid_label = grid.border_title = label
            visible = {p.step: p for p in grid.shown_panes()}
            if not self._urgent_frame:  # a key's frame draws the key's change alone
                self._flush_text(visible)
                self._jumps(list(visible.values()))
            self._show_focus(structure)
            if bar:
                self._last_bar = now
                self.bar.show(view, self.baton.clock(), self.feed.lost)
        if structure or self._urgent_frame:
            self._keys_changed()
        if structure:
            self._notice_end()
            listener = getattr(self.app.screen, "feed_changed", None)
            if self.app.screen is not self and callable(listener):
                listener()

    def _flush_text(self, visible: dict[str, AgentPane]) -> None:
        """New text into the shown panes that received some, `PANES_PER_FRAME` at most, taking turns."""
        dirty = self._dirty_text
        dirty &= visible.keys()  # a hidden pane is redrawn whole when the window shows it again
        waiting = [step for step in visible if step in dirty]
        if len(waiting) > PANES_PER_FRAME:
            start = self._text_turn % len(waiting)
            waiting = (waiting[start:] + waiting[:start])[:PANES_PER_FRAME]
            self._text_turn += PANES_PER_FRAME
        for step in waiting:
            visible[step].show_text(self.feed.source(step))
            dirty.discard(step)

    def _jumps(self, visible: list[AgentPane]) -> None:
        """Panes that filled up move half a page, a few a frame, so sixteen never repaint at once."""
        waiting = [p for p in visible if p.tail.jump_pending]
        if not waiting:
            return
        start = self._jump_turn % len(waiting)
        for pane in (waiting[start:] + waiting[:start])[:JUMPS_PER_FRAME]:
            pane.tail.jump()
        self._jump_turn += 1

    def _show_focus(self, structure: bool) -> None:
        path = self.focused_step
        result = self.result_shown()
        if result:
            path = ""
            if structure:
                self.focus_view.show_result(self.feed.view.workflow, result)
                self._inspector_due = True
        elif structure or path in self._dirty_text or path in self.feed.panes:
            view = self.feed.view
            title = self.notes.titled(view, path)
            source = self.feed.source(path) if path in self.feed.panes else None
            loop = loop_of(view, path) if self.call_open else None
            call = chosen_call(loop, self.chosen_call) if loop is not None else None
            detail = call_detail(call) if call is not None else None
            self.focus_view.show(path, source, view.steps.get(path), title, self.loop_text(path), detail)
            if structure:
                self._inspector_due = True
        if self._inspector_due and not self._urgent_frame:
            # The inspector's height follows its text, so it costs a layout pass: never in the frame
            # that answers a key (the key's own change shows first), at most a few times a second, and
            # only once keys pause.
            now = time.monotonic()
            if now - self._last_inspector >= INSPECTOR_S and now - self._last_key >= KEYS_QUIET_S:
                self._inspector_due = False
                self._last_inspector = now
                chosen = self.chosen_call_id(path)
                self.inspector.show(self.feed.view, path, self.notes, self.baton.clock(), chosen)

    def loop_text(self, path: str) -> str:
        """`turn 3 · $0.0012` for a tool-calling agent ('' for any other step)."""
        loop = loop_of(self.feed.view, path)
        step = self.feed.view.steps.get(path)
        return loop_title(loop, step.cost_usd, step.cost_unknown) if loop is not None and step is not None else ""

    def chosen_call_id(self, path: str) -> str:
        """The focused agent's chosen tool call ('' when it made none)."""
        loop = loop_of(self.feed.view, path)
        call = chosen_call(loop, self.chosen_call) if loop is not None else None
        return call.call_id if call is not None else ""

    def result_text(self) -> str:
        """The session's result as Markdown ('' until the session has one), worked out once per event."""
        view = self.feed.view
        if self._result[0] != view.last_seq:
            result = session_result(view)
            self._result = (view.last_seq, result_markdown(result) if result else "")
        return self._result[1]

    def result_shown(self) -> str:
        """The result's Markdown when the focus view shows it: the session is over and no step is chosen."""
        return "" if self.user_focus else self.result_text()

    def key_facts(self) -> KeyFacts:
        view = self.feed.view
        grid = self.grid
        live = view.status in ("running", "new", "waiting") and not self.feed.lost
        resumable = view.status in ("paused", "cancelled", "failed") or bool(self.feed.lost)
        return KeyFacts(
            live=live,
            resumable=self.launcher is not None and resumable,
            waiting=min(len(view.open_checkpoints), 2),  # counts only matter up to 2: fewer footer redraws
            agents=min(len(grid.order), 2),
            earlier_page=grid.start > 0,
            later_page=grid.start + grid.page_size < len(grid.order),
            pinned=self.user_focus,
            chosen_step=bool(self.step_tree.selected_path() or self.focused_step),
            result=self.user_focus and bool(self.result_text()),
            tool_calls=min(len(loop.calls), 2) if (loop := loop_of(view, self.focused_step)) else 0,
            comparable=self.launcher is not None and bool(view.parent),
        )

    def _keys_changed(self) -> None:
        """The footer follows the session: a key that stopped working goes, one that started shows. A
        session that came back to life offers what waits in it again."""
        facts = self.key_facts()
        if facts != self._facts:
            if facts.live and self._facts is not None and not self._facts.live:
                self.resumed()
            self._facts = facts
            self.refresh_bindings()

    def _choose_focus(self, grid: PaneGrid) -> None:
        running = self.feed.running_panes()
        if not self.user_compact and len(running) > 4 and not grid.compact:
            grid.set_compact(True)
            self.set_class(True, "-compact-grid")
            self._dirty_text |= {p.step for p in grid.shown_panes()}
        if not self.user_focus:
            ordered = self.feed.ordered_panes()
            target = running[-1] if running else (ordered[-1].step if ordered else "")
            if target and target != self.focused_step:
                self._set_focus(target, from_user=False)
        if grid.follow and grid.reveal(self.focused_step, latest=True):
            self._dirty_text |= {p.step for p in grid.shown_panes()}

    def _set_focus(self, path: str, from_user: bool) -> None:
        grid = self.grid
        if from_user:
            self.user_focus = True
        old = grid.panes.get(self.focused_step)
        if old is not None:
            old.set_focused(False)
        if path != self.focused_step:
            self.chosen_call, self.call_open = "", False
        self.focused_step = path
        new = grid.panes.get(path)
        if new is not None:
            new.set_focused(True)
            if from_user and grid.reveal(path, latest=False):
                self._dirty_text |= {p.step for p in grid.shown_panes()}
        self.step_tree.select_path(path)
        self._structure_pending = True
        if from_user:
            self.redraw_now()

    def redraw_now(self) -> None:
        """A person did something: draw it in this frame, not after the throttle."""
        self._structure_pending = self._urgent = True
        self._last_key = time.monotonic()
        if self.is_mounted:
            self._frame()

    # --- notices ---------------------------------------------------------------------------------

    def _checkpoints_opened(self, ids: list[str]) -> None:
        view = self.feed.view
        waiting = [view.checkpoints[i] for i in ids if i in view.checkpoints and view.checkpoints[i].is_open]
        if not waiting:
            return
        self.app.bell()
        first = waiting[0]
        what = decisions.REASONS.get(first.reason, first.reason)
        more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
        self.notify(
            f"⏸ {one_line(first.step, 40)}: {what}{more} — press v to review",
            title="checkpoint",
            severity="warning",
            markup=False,
        )
        if self.baton.auto_review and self.app.screen is self and self.key_facts().live:
            self.action_review()

    def _notice_end(self) -> None:
        view = self.feed.view
        if view.status in SESSION_ENDED and self._ended_noticed != f"{view.status}{view.last_seq}":
            self._ended_noticed = f"{view.status}{view.last_seq}"
            cost = usd(view.cost_usd, view.cost_unknown_calls > 0)
            hint = "q to leave" + (" · r to resume" if view.status in ("paused", "cancelled", "failed") else "")
            severity: SeverityLevel = "error" if view.status == "failed" else "information"
            detail = f": {one_line(view.error or view.reason, 80)}" if (view.error or view.reason) else ""
            self.notify(f"session {view.status}{detail} · {cost} — {hint}", severity=severity, markup=False)
        if self.feed.lost and self._lost_noticed != self.feed.lost and not view.finished:
            self._lost_noticed = self.feed.lost
            self.notify(
                f"{inert(self.feed.lost)} — r to resume it",
                title="runner lost",
                severity="error",
                timeout=10,
                markup=False,
            )

    # --- actions: looking ------------------------------------------------------------------------

    def action_review(self, checkpoint_id: str = "") -> None:
        """Open the Review screen on the oldest (or a given) waiting checkpoint."""
        from baton.tui.screens.review import ReviewScreen

        waiting = self.feed.view.open_checkpoints
        if not waiting:
            self.notify("nothing is waiting for a decision", markup=False)
            return
        if isinstance(self.app.screen, ReviewScreen):
            return
        self.app.push_screen(ReviewScreen(self, checkpoint_id or waiting[0].checkpoint_id), self._reviewed)

    def resumed(self) -> None:
        """A new runner took over: what is waiting is offered again."""
        self.seen_checkpoints.clear()
        self.set_timer(0.5, self._review_unseen)

    def _reviewed(self, _result: None = None) -> None:
        """Back from Review: checkpoints that opened meanwhile and were never shown get their turn."""
        self.call_after_refresh(self._review_unseen)

    def _review_unseen(self) -> None:
        unseen = [c for c in self.feed.view.open_checkpoints if c.checkpoint_id not in self.seen_checkpoints]
        if unseen and self.baton.auto_review and self.app.screen is self and self.key_facts().live:
            self.action_review(unseen[0].checkpoint_id)

    def action_trace(self) -> None:
        """Open the Trace screen."""
        from baton.tui.screens.trace import TraceScreen

        self.app.push_screen(TraceScreen(self))

    def action_diff(self) -> None:
        """Compare this fork with its parent on the Diff screen."""
        from baton.tui.screens.diff import DiffScreen

        if self.launcher is not None and self.feed.view.parent:
            self.app.push_screen(DiffScreen(self.launcher, self.feed.view.parent, self.bus.session_id))

    def action_zoom(self) -> None:
        """The focused agent full size, or back to the grid."""
        self.zoomed = not self.zoomed
        self.set_class(self.zoomed, "-zoomed")

    def action_compact(self) -> None:
        """4 or 16 panes a page."""
        grid = self.grid
        self.user_compact = True
        grid.set_compact(not grid.compact)
        self.set_class(grid.compact, "-compact-grid")
        self._dirty_text |= {p.step for p in grid.shown_panes()}
        self.redraw_now()

    def action_page(self, delta: int) -> None:
        """Another page of panes; on the newest page the grid follows the run again."""
        grid = self.grid
        grid.page(delta)
        self._dirty_text |= {p.step for p in grid.shown_panes()}
        self.redraw_now()

    def action_cycle(self, delta: int) -> None:
        """Focus the next or previous agent pane."""
        order = [p.step for p in self.feed.ordered_panes()]
        if not order:
            return
        index = order.index(self.focused_step) if self.focused_step in order else -1
        self._set_focus(order[(index + delta) % len(order)], from_user=True)

    def focus_step(self, path: str) -> None:
        """Focus a step (from the trace, the palette or a test)."""
        self._set_focus(path, from_user=True)

    def action_follow(self) -> None:
        """Stop pinning a step; follow the newest running agent (or show the result, once there is one)."""
        self.user_focus = False
        self.grid.follow = True
        self.redraw_now()

    def action_result(self) -> None:
        """Show the session's result."""
        self.action_follow()

    def action_inspector(self) -> None:
        """Show or hide the inspector."""
        self.toggle_class("-no-inspector")

    def action_tool_call(self) -> None:
        """Show the chosen tool call in full, or go back to the transcript (the agent stays focused)."""
        self.call_open = not self.call_open and bool(self.chosen_call_id(self.focused_step))
        self._calls_changed()

    def action_choose_call(self, delta: int) -> None:
        """Choose the focused agent's next (or previous) tool call."""
        loop = loop_of(self.feed.view, self.focused_step)
        calls = [c.call_id for c in loop.ordered_calls()] if loop is not None else []
        if not calls:
            return
        current = self.chosen_call_id(self.focused_step)
        index = calls.index(current) if current in calls else len(calls) - 1
        self.chosen_call = calls[(index + delta) % len(calls)]
        self._calls_changed()

    def _calls_changed(self) -> None:
        self.user_focus = True  # what is chosen shows in place of the session's result
        self._inspector_due = True
        self._last_inspector = 0.0
        self.redraw_now()

    @on(Tree.NodeHighlighted, "#tree")
    def _tree_moved(self, event: Tree.NodeHighlighted[str]) -> None:
        path = event.node.data or ""
        if path and path != self.focused_step:
            self._set_focus(path, from_user=True)

    @on(AgentPane.Chosen)
    def _pane_chosen(self, event: AgentPane.Chosen) -> None:
        self._set_focus(event.step, from_user=True)

    def theme_changed(self) -> None:
        """Relabel what carries theme colours outside the stylesheet (the tree)."""
        self.step_tree.sync(self.feed.view, self.baton.theme_variables, self.notes, force=True)

    def shown_report(self) -> dict[str, Any]:
        """For the benchmark: did every pane end up showing its agent's whole answer?"""
        grid = self.grid
        panes = {}
        for step, pane in self.feed.panes.items():
            call = self.feed.view.calls.get(pane.call_id)
            final = inert(call.text) if call is not None and call.status == "ok" else None
            widget = grid.panes.get(step)
            on_screen = widget is not None and widget.display
            # a pane off the window is drawn from its buffer when the window shows it
            shown = widget.shown_text() if widget is not None and on_screen else self.feed.source(step).text
            panes[step] = {
                "final_chars": len(final) if final is not None else None,
                "live_chars": pane.live_chars,
                "shown_chars": len(shown),
                "on_screen": on_screen,
                "complete": final is not None and shown == final,
            }
        return {"panes": panes, "live_chars": self.feed.live_chars, "status": self.feed.view.status}

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """Review each waiting checkpoint; focus each agent."""
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for cp in self.feed.view.open_checkpoints:
            what = decisions.REASONS.get(cp.reason, cp.reason)
            out.append((f"review {cp.step}", what, partial(self.action_review, cp.checkpoint_id)))
        view = self.feed.view
        for pane in self.feed.ordered_panes():
            title = self.notes.titled(view, pane.step)
            out.append((f"focus {title}", "show this agent", partial(self.focus_step, pane.step)))
        if self.key_facts().live:
            for grant in view.tools.grants:
                scope = ", ".join(f"{k}={v}" for k, v in grant.pattern.items())
                name = f"{grant.tool} ({scope})" if scope else grant.tool
                help_text = "its calls ask again (an always-for-this-session grant ends)"
                out.append((f"revoke always: {name}", help_text, partial(self.revoke, grant.tool, grant.pattern)))
        return out

    def revoke(self, tool: str, pattern: dict[str, str]) -> None:
        """End an always-for-this-session grant: the tool's calls ask again."""
        command = Command(kind="revoke", target=tool, edited=dict(pattern), by=self.baton.by)
        self.send(command, f"revoked: {one_line(tool, 40)} asks again")

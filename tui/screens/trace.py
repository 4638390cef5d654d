"""The Trace screen: a timeline of the session's steps and model calls, with start, duration, tokens,
cost and retries, and a bar per row placed on the session's time axis."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from baton.core.economics import summarize, usd
from baton.core.view import SessionView
from baton.tui import keymap
from baton.tui.figures import calls_by_round
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.report import duration
from baton.tui.sanitize import one_line
from baton.tui.step_notes import StepNotes
from baton.tui.widgets.step_tree import ICONS, STATUS_VARIABLES

if TYPE_CHECKING:
    from baton.tui.screens.run import RunScreen

BAR = 32
REFRESH_S = 0.5
COLUMNS = ("", "step / call", "start", "duration", "tokens", "cost", "retries", "timeline")


def trace_rows(
    view: SessionView, now: float, notes: StepNotes | None = None
) -> list[tuple[str, str, str, float | None, float | None, str, str, str]]:
    """(key, status, label, start, end, tokens, cost, retries) per step and call, in start order; a
    call is numbered within its round, and a later round says so."""
    notes = notes or StepNotes()
    rows: list[tuple[str, str, str, float | None, float | None, str, str, str]] = []
    steps = sorted(
        (s for s in view.steps.values() if s.path and s.started_at is not None),
        key=lambda s: (s.started_at or 0.0, s.path),
    )
    for step in steps:
        end = step.ended_at if step.ended_at is not None else (now if step.status == "running" else None)
        tokens = f"{step.tokens_in}→{step.tokens_out}" if (step.tokens_in or step.tokens_out) else ""
        cost = usd(step.cost_usd, step.cost_unknown) if (step.calls or step.cost_usd) else ""
        label = notes.titled(view, step.path)
        rows.append((step.path, step.status, label, step.started_at, end, tokens, cost, str(step.retries or "")))
        numbered = [(n, r, c) for r, _, calls in calls_by_round(view, step) for n, c in enumerate(calls, start=1)]
        for number, round_, call in numbered:
            call_id = call.call_id
            status = {"ok": "completed", "running": "running", "discarded": "cancelled"}.get(call.status, "failed")
            label = f"  └ call #{number} {call.alias or call.model}" + (f" (round {round_})" if round_ > 1 else "")
            label += " (replayed)" if call.replayed else ""
            if call.error_type:
                label += f" · {call.error_type}"
            call_end = call.ended_at if call.ended_at is not None else (now if call.status == "running" else None)
            call_cost = usd(call.cost_usd) if call.status != "running" else ""
            rows.append(
                (
                    f"{step.path}|{call_id}",
                    status,
                    label,
                    call.started_at,
                    call_end,
                    f"{call.tokens_in}→{call.tokens_out}" if call.status != "running" else "",
                    call_cost,
                    "",
                )
            )
    return rows


class TraceScreen(Keyed, Screen[None]):
    """Steps and calls on one time axis."""

    CSS_PATH = "trace.tcss"
    KEY_CONTEXT = "trace"
    BINDINGS = keymap.bindings("trace")

    def __init__(self, session: RunScreen) -> None:
        super().__init__()
        self.session = session
        self._last = 0.0
        self._had_rows = False

    def compose(self) -> ComposeResult:
        yield Static(id="trace-summary")
        yield DataTable(id="trace-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name or "icon")
        self.draw()
        table.focus()
        self.set_interval(1.0, self._tick, name="trace-tick")

    def _tick(self) -> None:
        if self.session.feed.view.status in ("running", "new"):
            self.draw()

    def feed_changed(self) -> None:
        """New events: redraw (at most twice a second)."""
        if not self.is_mounted:
            return
        if time.monotonic() - self._last >= REFRESH_S:
            self.draw()

    def draw(self) -> None:
        """Rebuild the table from the fold."""
        view = self.session.feed.view
        now = self.session.baton.clock()
        self._last = time.monotonic()
        colors: dict[str, Any] = self.session.baton.theme_variables
        rows = trace_rows(view, now, self.session.notes)
        t0 = view.started_at or min((r[3] for r in rows if r[3] is not None), default=now)
        t1 = view.ended_at if view.finished and view.ended_at else now
        t1 = max([t1] + [r[4] for r in rows if r[4] is not None])
        span = max(t1 - t0, 1e-6)
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for key, status, label, start, end, tokens, cost, retries in rows:
            color = colors.get(STATUS_VARIABLES.get(status, ""), "") or None
            bar = Text(no_wrap=True)
            if start is not None:
                offset = int((start - t0) / span * BAR)
                length = max(1, round(((end or start) - start) / span * BAR))
                bar.append(" " * min(offset, BAR - 1))
                bar.append(("█" if "|" not in key else "▄") * min(length, BAR - offset), style=Style(color=color))
            table.add_row(
                Text(ICONS.get(status, "?"), style=Style(color=color)),
                Text(one_line(label, 48), style=Style(bold="|" not in key)),
                Text(f"+{duration(start - t0)}" if start is not None else ""),
                Text(duration(end - start) if (start is not None and end is not None) else "…"),
                Text(tokens, justify="right"),
                Text(cost, justify="right"),
                Text(retries, justify="right"),
                bar,
                key=key,
            )
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        if bool(rows) != self._had_rows:
            self._had_rows = bool(rows)
            self.refresh_bindings()
        self.query_one("#trace-summary", Static).update(self._summary(view, now))

    def _summary(self, view: SessionView, now: float) -> Content:
        s = summarize(view, now)
        parts = [
            f"{one_line(view.workflow, 40)} · {view.session_id} · {view.status}",
            f"{usd(s.total_usd, s.unknown_calls > 0)}",
            f"{s.tokens_in:,} in / {s.tokens_out:,} out",
            f"wall {duration(s.wall_s)}",
            f"step time {duration(s.work_s)}",
            f"{len(view.calls)} call{'s' if len(view.calls) != 1 else ''}",
        ]
        if s.retries:
            parts.append(f"{s.retries} retr{'ies' if s.retries != 1 else 'y'}")
        return Content(" · ".join(parts))

    def key_facts(self) -> KeyFacts:
        return KeyFacts(rows=self.query_one(DataTable).row_count if self.is_mounted else 0)

    def action_back(self) -> None:
        """Back to the run."""
        self.dismiss(None)

    def action_open(self) -> None:
        """Back to the run, focused on the row's step."""
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
            step = key.split("|", 1)[0]
            self.dismiss(None)
            self.session.focus_step(step)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open()

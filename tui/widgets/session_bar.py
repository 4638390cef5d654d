"""The Run screen's header: workflow, session, status, total cost, elapsed time, inbox, controls, and the
tools a person allowed for the rest of the session."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from baton.core.economics import usd
from baton.core.view import SessionView
from baton.tui.figures import shown_status
from baton.tui.report import duration
from baton.tui.sanitize import one_line
from baton.tui.transcript import grants_text

Part = str | tuple[str, str]
STATUS_STYLE = {
    "running": "$agent-running",
    "waiting for you": "$agent-awaiting",
    "runner lost": "$agent-failed",
    "completed": "$agent-done",
    "degraded": "$agent-degraded",
    "failed": "$agent-failed",
    "paused": "$agent-awaiting",
    "cancelled": "$agent-cancelled",
}


def bar_content(view: SessionView, now: float, lost: str = "") -> Content:
    """`baton · research-brief · 9a80c636 · running · $0.0059 · 10.5s · ⏸ 2 waiting · step mode ·
    always: write_file (path=reports/*)`; the status reads `waiting for you` while only checkpoints hold
    the session."""
    parts: list[Part] = [("baton", "bold"), f" · {one_line(view.workflow or '…', 40)} · {view.session_id} · "]
    status = shown_status(view, lost)
    parts.append((status, f"bold {STATUS_STYLE.get(status, '')}".strip()))
    cost = usd(view.cost_usd, view.cost_unknown_calls > 0)
    parts += [" · ", (cost, "bold $cost"), f" · {duration(view.elapsed(now))}"]
    tokens = view.tokens_in + view.tokens_out
    if tokens:
        parts.append(f" · {tokens:,} tok")
    inbox = len(view.open_checkpoints)
    if inbox:
        parts += [" · ", (f"⏸ {inbox} waiting", "bold reverse $inbox")]
    if view.step_mode:
        parts += [" · ", ("step mode", "bold $agent-awaiting")]
    if view.breakpoints:
        n = len(view.breakpoints)
        parts += [" · ", (f"● {n} breakpoint{'s' if n != 1 else ''}", "$agent-failed")]
    grants = grants_text(view)
    if grants:
        parts += [" · ", ("always: ", "bold $agent-done"), grants]
    return Content.assemble(*parts)


class SessionBar(Static):
    """One line at the top of the Run screen."""

    def show(self, view: SessionView, now: float, lost: str = "") -> None:
        """Redraw from the fold (one line: no layout pass, which would reflow the whole screen)."""
        content = bar_content(view, now, lost)
        if content != self._shown:
            self._shown = content
            self.update(content, layout=False)

    _shown: Content | None = None

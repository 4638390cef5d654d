"""What line mode draws from a session's view: step lines under their titles, compact progress lines
for the steps that run, and the status line.

`tui.report` renders a step by its path; a map item's path says `[3]` where a person knows it by its
label, so line mode and `baton show` hand it copies that carry each step's title (`SessionView.title`)
in place of its path (`titled`; the keys, and so every lookup, stay paths). Every string from a model, a
tool or a file goes through `inert` into `Text`, never markup.
"""

from __future__ import annotations

import dataclasses

from rich.text import Text

from baton.core.view import SessionView, StepView, status_text
from baton.tui.feed import PaneText
from baton.tui.report import ICONS, duration, step_line
from baton.tui.sanitize import inert, one_line

PROGRESS_LINES = 8
"""At most this many progress lines in the live region (then `… N more running`)."""


def titled_step(view: SessionView, step: StepView) -> StepView:
    """A copy of `step` whose path is its title, for renderings that print the path."""
    title = view.title(step.path)
    return step if title == step.path else dataclasses.replace(step, path=title)


def titled(view: SessionView) -> SessionView:
    """A copy of `view` whose steps carry their titles as paths (keys unchanged), for the steps table and
    the cost summary."""
    steps = {path: titled_step(view, step) for path, step in view.steps.items()}
    return dataclasses.replace(view, steps=steps)


def line_of(view: SessionView, step: StepView) -> Text:
    """The one line of a finished (or waiting) step, under its title."""
    return step_line(titled_step(view, step), view=view)


def header(view: SessionView) -> Text:
    """The first line of a run: workflow, session and the models it uses."""
    head = Text()
    head.append("baton", style="bold")
    head.append(f" · {inert(view.workflow)} · session {view.session_id}")
    models = sorted(set(view.models.values()))
    if models:
        head.append(f" · models: {one_line(', '.join(models), 60)}", style="dim")
    return head


def follow_header(view: SessionView, step: StepView, again: bool = False) -> Text:
    """The line above a followed step's streamed text (a tool-calling agent's names its turn)."""
    line = Text()
    line.append("  ▸ ", style="cyan")
    line.append(one_line(view.title(step.path), 60), style="bold")
    if step.model:
        line.append(f" · {one_line(step.model, 24)}", style="dim")
    loop = view.tools.loops.get(step.path)
    if loop is not None and loop.turn:
        line.append(f" · turn {loop.turn}", style="dim")
    if again:
        line.append(" · started again", style="yellow")
    return line


def progress_lines(
    view: SessionView, panes: dict[str, PaneText], now: float, followed: str = "", limit: int = PROGRESS_LINES
) -> list[Text]:
    """One compact line per step that runs or waits, a fan-out as its count of finished items; the
    followed step is left out (its text streams right above)."""
    active = [s for s in view.steps.values() if s.path and s.path != followed and s.status in ("running", "awaiting")]
    lines = [_progress(view, s, panes.get(s.path), now) for s in active[:limit]]
    if len(active) > limit:
        lines.append(Text(f"  … {len(active) - limit} more running", style="dim"))
    return lines


def _progress(view: SessionView, step: StepView, pane: PaneText | None, now: float) -> Text:
    icon, style = ICONS.get(step.status, ("?", ""))
    line = Text()
    line.append(f"  {icon} ", style=style)
    line.append(one_line(view.title(step.path), 48))
    if step.model:
        line.append(f" · {one_line(step.model, 16)}", style="dim")
    children = [s for s in view.steps.values() if _child_of(step.path, s.path)]
    if step.status == "awaiting":
        line.append(" · waiting for you", style="yellow")
    elif children:
        done = sum(1 for s in children if s.status in ("completed", "degraded", "skipped", "failed"))
        line.append(f" · {done} of {len(children)} done", style="dim")
    elif pane is not None and pane.length and not pane.final:
        line.append(f" · {pane.length:,} chars", style="dim")
    if step.started_at is not None:
        line.append(f" · {duration(max(0.0, now - step.started_at))}", style="dim")
    return line


def _child_of(parent: str, path: str) -> bool:
    """Whether `path` is a step directly inside `parent` (a branch, worker or map item, not deeper)."""
    rest = path[len(parent) :]
    if rest.startswith("["):
        return rest.endswith("]") and rest.count("[") == 1 and "/" not in rest
    if rest.startswith("/"):
        return not any(mark in rest[1:] for mark in ("/", "[", "#"))
    return False


def status_line(view: SessionView, now: float) -> Text:
    """Status, cost, time, the inbox and what Ctrl-C offers."""
    line = Text()
    status = view.shown_status
    line.append(f"  {status_text(status)}", style="bold yellow" if status == "waiting" else "bold")
    line.append(f" · ${view.cost_usd:.4f} · {duration(view.elapsed(now))}")
    inbox = len(view.open_checkpoints)
    if inbox:
        line.append(f" · {inbox} waiting", style="yellow bold")
    line.append(" · Ctrl-C: detach / pause / cancel", style="dim")
    return line

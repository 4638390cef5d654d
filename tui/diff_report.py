"""Two sessions compared, in words: the cells of each aligned step, the lines of decisions and state
changes, and the text report `baton diff` prints. The Diff screen uses the same cells, so both say the
same thing in the same words. Everything from a model, a tool or a person goes through `inert`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from baton.core.economics import usd
from baton.core.view import SessionView, status_text
from baton.sessions.errors import InvalidInput
from baton.tui.report import duration, shown_value
from baton.tui.sanitize import inert, one_line

if TYPE_CHECKING:
    from baton.core.diff import DecisionSide, KeyDiff, SessionDiff, StepDiff, StepSide

COLUMNS = ("", "step", "status", "route", "model", "tokens", "cost", "time")
MARKS = {"same": "=", "differs": "≠", "a": "A", "b": "B"}
"""A step's mark: the same in both, different, or run in one session only."""
FIRST = "▶"
"""Marks the first divergence."""
LEGEND = "= same · ≠ differs · A only in A · B only in B · ▶ first divergence"
DIFF_LINES = 30
"""Lines of each unified diff shown without `--full`."""
VALUE_WIDTH = 60


async def sessions_to_compare(app: Any, a: str, b: str | None) -> tuple[SessionView, SessionView]:
    """The two folded sessions (`app` is `sessions.app.Sessions`); with `b` None, `a`'s parent and `a`."""
    first = (await app.open(a)).view
    if b is not None:
        return first, (await app.open(b)).view
    if not first.parent:
        raise InvalidInput(f"session {first.session_id} is not a fork: name two sessions (baton diff A B)")
    return (await app.open(first.parent)).view, first


# --- cells, shared with the Diff screen ----------------------------------------------------------------


def mark(step: StepDiff) -> str:
    """`=`, `≠`, `A` or `B`."""
    if step.where != "both":
        return MARKS[step.where]
    return MARKS["differs" if step.differs else "same"]


def step_cells(step: StepDiff) -> tuple[str, ...]:
    """The row of one aligned step after its mark: each field once when both sides agree, `A | B` when
    they do not (plain text: the caller makes it inert)."""

    def pair(value: Any) -> str:
        a = value(step.a) if step.a is not None else ""
        b = value(step.b) if step.b is not None else ""
        if step.a is None:
            return b
        if step.b is None or a == b:
            return a
        return f"{a} | {b}"

    def tokens(s: StepSide) -> str:
        return f"{s.tokens_in}→{s.tokens_out}" if (s.tokens_in or s.tokens_out) else ""

    def cost(s: StepSide) -> str:
        return usd(s.cost_usd) if (s.cost_usd is None or s.cost_usd or s.tokens_in or s.tokens_out) else ""

    def time(s: StepSide) -> str:
        return duration(s.time_s) if s.time_s is not None else ""

    def time_pair() -> str:
        """A fork's copied step took no time of its own: the run it was copied from is the time."""
        ran = [s for s in (step.a, step.b) if s is not None and not s.inherited]
        if len(ran) == 1 and step.where == "both":
            return time(ran[0])
        return pair(lambda s: "copied" if s.inherited else time(s))

    return (
        step.title,
        pair(lambda s: s.status),
        pair(lambda s: ", ".join(s.route)),
        pair(lambda s: s.model),
        pair(tokens),
        pair(cost),
        time_pair(),
    )


def session_line(label: str, view: SessionView) -> str:
    """`A 9c5ad061 · research-brief · completed · $0.0048 · 12.8s · fork of 3fa2c1d0 at write`."""
    parts = [f"{label} {view.session_id}", view.workflow, status_text(view.shown_status), usd(view.cost_usd)]
    if view.inherited_usd:
        parts[-1] += f" (+{usd(view.inherited_usd)} inherited)"
    parts.append(duration(view.active_s))
    if view.parent:
        parts.append(f"fork of {view.parent} at {view.fork_step}")
    return " · ".join(parts)


def decision_lines(step: StepDiff) -> list[str]:
    """`A: approve by alice (feedback: …)` for each decision at the step, A's then B's."""
    out = []
    for label, side in (("A", step.a), ("B", step.b)):
        decisions: tuple[DecisionSide, ...] = side.decisions if side is not None else ()
        out += [f"{label}: {d.text()}" for d in decisions]
    return out


def state_lines(state: KeyDiff, full: bool = False) -> list[tuple[str, str]]:
    """(sign, text) per key: `~ key: a | b` changed, `+ key: b` added in B, `- key: a` only in A."""

    def value(v: Any) -> str:
        return inert(shown_value(v)) if full else one_line(shown_value(v), VALUE_WIDTH)

    out = [("~", f"{inert(k)}: {value(a)} | {value(b)}") for k, (a, b) in state.changed.items()]
    out += [("+", f"{inert(k)}: {value(v)}") for k, v in state.added.items()]
    out += [("-", f"{inert(k)}: {value(v)}") for k, v in state.removed.items()]
    return out


def summary_text(result: SessionDiff) -> str:
    """`first divergence: write — the model request differs` or `the sessions did the same`."""
    if result.first is not None:
        return f"first divergence: {result.first.title} — {result.first.why}"
    if result.same:
        return "the sessions did the same: same steps, requests, routes, decisions, outputs and final state"
    return "no step diverges (" + ", ".join(_minor(result)) + ")"


def _minor(result: SessionDiff) -> list[str]:
    out = [f"{s.title}: {', '.join(s.differs)}" for s in result.differing]
    if not result.state.same:
        out.append("the final state differs")
    return out


# --- the text report -----------------------------------------------------------------------------------


def report(result: SessionDiff, full: bool = False) -> list[RenderableType]:
    """The comparison for a terminal: the two sessions, the first divergence, a table of the aligned steps,
    then each differing step's decisions, writes and diffs, and the final state's differences."""


    out: list[RenderableType] = [
        Text(inert(session_line("A", result.a)), style="bold"),
        Text(inert(session_line("B", result.b)), style="bold"),
        Text(inert(summary_text(result)), style="yellow" if not result.same else "green"),
        Text(""),
    ]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in ("tokens", "cost", "time") else "left")
    first = result.first.step if result.first is not None else None
    for step in result.steps:
        is_first = step.path == first
        cells = [Text(inert(c)) for c in step_cells(step)]
        table.add_row(Text((FIRST if is_first else " ") + mark(step)), *cells, style="bold" if is_first else "")
    out += [table, Text(LEGEND, style="dim")]
    for step in result.steps:
        if step.differs or decision_lines(step):
            out += _step_detail(step, step.path == first, full)
    if not result.state.same:
        out.append(Text("\nfinal state (A | B)", style="bold"))
        for sign, line in state_lines(result.state, full):
            out.append(Text(f"  {sign} {line}", style={"+": "green", "-": "red"}.get(sign, "yellow")))
    return out


def _step_detail(step: StepDiff, is_first: bool, full: bool) -> list[RenderableType]:


    head = Text(f"\n{mark(step)} {inert(step.title)}", style="bold")
    if is_first:
        head.append(f"  {FIRST} first divergence: {step.why}", style="yellow")
    elif step.differs:
        head.append(f"  differs: {', '.join(step.differs)}", style="dim")
    out: list[RenderableType] = [head]
    for line in decision_lines(step):
        out.append(Text(f"  decision {inert(line)}"))
    if not step.writes.same:
        for sign, line in state_lines(step.writes, full):
            out.append(Text(f"  writes {sign} {line}", style="dim"))
    for what, text in (("request", step.request_diff), ("output", step.output_diff)):
        if text:
            out.append(Text(f"  {what}:", style="dim"))
            out += diff_text(text, full)
    return out


def diff_text(text: str, full: bool = False, limit: int = DIFF_LINES) -> list[RenderableType]:
    """A unified diff's lines, inert and coloured by sign; cut to `limit` lines unless `full`."""


    lines = text.splitlines()
    shown = lines if full else lines[:limit]
    out: list[RenderableType] = [Text("    " + inert(line), style=diff_style(line)) for line in shown]
    if len(shown) < len(lines):
        out.append(Text(f"    … {len(lines) - len(shown)} more lines (--full shows them)", style="dim"))
    return out


def diff_style(line: str) -> str:
    """The colour of a unified diff's line."""
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")

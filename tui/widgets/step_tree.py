"""The step graph as a tree: every step with its live status, model, tokens and cost.

Top-level steps (and fixed parallel branches) come from the session's workflow text, so pending steps
show before they run; fan-out children (`each[3]`, `refine#2/draft`, supervisor workers) appear as the
runner schedules them, a map item by its label, and as *queued* until it really starts. A running
fan-out says how many of its children run and wait. Colours come from the theme's agent variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from baton.core.economics import usd
from baton.core.step_path import StepPath
from baton.core.view import SessionView, StepView
from baton.tui.figures import models_used
from baton.tui.sanitize import one_line
from baton.tui.step_notes import StepNotes, children_counts, queued

ICONS = {
    "pending": "·",
    "queued": "◦",
    "running": "▶",
    "awaiting": "⏸",
    "completed": "✓",
    "degraded": "◐",
    "failed": "✗",
    "skipped": "↷",
    "cancelled": "■",
}
STATUS_VARIABLES = {
    "pending": "agent-pending",
    "queued": "agent-pending",
    "running": "agent-running",
    "awaiting": "agent-awaiting",
    "completed": "agent-done",
    "degraded": "agent-degraded",
    "failed": "agent-failed",
    "skipped": "agent-skipped",
    "cancelled": "agent-cancelled",
}


def parent_of(path: str) -> str:
    """`research/papers` → `research`; `each[3]` → `each`; `refine#2` → `refine`; top level → ``."""
    return StepPath(path).parent


def short_name(path: str) -> str:
    """The part of a path its parent does not already say."""
    return StepPath(path).tail


def step_id(path: str) -> str:
    """The workflow's id for a step path (`research/papers` → `papers`, `each[3]` → `each`)."""
    return StepPath(path).id


def planned_steps(workflow_text: str) -> list[str]:
    """Top-level step ids and fixed parallel branches, from the workflow text (empty if unreadable)."""
    try:
        data = yaml.safe_load(workflow_text) if workflow_text else None
    except yaml.YAMLError:
        return []
    out: list[str] = []
    steps = data.get("steps") if isinstance(data, dict) else None
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            continue
        out.append(step["id"])
        branches = step.get("branches") if step.get("kind") == "parallel" else None
        for branch in branches if isinstance(branches, list) else []:
            if isinstance(branch, dict) and isinstance(branch.get("id"), str):
                out.append(f"{step['id']}/{branch['id']}")
    return out


def step_label(
    name: str,
    step: StepView | None,
    colors: Mapping[str, str],
    breakpoint: bool = False,
    status: str = "",
    note: str = "",
    models: str = "",
) -> Text:
    """`✓ papers  strong  25→191  $0.0029`, `◦ core/view.py  queued` (inert; colours from the theme)."""
    status = status or (step.status if step is not None else "pending")
    color = colors.get(STATUS_VARIABLES.get(status, ""), "")
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(f"{ICONS.get(status, '?')} ", style=Style(color=color or None, bold=status == "awaiting"))
    if breakpoint:
        label.append("● ", style=Style(color=colors.get("agent-failed") or None))
    label.append(one_line(name, 28), style=Style(bold=status in ("running", "awaiting")))
    if status == "queued":
        label.append("  queued", style=Style(dim=True, italic=True))
    if note:
        label.append(f"  {note}", style=Style(dim=True))
    if step is None or status == "queued":
        return label
    models = models or step.model
    if models:
        label.append(f"  {one_line(models, 16)}", style=Style(dim=True))
    if step.tokens_in or step.tokens_out:
        label.append(f"  {step.tokens_in}→{step.tokens_out}", style=Style(dim=True))
    if step.tokens_out or step.cost_usd or step.cost_unknown:
        label.append(f"  {usd(step.cost_usd, step.cost_unknown)}", style=Style(color=colors.get("cost") or None))
    return label


def _fan_out_note(view: SessionView, step: StepView | None) -> str:
    """`2 running · 4 queued` on a running fan-out whose children wait for slots."""
    if step is None or step.status != "running" or step.kind not in ("map", "parallel"):
        return ""
    running, waiting, _ = children_counts(view, step.path)
    return f"{running} running · {waiting} queued" if waiting else ""


class StepTree(Tree[str]):
    """Steps by path; the node data is the step path."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("steps", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.nodes: dict[str, TreeNode[str]] = {}
        self._labels: dict[str, tuple[Any, ...]] = {}
        self._planned = False

    def sync(
        self, view: SessionView, colors: Mapping[str, str], notes: StepNotes | None = None, force: bool = False
    ) -> None:
        """Add new steps and relabel the ones that changed."""
        notes = notes or StepNotes()
        if not self._planned and view.workflow_text:
            self._planned = True
            for path in planned_steps(view.workflow_text):
                self._node(path)
        for path in view.steps:
            if path:
                self._node(path)
        for path, node in self.nodes.items():
            step = view.steps.get(path)
            bp = path in view.breakpoints or step_id(path) in view.breakpoints
            status = "queued" if queued(view, step) else ""
            name = notes.name(view, path, short_name(path))
            note = _fan_out_note(view, step)
            models = "/".join(models_used(view, step)) if step is not None else ""
            key = (
                (step.status, status, name, note, models, step.tokens_in, step.tokens_out, step.cost_usd)
                + (step.cost_unknown, bp)
                if step is not None
                else ("pending", name, bp)
            )
            if force or self._labels.get(path) != key:
                self._labels[path] = key
                node.set_label(step_label(name, step, colors, bp, status, note, models))

    def _node(self, path: str) -> TreeNode[str]:
        node = self.nodes.get(path)
        if node is not None:
            return node
        parent_path = parent_of(path)
        parent = self._node(parent_path) if parent_path else self.root
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True
            parent.expand()
        node = parent.add_leaf(Text(short_name(path)), data=path)
        self.nodes[path] = node
        return node

    def select_path(self, path: str) -> None:
        """Move the cursor to a step."""
        node = self.nodes.get(path)
        if node is not None and self.cursor_node is not node:
            self.move_cursor(node)

    def selected_path(self) -> str:
        """The step under the cursor (empty when none)."""
        node = self.cursor_node
        return node.data if node is not None and node.data else ""

"""What the screen shows about fan-out children beyond the session view: each child's label (a map item
by what a person recognises, `core/view.py` instead of `[3]`), whether it is queued for a slot rather
than running, and how many run at a time (and what capped it).

Labels come from `StepScheduled.label`; `concurrency` / `concurrency_capped_by` from a map's or
parallel's `StepStarted` when the runner records them. A view that keeps these itself wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.view import SessionView, StepView
from baton.tui.sanitize import one_line

QUEUED_STATUSES = ("queued", "scheduled")


@dataclass
class StepNotes:
    """Labels and concurrency of fan-out steps, folded from the events a viewer reads."""

    labels: dict[str, str] = field(default_factory=dict)
    concurrency: dict[str, tuple[int, str]] = field(default_factory=dict)

    def apply(self, batch: Iterable[Any]) -> bool:
        """Fold a batch of bus updates; True when something shown changed."""
        changed = False
        for update in batch:
            event = update.event if isinstance(update, ev.Envelope) else None
            if isinstance(event, ev.StepScheduled) and event.label and event.label != self.labels.get(event.step):
                self.labels[event.step] = event.label
                changed = True
            elif isinstance(event, ev.StepStarted):
                limit = getattr(event, "concurrency", None)
                if isinstance(limit, int) and limit > 0:
                    self.concurrency[event.step] = (limit, str(getattr(event, "concurrency_capped_by", "") or ""))
                    changed = True
        return changed

    def label(self, view: SessionView, path: str) -> str:
        """A child's label ('' when it has none, or it only repeats the step's id)."""
        step = view.steps.get(path)
        text = str(getattr(step, "label", "") or self.labels.get(path, ""))
        last = path.rsplit("/", 1)[-1]
        return "" if not text or text == last else text

    def name(self, view: SessionView, path: str, short: str) -> str:
        """How a step is named on screen: a map item by its label, anything else by `short`."""
        text = self.label(view, path)
        return one_line(text, 40) if text and path.endswith("]") else short

    def titled(self, view: SessionView, path: str) -> str:
        """A step's path with its label, for titles: `each[2] · core/view.py`."""
        text = self.label(view, path)
        return f"{path} · {text}" if text and path.endswith("]") else path

    def limit_text(self, path: str) -> str:
        """`8 at a time (capped by defaults.concurrency)`, or '' when not recorded."""
        limit = self.concurrency.get(path)
        if limit is None:
            return ""
        capped = f" (capped by {limit[1]})" if limit[1] else ""
        return f"{limit[0]} at a time{capped}"


def queued(view: SessionView, step: StepView | None) -> bool:
    """A fan-out child scheduled but not started: it waits for a slot (it is not running)."""
    if step is None:
        return False
    if step.status in QUEUED_STATUSES:
        return True
    is_child = "/" in step.path or step.path.endswith("]") or "#" in step.path
    return is_child and step.status == "pending" and step.started_at is None


def children_counts(view: SessionView, path: str) -> tuple[int, int, int]:
    """(running, queued, done) among a fan-out step's direct children."""
    running = waiting = done = 0
    prefixes = (f"{path}[", f"{path}/")
    for child_path, child in view.steps.items():
        if not child_path.startswith(prefixes):
            continue
        rest = child_path[len(path) :]
        if "/" in rest[1:] or ("[" in rest[1:] and rest.startswith("/")):
            continue  # a grandchild
        if queued(view, child):
            waiting += 1
        elif child.status in ("running", "awaiting"):
            running += 1
        elif child.status in ("completed", "degraded", "skipped", "failed", "cancelled"):
            done += 1
    return running, waiting, done

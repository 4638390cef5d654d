"""A step's story on one line: `call ✗ timeout 30s → retry 1 (wait 1.0s) ✗ 429 → retry 2 (wait 2.0s) ✓`.

Told twice from the same facts: by the runner as it makes the attempts (for the message of an
escalation) and by the session view as it folds the events (for `baton show`, the TUI, the report).
Both keep the entries in a `timeline` list and whether the last one is still open in `pending_entry`.
"""

from __future__ import annotations


class Timeline:
    """Methods for a dataclass with `timeline: list[str]` and `pending_entry: bool` fields."""

    timeline: list[str]
    pending_entry: bool

    @property
    def timeline_text(self) -> str:
        """The entries on one line."""
        return " → ".join(self.timeline)

    def open_entry(self, entry: str) -> None:
        """An entry the next call's outcome completes (`retry 1 (wait 0.5s)`, `fallback backup`)."""
        self.timeline.append(entry)
        self.pending_entry = True

    def retry_entry(self, attempt: int, wait_s: float, tag: str = "") -> None:
        """A retry after `wait_s`, open until its call ends."""
        self.open_entry(f"retry {attempt} (wait {wait_s:.1f}s{', ' + tag if tag else ''})")

    def note_outcome(self, outcome: str) -> None:
        """A call's outcome (`✓`, `✗ 429`): completes the open entry, or is a `call …` entry of its own."""
        if self.pending_entry and self.timeline:
            self.timeline[-1] += f" {outcome}"
        else:
            self.timeline.append(f"call {outcome}")
        self.pending_entry = False

    def note_failure(self, label: str, discarded: bool) -> None:
        """A failed call's outcome; `discarded` when it streamed text that was thrown away."""
        self.note_outcome(f"✗ {label}" + (" (partial discarded)" if discarded else ""))

    def before_open(self, entry: str) -> None:
        """An entry that happened before the open one took effect (a breaker opening)."""
        self.timeline.insert(len(self.timeline) - (1 if self.pending_entry else 0), entry)

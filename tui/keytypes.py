"""What the key table is made of: `KeyFacts` (what a screen knows now) and `Key` (one binding and when it
works). Plain data, shared by `tui.keytable` and the tables split out of it (`tui.keytable_inbox`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KeyFacts:
    """What a screen knows now that decides which of its keys do something."""

    # Home
    flows: int = 0
    selected: str = ""
    """Status of the session under the cursor ('' when there is none)."""
    filtering: bool = False
    """The filter box has the focus (letters type into it)."""
    filtered: bool = False
    # Run
    live: bool = False
    resumable: bool = False
    waiting: int = 0
    agents: int = 0
    earlier_page: bool = False
    later_page: bool = False
    pinned: bool = False
    chosen_step: bool = False
    result: bool = False
    """The session has a result to show, and something else is shown now."""
    tool_calls: int = 0
    """Tool calls of the focused agent (only 0, 1 or several matter)."""
    comparable: bool = False
    """`D` has two sessions to compare: this fork and its parent (Run), or the chosen session and the
    marked one, or a chosen fork and its parent (Home)."""
    # Review
    options: frozenset[str] = frozenset()
    words: Mapping[str, str] = field(default_factory=dict)
    """The word of each offered decision at this checkpoint (`option_word`)."""
    busy: bool = False
    editor: bool = False
    # Trace, Inbox
    rows: int = 0
    # Inbox
    marked: int = 0
    """Checkpoints marked for a batch decision."""
    approvable: bool = False
    """The marked checkpoints (or the chosen one, when none is marked) all offer approve."""
    similar: int = 0
    """Waiting checkpoints like the chosen one (same workflow, step and question), itself included."""
    standalone: bool = False
    """The Inbox was opened by `baton inbox` (closing it leaves baton)."""
    # Diff
    later_difference: bool = False
    """A step after the chosen one differs."""
    earlier_difference: bool = False
    """A step before the chosen one differs."""


Predicate = Callable[[KeyFacts], bool]


def always(facts: KeyFacts) -> bool:
    """A key that always works."""
    return True


@dataclass(frozen=True)
class Key:
    """One binding: its id, default keys, the action it runs, its words, and when it works."""

    id: str
    keys: str
    action: str
    label: str
    tooltip: str
    when: Predicate = always
    only: str = ""
    """When it works, in words (the help shows it beside a key that does nothing now)."""
    params: tuple[Any, ...] = ()
    footer: bool = True
    priority: bool = False
    group: str = ""
    decision: bool = False
    """Sends a decision: dimmed (not hidden) while one is on its way."""

    @property
    def action_text(self) -> str:
        """The action as Textual parses it: `decide('approve', 'run')`."""
        if not self.params:
            return self.action
        return f"{self.action}({', '.join(repr(p) for p in self.params)})"

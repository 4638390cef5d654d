"""Every consumer that folds the event stream decides about every kind in the vocabulary.

A new event kind must be handled or explicitly ignored by each of the five consumers: the runner's
`History`, the fold (`SessionView`), the store's projection, the viewers' feed, and line mode's lines. A
kind is handled where the consumer's code names it (`ev.StepCompleted`, or its name as a string, as in a
set of kinds); a consumer declares what it ignores in a module-level `IGNORED_KINDS`. Both at once is a
contradiction, and neither is a kind nobody thought about.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from types import ModuleType

import pytest

from baton.core import events as ev
from baton.core import runner, view
from baton.sessions import projection
from baton.tui import feed
from baton.tui.line import lines, viewer

KINDS = frozenset(ev.EVENT_TYPES)
HISTORY_IGNORED = frozenset(
    {
        "SessionPaused",
        "StepScheduled",
        "StepStarted",
        "StateUpdated",
        "StepFailed",
        "StepCancelled",
        "Rerouted",
        "LLMCallStarted",
        "TokenDelta",
        "RetryScheduled",
        "FallbackUsed",
        "BreakerChanged",
        "BudgetWarning",
    }
)
"""What the runner's `History` leaves alone, until its module declares its own `IGNORED_KINDS`: a resumed
runner re-walks the workflow from completions, outputs, decisions, answers and tool records; progress,
retries and state changes are replayed from those, and a pause is what it resumes from."""


def named_kinds(source: str) -> set[str]:
    """Event kinds a module's code names: `ev.Kind` / `events.Kind` / a bare imported `Kind`, or the kind
    as a string (a set of kinds); its own `IGNORED_KINDS` declaration does not count."""
    tree = ast.parse(source)
    declared: set[int] = set()
    for node in ast.walk(tree):
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "IGNORED_KINDS" for t in targets):
            declared.update(id(inner) for inner in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in declared:
            continue
        if isinstance(node, ast.Attribute) and node.attr in KINDS:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in KINDS:
            found.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in KINDS:
            found.add(node.value)
    return found


def gaps(handled: set[str], ignored: frozenset[str]) -> tuple[set[str], set[str]]:
    """(kinds neither handled nor ignored, kinds declared ignored that the code handles)."""
    return set(KINDS - handled - ignored), handled & ignored


def _source(*modules: ModuleType) -> str:
    return "\n".join(inspect.getsource(m) for m in modules)


HISTORY_MODULE = inspect.getmodule(runner.History)
assert HISTORY_MODULE is not None
CONSUMERS: dict[str, tuple[str, frozenset[str]]] = {
    "History (the runner's index of the log)": (
        _source(HISTORY_MODULE),
        getattr(HISTORY_MODULE, "IGNORED_KINDS", HISTORY_IGNORED),
    ),
    "SessionView (core/view.py)": (_source(view), view.IGNORED_KINDS),
    "projection (sessions/projection.py)": (_source(projection), projection.IGNORED_KINDS),
    "feed (tui/feed.py)": (_source(feed), feed.IGNORED_KINDS),
    "line mode (tui/line)": (_source(lines, viewer), lines.IGNORED_KINDS),
}


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_every_event_kind_is_handled_or_ignored_on_purpose(consumer: str) -> None:
    source, ignored = CONSUMERS[consumer]
    assert ignored <= KINDS, f"{consumer} ignores kinds that do not exist: {sorted(ignored - KINDS)}"
    missing, contradictory = gaps(named_kinds(source), ignored)
    assert not missing, f"{consumer} neither handles nor ignores: {sorted(missing)}"
    assert not contradictory, f"{consumer} declares as ignored kinds it handles: {sorted(contradictory)}"


def test_the_check_finds_a_kind_nobody_decided_about_and_a_contradiction() -> None:
    source = textwrap.dedent(
        """
        from baton.core import events as ev
        from baton.core.events import StepOutput

        IGNORED_KINDS = frozenset({"StepFailed", "StepStarted"})
        WHOLE = ("SessionPaused",)

        def fold(e):
            if isinstance(e, ev.StepStarted | StepOutput):
                return 1
        """
    )
    assert named_kinds(source) == {"StepStarted", "StepOutput", "SessionPaused"}
    ignored = frozenset(KINDS - {"StepStarted", "StepOutput", "SessionPaused", "Rerouted"}) | {"StepStarted"}
    missing, contradictory = gaps(named_kinds(source), ignored)
    assert missing == {"Rerouted"}
    assert contradictory == {"StepStarted"}

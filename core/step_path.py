"""Where a step runs inside a session, as a value: `write`, `research/papers`, `each[3]`, `refine#2/write`.

A path is a `/`-separated list of segments; a segment is a workflow step id, optionally with a map item
number (`each[3]`) or a loop iteration number (`refine#2`). `StepPath` is a `str`, so events, the store
and dictionaries keep plain strings (the wire format is the string) while code asks the path about
itself instead of splitting it by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEGMENT_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_\-]*)(?:\[(\d+)\]|#(\d+))?$")
_MARKS = "/[#"


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: the step id, and the map item or loop iteration it names (None when neither)."""

    id: str
    item: int | None = None
    iteration: int | None = None


class StepPath(str):
    """A step path. Construction does not validate (recorded paths are trusted); `parse` does."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> StepPath:
        """A path checked segment by segment; `ValueError` names the first malformed segment."""
        if not text:
            raise ValueError("an empty step path")
        for segment in text.split("/"):
            if not _SEGMENT_RE.match(segment):
                raise ValueError(f"'{segment}' is not a step path segment (step, step[3] or step#2)")
        return cls(text)

    @classmethod
    def top_level(cls, step_id: str) -> StepPath:
        """The path of a top-level step."""
        return cls(step_id)

    # --- reading ---------------------------------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        """Every segment, outermost first."""
        return [_segment(part) for part in self.split("/")] if self else []

    @property
    def name(self) -> str:
        """The last segment as written (`each[3]`, `papers`)."""
        return self.rsplit("/", 1)[-1]

    @property
    def id(self) -> str:
        """The workflow step id of the last segment (`research/papers` → papers, `each[3]` → each)."""
        return segment_id(self.name)

    @property
    def top(self) -> str:
        """The id of the top-level step the path is inside (`refine#2/write` → refine)."""
        return segment_id(self.split("/", 1)[0])

    @property
    def is_top(self) -> bool:
        """A top-level step itself (no child, item or iteration mark)."""
        return bool(self) and not any(mark in self for mark in _MARKS)

    @property
    def parent(self) -> StepPath:
        """The enclosing path (`a/b` → a, `m[3]` → m, `loop#2` → loop, `loop#2/w` → loop#2); empty at the
        top level."""
        last = self.name
        if last != self and not _marked(last):
            return StepPath(self[: len(self) - len(last) - 1])
        for mark in ("[", "#"):
            at = last.find(mark)
            if at >= 0:
                return StepPath(self[: len(self) - len(last) + at])
        return StepPath("")

    @property
    def tail(self) -> str:
        """What the path adds to its parent (`research/papers` → papers, `each[3]` → [3])."""
        parent = self.parent
        if not parent:
            return str(self)
        rest = self[len(parent) :]
        return rest[1:] if rest.startswith("/") else rest

    def under(self, scope: str) -> bool:
        """Is this path `scope` itself or inside it (`scope/…`, `scope[…`, `scope#…`)?"""
        return self == scope or (self.startswith(scope) and len(self) > len(scope) and self[len(scope)] in _MARKS)

    def strictly_under(self, scope: str) -> bool:
        """Inside `scope`, not `scope` itself."""
        return self != scope and self.under(scope)

    # --- building --------------------------------------------------------------------------------

    def child(self, step_id: str) -> StepPath:
        """A child step (`research` → research/papers); at the top level, the step itself."""
        return StepPath(f"{self}/{step_id}" if self else step_id)

    def item(self, index: int) -> StepPath:
        """A map item (`each` → each[3])."""
        return StepPath(f"{self}[{index}]")

    def iteration(self, number: int) -> StepPath:
        """A loop iteration (`refine` → refine#2); its steps are its children (`refine#2/write`)."""
        return StepPath(f"{self}#{number}")


def segment_id(segment: str) -> str:
    """The step id in one segment (`each[3]` → each, `refine#2` → refine)."""
    for mark in ("[", "#"):
        at = segment.find(mark)
        if at >= 0:
            segment = segment[:at]
    return segment


def _marked(segment: str) -> bool:
    return "[" in segment or "#" in segment


def _segment(part: str) -> Segment:
    match = _SEGMENT_RE.match(part)
    if match is None:
        return Segment(segment_id(part))
    step_id, item, iteration = match.groups()
    return Segment(step_id, int(item) if item else None, int(iteration) if iteration else None)


def under(path: str, scope: str) -> bool:
    """`StepPath(path).under(scope)` for plain strings (budget scopes, forks, economics)."""
    return path == scope or (path.startswith(scope) and len(path) > len(scope) and path[len(scope)] in _MARKS)

"""An accepted approval rule, and which rule (if any) approves a tool call without asking.

A rule says "approve calls of this tool whose arguments fit these globs": the same `{argument: glob}`
shape as an always-for-this-session grant, but standing across sessions, kept in the config file under
an id. It is applied only where a person would otherwise be asked, and never to a tool that is marked
destructive (MCP's `destructiveHint`, or a Python tool's `destructive: true`) nor to one whose workflow
says `approval: always` (the workflow's author wants a person at every call).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EXPLICIT_ALWAYS = "its approval is 'always'"
"""Why a call asks when its workflow says `approval: always` (the toolbox's words)."""


@dataclass(frozen=True)
class Rule:
    """Approve calls of `tool` (from `origin`, when given) whose arguments fit `pattern` (empty: any)."""

    id: str
    tool: str
    pattern: dict[str, str] = field(default_factory=dict)
    origin: str = ""
    evidence: str = ""
    accepted_by: str = ""
    accepted_at: str = ""

    def matches(self, tool: str, origin: str, args: Mapping[str, Any]) -> bool:
        """Whether a call of `tool` from `origin` with `args` fits this rule."""
        if tool != self.tool or (self.origin and origin != self.origin):
            return False
        return all(glob_matches(args.get(name), glob) for name, glob in self.pattern.items())

    def scope(self) -> str:
        """`tool (path=docs/*)`, or `tool (any arguments)`."""
        return f"{self.tool} ({self.arguments()})"

    def arguments(self) -> str:
        """`path=docs/*`, or `any arguments`."""
        return ", ".join(f"{k}={v}" for k, v in self.pattern.items()) or "any arguments"

    def record(self) -> dict[str, Any]:
        """The rule as a session records it among the rules in force."""
        out: dict[str, Any] = {"id": self.id, "tool": self.tool, "pattern": dict(self.pattern)}
        if self.origin:
            out["origin"] = self.origin
        return out

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Rule:
        """Back from `record()` (or a config table); `ValueError` says what is wrong."""
        rule_id, tool = data.get("id"), data.get("tool")
        if not isinstance(rule_id, str) or not rule_id:
            raise ValueError("a rule needs an 'id'")
        if not isinstance(tool, str) or not tool:
            raise ValueError("a rule needs the 'tool' it approves")
        pattern = data.get("pattern") or {}
        if not isinstance(pattern, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pattern.items()
        ):
            raise ValueError("a rule's 'pattern' maps argument names to glob patterns (text)")
        origin = data.get("origin") or ""
        if not isinstance(origin, str):
            raise ValueError("a rule's 'origin' is text")
        return cls(
            id=rule_id,
            tool=tool,
            pattern=dict(pattern),
            origin=origin,
            evidence=str(data.get("evidence") or ""),
            accepted_by=str(data.get("accepted_by") or ""),
            accepted_at=str(data.get("accepted_at") or ""),
        )


def rule_id(tool: str, origin: str, pattern: Mapping[str, str]) -> str:
    """A stable id for a rule: the same tool, origin and pattern always get the same one."""
    key = json.dumps([tool, origin, sorted(pattern.items())], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def glob_matches(value: Any, glob: str) -> bool:
    """An argument value against a glob (`*` matches across `/`); a missing argument matches nothing,
    and a value that climbs out of a folder (`..`) matches only a glob that says `..` itself."""
    if value is None:
        return False
    text = value if isinstance(value, str) else str(value)
    if _climbs(text) and not _climbs(glob):
        return False  # `docs/*` is about what is under docs/, not `docs/../secrets`
    return fnmatch.fnmatchcase(text, glob)


def _climbs(text: str) -> bool:
    """Whether a path-like text has a `..` segment."""
    return ".." in text.replace("\\", "/").split("/")


def destructive(annotations: Mapping[str, Any] | None) -> bool:
    """Whether a tool is marked destructive (`destructiveHint`, which a Python tool's `destructive`
    flag sets too)."""
    return bool(annotations) and (annotations or {}).get("destructiveHint") is True


def why_not(context: Mapping[str, Any]) -> str:
    """Why no rule may approve this call ('' when one may): its tool is destructive, or its workflow
    asks before every call."""
    annotations = context.get("annotations")
    if destructive(annotations if isinstance(annotations, Mapping) else None):
        return "the tool is marked destructive"
    if context.get("why") == EXPLICIT_ALWAYS:
        return "the workflow asks before every call of the tool (approval: always)"
    return ""


def applying(rules: Iterable[Rule], context: Mapping[str, Any]) -> Rule | None:
    """The first rule that approves the call a `tool_call` checkpoint asks about (its context)."""
    if why_not(context):
        return None
    args = context.get("args")
    if not isinstance(args, Mapping):
        return None
    tool, origin = str(context.get("tool", "")), str(context.get("origin", ""))
    return next((rule for rule in rules if rule.matches(tool, origin, args)), None)


def rules_in_force(started_options: Mapping[str, Any] | None, given: Iterable[Mapping[str, Any]] | None) -> list[Rule]:
    """The rules a run applies: those its session recorded when it started (a resume, a replay) or,
    for a session starting now, those it is given. A record that cannot be read is left out."""
    records: Any = started_options.get("rules") if started_options is not None else given
    out = []
    for data in records or ():
        try:
            out.append(Rule.from_record(data))
        except (ValueError, AttributeError):
            continue
    return out

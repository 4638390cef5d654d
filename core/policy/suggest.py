"""Proposing approval rules from the decisions people made at tool-call checkpoints.

Every `DecisionMade` on a `tool_call` checkpoint is one observation: the tool, where it comes from, the
call's arguments (as the checkpoint showed them), whether it is marked destructive (from the
session's `ToolsListed`), and what the person decided. Approvals (`approve`, `always`) are the only
evidence a rule is built from: the arguments of a group of approvals are generalised to globs (the
value itself when it never changed, else the common folder and the common extension of a path, else
any value). A rejection, a denial or an edit is never generalised; it is a counter-example, and a
pattern that matches any counter-example is not proposed. Decisions taken by a rule or by `--auto`
are not a person's judgement and are not counted. A tool marked destructive, or one whose workflow
asks before every call, gets no proposal at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.policy.rules import EXPLICIT_ALWAYS, Rule, destructive, glob_matches, rule_id

APPROVALS = frozenset({"approve", "always"})
COUNTER = frozenset({"reject", "deny", "edit"})
MIN_DECISIONS = 5
_EXTENSION = re.compile(r"^\.[A-Za-z0-9_-]{0,7}[A-Za-z][A-Za-z0-9_-]{0,7}$")


@dataclass(frozen=True)
class Observed:
    """One decision a person made on a tool call."""

    session: str
    checkpoint_id: str
    tool: str
    origin: str
    args: dict[str, Any]
    decision: str
    by: str
    destructive: bool = False
    always_asks: bool = False

    @property
    def approved(self) -> bool:
        return self.decision in APPROVALS


@dataclass(frozen=True)
class Suggestion:
    """A proposed rule with its evidence."""

    id: str
    tool: str
    origin: str
    pattern: dict[str, str]
    approvals: int
    sessions: int
    evidence: str
    examples: list[dict[str, Any]] = field(default_factory=list)

    def rule(self, pattern: Mapping[str, str] | None = None, by: str = "", at: str = "") -> Rule:
        """The rule a person accepts (with their own `pattern`, when they edited it)."""
        chosen = dict(self.pattern if pattern is None else pattern)
        same = chosen == self.pattern
        return Rule(
            id=self.id if same else rule_id(self.tool, self.origin, chosen),
            tool=self.tool,
            pattern=chosen,
            origin=self.origin,
            evidence=self.evidence if same else f"edited from {self.describe()}: {self.evidence}",
            accepted_by=by,
            accepted_at=at,
        )

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.pattern.items()) or "any arguments"
        return f"{self.tool} ({inner})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "origin": self.origin,
            "pattern": self.pattern,
            "approvals": self.approvals,
            "sessions": self.sessions,
            "evidence": self.evidence,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class HeldBack:
    """A tool people approved that gets no proposal, and why."""

    tool: str
    origin: str
    approvals: int
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "origin": self.origin, "approvals": self.approvals, "why": self.why}


@dataclass
class Proposals:
    """What `suggest` found."""

    suggestions: list[Suggestion] = field(default_factory=list)
    held_back: list[HeldBack] = field(default_factory=list)
    decisions: int = 0

    def find(self, wanted: str) -> Suggestion | None:
        """The suggestion with this id (or unique id prefix)."""
        hits = [s for s in self.suggestions if s.id.startswith(wanted)] if wanted else []
        exact = [s for s in hits if s.id == wanted]
        return exact[0] if exact else (hits[0] if len(hits) == 1 else None)


# --- reading the record ----------------------------------------------------------------------------


def observed(session_id: str, envelopes: Iterable[ev.Envelope]) -> list[Observed]:
    """The decisions made on tool calls in one session, by people (not by rules or `--auto`)."""
    listed: dict[tuple[str, str], Mapping[str, Any]] = {}
    opened: dict[str, ev.CheckpointOpened] = {}
    out = []
    for envelope in envelopes:
        e = envelope.event
        if isinstance(e, ev.ToolsListed):
            for tool in e.tools:
                if isinstance(tool, dict):
                    listed[(e.step, str(tool.get("name", "")))] = tool
        elif isinstance(e, ev.CheckpointOpened) and e.reason == "tool_call":
            opened[e.checkpoint_id] = e
        elif isinstance(e, ev.DecisionMade) and e.checkpoint_id in opened:
            if e.decision not in APPROVALS | COUNTER or not ev.by_a_person(e.by):
                continue
            cp = opened[e.checkpoint_id]
            ctx: Mapping[str, Any] = cp.context if isinstance(cp.context, dict) else {}
            name = str(ctx.get("tool", ""))
            info = listed.get((cp.step, name)) or ctx
            notes = info.get("annotations") if isinstance(info.get("annotations"), dict) else {}
            args = ctx.get("args")
            out.append(
                Observed(
                    session=session_id,
                    checkpoint_id=e.checkpoint_id,
                    tool=name,
                    origin=str(ctx.get("origin", "")),
                    args=dict(args) if isinstance(args, dict) else {},
                    decision=e.decision,
                    by=e.by,
                    destructive=destructive(notes),
                    always_asks=str(info.get("why") or ctx.get("why") or "") == EXPLICIT_ALWAYS,
                )
            )
    return out


# --- proposing -------------------------------------------------------------------------------------


def suggest(
    observations: Sequence[Observed],
    min_decisions: int = MIN_DECISIONS,
    dismissed: Iterable[str] = (),
    accepted: Sequence[Rule] = (),
) -> Proposals:
    """Rules worth proposing, most-evidenced first; tools left without one are `held_back` with why."""
    gone = set(dismissed)
    groups: dict[tuple[str, str], list[Observed]] = {}
    people = [o for o in observations if ev.by_a_person(o.by)]
    for o in people:
        groups.setdefault((o.tool, o.origin), []).append(o)
    found = Proposals(decisions=len(people))
    for (tool, origin), group in sorted(groups.items()):
        approvals = [o for o in group if o.approved]
        if not approvals:
            continue
        why = _never(group)
        if why:
            found.held_back.append(HeldBack(tool, origin, len(approvals), why))
            continue
        counter = [o for o in group if not o.approved]
        made = _proposals(tool, origin, approvals, counter, min_decisions)
        fresh = [
            s
            for s in made
            if s.id not in gone and not _already_ruled(s, approvals, [r for r in accepted if r.tool == tool])
        ]
        found.suggestions.extend(fresh)
        if not made:
            found.held_back.append(HeldBack(tool, origin, len(approvals), _why_none(approvals, counter, min_decisions)))
    found.suggestions.sort(key=lambda s: (-s.approvals, s.tool, s.id))
    return found


def _never(group: Sequence[Observed]) -> str:
    if any(o.destructive for o in group):
        return "marked destructive: a person approves every call"
    if any(o.always_asks for o in group):
        return "its workflow asks before every call (approval: always)"
    return ""


def _why_none(approvals: Sequence[Observed], counter: Sequence[Observed], minimum: int) -> str:
    if len(approvals) < minimum:
        return f"approved {len(approvals)} time{'s' * (len(approvals) != 1)}; a rule needs {minimum}"
    kinds = sorted({_past(o.decision) for o in counter})
    return f"every pattern that fits {minimum} or more approvals also matches a call that was " + " or ".join(
        kinds or ["refused"]
    )


def _already_ruled(s: Suggestion, approvals: Sequence[Observed], rules: Sequence[Rule]) -> bool:
    """An accepted rule already approves every call this suggestion stands on."""
    if any(r.pattern == s.pattern and r.origin in ("", s.origin) for r in rules):
        return True
    covered = [o for o in approvals if _fits(s.pattern, o.args)]
    return bool(rules) and all(any(r.matches(o.tool, o.origin, o.args) for r in rules) for o in covered)


def _proposals(
    tool: str, origin: str, approvals: Sequence[Observed], counter: Sequence[Observed], minimum: int
) -> list[Suggestion]:
    candidates: dict[str, tuple[dict[str, str], dict[str, str], frozenset[int]]] = {}
    for cluster in _clusters(approvals, minimum):
        pattern, words = _generalised([approvals[i] for i in cluster])
        covered = frozenset(i for i, o in enumerate(approvals) if _fits(pattern, o.args))
        if len(covered) < minimum or any(_fits(pattern, o.args) for o in counter):
            continue
        candidates[rule_id(tool, origin, pattern)] = (pattern, words, covered)
    kept = []
    for key, (pattern, words, covered) in candidates.items():
        wider = [c for k, c in candidates.items() if k != key and covered < c[2]]
        rank = (_specificity(pattern), key)
        twin = [k for k, c in candidates.items() if c[2] == covered and (_specificity(c[0]), k) > rank]
        if not wider and not twin:
            kept.append((key, pattern, words, covered))
    out = []
    for key, pattern, words, covered in kept:
        used = [approvals[i] for i in sorted(covered)]
        sessions = len({o.session for o in used})
        where = " and ".join(f"{k} {w}" for k, w in words.items()) or "any arguments"
        evidence = (
            f"approved {len(used)} of {len(used)} times with {where}, in {sessions} session{'s' * (sessions != 1)}"
            + _elsewhere(counter)
        )
        examples = [dict(o.args) for o in used[:3]]
        out.append(Suggestion(key, tool, origin, pattern, len(used), sessions, evidence, examples))
    return out


def _elsewhere(counter: Sequence[Observed]) -> str:
    if not counter:
        return "; never rejected, denied or edited"
    counts: dict[str, int] = {}
    for o in counter:
        counts[_past(o.decision)] = counts.get(_past(o.decision), 0) + 1
    said = ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
    return f"; other calls of the tool were {said}, and the pattern matches none of them"


def accepted(
    observations: Sequence[Observed], chosen: Suggestion, pattern: Mapping[str, str] | None, by: str, at: str
) -> Rule:
    """The rule a person accepts: as proposed, or with their `pattern` — refused (`ValueError`) when it
    names an argument the tool's calls do not have, or would approve a call that was refused."""
    if pattern is not None:
        known = {name for o in observations if o.tool == chosen.tool for name in o.args}
        unknown = sorted(set(pattern) - known)
        if unknown:
            raise ValueError(f"'{chosen.tool}' takes no argument {', '.join(map(repr, unknown))}")
        refused = conflicts(observations, chosen.tool, chosen.origin, pattern)
        if refused:
            first = refused[0]
            shown = ", ".join(f"{k}={v}" for k, v in first.args.items())
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            raise ValueError(
                f"it would approve a call that was {_past(first.decision)} in session {first.session} "
                f"({shown}); a rule never covers a refused call"
            )
    return chosen.rule(pattern, by=by, at=at)


def conflicts(observations: Iterable[Observed], tool: str, origin: str, pattern: Mapping[str, str]) -> list[Observed]:
    """The rejected, denied or edited calls of a tool that `pattern` would have approved."""
    return [
        o for o in observations if o.tool == tool and o.origin == origin and not o.approved and _fits(pattern, o.args)
    ]


def _past(decision: str) -> str:
    return {"reject": "rejected", "deny": "denied", "edit": "edited"}.get(decision, decision)


def _specificity(pattern: Mapping[str, str]) -> int:
    return sum(100 + len(glob.replace("*", "")) for glob in pattern.values())


def _fits(pattern: Mapping[str, str], args: Mapping[str, Any]) -> bool:
    return all(glob_matches(args.get(name), glob) for name, glob in pattern.items())


# --- generalising ----------------------------------------------------------------------------------


def _clusters(approvals: Sequence[Observed], minimum: int) -> list[frozenset[int]]:
    """Groups of approvals worth generalising: all of them, and those sharing an argument's value, a
    folder (at any depth) or an extension."""
    groups: dict[tuple[str, str, str], set[int]] = {}
    for i, o in enumerate(approvals):
        for name, value in o.args.items():
            if not isinstance(value, str):
                groups.setdefault((name, "=", repr(value)), set()).add(i)
                continue
            groups.setdefault((name, "=", value), set()).add(i)
            if not _pathlike(value):
                continue
            for folder in _folders(value):
                groups.setdefault((name, "/", folder), set()).add(i)
            ext = _extension(value)
            if ext:
                groups.setdefault((name, ".", ext), set()).add(i)
    clusters = {frozenset(range(len(approvals)))}
    clusters.update(frozenset(members) for members in groups.values() if len(members) >= minimum)
    return sorted(clusters, key=lambda c: (-len(c), sorted(c)))


def _generalised(approvals: Sequence[Observed]) -> tuple[dict[str, str], dict[str, str]]:
    """(pattern, words per argument) fitting every one of `approvals`."""
    names = sorted({name for o in approvals for name in o.args})
    pattern: dict[str, str] = {}
    words: dict[str, str] = {}
    for name in names:
        values = [o.args.get(name) for o in approvals]
        found = _glob(values)
        if found is not None:
            pattern[name], words[name] = found
    return pattern, words


def _glob(values: Sequence[Any]) -> tuple[str, str] | None:
    """A glob every value fits and what it means, or None (any value: the argument is left free)."""
    if any(v is None for v in values):
        return None
    if not all(isinstance(v, str) for v in values):
        if len({repr(v) for v in values}) == 1:
            return _escape(str(values[0])), f"= {values[0]}"
        return None
    texts = [str(v) for v in values]
    if len(set(texts)) == 1:
        return _escape(texts[0]), f"= {texts[0]}"
    if not all(_pathlike(t) for t in texts):
        return None
    prefix = os.path.commonprefix(texts)
    prefix = prefix[: prefix.rfind("/") + 1] if "/" in prefix else ""
    if prefix in ("", "/") or prefix.startswith("../") or "/../" in prefix:
        prefix = ""
    exts = {_extension(t) for t in texts}
    ext = exts.pop() if len(exts) == 1 else ""
    if prefix and ext:
        return f"{_escape(prefix)}*{_escape(ext)}", f"under {prefix} ending {ext}"
    if prefix:
        return f"{_escape(prefix)}*", f"under {prefix}"
    if ext:
        return f"*{_escape(ext)}", f"ending {ext}"
    return None


def _pathlike(value: str) -> bool:
    return 0 < len(value) <= 400 and "\n" not in value


def _folders(value: str) -> list[str]:
    """`docs/api/a.md` → `docs/`, `docs/api/`."""
    out = []
    at = value.find("/", 1)
    while at != -1:
        out.append(value[: at + 1])
        at = value.find("/", at + 1)
    return [f for f in out if f != "/" and ".." not in f.split("/")]


def _extension(value: str) -> str:
    name = value.rsplit("/", 1)[-1]
    if "." not in name.strip("."):
        return ""
    ext = "." + name.rsplit(".", 1)[-1]
    return ext if _EXTENSION.match(ext) else ""


def _escape(text: str) -> str:
    """`text` as a glob that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", text)

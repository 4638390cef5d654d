"""Approval rules from a person's decisions: proposed from stores built by real sessions on the offline model
(a scripted person approving, rejecting, denying and editing through a decisions file), accepted into the
config file, and applied by the runner — recorded as the rule's decision, never for a destructive tool or
one whose workflow asks every time, fixed at the session's start so a resume keeps them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from baton.core import events as ev
from baton.core.config import (
    ConfigInvalid,
    config_path,
    load_config,
    remove_rule,
    save_dismissed,
    save_rule,
    save_ui_setting,
)
from baton.core.policy.rules import Rule, applying, glob_matches, rules_in_force
from baton.core.policy.suggest import Observed, conflicts, observed, suggest
from baton.core.runner import RunOptions
from baton.core.spec.agent_tools import FunctionTool
from baton.sessions.store import Store
from tests.helpers import Session, workflow

DOCS = "tests.core.test_policy"


def read_file(path: str) -> str:
    """Read a file (a side effect as far as the workflow says: it asks first)."""
    return f"text of {path}"


def wipe(path: str) -> str:
    """Delete a file."""
    return f"wiped {path}"


def flow(calls: list[tuple[str, dict[str, Any]]], approval: str = "default") -> str:
    """An agent whose offline model makes `calls`, one a turn (call ids c1, c2, …), then answers."""
    replies: list[dict[str, Any]] = [
        {"turn": turn, "tool_calls": [{"name": tool, "args": args, "id": f"c{turn}"}]}
        for turn, (tool, args) in enumerate(calls, 1)
    ]
    replies.append({"turn": len(calls) + 1, "text": "done"})
    model = {"model": "mock/fast", "mock": {"latency_s": 0, "tokens_per_s": 0, "replies": replies}}
    return f"""
name: reader
state:
  report: {{type: str}}
models:
  m: {json.dumps(model)}
steps:
  - id: research
    kind: agent
    model: m
    writes: [report]
    prompt: "Read the docs."
    max_turns: {len(calls) + 2}
    tools:
      - {{call: "{DOCS}:read_file", approval: {approval}}}
      - {{call: "{DOCS}:wipe", destructive: true}}
"""


def cp(turn: int) -> str:
    return f"research:tool_call:1:t{turn}:c{turn}"


async def session(
    store: Store, calls: list[tuple[str, dict[str, Any]]], answers: list[Any], approval: str = "default"
) -> Session:
    """Run a session to its end (or pause) with a scripted person answering the calls in turn."""
    decisions = {cp(turn): answer for turn, answer in enumerate(answers, 1) if answer is not None}
    s = await Session.start(store, workflow(flow(calls, approval)), options=RunOptions(decisions=decisions))
    await s.finish()
    return s


def read(path: str) -> tuple[str, dict[str, Any]]:
    return ("read_file", {"path": path})


REJECT = {"decision": "reject", "feedback": "not that one"}


async def everything(store: Store) -> list[Observed]:
    out: list[Observed] = []
    for row in await store.sessions():
        out.extend(observed(row.id, await store.events(row.id)))
    return out


async def made(s: Session) -> list[ev.DecisionMade]:
    return [e.event for e in await s.store.events(s.id) if isinstance(e.event, ev.DecisionMade)]


# --- proposals from real sessions --------------------------------------------------------------------


async def test_approvals_under_a_folder_become_a_rule_with_their_evidence(store: Store) -> None:
    await session(store, [read("docs/a.md"), read("docs/b.md"), read("docs/c.md")], ["approve"] * 3)
    await session(store, [read("docs/api/d.md"), read("docs/e.md")], ["approve", "always"])
    seen = await everything(store)
    assert sorted(o.decision for o in seen) == ["always", "approve", "approve", "approve", "approve"]
    found = suggest(seen)
    assert [(s.tool, s.pattern, s.approvals, s.sessions) for s in found.suggestions] == [
        ("read_file", {"path": "docs/*.md"}, 5, 2)
    ]
    evidence = found.suggestions[0].evidence
    assert evidence.startswith("approved 5 of 5 times with path under docs/ ending .md, in 2 sessions")
    assert "never rejected, denied or edited" in evidence
    assert found.suggestions[0].origin == f"{DOCS}:read_file"
    assert suggest(seen, min_decisions=6).suggestions == []
    assert [h.why for h in suggest(seen, min_decisions=6).held_back] == ["approved 5 times; a rule needs 6"]


async def test_a_rejection_is_never_generalised_only_a_narrower_pattern_is_proposed(store: Store) -> None:
    api = [read(f"docs/api/{n}.md") for n in "abcde"]
    await session(store, [*api, read("docs/guide.md")], ["approve"] * 6)
    await session(store, [read("docs/secret.md")], [REJECT])
    found = suggest(await everything(store))
    assert [s.pattern for s in found.suggestions] == [{"path": "docs/api/*.md"}]
    assert "other calls of the tool were 1 rejected" in found.suggestions[0].evidence
    assert not any(glob_matches("docs/secret.md", g) for s in found.suggestions for g in s.pattern.values())


async def test_a_denial_or_an_edit_under_every_pattern_leaves_nothing_to_propose(store: Store) -> None:
    await session(store, [read(f"docs/{n}.md") for n in "abcde"], ["approve"] * 5)
    denied = await session(store, [read("docs/f.md")], [{"decision": "deny"}])
    assert (await denied.view()).status != "completed"  # the step stopped; its checkpoint asks a person
    assert suggest(await everything(store)).suggestions == []
    held = suggest(await everything(store)).held_back
    assert [h.why for h in held] == ["every pattern that fits 5 or more approvals also matches a call that was denied"]


async def test_an_edited_call_counts_against_a_pattern(store: Store) -> None:
    await session(store, [read(f"notes/{n}.txt") for n in "abcde"], ["approve"] * 5)
    edit = {"decision": "edit", "edited": {"path": "notes/safe.txt"}}
    await session(store, [read("notes/private.txt")], [edit])
    seen = await everything(store)
    assert [o.decision for o in seen if not o.approved] == ["edit"]
    assert suggest(seen).suggestions == []
    assert [o.args for o in conflicts(seen, "read_file", f"{DOCS}:read_file", {"path": "notes/*"})] == [
        {"path": "notes/private.txt"}
    ]


async def test_a_destructive_tool_is_never_proposed(store: Store) -> None:
    calls = [("wipe", {"path": f"tmp/{n}.log"}) for n in "abcdef"]
    await session(store, calls, ["approve"] * 6)
    found = suggest(await everything(store))
    assert found.suggestions == []
    assert [(h.tool, h.approvals, h.why) for h in found.held_back] == [
        ("wipe", 6, "marked destructive: a person approves every call")
    ]


async def test_a_tool_whose_workflow_asks_every_time_is_never_proposed(store: Store) -> None:
    await session(store, [read(f"docs/{n}.md") for n in "abcde"], ["approve"] * 5, approval="always")
    found = suggest(await everything(store))
    assert found.suggestions == []
    assert [h.why for h in found.held_back] == ["its workflow asks before every call (approval: always)"]


# --- the runner applies accepted rules -----------------------------------------------------------------


def docs_rule(pattern: dict[str, str] | None = None, tool: str = "read_file") -> Rule:
    chosen = {"path": "docs/*"} if pattern is None else pattern
    return Rule(id="r1docs", tool=tool, pattern=chosen, origin=f"{DOCS}:{tool}", evidence="approved 5 of 5")


async def test_a_matching_call_is_approved_by_the_rule_and_recorded_as_its_decision(store: Store) -> None:
    save_rule(docs_rule())
    s = await session(store, [read("docs/a.md"), read("src/b.py")], [None, "approve"])
    assert (await s.view()).status == "completed"
    decisions = await made(s)
    assert [(d.checkpoint_id, d.decision, d.by) for d in decisions] == [
        (cp(1), "approve", "rule:r1docs"),
        (cp(2), "approve", "decisions:file"),
    ]
    assert decisions[0].where == "approval rule (path=docs/*)"
    started = next(e.event for e in await store.events(s.id) if isinstance(e.event, ev.SessionStarted))
    assert started.options["rules"] == [docs_rule().record()]
    view = await s.view()
    calls = {c.call_id: c for loop in view.tools.loops.values() for c in loop.calls.values()}
    assert (calls["c1"].decided_by, calls["c1"].status) == ("rule:r1docs", "done")
    assert "approve read_file by rule:r1docs from approval rule (path=docs/*)" in view.steps["research"].timeline
    assert [o.decision for o in await everything(store)] == ["approve"]  # a rule's decision is no evidence


async def test_no_rule_approves_a_destructive_tool_or_one_the_workflow_always_asks_for(store: Store) -> None:
    save_rule(docs_rule({}, tool="wipe"))
    s = await session(store, [("wipe", {"path": "docs/a.md"})], [REJECT])
    assert [d.by for d in await made(s)] == ["decisions:file"]
    remove_rule("r1docs")
    save_rule(docs_rule())
    s = await session(store, [read("docs/a.md")], [REJECT], approval="always")
    assert [(d.decision, d.by) for d in await made(s)] == [("reject", "decisions:file")]


async def test_the_rules_in_force_are_fixed_when_the_session_starts(store: Store) -> None:
    save_rule(docs_rule())
    s = await session(store, [read("src/x.py"), read("docs/a.md")], [])
    assert (await s.view()).status == "paused"  # nobody answers the call outside the rule
    assert remove_rule("r1docs") and load_config().rules == []
    await s.resume(RunOptions(decisions={cp(1): "approve"}))
    assert await s.finish() == "completed"
    assert [(d.checkpoint_id, d.by) for d in await made(s)] == [(cp(1), "decisions:file"), (cp(2), "rule:r1docs")]
    fresh = await session(store, [read("docs/a.md")], ["approve"])
    assert [d.by for d in await made(fresh)] == ["decisions:file"]


def test_a_rule_applies_only_to_its_own_tool_and_never_to_a_path_climbing_out_of_its_folder() -> None:
    rule = docs_rule()
    opened = {"tool": "read_file", "origin": f"{DOCS}:read_file", "args": {"path": "docs/a.md"}, "why": ""}
    assert applying([rule], opened) is rule
    assert applying([rule], {**opened, "annotations": {"destructiveHint": True}}) is None
    assert applying([rule], {**opened, "why": "its approval is 'always'"}) is None
    assert applying([rule], {**opened, "origin": "another:read_file"}) is None
    assert applying([rule], {**opened, "args": {"path": "docs/../etc/passwd"}}) is None


# --- pure parts ---------------------------------------------------------------------------------------


def obs(path: Any, decision: str = "approve", tool: str = "t", by: str = "ann", session: str = "s") -> Observed:
    return Observed(session, f"cp{path}", tool, "o", {"path": path, "mode": "r"}, decision, by)


def test_generalising_keeps_a_constant_value_and_finds_the_common_folder_and_extension() -> None:
    found = suggest([obs(f"/srv/app/logs/{n}.log") for n in range(5)])
    assert [s.pattern for s in found.suggestions] == [{"mode": "r", "path": "/srv/app/logs/*.log"}]
    mixed = suggest([obs(p) for p in ["a/x.md", "b/y.txt", "c/z", "d/w.md", "e/v.py"]])
    assert [s.pattern for s in mixed.suggestions] == [{"mode": "r"}]
    numbers = suggest([obs(7) for _ in range(5)])
    assert [s.pattern for s in numbers.suggestions] == [{"mode": "r", "path": "7"}]


def test_glob_characters_in_a_value_are_matched_literally() -> None:
    found = suggest([obs("data/[draft]*.csv") for _ in range(5)])
    (glob,) = [s.pattern["path"] for s in found.suggestions]
    assert glob_matches("data/[draft]*.csv", glob) and not glob_matches("data/d.csv", glob)


def test_decisions_by_rules_or_auto_are_not_counted_and_dismissed_or_accepted_ones_are_not_proposed() -> None:
    assert suggest([obs(f"d/{n}.md", by="rule:abc") for n in range(9)]).suggestions == []
    approvals = [obs(f"d/{n}.md") for n in range(5)]
    (only,) = suggest(approvals).suggestions
    assert suggest(approvals, dismissed=[only.id]).suggestions == []
    assert suggest(approvals, accepted=[only.rule()]).suggestions == []
    wider = Rule("w", "t", {"path": "d/*"}, "o")
    assert suggest(approvals, accepted=[wider]).suggestions == []
    edited = only.rule({"path": "d/0.md"})
    assert edited.id != only.id and edited.evidence.startswith("edited from t (mode=r, path=d/*.md)")


def test_rules_in_force_come_from_the_start_record_once_the_session_has_started() -> None:
    given = [Rule("a", "t", {"p": "x*"}).record()]
    assert [r.id for r in rules_in_force(None, given)] == ["a"]
    assert rules_in_force({"step_mode": False}, given) == []
    assert [r.id for r in rules_in_force({"rules": [*given, {"bad": 1}]}, None)] == ["a"]


def test_rules_and_dismissals_are_written_into_the_config_keeping_what_was_there(tmp_path: Path) -> None:
    path = config_path()
    save_ui_setting("theme", "nord")
    path.write_text(path.read_text() + '\n[models]\nfast = "mock/fast"\n')
    save_rule(Rule("r1", "read_file", {"path": 'docs/"q"*'}, "m:read_file", "approved 5 of 5", "ann", "now"))
    save_rule(Rule("r2", "search", {}))
    save_dismissed(["x1", "x2"])
    config = load_config()
    assert config.ui == {"theme": "nord"} and set(config.models) == {"fast"}
    assert [(r.id, r.pattern, r.origin) for r in config.rules] == [
        ("r1", {"path": 'docs/"q"*'}, "m:read_file"),
        ("r2", {}, ""),
    ]
    assert config.dismissed == ["x1", "x2"]
    assert remove_rule("r1") and not remove_rule("r1")
    after = load_config()
    assert [r.id for r in after.rules] == ["r2"] and after.dismissed == ["x1", "x2"] and after.ui == {"theme": "nord"}


def test_a_broken_rule_in_the_config_file_is_reported_at_its_line() -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[ui]\ntheme = "nord"\n\n[rules.abc]\ntool = "read_file"\npattern = {path = 3}\n')
    with pytest.raises(ConfigInvalid, match=r"config.toml:4:1: \[rules.abc\] a rule's 'pattern' maps argument"):
        load_config()
    path.write_text("[rules.abc]\npattern = {}\n")
    with pytest.raises(ConfigInvalid, match=r"\[rules.abc\] a rule needs the 'tool' it approves"):
        load_config()


def test_a_python_tool_marked_destructive_must_have_side_effects() -> None:
    with pytest.raises(ValidationError, match="a tool marked 'destructive' has side effects"):
        FunctionTool(call="m:f", destructive=True, side_effects=False)
    assert FunctionTool(call="m:f", destructive=True).side_effects

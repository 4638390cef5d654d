"""A session's result: declared outputs, the default (what the last completed step wrote), and why there is
none yet — folded from real sessions (real store, real runner, the offline model through litellm)."""

from __future__ import annotations

import pytest

from baton.core.result import result_missing, result_text, session_result, stored_spec
from baton.core.runner import RunOptions
from baton.core.spec.problems import WorkflowInvalid
from baton.sessions.store import Store
from tests.helpers import Session, run, workflow

FLOW = """
name: two-outputs
state:
  request: {type: str}
  draft: {type: str}
  final: {type: str}
  notes: {type: "list[str]", reducer: append}
inputs:
  request: {default: "A two-line reply."}
models:
  fast: {model: mock/fast, mock: {min_tokens: 5, max_tokens: 8}}
%s
steps:
  - {id: draft, kind: agent, model: fast, reads: [request], writes: [draft], prompt: "{request}"}
  - id: more
    kind: parallel
    branches:
      - {id: a, kind: agent, model: fast, reads: [draft], writes: [notes], prompt: "a {draft}"}
      - {id: b, kind: agent, model: fast, reads: [draft], writes: [notes], prompt: "b {draft}"}
  - {id: polish, kind: agent, model: fast, reads: [draft], writes: [final], prompt: "Polish {draft}"}
  - {id: sign, kind: gate, reads: [final], message: "Send it?"}
"""


async def test_declared_outputs_in_their_order(store: Store) -> None:
    status, view = await run(store, workflow(FLOW % "outputs: [final, notes]"), options=RunOptions(auto="approve"))
    assert status == "completed"
    result = session_result(view, stored_spec(view))
    assert list(result) == ["final", "notes"]
    assert result["final"] == view.state["final"] and len(result["notes"]) == 2
    assert result_missing(view, result) is None
    text = result_text(result)
    assert text.startswith("# final\n\n" + view.state["final"].rstrip("\n")) and "\n# notes\n\n[" in text


async def test_default_is_what_the_last_step_that_wrote_wrote(store: Store) -> None:
    status, view = await run(store, workflow(FLOW % ""), options=RunOptions(auto="approve"))
    assert status == "completed"
    # The gate wrote nothing: the result is the polish step's `final`, whole, as one value.
    assert session_result(view, stored_spec(view)) == {"final": view.state["final"]}
    assert result_text({"final": "one line"}) == "one line\n"


async def test_an_unfinished_session_has_no_result_and_says_what_to_do(store: Store) -> None:
    session = await Session.start(store, workflow(FLOW % "outputs: [final]"))
    await session.checkpoint("sign")
    view = await session.view()
    result = session_result(view, stored_spec(view))
    assert result == {"final": view.state["final"]}  # produced, but not final while the gate waits
    assert result_missing(view, result) == (
        f"session {view.session_id} is waiting for a decision at sign and has no result yet: "
        f"`baton attach {view.session_id}` answers it"
    )
    cp = await session.checkpoint("sign")
    assert (await session.decide(cp, "reject", feedback="not this one"))[0] == "done"
    assert await session.finish() == "failed"
    view = await session.view()
    assert result_missing(view, session_result(view, stored_spec(view))).startswith(  # type: ignore[union-attr]
        f"session {view.session_id} failed, so it has no result"
    )


def test_outputs_are_checked_at_their_line_and_column() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        workflow(FLOW % "outputs: [final, drafts, final]")
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        "<test>:12:18: output 'drafts' is not declared in state (did you mean 'draft'?)",
        "<test>:12:26: output 'final' is listed twice",
    ]
    with pytest.raises(WorkflowInvalid) as empty:
        workflow(FLOW % "outputs: []")
    assert "outputs lists no keys" in str(empty.value)
    unwritten = workflow(FLOW % "outputs: request")
    assert [str(w) for w in unwritten.warnings] == [
        "<test>:12:10: warning: output 'request' is written by no step: the result would be its starting value"
    ]

"""Replaying cases saved from real sessions (the real runner, the offline model, the real store): a
recorded session passes at $0 with no model call and no tool run; a changed prompt diverges at its step
with the request diff; `live` makes the missing call (counted by a fake provider) and records it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.runner import RunOptions
from baton.core.secrets import Redactor
from baton.core.spec.load import Workflow, load_text
from baton.sessions.cases import Case, case_from_session, read_case, replay, write_case
from baton.sessions.cases.report import case_block, summary
from baton.sessions.store import Store
from tests.fakes.harness import canary, fake, gateway
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import Session, workflow

__all__ = ["canary", "fake", "gateway"]

TOPIC = "complex: solid state batteries"
DECISIONS = {
    "write": [{"decision": "reject", "feedback": "Add a section on costs."}, "approve"],
    "publish": "approve",
}


async def record(store: Store, wf: Workflow, inputs: dict[str, Any], decisions: dict[str, Any]) -> tuple[Any, list]:
    session = await Session.start(
        store, wf, inputs, RunOptions(decisions=decisions, decisions_file="d.json"), llm=LiteLLMGateway()
    )
    assert await session.finish() == "completed"
    return await session.view(), await store.events(session.id)


@pytest.fixture
async def demo_case(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Case:
    """The demo, run with a rejection then an approval, saved as a case file and read back."""
    monkeypatch.chdir(tmp_path)
    view, events = await record(store, workflow("demo", instant=True), {"topic": TOPIC}, DECISIONS)
    target = tmp_path / "baton-tests" / "demo.jsonl"
    write_case(case_from_session(view, events, "demo", target), target)
    return read_case(target)


def edited_demo(old: str, new: str) -> Workflow:
    text = workflow("demo", instant=True).text
    assert old in text
    return load_text(text.replace(old, new), workflow("demo").path)


async def test_a_recorded_session_passes_at_zero_cost_with_no_model_call_and_no_tool_run(demo_case: Case) -> None:
    reports = Path(os.environ["BATON_REPORT_DIR"])
    saved = sorted(reports.iterdir())
    assert saved, "the recorded run saved its report"
    for path in saved:
        path.unlink()
    counting = CountingLLM()
    outcome = await replay(demo_case, live=True, llm=counting, workflow=workflow("demo", instant=True))
    assert outcome.verdict == "pass", case_block(outcome)
    assert counting.calls == 0 and outcome.model_calls == 0
    assert outcome.served == len(demo_case.answers) == 9
    assert list(reports.iterdir()) == [], "the side-effecting tool ran again"
    assert len(demo_case.decisions) == 3 and {d.decision for d in demo_case.decisions.values()} == {"reject", "approve"}
    assert demo_case.expect.routes == [{"step": "triage", "route": "complex", "to": "research", "by": "router"}]
    assert demo_case.expect.steps["quick_answer"] == "skipped"
    assert [c["tool"] for c in demo_case.expect.tools["publish"]] == ["save_report"]
    assert "PASS     demo" in case_block(outcome) and summary([outcome]) == "1 case: 1 passed · 0 model calls"


async def test_an_edited_prompt_diverges_at_its_step_with_the_request_diff(demo_case: Case) -> None:
    edited = edited_demo("Write a one-page brief on {topic}", "Write a two-page brief on {topic}")
    outcome = await replay(demo_case, workflow=edited)
    assert (outcome.verdict, outcome.step) == ("diverged", "write"), case_block(outcome)
    assert f"-Write a one-page brief on {TOPIC}" in outcome.diff
    assert f"+Write a two-page brief on {TOPIC}" in outcome.diff
    assert outcome.model_calls == 0 and outcome.served == 5
    assert outcome.workflow_changed
    block = case_block(outcome)
    assert block.startswith("DIVERGED demo at write") and "a model request the case has no answer for" in block


async def test_a_divergence_inside_a_parallel_branch_stops_the_replay_at_once(demo_case: Case) -> None:
    edited = edited_demo("Summarise recent news about {topic}.", "Summarise this week's news about {topic}.")
    outcome = await replay(demo_case, workflow=edited)
    assert (outcome.verdict, outcome.step) == ("diverged", "research/news")
    assert "+Summarise this week's news about" in outcome.diff and outcome.seconds < 2.0


async def test_tool_steps_and_map_items_replay_from_the_case(store: Store, tmp_path: Path) -> None:
    wf = workflow("map", instant=True)
    view, events = await record(store, wf, {}, {})
    target = tmp_path / "baton-tests" / "map.jsonl"
    write_case(case_from_session(view, events, "map", target), target)
    case = read_case(target)
    assert [t.step for t in case.tools.values()] == ["outline"]
    assert case.expect.tools["outline"][0]["tool"] == "baton_tools:outline"
    outcome = await replay(case, workflow=wf)
    assert outcome.passed and outcome.served == len(case.answers) == 7, case_block(outcome)
    case.tools["outline"] = case.tools.pop(next(iter(case.tools)))
    diverged = await replay(case, workflow=wf)
    assert (diverged.verdict, diverged.step) == ("diverged", "outline")


async def test_live_makes_the_missing_call_and_the_case_file_gains_its_answer(demo_case: Case) -> None:
    edited = edited_demo("Summarise recent news about {topic}.", "Summarise this week's news about {topic}.")
    before = len(Path(demo_case.path).read_text(encoding="utf-8").splitlines())
    counting = CountingLLM()
    outcome = await replay(demo_case, live=True, llm=counting, workflow=edited)
    assert counting.calls >= 1 and outcome.model_calls == counting.calls == outcome.recorded
    assert outcome.verdict == "fail", "the new news summary changes the notes and what was written"
    after = read_case(Path(demo_case.path))
    assert len(Path(demo_case.path).read_text(encoding="utf-8").splitlines()) == before + counting.calls
    again = await replay(after, workflow=edited)
    assert again.verdict == "fail" and again.model_calls == 0, "recorded now: no divergence, the same findings"
    assert again.findings == outcome.findings


async def test_a_changed_result_fails_with_each_difference(demo_case: Case) -> None:
    demo_case.expect.state["route"] = "simple"
    demo_case.expect.steps["quick_answer"] = "completed"
    outcome = await replay(demo_case, workflow=workflow("demo", instant=True))
    assert outcome.verdict == "fail"
    assert outcome.findings == [
        "step quick_answer: expected completed, got skipped",
        "state route: expected 'simple', got 'complex'",
    ]
    demo_case.expect.state["route"] = "complex"
    demo_case.expect.steps["quick_answer"] = "skipped"
    demo_case.expect.rules = {"draft": {"contains": "solid state"}, "published": {"schema": {"type": "string"}}}
    demo_case.expect.state["draft"] = "anything: the rule decides"
    assert (await replay(demo_case, workflow=workflow("demo", instant=True))).verdict == "pass"


async def test_a_judge_rule_is_a_model_call_made_only_by_a_live_replay(demo_case: Case) -> None:
    demo_case.expect.rules = {"draft": {"judge": "It has a section on costs"}}
    demo_case.expect.state["draft"] = "not compared: the judge decides"
    wf = workflow("demo", instant=True)
    quiet = await replay(demo_case, workflow=wf)
    assert quiet.passed and quiet.notes == ["judge rules not checked without --live: draft"]
    assert "note: judge rules not checked without --live: draft" in case_block(quiet)
    no = CountingLLM('{"pass": false, "feedback": "there is no section on costs"}')
    failed = await replay(demo_case, live=True, llm=no, workflow=wf)
    assert failed.findings == ["state draft: the judge says it misses the bar: there is no section on costs"]
    assert no.calls == failed.model_calls == 1
    yes = CountingLLM('{"pass": true, "feedback": ""}')
    assert (await replay(demo_case, live=True, llm=yes, workflow=wf)).passed and yes.calls == 1


async def test_a_checkpoint_with_no_recorded_decision_diverges_there(demo_case: Case) -> None:
    del demo_case.decisions["write:review:2"]
    outcome = await replay(demo_case, workflow=workflow("demo", instant=True))
    assert (outcome.verdict, outcome.step) == ("diverged", "write")
    assert "no decision for: write:review:2" in outcome.why


async def test_a_tool_call_with_no_recorded_result_diverges_and_is_not_run(demo_case: Case) -> None:
    reports = Path(os.environ["BATON_REPORT_DIR"])
    for path in reports.iterdir():
        path.unlink()
    demo_case.tools = {k: t for k, t in demo_case.tools.items() if t.tool != "save_report"}
    outcome = await replay(demo_case, workflow=workflow("demo", instant=True))
    assert (outcome.verdict, outcome.step) == ("diverged", "publish")
    assert "a call of tool save_report the case has no result for" in outcome.why
    assert list(reports.iterdir()) == [], "the side-effecting tool ran"


async def test_secrets_and_credential_shapes_are_redacted(store: Store, tmp_path: Path) -> None:
    secret = "zephyr-secret-4411"
    view, events = await record(store, workflow("demo", instant=True), {"topic": f"simple {secret}"}, {})
    redactor = Redactor({"SERVICE_TOKEN": secret})
    target = tmp_path / "baton-tests" / "s.jsonl"
    write_case(case_from_session(view, events, "s", target, redactor), target)
    text = target.read_text(encoding="utf-8")
    assert secret not in text, [line[:300] for line in text.splitlines() if secret in line]
    assert "[redacted]" in text


FLOW = """\
name: counted
state:
  topic: {{type: str}}
  one: {{type: str}}
  two: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: FAKE_PROVIDER_CRED_VALUE, max_tokens: 200}}
steps:
  - id: one
    kind: agent
    model: primary
    reads: [topic]
    writes: [one]
    prompt: "{first} on {{topic}}"
    review: always
  - id: two
    kind: agent
    model: primary
    reads: [topic, one]
    writes: [two]
    prompt: "Second on {{topic}}: {{one}}"
"""


async def test_the_provider_is_not_called_by_a_replay_and_once_by_a_live_divergence(
    store: Store, fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str, tmp_path: Path
) -> None:
    wf = workflow(FLOW.format(base=fake.base_url, first="First"))
    decisions = {"one": [{"decision": "reject", "feedback": "more"}, "approve"]}
    session = await Session.start(store, wf, {}, RunOptions(decisions=decisions), llm=gateway)
    assert await session.finish() == "completed"
    assert fake.count("fake-primary") == 3
    target = tmp_path / "baton-tests" / "counted.jsonl"
    write_case(case_from_session(await session.view(), await store.events(session.id), "counted", target), target)
    case = read_case(target)
    outcome = await replay(case, live=True, llm=gateway, workflow=wf)
    assert outcome.verdict == "pass" and fake.count("fake-primary") == 3, case_block(outcome)
    changed = workflow(FLOW.format(base=fake.base_url, first="Second"))
    diverged = await replay(case, workflow=changed)
    assert (diverged.verdict, diverged.step) == ("diverged", "one") and fake.count("fake-primary") == 3
    live = await replay(case, live=True, llm=gateway, workflow=changed)
    assert live.model_calls == fake.count("fake-primary") - 3 >= 1


class CountingLLM:
    """A model client that must not be needed: it counts the calls it gets and answers with fixed text."""

    def __init__(self, text: str = "a live answer") -> None:
        self.calls = 0
        self.text = text

    async def stream(self, request: Any, on_text: Any, **_: Any) -> Any:
        from baton.core.llm.types import LLMResult

        self.calls += 1
        return LLMResult(self.text, 5, 3, 0.0, 0.0, None, request.model)

    def forecast(self, request: Any) -> tuple[int, tuple[float, float] | None]:
        return 0, (0.0, 0.0)

    def price_known(self, model: str) -> bool:
        return True

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        return 0.0

    def context_window(self, model: str) -> int | None:
        return None

    async def warm_up(self) -> None:
        return None

"""Case files: written and read back unchanged; a broken one is named by file, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.sessions.cases.casefile import (
    Answer,
    Case,
    CaseInvalid,
    Decision,
    Expect,
    ToolResult,
    is_case_file,
    read_case,
    write_case,
)
from baton.sessions.cases.trajectory import check_value, differences


def sample() -> Case:
    case = Case(name="brief", workflow="../flows/demo.yaml", workflow_hash="abc", inputs={"topic": "x"})
    case.models = {"fast": "mock/fast"}
    request = {"model": "mock/fast", "messages": []}
    case.answers["h1"] = Answer("h1", "write", 0, "mock/fast", request, "text", [], 3, 4, 0.1)
    case.tools["publish:r1:t1:c1"] = ToolResult("publish:r1:t1:c1", "publish", "save", {"path": "a"}, True, "ok")
    case.tools["fetch:abc"] = ToolResult("fetch:abc", "fetch", "get", {}, False, error="boom")
    case.decisions["write:review:1"] = Decision("write:review:1", "write", "reject", feedback="shorter")
    case.expect = Expect("completed", [{"step": "t", "route": "r", "to": "x", "by": "router"}], {"write": "completed"})
    case.expect.rules = {"draft": {"contains": "brief"}}
    return case


def test_a_case_reads_back_as_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "baton-tests" / "brief.jsonl"
    write_case(sample(), path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["baton_case"] == 1
    assert [json.loads(line).get("record") for line in lines[1:]] == ["answer", "tool", "tool", "decision", "expect"]
    back = read_case(path)
    assert back.header() == sample().header()
    assert back.answers == sample().answers and back.tools == sample().tools
    assert back.decisions == sample().decisions and back.expect == sample().expect
    assert back.workflow_path() == path.parent / "../flows/demo.yaml"
    assert is_case_file(path)


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("", "1:1", "empty file"),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "answer",\n', "2:21", "not JSON"),
        ('{"baton_case": 1, "workflow": "w"}\n[1, 2]\n', "2:1", "each line is a JSON object"),
        ('{"name": "x"}\n', "1:1", "not a case file"),
        ('{"baton_case": 7, "workflow": "w"}\n', "1:1", "format 7"),
        ('{"baton_case": 1}\n', "1:1", '"workflow"'),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "guess"}\n', "2:1", "unknown record 'guess'"),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "answer", "text": "t"}\n', "2:1", "needs 'hash'"),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "answer", "hash": "h", "turn": "x"}\n', "2:1", "invalid"),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "expect", "rules": {"k": {"like": 1}}}\n', "2:1", "rule"),
        ('{"baton_case": 1, "workflow": "w"}\n{"record": "expect"}\n{"record": "expect"}\n', "3:1", "second"),
        ('{"baton_case": 1, "workflow": "w"}\n', "1:1", "no `expect` record"),
    ],
)
def test_a_broken_case_is_named_by_line_and_column(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CaseInvalid) as caught:
        read_case(path)
    assert str(caught.value).startswith(f"{path}:{where}: "), str(caught.value)
    assert words in str(caught.value)


def test_only_a_file_that_starts_with_a_header_is_a_case(tmp_path: Path) -> None:
    other = tmp_path / "events.jsonl"
    other.write_text('{"kind": "StepStarted"}\n', encoding="utf-8")
    assert not is_case_file(other)
    assert not is_case_file(tmp_path / "missing.jsonl")


def test_rules_loosen_the_state_comparison() -> None:
    assert check_value("draft", "a", "a", None) == ""
    assert "expected 'a', got 'b'" in check_value("draft", "a", "b", None)
    assert check_value("draft", "a", "a brief", {"contains": "brief"}) == ""
    assert "does not contain" in check_value("draft", "a", "a note", {"contains": "brief"})
    schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "number"}}}
    assert check_value("grade", None, {"score": 3}, {"schema": schema}) == ""
    assert "does not match its schema" in check_value("grade", None, {"score": "x"}, {"schema": schema})
    assert check_value("n", 1, 2, {"equals": 2}) == ""
    long_text = check_value("draft", "one\ntwo\nthree", "one\n2\nthree", None)
    assert "-two" in long_text and "+2" in long_text


def test_every_difference_is_one_finding() -> None:
    want = Expect("completed", [{"step": "t", "to": "a"}], {"t": "completed", "a": "completed"}, {"a": [{"tool": "x"}]})
    want.state = {"k": 1}
    got = Expect("failed", [{"step": "t", "to": "b"}], {"t": "completed", "b": "completed"}, {"a": []}, {"k": 2})
    findings = differences(want, got)
    assert findings[0] == "session: expected completed, got failed"
    assert "routes: expected t→a, got t→b" in findings
    assert "step a: expected completed, got not run" in findings
    assert "step b: expected not to run, got completed" in findings
    assert any(f.startswith("tool calls of a: expected x(") for f in findings)
    assert "state k: expected 1, got 2" in findings
    assert differences(want, want) == []


def test_only_a_finished_session_is_saved(tmp_path: Path) -> None:
    from baton.core.view import SessionView
    from baton.sessions.cases import NotSaveable, case_from_session

    for status in ("running", "paused", "waiting"):
        with pytest.raises(NotSaveable, match=f"session s1 is {status}: save a session that has finished"):
            case_from_session(SessionView("s1", status=status), [], "c", tmp_path / "c.jsonl")

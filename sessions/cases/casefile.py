"""A case file: one recorded session kept as a regression test, as JSON lines.

JSON lines because a case is read by people (a review of what changed in a diff) as much as by baton:
one record a line keeps a re-recorded answer a one-line change. The first line is the header
(`{"baton_case": 1, ...}`); every other line is a record named by its `record` field — `answer` (a model
answer keyed by the hash of its request), `tool` (a tool result keyed by its call), `decision` (a
person's decision keyed by its checkpoint) and one `expect` (what the replay must reproduce). A broken
file is reported as `file:line:col: message`, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core.jsonout import dumps

CASE_VERSION = 1
RECORDS = ("answer", "tool", "decision", "expect")


class CaseInvalid(Exception):
    """A case file baton cannot use; the message is `file:line:col: what is wrong`."""


@dataclass
class Answer:
    """A model's answer to one request (found again by the request's hash)."""

    hash: str
    step: str
    turn: int
    model: str
    request: dict[str, Any]
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0

    def record(self) -> dict[str, Any]:
        """As one line of the file."""
        return {
            "record": "answer",
            "hash": self.hash,
            "step": self.step,
            "turn": self.turn,
            "model": self.model,
            "text": self.text,
            "tool_calls": self.tool_calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "request": self.request,
        }


@dataclass
class ToolResult:
    """A tool call's recorded result (or error), keyed by `call`: the step and the call, without the session."""

    call: str
    step: str
    tool: str
    args: dict[str, Any]
    ok: bool
    result: Any = None
    error: str = ""

    def record(self) -> dict[str, Any]:
        """As one line of the file."""
        out: dict[str, Any] = {"record": "tool", "call": self.call, "step": self.step, "tool": self.tool}
        out["args"] = self.args
        out.update({"result": self.result} if self.ok else {"error": self.error})
        return out


@dataclass
class Decision:
    """A decision made at a checkpoint, re-applied by the replay."""

    checkpoint: str
    step: str
    decision: str
    feedback: str = ""
    edited: Any = None
    to: str = ""
    model: str = ""
    supplied: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """As one line of the file (empty details left out)."""
        out: dict[str, Any] = {"record": "decision", "checkpoint": self.checkpoint, "step": self.step}
        out["decision"] = self.decision
        details = {"feedback": self.feedback, "edited": self.edited, "to": self.to, "model": self.model}
        out.update({k: v for k, v in details.items() if v not in ("", None)})
        if self.supplied:
            out["supplied"] = self.supplied
        return out

    def entry(self) -> dict[str, Any]:
        """As an entry of a decisions file (how the runner is told it)."""
        return {
            "decision": self.decision,
            "feedback": self.feedback,
            "target": self.to,
            "model": self.model,
            "edited": self.edited,
            "supplied": self.supplied,
        }


@dataclass
class Expect:
    """What a replay must reproduce: how the session ended, the routes taken, each step's status, the
    tool calls per step (tool and arguments, in order) and the final state; `rules` loosen the state
    comparison per key (`equals`, `contains`, `schema`, `judge`)."""

    status: str = "completed"
    routes: list[dict[str, Any]] = field(default_factory=list)
    steps: dict[str, str] = field(default_factory=dict)
    tools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """As one line of the file."""
        out: dict[str, Any] = {"record": "expect", "status": self.status, "routes": self.routes, "steps": self.steps}
        out.update({"tools": self.tools, "state": self.state})
        if self.rules:
            out["rules"] = self.rules
        return out


@dataclass
class Case:
    """One case: where it came from, and everything a replay serves and checks."""

    name: str
    workflow: str
    workflow_hash: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    session: str = ""
    lessons: dict[str, list[dict[str, str]]] | None = None
    """The lessons the session's learning steps carried (as recorded when it started): replayed as they were."""
    answers: dict[str, Answer] = field(default_factory=dict)
    tools: dict[str, ToolResult] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    expect: Expect = field(default_factory=Expect)
    path: str = ""
    """The file it was read from (empty for a case not yet written)."""

    def header(self) -> dict[str, Any]:
        """The first line of the file."""
        return {
            "baton_case": CASE_VERSION,
            "name": self.name,
            "workflow": self.workflow,
            "workflow_hash": self.workflow_hash,
            "inputs": self.inputs,
            "models": self.models,
            "session": self.session,
            **({"lessons": self.lessons} if self.lessons is not None else {}),
        }

    def lines(self) -> Iterable[str]:
        """The file's lines: header, answers, tool results, decisions, then what is expected."""
        yield dumps(self.header())
        for answer in self.answers.values():
            yield dumps(answer.record())
        for tool in self.tools.values():
            yield dumps(tool.record())
        for decision in self.decisions.values():
            yield dumps(decision.record())
        yield dumps(self.expect.record())

    def workflow_path(self) -> Path:
        """The workflow file, a relative path being taken from the case file's folder."""
        given = Path(self.workflow)
        if given.is_absolute() or not self.path:
            return given
        return Path(self.path).parent / given


def write_case(case: Case, path: Path) -> None:
    """Write the case file (its folder made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in case.lines()), encoding="utf-8")


def append_answer(path: Path, answer: Answer) -> None:
    """Add one answer to a case file (a `--live` replay recording a request it had no answer for)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(dumps(answer.record()) + "\n")


def is_case_file(path: Path) -> bool:
    """Does the file start with a case header? (Cheap: only its first line is read.)"""
    try:
        with path.open("rb") as f:
            first = f.readline(1 << 20)
    except OSError:
        return False
    try:
        data = json.loads(first)
    except ValueError:
        return False
    return isinstance(data, dict) and "baton_case" in data


def read_case(path: Path) -> Case:
    """Read and check a case file; `CaseInvalid` names the line and column of the first problem."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseInvalid(f"{name}:1:1: no such file") from None
    except UnicodeDecodeError:
        raise CaseInvalid(f"{name}:1:1: not UTF-8 text") from None
    except OSError as exc:
        raise CaseInvalid(f"{name}:1:1: cannot read: {exc.strerror or exc}") from None
    case: Case | None = None
    expected = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        data = _object(name, number, line)
        if case is None:
            case = _header(name, number, data)
            case.path = name
            continue
        where = f"{name}:{number}:1"
        try:
            expected = _add(case, data, expected) or expected
        except (KeyError, TypeError, ValueError) as exc:
            raise CaseInvalid(f"{where}: {_what(exc)}") from None
    if case is None:
        raise CaseInvalid(f"{name}:1:1: empty file: a case starts with a header line {{\"baton_case\": 1, ...}}")
    if not expected:
        raise CaseInvalid(f"{name}:1:1: no `expect` record: nothing to check")
    return case


def _object(name: str, number: int, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CaseInvalid(f"{name}:{number}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise CaseInvalid(f"{name}:{number}:1: each line is a JSON object")
    return data


def _header(name: str, number: int, data: Mapping[str, Any]) -> Case:
    where = f"{name}:{number}:1"
    version = data.get("baton_case")
    if version is None:
        raise CaseInvalid(f"{where}: not a case file: the first line must be a header with \"baton_case\"")
    if version != CASE_VERSION:
        raise CaseInvalid(f"{where}: case format {version!r} is not known (this baton reads {CASE_VERSION})")
    workflow = data.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        raise CaseInvalid(f"{where}: the header needs \"workflow\" (the workflow file's path)")
    inputs, models = data.get("inputs") or {}, data.get("models") or {}
    if not isinstance(inputs, dict) or not isinstance(models, dict):
        raise CaseInvalid(f"{where}: \"inputs\" and \"models\" are JSON objects")
    lessons = data.get("lessons")
    if lessons is not None and not isinstance(lessons, dict):
        raise CaseInvalid(f"{where}: \"lessons\" is a JSON object (step: [{{\"id\", \"text\"}}])")
    return Case(
        name=str(data.get("name") or Path(name).stem),
        workflow=workflow,
        workflow_hash=str(data.get("workflow_hash", "")),
        inputs=dict(inputs),
        models={str(k): str(v) for k, v in models.items()},
        session=str(data.get("session", "")),
        lessons=lessons,
    )


def _add(case: Case, data: dict[str, Any], expected: bool) -> bool:
    """Add one record; True for the `expect` record."""
    kind = data.get("record")
    if kind == "answer":
        answer = Answer(
            hash=_text(data, "hash"),
            step=str(data.get("step", "")),
            turn=int(data.get("turn", 0)),
            model=str(data.get("model", "")),
            request=dict(data.get("request") or {}),
            text=str(data.get("text", "")),
            tool_calls=[dict(c) for c in data.get("tool_calls") or []],
            tokens_in=int(data.get("tokens_in", 0)),
            tokens_out=int(data.get("tokens_out", 0)),
            cost_usd=None if data.get("cost_usd") is None else float(data["cost_usd"]),
        )
        case.answers.setdefault(answer.hash, answer)
        return False
    if kind == "tool":
        ok = "error" not in data
        tool = ToolResult(
            _text(data, "call"), str(data.get("step", "")), _text(data, "tool"), dict(data.get("args") or {}), ok
        )
        tool.result, tool.error = data.get("result"), str(data.get("error", ""))
        case.tools[tool.call] = tool
        return False
    if kind == "decision":
        decision = Decision(
            _text(data, "checkpoint"),
            str(data.get("step", "")),
            _text(data, "decision"),
            feedback=str(data.get("feedback", "")),
            edited=data.get("edited"),
            to=str(data.get("to", "")),
            model=str(data.get("model", "")),
            supplied=dict(data.get("supplied") or {}),
        )
        case.decisions[decision.checkpoint] = decision
        return False
    if kind == "expect":
        if expected:
            raise ValueError("a second `expect` record: a case has one")
        case.expect = _expect(data)
        return True
    raise ValueError(f"unknown record {kind!r} (one of {', '.join(RECORDS)})")


def _expect(data: dict[str, Any]) -> Expect:
    rules = dict(data.get("rules") or {})
    for key, rule in rules.items():
        if not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in RULES:
            raise ValueError(f"rule for {key!r} must be one of {', '.join(f'{{{r!r}: ...}}' for r in RULES)}")
    return Expect(
        status=str(data.get("status", "completed")),
        routes=[dict(r) for r in data.get("routes") or []],
        steps={str(k): str(v) for k, v in dict(data.get("steps") or {}).items()},
        tools={str(k): [dict(c) for c in v] for k, v in dict(data.get("tools") or {}).items()},
        state=dict(data.get("state") or {}),
        rules=rules,
    )


RULES = ("equals", "contains", "schema", "judge")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{data.get('record')} record needs {key!r} (text)")
    return value


def _what(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    return str(exc)

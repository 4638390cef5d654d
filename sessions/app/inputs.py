"""What a person gives a session on the command line or in a form: inputs, state values, model aliases,
breakpoints, a decisions file, who they are and where they decide from. Every problem is one line naming what was given.

Text with bytes that are not UTF-8 (`-i $'free=caf\\xe9'`) is refused rather than silently altered: the
person can see what was wrong and retype it, and nothing half-correct reaches the model or the store.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from baton.core import paths
from baton.core.runner import RunOptions, check_inputs
from baton.core.spec.graph import iter_steps
from baton.core.spec.load import Workflow
from baton.core.state import coerce_input
from baton.sessions.errors import InvalidInput
from baton.sessions.text import escaped, is_text, shown


def user_name() -> str:
    """Who decisions are recorded as made by: `BATON_USER`, else the OS user (`user` when the system
    cannot say)."""
    named = os.environ.get("BATON_USER")
    if named:
        return named
    try:
        return getpass.getuser() or "user"
    except (OSError, KeyError, ImportError):  # no login name and no password entry for this uid
        return "user"


def decided_from(front: str) -> str:
    """From where a person decides, as recorded with the decision: `FRONT on HOST`, with the terminal
    when there is one (`inbox on build-02 (pts/3)`, `cli on build-02`)."""
    host = socket.gethostname() or "localhost"
    tty = _terminal()
    return f"{front} on {host}" + (f" ({tty})" if tty else "")


def _terminal() -> str:
    """The controlling terminal's name under /dev (`pts/3`), or '' when none of stdin/stdout/stderr is one."""
    for fd in (0, 1, 2):
        try:
            name = os.ttyname(fd)
        except OSError:
            continue
        return name.removeprefix("/dev/")
    return ""


def text_value(value: str, what: str) -> str:
    """`value` if it is valid UTF-8 text; `InvalidInput` naming `what` otherwise."""
    if not is_text(value):
        raise InvalidInput(f"{what} is not valid UTF-8 text")
    return value


def missing_inputs(workflow: Workflow, values: Mapping[str, Any]) -> list[str]:
    """Required inputs that have no value and no default (what `baton run` asks for in a terminal)."""
    spec = workflow.spec
    return [
        key
        for key, decl in spec.inputs.items()
        if values.get(key) is None and decl.required and decl.default is None and spec.state[key].default is None
    ]


def parse_inputs(workflow: Workflow, pairs: Iterable[str], allow_missing: bool = False) -> dict[str, Any]:
    """`key=value` pairs, typed by the workflow's state schema; every problem at once (a missing input is
    not one with `allow_missing`: the caller asks for it)."""
    spec = workflow.spec
    values: dict[str, Any] = {}
    problems: list[str] = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"--input {shown(pair)}: expected key=value")
        elif not is_text(key):
            problems.append(f"input {shown(key)} is not valid UTF-8 text")
        elif key not in spec.state:
            problems.append(f"unknown input '{key}' (inputs: {', '.join(spec.inputs) or 'none'})")
        elif not is_text(raw):
            problems.append(f"input '{key}' is not valid UTF-8 text")
        else:
            try:
                values[key] = coerce_input(raw, spec.state[key].type)
            except ValueError as exc:
                problems.append(f"input '{key}': {exc}")
    problems += [
        p
        for p in check_inputs(spec, values)
        if not p.startswith("unknown input") and not (allow_missing and p.startswith("missing input"))
    ]
    if problems:
        raise InvalidInput("\n".join(problems))
    return values


def state_values(workflow: Workflow, pairs: Iterable[str]) -> dict[str, Any]:
    """`--set key=value` pairs for a fork, typed by the workflow's state schema."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not is_text(key) or key not in workflow.spec.state:
            keys = ", ".join(workflow.spec.state)
            raise InvalidInput(f"--set {shown(pair)}: expected KEY=VALUE with a state key ({keys})")
        text_value(raw, f"--set {key}")
        try:
            values[key] = coerce_input(raw, workflow.spec.state[key].type)
        except ValueError as exc:
            raise InvalidInput(f"--set {key}: {exc}") from None
    return values


def model_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """`--model alias=model` pairs."""
    out: dict[str, str] = {}
    for pair in pairs:
        alias, sep, model = pair.partition("=")
        if not sep or not alias or not model:
            raise InvalidInput(
                f"--model {shown(pair)}: expected ALIAS=MODEL (for example strong=anthropic/claude-sonnet-4-5)"
            )
        text_value(pair, f"--model {shown(pair)}")
        if "/" not in model:
            raise InvalidInput(
                f"--model {shown(pair)}: a model is provider/name (openai/{model.strip()}, anthropic/…; "
                "mock/fast is the offline model)"
            )
        out[alias.strip()] = model.strip()
    return out


def check_breakpoints(workflow: Workflow, breakpoints: Iterable[str]) -> None:
    """Every `--break STEP` names a step of the workflow."""
    ids = [info.step.id for info in iter_steps(workflow.spec)]
    for name in breakpoints:
        if name not in ids:
            steps = ", ".join(ids)
            raise InvalidInput(f"--break {escaped(name)}: no step {shown(name)} in this workflow (steps: {steps})")


def read_text_file(path: str, what: str = "file") -> str:
    """A UTF-8 text file a person named (a decisions file, an edited value). A FIFO or a device is refused
    before it is read (reading it could block forever); every problem is one line naming the path."""
    try:
        data = paths.read_regular(path)
    except paths.NotRegularFile as exc:
        raise InvalidInput(str(exc)) from None
    except FileNotFoundError:
        raise InvalidInput(f"{escaped(path)}: no such {what}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{escaped(path)}: not a regular file") from None
    except OSError as exc:
        raise InvalidInput(f"{escaped(path)}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidInput(f"{escaped(path)}:{line}:{col}: not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def load_decisions(path: str) -> dict[str, Any]:
    """A decisions file: `{"step id": "approve" | {"decision": ..., ...} | [per round]}`."""
    text = read_text_file(path, "decisions file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}:1:1: a decisions file is a JSON object keyed by step id")
    return data


def run_options(
    auto: str | None = None,
    decisions: str | None = None,
    step_mode: bool = False,
    breakpoints: Iterable[str] = (),
    max_usd: float | None = None,
    *,
    stored_decisions: Mapping[str, Any] | None = None,
    stored_decisions_file: str = "",
) -> RunOptions:
    """Run options as the person gave them (a decisions file is read and checked now)."""
    return RunOptions(
        auto=auto,
        decisions=load_decisions(decisions) if decisions else (dict(stored_decisions) if stored_decisions else None),
        decisions_file=decisions or stored_decisions_file,
        step_mode=step_mode,
        breakpoints=set(breakpoints),
        by=user_name(),
        max_usd=max_usd,
    )

"""Do a workflow's tools import, and can each agent tool be described to a model? Checked the way the
runner will load them (the workflow's folder first on the import path), but in a child process with a time
limit: a tool module runs code when it is imported, and that code must neither hang `baton validate` nor
leave anything behind in it. An agent's Python tool also has its JSON schema built there (`tool_schema`), so
a function no model could call (`*args`, a type pydantic cannot describe) is reported before a run.

Run as `python -m baton.core.spec.tool_check FOLDER CALL…`; a CALL written `+module:function` also has its
schema built. It prints one result line per call.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from baton.core import expr
from baton.core.spec.agent_tools import ApprovalWhen, FunctionTool
from baton.core.spec.findings import suggest
from baton.core.spec.graph import DataPath, iter_steps
from baton.core.spec.model import ToolStep, WorkflowSpec
from baton.core.spec.tool_check_cache import cached
from baton.core.spec.tool_entry_checks import function_tools

TIMEOUT_S = 20.0
MARK = "baton-tool-check "
WITH_SCHEMA = "+"


@dataclass(frozen=True)
class Checked:
    """What the child found for one call: why it cannot be loaded, or why it cannot be described to a model
    (both empty when it is fine), and its parameters once its schema is built."""

    error: str = ""
    schema_error: str = ""
    params: tuple[str, ...] | None = None


def tool_findings(spec: WorkflowSpec, folder: str | None, timeout_s: float = TIMEOUT_S) -> list[tuple[DataPath, str]]:
    """(path of the field, the problem) for every tool that fails to import, every agent tool whose schema
    cannot be built, and every approval rule that names something its tool does not take."""
    infos = list(iter_steps(spec))
    where: dict[str, list[DataPath]] = {}
    for info in infos:
        if isinstance(info.step, ToolStep):
            where.setdefault(info.step.call, []).append((*info.data_path, "call"))
    agent_tools = list(function_tools(infos))
    for tool, path in agent_tools:
        where.setdefault(WITH_SCHEMA + tool.call, []).append((*path, "call"))
    if not where:
        return []
    results = _check_kept_or_in_child(folder, sorted(where), timeout_s)
    out = [
        (path, message) for arg, found in results.items() if (message := _problem(arg, found)) for path in where[arg]
    ]
    for tool, path in agent_tools:
        params = results.get(WITH_SCHEMA + tool.call, Checked()).params
        if params is not None:
            out += _approval_names(tool, path, params)
    return out


def _problem(arg: str, found: Checked) -> str:
    call = arg.removeprefix(WITH_SCHEMA)
    if found.error:
        return f"tool '{call}' cannot be loaded: {found.error}"
    if found.schema_error:
        return f"tool '{call}' cannot be described to a model: {found.schema_error}"
    return ""


def _approval_names(tool: FunctionTool, path: DataPath, params: tuple[str, ...]) -> list[tuple[DataPath, str]]:
    """An approval rule sees the call's arguments: a name that is not a parameter is a typo."""
    if not isinstance(tool.approval, ApprovalWhen):
        return []
    unknown = sorted(expr.names_in(tool.approval.when) - set(params))
    if not unknown:
        return []
    taken = f"its parameters: {', '.join(params)}" if params else "it takes none"
    return [
        (
            (*path, "approval", "when"),
            f"approval.when uses '{unknown[0]}'{suggest(unknown[0], params)}, which is not a parameter of tool "
            f"'{tool.tool_name}' ({taken})",
        )
    ]


def _check_kept_or_in_child(folder: str | None, calls: list[str], timeout_s: float) -> dict[str, Checked]:
    """The child's findings, or a kept check's when nothing they depend on changed (`tool_check_cache`)."""
    found = cached(
        folder,
        calls,
        lambda: {call: dataclasses.asdict(c) for call, c in _check_in_child(folder, calls, timeout_s).items()},
        lambda results: not any(r["error"] or r["schema_error"] for r in results.values()),
    )
    return {
        call: Checked(r["error"], r["schema_error"], tuple(r["params"]) if r["params"] is not None else None)
        for call, r in found.items()
    }


def _check_in_child(folder: str | None, calls: list[str], timeout_s: float) -> dict[str, Checked]:
    command = [sys.executable, "-m", "baton.core.spec.tool_check", folder or "", *calls]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL, errors="replace"
        )
    except subprocess.TimeoutExpired:
        reason = f"importing it took more than {timeout_s:g}s (a tool module should not do work when imported)"
        return dict.fromkeys(calls, Checked(reason))
    results: dict[str, Checked] = {}
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            found = json.loads(line[len(MARK) :])
            params = found.get("params")
            results[found["call"]] = Checked(
                found["error"], found.get("schema_error", ""), tuple(params) if params is not None else None
            )
            calls = [c for c in calls if c != found["call"]]
    if calls:  # the child died before answering for these (a tool module that exits or crashes)
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        results.update(dict.fromkeys(calls, Checked(f"importing it stopped the process ({tail[:200]})")))
    return results


def load_error(call: str, folder: str) -> str:
    """Why `module:function` cannot be loaded from `folder` (or the installed packages); empty when it can."""
    return _load(call, folder)[1]


def _load(call: str, folder: str) -> tuple[object, str]:
    """The callable `call` names, or why it cannot be loaded."""
    module_name, _, attr = call.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            places = f"{folder} and the installed packages" if folder else "the installed packages"
            return None, f"no module named '{exc.name}' (looked in {places})"
        return None, (
            f"importing '{module_name}' failed: no module named '{exc.name}' (a package it needs is not installed)"
        )
    except BaseException as exc:  # any failure of the user's module (even sys.exit) is what we report
        return None, f"importing '{module_name}' raised {type(exc).__name__}: {str(exc)[:300]}"
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return None, f"'{module_name}' has no '{part}'{hint}"
        target = getattr(target, part)
    if not callable(target):
        return None, f"'{attr}' in '{module_name}' is not a function (it is {type(target).__name__})"
    return target, ""


def _checked(arg: str, folder: str) -> dict[str, object]:
    """One result line's content: load the call, and build its schema when asked."""
    call = arg.removeprefix(WITH_SCHEMA)
    target, error = _load(call, folder)
    result: dict[str, object] = {"call": arg, "error": error, "schema_error": "", "params": None}
    if error or not arg.startswith(WITH_SCHEMA) or not callable(target):
        return result
    from baton.core.spec.tool_schema import ToolSchemaError, function_schema

    try:
        schema = function_schema(target, "tool")
    except ToolSchemaError as exc:
        result["schema_error"] = str(exc)
    except Exception as exc:  # the author's callable misbehaving when inspected
        result["schema_error"] = f"reading its signature raised {type(exc).__name__}: {str(exc)[:300]}"
    else:
        result["params"] = list(schema.parameters.get("properties", {}))
    return result


def main(argv: Sequence[str]) -> int:
    """Child process: import each call (and build the schema of each agent tool), one result line each."""
    folder, calls = argv[0], argv[1:]
    if folder:
        sys.path.insert(0, folder)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    for call in calls:
        out.write(MARK + json.dumps(_checked(call, folder)) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

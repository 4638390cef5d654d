"""Do a workflow's tools import? Checked the way the runner will load them (the workflow's folder first on
the import path), but in a child process with a time limit: a tool module runs code when it is imported,
and that code must neither hang `baton validate` nor leave anything behind in it.

Run as `python -m baton.core.spec.tool_check FOLDER CALL…`; it prints one result line per call.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from baton.core.spec.graph import DataPath, iter_steps
from baton.core.spec.model import ToolStep, WorkflowSpec

TIMEOUT_S = 20.0
MARK = "baton-tool-check "


def tool_findings(spec: WorkflowSpec, folder: str | None, timeout_s: float = TIMEOUT_S) -> list[tuple[DataPath, str]]:
    """(path of the `call:` field, why the tool cannot be loaded) for every tool that fails to import."""
    where: dict[str, list[DataPath]] = {}
    for info in iter_steps(spec):
        if isinstance(info.step, ToolStep):
            where.setdefault(info.step.call, []).append((*info.data_path, "call"))
    if not where:
        return []
    errors = _check_in_child(folder, sorted(where), timeout_s)
    return [
        (path, f"tool '{call}' cannot be loaded: {error}") for call, error in errors.items() for path in where[call]
    ]


def _check_in_child(folder: str | None, calls: list[str], timeout_s: float) -> dict[str, str]:
    command = [sys.executable, "-m", "baton.core.spec.tool_check", folder or "", *calls]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL, errors="replace"
        )
    except subprocess.TimeoutExpired:
        reason = f"importing it took more than {timeout_s:g}s (a tool module should not do work when imported)"
        return dict.fromkeys(calls, reason)
    results: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            found = json.loads(line[len(MARK) :])
            if found["error"]:
                results[found["call"]] = found["error"]
            calls = [c for c in calls if c != found["call"]]
    if calls:  # the child died before answering for these (a tool module that exits or crashes)
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        results.update(dict.fromkeys(calls, f"importing it stopped the process ({tail[:200]})"))
    return results


def load_error(call: str, folder: str) -> str:
    """Why `module:function` cannot be loaded from `folder` (or the installed packages); empty when it can."""
    module_name, _, attr = call.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            places = f"{folder} and the installed packages" if folder else "the installed packages"
            return f"no module named '{exc.name}' (looked in {places})"
        return f"importing '{module_name}' failed: no module named '{exc.name}' (a package it needs is not installed)"
    except BaseException as exc:  # any failure of the user's module (even sys.exit) is what we report
        return f"importing '{module_name}' raised {type(exc).__name__}: {str(exc)[:300]}"
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"'{module_name}' has no '{part}'{hint}"
        target = getattr(target, part)
    if not callable(target):
        return f"'{attr}' in '{module_name}' is not a function (it is {type(target).__name__})"
    return ""


def main(argv: Sequence[str]) -> int:
    """Child process: import each call, one result line each."""
    folder, calls = argv[0], argv[1:]
    if folder:
        sys.path.insert(0, folder)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    for call in calls:
        out.write(MARK + json.dumps({"call": call, "error": load_error(call, folder)}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

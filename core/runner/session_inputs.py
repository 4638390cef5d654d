"""The inputs a session starts with, checked against its workflow before anything is recorded.

Apart from the engine so that a command that only starts a session (and hands it to a runner host) can
check what a person gave without loading the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.core.spec.model import WorkflowSpec
from baton.core.state import type_ok


def check_inputs(spec: WorkflowSpec, inputs: Mapping[str, Any]) -> list[str]:
    """Problems with the inputs a session is started with (missing, unknown, wrong type)."""
    problems = []
    for key in inputs:
        if key not in spec.inputs:
            known = ", ".join(spec.inputs) or "none"
            problems.append(f"unknown input '{key}' (inputs: {known})")
    for key, decl in spec.inputs.items():
        value = inputs.get(key)
        if value is None:
            if decl.required and decl.default is None and spec.state[key].default is None:
                problems.append(f"missing input '{key}': pass --input {key}=...")
            continue
        typ = spec.state[key].type
        if not type_ok(value, typ):
            problems.append(f"input '{key}' must be {typ}")
        elif decl.choices and value not in decl.choices:
            problems.append(f"input '{key}' must be one of {', '.join(decl.choices)}")
    return problems

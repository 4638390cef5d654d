"""Layer 1 before any step runs: its reads, present and within their limits.

A problem opens a checkpoint before any token is spent: a person supplies the values, skips the step,
or pauses (unattended, the session stops).
"""

from __future__ import annotations

from typing import Any

from baton.core.runner import prompts
from baton.core.runner.context import Scope, StepFailure, StepOutcome
from baton.core.runner.gates.base import Jump, Proceed, Skip, pass_gate
from baton.core.runner.gates.invalid_input import InvalidInput
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.ending import end_by
from baton.core.spec.model import StepBase


async def gather_inputs(
    rt: Runtime, step: StepBase, path: str, scope: Scope, variables: dict[str, Any]
) -> prompts.Inputs | StepOutcome:
    """The step's inputs, or its outcome when a person skipped it at the input check."""
    round_ = 0
    overrides: dict[str, Any] = {}
    while True:
        state = {**scope.state, **overrides}
        try:
            return prompts.gather(step, state, rt.spec.state, variables)
        except StepFailure as failure:
            round_ += 1
            verdict = await pass_gate(rt, InvalidInput(path, round_, step, failure.message, state))
            if isinstance(verdict, Skip | Jump):
                return await end_by(rt, scope, path, verdict)
            assert isinstance(verdict, Proceed)
            overrides.update(verdict.values or {})

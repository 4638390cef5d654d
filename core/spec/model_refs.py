"""Which model aliases a workflow (or one step of it) calls, and where each is named in the file.

One walk serves the load-time model checks, the key check before a run, `baton doctor`, and the cost
report's question "did this router choose between models?".
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.core.spec.graph import DataPath, children, iter_steps
from baton.core.spec.model import AgentStep, RouterStep, Step, SupervisorStep, WorkflowSpec
from baton.core.spec.tool_entry_checks import delegated, with_delegates


@dataclass(frozen=True)
class ModelRef:
    """One place a step names a model: `alias` as written (or the default it falls back to)."""

    alias: str
    path: DataPath
    step: str
    fallback: bool = False


def step_refs(spec: WorkflowSpec, step: Step, path: DataPath = ()) -> list[ModelRef]:
    """The models this one step calls itself (not its children); a router without a model calls none."""
    default = spec.defaults.model
    own: list[tuple[str | None, DataPath, list[str]]] = []
    if isinstance(step, AgentStep):
        own.append((step.model or default, (*path, "model"), step.fallback))
    elif isinstance(step, RouterStep) and step.model is not None:
        own.append((step.model, (*path, "model"), step.fallback))
    elif isinstance(step, SupervisorStep):
        manager = step.manager
        own.append((manager.model or default, (*path, "manager", "model"), manager.fallback))
    out: list[ModelRef] = []
    for alias, where, fallback in own:
        if alias:
            out.append(ModelRef(alias, where, step.id))
        out += [ModelRef(name, (*where[:-1], "fallback", i), step.id, True) for i, name in enumerate(fallback)]
    return out


def workflow_refs(spec: WorkflowSpec) -> list[ModelRef]:
    """Every model reference of the workflow, in file order."""
    infos = with_delegates(iter_steps(spec))
    return [ref for info in infos for ref in step_refs(spec, info.step, info.data_path)]


def step_aliases(spec: WorkflowSpec, step: Step, *, fallbacks: bool = False) -> list[str]:
    """Aliases a step and everything inside it call, in order of first mention."""
    found = [ref.alias for ref in step_refs(spec, step) if fallbacks or not ref.fallback]
    for child in [*children(step), *delegated(step)]:
        found += step_aliases(spec, child, fallbacks=fallbacks)
    return list(dict.fromkeys(found))


def workflow_aliases(spec: WorkflowSpec, *, fallbacks: bool = True) -> list[str]:
    """Aliases the whole workflow may call (fallbacks included unless asked otherwise)."""
    return list(dict.fromkeys(ref.alias for ref in workflow_refs(spec) if fallbacks or not ref.fallback))

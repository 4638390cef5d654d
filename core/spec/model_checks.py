"""Checks of the models a workflow names: aliases known, providers given, defaults."""

from __future__ import annotations

from collections.abc import Iterable

from baton.core.spec.findings import Finding, suggest
from baton.core.spec.graph import (
    DataPath,
    StepInfo,
)
from baton.core.spec.model import (
    AgentStep,
    ManagerSpec,
    RouterStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)


def _model_refs(step: Step, path: DataPath) -> list[tuple[str | None, DataPath, list[str]]]:
    if isinstance(step, AgentStep | RouterStep):
        return [(step.model, (*path, "model"), step.fallback)]
    if isinstance(step, SupervisorStep):
        m: ManagerSpec = step.manager
        return [(m.model, (*path, "manager", "model"), m.fallback)]
    return []


def step_models(spec: WorkflowSpec, info: StepInfo, aliases: set[str]) -> list[Finding]:
    out = []
    for model, path, fallback in _model_refs(info.step, info.data_path):
        needs_model = not (isinstance(info.step, RouterStep) and model is None)
        if model is None and needs_model and spec.defaults.model is None:
            out.append(Finding(path[:-1], f"step '{info.step.id}' has no model: set 'model' or 'defaults.model'"))
        if model is not None and not _model_ok(model, aliases):
            out.append(Finding(path, _unknown_model("model alias", model, aliases)))
        for i, alias in enumerate(fallback):
            if not _model_ok(alias, aliases):
                out.append(Finding((*path[:-1], "fallback", i), _unknown_model("fallback model", alias, aliases)))
    return out


def _unknown_model(what: str, name: str, aliases: set[str]) -> str:
    hint = suggest(name, aliases)
    return (
        f"unknown {what} '{name}'{hint}: declare it under 'models:' or in the config file, "
        "or name a model as provider/model (mock/fast, openai/gpt-4o-mini)"
    )


def _model_ok(name: str, aliases: set[str]) -> bool:
    return name in aliases or "/" in name


def provider_problem(alias: str, model: str, aliases: Iterable[str]) -> str | None:
    """Why an alias's model string cannot be called (None when it names `provider/name`)."""
    if "/" in model:
        return None
    if model in set(aliases):
        offline = f" (the offline one: mock/{model})" if model in ("fast", "strong", "tiny", "long") else ""
        return (
            f"alias '{alias}' points at '{model}', another alias, not a model: write the model as provider/name"
            f"{offline}"
        )
    return (
        f"model '{model}' of alias '{alias}' names no provider: write provider/name (openai/{model}, "
        "anthropic/…, ollama/…; mock/fast is the offline model)"
    )


def model_providers(spec: WorkflowSpec, aliases: set[str]) -> list[Finding]:
    """Every alias the workflow declares names `provider/model`: litellm cannot call a bare name."""
    out = []
    for alias, model in spec.models.items():
        problem = provider_problem(alias, model.model, aliases | {"fast", "strong"})
        if problem:
            out.append(Finding(("models", alias, "model"), problem))
    return out


def defaults_model(spec: WorkflowSpec, aliases: set[str]) -> list[Finding]:
    model = spec.defaults.model
    if model is not None and not _model_ok(model, aliases):
        return [Finding(("defaults", "model"), _unknown_model("model alias", model, aliases))]
    return []

"""Load-time checks beyond types: keys, models, templates, routes, reachability, cycles, fan-in.

Each check returns problems anchored at a data path; `load.py` turns paths into line:col.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core import expr
from core.spec.flow import propagate
from core.spec.graph import (
    DataPath,
    StepInfo,
    all_writes,
    guaranteed_writes,
    iter_steps,
    placeholders,
    successors,
    top_index,
)
from core.spec.model import (
    END,
    AgentStep,
    GateStep,
    LoopStep,
    ManagerSpec,
    MapStep,
    ModelSpec,
    ParallelStep,
    RouterStep,
    SequenceStep,
    Step,
    SupervisorStep,
    ToolStep,
    WorkflowSpec,
)
from core.state import empty_value, type_ok
from core.structured import JUDGE_FIELDS, enum_values

CALL_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
CHAIN_WARNING = 4


@dataclass(frozen=True)
class Finding:
    """A problem at a data path; `at_key` points at the key rather than its value."""

    path: DataPath
    message: str
    severity: str = "error"
    at_key: bool = False


def check(spec: WorkflowSpec, known_aliases: Iterable[str] = ()) -> list[Finding]:
    """All findings for a type-valid spec."""
    out: list[Finding] = []
    infos = list(iter_steps(spec))
    aliases = set(spec.models) | set(known_aliases)
    out += _unique_ids(infos)
    out += _state_and_inputs(spec)
    for info in infos:
        out += _step_keys(spec, info)
        out += _step_models(spec, info, aliases)
        out += _step_templates(info)
        out += _step_writes(spec, info)
        out += _step_rules(info)
    out += _defaults_model(spec, aliases)
    out += _flow(spec)
    out += _availability(spec)
    out += _chain_warning(spec)
    return out


def suggest(name: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when something close exists."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unique_ids(infos: list[StepInfo]) -> list[Finding]:
    seen: dict[str, DataPath] = {}
    out = []
    for info in infos:
        if info.step.id in seen:
            out.append(Finding((*info.data_path, "id"), f"duplicate step id '{info.step.id}'"))
        else:
            seen[info.step.id] = info.data_path
    return out


def _state_and_inputs(spec: WorkflowSpec) -> list[Finding]:
    out = []
    for key, decl in spec.state.items():
        if decl.default is not None and not type_ok(decl.default, decl.type):
            out.append(Finding(("state", key, "default"), f"default of '{key}' is not a {decl.type}"))
    for key, inp in spec.inputs.items():
        if key not in spec.state:
            out.append(
                Finding(
                    ("inputs", key),
                    f"input '{key}' is not a declared state key{suggest(key, spec.state)}",
                    at_key=True,
                )
            )
            continue
        decl = spec.state[key]
        if inp.default is not None and not type_ok(inp.default, decl.type):
            out.append(Finding(("inputs", key, "default"), f"default of input '{key}' is not a {decl.type}"))
    return out


def _step_keys(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    out = []
    step = info.step
    for i, raw in enumerate(step.reads):
        key = raw.rstrip("?")
        if key not in spec.state:
            out.append(
                Finding(
                    (*info.data_path, "reads", i),
                    f"step '{step.id}' reads '{key}', which is not declared in state{suggest(key, spec.state)}",
                )
            )
    for i, key in enumerate(step.writes):
        if key not in spec.state:
            out.append(
                Finding(
                    (*info.data_path, "writes", i),
                    f"step '{step.id}' writes '{key}', which is not declared in state{suggest(key, spec.state)}",
                )
            )
    if isinstance(step, MapStep):
        decl = spec.state.get(step.over)
        if decl is None:
            out.append(Finding((*info.data_path, "over"), f"map '{step.id}' goes over undeclared key '{step.over}'"))
        elif not (decl.type == "list" or decl.type.startswith("list[")):
            out.append(Finding((*info.data_path, "over"), f"map '{step.id}' goes over '{step.over}', a {decl.type}"))
        if step.item in spec.state:
            out.append(Finding((*info.data_path, "as"), f"item name '{step.item}' hides the state key of that name"))
    if info.role != "top" and step.next is not None:
        out.append(Finding((*info.data_path, "next"), "'next' only applies to top-level steps"))
    if info.role != "top" and isinstance(step, RouterStep):
        out.append(Finding((*info.data_path, "kind"), "a router must be a top-level step"))
    return out


def _model_refs(step: Step, path: DataPath) -> list[tuple[str | None, DataPath, list[str]]]:
    if isinstance(step, AgentStep | RouterStep):
        return [(step.model, (*path, "model"), step.fallback)]
    if isinstance(step, SupervisorStep):
        m: ManagerSpec = step.manager
        return [(m.model, (*path, "manager", "model"), m.fallback)]
    return []


def _step_models(spec: WorkflowSpec, info: StepInfo, aliases: set[str]) -> list[Finding]:
    out = []
    for model, path, fallback in _model_refs(info.step, info.data_path):
        needs_model = not (isinstance(info.step, RouterStep) and model is None)
        if model is None and needs_model and spec.defaults.model is None:
            out.append(Finding(path[:-1], f"step '{info.step.id}' has no model: set 'model' or 'defaults.model'"))
        if model is not None and not _model_ok(model, aliases):
            out.append(Finding(path, f"unknown model alias '{model}'{suggest(model, aliases)}"))
        for i, alias in enumerate(fallback):
            if not _model_ok(alias, aliases):
                out.append(
                    Finding((*path[:-1], "fallback", i), f"unknown fallback model '{alias}'{suggest(alias, aliases)}")
                )
    return out


def _model_ok(name: str, aliases: set[str]) -> bool:
    return name in aliases or "/" in name


def _defaults_model(spec: WorkflowSpec, aliases: set[str]) -> list[Finding]:
    model = spec.defaults.model
    if model is not None and not _model_ok(model, aliases):
        return [Finding(("defaults", "model"), f"unknown model alias '{model}'{suggest(model, aliases)}")]
    return []


def _step_templates(info: StepInfo) -> list[Finding]:
    step = info.step
    allowed = set(step.read_keys) | set(info.variables)
    templates: list[tuple[str, DataPath]] = []
    if isinstance(step, AgentStep | RouterStep):
        templates += [(step.prompt, (*info.data_path, "prompt")), (step.system, (*info.data_path, "system"))]
    elif isinstance(step, SupervisorStep):
        templates += [(step.manager.prompt, (*info.data_path, "manager", "prompt"))]
    elif isinstance(step, GateStep):
        templates += [(step.message, (*info.data_path, "message"))]
    elif isinstance(step, ToolStep):
        templates += [(v, (*info.data_path, "args", k)) for k, v in step.args.items() if isinstance(v, str)]
    out = []
    for text, path in templates:
        for name in placeholders(text):
            if name not in allowed:
                out.append(
                    Finding(path, f"'{{{name}}}' is used but step '{step.id}' does not read '{name}' (add it to reads)")
                )
    if isinstance(step, ToolStep) and not CALL_RE.match(step.call):
        out.append(Finding((*info.data_path, "call"), f"tool call '{step.call}' is not 'package.module:function'"))
    return out


def _step_writes(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    step = info.step
    out = []
    composite = isinstance(step, ParallelStep | MapStep | SupervisorStep | LoopStep | SequenceStep)
    if composite and step.writes:
        out.append(Finding((*info.data_path, "writes"), f"'{step.kind}' steps write through their children"))
    if isinstance(step, AgentStep):
        fields = step.output or {}
        if info.role == "judge" and step.output is not None and "pass" not in step.output:
            out.append(Finding((*info.data_path, "output"), "a judge's output needs a 'pass: bool' field"))
        if info.role == "judge" and step.output is None:
            fields = JUDGE_FIELDS
        if step.output is None and info.role != "judge" and len(step.writes) > 1:
            out.append(
                Finding((*info.data_path, "writes"), "a text step writes one key; declare 'output' fields for more")
            )
        if fields:
            for i, key in enumerate(step.writes):
                if key not in fields and (step.output is not None or info.role == "judge"):
                    out.append(
                        Finding(
                            (*info.data_path, "writes", i),
                            f"writes '{key}' but the output has no field '{key}'{suggest(key, fields)}",
                        )
                    )
    if isinstance(step, ParallelStep | SupervisorStep):
        kids = step.branches if isinstance(step, ParallelStep) else step.workers
        owner: dict[str, str] = {}
        for child in kids:
            for key in all_writes(child):
                decl = spec.state.get(key)
                if decl is not None and decl.reducer == "replace" and key in owner and owner[key] != child.id:
                    out.append(
                        Finding(
                            info.data_path + ("id",),
                            f"'{owner[key]}' and '{child.id}' both write '{key}' whose reducer is replace: "
                            "the result would depend on timing (use append or merge)",
                        )
                    )
                owner.setdefault(key, child.id)
    if isinstance(step, MapStep):
        for key in all_writes(step.step):
            decl = spec.state.get(key)
            if decl is not None and decl.reducer == "replace":
                out.append(
                    Finding(
                        (*info.data_path, "step"),
                        f"map items write '{key}' whose reducer is replace: use append or merge",
                    )
                )
    return out


def _step_rules(info: StepInfo) -> list[Finding]:
    step = info.step
    out = []
    if step.review.when is not None:
        out += _expr_finding(
            step.review.when,
            (*info.data_path, "review", "when"),
            _when_names(step),
            "review.when",
        )
    if isinstance(step, RouterStep):
        labels = set(step.routes)
        for i, rule in enumerate(step.rules):
            out += _expr_finding(rule.when, (*info.data_path, "rules", i, "when"), set(step.read_keys), "rule")
            if rule.route not in labels:
                out.append(
                    Finding(
                        (*info.data_path, "rules", i, "route"),
                        f"rule picks unknown route '{rule.route}'{suggest(rule.route, labels)}",
                    )
                )
        if step.default is not None and step.default not in labels:
            out.append(Finding((*info.data_path, "default"), f"default route '{step.default}' is not in routes"))
        if step.model is None and not step.rules:
            out.append(Finding(info.data_path, f"router '{step.id}' needs a model or rules"))
        if step.model is None and step.default is None:
            out.append(Finding(info.data_path, f"rules router '{step.id}' needs a 'default' route"))
    if isinstance(step, LoopStep) and step.until is not None:
        out += _expr_finding(step.until, (*info.data_path, "until"), set(), "until", check_names=False)
    return out


def _when_names(step: Step) -> set[str]:
    names = set(step.read_keys)
    if isinstance(step, AgentStep) and step.output:
        names |= set(step.output)
    return names


def _expr_finding(source: str, path: DataPath, names: set[str], what: str, check_names: bool = True) -> list[Finding]:
    try:
        parsed = expr.parse(source)
    except expr.ExprError as exc:
        return [Finding(path, f"{what}: {exc}")]
    missing = sorted(parsed.names - names) if check_names else []
    if missing:
        return [
            Finding(
                path,
                f"{what} uses {', '.join(map(repr, missing))}, which the step neither reads nor outputs"
                f"{suggest(missing[0], names)}",
            )
        ]
    return []


def _flow(spec: WorkflowSpec) -> list[Finding]:
    out = []
    index = top_index(spec)

    def target_ok(target: str, frm: int, path: DataPath, what: str) -> None:
        if target == END:
            return
        if target not in index:
            out.append(Finding(path, f"{what} '{target}' is not a top-level step{suggest(target, index)}"))
        elif index[target] <= frm:
            out.append(
                Finding(
                    path,
                    f"{what} '{target}' jumps back to an earlier step: a cycle outside a loop (use a 'loop' step)",
                )
            )

    for i, step in enumerate(spec.steps):
        if step.next is not None:
            target_ok(step.next, i, ("steps", i, "next"), "next")
        if isinstance(step, RouterStep):
            for label, target in step.routes.items():
                target_ok(target, i, ("steps", i, "routes", label), f"route '{label}' →")
        for j, target in enumerate(step.reroute or []):
            target_ok(target, i, ("steps", i, "reroute", j), "reroute target")
    if out:
        return out
    reachable = {spec.steps[0].id}
    for i, step in enumerate(spec.steps):
        if step.id not in reachable:
            continue
        reachable |= set(successors(spec, i))
    for i, step in enumerate(spec.steps):
        if step.id not in reachable:
            out.append(Finding(("steps", i, "id"), f"step '{step.id}' is unreachable (no step or route leads to it)"))
    return out


def initial_keys(spec: WorkflowSpec) -> set[str]:
    """Keys that have a value before any step runs: inputs, defaults and empty accumulators."""
    keys = set(spec.inputs)
    for key, decl in spec.state.items():
        if decl.default is not None or empty_value(decl.type, decl.reducer) is not None:
            keys.add(key)
    return keys


def _availability(spec: WorkflowSpec) -> list[Finding]:
    """Every non-optional read is written on every path to the step (a must-analysis over the DAG)."""
    out: list[Finding] = []
    for i, have in sorted(propagate(spec, 0, initial_keys(spec)).items()):
        out += _check_reads(spec, spec.steps[i], ("steps", i), have)
    return out


def _check_reads(spec: WorkflowSpec, step: Step, path: DataPath, have: set[str]) -> list[Finding]:
    out = []
    optional = step.optional_reads
    for i, key in enumerate(step.read_keys):
        if key in spec.state and key not in have and key not in optional:
            out.append(
                Finding(
                    (*path, "reads", i),
                    f"step '{step.id}' reads '{key}', which is not written on every path before it "
                    f"(write it earlier, make it an input, give it a default, or read it as '{key}?')",
                )
            )
    if isinstance(step, ParallelStep):
        for i, child in enumerate(step.branches):
            out += _check_reads(spec, child, (*path, "branches", i), have)
    elif isinstance(step, MapStep):
        out += _check_reads(spec, step.step, (*path, "step"), have)
    elif isinstance(step, SupervisorStep):
        after_manager = have | set(step.writes)
        for i, child in enumerate(step.workers):
            out += _check_reads(spec, child, (*path, "workers", i), after_manager)
        if step.synthesis is not None:
            out += _check_reads(spec, step.synthesis, (*path, "synthesis"), after_manager)
    elif isinstance(step, LoopStep | SequenceStep):
        running = set(have)
        for i, child in enumerate(step.steps):
            out += _check_reads(spec, child, (*path, "steps", i), running)
            running |= guaranteed_writes(child)
        if isinstance(step, LoopStep) and step.judge is not None:
            out += _check_reads(spec, step.judge, (*path, "judge"), running)
    return out


def _chain_warning(spec: WorkflowSpec) -> list[Finding]:
    out = []
    run: list[int] = []
    for i, step in enumerate([*spec.steps, None]):
        if isinstance(step, AgentStep) and step.next is None:
            run.append(i)
            continue
        if len(run) >= CHAIN_WARNING:
            out.append(
                Finding(
                    ("steps", run[0], "id"),
                    f"{len(run)} agents in a chain: each hop adds latency and cost; consider fewer, broader steps",
                    severity="warning",
                )
            )
        run = []
    return out


def enum_labels(typ: str) -> list[str] | None:
    """Re-exported for callers that check enum fields."""
    return enum_values(typ)


def model_aliases(spec: WorkflowSpec, extra: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    """Workflow aliases overlaid by configured ones (the config file wins, so a user can retarget)."""
    merged = dict(spec.models)
    merged.update(extra)
    return merged

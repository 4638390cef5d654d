"""Load-time checks beyond types: keys, templates, routes, reachability, cycles, fan-in; `check` runs
them all, with those of the models (`model_checks`), of the data steps move (`dataflow_checks`) and of
what agents may call (`tool_entry_checks`; delegated sub-agents get every per-step check).

Each check returns problems anchored at a data path; `load.py` turns paths into line:col.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from baton.core import expr
from baton.core.spec.dataflow_checks import availability, chain_warning, static_fallback, step_writes
from baton.core.spec.fan_out import fan_out
from baton.core.spec.findings import Finding, a_type, describe, suggest
from baton.core.spec.graph import (
    PLACEHOLDER_RE,
    DataPath,
    StepInfo,
    iter_steps,
    placeholders,
    successors,
    top_index,
)
from baton.core.spec.model import (
    END,
    AgentStep,
    GateStep,
    LoopStep,
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
from baton.core.spec.model_checks import defaults_model, model_providers, step_models
from baton.core.spec.tool_entry_checks import agent_tools, with_delegates
from baton.core.state import type_ok
from baton.core.structured import enum_values

CALL_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def check(spec: WorkflowSpec, known_aliases: Iterable[str] = (), partial: bool = False) -> list[Finding]:
    """All findings for a type-valid spec. `partial`: the spec is what remained of a file once its type
    errors were set aside, so flow-wide checks (reachability, keys written before they are read) that the
    missing parts would mislead are skipped."""
    out: list[Finding] = []
    infos = list(with_delegates(iter_steps(spec)))
    aliases = set(spec.models) | set(known_aliases)
    out += _unique_ids(infos)
    out += _state_and_inputs(spec)
    for info in infos:
        out += _step_keys(spec, info)
        out += step_models(spec, info, aliases)
        out += _step_templates(info)
        out += _map_label(spec, info)
        out += step_writes(spec, info)
        out += _step_rules(spec, info)
        out += static_fallback(spec, info)
        out += _step_review(info)
        out += _fan_out_cap(spec, info)
        out += agent_tools(info)
    out += defaults_model(spec, aliases)
    out += model_providers(spec, aliases)
    out += _outputs(spec)
    out += _flow(spec, reachability=not partial)
    if not partial:
        out += availability(spec)
        out += chain_warning(spec)
    return out


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
            out.append(
                Finding(
                    ("state", key, "default"),
                    f"the default of '{key}' must be {a_type(decl.type)}, got {describe(decl.default)}",
                )
            )
    for key, inp in spec.inputs.items():
        if key not in spec.state:
            out.append(
                Finding(
                    ("inputs", key),
                    f"input '{key}' is not a declared state key{suggest(key, spec.state)}: "
                    f"declare it under 'state:' with its type",
                    at_key=True,
                )
            )
            continue
        decl = spec.state[key]
        if inp.default is not None and not type_ok(inp.default, decl.type):
            out.append(
                Finding(
                    ("inputs", key, "default"),
                    f"the default of input '{key}' must be {a_type(decl.type)}, got {describe(inp.default)}",
                )
            )
        if inp.choices is not None:
            if decl.type not in ("str", "any"):
                out.append(Finding(("inputs", key, "choices"), f"choices need a str input; '{key}' is {decl.type}"))
            elif not inp.choices:
                out.append(Finding(("inputs", key, "choices"), f"input '{key}' lists no choices"))
            elif inp.default is not None and inp.default not in inp.choices:
                out.append(
                    Finding(
                        ("inputs", key, "default"),
                        f"the default of input '{key}' is not one of its choices ({', '.join(inp.choices)})",
                    )
                )
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
            out.append(
                Finding(
                    (*info.data_path, "over"),
                    f"map '{step.id}' goes over '{step.over}', which is not declared in state"
                    f"{suggest(step.over, spec.state)}",
                )
            )
        elif not (decl.type == "list" or decl.type.startswith("list[")):
            out.append(
                Finding(
                    (*info.data_path, "over"),
                    f"map '{step.id}' goes over '{step.over}', {a_type(decl.type)}: it needs a list",
                )
            )
        if step.item in spec.state or step.item == "index":
            what = "the state key" if step.item in spec.state else "the item number"
            out.append(Finding((*info.data_path, "as"), f"item name '{step.item}' hides {what} of that name"))
    if info.role != "top" and step.next is not None:
        out.append(Finding((*info.data_path, "next"), "'next' only applies to top-level steps"))
    if info.role != "top" and step.reroute is not None:
        out.append(Finding((*info.data_path, "reroute"), "'reroute' only applies to top-level steps"))
    if isinstance(step, RouterStep) and step.next is not None:
        out.append(Finding((*info.data_path, "next"), f"router '{step.id}' goes where its routes say: remove 'next'"))
    if info.role != "top" and isinstance(step, RouterStep):
        out.append(Finding((*info.data_path, "kind"), "a router must be a top-level step"))
    return out


def _outputs(spec: WorkflowSpec) -> list[Finding]:
    """The declared result: state keys, each once; a key no step writes is suspicious (its value would be
    the input or default it started with)."""
    if spec.outputs is None:
        return []
    if not spec.outputs:
        return [
            Finding(
                ("outputs",),
                "outputs lists no keys: name the state keys that make up the result, or leave 'outputs' out "
                "(the result is then what the last step wrote)",
            )
        ]
    out = []
    written = {key for info in iter_steps(spec) for key in info.step.writes}
    seen: set[str] = set()
    for i, key in enumerate(spec.outputs):
        if key not in spec.state:
            out.append(
                Finding(
                    ("outputs", i),
                    f"output '{key}' is not declared in state{suggest(key, spec.state)}",
                )
            )
        elif key in seen:
            out.append(Finding(("outputs", i), f"output '{key}' is listed twice"))
        elif key not in written:
            out.append(
                Finding(
                    ("outputs", i),
                    f"output '{key}' is written by no step: the result would be its starting value",
                    severity="warning",
                )
            )
        seen.add(key)
    return out


def _step_templates(info: StepInfo) -> list[Finding]:
    step = info.step
    allowed = set(step.read_keys) | set(info.variables)
    templates: list[tuple[str, DataPath]] = []
    if isinstance(step, AgentStep | RouterStep):
        templates += [(step.prompt, (*info.data_path, "prompt")), (step.system, (*info.data_path, "system"))]
    elif isinstance(step, SupervisorStep):
        templates += [
            (step.manager.prompt, (*info.data_path, "manager", "prompt")),
            (step.manager.system, (*info.data_path, "manager", "system")),
        ]
    elif isinstance(step, GateStep):
        templates += [(step.message, (*info.data_path, "message"))]
    elif isinstance(step, ToolStep):
        templates += [(v, (*info.data_path, "args", k)) for k, v in step.args.items() if isinstance(v, str)]
    out = []
    for text, path in templates:
        for name in placeholders(text):
            if name not in allowed:
                out.append(
                    Finding(
                        path,
                        f"'{{{name}}}' is used but step '{step.id}' does not read '{name}': "
                        f"add it to reads{suggest(name, allowed)}",
                    )
                )
    if isinstance(step, ToolStep) and not CALL_RE.match(step.call):
        out.append(Finding((*info.data_path, "call"), f"tool call '{step.call}' is not 'package.module:function'"))
    return out


def _map_label(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    """A map's `label` template: balanced braces, and names an item can have."""
    step = info.step
    if not isinstance(step, MapStep) or step.label is None:
        return []
    path = (*info.data_path, "label")
    label = step.label
    if not label.strip():
        return [Finding(path, "'label' is empty: leave it out to name items by their first short text")]
    if "{" in PLACEHOLDER_RE.sub("", label.replace("{{", "").replace("}}", "")).replace("}", "{"):
        return [Finding(path, f"label {label!r} has a stray brace: write {{field}} for a value, {{{{ }}}} for a brace")]
    decl = spec.state.get(step.over)
    if decl is None or decl.type not in ("list[str]", "list[int]", "list[float]"):
        return []
    allowed = {step.item, "index"}
    return [
        Finding(
            path,
            f"'{{{name}}}' cannot name an item of map '{step.id}': its items are {decl.type[5:-1]} values, "
            f"not objects (use {{{step.item}}} or {{index}})",
        )
        for name in placeholders(label)
        if name not in allowed
    ]


def _step_rules(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
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
                        f"rule picks unknown route '{rule.route}'{suggest(rule.route, labels)}; "
                        f"routes: {', '.join(step.routes)}",
                    )
                )
        if step.default is not None and step.default not in labels:
            out.append(
                Finding(
                    (*info.data_path, "default"),
                    f"default route '{step.default}' is not in routes{suggest(step.default, labels)}; "
                    f"routes: {', '.join(step.routes)}",
                )
            )
        if step.model is None and not step.rules:
            out.append(Finding(info.data_path, f"router '{step.id}' needs a model or rules"))
        if step.model is None and step.default is None:
            out.append(
                Finding(
                    info.data_path, f"rules router '{step.id}' needs a 'default' route (taken when no rule matches)"
                )
            )
    if isinstance(step, LoopStep) and step.until is not None:
        out += _expr_finding(step.until, (*info.data_path, "until"), set(spec.state), "until", scope="state")
    return out


def _fan_out_cap(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    """A fan-out that asks for more at once than the run allows model calls in flight: it is capped
    (the run says so too); a warning, since the workflow runs."""
    found = fan_out(spec, info.step)
    if found is None or not found.capped_by or found.asked is None:
        return []
    step = info.step
    return [
        Finding(
            (*info.data_path, "concurrency"),
            f"{step.kind} '{step.id}' asks for concurrency {found.asked}, but at most {found.at_once} model calls "
            f"run at once ({found.capped_by}: {found.at_once}), so it will run {found.at_once} at a time; "
            f"raise {found.capped_by} to run more",
            severity="warning",
        )
    ]


def _step_review(info: StepInfo) -> list[Finding]:
    """A review policy must be able to open a checkpoint on this kind of step (none is silently ignored)."""
    step, review = info.step, info.step.review
    at = (*info.data_path, "review")
    kind = f"{a_type(step.kind)} step"
    asked = [f for f in ("when", "before_tools", "cost_over", "sample") if getattr(review, f) is not None]
    if review.mode in ("always", "on_failure"):
        asked.insert(0, review.mode)
    if not asked:
        return []
    if isinstance(step, ParallelStep | MapStep | LoopStep | SequenceStep):
        return [Finding(at, f"review has no effect on {kind}: set it on the steps inside it")]
    if isinstance(step, GateStep):
        return [Finding(at, "a gate is a checkpoint already: it takes no review policy")]
    if review.mode == "never":
        return [Finding(at, f"review mode 'never' contradicts {', '.join(asked)}")]
    if isinstance(step, ToolStep):
        wrong = [a for a in asked if a not in ("always", "before_tools")]
        if wrong:
            return [Finding(at, f"a tool step takes review: never, always or before_tools, not {', '.join(wrong)}")]
    elif review.before_tools is not None:
        return [Finding(at, f"before_tools applies to tool steps, not to {kind}")]
    return []


def _when_names(step: Step) -> set[str]:
    names = set(step.read_keys)
    if isinstance(step, AgentStep) and step.output:
        names |= set(step.output)
    return names


def _expr_finding(source: str, path: DataPath, names: set[str], what: str, scope: str = "step") -> list[Finding]:
    try:
        parsed = expr.parse(source)
    except expr.ExprError as exc:
        return [Finding(path, str(exc))]
    missing = sorted(parsed.names - names)
    if missing:
        used = ", ".join(map(repr, missing))
        where = (
            "which is not declared in state"
            if scope == "state"
            else "which the step neither reads nor outputs (a rule sees only those)"
        )
        return [Finding(path, f"{what} uses {used}{suggest(missing[0], names)}, {where}")]
    return []


def _flow(spec: WorkflowSpec, reachability: bool = True) -> list[Finding]:
    out = []
    index = top_index(spec)

    def target_ok(target: str, frm: int, path: DataPath, what: str) -> None:
        if target == END:
            return
        if target not in index:
            out.append(
                Finding(
                    path,
                    f"{what} '{target}' is not a top-level step{suggest(target, index)}: name a step id or 'end'",
                )
            )
        elif index[target] <= frm:
            back = "to the same step" if index[target] == frm else "to an earlier step"
            out.append(Finding(path, f"{what} '{target}' goes back {back}: a cycle outside a loop (use a 'loop' step)"))

    for i, step in enumerate(spec.steps):
        if step.next is not None:
            target_ok(step.next, i, ("steps", i, "next"), "next")
        if isinstance(step, RouterStep):
            for label, target in step.routes.items():
                target_ok(target, i, ("steps", i, "routes", label), f"route '{label}' →")
        for j, target in enumerate(step.reroute or []):
            target_ok(target, i, ("steps", i, "reroute", j), "reroute target")
    if out or not reachability:
        return out
    reachable = {spec.steps[0].id}
    for i, step in enumerate(spec.steps):
        if step.id not in reachable:
            continue
        reachable |= set(successors(spec, i))
    for i, step in enumerate(spec.steps):
        if step.id not in reachable:
            out.append(
                Finding(("steps", i, "id"), f"step '{step.id}' is unreachable: no step, route or 'next' leads to it")
            )
    return out


def enum_labels(typ: str) -> list[str] | None:
    """Re-exported for callers that check enum fields."""
    return enum_values(typ)


def model_aliases(spec: WorkflowSpec, extra: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    """Workflow aliases overlaid by configured ones (the config file wins, so a user can retarget)."""
    merged = dict(spec.models)
    merged.update(extra)
    return merged

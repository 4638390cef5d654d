"""Load-time checks beyond types: keys, models, templates, routes, reachability, cycles, fan-in.

Each check returns problems anchored at a data path; `load.py` turns paths into line:col.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from baton.core import expr
from baton.core.spec.fan_out import fan_out
from baton.core.spec.flow import propagate
from baton.core.spec.graph import (
    PLACEHOLDER_RE,
    DataPath,
    StepInfo,
    all_writes,
    guaranteed_writes,
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
from baton.core.state import empty_value, type_ok
from baton.core.structured import JUDGE_FIELDS, OutputInvalid, enum_values, manager_fields, router_fields, validate

CALL_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
CHAIN_WARNING = 4


@dataclass(frozen=True)
class Finding:
    """A problem at a data path; `at_key` points at the key rather than its value."""

    path: DataPath
    message: str
    severity: str = "error"
    at_key: bool = False


def check(spec: WorkflowSpec, known_aliases: Iterable[str] = (), partial: bool = False) -> list[Finding]:
    """All findings for a type-valid spec. `partial`: the spec is what remained of a file once its type
    errors were set aside, so flow-wide checks (reachability, keys written before they are read) that the
    missing parts would mislead are skipped."""
    out: list[Finding] = []
    infos = list(iter_steps(spec))
    aliases = set(spec.models) | set(known_aliases)
    out += _unique_ids(infos)
    out += _state_and_inputs(spec)
    for info in infos:
        out += _step_keys(spec, info)
        out += _step_models(spec, info, aliases)
        out += _step_templates(info)
        out += _map_label(spec, info)
        out += _step_writes(spec, info)
        out += _step_rules(spec, info)
        out += _static_fallback(spec, info)
        out += _step_review(info)
        out += _fan_out_cap(spec, info)
    out += _defaults_model(spec, aliases)
    out += _model_providers(spec, aliases)
    out += _outputs(spec)
    out += _flow(spec, reachability=not partial)
    if not partial:
        out += _availability(spec)
        out += _chain_warning(spec)
    return out


def suggest(name: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when something close exists."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(value: Any) -> str:
    """A value as the person wrote it in YAML, for messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list | dict):
        shown = json.dumps(value, ensure_ascii=False, default=str)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"the {'list' if isinstance(value, list) else 'mapping'} {shown}"
    return f"a {type(value).__name__}"


def a_type(type_name: str) -> str:
    """`a str`, `an int`, `a list[str]`: a declared type with its article."""
    return f"{'an' if type_name[:1] in 'aeiou' else 'a'} {type_name}"


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


def _model_providers(spec: WorkflowSpec, aliases: set[str]) -> list[Finding]:
    """Every alias the workflow declares names `provider/model`: litellm cannot call a bare name."""
    out = []
    for alias, model in spec.models.items():
        problem = provider_problem(alias, model.model, aliases | {"fast", "strong"})
        if problem:
            out.append(Finding(("models", alias, "model"), problem))
    return out


def _defaults_model(spec: WorkflowSpec, aliases: set[str]) -> list[Finding]:
    model = spec.defaults.model
    if model is not None and not _model_ok(model, aliases):
        return [Finding(("defaults", "model"), _unknown_model("model alias", model, aliases))]
    return []


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


def _step_writes(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    step = info.step
    out = []
    composite = isinstance(step, ParallelStep | MapStep | SupervisorStep | LoopStep | SequenceStep)
    if composite and step.writes:
        out.append(
            Finding(
                (*info.data_path, "writes"),
                f"'{step.kind}' steps write through their children: move 'writes' to the step that produces it",
            )
        )
    if isinstance(step, AgentStep):
        out += _agent_writes(spec, info, step)
    if isinstance(step, RouterStep):
        if len(step.writes) > 1:
            out.append(Finding((*info.data_path, "writes"), f"router '{step.id}' writes one key: the route it picks"))
        out += _fits(spec, info, {k: "str" for k in step.writes[:1]})
    if isinstance(step, ParallelStep | SupervisorStep):
        field_name = "branches" if isinstance(step, ParallelStep) else "workers"
        kids = step.branches if isinstance(step, ParallelStep) else step.workers
        owner: dict[str, str] = {}
        for j, child in enumerate(kids):
            for key in sorted(all_writes(child)):
                decl = spec.state.get(key)
                if decl is not None and decl.reducer == "replace" and key in owner and owner[key] != child.id:
                    at: DataPath = (*info.data_path, field_name, j)
                    if key in child.writes:
                        at = (*at, "writes", child.writes.index(key))
                    out.append(
                        Finding(
                            at,
                            f"'{owner[key]}' and '{child.id}' both write '{key}', whose reducer is replace: "
                            f"one value would overwrite the other (give '{key}' reducer append or merge)",
                        )
                    )
                owner.setdefault(key, child.id)
    if isinstance(step, MapStep):
        for key in sorted(all_writes(step.step)):
            decl = spec.state.get(key)
            if decl is not None and decl.reducer == "replace":
                where: DataPath = (*info.data_path, "step")
                if key in step.step.writes:
                    where = (*where, "writes", step.step.writes.index(key))
                out.append(
                    Finding(
                        where,
                        f"every item of map '{step.id}' writes '{key}', whose reducer is replace: only the last "
                        f"would be kept (give '{key}' reducer append or merge)",
                    )
                )
    return out


def _agent_writes(spec: WorkflowSpec, info: StepInfo, step: AgentStep) -> list[Finding]:
    out = []
    judge = info.role == "judge"
    if judge and step.output is not None:
        passed = step.output.get("pass")
        if passed is None:
            out.append(Finding((*info.data_path, "output"), "a judge's output needs a 'pass: bool' field"))
        elif passed != "bool":
            out.append(
                Finding((*info.data_path, "output", "pass"), f"a judge's 'pass' field must be bool, not {passed}")
            )
    if step.output is None and not judge:
        if len(step.writes) > 1:
            out.append(
                Finding((*info.data_path, "writes"), "a text step writes one key; declare 'output' fields for more")
            )
        return out + _fits(spec, info, {k: "str" for k in step.writes[:1]})
    fields = step.output if step.output is not None else JUDGE_FIELDS
    for i, key in enumerate(step.writes):
        if key not in fields and key in spec.state:
            out.append(
                Finding(
                    (*info.data_path, "writes", i),
                    f"writes '{key}' but the output has no field '{key}'{suggest(key, fields)}",
                )
            )
    return out + _fits(spec, info, {k: fields[k] for k in step.writes if k in fields})


def _fits(spec: WorkflowSpec, info: StepInfo, produced: dict[str, str]) -> list[Finding]:
    """Each written key can hold what the step produces (a text reply is str; enums are str)."""
    out = []
    for key, field_type in produced.items():
        decl = spec.state.get(key)
        if decl is None:
            continue
        value_type = _value_type(field_type)
        if not _type_fits(value_type, decl.type, decl.reducer):
            i = info.step.writes.index(key)
            source = "a text reply" if field_type == "str" and not _has_output(info) else f"output field '{key}'"
            out.append(
                Finding(
                    (*info.data_path, "writes", i),
                    f"'{key}' is {a_type(decl.type)} (reducer {decl.reducer}) but step '{info.step.id}' writes "
                    f"{a_type(value_type)} from {source}",
                )
            )
    return out


def _has_output(info: StepInfo) -> bool:
    return isinstance(info.step, AgentStep) and (info.step.output is not None or info.role == "judge")


def _value_type(field_type: str) -> str:
    base = field_type.removesuffix("?")
    if enum_values(base) is not None:
        return "str"
    if base.startswith("list[enum["):
        return "list[str]"
    return base


def _type_fits(value_type: str, state_type: str, reducer: str) -> bool:
    """Can a value of `value_type` be written to a key of `state_type` through `reducer`? Unsure is yes."""
    if "any" in (value_type, state_type) or value_type == state_type:
        return True
    if state_type == "float" and value_type == "int":
        return True
    if state_type == "list" or state_type.startswith("list["):
        if value_type == "list" or (state_type == "list" and value_type.startswith("list[")):
            return True
        if value_type.startswith("list[") and state_type.startswith("list["):
            return _type_fits(value_type[5:-1], state_type[5:-1], "replace")
        if reducer == "append":
            return _type_fits(value_type, state_type[5:-1] if state_type.startswith("list[") else "any", "replace")
    return False


def _static_fallback(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
    """A static fallback result stands in for a model's reply, so it must be a reply the step accepts."""
    step = info.step
    policies: list[tuple[Any, DataPath, dict[str, str] | None]] = []
    if isinstance(step, AgentStep):
        fields = step.output if step.output is not None else (JUDGE_FIELDS if info.role == "judge" else None)
        policies.append((step.fallback_static, (*info.data_path, "fallback_static"), fields))
    elif isinstance(step, RouterStep):
        policies.append((step.fallback_static, (*info.data_path, "fallback_static"), router_fields(list(step.routes))))
    elif isinstance(step, SupervisorStep):
        fields = manager_fields([w.id for w in step.workers])
        policies.append((step.manager.fallback_static, (*info.data_path, "manager", "fallback_static"), fields))
    out = []
    for value, path, fields in policies:
        if value is None:
            continue
        if fields is not None:
            try:
                validate(value, fields)
            except OutputInvalid as exc:
                shape = ", ".join(f"{k}: {t}" for k, t in fields.items())
                out.append(
                    Finding(path, f"fallback_static is not a valid reply of step '{step.id}' ({{{shape}}}): {exc}")
                )
        elif step.writes and step.writes[0] in spec.state:
            key = step.writes[0]
            decl = spec.state[key]
            fits = type_ok(value, decl.type) or (decl.reducer == "append" and type_ok([value], decl.type))
            if not fits:
                out.append(
                    Finding(
                        path,
                        f"fallback_static is written to '{key}', {a_type(decl.type)}, but it is {describe(value)}",
                    )
                )
    return out


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
        if step.over in spec.state and step.over not in have:
            out.append(
                Finding(
                    (*path, "over"),
                    f"map '{step.id}' goes over '{step.over}', which is not written on every path before it "
                    "(write it earlier, make it an input, or give it a default)",
                )
            )
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
        if isinstance(step, LoopStep) and step.until is not None:
            out += _until_available(spec, step, path, running)
    return out


def _until_available(spec: WorkflowSpec, step: LoopStep, path: DataPath, have: set[str]) -> list[Finding]:
    assert step.until is not None
    unset = sorted(n for n in expr.names_in(step.until) if n in spec.state and n not in have)
    if not unset:
        return []
    return [
        Finding(
            (*path, "until"),
            f"until uses {', '.join(map(repr, unset))}, which may have no value when the loop checks it "
            "(write it in the loop's steps, earlier, or give it a default)",
        )
    ]


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

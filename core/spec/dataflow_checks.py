"""Checks of the data a workflow moves: what steps write fits the state, keys are written before they
are read, fallbacks fit their types."""

from __future__ import annotations

from typing import Any

from baton.core import expr
from baton.core.spec.findings import Finding, a_type, describe, suggest
from baton.core.spec.flow import propagate
from baton.core.spec.graph import (
    DataPath,
    StepInfo,
    all_writes,
    guaranteed_writes,
)
from baton.core.spec.model import (
    AgentStep,
    LoopStep,
    MapStep,
    ParallelStep,
    RouterStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)
from baton.core.state import empty_value, type_ok
from baton.core.structured import JUDGE_FIELDS, OutputInvalid, enum_values, manager_fields, router_fields, validate

CHAIN_WARNING = 4  # agents in a chain before validate says each hop adds latency and cost


def step_writes(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
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


def static_fallback(spec: WorkflowSpec, info: StepInfo) -> list[Finding]:
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


def initial_keys(spec: WorkflowSpec) -> set[str]:
    """Keys that have a value before any step runs: inputs, defaults and empty accumulators."""
    keys = set(spec.inputs)
    for key, decl in spec.state.items():
        if decl.default is not None or empty_value(decl.type, decl.reducer) is not None:
            keys.add(key)
    return keys


def availability(spec: WorkflowSpec) -> list[Finding]:
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


def chain_warning(spec: WorkflowSpec) -> list[Finding]:
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

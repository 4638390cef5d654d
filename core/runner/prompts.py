"""Building what a step sends: only the keys it reads, checked against their declared limits first.

Layer 1 of error handling lives here: a missing read or a value over its size limit stops the step
before any token is spent (or is truncated, when the key's schema says `on_overflow: truncate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from baton.core.runner.context import StepFailure
from baton.core.spec.graph import PLACEHOLDER_RE
from baton.core.spec.model import StateKey, StepBase, WorkflowSpec
from baton.core.state import CHARS_PER_TOKEN, estimate_tokens, render_value, size_chars
from baton.core.structured import enum_values


@dataclass(frozen=True)
class Inputs:
    """The values a step may see (after limits), and template variables such as a map item."""

    values: dict[str, Any]
    variables: dict[str, Any]

    @property
    def chars(self) -> int:
        """Total size of what the step receives."""
        return sum(size_chars(v) for v in self.values.values()) + sum(size_chars(v) for v in self.variables.values())

    def env(self) -> dict[str, Any]:
        """Names usable in templates and rules."""
        return {**self.values, **self.variables}


def gather(
    step: StepBase, state: Mapping[str, Any], schema: Mapping[str, StateKey], variables: dict[str, Any]
) -> Inputs:
    """Collect the step's reads from `state`, enforcing presence and size limits."""
    values: dict[str, Any] = {}
    optional = step.optional_reads
    for key in step.read_keys:
        value = state.get(key)
        if value is None:
            if key in optional:
                values[key] = None
                continue
            raise StepFailure(f"input '{key}' is missing", "input_invalid")
        decl = schema.get(key)
        if decl is not None:
            value = _within_limits(key, value, decl)
        values[key] = value
    return Inputs(values, dict(variables))


def _within_limits(key: str, value: Any, decl: StateKey) -> Any:
    problems = []
    if decl.max_chars is not None and isinstance(value, str) and len(value) > decl.max_chars:
        problems.append(("chars", len(value), decl.max_chars))
    if decl.max_items is not None and isinstance(value, list) and len(value) > decl.max_items:
        problems.append(("items", len(value), decl.max_items))
    if decl.max_tokens is not None and estimate_tokens(value) > decl.max_tokens:
        problems.append(("tokens (estimated)", estimate_tokens(value), decl.max_tokens))
    if not problems:
        return value
    if decl.on_overflow == "truncate":
        return _truncate(value, decl)
    what, have, limit = problems[0]
    raise StepFailure(f"input '{key}' has {have} {what}, over its limit of {limit}", "input_invalid")


def _truncate(value: Any, decl: StateKey) -> Any:
    if isinstance(value, list):
        if decl.max_items is not None:
            value = value[: decl.max_items]
        if decl.max_tokens is not None:
            out, used = [], 0
            for item in value:
                cost = estimate_tokens(item)
                if used + cost > decl.max_tokens:
                    break
                out.append(item)
                used += cost
            value = out
        return value
    if isinstance(value, str):
        limit = len(value)
        if decl.max_chars is not None:
            limit = min(limit, decl.max_chars)
        if decl.max_tokens is not None:
            limit = min(limit, decl.max_tokens * CHARS_PER_TOKEN)
        return value[:limit] + ("…" if limit < len(value) else "")
    return value


def render(template: str, env: Mapping[str, Any]) -> str:
    """Substitute `{name}` from `env` (strings raw, lists as bullets, the rest as JSON); `{{ }}` are braces."""
    rendered = PLACEHOLDER_RE.sub(lambda m: render_value(env.get(m.group(1))), template)
    return rendered.replace("{{", "{").replace("}}", "}")


def context_block(inputs: Inputs, template: str) -> str:
    """Reads the template does not mention, appended so the step still receives them."""
    used = set(PLACEHOLDER_RE.findall(template))
    extra = [(k, v) for k, v in inputs.values.items() if k not in used and v is not None]
    if not extra:
        return ""
    parts = [f"### {key}\n{render_value(value)}" for key, value in extra]
    return "\n\n## Inputs\n\n" + "\n\n".join(parts)


def user_prompt(template: str, inputs: Inputs, fallback: str = "") -> str:
    """The user message: the rendered template plus any unmentioned reads."""
    body = render(template, inputs.env()) if template else fallback
    return (body + context_block(inputs, template)).strip()


def with_feedback(prompt: str, rounds: list[tuple[Any, str]]) -> str:
    """A re-run's prompt: the original, then each rejected answer and the reviewer's feedback."""
    if not rounds:
        return prompt
    parts = [prompt]
    for i, (previous, feedback) in enumerate(rounds, 1):
        shown = previous if isinstance(previous, str) else render_value(previous)
        parts.append(f"## Your previous answer (round {i})\n\n{shown}")
        parts.append(f"## Reviewer feedback (round {i})\n\n{feedback}")
    parts.append("Revise your answer to address the feedback.")
    return "\n\n".join(parts)


LESSONS_HEADING = "## Lessons from earlier reviews"


def with_lessons(system: str, lessons: list[str]) -> str:
    """A learning step's system prompt: its own, then what reviewers asked for before, one item each (the
    text is the reviewers' own, passed as plain text)."""
    if not lessons:
        return system
    items = "\n".join("- " + " ".join(text.split()) for text in lessons)
    intro = "Reviewers rejected earlier answers of this step and said:"
    return (system.rstrip() + "\n\n" if system.strip() else "") + f"{LESSONS_HEADING}\n\n{intro}\n{items}"


def json_instructions(fields: Mapping[str, str]) -> str:
    """A plain-language description of the JSON reply, for providers that ignore response_format."""
    described = []
    for name, typ in fields.items():
        values = enum_values(typ)
        kind = f"one of {', '.join(repr(v) for v in values)}" if values else typ.removesuffix("?")
        described.append(f'"{name}": {kind}' + (" (optional)" if typ.endswith("?") else ""))
    return "Reply with only a JSON object with these fields: " + "; ".join(described) + "."


def messages(system: str, user: str) -> list[dict[str, Any]]:
    """Chat messages for a call."""
    out: list[dict[str, Any]] = []
    if system.strip():
        out.append({"role": "system", "content": system.strip()})
    out.append({"role": "user", "content": user})
    return out


def placeholder_names(template: str) -> list[str]:
    """Names used in a template."""
    return PLACEHOLDER_RE.findall(template)


def route_lines(spec: WorkflowSpec, routes: Mapping[str, str]) -> str:
    """A router's routes as its model sees them: `- label: target — the target's description`."""
    described = {step.id: step.description for step in spec.steps}
    return "\n".join(
        f"- {label}: {target} — {described[target]}" if described.get(target) else f"- {label}: {target}"
        for label, target in routes.items()
    )


def render_arg(value: Any, env: Mapping[str, Any]) -> Any:
    """A tool argument from a workflow: `"{key}"` alone passes the value with its type; any other string
    is a template."""
    if isinstance(value, str):
        names = placeholder_names(value)
        if len(names) == 1 and value.strip() == "{" + names[0] + "}":
            return env.get(names[0])
        return render(value, dict(env))
    return value

"""A shadow run: a step's recorded request sent again to a candidate model, so a person can judge the two
answers side by side before choosing it. Nothing is recorded in any session; the call is made live and costs
what the candidate charges."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from baton.core.llm.types import LLMRequest
from baton.core.spec.model import ModelSpec

REQUEST_FIELDS = ("max_tokens", "temperature", "response_format", "tools", "tool_choice", "parallel_tool_calls")


def shadow_request(recorded: Mapping[str, Any], alias: str, model: ModelSpec) -> LLMRequest:
    """The recorded request (`LLMRequest.record()`) as sent to `alias`, which points at `model`."""
    messages = recorded.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("the recorded call has no messages to send again")
    values: dict[str, Any] = {k: recorded[k] for k in REQUEST_FIELDS if recorded.get(k) is not None}
    if model.temperature is not None and "temperature" not in values:
        values["temperature"] = model.temperature
    return LLMRequest(
        model=model.model,
        alias=alias,
        messages=list(messages),
        api_base=model.api_base,
        api_key_env=model.api_key_env,
        params=dict(model.params),
        mock=model.mock.model_dump() if model.mock is not None else None,
        **values,
    )


def side_by_side(left: tuple[str, str], right: tuple[str, str], width: int = 100) -> list[str]:
    """Two answers in two columns, each under its title, wrapped to fit `width`."""
    column = max(20, (width - 3) // 2)

    def lines(text: str) -> list[str]:
        out: list[str] = []
        for paragraph in text.splitlines() or [""]:
            out.extend(textwrap.wrap(paragraph, column) or [""])
        return out

    a, b = lines(left[1]), lines(right[1])
    rows = [f"{left[0][:column]:<{column}} │ {right[0][:column]}", f"{'─' * column}─┼─{'─' * column}"]
    for i in range(max(len(a), len(b))):
        rows.append(f"{(a[i] if i < len(a) else ''):<{column}} │ {b[i] if i < len(b) else ''}".rstrip())
    return rows

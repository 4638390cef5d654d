"""A `judge` rule: a model decides whether a state value meets the case's criteria (only in a live
replay — a judge is a model call, and a plain replay makes none).

The rule is `{"judge": "criteria"}` or `{"judge": {"prompt": "criteria", "model": "alias"}}` (the
workflow's default model when no alias is given). The judge answers `{"pass", "feedback"}` as the
workflow's own judges do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from baton.core.llm.types import LLMClient, LLMRequest, ModelError
from baton.core.runner.prompts import json_instructions, messages
from baton.core.runner.shape import JUDGE_SYSTEM, model_for
from baton.core.spec.model import ModelSpec
from baton.core.structured import JUDGE_FIELDS, OutputInvalid, json_schema, parse_reply

JUDGE_MAX_TOKENS = 400
JUDGE_WAIT_S = 120.0


def judge_request(key: str, value: Any, rule: Any, models: Mapping[str, ModelSpec], default: str) -> LLMRequest:
    """The judge's request for one state value (`ValueError` for a rule or model it cannot use)."""
    criteria: Any
    if isinstance(rule, str):
        criteria, alias = rule, default
    elif isinstance(rule, dict):
        criteria, alias = rule.get("prompt"), str(rule.get("model") or default)
    else:
        raise ValueError(f"the judge rule of {key!r} is its criteria as text, or {{\"prompt\", \"model\"}}")
    if not isinstance(criteria, str) or not criteria.strip():
        raise ValueError(f"the judge rule of {key!r} needs its criteria as text")
    spec = model_for(models, str(alias))
    if spec is None:
        raise ValueError(f"the judge rule of {key!r} names an unknown model {alias!r}")
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    system = JUDGE_SYSTEM + "\n\n" + json_instructions(JUDGE_FIELDS)
    user = f"The bar: {criteria}\n\nThe work (the value of '{key}'):\n{shown}"
    return LLMRequest(
        model=spec.model,
        alias=str(alias),
        messages=messages(system, user),
        max_tokens=JUDGE_MAX_TOKENS,
        temperature=spec.temperature,
        response_format=json_schema(JUDGE_FIELDS, "judge"),
        api_base=spec.api_base,
        api_key_env=spec.api_key_env,
        params=dict(spec.params),
        mock=spec.mock.model_dump() if spec.mock is not None else None,
    )


async def judged(
    key: str, value: Any, rule: Any, llm: LLMClient, models: Mapping[str, ModelSpec], default: str
) -> str:
    """The finding for a judged value ('' when the judge passes it)."""
    try:
        request = judge_request(key, value, rule, models, default)
        result = await llm.stream(request, lambda _: None, first_token_s=JUDGE_WAIT_S, idle_s=JUDGE_WAIT_S)
        verdict = parse_reply(result.text, JUDGE_FIELDS)
    except (ValueError, OutputInvalid) as exc:
        return f"state {key}: the judge could not decide: {exc}"
    except ModelError as exc:
        return f"state {key}: the judge's call failed: {exc}"
    if verdict.get("pass") is True:
        return ""
    return f"state {key}: the judge says it misses the bar: {verdict.get('feedback', '')}"

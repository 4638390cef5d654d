"""`ScriptedLLM` answers with tool calls: a script returns a `Reply` with calls, the result carries them, and
the token estimates count their names and arguments (in the answer and in later prompts)."""

from __future__ import annotations

from baton.core.llm.scripted import Reply, ScriptedLLM
from baton.core.llm.types import LLMRequest, ModelToolCall

SEARCH = ModelToolCall("call_1", "search", '{"q":"heat pumps in cold climates"}')


def request(messages: list[dict[str, object]]) -> LLMRequest:
    return LLMRequest(model="m", alias="m", messages=messages, tools=[{"type": "function", "function": {"name": "s"}}])


async def test_a_reply_with_tool_calls() -> None:
    def script(req: LLMRequest) -> Reply:
        if any(m.get("role") == "tool" for m in req.messages):
            return Reply("done")
        return Reply("Searching.", tool_calls=(SEARCH,))

    llm = ScriptedLLM(script, prices={"m": (1.0, 10.0)})
    shown: list[str] = []
    user = [{"role": "user", "content": "hi"}]
    first = await llm.stream(request(user), shown.append, first_token_s=1, idle_s=1)
    assert (first.text, first.tool_calls) == ("Searching.", (SEARCH,))
    assert "".join(shown) == "Searching."
    text_only = len("Searching.")
    assert first.tokens_out == -(-(text_only + len("search") + len(SEARCH.arguments)) // 4)
    assert first.cost_usd == first.tokens_in * 1.0 + first.tokens_out * 10.0

    later = [
        *user,
        {"role": "assistant", "content": None, "tool_calls": [SEARCH.message()]},
        {"role": "tool", "tool_call_id": SEARCH.id, "content": "3 notes"},
    ]
    second = await llm.stream(request(later), shown.append, first_token_s=1, idle_s=1)
    assert (second.text, second.tool_calls) == ("done", ())
    assert llm.count_tokens(request(later)) == 1 + -(-(len("search") + len(SEARCH.arguments)) // 4) + 2
    assert [r.messages for r in llm.requests] == [user, later]


async def test_a_call_only_reply_and_plain_text_scripts_are_unchanged() -> None:
    llm = ScriptedLLM(lambda _: Reply(tool_calls=(SEARCH,)))
    result = await llm.stream(request([{"role": "user", "content": "x"}]), lambda _: None, first_token_s=1, idle_s=1)
    assert (result.text, result.tool_calls, result.cost_usd) == ("", (SEARCH,), None)
    plain = ScriptedLLM(lambda _: "an answer")
    answer = await plain.stream(request([{"role": "user", "content": "x"}]), lambda _: None, first_token_s=1, idle_s=1)
    assert (answer.text, answer.tool_calls, answer.tokens_out) == ("an answer", (), 3)

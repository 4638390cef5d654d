"""A missing API key is an authentication error that names the variable to set, never a retried "HTTP 500";
the gateway knows (from litellm) which variable each provider reads. Real litellm, no network: a call
without a key fails before anything is sent."""

from __future__ import annotations

import pytest

from baton.core import events as ev
from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.types import LLMRequest, ModelError
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from tests.helpers import run, workflow

NO_KEYS = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GEMINI_API_KEY")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*NO_KEYS, "GOOGLE_API_KEY", "TEAM_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def llm() -> LiteLLMGateway:
    gateway = LiteLLMGateway()
    await gateway.warm_up()
    return gateway


def ask(model: str, alias: str = "fast", **kwargs: object) -> LLMRequest:
    return LLMRequest(model=model, alias=alias, messages=[{"role": "user", "content": "hi"}], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),  # litellm reports this one as a 500
        ("anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY"),
        ("gemini/gemini-2.0-flash", "GEMINI_API_KEY"),  # and this one as a connection error
    ],
)
async def test_a_call_without_a_key_is_an_auth_error_naming_the_variable(
    no_keys: None, llm: LiteLLMGateway, model: str, variable: str
) -> None:
    with pytest.raises(ModelError) as caught:
        await llm.stream(ask(model), lambda _: None, first_token_s=10, idle_s=10)
    error = caught.value
    assert error.category == "auth" and not error.retryable
    assert error.message.startswith(f"missing API key for {model}: set ")
    assert variable in error.message and "'fast'" in error.message
    assert "HTTP 500" not in str(error)


async def test_which_keys_are_missing(no_keys: None, llm: LiteLLMGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    assert llm.missing_keys("openai/gpt-4o-mini") == ["OPENAI_API_KEY"]
    assert llm.missing_keys("mock/fast") == []
    assert llm.missing_keys("ollama/llama3.1") == []  # a local server needs no key
    assert llm.missing_keys("openai/gpt-4o", api_key_env="TEAM_KEY") == ["TEAM_KEY"]
    monkeypatch.setenv("TEAM_KEY", "sk-test-not-a-real-key")
    assert llm.missing_keys("openai/gpt-4o", api_key_env="TEAM_KEY") == []
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    assert llm.missing_keys("openai/gpt-4o-mini") == []


FLOW = """
name: keyless
state:
  q: {type: str}
  a: {type: str}
inputs:
  q: {default: "hello"}
models:
  fast: {model: openai/gpt-4o-mini}
steps:
  - {id: answer, kind: agent, model: fast, reads: [q], writes: [a], prompt: "{q}"}
"""


async def test_a_run_without_the_key_fails_once_not_after_retries(no_keys: None, store: Store) -> None:
    status, view = await run(store, workflow(FLOW), options=RunOptions(auto="approve"))
    assert status == "failed"
    assert view.steps["answer"].attempts == 1 and view.steps["answer"].retries == 0
    assert "set OPENAI_API_KEY" in view.error
    events = [e.event for e in await store.events(view.session_id)]
    assert not [e for e in events if isinstance(e, ev.RetryScheduled)]

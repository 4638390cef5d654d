"""The gateway against a real OpenAI-compatible server over HTTP: every fault becomes the right category,
exactly one request goes out (litellm's and the OpenAI client's own retries are off), stalls are abandoned
by the watchdogs within their limit + 1 s, and the key never appears in what the gateway reports."""

from __future__ import annotations

import time

import pytest

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.types import LLMRequest, ModelError
from tests.fakes.harness import CANARY, KEY_ENV, PRICES, canary, captured_logs, fake, gateway
from tests.fakes.openai_server import FakeOpenAI, Fault

__all__ = ["canary", "fake", "gateway"]

WATCHDOG_S = 1.0


def request(server: FakeOpenAI, model: str = "openai/fake-primary", max_tokens: int = 100) -> LLMRequest:
    return LLMRequest(
        model=model,
        alias="primary",
        messages=[{"role": "user", "content": "Write about grid storage"}],
        max_tokens=max_tokens,
        api_base=server.base_url,
        api_key_env=KEY_ENV,
    )


async def attempt(llm: LiteLLMGateway, server: FakeOpenAI, fault: Fault | None) -> tuple[object, list[str], float]:
    if fault is not None:
        server.fail("fake-primary", fault)
    shown: list[str] = []
    started = time.monotonic()
    try:
        outcome: object = await llm.stream(request(server), shown.append, first_token_s=WATCHDOG_S, idle_s=WATCHDOG_S)
    except ModelError as error:
        outcome = error
    return outcome, shown, time.monotonic() - started


async def test_a_clean_stream_has_usage_and_the_registered_price(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.prompt_tokens = 40
    result, shown, _ = await attempt(gateway, fake, None)
    assert not isinstance(result, ModelError)
    assert result.text == "".join(fake.words) == "".join(shown)  # type: ignore[attr-defined]
    assert (result.tokens_in, result.tokens_out) == (40, len(fake.words))  # type: ignore[attr-defined]
    pin, pout, _ = PRICES["openai/fake-primary"]
    assert result.cost_usd == pytest.approx(40 * pin + len(fake.words) * pout, rel=1e-12)  # type: ignore[attr-defined]
    assert fake.count("fake-primary") == 1
    assert fake.seen[0].authorization == f"Bearer {CANARY}"
    assert fake.seen[0].stream and fake.seen[0].max_tokens == 100


CASES = [
    # fault, category, retry_after, partial text expected, HTTP label in the message
    (Fault("rate_limit", retry_after=7), "rate_limit", 7.0, False, "HTTP 429"),
    (Fault("server_error"), "server", None, False, "HTTP 500"),
    (Fault("unavailable"), "server", None, False, "HTTP 503"),
    (Fault("reset"), "connection", None, False, "Connection error"),
    (Fault("auth"), "auth", None, False, "HTTP 401"),
    (Fault("context_window"), "context_window", None, False, "HTTP 400"),
    (Fault("content_policy"), "content_policy", None, False, "HTTP 400"),
    (Fault("not_found"), "not_found", None, False, "HTTP 404"),
    (Fault("bad_request"), "bad_request", None, False, "HTTP 400"),
    (Fault("disconnect_after", after=3), "cut", None, True, "stream broke"),
    (Fault("malformed", after=3), "cut", None, True, "stream broke"),
    (Fault("truncate_after", after=3), "cut", None, True, "without a finish reason"),
]


@pytest.mark.parametrize(
    ("fault", "category", "retry_after", "partial", "label"), CASES, ids=[c[0].kind for c in CASES]
)
async def test_each_fault_is_classified_once_and_redacted(
    fake: FakeOpenAI,
    gateway: LiteLLMGateway,
    canary: str,
    fault: Fault,
    category: str,
    retry_after: float | None,
    partial: bool,
    label: str,
) -> None:
    with captured_logs() as logs:
        error, shown, _ = await attempt(gateway, fake, fault)
    assert isinstance(error, ModelError), error
    assert error.category == category
    assert error.retry_after == retry_after
    assert label in error.message
    assert fake.count("fake-primary") == 1, "the client retried on its own"
    if partial:
        assert error.partial == "".join(fake.words[: fault.after]) == "".join(shown)
    else:
        assert error.partial == "" and shown == []
    assert CANARY not in error.message and CANARY not in str(error)
    assert not [line for line in logs if CANARY in line]


async def test_the_401_body_echoing_the_key_is_redacted(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    error, _, _ = await attempt(gateway, fake, Fault("auth"))
    assert isinstance(error, ModelError)
    assert "Incorrect API key provided: [redacted]" in error.message


@pytest.mark.parametrize(
    ("fault", "partial_chunks"),
    [(Fault("stall_headers"), 0), (Fault("stall_first"), 0), (Fault("stall_after", after=4), 4)],
    ids=["stall_headers", "stall_first", "stall_after_4"],
)
async def test_stalls_are_abandoned_within_the_watchdog_plus_one_second(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str, fault: Fault, partial_chunks: int
) -> None:
    error, shown, elapsed = await attempt(gateway, fake, fault)
    assert isinstance(error, ModelError)
    assert error.category == "stall"
    assert WATCHDOG_S <= elapsed < WATCHDOG_S + 1.0, elapsed
    assert error.partial == "".join(fake.words[:partial_chunks]) == "".join(shown)
    expected = "stream idle for 1s" if partial_chunks else "no first token within 1s"
    assert error.message.startswith(expected)
    assert fake.count("fake-primary") == 1


async def test_the_idle_watchdog_rearms_on_every_chunk(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    """A slow but steady stream (0.3 s between chunks, 12 chunks ≈ 3.6 s) outlives a 1 s idle watchdog."""
    fake.chunk_interval_s = 0.3
    result, shown, elapsed = await attempt(gateway, fake, None)
    assert not isinstance(result, ModelError), result
    assert elapsed > 2 * WATCHDOG_S
    assert "".join(shown) == "".join(fake.words)


async def test_the_total_limit_ends_a_stream_that_never_idles(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.chunk_interval_s = 0.2
    shown: list[str] = []
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        await gateway.stream(request(fake), shown.append, first_token_s=5, idle_s=5, total_s=1.0)
    assert caught.value.category == "stall"
    assert "total time limit of 1s" in caught.value.message
    assert time.monotonic() - started < 2.0
    assert caught.value.partial == "".join(shown) != ""


async def test_forecast_counts_with_litellm_and_prices_the_max_output(
    fake: FakeOpenAI, gateway: LiteLLMGateway
) -> None:
    req = request(fake, max_tokens=300)
    tokens, rng = gateway.forecast(req)
    assert tokens == gateway.count_tokens(req) > 0
    pin, pout, _ = PRICES["openai/fake-primary"]
    assert rng == pytest.approx((tokens * pin, tokens * pin + 300 * pout))
    unpriced = request(fake, model="openai/fake-unpriced")
    assert gateway.forecast(unpriced)[1] is None
    assert gateway.cost("openai/fake-unpriced", 10, 10) is None


async def test_a_non_streamed_answer_from_the_fake_server(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """The fake server also answers plain (non-streamed) completions through litellm's OpenAI client."""
    response = await gateway.lib().acompletion(
        model="openai/fake-primary",
        messages=[{"role": "user", "content": "hi"}],
        api_base=fake.base_url,
        api_key=CANARY,
        max_retries=0,
    )
    assert response.choices[0].message.content == "".join(fake.words)
    assert response.usage.prompt_tokens == fake.prompt_tokens
    assert fake.seen[-1].stream is False


async def test_a_key_litellm_reads_from_the_environment_is_redacted_too(
    fake: FakeOpenAI, gateway: LiteLLMGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `api_key_env`: litellm takes OPENAI_API_KEY itself; it was exported after baton started."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    fake.fail("fake-primary", Fault("auth"))
    req = LLMRequest(
        model="openai/fake-primary",
        alias="primary",
        messages=[{"role": "user", "content": "hi"}],
        api_base=fake.base_url,
    )
    with pytest.raises(ModelError) as caught:
        await gateway.stream(req, lambda text: None, first_token_s=5, idle_s=5)
    assert fake.seen[-1].authorization == f"Bearer {CANARY}"
    assert caught.value.category == "auth" and CANARY not in str(caught.value)


async def test_reasoning_chunks_keep_the_watchdogs_quiet(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """A reasoning model streams its thinking (no answer text) for longer than the first-token limit; every
    chunk shows the stream is alive, so it is not abandoned, and the thinking is not part of the answer."""
    fake.reasoning_chunks, fake.reasoning_interval_s = 4, 0.4
    result, shown, elapsed = await attempt(gateway, fake, None)
    assert not isinstance(result, ModelError), result
    assert elapsed > 1.5 * WATCHDOG_S
    assert "".join(shown) == result.text == "".join(fake.words)  # type: ignore[attr-defined]

"""A small OpenAI-compatible chat server on 127.0.0.1 that fails on command.

Raw asyncio streams rather than a web framework, so every byte is under the test's control: a stall before
the headers, a reset connection (RST), a chunked SSE body cut after k events, a malformed event. Faults are
queued per model (`server.fail("m", Fault("rate_limit", retry_after=2))`) or posted to the control endpoint
`POST /_control/faults` by another process; every chat request is counted (`server.count("m")`).

Answers are the default `words`, queued per model (`server.reply`, `server.answer`, `POST /_control/answers`),
or computed per request by `server.responder` from what the request holds (so a resumed conversation gets
the answer its turn calls for). An answer may call tools: they stream in OpenAI's chunk format — the id and
name on the first delta of each index, the arguments' JSON text split over several deltas, calls one after
the other or interleaved, and `finish_reason: "tool_calls"`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.fakes.openai_answers import Answer, ToolCall

__all__ = ["Answer", "FakeOpenAI", "Fault", "Seen", "ToolCall"]

FAULT_KINDS = (
    "ok",  # no fault: a normal answer (to script a sequence)
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "unavailable",  # 503
    "reset",  # TCP reset right after the request was read
    "stall_headers",  # nothing at all for `stall_s`
    "stall_first",  # 200 + headers, then nothing for `stall_s`
    "stall_after",  # `after` chunks, then nothing for `stall_s`
    "disconnect_after",  # `after` chunks, then the connection closes mid-body
    "malformed",  # `after` chunks, then an event that is not JSON (the stream goes on after it)
    "truncate_after",  # `after` chunks, then a clean end of body with no finish reason and no [DONE]
    "auth",  # 401 whose body echoes the key the client sent
    "context_window",  # 400 context_length_exceeded
    "content_policy",  # 400 content_policy_violation
    "not_found",  # 404 model_not_found
    "bad_request",  # 400 invalid_request_error
)


@dataclass(frozen=True)
class Fault:
    """One scripted failure for the next request of a model."""

    kind: str
    after: int = 0
    stall_s: float = 3600.0
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")


@dataclass
class Seen:
    """What the server saw of one chat request."""

    model: str
    stream: bool
    messages: list[dict[str, Any]]
    max_tokens: int | None
    fault: str
    at: float
    authorization: str = ""
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None


@dataclass
class FakeOpenAI:
    """The server. `words` is the answer (one SSE chunk per word); `prompt_tokens` the usage it reports."""

    words: list[str] = field(default_factory=lambda: [f"w{i} " for i in range(12)])
    prompt_tokens: int = 50
    chunk_interval_s: float = 0.0
    reasoning_chunks: int = 0
    reasoning_interval_s: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    ollama_models: list[str] | None = None
    """When set, `GET /api/tags` answers as an Ollama server with these models pulled."""
    seen: list[Seen] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    replies: dict[str, list[Answer]] = field(default_factory=dict)
    responder: Callable[[Seen], Answer | None] | None = None
    """Computes the answer to a request that has no queued answer (None: the default `words`)."""
    _faults: dict[str, deque[Fault]] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeOpenAI:
        """Listen on a random port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def base_url(self) -> str:
        """The `api_base` to give the client."""
        return f"http://{self.host}:{self.port}/v1"

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- scripting -------------------------------------------------------------------------------

    def fail(self, model: str, *faults: Fault | str) -> None:
        """Queue faults for the next requests of `model` (`*` = any model); one per request, in order."""
        queue = self._faults.setdefault(model, deque())
        for fault in faults:
            queue.append(Fault(fault) if isinstance(fault, str) else fault)

    def reply(
        self, model: str, *texts: str, prompt_tokens: int | None = None, completion_tokens: int | None = None
    ) -> None:
        """Queue whole answers for the next successful requests of `model` (word-split into chunks), with
        the usage to report for them when given (else `prompt_tokens` and one token per chunk)."""
        for text in texts:
            self.answer(model, Answer(text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))

    def answer(self, model: str, *answers: Answer) -> None:
        """Queue answers (text, tool calls or both) for the next successful requests of `model`."""
        self.replies.setdefault(model, []).extend(answers)

    def reply_tools(self, model: str, *calls: ToolCall, text: str = "", interleave: bool = False) -> None:
        """Queue one answer that calls `calls` (after `text`, when given)."""
        self.answer(model, Answer(text, tuple(calls), interleave=interleave))

    def count(self, model: str | None = None) -> int:
        """Chat requests received (for one model, or all)."""
        return self.counts[model] if model is not None else sum(self.counts.values())

    def pending_faults(self, model: str) -> int:
        """Faults still queued for `model`."""
        return len(self._faults.get(model, ()))

    def _next_fault(self, model: str) -> Fault | None:
        for key in (model, "*"):
            queue = self._faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def _answer(self, model: str, seen: Seen) -> Answer:
        queued = self.replies.get(model)
        if queued:
            return queued.pop(0)
        computed = self.responder(seen) if self.responder is not None else None
        return computed if computed is not None else Answer(chunks=tuple(self.words))

    # --- HTTP ------------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                keep = await self._handle(request, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        path = request.path.split("?", 1)[0]
        if path == "/_control/faults" and request.method == "POST":
            body = json.loads(request.body or b"{}")
            for item in body.get("faults", []):
                self.fail(str(item.get("model", "*")), Fault(**{k: v for k, v in item.items() if k != "model"}))
            return await _json(writer, 200, {"queued": True})
        if path == "/_control/answers" and request.method == "POST":
            body = json.loads(request.body or b"{}")
            for item in body.get("answers", []):
                self.answer(str(item.get("model", "")), Answer.from_json(item))
            return await _json(writer, 200, {"queued": True})
        if path == "/_control/stats":
            return await _json(writer, 200, {"counts": dict(self.counts), "seen": [asdict(s) for s in self.seen]})
        if request.method == "GET" and path.endswith("/models"):
            listed = [{"id": m, "object": "model"} for m in self.counts]
            return await _json(writer, 200, {"object": "list", "data": listed})
        if request.method == "GET" and path == "/api/tags" and self.ollama_models is not None:
            return await _json(writer, 200, {"models": [{"name": name} for name in self.ollama_models]})
        if not path.endswith("/chat/completions") or request.method != "POST":
            return await _json(writer, 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
        payload = json.loads(request.body or b"{}")
        model = str(payload.get("model", ""))
        stream = bool(payload.get("stream"))
        fault = self._next_fault(model)
        if fault is not None and fault.kind == "ok":
            fault = None
        self.counts[model] += 1
        seen = Seen(
            model,
            stream,
            list(payload.get("messages") or []),
            payload.get("max_tokens"),
            fault.kind if fault else "",
            time.monotonic(),
            request.headers.get("authorization", ""),
            payload.get("tools"),
            payload.get("tool_choice"),
            payload.get("parallel_tool_calls"),
        )
        self.seen.append(seen)
        if fault is not None:
            handled = await self._fault_before_body(fault, request, writer, model)
            if handled is not None:
                return handled
        answer = self._answer(model, seen)
        deltas = answer.deltas()
        prompt_tokens = self.prompt_tokens if answer.prompt_tokens is None else answer.prompt_tokens
        completion = len(deltas) if answer.completion_tokens is None else answer.completion_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        if not stream:
            return await _json(writer, 200, _completion(model, answer, usage))
        return await self._stream(writer, model, deltas, usage, fault, payload, _finish(answer))

    async def _fault_before_body(
        self, fault: Fault, request: _Request, writer: asyncio.StreamWriter, model: str
    ) -> bool | None:
        kind = fault.kind
        if kind == "rate_limit":
            headers = {"retry-after": _num(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit"}}
            return await _json(writer, 429, body, headers)
        if kind == "server_error":
            return await _json(writer, 500, {"error": {"message": "The server had an error", "type": "server_error"}})
        if kind == "unavailable":
            return await _json(writer, 503, {"error": {"message": "The engine is overloaded", "type": "server_error"}})
        if kind == "reset":
            _reset(writer)
            return False
        if kind == "stall_headers":
            await asyncio.sleep(fault.stall_s)
            return False
        if kind == "auth":
            key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            body = {
                "error": {
                    "message": f"Incorrect API key provided: {key}. You can find your API key at the dashboard.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
            return await _json(writer, 401, body)
        if kind == "context_window":
            body = {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens. However, your messages "
                    "resulted in 9100 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            }
            return await _json(writer, 400, body)
        if kind == "content_policy":
            body = {
                "error": {
                    "message": "Your request was rejected as a result of our safety system. content_policy_violation",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                }
            }
            return await _json(writer, 400, body)
        if kind == "not_found":
            body = {
                "error": {
                    "message": f"The model `{model}` does not exist",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                }
            }
            return await _json(writer, 404, body)
        if kind == "bad_request":
            body = {"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error"}}
            return await _json(writer, 400, body)
        return None

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        model: str,
        deltas: list[dict[str, Any]],
        usage: dict[str, int],
        fault: Fault | None,
        payload: dict[str, Any],
        finish: str,
    ) -> bool:
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        kind = fault.kind if fault else ""
        if kind == "stall_first":
            await asyncio.sleep(fault.stall_s if fault else 0)
            return False
        cid = f"chatcmpl-{int(time.time() * 1000)}"
        await _event(writer, _chunk(cid, model, {"role": "assistant", "content": ""}))
        for i in range(self.reasoning_chunks):  # a reasoning model thinks before it answers
            await asyncio.sleep(self.reasoning_interval_s)
            await _event(writer, _chunk(cid, model, {"reasoning_content": f"thought {i} "}))
        for i, delta in enumerate(deltas):
            if fault is not None and i == fault.after:
                if kind == "stall_after":
                    await asyncio.sleep(fault.stall_s)
                    return False
                if kind == "disconnect_after":
                    writer.transport.close()
                    return False
                if kind == "malformed":
                    await _raw_event(writer, 'data: {"id": "x", "choices": [{"delta": {"content": \n\n')
                if kind == "truncate_after":
                    await _end_chunked(writer)
                    return True
            if self.chunk_interval_s:
                await asyncio.sleep(self.chunk_interval_s)
            await _event(writer, _chunk(cid, model, delta))
        await _event(writer, _chunk(cid, model, {}, finish=finish))
        if (payload.get("stream_options") or {}).get("include_usage"):
            await _event(writer, {**_chunk(cid, model, {}), "choices": [], "usage": usage})
        await _raw_event(writer, "data: [DONE]\n\n")
        await _end_chunked(writer)
        return True


# --- wire helpers ----------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


async def _json(
    writer: asyncio.StreamWriter, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> bool:
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}.get(
        status, "Error"
    )
    lines = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(data)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    await writer.drain()
    return True


async def _event(writer: asyncio.StreamWriter, data: dict[str, Any]) -> None:
    await _raw_event(writer, f"data: {json.dumps(data)}\n\n")


async def _raw_event(writer: asyncio.StreamWriter, text: str) -> None:
    raw = text.encode()
    writer.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
    await writer.drain()


async def _end_chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST (ECONNRESET), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(model: str, answer: Answer, usage: dict[str, int]) -> dict[str, Any]:
    text = "".join(answer.text_chunks())
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if answer.tool_calls else "")}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    return {
        "id": f"chatcmpl-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(answer)}],
        "usage": usage,
    }


def _finish(answer: Answer) -> str:
    return "tool_calls" if answer.tool_calls else "stop"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

"""No secret at rest: canary keys in the environment never reach the database, its sidecars, the runner
log, `--json` output, `baton show`, `baton sessions` or an export — checked by grepping every byte.

The run uses the real command and runner process. One model alias reads its key from OPENAI_API_KEY;
another fails authentication with litellm's own message, which quotes the key it was given (as real
providers do), so the key travels through the error path into events, projections and logs. The
canary is also passed as an input, as a careless user might.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import baton_env
from tests.fakes.harness import fake, gateway

__all__ = ["fake", "gateway"]

FLOW = """\
name: leaky
state:
  note: {type: str}
  answer: {type: str}
  verdict: {type: str}
inputs:
  note: {}
models:
  keyed: {model: mock/fast, api_key_env: OPENAI_API_KEY, mock: {min_tokens: 5, max_tokens: 10}}
  refused:
    model: mock/strong
    api_key_env: ANTHROPIC_API_KEY
    mock: {faults: [{calls: [1, 2, 3, 4, 5, 6, 7, 8], error: auth}]}
steps:
  - {id: answer, kind: agent, model: keyed, reads: [note], writes: [answer], prompt: "Reply to: {note}"}
  - {id: verdict, kind: agent, model: refused, reads: [answer], writes: [verdict], prompt: "Judge: {answer}"}
"""


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_canary_keys_never_reach_any_byte_baton_writes(tmp_path: Path, private_home: Path) -> None:
    openai = "sk-canary-" + secrets.token_hex(12)
    anthropic = "sk-ant-canary" + secrets.token_hex(12)
    plain = "canary" + secrets.token_hex(10)  # no key shape: only its variable's name marks it secret
    canaries = [openai, anthropic, plain]
    work = tmp_path / "work"
    work.mkdir()
    flow = work / "leaky.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    db = private_home / "xdg_data_home" / "baton" / "baton.db"
    env = baton_env(private_home, db, OPENAI_API_KEY=openai, ANTHROPIC_API_KEY=anthropic, MY_SERVICE_TOKEN=plain)

    def baton(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", *args], cwd=work, env=env, capture_output=True, timeout=120
        )

    assert baton("sessions").returncode == 0  # creates the database
    keeper = sqlite3.connect(str(db))  # held open so the -wal and -shm files survive the runs
    try:
        keeper.execute("SELECT COUNT(*) FROM sessions").fetchall()
        note = f"my keys are {openai} and {plain}, keep them safe"
        run = baton("run", str(flow), "--auto", "approve", "--json", "--input", f"note={note}")
        assert run.returncode == 1, run.stderr.decode()  # the auth failure ends the session as failed
        lines = [json.loads(line) for line in run.stdout.decode().splitlines()]
        sid = lines[0]["session_id"]
        failed = [x for x in lines if x["kind"] == "SessionFailed"]
        assert failed and "Incorrect API key provided: [redacted]" in failed[0]["error"], failed
        assert any(x["kind"] == "LLMCallFinished" and x["status"] == "ok" for x in lines), "the keyed call ran"

        outputs = [run.stdout, run.stderr]
        for args in (
            ("show", sid, "--json"),
            ("show", sid, "--events"),
            ("show", sid),
            ("sessions", "--json"),
            ("export", sid, "--content"),
            ("resume", sid, "--auto", "approve", "--json"),
        ):
            out = baton(*args)
            assert out.returncode in (0, 1), (args, out.stderr.decode())
            outputs += [out.stdout, out.stderr]
        assert any(b"[redacted]" in o for o in outputs)

        sidecars = [Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(p.exists() for p in sidecars)
        files = _files(private_home, tmp_path)
        assert db in files and any(p.suffix == ".log" for p in files), files
        blobs = {str(p): p.read_bytes() for p in files}
    finally:
        keeper.close()

    dump = sqlite3.connect(str(db))
    try:
        text = "\n".join(str(row) for row in dump.iterdump())
    finally:
        dump.close()
    assert "[redacted]" in text and "Incorrect API key provided" in text
    blobs["<sql dump>"] = text.encode()
    for i, out in enumerate(outputs):
        blobs[f"<output {i}>"] = out
    for canary in canaries:
        for encoded in {canary.encode(), canary.encode("utf-16-le"), json.dumps(canary).encode()}:
            leaks = [name for name, blob in blobs.items() if encoded in blob]
            assert not leaks, f"{canary[:10]}… found in {leaks}"


KEYED_TEXT = (
    "header Bearer abcdefghijklmnop, then sk-proj-ABCDEFGHIJKLMNOP, then the env value zz-canary-123456789, "
    "a Google key AIza" + "x" * 25 + " and http://user:hunter22@host/x — the end"
)
FRAGMENTS = ("abcdefgh", "ABCDEFGH", "canary-1", "xxxxxxxx", "hunter22")


@pytest.mark.parametrize("seed", range(40))
def test_streamed_text_never_shows_part_of_a_secret(seed: int) -> None:
    """Cut anywhere into chunks, the stream shows no fragment of a key at any moment, and what it shows in
    the end is exactly the redacted whole."""
    import random

    from baton.core.secrets import Redactor, StreamRedactor

    redactor = Redactor({"OPENAI_API_KEY": "zz-canary-123456789"})
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(KEYED_TEXT)), rng.randint(1, 60)))
    chunks = [KEYED_TEXT[a:b] for a, b in zip([0, *cuts], [*cuts, len(KEYED_TEXT)], strict=True)]
    stream = StreamRedactor(redactor)
    shown = ""
    for chunk in chunks:
        shown += stream.feed(chunk)
        assert not [f for f in FRAGMENTS if f in shown], shown
    shown += stream.flush()
    assert shown == redactor(KEYED_TEXT)
    assert shown.count("[redacted]") == 5


def test_prose_streams_through_without_delay() -> None:
    from baton.core.secrets import Redactor, StreamRedactor

    stream = StreamRedactor(Redactor({"OPENAI_API_KEY": "zz-canary-123456789"}))
    chunks = ["Because the ", "grid needs ", "storage, ", "batteries ", "help."]
    assert [stream.feed(c) for c in chunks] == chunks
    assert stream.flush() == ""


async def test_a_key_the_model_echoes_never_reaches_a_viewer(
    store: Any, fake: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider's answer repeats a key from the environment: the live text an in-process viewer gets,
    the finished text and the state all show it redacted."""
    from baton.core.runner import RunOptions
    from baton.core.secrets import default_redactor
    from tests.fakes.harness import fake_flow, start

    key = "zz-" + secrets.token_hex(12)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    default_redactor().refresh()
    try:
        fake.reply("fake-primary", f"the key is {key} and more text")
        run = await start(store, fake_flow(fake), gateway, RunOptions(auto="approve"))
        assert await run.finish() == "completed"
        shown = "".join(t.text for t in run.recorder.live)
        assert shown == "the key is [redacted] and more text", shown
        assert (await run.session.view()).state["answer"] == "the key is [redacted] and more text"
    finally:
        monkeypatch.delenv("OPENAI_API_KEY")
        default_redactor().refresh()

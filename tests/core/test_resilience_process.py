"""The real `baton run` command, its background runner process and the fake provider: a retried 429, a 401
whose body echoes the key (answered by the fallback model), and the key in no byte of the database, the
runner's log, or what the command printed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from baton.sessions.store import Store
from tests.conftest import ROOT, baton_env
from tests.fakes.harness import CANARY, KEY_ENV, db_bytes, fake
from tests.fakes.openai_server import FakeOpenAI

__all__ = ["fake"]

FLOW = """\
name: over-http
state:
  topic: {{type: str}}
  notes: {{type: str}}
  answer: {{type: str}}
inputs:
  topic: {{default: "grid storage"}}
models:
  primary: {{model: openai/fake-primary, api_base: "{base}", api_key_env: {env}}}
  backup: {{model: openai/fake-backup, api_base: "{base}", api_key_env: {env}}}
steps:
  - id: research
    kind: agent
    model: primary
    reads: [topic]
    writes: [notes]
    prompt: "Research {{topic}}"
    retry: {{attempts: 3, backoff_s: [0.2], jitter: false}}
  - id: write
    kind: agent
    model: primary
    reads: [notes]
    writes: [answer]
    prompt: "Write from {{notes}}"
    fallback: [backup]
"""


async def test_a_background_runner_keeps_the_key_out_of_every_byte(
    fake: FakeOpenAI, tmp_path: Path, private_home: Path
) -> None:
    async with aiohttp.ClientSession() as http:
        queued = await http.post(
            f"http://127.0.0.1:{fake.port}/_control/faults",
            json={
                "faults": [
                    {"model": "fake-primary", "kind": "rate_limit", "retry_after": 0.3},
                    {"model": "fake-primary", "kind": "ok"},
                    {"model": "fake-primary", "kind": "auth"},
                ]
            },
        )
        assert queued.status == 200
        stats = await (await http.get(f"http://127.0.0.1:{fake.port}/_control/stats")).json()
        assert stats["counts"] == {}
    assert fake.pending_faults("fake-primary") == 3
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.format(base=fake.base_url, env=KEY_ENV), encoding="utf-8")
    db = tmp_path / "baton.db"
    env = baton_env(private_home, db, **{KEY_ENV: CANARY})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "baton.tui.cli",
        "run",
        str(flow),
        "--auto",
        "approve",
        "--json",
        cwd=str(ROOT),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 110)
    assert process.returncode == 5, err.decode()  # completed degraded
    assert (fake.count("fake-primary"), fake.count("fake-backup")) == (3, 1)
    kinds = [json.loads(line)["kind"] for line in out.decode().splitlines() if line.startswith("{")]
    assert "RetryScheduled" in kinds and "FallbackUsed" in kinds
    logs = list((private_home / "xdg_state_home").rglob("*.log"))
    assert logs, "the runner wrote its log"
    for blob in [out, err, db_bytes(db), *[p.read_bytes() for p in logs]]:
        assert CANARY.encode() not in blob
    assert b"Incorrect API key provided: [redacted]" in out, "the 401 was seen, and redacted"
    store = await Store.open(db)
    try:
        (row,) = await store.sessions()
        view = await store.view(row.id)
    finally:
        await store.close()
    assert view.status == "degraded"
    assert view.steps["research"].timeline_text == "call ✗ 429 → retry 1 (wait 0.3s, Retry-After) ✓"
    assert view.steps["write"].timeline_text == "call ✗ 401 → fallback backup ✓"

"""What baton writes as JSON, through the real `baton` command with its output piped: model text that
carries terminal controls comes out escaped (and reads back the same), the session id has one name, and
an export holding prompts and answers is private to its owner."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv, write_flow

pytestmark = pytest.mark.e2e

HOSTILE = (
    "csi \x9b31m rlo \u202eevil lri \u2066x\u2069 rlm \u200f alm \u061c ls \u2028 ps \u2029 nel \x85 del \x7f"
    " osc \x1b]52;c;aGk=\x07 end"
)
NAME = "brief \u202e\x9b"
UNSAFE = set(
    "".join(chr(c) for c in range(0x20) if chr(c) != "\n")
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
FLOW = f"""
name: {json.dumps(NAME)}
state:
  topic: {{type: str}}
  draft: {{type: str}}
inputs:
  topic: {{default: "tides"}}
models:
  fast:
    model: mock/fast
    mock:
      latency_s: 0
      tokens_per_s: 0
      replies:
        - match: "."
          text: {json.dumps(HOSTILE)}
steps:
  - {{id: draft, kind: agent, model: fast, reads: [topic], writes: [draft], prompt: "About {{topic}}"}}
"""


def _baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*baton_argv(), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False
    )


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value, JSON text inside strings opened too."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return [value, *_strings(json.loads(value))]
            except ValueError:
                pass
        return [value]
    return []


def _safe_json(out: bytes, lines: bool) -> list[Any]:
    text = out.decode("utf-8")
    assert not UNSAFE & set(text), sorted(hex(ord(c)) for c in UNSAFE & set(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()] if lines else [json.loads(text)]


@pytest.fixture
def session(tmp_path: Path, private_home: Path) -> tuple[dict[str, str], Path, str, bytes]:
    flow = write_flow(tmp_path, FLOW)
    env = baton_env(private_home, tmp_path / "baton.db")
    done = _baton(env, "run", str(flow), "--auto", "approve", "--json")
    assert done.returncode == 0, done.stderr.decode()
    first = json.loads(done.stdout.decode().splitlines()[0])
    return env, flow, first["session_id"], done.stdout


def test_every_json_writer_escapes_terminal_controls_and_reads_back_the_same(
    session: tuple[dict[str, str], Path, str, bytes],
) -> None:
    env, flow, sid, run_out = session
    outputs = {
        "run --json": (run_out, True, True),
        "show --json": (_baton(env, "show", sid, "--json").stdout, False, True),
        "show --events": (_baton(env, "show", sid, "--events").stdout, True, True),
        "export --content": (_baton(env, "export", sid, "--content").stdout, True, True),
        "sessions --json": (_baton(env, "sessions", "--json").stdout, True, False),
        "estimate --json": (_baton(env, "estimate", str(flow), "--json").stdout, False, False),
    }
    has_result = _baton(env, "result", "--help").returncode == 0
    if has_result:
        outputs["result --json"] = (_baton(env, "result", sid, "--json").stdout, False, True)
    for name, (out, lines, has_text) in outputs.items():
        assert out.strip(), f"{name} wrote nothing"
        strings = _strings(_safe_json(out, lines))
        if has_text:
            assert any(HOSTILE in s for s in strings), f"{name}: the model's text does not read back as it was"
    listed = _safe_json(outputs["sessions --json"][0], True)
    assert [x["workflow"] for x in listed] == [NAME]


def test_the_session_id_has_one_name(session: tuple[dict[str, str], Path, str, bytes]) -> None:
    env, _, sid, run_out = session
    events = _safe_json(run_out, True)
    assert {e["session_id"] for e in events} == {sid} and not any("session" in e for e in events)
    listed = _safe_json(_baton(env, "sessions", "--json").stdout, True)
    assert [(x["session_id"], "id" in x) for x in listed] == [(sid, False)]
    shown = _safe_json(_baton(env, "show", sid, "--json").stdout, False)[0]
    assert shown["session_id"] == sid and "session" not in shown and "id" not in shown
    logged = _safe_json(_baton(env, "show", sid, "--events").stdout, True)
    assert {e["session_id"] for e in logged} == {sid}


def test_an_export_with_content_is_private(tmp_path: Path, session: tuple[dict[str, str], Path, str, bytes]) -> None:
    env, _, sid, _ = session
    private = tmp_path / "with-content.jsonl"
    assert _baton(env, "export", sid, "--content", "-o", str(private)).returncode == 0
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert any(HOSTILE in s for s in _strings(_safe_json(private.read_bytes(), True)))
    shared = tmp_path / "shared.jsonl"
    shared.write_text("old\n", encoding="utf-8")
    shared.chmod(0o644)
    assert _baton(env, "export", sid, "--content", "-o", str(shared)).returncode == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600, "content written over a readable file makes it private"
    assert "old" not in shared.read_text(encoding="utf-8")
    plain = tmp_path / "spans.jsonl"
    assert _baton(env, "export", sid, "-o", str(plain)).returncode == 0
    assert not any(HOSTILE in s for s in _strings(_safe_json(plain.read_bytes(), True))), "no content unless asked"
    refused = _baton(env, "export", sid, "-o", str(tmp_path / "missing" / "x.jsonl"))
    assert refused.returncode == 2 and refused.stderr.decode().strip().endswith(
        "cannot write: No such file or directory"
    )

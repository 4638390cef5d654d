"""`baton doctor` and the key check before a run, through the real command, with no network: a local fake
OpenAI-compatible server (which can also answer as Ollama) stands in for the providers."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from baton.sessions.store import Store
from baton.tui.doctor import check_terminal
from tests.conftest import ROOT, baton_env
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.e2e

FLOW = """\
name: keyed
state:
  q: {type: str}
  a: {type: str}
inputs:
  q: {default: "hello"}
steps:
  - {id: answer, kind: agent, model: team, reads: [q], writes: [a], prompt: "{q}"}
"""


class Doctor:
    """A private home whose config points `team` at the fake server (key in DOCTOR_TEAM_KEY) and `local`
    at the same server speaking as Ollama."""

    def __init__(self, home: Path, work: Path, server: FakeOpenAI) -> None:
        self.db = home / "store" / "baton.db"
        self.env = {**baton_env(home, self.db), "PYTHONPATH": str(ROOT), "DOCTOR_TEAM_KEY": "sk-doctor-test"}
        for name in ("OPENAI_API_KEY", "OLLAMA_API_BASE", "TMUX"):
            self.env.pop(name, None)
        self.work = work
        config = Path(self.env["XDG_CONFIG_HOME"]) / "baton" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        root = server.base_url.removesuffix("/v1")
        config.write_text(
            "[models]\n"
            f'team = {{ model = "openai/fake-team", api_base = "{server.base_url}", '
            'api_key_env = "DOCTOR_TEAM_KEY" }\n'
            f'local = {{ model = "ollama/llama3.1", api_base = "{root}" }}\n',
            encoding="utf-8",
        )
        (work / "keyed.yaml").write_text(FLOW, encoding="utf-8")

    async def __call__(self, *args: str, **env: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "baton",
            *args,
            cwd=self.work,
            env={**self.env, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def server() -> FakeOpenAI:
    fake = FakeOpenAI(ollama_models=["llama3.1:latest", "qwen2.5:7b"])
    await fake.start()
    yield fake  # type: ignore[misc]
    await fake.stop()


@pytest.fixture
def doctor(private_home: Path, tmp_path: Path, server: FakeOpenAI) -> Doctor:
    work = tmp_path / "work"
    work.mkdir()
    return Doctor(private_home, work, server)


async def test_all_well_is_exit_0(doctor: Doctor, server: FakeOpenAI) -> None:
    store = await Store.open(doctor.db)
    await store.close()
    code, out, err = await doctor("doctor")
    assert code == 0, out + err
    assert "team → openai/fake-team (used by config, keyed.yaml): DOCTOR_TEAM_KEY is set" in out
    assert "local → ollama/llama3.1 (used by config): a local server, no key needed" in out
    assert f"team → {server.base_url}: answering (HTTP 200 for /v1/models)" in out
    assert f"local → {server.base_url.removesuffix('/v1')}: Ollama is up with 2 models" in out
    assert f"{doctor.db}: 0 sessions" in out and "schema" in out
    assert "not a terminal here" in out
    assert out.rstrip().endswith("all good")


async def test_each_problem_says_what_to_do_and_is_exit_1(doctor: Doctor, server: FakeOpenAI) -> None:
    doctor.db.parent.mkdir(parents=True)
    doctor.db.write_bytes(os.urandom(4096))
    before = doctor.db.read_bytes()
    server.ollama_models = ["qwen2.5:7b"]
    code, out, _ = await doctor("doctor", DOCTOR_TEAM_KEY="")
    assert code == 1
    assert "✗ team → openai/fake-team (used by config, keyed.yaml): DOCTOR_TEAM_KEY is not set" in out
    assert "→ export DOCTOR_TEAM_KEY=… in the shell that runs baton" in out
    assert "Ollama is up, but llama3.1 is not pulled" in out and "→ ollama pull llama3.1" in out
    assert f"✗ {doctor.db}: not a baton store (file is not a database)" in out
    assert doctor.db.read_bytes() == before, "doctor changes nothing"
    assert out.rstrip().endswith("3 problems found")

    await server.stop()
    code, out, _ = await doctor("doctor")
    assert code == 1
    assert f"nothing answers at 127.0.0.1:{server.port} (connection refused)" in out
    assert "→ start it (`ollama serve`), or point OLLAMA_API_BASE at where it runs" in out


async def test_a_run_checks_keys_before_creating_a_session(doctor: Doctor) -> None:
    code, out, err = await doctor("run", "keyed.yaml", "--auto", "approve", "--json", DOCTOR_TEAM_KEY="")
    assert code == 2 and out == ""
    assert err.startswith("model 'team' (openai/fake-team) needs DOCTOR_TEAM_KEY, which is not set: export")
    assert "Traceback" not in err
    assert not doctor.db.exists(), "no session (not even a store) was created"
    code, _, err = await doctor("run", "keyed.yaml", "--auto", "approve", "--json", "--model", "team=gpt-4o")
    assert code == 2 and "a model is provider/name (openai/gpt-4o" in err
    # with the key set the same run goes through to the fake server
    code, out, err = await doctor("run", "keyed.yaml", "--auto", "approve", "--json")
    assert code == 0, err
    assert '"kind": "SessionCompleted"' in out


def test_the_terminal_as_the_full_screen_ui_sees_it() -> None:
    good = check_terminal({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, True, (120, 40))
    assert [c.text for c in good] == ["TERM=xterm-256color, 120×40, true colour"] and all(c.ok for c in good)
    dumb = check_terminal({"TERM": "dumb"}, True, (70, 20))
    assert [(c.ok, c.advice) for c in dumb] == [(False, False), (True, True)]
    assert dumb[0].fix == "export TERM=xterm-256color" and "at least 80×24" in dumb[1].fix
    tmux = check_terminal({"TERM": "xterm-256color", "TMUX": "/tmp/tmux-0/x,1,0"}, True, (100, 30))
    assert any(c.advice and "tmux-256color" in c.fix for c in tmux)
    assert check_terminal({}, False, (0, 0))[0].info


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_terminal_in_tmux(private_home: Path, tmp_path: Path) -> None:
    """In a real terminal (tmux, a private server): size and TERM as seen, and tmux's slow esc named."""
    socket = f"baton-doctor-{uuid.uuid4().hex[:8]}"
    env = {**baton_env(private_home, tmp_path / "baton.db"), "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    done = tmp_path / "exit"

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], env=env, capture_output=True, text=True, timeout=30, check=True
        ).stdout

    # The pane waits for the signal `go`, sent once tmux's escape-time is set.
    line = f"tmux wait-for go; cd {tmp_path} && {sys.executable} -m baton doctor; echo $? > {done}; sleep 30"
    try:
        tmux("new-session", "-d", "-s", "d", "-x", "100", "-y", "40", "sh", "-c", line)
        tmux("set-option", "-s", "escape-time", "500")
        tmux("wait-for", "-S", "go")
        deadline = time.monotonic() + 60
        while not (done.exists() and done.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        screen = tmux("capture-pane", "-p", "-t", "d")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)
    assert done.read_text().strip() == "0", screen  # a suggestion, not a problem
    assert "100×40" in screen and "inside tmux" in screen, screen
    assert "! tmux waits 500 ms after esc" in screen and "set -sg escape-time 10" in screen
    assert "all good (1 suggestion)" in screen

"""`baton test` end to end with the real `baton` command: run the demo (a rejection with feedback, then
an approval), save it as a case, edit a prompt in the workflow copy it ran → the case diverges at the
edited step; revert → it passes with no model call. And the pytest plugin on a temporary project."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env
from tests.e2e.hitl_e2e import baton_argv

pytestmark = pytest.mark.slow

FLOWS = ROOT / "flows"
PROMPT = "Write a one-page brief on {topic}"
EDITED = "Write a two-page brief on {topic}"
DECISIONS = {
    "write": [{"decision": "reject", "feedback": "Add a section on costs."}, "approve"],
    "publish": "approve",
}


def baton(project: Path, home: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*baton_argv(), *args],
        cwd=project,
        env=baton_env(home, db),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home of this module's `baton` runs (one demo run serves every test here)."""
    return tmp_path_factory.mktemp("cases-home")


@pytest.fixture(scope="module")
def db(home: Path) -> Path:
    """The session store of this module's runs."""
    return home / "baton.db"


@pytest.fixture(scope="module")
def project(home: Path, db: Path) -> Path:
    """A project with a copy of the demo (no streaming delay), run once and saved as `baton-tests/brief.jsonl`.
    Tests that edit it put it back."""
    project = home / "project"
    flows = project / "flows"
    flows.mkdir(parents=True)
    text = (FLOWS / "demo.yaml").read_text(encoding="utf-8")
    text = re.sub(r"latency_s:\s*[\d.]+", "latency_s: 0", re.sub(r"tokens_per_s:\s*[\d.]+", "tokens_per_s: 0", text))
    (flows / "demo.yaml").write_text(text, encoding="utf-8")
    shutil.copy(FLOWS / "baton_tools.py", flows)
    shutil.copytree(FLOWS / "notes", flows / "notes")
    (project / "d.json").write_text(json.dumps(DECISIONS), encoding="utf-8")
    ran = baton(
        project, home, db, "run", "flows/demo.yaml", "-i", "topic=complex: solid state batteries",
        "--decisions", "d.json", "--line",
    )
    assert ran.returncode == 0, ran.stderr
    listed = baton(project, home, db, "sessions", "--json")
    sessions = [json.loads(line)["session_id"] for line in listed.stdout.splitlines()]
    assert len(sessions) == 1, listed.stdout + listed.stderr + ran.stdout[-800:]
    session = sessions[0]
    saved = baton(project, home, db, "test", "save", session, "--name", "brief")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.startswith("saved baton-tests/brief.jsonl: 9 answers, 2 tool results, 3 decisions")
    again = baton(project, home, db, "test", "save", session, "--name", "brief")
    assert again.returncode == 2 and "a case of that name exists" in again.stderr
    return project


def test_an_edited_prompt_diverges_at_its_step_and_the_reverted_workflow_passes_with_no_model_call(
    project: Path, home: Path, db: Path
) -> None:
    case = project / "baton-tests" / "brief.jsonl"
    header = json.loads(case.read_text(encoding="utf-8").splitlines()[0])
    assert header["workflow"] == "../flows/demo.yaml" and header["baton_case"] == 1
    flow = project / "flows" / "demo.yaml"
    original = flow.read_text(encoding="utf-8")
    flow.write_text(original.replace(PROMPT, EDITED), encoding="utf-8")
    diverged = baton(project, home, db, "test")
    assert diverged.returncode == 1, diverged.stderr
    assert diverged.stdout.startswith("DIVERGED brief at write · baton-tests/brief.jsonl")
    assert "-Write a one-page brief on complex: solid state batteries" in diverged.stdout
    assert "+Write a two-page brief on complex: solid state batteries" in diverged.stdout
    assert diverged.stdout.rstrip().endswith("1 case: 0 passed, 1 diverged · 0 model calls")

    flow.write_text(original, encoding="utf-8")
    reports = home / "reports"
    shutil.rmtree(reports)
    passed = baton(project, home, db, "test", "--json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    (result,) = [json.loads(line) for line in passed.stdout.splitlines()]
    assert result["verdict"] == "pass" and result["model_calls"] == 0 and result["served"] == 9
    assert not reports.exists(), "the publisher's side effect ran again"
    listed = baton(project, home, db, "sessions", "--json")
    assert len(listed.stdout.splitlines()) == 1, "a replay starts no session"


def test_bad_input_is_one_line_and_exit_2(project: Path, home: Path, db: Path) -> None:
    broken = project / "baton-tests" / "broken.jsonl"
    broken.write_text('{"baton_case": 1, "workflow": "../flows/demo.yaml"}\n{"record": "answer", "hash"\n', "utf-8")
    done = baton(project, home, db, "test")
    assert done.returncode == 2
    assert done.stderr.strip() == "baton-tests/broken.jsonl:2:28: not JSON: Expecting ':' delimiter"
    broken.unlink()
    missing = baton(project, home, db, "test", "nowhere")
    assert (missing.returncode, missing.stderr.strip()) == (2, "nowhere: no such file or folder")
    running = baton(project, home, db, "test", "save", "zzzz")
    assert running.returncode == 2 and "Traceback" not in running.stderr


def test_the_pytest_plugin_runs_cases_with_the_same_report(project: Path, home: Path, db: Path) -> None:
    (project / "tests").mkdir()
    shutil.copy(project / "baton-tests" / "brief.jsonl", project / "tests" / "not-a-case-folder.jsonl")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]  # the plugin loads as installed
    run = subprocess.run(argv, cwd=project, env=baton_env(home, db), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    flow = project / "flows" / "demo.yaml"
    original = flow.read_text(encoding="utf-8")
    flow.write_text(original.replace(PROMPT, EDITED), encoding="utf-8")
    try:
        run = subprocess.run(argv, cwd=project, env=baton_env(home, db), capture_output=True, text=True)
    finally:
        flow.write_text(original, encoding="utf-8")
    assert run.returncode == 1
    assert "DIVERGED brief at write" in run.stdout and "+Write a two-page brief on" in run.stdout
    assert "FAILED baton-tests/brief.jsonl::brief" in run.stdout


def test_the_plugin_is_registered_for_pytest() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {"baton": "baton.tui.pytest_plugin"}

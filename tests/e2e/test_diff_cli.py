"""`baton diff` through the real command: the demo run, forked with a changed input by `baton fork`,
compared with its parent — the first divergence at the fork step, the report, `--json`'s shape, and the
exit codes of `diff(1)` (0 same, 1 different, 2 bad input)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env

pytestmark = pytest.mark.e2e


class Baton:
    """`baton …` with a private home and database, in a folder holding an instant copy of the demo."""

    def __init__(self, home: Path, db: Path, cwd: Path) -> None:
        self.env = baton_env(home, db, BATON_LINE="1", BATON_PUBLISH_FILE=str(cwd / "published.jsonl"))
        self.cwd = cwd

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", *args],
            cwd=self.cwd,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def baton(private_home: Path, db_path: Path, tmp_path: Path) -> Baton:
    work = tmp_path / "work"
    work.mkdir()
    demo = (ROOT / "flows" / "demo.yaml").read_text(encoding="utf-8")
    demo = re.sub(r"latency_s:\s*[\d.]+", "latency_s: 0", re.sub(r"tokens_per_s:\s*[\d.]+", "tokens_per_s: 0", demo))
    (work / "demo.yaml").write_text(demo, encoding="utf-8")
    (work / "baton_tools.py").symlink_to(ROOT / "flows" / "baton_tools.py")  # the demo's tools and notes
    return Baton(private_home, db_path, work)


def session_id(out: subprocess.CompletedProcess[str]) -> str:
    """The id `--detach`/`--no-run` printed on stdout."""
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_diff_of_a_fork_and_its_parent(baton: Baton) -> None:
    ran = baton("run", "./demo.yaml", "--auto", "approve", "--line")
    assert ran.returncode == 0, ran.stderr
    parent = json.loads(baton("sessions", "--json").stdout.splitlines()[0])["session_id"]
    fork = baton("fork", parent, "--at", "write", "--set", "topic=tidal power", "--auto", "approve", "--line")
    assert fork.returncode == 0, fork.stderr
    child = next(line for line in fork.stderr.splitlines() if "forked" in line).rsplit("-> ", 1)[1].strip()

    text = baton("diff", parent, child)
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"A {parent} · research-brief · completed")
    assert lines[1].startswith(f"B {child} · research-brief · completed") and f"fork of {parent} at write" in lines[1]
    assert lines[2] == "first divergence: write — the model request differs; the output differs"
    rows = {line.split()[1]: line for line in lines if re.match(r"^[ ▶][=≠AB] ", line)}
    assert rows["write"].startswith("▶≠") and rows["triage"].startswith(" =")
    assert rows["publish"].startswith(" ≠") and rows["research/papers"].startswith(" =")
    assert "+Write a one-page brief on tidal power" in text.stdout
    assert "decision B: approve save_report by auto" in text.stdout
    assert re.search(r"~ topic: the economics of solid-state batteries for grid storage \| tidal power", text.stdout)

    as_json = baton("diff", parent, child, "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert set(data) == {"a", "b", "same", "first_divergence", "steps", "state"}
    assert data["first_divergence"]["step"] == "write" and data["same"] is False
    assert (data["a"]["session_id"], data["b"]["session_id"], data["b"]["parent"]) == (parent, child, parent)
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["triage"]["differs"] == [] and steps["triage"]["b"]["inherited"] is True
    assert "request" in steps["write"]["differs"] and steps["write"]["output_diff"].startswith("--- A write")
    assert data["state"]["changed"]["topic"]["b"] == "tidal power"

    alone = baton("diff", child, "--json")
    assert alone.returncode == 1 and json.loads(alone.stdout)["a"]["session_id"] == parent

    same = baton("diff", parent, parent)
    assert same.returncode == 0 and "the sessions did the same" in same.stdout
    assert json.loads(baton("diff", parent, parent, "--json").stdout)["first_divergence"] is None


def test_diff_refuses_bad_input_with_exit_2(baton: Baton) -> None:
    ran = baton("run", "./demo.yaml", "--auto", "approve", "--line")
    assert ran.returncode == 0, ran.stderr
    parent = json.loads(baton("sessions", "--json").stdout.splitlines()[0])["session_id"]
    unknown = baton("diff", parent, "nosuchid")
    assert unknown.returncode == 2 and "nosuchid" in unknown.stderr and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    lone = baton("diff", parent)
    assert lone.returncode == 2 and f"session {parent} is not a fork" in lone.stderr
    missing = baton("diff")
    assert missing.returncode == 2

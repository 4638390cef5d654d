"""A tool check that found nothing wrong is kept: the next run of the same workflow skips the child process,
until a Python file under the workflow's folder changes. A check that found a problem is never kept."""

from __future__ import annotations

import os
from pathlib import Path

from baton.core.spec.load import load_workflow
from baton.core.spec.tool_check import tool_findings

FLOW = """\
name: counted
state:
  a: {type: any}
steps:
  - {id: one, kind: tool, call: "counted_tools:run", side_effects: false, writes: [a]}
"""

TOOLS = """\
import os
with open(os.environ["IMPORTS_FILE"], "a") as f:
    f.write("imported\\n")

def run():
    return 1
"""


def imports(tmp_path: Path) -> int:
    path = tmp_path / "imports.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_clean_check_is_kept_until_a_file_changes(private_home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IMPORTS_FILE", str(tmp_path / "imports.txt"))
    tools = tmp_path / "counted_tools.py"
    tools.write_text(TOOLS, encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    workflow = load_workflow(tmp_path / "flow.yaml")
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert imports(tmp_path) == 1
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert imports(tmp_path) == 1, "the kept check was used"
    cache = private_home / "xdg_state_home" / "baton" / "tool-checks.json"
    assert cache.exists() and (cache.stat().st_mode & 0o777) == 0o600

    tools.write_text(TOOLS.replace("return 1", "return 2"), encoding="utf-8")
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert imports(tmp_path) == 2, "a changed file is checked again"

    (tmp_path / "helper.py").write_text("X = 1\n", encoding="utf-8")
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert imports(tmp_path) == 3, "a new file is checked again"


def test_a_check_that_found_a_problem_is_not_kept(private_home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IMPORTS_FILE", str(tmp_path / "imports.txt"))
    (tmp_path / "counted_tools.py").write_text(TOOLS.replace("def run", "def walk"), encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    workflow = load_workflow(tmp_path / "flow.yaml")
    for expected in (1, 2):
        (problem,) = tool_findings(workflow.spec, str(tmp_path))
        assert "has no 'run'" in problem[1]
        assert imports(tmp_path) == expected


def test_an_unwritable_state_folder_only_costs_speed(private_home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IMPORTS_FILE", str(tmp_path / "imports.txt"))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocked))
    (tmp_path / "counted_tools.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    workflow = load_workflow(tmp_path / "flow.yaml")
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert tool_findings(workflow.spec, str(tmp_path)) == []
    assert imports(tmp_path) == 2
    assert os.path.isfile(blocked)

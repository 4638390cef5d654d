"""`pip wheel .` ships every package and the bundled data; installed into a fresh virtual environment it
gives a `baton` command that works from any directory (nothing read from the source tree)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env

PACKAGES = ("core", "sessions", "tui", "themes", "flows")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once for this module."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (built,) = out.glob("baton-*.whl")
    return built


def test_the_wheel_contains_every_package_and_the_bundled_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names or any(n.startswith(f"{package}/") for n in names), package
    for required in ("core/runner/engine.py", "sessions/store.py", "sessions/runner_main.py", "tui/cli.py"):
        assert required in names, required
    bundled = {Path(n).name for n in names if n.startswith("flows/")}
    for flow in ("demo", "agent", "parallel", "map", "router", "supervisor", "loop", "tool", "gate"):
        assert f"{flow}.yaml" in bundled, flow
    assert "baton_tools.py" in bundled
    assert any(n.startswith("themes/") and n.endswith(".toml") for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "baton = tui.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_an_installed_baton_runs_from_another_directory(wheel: Path, tmp_path: Path, private_home: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from this interpreter's site-packages (no download); its editable install
    # of baton is not visible (a path line in a .pth file does not process that directory's .pth files).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = baton_env(private_home, tmp_path / "data" / "baton.db")
    env.pop("PYTHONPATH", None)
    baton = str(venv / "bin" / "baton")

    where = subprocess.run(
        [str(python), "-c", "import core, flows, tui; print(core.__file__, flows.__file__, tui.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(p.startswith(site) for p in where), where

    out = subprocess.run([baton, "validate", "demo"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(site) and ": ok" in out.stdout, out.stdout

    out = subprocess.run([baton, "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "validate" in out.stdout

    run = subprocess.run(
        [baton, "run", "tool", "--auto", "approve", "--json"],
        cwd=elsewhere,
        env={**env, "BATON_PUBLISH_FILE": str(tmp_path / "published.jsonl")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    assert '"kind": "SessionCompleted"' in run.stdout
    assert not (elsewhere / "published.jsonl").exists()
    assert os.listdir(elsewhere) == [], "baton wrote into the working directory"

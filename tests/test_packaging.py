"""`pip wheel .` ships one package, `baton`, with every part and the bundled data; installed into a fresh
virtual environment beside an unrelated distribution that owns a top-level `core` package, it gives a
`baton` command that works from any directory (nothing read from the source tree, nothing shadowed)."""

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

FOREIGN_CORE = "foreign-core"


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


def test_the_wheel_installs_only_the_baton_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/", 1)[0] for n in names} == {"baton", "baton-0.1.0.dist-info"}
    for package in PACKAGES:
        assert f"baton/{package}/__init__.py" in names, package
    for required in (
        "baton/__init__.py",
        "baton/__main__.py",
        "baton/core/runner/engine.py",
        "baton/sessions/store.py",
        "baton/sessions/runner_main.py",
        "baton/tui/cli.py",
    ):
        assert required in names, required
    bundled = {Path(n).name for n in names if n.startswith("baton/flows/")}
    for flow in ("demo", "agent", "parallel", "map", "router", "supervisor", "loop", "tool", "gate"):
        assert f"{flow}.yaml" in bundled, flow
    assert "baton_tools.py" in bundled
    assert any(n.startswith("baton/themes/") and n.endswith(".toml") for n in names)
    assert any(n.endswith(".tcss") for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "baton = baton.tui.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def _foreign_core(where: Path) -> Path:
    """A wheel of an unrelated distribution that ships a top-level package named `core` (written by hand:
    a wheel is a zip file with its metadata)."""
    built = where / "foreign_core-1.0-py3-none-any.whl"
    info = "foreign_core-1.0.dist-info"
    files = {
        "core/__init__.py": "OWNER = 'foreign'\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {FOREIGN_CORE}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(built, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return built


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
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
            str(_foreign_core(tmp_path)),
        ],
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
        [str(python), "-c", "import baton, core; print(baton.__file__, core.OWNER)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert where[0].startswith(site) and where[1] == "foreign", where
    installed = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import files; print(*{str(f).split('/')[0] for f in files('baton')})",
        ],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(n for n in installed if n != "..") == ["baton", "baton-0.1.0.dist-info"], installed

    out = subprocess.run([baton, "validate", "demo"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(site) and ": ok" in out.stdout, out.stdout

    out = subprocess.run([baton, "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "validate" in out.stdout

    demo = subprocess.run(
        [baton, "run", "demo", "--auto", "approve", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, (demo.stdout[-2000:], demo.stderr[-2000:])
    assert '"kind": "SessionCompleted"' in demo.stdout

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

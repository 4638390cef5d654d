"""`baton validate FILE` as a person runs it: a subprocess, its exit code and every line it prints.

Valid → exit 0 and one summary line. Invalid → one `path:line:col: message` line per problem, exit 2,
never a traceback, whatever the bytes of the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from baton.core.spec.yaml_source import MAX_BYTES, SourceError, read_capped
from tests.conftest import baton_env

ROOT = Path(__file__).resolve().parent.parent.parent
BAD = ROOT / "tests" / "fixtures" / "workflows" / "bad"
GOOD = ROOT / "tests" / "fixtures" / "workflows" / "good"


def validate(home: Path, *files: str | Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `baton validate` in a fresh interpreter, as the installed command would."""
    return subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "validate", *map(str, files)],
        cwd=cwd,
        env=baton_env(home, home / "baton.db", PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stderr == "", result.stderr


def test_valid_file_exits_0_with_one_summary_line(private_home: Path) -> None:
    result = validate(private_home, "flows/demo.yaml")
    assert_clean(result)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "flows/demo.yaml: ok — 'research-brief': 5 top-level steps (agent, parallel, router), "
        "6 state keys, 1 inputs"
    ]


def test_every_bundled_flow_validates_by_name(private_home: Path) -> None:
    names = sorted(p.stem for p in (ROOT / "flows").glob("*.yaml"))
    result = validate(private_home, *names)
    assert_clean(result)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(names)
    assert all(": ok — " in line for line in lines)


def test_all_bad_files_print_exactly_the_manifest_and_exit_2(private_home: Path) -> None:
    files = sorted(BAD.glob("*.yaml"))
    relative = [p.relative_to(ROOT) for p in files]
    result = validate(private_home, *relative)
    assert_clean(result)
    assert result.returncode == 2
    expected = [
        f"tests/fixtures/workflows/bad/{line}"
        for line in (BAD / "expected.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert result.stdout.splitlines() == expected


@pytest.mark.parametrize(
    "name",
    ["python_tag.yaml", "alias_bomb.yaml", "latin1.yaml", "top_level_list.yaml", "nul_byte.yaml", "empty.yaml"],
)
def test_one_hostile_file_is_one_line_and_exit_2(private_home: Path, name: str) -> None:
    result = validate(private_home, BAD / name)
    assert_clean(result)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    path, line, col, message = lines[0].split(":", 3)
    assert path == str(BAD / name)
    assert int(line) >= 1 and int(col) >= 1 and message.strip()


def test_a_python_tag_never_runs(private_home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    flow = tmp_path / "evil.yaml"
    flow.write_text(f'name: x\nsteps: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    result = validate(private_home, flow)
    assert_clean(result)
    assert result.returncode == 2
    assert result.stdout == (
        f"{flow}:2:8: unsupported YAML tag '!!python/object/apply:os.system': workflow files are plain data\n"
    )
    assert not marker.exists()


def test_a_50_mb_file_is_refused_from_its_size(private_home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.write(b"name: big\nsteps:\n")
        chunk = b"  - {id: a, kind: agent, model: fast}\n" * 27_000
        while handle.tell() < 50 * 1_048_576:
            handle.write(chunk)
        handle.truncate(50 * 1_048_576)
    result = validate(private_home, big)
    assert_clean(result)
    assert result.returncode == 2
    assert result.stdout == f"{big}:1:1: file is 50.0 MB; a workflow file may be at most 1,048,576 bytes\n"


def test_an_endless_stream_is_cut_after_the_cap_without_reading_it_all(tmp_path: Path) -> None:
    """A FIFO never ends: a reader that read everything would hang; the capped reader stops at the cap."""
    fifo = tmp_path / "endless.yaml"
    os.mkfifo(fifo)
    written = 0

    def writer() -> None:
        nonlocal written
        try:
            with fifo.open("wb") as handle:
                block = b"# filler\n" * 10_000
                while written < 50 * 1_048_576:
                    handle.write(block)
                    written += len(block)
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    with pytest.raises(SourceError) as info:
        read_capped(str(fifo))
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert info.value.message == f"more than {MAX_BYTES:,} bytes; a workflow file may be at most {MAX_BYTES:,} bytes"
    assert written < 50 * 1_048_576


def test_a_file_just_over_the_cap_is_refused_and_one_at_the_cap_is_read(tmp_path: Path) -> None:
    at_cap = tmp_path / "at.yaml"
    at_cap.write_bytes(b"#" * MAX_BYTES)
    assert len(read_capped(str(at_cap))) == MAX_BYTES
    over = tmp_path / "over.yaml"
    over.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(SourceError, match=r"^file is 1,048,577 bytes; a workflow file may be at most 1,048,576"):
        read_capped(str(over))


def test_a_directory_and_a_missing_file(private_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "flows_dir"
    folder.mkdir()
    result = validate(private_home, folder, tmp_path / "missing.yaml")
    assert_clean(result)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"{folder}:1:1: is a directory, not a workflow file"
    assert lines[1].startswith(f"{tmp_path / 'missing.yaml'}:1:1: no workflow '{tmp_path / 'missing.yaml'}'")
    assert len(lines) == 2


def test_good_and_bad_together_still_exit_2_and_report_both(private_home: Path) -> None:
    result = validate(private_home, "flows/agent.yaml", BAD / "unknown_kind.yaml")
    assert_clean(result)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("flows/agent.yaml: ok — ")
    assert lines[1].startswith(f"{BAD / 'unknown_kind.yaml'}:4:11: steps[0]: unknown step kind 'agnet'")


def test_aliases_from_the_config_file_are_known(private_home: Path, tmp_path: Path) -> None:
    flow = tmp_path / "house.yaml"
    flow.write_text("name: house\nsteps:\n  - {id: a, kind: agent, model: house}\n", encoding="utf-8")
    refused = validate(private_home, flow)
    assert refused.returncode == 2
    assert refused.stdout.startswith(f"{flow}:3:33: unknown model alias 'house'")
    config = tmp_path / "config.toml"
    config.write_text('[models]\nhouse = "mock/fast"\n', encoding="utf-8")
    accepted = validate(private_home, flow, BATON_CONFIG=str(config))
    assert_clean(accepted)
    assert accepted.returncode == 0
    assert accepted.stdout.startswith(f"{flow}: ok — 'house'")


def test_a_config_alias_without_a_provider_is_refused_at_its_line(private_home: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[ui]\ntheme = "baton-dark"\n\n[models]\nfast = "gpt-4o-mini"\n', encoding="utf-8")
    refused = validate(private_home, "demo", BATON_CONFIG=str(config))
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr
    assert (refused.stdout + refused.stderr).strip() == (
        f"{config}:5:1: [models] model 'gpt-4o-mini' of alias 'fast' names no provider: write provider/name "
        "(openai/gpt-4o-mini, anthropic/…, ollama/…; mock/fast is the offline model)"
    )


def test_validate_never_loads_litellm(private_home: Path) -> None:
    code = (
        "import sys\n"
        "from tui.cli import main\n"
        "try:\n"
        "    main(['validate', 'flows/demo.yaml', 'tests/fixtures/workflows/bad/mock_script_invalid.yaml'])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code)\n"
        "print('litellm loaded' if 'litellm' in sys.modules else 'litellm not loaded')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=baton_env(private_home, private_home / "baton.db", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[-2:] == ["exit 2", "litellm not loaded"], result.stderr

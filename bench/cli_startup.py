"""Wall time of short `baton` commands, process start to exit (target: `baton --help` ≤ 0.3 s).

    python bench/cli_startup.py [--repeat 15] [--baton PATH]

Runs the installed `baton` entry point (or `python -m tui.cli` when none is found) in a throwaway home
and database, and prints min / median / max per command. `python -X importtime -m tui.cli --help`
shows where the time goes. "(imports of baton run)" is a process that imports what `baton run FLOW
--json` loads before it hands its session to a runner host: most of a warm host's start (`bench/hosts.py`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [["--help"], ["run", "--help"], ["validate", "demo"], ["sessions"], ["run imports"], ["python -c pass"]]
RUN_IMPORTS = (
    "import baton.tui.cli, baton.tui.commands.run, baton.tui.line.inputs, baton.tui.jsonl, baton.sessions.app, "
    "baton.sessions.app.hosting, baton.sessions.open"
)


def baton_command(explicit: str | None) -> list[str]:
    """The command line that starts baton."""
    if explicit:
        return [explicit]
    found = Path(sys.executable).with_name("baton")
    if found.exists():
        return [str(found)]
    which = shutil.which("baton")
    return [which] if which else [sys.executable, "-m", "baton.tui.cli"]


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from start to exit of one process (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--baton", help="path of the baton executable")
    args = parser.parse_args()
    baton = baton_command(args.baton)
    with tempfile.TemporaryDirectory(prefix="baton-cli-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)
        env.update(
            {
                "XDG_DATA_HOME": str(tmp / "data"),
                "XDG_STATE_HOME": str(tmp / "state"),
                "XDG_CONFIG_HOME": str(tmp / "config"),
                "BATON_DB": str(tmp / "baton.db"),
                "PYTHONPATH": str(ROOT),
            }
        )
        subprocess.run([*baton, "sessions"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        print(f"baton = {' '.join(baton)}")
        print(f"{'command':24} {'min s':>8} {'median s':>9} {'max s':>8}")
        for command in COMMANDS:
            if command == ["python -c pass"]:
                argv, label = [sys.executable, "-c", "pass"], "(python -c pass)"
            elif command == ["run imports"]:
                argv, label = [sys.executable, "-c", RUN_IMPORTS], "(imports of baton run)"
            else:
                argv, label = [*baton, *command], "baton " + " ".join(command)
            timed(argv, env, tmp)
            samples = [timed(argv, env, tmp) for _ in range(args.repeat)]
            print(f"{label:24} {min(samples):8.3f} {statistics.median(samples):9.3f} {max(samples):8.3f}")
    print("\ntarget: baton --help ≤ 0.3 s")


if __name__ == "__main__":
    main()

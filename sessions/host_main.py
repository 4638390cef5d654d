"""The runner host process: `baton host` in a terminal, or `python -m baton.sessions.host_main` started in
the background by `baton run`/`resume`/`decide` when no host serves the store (as tmux starts its server).

A PostgreSQL store's URL comes in `BATON_DB`, never on the command line, where `ps` shows it. SIGTERM or
SIGINT drain the host (see `sessions.runner_host`). It never imports a UI. Its log is redacted; a host
started in the background logs to `$XDG_STATE_HOME/baton/logs/host-<id>.log`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from baton.core.llm.limited import CallLimits
from baton.core.paths import UnusablePath, log_dir, private_file
from baton.core.secrets import default_redactor
from baton.sessions.errors import StoreError
from baton.sessions.leases import LEASE_TTL_S
from baton.sessions.open import open_store
from baton.sessions.runner_host import HostLimits, RunnerHost, task_stacks

IDLE_EXIT_S = 60.0
"""How long a host started on demand waits with nothing to run before it exits (`BATON_HOST_IDLE_EXIT`)."""
READY = "host {id} ready"
CLOSE_WAIT_S = 10.0


def connections_for(limits: HostLimits) -> int:
    """Connections a host keeps to a PostgreSQL server: more sessions write more at once."""
    return max(4, min(20, limits.max_sessions // 2 + 2))


class RedactingFormatter(logging.Formatter):
    """Log lines with every known secret replaced."""

    def format(self, record: logging.LogRecord) -> str:
        return default_redactor()(super().format(record))


def log_to(path: Path | None) -> None:
    """Send this process's log to the file `path` (None: stderr), redacted."""
    handler: logging.Handler
    handler = logging.FileHandler(private_file(path), encoding="utf-8") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def host_log(host_id: str) -> Path:
    """Where a host started in the background logs."""
    return log_dir() / f"host-{host_id}.log"


def parse_quotas(values: Sequence[str]) -> dict[str, int]:
    """`MODEL=N` pairs (the model as the workflow names it, or a provider model string)."""
    quotas: dict[str, int] = {}
    for value in values:
        name, sep, count = value.rpartition("=")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"--quota {value!r}: expected MODEL=N with N ≥ 1 (e.g. strong=4)")
        quotas[name] = int(count)
    return quotas


def default_idle_exit() -> float | None:
    """`BATON_HOST_IDLE_EXIT` seconds (0 or `never`: stay), else `IDLE_EXIT_S`."""
    value = os.environ.get("BATON_HOST_IDLE_EXIT", "").strip()
    if not value:
        return IDLE_EXIT_S
    if value.lower() == "never":
        return None
    try:
        seconds = float(value)
    except ValueError:
        return IDLE_EXIT_S
    return seconds if seconds > 0 else None


async def serve(db: str | None, limits: HostLimits, host_id: str, announce: bool) -> int:
    """Open the store, run a host on it until drained or idle; the process's exit code."""
    try:
        store = await open_store(db, connections=connections_for(limits))
    except StoreError as exc:
        logging.getLogger("baton.host").error("%s", exc)
        print(f"baton host: {exc}", file=sys.stderr)
        return 2
    try:
        host = RunnerHost(store, limits, host_id=host_id)
        loop = asyncio.get_running_loop()

        def drain(signame: str) -> None:
            logging.getLogger("baton.host").info("%s received: draining", signame)
            host.drain()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, drain, sig.name)
        loop.add_signal_handler(
            signal.SIGUSR1, lambda: logging.getLogger("baton.host").info("what every task waits on:\n%s", task_stacks())
        )
        serving = asyncio.ensure_future(host.serve())
        ready = asyncio.ensure_future(host.ready.wait())
        await asyncio.wait([serving, ready], return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and announce:
            print(READY.format(id=host.id), flush=True)
        ready.cancel()
        await serving
        return 0
    finally:
        try:
            await asyncio.wait_for(store.close(), CLOSE_WAIT_S)
        except TimeoutError:
            logging.getLogger("baton.host").error("the store did not close within %.0fs", CLOSE_WAIT_S)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The host's options (the same as `baton host`'s)."""
    parser = argparse.ArgumentParser(prog="baton-host")
    parser.add_argument("--db", default=os.environ.get("BATON_DB") or None)
    parser.add_argument("--id", default=None)
    parser.add_argument("--log", action="store_true", help="log to the host's file instead of stderr")
    add_limits(parser)
    return parser.parse_args(argv)


def add_limits(parser: argparse.ArgumentParser) -> None:
    """The limits' options."""
    parser.add_argument("--max-sessions", type=int, default=100)
    parser.add_argument("--max-calls", type=int, default=0)
    parser.add_argument("--quota", action="append", default=[])
    parser.add_argument("--park-after", type=float, default=10.0)
    parser.add_argument("--idle-exit", type=float, default=None)
    parser.add_argument("--lease-ttl", type=float, default=LEASE_TTL_S)


def limits_of(args: argparse.Namespace) -> HostLimits:
    """The limits the options ask for (`--idle-exit 0`: never)."""
    idle = default_idle_exit() if args.idle_exit is None else (args.idle_exit if args.idle_exit > 0 else None)
    return HostLimits(
        max_sessions=max(1, args.max_sessions),
        calls=CallLimits(max(0, args.max_calls), parse_quotas(args.quota)),
        park_after_s=max(0.0, args.park_after),
        idle_exit_s=idle,
        lease_ttl_s=max(1.0, args.lease_ttl),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a host in this process."""
    args = arguments(argv)
    try:
        limits = limits_of(args)
    except ValueError as exc:
        print(f"baton-host: {exc}", file=sys.stderr)
        return 2
    host_id = args.id or secrets.token_hex(4)
    try:
        log_to(host_log(host_id) if args.log else None)
    except (UnusablePath, OSError) as exc:
        print(f"baton-host: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(args.db, limits, host_id, announce=True))
    except Exception:
        logging.getLogger("baton.host").exception("host crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The background runner process: `python -m baton.sessions.runner_main --db PATH --session ID`
(a PostgreSQL store's URL comes in `BATON_DB` instead, never on the command line, where `ps` shows it).

Started by `baton run` / `baton resume` with its own session, detached from the terminal. It never
imports a UI. SIGTERM or SIGINT pause the session cleanly; its log (redacted) goes to
`$XDG_STATE_HOME/baton/logs/<session>.log`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from baton.core.paths import UnusablePath, log_path, private_file
from baton.core.runner import RunOptions
from baton.core.secrets import default_redactor
from baton.core.spec.problems import WorkflowInvalid
from baton.sessions.errors import SessionInUse, StoreError
from baton.sessions.host import SessionHost
from baton.sessions.open import open_store

EXIT = {"completed": 0, "degraded": 5, "paused": 4, "cancelled": 4, "failed": 1}


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return default_redactor()(super().format(record))


def _logging(session_id: str) -> None:
    handler = logging.FileHandler(private_file(log_path(session_id)), encoding="utf-8")
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


async def _main(db: str | None, session_id: str, options: str | None, models: dict[str, str]) -> int:
    try:
        store = await open_store(db)
    except StoreError as exc:
        logging.getLogger("baton.runner").error("%s", exc)
        return 2
    try:
        run_options = RunOptions.from_json(json.loads(options)) if options else None
        host = SessionHost(store, session_id, options=run_options, models=models)
        loop = asyncio.get_running_loop()

        def stop(signame: str) -> None:
            logging.getLogger("baton.runner").info("%s received: cancelling", signame)
            reason = f"cancelled: {signame}"
            if host.runner is not None:
                host.runner.cancel(reason)
            else:  # still starting: cancel as soon as the runner exists
                pending.append(asyncio.ensure_future(_cancel_when_ready(host, reason)))

        pending: list[asyncio.Future[None]] = []

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig.name)
        status = await host.run()
        logging.getLogger("baton.runner").info("session %s ended: %s", session_id, status)
        return EXIT.get(status, 1)
    except SessionInUse as exc:
        logging.getLogger("baton.runner").error("%s", exc)
        return 3
    except (StoreError, WorkflowInvalid) as exc:
        logging.getLogger("baton.runner").error("%s", exc)
        return 2
    finally:
        await store.close()


async def _cancel_when_ready(host: SessionHost, reason: str) -> None:
    runner = await host.ready()
    runner.cancel(reason)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, log to the session's file, run."""
    parser = argparse.ArgumentParser(prog="baton-runner")
    parser.add_argument("--db", default=os.environ.get("BATON_DB") or None)
    parser.add_argument("--session", required=True)
    parser.add_argument("--options", default=None, help="run options as JSON (overrides the stored ones)")
    parser.add_argument("--model", action="append", default=[], help="alias=model override")
    args = parser.parse_args(argv)
    try:
        _logging(args.session)
    except (UnusablePath, OSError) as exc:
        print(f"baton-runner: {exc}", file=sys.stderr)
        return 2
    models = dict(m.split("=", 1) for m in args.model if "=" in m)
    try:
        return asyncio.run(_main(args.db, args.session, args.options, models))
    except Exception:
        logging.getLogger("baton.runner").exception("runner crashed")
        return 1


if __name__ == "__main__":
    sys.exit(main())

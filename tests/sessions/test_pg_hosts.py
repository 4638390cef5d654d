"""Runner hosts on a real PostgreSQL server: `baton run` hands a session to a host it starts with the
server's URL in its environment (never on its command line), hosts in this process claim and park sessions
told by LISTEN/NOTIFY, and `baton decide` brings a parked session back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from baton.core.commands import decide
from baton.core.llm.scripted import ScriptedLLM
from baton.sessions.app import Sessions
from baton.sessions.app.hosting import HostRunners
from baton.sessions.pg_store import PgStore
from baton.sessions.runner_host import HostLimits, RunnerHost
from tests.conftest import ROOT, baton_env
from tests.sessions.pg_server import PASSWORD, shared_server
from tests.sessions.test_runner_host import GATED, new_session, until


async def test_hosts_on_postgresql_claim_park_and_take_back(tmp_path: Path) -> None:
    dsn = shared_server().create_database()
    flow = tmp_path / "gated.yaml"
    flow.write_text(GATED, encoding="utf-8")
    store = await PgStore.open(dsn)
    hosts = [RunnerHost(store, HostLimits(park_after_s=0.2, poll_s=1.0), llm=ScriptedLLM(lambda r: "ok")) for _ in "ab"]
    tasks = [asyncio.ensure_future(h.serve()) for h in hosts]
    try:
        sids = [await new_session(store, flow, f"t{i}") for i in range(6)]

        async def all_parked() -> bool:
            rows = await store.work()
            return len(rows) == 6 and all(r.state == "parked" for r in rows)

        await until(all_parked, "every session to be parked")
        app = Sessions(store, HostRunners(dsn))
        for sid in sids:
            (cp,) = (await store.view(sid)).open_checkpoints
            assert not (await app.decide(sid, decide(cp.checkpoint_id, "approve", by="tester"))).queued

        async def all_done() -> bool:
            return all([(await store.view(s)).status == "completed" for s in sids])

        await until(all_done, "every session to complete")

        async def all_settled() -> bool:
            return sum(h.finished for h in hosts) == 6 and await store.work() == []

        await until(all_settled, "both hosts to let every finished session go")
    finally:
        for host in hosts:
            host.drain()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


def test_baton_run_starts_a_host_with_the_url_in_its_environment(private_home: Path, tmp_path: Path) -> None:
    dsn = shared_server().create_database()
    env = {**baton_env(private_home, tmp_path / "unused.db"), "BATON_DB": dsn, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "baton", "run", "demo", "--json", "--auto", "approve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    kinds = [json.loads(line)["kind"] for line in out.stdout.splitlines()]
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionCompleted"
    assert PASSWORD not in out.stdout + out.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "baton", "hosts", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    cmdline = Path(f"/proc/{row['pid']}/cmdline").read_bytes().decode()
    assert "baton.sessions.host_main" in cmdline and PASSWORD not in cmdline and "postgresql" not in cmdline
    logs = private_home / "xdg_state_home" / "baton" / "logs"
    for log in logs.glob("host-*.log"):
        assert PASSWORD not in log.read_text(encoding="utf-8")
    os.kill(row["pid"], 15)

"""The simulated machines of `netns.py` are what the multi-host tests take them for: each reaches the
PostgreSQL server over its own link with the password and nothing else of the root namespace, each has a
host name of its own, and nothing is left behind when a test fails inside them.

Every probe runs a real process inside a namespace; the URL (and so the password) reaches it through the
environment only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.hosts.netns import Machine, Machines, link_dsn, link_server, machines
from tests.sessions.pg_server import PASSWORD, PgServer

PROBE = """\
import json, os, socket, psycopg
try:
    with psycopg.connect(os.environ["PROBE_DB"], connect_timeout=5) as conn:
        row = conn.execute("SELECT 1, host(inet_client_addr()), host(inet_server_addr())").fetchone()
    print(json.dumps({"hostname": socket.gethostname(), "row": list(row)}))
except psycopg.OperationalError as error:
    print(json.dumps({"hostname": socket.gethostname(), "error": str(error)}))
"""


@pytest.fixture(scope="module")
def server() -> PgServer:
    return link_server()


@pytest.fixture(scope="module")
def database(server: PgServer) -> str:
    return server.create_database()


@pytest.fixture(scope="module")
def two() -> Iterator[Machines]:
    with machines(2) as group:
        yield group


def probe(group: Machines, machine: Machine, dsn: str) -> dict[str, object]:
    """Connect from `machine` to `dsn` (given in the environment) and report what the server saw."""
    env = {**os.environ, "PROBE_DB": dsn, "PYTHONPATH": str(ROOT)}
    done = group.run(machine, [sys.executable, "-c", PROBE], env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_a_machine_reaches_the_server_over_its_link_with_the_password(
    two: Machines, server: PgServer, database: str
) -> None:
    assert two.isolated, f"no network namespaces: {two.why_not_isolated}"
    for machine in two.machines:
        seen = probe(two, machine, link_dsn(server, database, machine))
        assert seen.get("row") == [1, machine.address, machine.server_address], seen


def test_a_wrong_password_over_the_link_is_refused(two: Machines, server: PgServer, database: str) -> None:
    seen = probe(two, two[0], link_dsn(server, database, two[0], password="wrong-" + PASSWORD))
    assert "password authentication failed" in str(seen.get("error")), seen


def test_the_root_namespaces_loopback_and_the_other_machines_link_are_out_of_reach(
    two: Machines, server: PgServer, database: str
) -> None:
    assert two.isolated, f"no network namespaces: {two.why_not_isolated}"
    loopback = server.dsn(database.rsplit("/", 1)[1].split("?", 1)[0], tcp=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass  # the server does listen there, for the root namespace
    seen = probe(two, two[0], loopback)
    assert "row" not in seen and "refused" in str(seen.get("error")), seen
    other = Machine(two[0].hostname, two[0].netns, two[1].server_address, two[0].address)
    seen = probe(two, two[0], link_dsn(server, database, other))
    assert "row" not in seen and "unreachable" in str(seen.get("error")), seen


def test_each_machine_has_a_host_name_of_its_own(two: Machines, server: PgServer, database: str) -> None:
    names = [probe(two, m, link_dsn(server, database, m))["hostname"] for m in two.machines]
    assert names == [m.hostname for m in two.machines]
    assert socket.gethostname() not in names


def test_everything_is_torn_down_when_the_test_inside_fails(server: PgServer, database: str) -> None:
    made: list[Machine] = []
    with pytest.raises(RuntimeError, match="inside"), machines(2, ["left-a", "left-b"]) as group:
        made += group.machines
        sleeper = group.spawn(group[0], [sys.executable, "-c", "import time; time.sleep(600)"], dict(os.environ))
        raise RuntimeError("a failure inside")
    assert sleeper.returncode is not None, "a process started on a machine outlived it"
    assert all(m.netns for m in made), "no network namespaces"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for machine in made:
        assert str(machine.netns) not in listed
        assert f"{machine.server_address}/" not in links

"""Separate machines on one machine: a network namespace each, linked to the root namespace by a veth pair,
with a host name of its own.

Machine K's link is 10.231.X.1 (the root side, where the tests' PostgreSQL server listens) to 10.231.X.2
(inside the namespace, with its own loopback), X a /24 no other link on this machine uses. A process started
in a namespace (`spawn_in`) also gets its own UTS namespace and host name, so baton's leases
(`socket.gethostname()` and a pid) take it for another machine: its sessions are taken over only when their
leases expire, as when a real machine dies. The root namespace's loopback is not reachable from inside, so
the server is reached over the link only, with the password, as a machine on the network would reach it.

Names carry the test process's pid, and everything made is torn down on the way out (processes started in
a namespace first), whatever happened inside. Namespaces that a dead test process left behind are removed
when the next one starts. Without root or `ip` there are no namespaces: processes get their own host names
only (`unshare --uts`, in a user namespace when not root) and share the root namespace's network; with
neither, `machines` fails with the reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.sessions.pg_server import PASSWORD, ROLE, PgServer, start_server

PREFIX = "baton-hosts"
"""Namespace names: `baton-hosts-<pid>-<k>`."""
NETWORK = ipaddress.IPv4Network("10.231.0.0/16")
"""Every link is a /24 of this network (the tests' server lets it in with the password)."""
LOCK = Path("/tmp/baton-hosts-netns.lock")
"""Held while links are chosen and made, so test processes running at once never pick the same /24."""
IP_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
_HOSTNAME = 'hostname "$0" && exec "$@"'
"""`sh -c` script: set the host name (its $0), then become the command."""


@dataclass(frozen=True)
class Machine:
    """One simulated machine: its host name, its namespace (None: the root namespace's network) and the
    address it reaches the root namespace at (where the server listens for it)."""

    hostname: str
    netns: str | None
    server_address: str
    address: str
    """Its own address (the namespace side of its link; 127.0.0.1 without a namespace)."""


@dataclass
class Machines:
    """The machines of one test, and every process started on them."""

    machines: list[Machine]
    isolated: bool
    """Each machine has a network namespace of its own."""
    why_not_isolated: str = ""
    user_namespace: bool = False
    """Host names need a user namespace too (not root)."""
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __getitem__(self, index: int) -> Machine:
        return self.machines[index]

    def __len__(self) -> int:
        return len(self.machines)

    def spawn(
        self, machine: Machine, argv: Sequence[str], env: Mapping[str, str], **popen: Any
    ) -> subprocess.Popen[bytes]:
        """Start `argv` on `machine` in a session of its own (so it and its children can be killed as one)."""
        proc = spawn_in(machine.netns, argv, env, machine.hostname, user_namespace=self.user_namespace, **popen)
        self.started.append(proc)
        return proc

    def run(
        self, machine: Machine, argv: Sequence[str], env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` on `machine` to its end; its output as text."""
        proc = self.spawn(machine, argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )

    def stop_all(self) -> None:
        """SIGKILL every process started on these machines (each with its process group) and reap it."""
        for proc in self.started:
            kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started by `spawn_in` and its process group; wait for it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT_S)


def spawn_in(
    netns: str | None,
    argv: Sequence[str],
    env: Mapping[str, str],
    hostname: str,
    *,
    user_namespace: bool = False,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start `argv` inside network namespace `netns` (None: the root one) with its own UTS namespace and
    host name `hostname`, in a new session. The process keeps the pid Popen reports (every wrapper
    execs). Secrets go in `env`, never in `argv`."""
    wrapped = ["unshare", "--uts"]
    if user_namespace:
        wrapped[1:1] = ["--user", "--map-root-user"]
    wrapped += ["sh", "-c", _HOSTNAME, hostname, *argv]
    if netns is not None:
        wrapped = ["ip", "netns", "exec", netns, *wrapped]
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(wrapped, env=dict(env), start_new_session=True, **popen)


@contextlib.contextmanager
def machines(count: int, names: Sequence[str] = ()) -> Iterator[Machines]:
    """`count` machines (host names from `names`, else `host-<k>`), torn down on the way out."""
    hostnames = list(names) or [f"host-{k}" for k in range(count)]
    assert len(hostnames) == count and len(set(hostnames)) == count, hostnames
    made: list[tuple[str, str]] = []
    problem = _namespaces_unavailable()
    group: Machines | None = None
    try:
        if problem:
            group = _without_namespaces(hostnames, problem)
        else:
            group = Machines(_with_namespaces(hostnames, made), isolated=True)
        yield group
    finally:
        if group is not None:
            group.stop_all()
        for netns, veth in made:
            _remove(netns, veth)


# --- namespaces ------------------------------------------------------------------------------------


def _namespaces_unavailable() -> str:
    """Why network namespaces cannot be made here ('' when they can)."""
    if os.geteuid() != 0:
        return "not running as root (network namespaces need CAP_NET_ADMIN)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if shutil.which("unshare") is None:
        return "no `unshare` command (util-linux)"
    return ""


def _with_namespaces(hostnames: list[str], made: list[tuple[str, str]]) -> list[Machine]:
    """Make a namespace and a link for each machine (`made` lists them as they are made, for the teardown)."""
    found = []
    LOCK.touch(exist_ok=True)
    with open(LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_leftovers()
        subnets = _free_subnets(len(hostnames))
        for k, (hostname, subnet) in enumerate(zip(hostnames, subnets, strict=True)):
            netns, veth, peer = f"{PREFIX}-{os.getpid()}-{k}", f"bt{os.getpid()}r{k}", f"bt{os.getpid()}n{k}"
            outer, inner = (f"{subnet[n]}" for n in (1, 2))
            _remove(netns, veth)  # a namespace of a dead process that had this pid
            _ip("netns", "add", netns)
            made.append((netns, veth))
            _ip("link", "add", veth, "type", "veth", "peer", "name", peer, "netns", netns)
            _ip("addr", "add", f"{outer}/24", "dev", veth)
            _ip("link", "set", veth, "up")
            _ip("-n", netns, "addr", "add", f"{inner}/24", "dev", peer)
            _ip("-n", netns, "link", "set", peer, "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            found.append(Machine(hostname, netns, outer, inner))
    return found


def _free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """`count` /24s of NETWORK that no address of the root namespace is in."""
    listed = _ip("-o", "-4", "addr", "show").stdout
    used = {ipaddress.IPv4Interface(a).network for a in re.findall(r"inet (\S+)", listed)}
    free = [
        subnet for subnet in NETWORK.subnets(new_prefix=24) if not any(subnet.overlaps(other) for other in used)
    ]
    if len(free) < count:
        pytest.fail(f"no {count} free /24 networks left in {NETWORK} for the machines' links", pytrace=False)
    return free[:count]


def _remove_leftovers() -> None:
    """Remove the namespaces (and links) of test processes that are gone."""
    listed = _ip("netns", "list").stdout
    for name in re.findall(rf"^({re.escape(PREFIX)}-(\d+)-(\d+))\b", listed, re.MULTILINE):
        netns, pid, k = name
        if not Path(f"/proc/{pid}").exists():
            _remove(netns, f"bt{pid}r{k}")


def _remove(netns: str, veth: str) -> None:
    """Delete a link (its peer goes with it) and a namespace, if they exist."""
    _ip("link", "del", veth, check=False)
    _ip("netns", "del", netns, check=False)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and done.returncode != 0:
        pytest.fail(f"`ip {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}", pytrace=False)
    return done


# --- host names only -------------------------------------------------------------------------------


def _without_namespaces(hostnames: list[str], problem: str) -> Machines:
    """Machines sharing the root namespace's network, each with its own host name (fails when even that
    cannot be had)."""
    for user_namespace in (False, True):
        try:
            probe = spawn_in(
                None, ["hostname"], os.environ, "probe-host", user_namespace=user_namespace, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError:
            break
        out, _ = probe.communicate(timeout=STOP_TIMEOUT_S)
        if probe.returncode == 0 and out.decode().strip() == "probe-host":
            found = [Machine(name, None, "127.0.0.1", "127.0.0.1") for name in hostnames]
            return Machines(found, isolated=False, why_not_isolated=problem, user_namespace=user_namespace)
    pytest.fail(
        f"cannot simulate separate machines: no network namespaces ({problem}) and no host names of their own"
        " (`unshare --uts` fails, also in a user namespace)",
        pytrace=False,
    )


# --- the server --------------------------------------------------------------------------------------

_LINK_SERVER: list[PgServer] = []


def link_server() -> PgServer:
    """This test process's PostgreSQL server for machines: it listens on every address (so on links made
    after it started) and lets in the links' network with the password; started on first use."""
    if not _LINK_SERVER:
        _LINK_SERVER.append(start_server("*", (str(NETWORK),)))
    return _LINK_SERVER[0]


def link_dsn(server: PgServer, database_url: str, machine: Machine, password: str = PASSWORD) -> str:
    """The URL `machine` reaches the database of `database_url` by: over its link, with the password."""
    database = urlsplit(database_url).path.lstrip("/")
    return f"postgresql://{ROLE}:{password}@{machine.server_address}:{server.port}/{database}"

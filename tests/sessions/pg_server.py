"""A real PostgreSQL server for the tests: `initdb` into a temporary folder, started with `pg_ctl` as an
unprivileged user (PostgreSQL refuses to run as root, and the tests often do), listening on a unix
socket in that folder and on 127.0.0.1 at a free port. One server per test session; each test that
needs a clean store makes its own database on it.

No binaries, no server: the tests that need one fail with the reason (CI installs the `postgresql`
package, see `.ci/run`), they are never skipped.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "baton-pg"
"""The system user the server runs as when the tests run as root."""
ROLE = "baton"
PASSWORD = "pg-pass-" + "s3cret-horse"
START_TIMEOUT_S = 60


def binaries() -> Path:
    """The folder holding `initdb` and `pg_ctl` (PATH, then Debian's versioned folders, newest first)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    pytest.fail(
        "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin): install the"
        " `postgresql` package (.ci/run does) to run the PostgreSQL store tests",
        pytrace=False,
    )


def _version(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: None when not root; else `baton-pg`, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        # another test process may be creating it at the same moment: only its absence afterwards is an error
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=False)
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


@dataclass
class PgServer:
    """A running server: where it listens, and how to make a database on it."""

    root: Path
    port: int
    bin: Path
    as_user: tuple[int, int] | None
    listen: str = "127.0.0.1"
    """`listen_addresses` (`*`: every address of the machine, links made after it starts included)."""
    networks: tuple[str, ...] = ()
    """Networks (CIDR) besides the loopback that may connect, with the password."""

    @property
    def socket_dir(self) -> str:
        return str(self.root / "run")

    def dsn(self, database: str = "postgres", *, tcp: bool = False) -> str:
        """A URL for `database` as the test role (over the unix socket unless `tcp`)."""
        if tcp:
            return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{database}"
        return f"postgresql://{ROLE}:{PASSWORD}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        def demote() -> None:
            if self.as_user is not None:
                os.setgid(self.as_user[1])
                os.setuid(self.as_user[0])

        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            preexec_fn=demote,  # the child drops root before exec
            cwd=self.root,
            timeout=START_TIMEOUT_S,
        )

    def start(self) -> None:
        """initdb, configure, start, and create the test role."""
        data, run = self.root / "data", self.root / "run"
        run.mkdir()
        if self.as_user is not None:
            for path in (self.root, run):
                os.chown(path, *self.as_user)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user is not None:
            os.chown(pwfile, *self.as_user)
        done = self._run(
            "initdb", "-D", str(data), "-U", ROLE, "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8",
            "--no-locale",
        )
        _check(done, "initdb")
        settings = (
            f"port = {self.port}\nlisten_addresses = '{self.listen}'\nunix_socket_directories = '{run}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
        )
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(settings)
        with open(data / "pg_hba.conf", "a") as hba:
            hba.writelines(f"host all all {network} scram-sha-256\n" for network in self.networks)
        log = self.root / "server.log"
        done = self._run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S), "start")
        _check(done, "pg_ctl start", log)

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away)."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")


def _check(done: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        pytest.fail(f"PostgreSQL: {what} failed ({done.returncode}): {done.stderr.strip()}\n{tail}", pytrace=False)


_SHARED: list[PgServer] = []


def shared_server() -> PgServer:
    """The one server of this test process, started on first use and stopped when the process exits
    (every test module that needs it gets the same one)."""
    if not _SHARED:
        _SHARED.append(start_server())
    return _SHARED[0]


def start_server(listen: str = "127.0.0.1", networks: tuple[str, ...] = ()) -> PgServer:
    """A new server listening on `listen`, reachable with the password from the loopback and `networks`;
    stopped when the process exits."""
    root = Path(tempfile.mkdtemp(prefix="baton-pg-"))
    server = PgServer(root, _free_port(), binaries(), _server_user(), listen, networks)
    atexit.register(shutil.rmtree, root, True)
    atexit.register(server.stop)
    server.start()
    return server


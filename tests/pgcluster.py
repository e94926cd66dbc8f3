"""Throwaway PostgreSQL clusters for tests and benchmarks that need a server
setting the machine's own PostgreSQL must keep (wal_level=logical) or a
second server: initdb in a temporary folder, as the postgres user, on a free
loopback port; stopped and removed afterwards. The machine's cluster on 5432
is never touched."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, *, logical: bool = False, name: str = "ris") -> None:
        self.logical = logical
        self.name = name
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=f"ris-pg-{name}-"))
        self.data = self.folder / "data"
        self.started = False

    @property
    def url_root(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.url_root}/{database}"

    def _as_postgres(self, *command: str) -> subprocess.CompletedProcess[str]:
        # runuser is in /usr/sbin, which a minimal PATH (CI's) may lack
        runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "runuser"
        prefix = [] if os.geteuid() != 0 else [runuser, "-u", "postgres", "--"]
        return subprocess.run([*prefix, *command], capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self._as_postgres(
            str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        options = [
            f"-c port={self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.folder}",
            "-c fsync=off",
            "-c full_page_writes=off",
            "-c max_connections=60",
            "-c shared_buffers=32MB",
            # the subscriber tells the publisher where it is every second (the edge's "as of", the lag)
            "-c wal_receiver_status_interval=1",
            "-c wal_retrieve_retry_interval=1000",
        ]
        if self.logical:
            options += ["-c wal_level=logical", "-c max_wal_senders=10", "-c max_replication_slots=10"]
        self._as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "60",
            "-o", " ".join(options), "start",
        )  # fmt: skip
        self.started = True
        return self

    def createdb(self, name: str) -> str:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name], check=True, timeout=60
        )
        return self.url(name)

    def psql(self, database: str, sql: str) -> str:
        """``sql`` piped into psql as a superuser, as docs/edge.md's `… --sql | sudo -u postgres psql`:
        each statement its own transaction (CREATE SUBSCRIPTION may not run inside one)."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url(database)],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout.strip()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "log").read_text()[-4000:]
        return ""

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def cluster(*, logical: bool = False, name: str = "ris") -> Iterator[Cluster]:
    c = Cluster(logical=logical, name=name)
    try:
        yield c.start()
    finally:
        c.stop()

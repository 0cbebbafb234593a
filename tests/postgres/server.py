"""A throwaway Postgres cluster for tests and soaks: ``initdb`` in a temporary directory.

Postgres refuses to run as root, so as root the cluster belongs to the ``postgres`` system user
(``runuser``); otherwise to the current user. It listens on 127.0.0.1 on a free port (and on a
Unix socket in its own directory), trusts local connections, and is removed by ``stop()``.
The server binaries are found through ``$DURABLE_GEN_PG_BIN``, ``pg_config``, Debian's
``/usr/lib/postgresql/*/bin`` or ``PATH``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when there is none."""
    forced = os.environ.get("DURABLE_GEN_PG_BIN")
    if forced:  # exactly this one (a directory without them: no server)
        path = Path(forced)
        return path if (path / "initdb").exists() and (path / "pg_ctl").exists() else None
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates.extend(sorted(versions, key=lambda p: int(Path(p).parent.name), reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One Postgres server in a temporary directory.

    Args:
        bindir: Where ``initdb`` and ``pg_ctl`` are.
        durable: Keep fsync on (for benchmarks and soaks that cut the power, so to speak);
            tests run faster without it (a killed server still keeps what the OS has).
    """

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self._as_postgres = os.geteuid() == 0
        # As root the server runs as the postgres user, who must reach the directory: /tmp
        # rather than a $TMPDIR that may sit in root's home.
        where = "/tmp" if self._as_postgres and os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="durable-gen-pg-", dir=where))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._admin: Any = None
        self._removed = False
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        atexit.register(self.remove)  # also when the session ends abnormally
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.start()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
            )
        return result

    def start(self) -> None:
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            f"-k {self.root}",
            "-c max_connections=300",
            "-c shared_buffers=64MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            " ".join(options),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean), or ``immediate`` (as if it crashed)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        if self._removed:
            return
        self._removed = True
        atexit.unregister(self.remove)
        if self._admin is not None:
            self._admin.close()
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "dg") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url(), autocommit=True)
        try:
            self._admin.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError:  # the server restarted since: once more
            self._admin = psycopg.connect(self.url(), autocommit=True)
            self._admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

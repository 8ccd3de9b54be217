"""Private Redis and PostgreSQL servers that a reliability run may kill and restart.

Each server runs on a free port with its data in a temporary folder of its own, so a
run never touches the machine's own servers (or anyone else's data). ``kill()`` is a
crash (SIGKILL to every process of the server), ``stop()`` a clean shutdown and
``start()`` brings the same server back on the same port with the same data:

- Redis keeps its data in an append-only file synced at every write
  (``appendfsync always``), so a killed server comes back with every acknowledged write.
- PostgreSQL is a cluster made with ``initdb`` (as the ``postgres`` user when this runs
  as root, since PostgreSQL refuses to run as root), with ``fsync`` on; after a kill it replays its
  write-ahead log when it starts.

The binaries come from ``PATH`` and ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

__all__ = ["PostgresServer", "RedisServer", "free_port", "postgres_bin"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def postgres_bin(name: str) -> str:
    """The path of a PostgreSQL server binary (``initdb``, ``postgres``, ``pg_ctl``)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"{name} not found on PATH nor in /usr/lib/postgresql/*/bin")
    return candidates[-1]  # the newest version


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(check: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")


class _Server:
    """A server process started in a session of its own, so that it can be killed whole."""

    port: int
    folder: Path
    _process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> float:
        raise NotImplementedError

    def close(self) -> None:
        """Kill the server and delete its data."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    @classmethod
    @contextlib.contextmanager
    def running_server(cls) -> Iterator[Self]:
        """A started server, closed (and its data deleted) on leaving."""
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.close()

    #: The user to run the server as (``None``: this process's user).
    user: str | None = None

    def _spawn(self, args: list[str], log: Path) -> None:
        # The server is this process's own child (no ``runuser`` in between), so that
        # after a kill it is reaped here and leaves no zombie holding its PID.
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
                group=self.user,
            )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """Crash the server: SIGKILL to its whole process group, then wait for it to go."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None
        _wait(lambda: not _listening(self.port), f"port {self.port} to close", 10)


class RedisServer(_Server):
    """A redis-server on a free port, its append-only file in a temporary folder.

    Examples
    --------
    >>> with RedisServer.running_server() as server:  # doctest: +SKIP
    ...     server.kill(); server.start()
    """

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="escalate-redis-"))
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> float:
        """Start (or start again) and wait until it answers; returns the seconds taken."""
        begin = time.monotonic()
        self._spawn(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            self.folder / "redis.log",
        )
        _wait(self._answers, f"redis-server on port {self.port}", timeout)
        return time.monotonic() - begin

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)
            self._process = None


class PostgresServer(_Server):
    """A PostgreSQL cluster of its own (``initdb`` in a temporary folder) on a free port.

    The database is ``postgres``, the user ``postgres`` with trust authentication on
    127.0.0.1; :attr:`url` is the SQLAlchemy URL.
    """

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="escalate-pg-"))
        self.port = port or free_port()
        self.data = self.folder / "data"
        # initdb and postgres refuse to run as root
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        """Make the cluster (once)."""
        if self.user is not None:
            shutil.chown(self.folder, self.user)
        subprocess.run(
            [
                postgres_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-instructions",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=self.user,
            group=self.user,
        )

    def start(self, timeout: float = 60.0) -> float:
        """Start (or start again, replaying the log after a kill) and wait until it
        accepts connections; returns the seconds taken."""
        if not self.data.exists():
            self.init()
        begin = time.monotonic()
        log = self.folder / "postgres.log"
        if not log.exists():
            log.touch()
            if self.user is not None:
                shutil.chown(log, self.user)
        self._spawn(
            [
                postgres_bin("postgres"),
                *("-D", str(self.data), "-p", str(self.port)),
                *("-c", "listen_addresses=127.0.0.1"),
                *("-c", f"unix_socket_directories={self.folder}"),
                *("-c", "fsync=on", "-c", "max_connections=200"),
            ],
            log,
        )
        _wait(self._accepts, f"postgres on port {self.port}", timeout)
        return time.monotonic() - begin

    def _accepts(self) -> bool:
        ready = subprocess.run(
            [
                postgres_bin("pg_isready"),
                *("-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
            ],
            check=False,
        )
        return ready.returncode == 0

    def stop(self) -> None:
        """A fast clean shutdown (SIGINT)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGINT)
            self._process.wait(timeout=30)
            self._process = None

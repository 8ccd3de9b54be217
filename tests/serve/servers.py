"""Real servers for the service tests and benchmark: a private Redis, and ``escalate serve``.

Both listen on free loopback ports and are stopped afterwards; the machine's own Redis is
never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(check: object, what: str, seconds: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {seconds} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def private_redis() -> Iterator[str]:
    """A Redis server of our own on a free port, without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait(lambda: socket.create_connection(("127.0.0.1", port), 1), "redis", 10, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)


@dataclass(frozen=True)
class Service:
    """A running ``escalate serve``: its base URL and process id."""

    url: str
    pid: int


@contextmanager
def running_service(
    args: Sequence[str], *, env: dict[str, str] | None = None, seconds: float = 90
) -> Iterator[Service]:
    """``escalate serve ARGS`` on a free port until the block ends."""
    port = free_port()
    environ = {**os.environ, **(env or {})}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "escalate", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                _wait(
                    lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200,
                    "escalate serve",
                    seconds,
                    process,
                )
            except RuntimeError:
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace")[-4000:]) from None
            yield Service(url, process.pid)
        finally:
            _stop(process)

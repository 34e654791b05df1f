"""A private redis-server for the tests: the Debian package's binary, on a free port.

Each :class:`RedisServer` runs its own ``redis-server`` process in a
directory of its own, bound to loopback, with RDB snapshots off
(``--save ''``) and the append-only file on or off as asked. Nothing is
shared with another test run or with a Redis the machine may already run.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` on PATH (or /usr/bin's), or ``None`` when there is none."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process; :meth:`start` it, :meth:`stop` it (or kill, restart).

    ``directory``: where it keeps its files (the append-only file, its log).
    ``appendonly``: write the append-only file; ``appendfsync``: ``everysec``
    (Redis's default) or ``always``.
    """

    def __init__(
        self, directory: Path, *, appendonly: bool = False, appendfsync: str = "everysec"
    ) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: apt-get install redis-server "
                "(or run python3 scripts/test-redis, which installs it as root)"
            )
        self.binary = binary
        self.directory = directory
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it on a free port (the same port again after a stop) and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fixed = bool(self.port)
        for _ in range(1 if fixed else 5):
            port = self.port or _free_port()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.directory),
                    "--save", "",
                    "--appendonly", "yes" if self.appendonly else "no",
                    "--appendfsync", self.appendfsync,
                    "--logfile", "redis.log",
                    "--daemonize", "no",
                    "--protected-mode", "yes",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self.port = port
            if self._answers(timeout=10):
                return self
            self._end(signal.SIGKILL)
            if not fixed:  # another process took the port meanwhile: draw another
                self.port = 0
        log = self.directory / "redis.log"
        raise RuntimeError(
            f"redis-server did not start on port {self.port}: "
            f"{log.read_text()[-2000:] if log.exists() else 'no log'}"
        )

    def _answers(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    return False
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return True
                time.sleep(0.02)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM: Redis writes what it holds, then exits)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """``kill -9`` it: what the append-only file had not written yet is lost."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(how)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

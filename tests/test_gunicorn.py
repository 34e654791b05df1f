"""A real gunicorn master with sync workers, each with its own batcher, stopped by SIGTERM."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from redo_kit.emulator import Emulator
from redo_kit.testing.plugin import EmulatorFactory

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on POSIX")

# Fewer than 100 events a worker could not fill a request: some are surely still queued at SIGTERM.
REQUESTS = 150

APP = """\
from redo_kit import RedoClient

# Imported by each worker after it forked (nothing is preloaded): one client
# and one batcher a worker, created after gunicorn installed its signal handlers.
client = RedoClient(store_id={store!r}, api_key={key!r}, base_url={url!r})
batcher = client.batcher(flush_interval=60)


def app(environ, start_response):
    number = environ["PATH_INFO"].strip("/")
    batcher.track(
        {{"eventName": "Page Served", "customer": {{"email": f"user{{number}}@example.com"}}}},
        unique_id=f"request-{{number}}",
    )
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"tracked"]
"""


def stored_ids(emu: Emulator) -> list[str]:
    return [item["uniqueId"] for item in emu.events()]


def test_sigterm_to_the_master_stores_every_event_of_every_worker_once(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emu = emulator_factory(rate_limit=None)
    (tmp_path / "tracking_app.py").write_text(
        APP.format(store=emu.store_id, key=emu.api_key, url=emu.base_url)
    )
    # The test binds the port and hands the socket to gunicorn: no race for a free port,
    # and connections wait in its backlog until a worker is up.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync",
         "--bind", f"fd://{listener.fileno()}", "--chdir", str(tmp_path),
         "tracking_app:app"],
        pass_fds=(listener.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    listener.close()
    try:
        for number in range(REQUESTS):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            try:
                connection.request("GET", f"/{number}")
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, b"tracked")
            finally:
                connection.close()
        assert len(stored_ids(emu)) < REQUESTS
        master.send_signal(signal.SIGTERM)
        _, errors = master.communicate(timeout=30)
        assert master.returncode == 0, errors
        # Each worker left through gunicorn's own SIGTERM handler, not killed by the signal.
        assert errors.count("Worker exiting") == 2, errors
        assert "was sent SIGTERM" not in errors
    finally:
        if master.poll() is None:
            master.kill()
            master.communicate()
    stored = stored_ids(emu)
    assert len(stored) == REQUESTS
    assert sorted(stored) == sorted(f"request-{n}" for n in range(REQUESTS))

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
batcher = client.batcher(flush_interval=60, outbox={outbox!r}, exit_timeout=3)


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


def serve(tmp_path: Path, emu: Emulator, *, outbox: str | None, url: str | None = None) -> None:
    """Run gunicorn with 2 workers, send REQUESTS requests, stop the master with SIGTERM."""
    (tmp_path / "tracking_app.py").write_text(
        APP.format(store=emu.store_id, key=emu.api_key, url=url or emu.base_url, outbox=outbox)
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
        # (With the API down the workers' exit flush runs out of exit_timeout.)
        _, errors = master.communicate(timeout=30)
        assert master.returncode == 0, errors
        # Each worker left through gunicorn's own SIGTERM handler, not killed by the signal.
        assert errors.count("Worker exiting") == 2, errors
        assert "was sent SIGTERM" not in errors
    finally:
        if master.poll() is None:
            master.kill()
            master.communicate()


@pytest.mark.parametrize("outbox", ["memory", "sqlite"])
def test_sigterm_to_the_master_stores_every_event_of_every_worker_once(
    emulator_factory: EmulatorFactory, tmp_path: Path, outbox: str
) -> None:
    emu = emulator_factory(rate_limit=None)
    # With "sqlite" both workers share one outbox file, one of them draining it.
    serve(tmp_path, emu, outbox=None if outbox == "memory" else str(tmp_path / "outbox.sqlite3"))
    stored = stored_ids(emu)
    assert len(stored) == REQUESTS
    assert sorted(stored) == sorted(f"request-{n}" for n in range(REQUESTS))


def test_a_deploy_during_an_outage_keeps_every_event_in_the_sqlite_outbox(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    from redo_kit._client import RedoClient

    emu = emulator_factory(rate_limit=None)
    path = tmp_path / "outbox.sqlite3"
    # The workers send to a port where nothing listens: Redo is down during the deploy.
    serve(tmp_path, emu, outbox=str(path), url="http://127.0.0.1:9/v2.2")
    assert stored_ids(emu) == []
    # The next release of the service opens the same file and delivers what was left.
    client = RedoClient(store_id=emu.store_id, api_key=emu.api_key, base_url=emu.base_url)
    with client, client.batcher(outbox=path, handle_sigterm=False) as batcher:
        assert batcher.flush(30).completed
    stored = stored_ids(emu)
    assert sorted(stored) == sorted(f"request-{n}" for n in range(REQUESTS))

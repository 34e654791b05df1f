"""With no logging configured, lost events are still reported on stderr, without the key."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    from redo_kit import MockTransport, RedoClient, Response

    refuse = MockTransport(
        lambda request: Response.problem(400, title="Bad Request", detail="refused")
    )
    client = RedoClient(
        store_id="64e5a8a1af49a89df37e4ee7", api_key="sk_live_SECRET", transport=refuse
    )
    batcher = client.batcher(flush_interval=0.01)
    for i in range(5):
        batcher.track({"eventName": "x", "customer": {"email": "a@example.com"},
                       "uniqueId": f"u{i}"})
    batcher.flush(timeout=5)
    batcher.close(timeout=5)
    """
)

UNSENT = textwrap.dedent(
    """
    import threading
    from redo_kit import MockTransport, RedoClient, Response

    gate = threading.Event()

    def stuck(request):
        gate.wait(30)
        return Response(202)

    client = RedoClient(
        store_id="64e5a8a1af49a89df37e4ee7", api_key="sk_live_SECRET",
        transport=MockTransport(stuck), rate_limit=None,
    )
    batcher = client.batcher(flush_interval=60, senders=1)
    for i in range(250):
        batcher.track({"eventName": "x", "customer": {"email": "a@example.com"},
                       "uniqueId": f"u{i}"})
    batcher.close(timeout=0.5)
    gate.set()
    """
)


def _stderr(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stderr


def test_events_refused_by_the_api_are_reported_with_their_count() -> None:
    err = _stderr(SCRIPT)
    lines = [line for line in err.splitlines() if "not delivered" in line]
    assert lines, err
    assert all("400" in line and "event(s)" in line for line in lines), err
    assert "SECRET" not in err


def test_events_left_queued_at_close_are_reported_once_with_their_count() -> None:
    err = _stderr(UNSENT)
    lines = [line for line in err.splitlines() if "not delivered" in line]
    assert len(lines) == 1, err
    assert "queued event(s)" in lines[0]
    assert "SECRET" not in err

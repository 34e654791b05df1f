"""SIGTERM flushes the batcher: real scripts, real signals, events read back from the emulator.

Each script runs with ``sys.executable``, tracks events into a batcher whose
``flush_interval`` (60 s) keeps them queued, prints ``ready`` and waits; the
test then signals it. Under ``scripts/test`` coverage measures the scripts
and installs its own SIGTERM handler in them (it saves its data, then
re-raises): a script that needs SIGTERM's default action sets it itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from redo_kit.emulator import Emulator
from redo_kit.testing.plugin import EmulatorFactory

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PRELUDE = """\
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from redo_kit import RedoClient


def emulator_client():
    return RedoClient(store_id={store!r}, api_key={key!r}, base_url={url!r})


def unanswering_client():
    # Connections wait in a backlog nobody accepts from: a request never gets an answer.
    server = socket.create_server(("127.0.0.1", 0))
    held.append(server)
    url = f"http://127.0.0.1:{{server.getsockname()[1]}}/v2.2"
    return RedoClient(store_id={store!r}, api_key={key!r}, base_url=url, timeout=30)


def track(batcher, numbers, prefix):
    for n in numbers:
        batcher.track(
            {{"eventName": "Script Ran", "customer": {{"email": f"user{{n}}@example.com"}}}},
            unique_id=f"{{prefix}}-{{n}}",
        )


def queue(client, count, prefix, **options):
    # 99 events per batcher: 100 waiting would go out at once, whatever flush_interval says.
    batchers = []
    for start in range(0, count, 99):
        batchers.append(client.batcher(flush_interval=60, **options))
        track(batchers[-1], range(start, min(count, start + 99)), prefix)
    return batchers


def ready():
    print("ready", flush=True)
    # Short sleeps, as a service's main loop wakes: CPython runs a signal's
    # handler between bytecodes, so a SIGTERM that lands just before a
    # blocking call begins (the parent signals the moment it reads "ready")
    # waits for that call to return; one time.sleep(60) would hold it 60 s.
    for _ in range(600):
        time.sleep(0.1)


held = []
"""


class Script:
    """A script run as a subprocess, up to the line ``ready``."""

    def __init__(self, path: Path, emu: Emulator, body: str) -> None:
        prelude = PRELUDE.format(store=emu.store_id, key=emu.api_key, url=emu.base_url)
        path.write_text(prelude + textwrap.dedent(body))
        self.process = subprocess.Popen(
            [sys.executable, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self._stderr: str | None = None
        self.before_ready: list[str] = []
        for line in self.process.stdout:
            if line == "ready\n":
                break
            self.before_ready.append(line.rstrip("\n"))
        else:
            self.process.wait(10)
            raise AssertionError(f"the script ended early:\n{self.stderr()}")

    def sigterm(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20) -> int:
        # Reading the pipes while waiting: a script that writes more than a
        # pipe holds (64 KiB of warnings) would otherwise block, never exit.
        _, self._stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode

    def stderr(self) -> str:
        if self._stderr is None:
            assert self.process.stderr is not None
            self._stderr = self.process.stderr.read()
        return self._stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


Run = Callable[[str], Script]


@pytest.fixture
def emu(emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory(rate_limit=None)


@pytest.fixture
def run(tmp_path: Path, emu: Emulator) -> Iterator[Run]:
    """``run(body)``: start a script made of the prelude and ``body``; it is killed at the end."""
    started: list[Script] = []

    def start(body: str) -> Script:
        script = Script(tmp_path / f"script{len(started)}.py", emu, body)
        started.append(script)
        return script

    yield start
    for script in started:
        script.stop()


def stored_ids(emu: Emulator) -> list[str]:
    return [item["uniqueId"] for item in emu.events()]


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def test_sigterm_delivers_every_queued_event_of_every_batcher_then_terminates(
    run: Run, emu: Emulator
) -> None:
    script = run(
        """
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        batchers = queue(emulator_client(), 500, "queued")
        ready()
        """
    )
    assert stored_ids(emu) == []
    script.sigterm()
    assert script.wait() == -signal.SIGTERM
    assert "could not deliver" not in script.stderr()
    stored = stored_ids(emu)
    assert len(stored) == 500
    assert sorted(stored) == sorted(ids("queued", 500))


def test_without_handle_sigterm_the_queue_dies_with_the_process(run: Run, emu: Emulator) -> None:
    script = run(
        """
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        batchers = queue(emulator_client(), 500, "lost", handle_sigterm=False)
        ready()
        """
    )
    script.sigterm()
    assert script.wait() == -signal.SIGTERM
    assert stored_ids(emu) == []


def test_a_python_handler_installed_before_runs_after_the_flush(
    run: Run, emu: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    script = run(
        f"""
        def stop(signum, frame):
            # What was still waiting when this handler ran.
            pending = sum(batcher.stats().pending for batcher in batchers)
            Path({str(marker)!r}).write_text(f"{{signum}} {{pending}}")
            sys.exit(3)

        signal.signal(signal.SIGTERM, stop)
        batchers = queue(emulator_client(), 500, "chained")
        ready()
        """
    )
    assert stored_ids(emu) == []
    script.sigterm()
    assert script.wait() == 3, script.stderr()
    assert marker.read_text() == f"{signal.SIGTERM} 0"
    stored = stored_ids(emu)
    assert len(stored) == 500
    assert sorted(stored) == sorted(ids("chained", 500))


def test_a_handler_installed_after_ours_keeps_sigterm(
    run: Run, emu: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    script = run(
        f"""
        def mine(signum, frame):
            pending = sum(batcher.stats().pending for batcher in batchers)
            Path({str(marker)!r}).write_text(str(pending))
            sys.exit(3)

        batchers = queue(emulator_client(), 50, "before")
        signal.signal(signal.SIGTERM, mine)
        batchers += queue(emulator_client(), 50, "after")
        print(signal.getsignal(signal.SIGTERM) is mine, flush=True)
        ready()
        """
    )
    assert script.before_ready == ["True"]
    script.sigterm()
    assert script.wait() == 3, script.stderr()
    # Nothing was flushed before that handler ran; the exit closed the batchers.
    assert marker.read_text() == "100"
    assert sorted(stored_ids(emu)) == sorted(ids("before", 50) + ids("after", 50))


def test_a_flush_that_raises_is_logged_and_the_others_still_run(run: Run, emu: Emulator) -> None:
    script = run(
        """
        from redo_kit._signals import flush_on_sigterm

        def broken(deadline):
            raise RuntimeError("this flush is broken")

        flush_on_sigterm(broken, 1.0)
        batchers = queue(emulator_client(), 50, "after-broken")
        ready()
        """
    )
    assert stored_ids(emu) == []
    script.sigterm()
    assert script.wait() == -signal.SIGTERM
    assert "this flush is broken" in script.stderr()
    assert sorted(stored_ids(emu)) == sorted(ids("after-broken", 50))


def test_an_ignored_sigterm_stays_ignored(run: Run, emu: Emulator) -> None:
    script = run(
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        batchers = queue(emulator_client(), 50, "ignored")
        print("ready", flush=True)
        sys.stdin.readline()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, flush=True)
        """
    )
    script.sigterm()
    time.sleep(0.5)
    assert script.process.poll() is None
    assert stored_ids(emu) == []
    out, err = script.process.communicate("go\n", timeout=20)
    assert script.process.returncode == 0, err
    assert out == "True\n"
    # At a normal exit, atexit closes the batcher.
    assert sorted(stored_ids(emu)) == sorted(ids("ignored", 50))


def test_a_batcher_made_off_the_main_thread_installs_nothing(run: Run, emu: Emulator) -> None:
    script = run(
        """
        before = signal.getsignal(signal.SIGTERM)
        made = []
        maker = threading.Thread(target=lambda: made.extend(queue(emulator_client(), 50, "off")))
        maker.start()
        maker.join()
        print(len(made), signal.getsignal(signal.SIGTERM) is before, flush=True)
        ready()
        """
    )
    assert script.before_ready == ["1 True"]
    script.sigterm()
    assert script.wait() == -signal.SIGTERM
    assert stored_ids(emu) == []


def test_the_handler_keeps_no_batcher_alive(run: Run, emu: Emulator) -> None:
    script = run(
        """
        import gc
        import weakref

        batcher = emulator_client().batcher(flush_interval=60)
        track(batcher, range(10), "closed")
        batcher.close()
        gone = weakref.ref(batcher)
        del batcher
        gc.collect()
        print(gone() is None, flush=True)
        ready()
        """
    )
    assert script.before_ready == ["True"]
    script.sigterm()
    assert script.wait() == -signal.SIGTERM
    assert sorted(stored_ids(emu)) == sorted(ids("closed", 10))


def test_a_second_sigterm_during_a_slow_flush_terminates_at_once(run: Run) -> None:
    script = run(
        """
        batchers = queue(unanswering_client(), 10, "stuck", exit_timeout=60)
        ready()
        """
    )
    script.sigterm()
    time.sleep(1.0)
    assert script.process.poll() is None, "the first SIGTERM should wait for the flush"
    started = time.monotonic()
    script.sigterm()
    assert script.wait(10) == -signal.SIGTERM
    assert time.monotonic() - started < 3


def test_batchers_share_one_deadline_the_longest_exit_timeout(run: Run) -> None:
    script = run(
        """
        short = queue(unanswering_client(), 10, "short", exit_timeout=2)
        long = queue(unanswering_client(), 10, "long", exit_timeout=4)
        ready()
        """
    )
    started = time.monotonic()
    script.sigterm()
    assert script.wait(20) == -signal.SIGTERM
    # 4 s: the longest exit_timeout; 6 s would be their sum.
    assert 3.5 < time.monotonic() - started < 5.5
    assert "could not deliver every queued event within 4.0 s of SIGTERM" in script.stderr()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")
def test_redo_kit_threads_leave_signals_to_the_main_thread(emu: Emulator) -> None:
    from redo_kit import RedoClient

    def blocked(thread: threading.Thread) -> int:
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
        (mask,) = (line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:"))
        return int(mask, 16)

    client = RedoClient(store_id=emu.store_id, api_key=emu.api_key, base_url=emu.base_url)
    with client, client.batcher(handle_sigterm=False) as batcher:
        batcher.track({"eventName": "Thread Check", "customer": {"email": "a@example.com"}})
        assert batcher.flush(10).completed
        ours = [t for t in threading.enumerate() if t.name.startswith("redo-kit-")]
        names = {t.name for t in ours}
        assert {"redo-kit-batcher", "redo-kit-delivery", "redo-kit-deadlines"} <= names
        for thread in ours:
            for number in (signal.SIGTERM, signal.SIGINT):
                assert blocked(thread) & (1 << (number - 1)), (thread.name, number)
    assert not blocked(threading.main_thread()) & (1 << (signal.SIGTERM - 1))

"""SIGTERM: deliver what is queued before the process is terminated.

Docker, Kubernetes and systemd stop a service with SIGTERM. Python's default
action for it ends the process at once, without ``atexit`` handlers, so a
batcher's queue would die with a plain script. :func:`flush_on_sigterm`
registers a flush; one handler for the whole process runs every registered
flush, sharing one deadline (the longest of their timeouts, not their sum),
and then lets the signal do what it would have done without us:

- SIGTERM had its default action: after the flush the default action is put
  back and SIGTERM raised again, so the process still ends "terminated by
  SIGTERM" (exit status 143 in a shell, -15 for :mod:`subprocess`);
- a Python handler was installed (a server's or a framework's): it is put
  back and called with the same ``(signum, frame)``, so it decides what
  follows;
- SIGTERM is ignored (``SIG_IGN``) or handled from C (``signal.getsignal``
  says ``None``): it is left alone;
- a handler installed after ours replaced it: it is left alone, and a later
  registration does not take SIGTERM back.

The handler runs once: while it flushes, SIGTERM has its default action, so
a second SIGTERM ends the process at once (an operator can always escalate).
Only the main thread of the main interpreter may install a signal handler;
a flush registered from elsewhere is kept and runs if the handler is
installed by a later registration from the main thread.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import signal
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from redo_kit._logging import logger

__all__ = ["flush_on_sigterm", "in_daemon", "quiet_this_thread", "start_daemon"]

T = TypeVar("T")

Flush = Callable[[float], object]
"""Called with a deadline, in :func:`time.monotonic` seconds, that it must keep."""

_Handler = Callable[[int, types.FrameType | None], Any] | int | signal.Handlers | None

_flushes: dict[int, tuple[weakref.ref[Flush], float]] = {}
_keys = itertools.count()
_previous: _Handler = signal.SIG_DFL
"""What SIGTERM did before our handler took it over; the handler hands it back."""
_taken = False
"""Whether our handler was installed once: it is never installed again."""


_QUIET: frozenset[int] = frozenset(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
"""The signals a redo-kit thread never takes: the kernel hands them to another thread."""


def start_daemon(target: Callable[[], object], name: str) -> threading.Thread | None:
    """Start ``target`` on a daemon thread that blocks the process's signals.

    A process-directed signal goes to any thread that does not block it. A
    SIGTERM or Ctrl-C taken by a background thread leaves the main thread
    asleep in ``time.sleep`` or ``select`` until that call ends on its own,
    and Python runs signal handlers only on the main thread: blocked here,
    they reach it at once. The thread inherits the mask from its creator, so
    the mask is set around ``start`` (a signal meanwhile waits, then comes).
    Returns the thread, or ``None`` when none can start (Python 3.12+ starts
    no thread while the interpreter exits).
    """
    thread = threading.Thread(target=target, name=name, daemon=True)
    mask = getattr(signal, "pthread_sigmask", None)
    previous = mask(signal.SIG_BLOCK, _QUIET) if mask is not None else None
    try:
        thread.start()
    except RuntimeError:
        return None
    finally:
        if mask is not None and previous is not None:
            mask(signal.SIG_SETMASK, previous)
    return thread


def quiet_this_thread() -> None:
    """Block the process's signals on the calling thread, as :func:`start_daemon` does.

    For threads redo-kit does not start itself: the ``initializer`` of a
    :class:`concurrent.futures.ThreadPoolExecutor`, which runs first on each
    of its threads. A no-op where ``pthread_sigmask`` does not exist.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None:
        mask(signal.SIG_BLOCK, _QUIET)


async def in_daemon(target: Callable[[], T], name: str) -> T:
    """``target()`` run on a :func:`start_daemon` thread, awaited without blocking the loop.

    For blocking calls that have a deadline of their own (a batcher's
    ``flush``, an executor's shutdown). Cancelling the await does not stop
    the thread: ``target`` runs to its end and its result is dropped. When
    no thread can start (the interpreter is exiting), ``target`` runs here.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def apply(settle: Callable[[], None]) -> None:
        if not future.done():  # not cancelled meanwhile
            settle()

    def run() -> None:
        settle: Callable[[], None]
        try:
            value = target()
        except BaseException as exc:
            settle = functools.partial(future.set_exception, exc)
        else:
            settle = functools.partial(future.set_result, value)
        # The loop closed meanwhile: nobody waits for the outcome.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(apply, settle)

    if start_daemon(run, name) is None:
        return target()
    return await future


def flush_on_sigterm(flush: Flush, timeout: float) -> None:
    """Call ``flush(deadline)`` when the process gets SIGTERM, before the signal takes effect.

    ``flush``: a function or a bound method, held weakly, so registering
    keeps no batcher alive; it must return by ``deadline``. ``timeout``:
    the seconds it may take. On SIGTERM the live flushes run one after the
    other with one shared deadline: the longest ``timeout`` among them,
    counted from the signal. Installs the process's handler the first time
    it can (the module's docstring says when it does not).
    """
    key = next(_keys)

    def forget(_: object) -> None:
        _flushes.pop(key, None)

    ref: weakref.ref[Flush] = (
        weakref.WeakMethod(flush, forget)
        if isinstance(flush, types.MethodType)
        else weakref.ref(flush, forget)
    )
    _flushes[key] = (ref, timeout)
    _install()


def _install() -> None:
    global _previous, _taken
    current = signal.getsignal(signal.SIGTERM)
    if _taken or (current is not signal.SIG_DFL and not callable(current)):
        return
    # Set before the handler can run: a SIGTERM may come right after it is installed.
    _previous = current
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread of the main interpreter
        return
    _taken = True


def _on_sigterm(signum: int, frame: types.FrameType | None) -> None:
    previous = _previous
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        _flush_all()
    except Exception:  # a handler that raises would replace the signal by a traceback
        logger.exception("redo-kit could not flush its batchers on SIGTERM")
    signal.signal(signal.SIGTERM, previous)
    # The handler may run inside start_daemon's window, where this thread
    # blocks SIGTERM too: raised (by us or by a handler that re-raises) while
    # every thread blocks it, it would stay pending, and the process alive.
    unblock = getattr(signal, "pthread_sigmask", None)
    if unblock is not None:
        unblock(signal.SIG_UNBLOCK, {signum})
    if callable(previous):
        previous(signum, frame)
    else:
        signal.raise_signal(signum)  # pragma: no cover  (the process ends here)


def _flush_all() -> None:
    """Run every registered flush on a thread of its own, and wait for it until the deadline.

    Not on this thread: the signal may have interrupted the main thread
    while it held a batcher's lock, which a flush here would wait for
    forever. On another thread, such a flush only runs out of time; that
    is logged, since what it did not deliver is lost if the signal ends
    the process.
    """
    # A copy first: a weak reference's callback may drop an entry meanwhile.
    entries = [(ref(), timeout) for ref, timeout in _flushes.copy().values()]
    flushes = [(flush, timeout) for flush, timeout in entries if flush is not None]
    if not flushes:
        return
    longest = max(timeout for _, timeout in flushes)
    deadline = time.monotonic() + longest

    def run() -> None:
        for flush, _ in flushes:
            try:
                flush(deadline)
            except Exception:
                logger.exception("redo-kit: a flush on SIGTERM failed")

    worker = start_daemon(run, "redo-kit-sigterm")
    if worker is None:  # the interpreter is exiting: no thread to flush on
        run()
    else:
        worker.join(max(0.0, deadline - time.monotonic()))
    # A flush returns early once everything is delivered: reaching the deadline means it was not.
    if time.monotonic() >= deadline:
        logger.warning(
            "redo-kit could not deliver every queued event within %.1f s of SIGTERM "
            "(the longest exit_timeout)",
            longest,
        )

"""``redo-kit emulator``: run the emulator in the foreground until SIGINT or SIGTERM.

The first line written to stdout is ``listening on http://HOST:PORT/v2.2``, so
a script can start the emulator with ``--port 0`` and read the port from it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from redo_kit._client import NOT_GIVEN
from redo_kit._errors import ConfigurationError
from redo_kit._rules import is_store_id, limits
from redo_kit.emulator._auth import DEMO_API_KEY, DEMO_STORE_ID, WRITE_SCOPE, ApiKey
from redo_kit.emulator._emulator import Emulator
from redo_kit.emulator._faults import FAULT_KINDS

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)"
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite file to keep events in (default: in memory)"
    )
    parser.add_argument(
        "--store",
        metavar="STORE_ID=API_KEY",
        action="append",
        default=[],
        help="a store and its API key; repeat for more stores or keys "
        f"(default: demo store {DEMO_STORE_ID} with key {DEMO_API_KEY})",
    )
    parser.add_argument(
        "--scopes",
        metavar="API_KEY=SCOPE[,SCOPE]",
        action="append",
        default=[],
        help=f"the scopes of a key given with --store (default {WRITE_SCOPE}); "
        f"'sk_ro=customer_events_read' makes a key that can read the inspection API but "
        "not send, 'sk_none=' one with no scope at all",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N",
        type=float,
        default=NOT_GIVEN,
        help="requests/s per store per endpoint; 0 for none (default: the spec's "
        f"x-redo-rate-limit, {limits().rate_limit:g})",
    )
    parser.add_argument(
        "--faults",
        metavar="SPEC",
        help=f"comma-separated KIND=PROBABILITY, KIND one of {', '.join(FAULT_KINDS)} "
        "(example: 503=0.1,429=0.05,reset=0.05,lost-ack=0.05)",
    )
    parser.add_argument(
        "--fault-delay",
        metavar="SECONDS",
        type=float,
        default=1.0,
        help="how long a 'delay' fault holds the answer (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, help="seed for the fault draws, to repeat a run exactly"
    )
    parser.add_argument(
        "--bulk-report",
        action="store_true",
        help="answer each bulk request with the spec's per-event report "
        "(BulkEventsReport) instead of Redo's published 202 with no body",
    )
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        help="a tracking plan (YAML or JSON): events are still accepted as Redo accepts them, "
        "and each stored event's plan problems are listed under "
        "/_emulator/stores/{id}/violations and counted in the summary",
    )


_NOT_SHOWN = "(the value is not shown: it may hold an API key)"


def _stores(items: list[str], scope_items: list[str]) -> dict[str, list[ApiKey]]:
    # An option's value holds a secret: no message below repeats it, or any part of it.
    scopes: dict[str, frozenset[str]] = {}
    for position, item in enumerate(scope_items, 1):
        key, sep, names = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(
                f"--scopes number {position} takes API_KEY=SCOPE[,SCOPE] {_NOT_SHOWN}"
            )
        scopes[key.strip()] = frozenset(n.strip() for n in names.split(",") if n.strip())
    stores: dict[str, list[ApiKey]] = {}
    for position, item in enumerate(items, 1):
        store_id, sep, key = item.partition("=")
        if not sep or not store_id.strip() or not key.strip():
            raise ConfigurationError(
                f"--store number {position} takes STORE_ID=API_KEY, with '=' between "
                f"two non-empty parts {_NOT_SHOWN}"
            )
        if not is_store_id(store_id.strip()):
            raise ConfigurationError(
                f"--store number {position}: the part before '=' is not a store id "
                f"(letters, digits, '_' or '-') {_NOT_SHOWN}"
            )
        key = key.strip()
        granted = scopes.get(key, frozenset({WRITE_SCOPE}))
        stores.setdefault(store_id.strip(), []).append(ApiKey(key, scopes=granted))
    given = {key.secret for keys in stores.values() for key in keys}
    if unknown := scopes.keys() - given:
        # Named by count, not by secret: the key itself stays out of the output.
        raise ConfigurationError(
            f"--scopes names {len(unknown)} key(s) that no --store gives; "
            "give each key with --store STORE_ID=API_KEY first"
        )
    return stores


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code (0 after a clean stop)."""
    if args.scopes and not args.store:
        raise ConfigurationError("--scopes applies to keys given with --store; give those too")
    stores = _stores(args.store, args.scopes) if args.store else None
    emulator = Emulator(
        stores,
        host=args.host,
        port=args.port,
        db=args.db,
        rate_limit=args.rate_limit,
        faults=args.faults,
        fault_delay=args.fault_delay,
        seed=args.seed,
        bulk_report=args.bulk_report,
        plan=args.plan,
    )
    try:
        emulator.start()
    except (OSError, OverflowError) as exc:
        raise ConfigurationError(f"cannot listen on {args.host} port {args.port}: {exc}") from exc
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with emulator:
            print(f"listening on {emulator.base_url}", flush=True)
            if stores is None:
                print(f"demo store {emulator.store_id} with API key {emulator.api_key}")
            print(f"inspection API under {emulator.url}/_emulator", flush=True)
            if emulator.plan is not None:
                plan = emulator.plan
                print(
                    f"recording violations of the tracking plan {plan.source} ({plan.version}) "
                    f"under {emulator.url}/_emulator/stores/{{id}}/violations",
                    flush=True,
                )
            # A bounded wait keeps the main thread responsive to signals everywhere.
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=sys.stderr, flush=True)
    return 0

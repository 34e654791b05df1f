"""The emulator from a shell: ``python -m redo_kit.emulator``, as ``redo-kit emulator`` runs it."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from helpers import inspect

from redo_kit import NOT_GIVEN
from redo_kit.emulator import DEMO_API_KEY, DEMO_STORE_ID
from redo_kit.emulator._cli import configure_parser


@contextmanager
def _emulator(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, "-m", "redo_kit.emulator", "--port", "0", *options]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline().strip()
            assert first.startswith("listening on http://127.0.0.1:"), first
            assert first.endswith("/v2.2")
            yield process, first.removeprefix("listening on ")
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


def _post(base_url: str, store: str, key: str) -> int:
    event = {"eventName": "Order Placed", "customer": {"email": "a@example.com"}}
    with urllib3.PoolManager(retries=False, timeout=10.0) as http:
        response = http.request(
            "POST",
            f"{base_url}/stores/{store}/events",
            body=orjson.dumps(event),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        return response.status


def _stored(base_url: str, store: str, key: str) -> list[Any]:
    """The events the emulator holds for ``store``, read with ``key``."""
    return inspect(base_url.removesuffix("/v2.2"), store, key)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_the_configured_stores_and_stops_cleanly_on_a_signal(
    sig: signal.Signals,
) -> None:
    with _emulator("--store", "shop=sk_1", "--store", "shop=sk_2", "--rate-limit", "0") as (
        process,
        base_url,
    ):
        assert _post(base_url, "shop", "sk_1") == 202
        assert _post(base_url, "shop", "sk_2") == 202
        assert _post(base_url, DEMO_STORE_ID, DEMO_API_KEY) == 401
        process.send_signal(sig)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert DEMO_API_KEY not in out


def test_without_a_store_the_demo_store_and_key_are_printed() -> None:
    with _emulator() as (process, base_url):
        assert process.stdout is not None
        second = process.stdout.readline()
        assert DEMO_STORE_ID in second
        assert DEMO_API_KEY in second
        assert _post(base_url, DEMO_STORE_ID, DEMO_API_KEY) == 202
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        assert process.returncode == 0


def test_a_file_database_is_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "events.db")
    for _ in range(2):
        with _emulator("--db", path, "--store", "shop=sk") as (process, base_url):
            assert _post(base_url, "shop", "sk") == 202
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)
    with _emulator("--db", path, "--store", "shop=sk") as (process, base_url):
        assert len(_stored(base_url, "shop", "sk")) == 2
        process.send_signal(signal.SIGTERM)


def test_scopes_make_a_read_only_key_and_a_key_with_none() -> None:
    options = ("--store", "shop=sk_rw", "--store", "shop=sk_ro", "--store", "shop=sk_none")
    scopes = ("--scopes", "sk_ro=customer_events_read", "--scopes", "sk_none=")
    with _emulator(*options, *scopes, "--rate-limit", "0") as (process, base_url):
        assert _post(base_url, "shop", "sk_rw") == 202
        assert _post(base_url, "shop", "sk_ro") == 403
        assert _post(base_url, "shop", "sk_none") == 403
        assert len(_stored(base_url, "shop", "sk_ro")) == 1
        process.send_signal(signal.SIGTERM)


@pytest.mark.parametrize(
    "options",
    [
        ("--store", "no-key"),
        ("--store", "bad/id=k"),
        ("--store", "shop=sk", "--scopes", "sk_secret_other=customer_events_read"),
        ("--scopes", "sk=customer_events_read"),
        ("--store", "shop=sk", "--scopes", "no-equals"),
        ("--faults", "teapot=1"),
        ("--faults", "503=2"),
    ],
)
def test_bad_options_exit_2_with_a_message(options: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit.emulator", *options],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "redo-kit emulator:" in done.stderr
    assert "sk_secret_other" not in done.stderr


SECRET = "sk_live_do_not_print"
"""A key that no error message may repeat, in whole or in part."""

ENTRY_POINTS = {
    "redo-kit emulator": [str(Path(sys.executable).with_name("redo-kit")), "emulator"],
    "python -m redo_kit.emulator": [sys.executable, "-m", "redo_kit.emulator"],
}


def _bad_databases(tmp: Path) -> dict[str, str]:
    text = tmp / "notes.txt"
    text.write_text("not a database\n")
    return {"text": str(text), "directory": str(tmp), "missing": str(tmp / "nowhere" / "x.db")}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    "options",
    [
        ("--db", "{text}"),
        ("--db", "{directory}"),
        ("--db", "{missing}"),
        ("--store", f"shop:{SECRET}"),
        ("--store", f"shop:{SECRET}=x"),
        ("--store", f"shop={SECRET}", "--scopes", f"{SECRET}"),
        ("--store", f"shop={SECRET}", "--scopes", f"{SECRET}x=customer_events_read"),
        ("--store", f"={SECRET}"),
        ("--faults", "503=often"),
        ("--faults", "teapot=0.1"),
        ("--port", "99999"),
    ],
)
def test_configuration_errors_exit_2_with_one_line_and_no_key(
    tmp_path: Path, entry: str, options: tuple[str, ...]
) -> None:
    paths = _bad_databases(tmp_path)
    command = [*ENTRY_POINTS[entry], *(option.format(**paths) for option in options)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("redo-kit")
    assert "Traceback" not in done.stderr
    assert "sk_live" not in done.stderr
    assert "do_not_print" not in done.stderr
    if options[0] == "--db":
        assert "emulator database" in done.stderr


def test_the_parser_has_the_documented_options_and_defaults() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.db, args.store) == ("127.0.0.1", 0, None, [])
    assert (args.faults, args.fault_delay, args.seed) == (None, 1.0, None)
    # Not given: each endpoint gets its own x-redo-rate-limit of the spec in use.
    assert args.rate_limit is NOT_GIVEN
    assert "x-redo-rate-limit, 100)" in " ".join(parser.format_help().split())
    args = parser.parse_args(
        [
            "--host", "::1", "--port", "8080", "--db", "x.db", "--store", "a=b", "--store", "c=d",
            "--rate-limit", "0", "--faults", "503=0.1,lost-ack=0.05", "--fault-delay", "2.5",
            "--seed", "7",
        ]
    )  # fmt: skip
    assert args.store == ["a=b", "c=d"]
    assert (args.rate_limit, args.fault_delay, args.seed) == (0.0, 2.5, 7)

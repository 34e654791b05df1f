"""The emulator's inspection API over real loopback HTTP: who may see and empty what, and pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3
from helpers import STORE, page_view

from redo_kit.emulator import ApiKey, Emulator
from redo_kit.emulator._store import EventStore, Rejection

KEY = "sk_insp_write"
READ_ONLY_KEY = "sk_insp_read"
NO_SCOPE_KEY = "sk_insp_none"
OTHER_STORE = "other_store"
OTHER_KEY = "sk_insp_other"
UNKNOWN_STORE = "no_such_store"


class Http:
    """Raw requests to one emulator, with a Bearer key."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.pool = urllib3.PoolManager(retries=False, timeout=30.0)

    def request(
        self, method: str, path: str, *, key: str | None = KEY, body: Any = None
    ) -> urllib3.BaseHTTPResponse:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        return self.pool.request(method, self.emulator.url + path, headers=headers, body=data)

    def send(self, events: list[dict[str, Any]], *, store: str = STORE, key: str = KEY) -> None:
        for start in range(0, len(events), 100):
            response = self.request(
                "POST",
                f"/v2.2/stores/{store}/events/bulk",
                key=key,
                body={"events": events[start : start + 100]},
            )
            assert response.status == 202, response.data

    def json(self, path: str, *, key: str = KEY) -> Any:
        response = self.request("GET", path, key=key)
        assert response.status == 200, response.data
        assert response.headers["Content-Type"] == "application/json"
        return orjson.loads(response.data)


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    emulator: Emulator = emulator_factory(
        stores={
            STORE: [
                KEY,
                ApiKey(READ_ONLY_KEY, scopes=["customer_events_read"]),
                ApiKey(NO_SCOPE_KEY, scopes=[]),
            ],
            OTHER_STORE: OTHER_KEY,
        },
        rate_limit=None,
    )
    return emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[Http]:
    client = Http(emu)
    yield client
    client.pool.clear()


def problem(response: urllib3.BaseHTTPResponse, status: int) -> dict[str, Any]:
    assert response.status == status, response.data
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = orjson.loads(response.data)
    assert body["status"] == status
    return body


# -- permissions ---------------------------------------------------------------


@pytest.mark.parametrize("key", [READ_ONLY_KEY, NO_SCOPE_KEY])
def test_emptying_a_store_needs_the_write_scope(http: Http, emu: Emulator, key: str) -> None:
    http.send([page_view(1)])
    found = problem(http.request("DELETE", f"/_emulator/stores/{STORE}", key=key), 403)
    assert "customer_events_write" in found["detail"]
    assert len(emu.events()) == 1
    # Reading needs no scope beyond a key of the store.
    assert len(http.json(f"/_emulator/stores/{STORE}/events", key=key)["events"]) == 1
    assert http.request("DELETE", f"/_emulator/stores/{STORE}").status == 204
    assert emu.events() == []


@pytest.mark.parametrize(
    ("method", "view"),
    [
        ("GET", "/events"),
        ("GET", "/customers"),
        ("GET", "/rejected"),
        ("GET", "/summary"),
        ("GET", "/events?limit=1"),
        ("DELETE", ""),
    ],
)
def test_another_stores_id_and_an_unknown_one_get_the_same_answer(
    http: Http, emu: Emulator, method: str, view: str
) -> None:
    http.send([page_view(1)], store=OTHER_STORE, key=OTHER_KEY)
    for key in (KEY, READ_ONLY_KEY, NO_SCOPE_KEY):
        other = problem(
            http.request(method, f"/_emulator/stores/{OTHER_STORE}{view}", key=key), 404
        )
        unknown = problem(
            http.request(method, f"/_emulator/stores/{UNKNOWN_STORE}{view}", key=key), 404
        )
        assert other.pop("instance") != unknown.pop("instance")
        assert other == unknown
        assert other["detail"] == "no such store for this API key"
    assert len(emu.events(OTHER_STORE)) == 1


def test_the_event_operations_keep_the_specs_403_and_404(http: Http) -> None:
    body = {"events": [page_view(1)]}
    for path in ("/events", "/events/bulk"):
        payload = body if path.endswith("bulk") else page_view(1)
        other = http.request("POST", f"/v2.2/stores/{OTHER_STORE}{path}", body=payload)
        unknown = http.request("POST", f"/v2.2/stores/{UNKNOWN_STORE}{path}", body=payload)
        assert "another store" in problem(other, 403)["detail"]
        problem(unknown, 404)


def test_stats_show_a_key_the_counters_of_its_own_store_only(http: Http, emu: Emulator) -> None:
    http.send([page_view(1), page_view(2), {"eventName": "bad"}])
    http.send([page_view(3, unique_id=True)] * 2, store=OTHER_STORE, key=OTHER_KEY)
    problem(http.request("POST", f"/v2.2/stores/{STORE}/events", key="sk_wrong", body={}), 401)
    problem(http.request("POST", f"/v2.2/stores/{UNKNOWN_STORE}/events", body=page_view(4)), 404)
    mine = http.json("/_emulator/stats")
    assert mine == {
        "requests": {"202": 1, "401": 1},
        "stored": 2,
        "deduplicated": 0,
        "rejected": 1,
        "rateLimited": 0,
        "faults": {},
    }
    assert http.json("/_emulator/stats", key=READ_ONLY_KEY) == mine
    theirs = http.json("/_emulator/stats", key=OTHER_KEY)
    assert theirs["requests"] == {"202": 1}
    assert (theirs["stored"], theirs["deduplicated"], theirs["rejected"]) == (1, 1, 0)
    assert emu.stats(STORE) == mine
    assert emu.stats(OTHER_STORE) == theirs
    # In-process, the emulator's owner sees every request, the unknown store's 404 included.
    everything = emu.stats()
    assert everything["requests"] == {"202": 2, "401": 1, "404": 1}
    assert everything["stored"] == 3


def test_a_fault_drawn_before_the_store_is_known_counts_for_that_store(
    emulator_factory: Any,
) -> None:
    emu: Emulator = emulator_factory(
        stores={STORE: KEY, OTHER_STORE: OTHER_KEY},
        rate_limit=None,
        faults="delay=1",
        fault_delay=0,
    )
    http = Http(emu)
    try:
        http.send([page_view(1)])
        assert http.json("/_emulator/stats")["faults"] == {"delay": 1}
        assert http.json("/_emulator/stats", key=OTHER_KEY)["faults"] == {}
        # On the same connection, the next request starts with no store of its own.
        response = http.request("POST", f"/v2.2/stores/{UNKNOWN_STORE}/events", body=page_view(2))
        problem(response, 404)
        assert http.json("/_emulator/stats")["faults"] == {"delay": 1}
        assert emu.stats()["faults"] == {"delay": 2}
    finally:
        http.pool.clear()


# -- pages ---------------------------------------------------------------------


def _pages(http: Http, view: str, query: str = "") -> list[dict[str, Any]]:
    pages = []
    cursor = None
    while True:
        after = "" if cursor is None else f"&after={cursor}"
        page = http.json(f"/_emulator/stores/{STORE}/{view}?{query}{after}")
        assert set(page) == {view, "next"}
        pages.append(page)
        cursor = page["next"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)


def test_events_come_in_pages_of_1000_without_overlap_or_gap(http: Http, emu: Emulator) -> None:
    http.send([page_view(n, unique_id=True) for n in range(2_500)])
    pages = _pages(http, "events")
    assert [len(page["events"]) for page in pages] == [1_000, 1_000, 500]
    seen = [event["uniqueId"] for page in pages for event in page["events"]]
    assert seen == [f"view-{n}" for n in range(2_500)]
    # In-process, every event still comes at once.
    assert [event["uniqueId"] for event in emu.events()] == seen
    assert [page["events"] for page in pages] == [
        emu.events()[:1_000],
        emu.events()[1_000:2_000],
        emu.events()[2_000:],
    ]


def test_a_limit_sets_the_page_size_and_customers_and_rejected_page_too(
    http: Http, emu: Emulator
) -> None:
    http.send([page_view(n) for n in range(350)] + [{"eventName": "bad"}] * 5)
    customers = _pages(http, "customers", "limit=120")
    assert [len(page["customers"]) for page in customers] == [120, 120, 60]
    assert [c for page in customers for c in page["customers"]] == emu.customers()
    rejected = _pages(http, "rejected", "limit=2")
    assert [len(page["rejected"]) for page in rejected] == [2, 2, 1]
    assert [r for page in rejected for r in page["rejected"]] == emu.rejected()
    exact = _pages(http, "events", "limit=350")
    assert [len(page["events"]) for page in exact] == [350]
    assert http.json(f"/_emulator/stores/{STORE}/events?limit=10000")["next"] is None


def test_an_empty_store_is_one_empty_page(http: Http) -> None:
    assert http.json(f"/_emulator/stores/{STORE}/events") == {"events": [], "next": None}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("limit=1&limit=2", "limit"),
        ("limit=%D9%A3", "limit"),
        ("after=abc", "after"),
        ("after=-5", "after"),
        ("after=", "after"),
        ("after=99999999999999999999999", "after"),
    ],
)
def test_a_bad_limit_or_cursor_is_400_naming_the_parameter(
    http: Http, query: str, parameter: str
) -> None:
    for view in ("events", "customers", "rejected"):
        found = problem(http.request("GET", f"/_emulator/stores/{STORE}/{view}?{query}"), 400)
        assert found["detail"].startswith(parameter)
        assert [error["path"] for error in found["errors"]] == [parameter]


def test_a_cursor_opens_only_for_the_list_that_gave_it_and_hides_the_row_id(
    http: Http,
) -> None:
    # Row ids are shared by every store: a bare one would count the other stores' events.
    http.send([page_view(n) for n in range(300)], store=OTHER_STORE, key=OTHER_KEY)
    http.send([page_view(n) for n in range(3)] + [{"eventName": "bad"}] * 3)
    first = http.json(f"/_emulator/stores/{STORE}/events?limit=1")
    cursor = first["next"]
    assert cursor is not None
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", cursor)
    again = http.json(f"/_emulator/stores/{STORE}/events?limit=1")["next"]
    assert again != cursor
    second = http.json(f"/_emulator/stores/{STORE}/events?limit=1&after={again}")
    assert second["events"] != first["events"]
    # A cursor may be used again: the same page comes back.
    replay = http.json(f"/_emulator/stores/{STORE}/events?limit=1&after={cursor}")
    assert replay["events"] == second["events"]
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for path in (
        f"/_emulator/stores/{STORE}/customers?after={cursor}",
        f"/_emulator/stores/{STORE}/rejected?after={cursor}",
        f"/_emulator/stores/{STORE}/events?after={tampered}",
        f"/_emulator/stores/{STORE}/events?after={cursor}!",
    ):
        found = problem(http.request("GET", path), 400)
        assert [error["path"] for error in found["errors"]] == ["after"]
    found = problem(
        http.request(
            "GET", f"/_emulator/stores/{OTHER_STORE}/events?after={cursor}", key=OTHER_KEY
        ),
        400,
    )
    assert found["errors"][0]["path"] == "after"


def test_iter_events_reads_lazily_page_by_page(http: Http, emu: Emulator) -> None:
    http.send([page_view(n, unique_id=True) for n in range(25)])
    lazy = emu.iter_events(page_size=10)
    first = [next(lazy)["uniqueId"] for _ in range(10)]
    # Stored while iterating: read with the page after the current one.
    http.send([page_view(25, unique_id=True)])
    rest = [event["uniqueId"] for event in lazy]
    assert first + rest == [f"view-{n}" for n in range(26)]
    assert list(emu.iter_events(page_size=10_000)) == emu.events()
    assert list(emu.iter_events(OTHER_STORE)) == []
    with pytest.raises(ValueError, match="limit"):
        next(emu.iter_events(page_size=10_001))


def test_the_in_process_lists_read_past_one_full_page() -> None:
    store = EventStore()
    try:
        store.ingest(STORE, [], [Rejection(n, {"n": n}, []) for n in range(10_001)])
        items = store.rejected(STORE)
        assert [item["index"] for item in items] == list(range(10_001))
        page, after = store.rejected_page(STORE, limit=10_000)
        assert len(page) == 10_000
        assert after is not None
        assert store.rejected_page(STORE, after=after)[0] == items[10_000:]
        with pytest.raises(ValueError, match="limit"):
            store.events_page(STORE, limit=0)
    finally:
        store.close()

"""A hypothesis state machine: an emulator checked against a small model of Redo's rules.

:class:`EmulatorMachine` sends random sequences of single and bulk events to
a running :class:`~redo_kit.emulator.Emulator` over HTTP, and the same events
to :class:`ReferenceModel`, a few dozen lines that follow the spec's
``x-redo-*`` rules as written. After every step the emulator's inspection API
(``/_emulator/stores/{id}/events`` and ``/customers``) must show what the
model holds. The events are drawn from small pools so that the rules meet:
repeated ``uniqueId``s across both endpoints, emails that differ only in case,
ids that name no customer, partial profiles, ignored values and dates.

Run it in a test module, with the emulator options to check::

    from redo_kit.testing.stateful import EmulatorMachine

    class CheckMyEmulator(EmulatorMachine):
        emulator_options = {"rate_limit": None}

    TestEmulator = CheckMyEmulator.TestCase

Needs the ``testing`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import orjson
import urllib3
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from redo_kit._rules import EXTRA, email_key
from redo_kit._spec import validator
from redo_kit.emulator import Emulator

__all__ = ["EmulatorMachine", "ReferenceModel", "events"]

_EMAILS = ("ann@example.com", "ANN@Example.com", "bob@example.com")
_PHONES = ("+12065550100", "+12065550101")
_UNKNOWN_ID = "0123456789abcdef01234567"
_UNIQUE_IDS = ("order-1", "order-2", "order-3")
_DATA_VALUES: tuple[Any, ...] = (
    0,
    0.0,
    None,
    "",
    False,
    True,
    1,
    2.5,
    "gold",
    "2024-01-01T00:00:00Z",
    "2024-01-01",
    "2024-02-30T00:00:00Z",
)


@attrs.define
class _Customer:
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    location: dict[str, Any] | None
    custom_fields: dict[str, Any]
    id: str | None = None
    """The emulator's id for it, learned from the inspection API."""


@attrs.define
class ReferenceModel:
    """What the spec says a store holds after the events sent so far, in order.

    Deduplication by ``uniqueId`` per store across both endpoints
    (``x-redo-deduplication``); resolution by ``id``, then ``email`` (as
    ``x-redo-email-matching`` compares), then ``phoneNumber``, the first
    customer to match, a new one otherwise (``x-redo-identity-resolution``);
    patch semantics (``x-redo-patch-semantics``); top-level data without
    ``0``, ``null`` and ``""`` (``x-redo-ignored-values``); one type per value,
    dates by the DateTime schema (``x-redo-date-detection``).
    """

    customers: list[_Customer] = attrs.Factory(list)
    events: list[dict[str, Any]] = attrs.Factory(list)
    unique_ids: set[str] = attrs.Factory(set)

    def send(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Apply valid ``events`` in order, as one request of either endpoint."""
        for event in events:
            unique = event.get("uniqueId")
            if unique is not None:
                if unique in self.unique_ids:
                    continue
                self.unique_ids.add(unique)
            index = self._resolve(event["customer"])
            data = {
                k: v for k, v in (event.get("data") or {}).items() if k == EXTRA or not _ignored(v)
            }
            self.events.append(
                {
                    "eventName": event["eventName"],
                    "customer": index,
                    "uniqueId": unique,
                    "data": data,
                    "propertyTypes": {k: _type(v) for k, v in data.items() if k != EXTRA},
                }
            )

    def _resolve(self, sent: Mapping[str, Any]) -> int:
        given = sent.get("id")
        email = sent.get("email")
        phone = sent.get("phoneNumber")
        for index, customer in enumerate(self.customers):
            if given is not None and customer.id == given.lower():
                return self._patch(index, sent)
        for index, customer in enumerate(self.customers):
            if (
                email is not None
                and customer.email is not None
                and email_key(customer.email) == email_key(email)
            ):
                return self._patch(index, sent)
        for index, customer in enumerate(self.customers):
            if phone is not None and customer.phone == phone:
                return self._patch(index, sent)
        self.customers.append(
            _Customer(
                email=email,
                phone=phone,
                first_name=sent.get("firstName"),
                last_name=sent.get("lastName"),
                location=sent.get("location"),
                custom_fields=dict(sent.get("customFields") or {}),
            )
        )
        return len(self.customers) - 1

    def _patch(self, index: int, sent: Mapping[str, Any]) -> int:
        customer = self.customers[index]
        customer.email = sent.get("email", customer.email)
        customer.phone = sent.get("phoneNumber", customer.phone)
        customer.first_name = sent.get("firstName", customer.first_name)
        customer.last_name = sent.get("lastName", customer.last_name)
        if "location" in sent:
            customer.location = {**(customer.location or {}), **sent["location"]}
        customer.custom_fields = {**customer.custom_fields, **(sent.get("customFields") or {})}
        return index


def _ignored(value: Any) -> bool:
    # x-redo-ignored-values: 0 (integer or decimal), null and ""; false is kept.
    if value is None or value == "":
        return True
    return type(value) in (int, float) and value == 0


def _type(value: Any) -> str:
    # x-redo-property-types, dates by x-redo-date-detection (the DateTime schema).
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "date" if validator("DateTime").is_valid(value) else "string"


def events(known_ids: Sequence[str] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events from small pools, so that identities and uniqueIds collide.

    ``known_ids`` are customer ids the store has; an id that names no
    customer is drawn beside them, to exercise the fallback to email and phone.
    """
    identifiers = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from([*known_ids, _UNKNOWN_ID]),
            "email": st.sampled_from(_EMAILS),
            "phoneNumber": st.sampled_from(_PHONES),
        },
    ).filter(bool)
    profile = st.fixed_dictionaries(
        {},
        optional={
            "firstName": st.sampled_from(["Ann", "Bob"]),
            "lastName": st.sampled_from(["Lee"]),
            "location": st.fixed_dictionaries(
                {},
                optional={"city": st.sampled_from(["Oslo", "Lima"]), "countryCode": st.just("NO")},
            ),
            "customFields": st.dictionaries(
                st.sampled_from(["tier", "age"]), st.sampled_from(["gold", 0, "", 3]), max_size=2
            ),
        },
    )
    data = st.dictionaries(
        st.sampled_from(["a", "b", "c"]), st.sampled_from(_DATA_VALUES), max_size=3
    )
    extra = st.dictionaries(st.just("kept"), st.sampled_from([0, None, "", [1]]), max_size=1)
    return st.builds(
        lambda ids, more, body, verbatim, unique: {
            "eventName": "Order Placed",
            "customer": {**ids, **more},
            **(
                {"data": {**body, **({EXTRA: verbatim} if verbatim else {})}}
                if body or verbatim
                else {}
            ),
            **({"uniqueId": unique} if unique is not None else {}),
        },
        identifiers,
        profile,
        data,
        extra,
        st.none() | st.sampled_from(_UNIQUE_IDS),
    )


def _agree(holds: bool, detail: object) -> None:
    """Fail the step (hypothesis then shrinks the run) when the emulator and the model differ."""
    if not holds:
        raise AssertionError(detail)


class EmulatorMachine(RuleBasedStateMachine):
    """Single and bulk events to an emulator and to :class:`ReferenceModel`; they must agree.

    ``emulator_options`` are the keyword arguments of
    :class:`~redo_kit.emulator.Emulator` (default: no rate limit). Each run
    starts its own emulator and closes it at the end.
    """

    emulator_options: ClassVar[dict[str, Any]] = {"rate_limit": None}

    def __init__(self) -> None:
        super().__init__()
        self.model = ReferenceModel()
        self.emulator = Emulator(**self.emulator_options).start()
        self.http = urllib3.PoolManager(retries=False, timeout=10.0)
        self.headers = {
            "Authorization": f"Bearer {self.emulator.api_key}",
            "Content-Type": "application/json",
        }

    def teardown(self) -> None:
        self.http.clear()
        self.emulator.close()

    def _post(self, path: str, body: Any) -> None:
        url = f"{self.emulator.base_url}/stores/{self.emulator.store_id}{path}"
        answer = self.http.request("POST", url, body=orjson.dumps(body), headers=self.headers)
        _agree(answer.status == 202, (answer.status, answer.data[:500]))

    def _inspect(self, view: str) -> list[dict[str, Any]]:
        url = f"{self.emulator.url}/_emulator/stores/{self.emulator.store_id}/{view}?limit=10000"
        answer = self.http.request("GET", url, headers=self.headers)
        _agree(answer.status == 200, (answer.status, answer.data[:500]))
        found: list[dict[str, Any]] = orjson.loads(answer.data)[view]
        return found

    def _known_ids(self) -> list[str]:
        return [c.id for c in self.model.customers if c.id is not None]

    @rule(data=st.data())
    def send_one(self, data: st.DataObject) -> None:
        event = data.draw(events(self._known_ids()), label="event")
        self._post("/events", event)
        self.model.send([event])

    @rule(data=st.data())
    def send_bulk(self, data: st.DataObject) -> None:
        batch = data.draw(st.lists(events(self._known_ids()), min_size=1, max_size=5), label="bulk")
        self._post("/events/bulk", {"events": batch})
        self.model.send(batch)

    @precondition(lambda self: bool(self.model.customers))
    @rule(data=st.data())
    def send_by_known_id(self, data: st.DataObject) -> None:
        # An id in upper case names the same customer (ObjectIds are hexadecimal).
        known = data.draw(st.sampled_from(self._known_ids()), label="id")
        event = {
            "eventName": "Profile Updated",
            "customer": {"id": known.upper(), "firstName": "Cy"},
        }
        self._post("/events", event)
        self.model.send([event])

    @invariant()
    def the_emulator_holds_what_the_rules_say(self) -> None:
        customers = self._inspect("customers")
        _agree(len(customers) == len(self.model.customers), (customers, self.model.customers))
        for stored, expected in zip(customers, self.model.customers, strict=True):
            seen = {
                "email": stored["email"],
                "phoneNumber": stored["phoneNumber"],
                "firstName": stored["firstName"],
                "lastName": stored["lastName"],
                "location": stored["location"],
                "customFields": stored["customFields"],
            }
            wanted = {
                "email": expected.email,
                "phoneNumber": expected.phone,
                "firstName": expected.first_name,
                "lastName": expected.last_name,
                "location": expected.location,
                "customFields": expected.custom_fields,
            }
            _agree(seen == wanted, (seen, wanted))
            expected.id = stored["id"]
        index = {c["id"]: i for i, c in enumerate(customers)}
        stored_events = [
            {
                "eventName": e["eventName"],
                "customer": index[e["customerId"]],
                "uniqueId": e["uniqueId"],
                "data": e["data"],
                "propertyTypes": e["propertyTypes"],
            }
            for e in self._inspect("events")
        ]
        _agree(stored_events == self.model.events, (stored_events, self.model.events))

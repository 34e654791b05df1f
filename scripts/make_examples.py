#!/usr/bin/env python3
"""Write examples/events.jsonl: a realistic, reproducible backfill of store events.

    python3 scripts/make_examples.py [--count 1200] [--seed 2026] [--out examples/events.jsonl]
        [--csv examples/orders.csv] [--csv-rows 200]

Customers come back by id, by email and by phone; events carry dates in data
and customFields, `$extra` metadata, values with currencies, and most carry a
uniqueId (the rest get a content-derived one on import). A few lines are
deliberately invalid, one per common mistake, so the rejects report has
something to show.

With --csv, it also writes orders as a shop's export would have them: one CSV
row per order, in the shop's own column names, for `redo-kit import` with a
column mapping (see the README). Two rows are deliberately invalid.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIRST = ["Stewart", "Ana", "Kenji", "Priya", "Lucas", "Amara", "Noah", "Sofia", "Omar", "Mei"]
LAST = ["Thompson", "Silva", "Tanaka", "Patel", "Martin", "Okafor", "Berg", "Rossi", "Haddad"]
CITIES = [
    ("Seattle", "Washington", "WA", "98101", "America/Los_Angeles", 47.6062, -122.3321),
    ("Austin", "Texas", "TX", "78701", "America/Chicago", 30.2672, -97.7431),
    ("Brooklyn", "New York", "NY", "11201", "America/New_York", 40.6943, -73.9903),
    ("Denver", "Colorado", "CO", "80202", "America/Denver", 39.7525, -104.9995),
]
PRODUCTS = ["Trail Jacket", "Merino Tee", "Canvas Tote", "Rain Shell", "Wool Socks", "Cap"]
CURRENCIES = ["USD", "USD", "USD", "EUR", "GBP", "CAD"]
TIERS = ["silver", "gold", "platinum"]

# One line per mistake people make, with the rule that catches it.
INVALID_LINES = [
    # no customer identifier
    '{"eventName": "Order Placed", "customer": {"firstName": "Ana"}, "uniqueId": "bad-1"}',
    # a Klaviyo habit: "event" and "properties" instead of eventName and data
    '{"event": "Order Placed", "customer": {"email": "ana@example.com"}, "properties": {"a": 1}}',
    # misspelt uniqueId: idempotency would be lost without a word
    '{"eventName": "Order Placed", "customer": {"email": "ana@example.com"}, "uniqueID": "o-9"}',
    # a nested object at the top level of data (belongs under $extra)
    '{"eventName": "Cart Updated", "customer": {"email": "ana@example.com"}, '
    '"data": {"Items": [{"sku": "TJ-1"}]}, "uniqueId": "bad-4"}',
    # lower-case currency
    '{"eventName": "Order Placed", "customer": {"email": "ana@example.com"}, '
    '"value": 10, "valueCurrency": "usd", "uniqueId": "bad-5"}',
    # a timestamp without an offset
    '{"eventName": "Order Placed", "customer": {"email": "ana@example.com"}, '
    '"eventTimestamp": "2025-03-01 10:00:00", "uniqueId": "bad-6"}',
    # a truncated line
    '{"eventName": "Order Placed", "customer": {"email": "ana@exa',
    # an email that is not one
    '{"eventName": "Page Viewed", "customer": {"email": "ana at example.com"}, '
    '"uniqueId": "bad-8"}',
]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _customers(rng: random.Random, count: int) -> list[dict[str, object]]:
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city = rng.choice(CITIES)
        people.append(
            {
                "id": f"{0x665F1A2B3C4D5E6F7A000000 + i:024x}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "phoneNumber": f"+1206555{i:04d}",
                "firstName": first,
                "lastName": last,
                "city": city,
                "birthday": _stamp(
                    datetime(1960 + i % 40, 1 + i % 12, 1 + i % 28, 12, tzinfo=timezone.utc)
                ),
            }
        )
    return people


def _identity(rng: random.Random, person: dict[str, object]) -> dict[str, object]:
    # Customers come back by id, by email or by phone, sometimes with a profile.
    # A Redo customer id comes from Redo, so a system that keeps it keeps the
    # email too and sends both, as the guide's example does: an id the store
    # does not know falls back to the email instead of creating a customer.
    way = rng.random()
    if way < 0.3:
        customer: dict[str, object] = {"id": person["id"], "email": person["email"]}
    elif way < 0.75:
        customer = {"email": person["email"]}
    else:
        customer = {"phoneNumber": person["phoneNumber"]}
    if rng.random() < 0.35:
        city, state, code, postal, zone, lat, lon = person["city"]  # type: ignore[misc]
        customer.update(
            firstName=person["firstName"],
            lastName=person["lastName"],
            location={
                "city": city,
                "state": state,
                "stateCode": code,
                "postalCode": postal,
                "country": "United States",
                "countryCode": "US",
                "ianaTimeZoneName": zone,
                "latitude": lat,
                "longitude": lon,
            },
            customFields={
                "Birthday": person["birthday"],
                "Loyalty Tier": rng.choice(TIERS),
                "Accepts Marketing": rng.random() < 0.6,
            },
        )
    return customer


def _event(
    rng: random.Random, n: int, person: dict[str, object], when: datetime
) -> dict[str, object]:
    kind = rng.random()
    event: dict[str, object]
    if kind < 0.45:
        items = rng.randint(1, 4)
        total = round(sum(rng.uniform(12, 180) for _ in range(items)), 2)
        currency = rng.choice(CURRENCIES)
        event = {
            "eventName": "Order Placed",
            "uniqueId": f"order-{100000 + n}",
            "value": total,
            "valueCurrency": currency,
            "data": {
                "Order Id": f"ord_{100000 + n}",
                "Order Total": total,
                "Item Count": items,
                "Discount": 0 if rng.random() < 0.7 else round(total * 0.1, 2),
                "Gift": rng.random() < 0.1,
                "Coupon": "" if rng.random() < 0.8 else "SPRING10",
                "$extra": {
                    "Line Items": [
                        {
                            "sku": f"SKU-{rng.randint(1, 60):03d}",
                            "name": rng.choice(PRODUCTS),
                            "qty": 1,
                        }
                        for _ in range(items)
                    ],
                    "Source": {"channel": rng.choice(["web", "ios", "android"]), "ab": None},
                },
            },
        }
    elif kind < 0.6:
        event = {
            "eventName": "Return Requested",
            "uniqueId": f"return-{n}",
            "value": round(rng.uniform(15, 120), 2),
            "valueCurrency": "USD",
            "data": {
                "Reason": rng.choice(["too small", "too large", "damaged", "changed mind"]),
                "Requested At": _stamp(when),
                "Exchange": rng.random() < 0.4,
            },
        }
    elif kind < 0.75:
        started = when - timedelta(days=rng.randint(30, 400))
        event = {
            "eventName": "Subscription Renewed",
            "uniqueId": f"sub-renew-{n}",
            "data": {"Plan": rng.choice(["monthly", "annual"]), "Started At": _stamp(started)},
        }
    elif kind < 0.85:
        event = {
            "eventName": "Loyalty Tier Upgrade",
            "uniqueId": f"tier-{n}",
            "data": {"New Tier": rng.choice(TIERS), "Points": rng.randint(100, 9000)},
        }
    else:
        # Page views carry no uniqueId: the importer derives one from the content.
        event = {
            "eventName": "Page Viewed",
            "data": {"Page": rng.choice(["/", "/pricing", "/returns", "/products/trail-jacket"])},
        }
    event["customer"] = _identity(rng, person)
    event["eventTimestamp"] = _stamp(when)
    order = [
        "eventName",
        "customer",
        "eventTimestamp",
        "value",
        "valueCurrency",
        "uniqueId",
        "data",
    ]
    return {key: event[key] for key in order if key in event}


ORDER_COLUMNS = [
    "Order Id", "Placed At", "Email", "Phone", "First Name", "Zip", "Total", "Currency",
    "Items", "Discount", "Coupon", "Gift", "Channel",
]  # fmt: skip


def _orders(rng: random.Random, people: list[dict[str, object]], count: int) -> list[list[str]]:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    step = timedelta(days=365) / count  # a year of orders, however many
    rows = []
    for n in range(count):
        person = rng.choice(people)
        when = start + step * n + timedelta(minutes=rng.randint(0, 40))
        total = round(rng.uniform(12, 400), 2)
        rows.append(
            [
                f"SO-{20000 + n}",
                _stamp(when),
                str(person["email"]),
                str(person["phoneNumber"]) if rng.random() < 0.5 else "",
                str(person["firstName"]),
                # Postal codes keep their leading zero only when read as text.
                f"{rng.choice([2134, 10001, 94107, 60614, 7030]):05d}",
                f"{total:.2f}",
                rng.choice(CURRENCIES),
                str(rng.randint(1, 5)),
                f"{total * 0.1:.2f}" if rng.random() < 0.3 else "",
                "SPRING10" if rng.random() < 0.2 else "",
                "true" if rng.random() < 0.1 else "false",
                rng.choice(["web", "ios", "android"]),
            ]
        )
    # One per common mistake: a total that is not a number, an address that is not one.
    rows[count // 3][6] = "n/a"
    rows[2 * count // 3][2] = "ana at example.com"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1200, help="valid events to write")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=str(ROOT / "examples" / "events.jsonl"))
    parser.add_argument("--csv", help="also write orders as CSV here")
    parser.add_argument("--csv-rows", type=int, default=200, help="orders to write (2 invalid)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    people = _customers(rng, 150)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    span = (datetime(2026, 10, 31, tzinfo=timezone.utc) - start).total_seconds()
    moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(args.count))
    lines = [
        json.dumps(_event(rng, n, rng.choice(people), when), ensure_ascii=False)
        for n, when in enumerate(moments)
    ]
    step = len(lines) // (len(INVALID_LINES) + 1)
    for i, bad in enumerate(INVALID_LINES, start=1):
        lines.insert(i * step + i - 1, bad)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines ({len(INVALID_LINES)} invalid) to {out}")
    if args.csv:
        # A generator of its own, so that the JSON Lines stay the same with or without it.
        rows = _orders(random.Random(args.seed + 1), people, args.csv_rows)
        with Path(args.csv).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(ORDER_COLUMNS)
            writer.writerows(rows)
        print(f"wrote {len(rows)} orders (2 invalid) to {args.csv}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write examples/klaviyo-track.jsonl: a shop's Klaviyo events, as an export holds them.

    python3 scripts/make_klaviyo_examples.py [--count 300] [--seed 2026]
        [--out examples/klaviyo-track.jsonl]

One Klaviyo payload per line, in the three shapes a migration meets: legacy
Track bodies (most lines), Create Event bodies and Bulk Create Events jobs
(several events per profile). They carry the cases a hand conversion gets
wrong: Klaviyo profile ids and ``$id`` external ids, nested properties, ``0``,
``""`` and ``null`` values, events without ``$event_id`` (which Klaviyo
deduplicates by profile, metric and second), national phone numbers, country
names beside ISO codes, times without an offset, coordinates written as text,
``$consent`` and ``$image``. A few lines cannot be converted, one per common
mistake, so the report has something to show.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

FIRST = ["Stewart", "Ana", "Kenji", "Priya", "Lucas", "Amara", "Noah", "Sofia", "Omar", "Mei"]
LAST = ["Thompson", "Silva", "Tanaka", "Patel", "Martin", "Okafor", "Berg", "Rossi", "Haddad"]
PLACES = [
    ("Seattle", "WA", "98101", "US", "America/Los_Angeles", "47.6062", "-122.3321"),
    ("Austin", "TX", "78701", "United States", "America/Chicago", "30.2672", "-97.7431"),
    ("Lyon", "Auvergne-Rhone-Alpes", "69001", "FR", "Europe/Paris", "45.7640", "4.8357"),
    ("Leeds", "England", "LS1", "gb", "Europe/London", "53.8008", "-1.5491"),
]
PRODUCTS = ["Trail Jacket", "Merino Tee", "Canvas Tote", "Rain Shell", "Wool Socks", "Cap"]
METRICS = ["Placed Order", "Viewed Product", "Started Checkout", "Added to Cart"]
SITE_ID = "AbC123"

# One line per mistake, each reported with its Klaviyo path.
UNCONVERTIBLE = [
    # no email, no phone: Redo needs an identifier, and a Klaviyo id is not one
    {"event": "Placed Order", "customer_properties": {"$id": "cust-404"}, "token": SITE_ID},
    # an email Klaviyo would have refused too
    {"event": "Placed Order", "customer_properties": {"$email": "ana.at.example.com"}},
    # a time that is neither UNIX seconds nor ISO 8601
    {"event": "Viewed Product", "customer_properties": {"$email": "ana@example.com"},
     "time": "last Tuesday"},
    # none of the three shapes: a Klaviyo profile, not an event
    {"data": {"type": "profile", "attributes": {"email": "ana@example.com"}}},
]  # fmt: skip


class Shop:
    """The customers and the clock of one reproducible history."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.start = datetime(2023, 1, 1, tzinfo=timezone.utc)
        self.people = [self._person(n) for n in range(60)]
        self.orders = 0

    def _person(self, n: int) -> dict[str, Any]:
        first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
        place = PLACES[n % len(PLACES)]
        phone = (
            f"+1206555{n:04d}"
            if n % 20
            else f"(206) 555-{n:04d}"  # national: needs --default-region US
        )
        return {
            "email": f"{first.lower()}.{last.lower()}{n}@example.com" if n % 7 else None,
            "phone": phone,
            "first": first,
            "last": last,
            "place": place,
            "external": f"shop-{1000 + n}",
            "profile_id": f"01H{n:023d}",
            "tier": ["silver", "gold", "platinum"][n % 3],
        }

    def moment(self) -> datetime:
        return self.start + timedelta(seconds=self.rng.randrange(0, 3 * 365 * 86400))

    def properties(self, metric: str) -> dict[str, Any]:
        product = self.rng.choice(PRODUCTS)
        props: dict[str, Any] = {"Product": product, "Source": self.rng.choice(["web", "app"])}
        if metric == "Placed Order":
            self.orders += 1
            quantity = self.rng.randint(1, 3)
            props.update(
                {
                    "$event_id": f"order-{self.orders}",
                    "$value": round(quantity * self.rng.uniform(12, 180), 2),
                    "Items": [{"sku": product[:2].upper(), "qty": quantity}],
                    "ItemNames": [product],
                    "Discount": self.rng.choice([0, 0, 5]),
                    "Coupon": self.rng.choice(["", "", "SPRING"]),
                    "Gift Note": None,
                }
            )
        elif metric == "Started Checkout":
            props["Cart"] = {"items": self.rng.randint(1, 4), "currency": "USD"}
        return props


def track(shop: Shop, person: dict[str, Any]) -> dict[str, Any]:
    metric = shop.rng.choice(METRICS)
    place = person["place"]
    profile: dict[str, Any] = {
        "$phone_number": person["phone"],
        "$first_name": person["first"],
        "$last_name": person["last"],
        "$city": place[0],
        "$region": place[1],
        "$zip": place[2],
        "$country": place[3],
        "$id": person["external"],
        "Loyalty Tier": person["tier"],
    }
    if person["email"]:
        profile["$email"] = person["email"]
    if shop.rng.random() < 0.2:
        profile["$consent"] = ["email", "sms"]
        profile["$image"] = "https://example.com/avatars/1.png"
    payload: dict[str, Any] = {
        "token": SITE_ID,
        "event": metric,
        "customer_properties": profile,
        "properties": shop.properties(metric),
        "time": int(shop.moment().timestamp()),
    }
    return payload


def _metric(name: str) -> dict[str, Any]:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


def _profile(person: dict[str, Any], with_id: bool) -> dict[str, Any]:
    place = person["place"]
    attributes: dict[str, Any] = {
        "phone_number": person["phone"],
        "external_id": person["external"],
        "first_name": person["first"],
        "last_name": person["last"],
        "location": {
            "city": place[0],
            "region": place[1],
            "zip": place[2],
            "country": place[3],
            "timezone": place[4],
            "latitude": place[5],
            "longitude": place[6],
            "ip": "192.0.2.10",
        },
        "properties": {"Loyalty Tier": person["tier"], "Favourite Colours": ["teal"]},
    }
    if person["email"]:
        attributes["email"] = person["email"]
    data: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if with_id:
        data["id"] = person["profile_id"]
    return {"data": data}


def _event_attributes(shop: Shop, metric: str) -> dict[str, Any]:
    props = shop.properties(metric)
    attributes: dict[str, Any] = {"metric": _metric(metric), "properties": props}
    moment = shop.moment()
    # Some exports write local times without an offset: read as UTC, and reported.
    attributes["time"] = (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        if shop.rng.random() < 0.2
        else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    if "$event_id" in props:
        attributes["unique_id"] = props.pop("$event_id")
        attributes["value"] = props.pop("$value")
        attributes["value_currency"] = "USD"
    return attributes


def create_event(shop: Shop, person: dict[str, Any]) -> dict[str, Any]:
    attributes = _event_attributes(shop, shop.rng.choice(METRICS))
    attributes["profile"] = _profile(person, with_id=shop.rng.random() < 0.5)
    return {"data": {"type": "event", "attributes": attributes}}


def bulk_job(shop: Shop, people: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for person in people:
        events = [
            {"type": "event", "attributes": _event_attributes(shop, shop.rng.choice(METRICS))}
            for _ in range(shop.rng.randint(2, 4))
        ]
        items.append(
            {
                "type": "event-bulk-create",
                "attributes": {
                    "profile": _profile(person, with_id=True),
                    "events": {"data": events},
                },
            }
        )
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": items}},
        }
    }


def lines(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` payloads: about 70% Track, 25% Create Event, the rest bulk jobs."""
    shop = Shop(seed)
    out: list[dict[str, Any]] = []
    bad = iter(UNCONVERTIBLE)
    for n in range(count):
        if n % 75 == 74:
            mistake = next(bad, None)
            if mistake is not None:
                out.append(mistake)
                continue
        person = shop.rng.choice(shop.people)
        roll = shop.rng.random()
        if roll < 0.7:
            out.append(track(shop, person))
        elif roll < 0.95:
            out.append(create_event(shop, person))
        else:
            out.append(bulk_job(shop, shop.rng.sample(shop.people, 2)))
    # Klaviyo's dedup without $event_id: the same view, twice in one second.
    twice = track(shop, shop.people[1])
    twice["event"], twice["properties"] = "Viewed Product", {"Product": "Cap"}
    out.extend([twice, dict(twice)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "klaviyo-track.jsonl")
    args = parser.parse_args()
    payloads = lines(args.count, args.seed)
    args.out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in payloads))
    print(f"wrote {len(payloads)} Klaviyo payloads to {args.out}")


if __name__ == "__main__":
    main()

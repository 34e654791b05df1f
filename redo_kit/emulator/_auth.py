"""API keys: which store a Bearer key belongs to, and what it may do there.

A key belongs to exactly one store (spec: ``bearerAuth``). Writing events needs
the ``customer_events_write`` scope; so does emptying a store through the
emulator's own inspection API, while reading it needs only a key of the store
being read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from redo_kit._errors import ConfigurationError
from redo_kit._rules import is_store_id

__all__ = [
    "DEMO_API_KEY",
    "DEMO_STORE_ID",
    "WRITE_SCOPE",
    "ApiKey",
    "Keyring",
    "StoresArg",
    "bearer_secret",
    "keys_of",
]

WRITE_SCOPE = "customer_events_write"
"""The scope both event operations require (spec: ``x-redo-required-scope``)."""

DEMO_STORE_ID = "64e5a8a1af49a89df37e4ee7"
"""The store served when none is configured: the store id of the spec's examples."""
DEMO_API_KEY = "sk_emulator_demo"
"""The key of the demo store. The emulator listens on loopback by default."""


def _scope_set(scopes: Iterable[str]) -> frozenset[str]:
    # A named converter: mypy's attrs plugin cannot type the generic ``frozenset``.
    return frozenset(scopes)


@attrs.frozen
class ApiKey:
    """A Bearer key and its scopes (default: ``customer_events_write`` only).

    The secret is left out of ``repr`` so that a key never lands in a log.
    """

    secret: str = attrs.field(repr=False)
    scopes: frozenset[str] = attrs.field(default=frozenset({WRITE_SCOPE}), converter=_scope_set)


StoresArg = Mapping[str, "str | ApiKey | Iterable[str | ApiKey]"]
"""``{store_id: key}``, where a key is a secret, an :class:`ApiKey`, or several of them."""


@attrs.frozen
class _Grant:
    store_id: str
    key: ApiKey


class Keyring:
    """Every configured store and the keys that open it."""

    def __init__(self, stores: StoresArg) -> None:
        self._by_secret: dict[str, _Grant] = {}
        self.store_ids: frozenset[str] = frozenset(stores)
        for store_id, given in stores.items():
            # A configured store must be reachable: its id matches the StoreId parameter.
            if not is_store_id(store_id):
                raise ConfigurationError(
                    f"store id {store_id!r} does not match the spec's StoreId pattern: "
                    f"letters, digits, '_' or '-', such as {DEMO_STORE_ID}"
                )
            for key in keys_of(given):
                if not key.secret or any(ch.isspace() for ch in key.secret):
                    raise ConfigurationError(
                        f"store {store_id}: an API key must be non-empty, without whitespace"
                    )
                if key.secret in self._by_secret:
                    raise ConfigurationError(
                        f"store {store_id}: an API key belongs to one store only, "
                        "and this one is configured twice"
                    )
                self._by_secret[key.secret] = _Grant(store_id, key)

    def store_of(self, secret: str) -> tuple[str, ApiKey] | None:
        """The store ``secret`` opens and its key, or ``None`` for an unknown secret."""
        grant = self._by_secret.get(secret)
        return None if grant is None else (grant.store_id, grant.key)


def keys_of(given: str | ApiKey | Iterable[str | ApiKey]) -> list[ApiKey]:
    """The keys of one store as configured (a secret, an :class:`ApiKey`, or several).

    Raises :class:`~redo_kit._errors.ConfigurationError` when there is none.
    """
    if isinstance(given, (str, ApiKey)):
        given = [given]
    keys = [ApiKey(item) if isinstance(item, str) else item for item in given]
    if not keys:
        raise ConfigurationError("every store needs at least one API key")
    return keys


def bearer_secret(header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or ``None``."""
    if not header:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    secret = secret.strip()
    return secret or None

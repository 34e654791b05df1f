"""Fault injection on the two event operations, deterministic under a seed.

A plan such as ``503=0.1,429=0.05,reset=0.05,lost-ack=0.05`` gives each kind
the probability that a request suffers it. Every request to an event operation
draws one number from the plan's own random generator: with the same seed and
the same sequence of requests, the same requests fail the same way.

Kinds:

- ``500``, ``502``, ``503``: that status as problem+json; nothing is stored.
- ``429``: a rate-limit answer with ``Retry-After: 1``; nothing is stored.
- ``reset``: the connection is dropped before the request body is read.
- ``delay``: the request is processed, then its answer held for ``fault_delay``
  seconds.
- ``lost-ack``: the request is processed and its events committed, then the
  connection drops before the answer is sent: a retry must rely on ``uniqueId``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

import attrs

from redo_kit._errors import ConfigurationError

__all__ = ["FAULT_KINDS", "FaultInjector", "FaultPlan"]

FAULT_KINDS = ("500", "502", "503", "429", "reset", "delay", "lost-ack")
"""Every kind of fault, in the order a draw tests them."""


def _probabilities(value: Mapping[str, float]) -> dict[str, float]:
    return {kind: float(value[kind]) for kind in FAULT_KINDS if value.get(kind)}


@attrs.frozen
class FaultPlan:
    """The probability of each fault kind per request; they add up to at most 1."""

    probabilities: dict[str, float] = attrs.field(factory=dict, converter=_probabilities)

    def __attrs_post_init__(self) -> None:
        for kind, chance in self.probabilities.items():
            if not 0.0 <= chance <= 1.0:
                raise ConfigurationError(f"fault {kind}: probability {chance} is not in 0..1")
        total = sum(self.probabilities.values())
        if total > 1.0 + 1e-9:
            raise ConfigurationError(f"fault probabilities add up to {total:g}, more than 1")

    @classmethod
    def parse(cls, spec: str | Mapping[str, float] | None) -> FaultPlan:
        """A plan from ``"KIND=P,KIND=P"``, a mapping, or ``None`` (no faults)."""
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            unknown = sorted(set(spec) - set(FAULT_KINDS))
            if unknown:
                raise ConfigurationError(_unknown_kind(unknown[0]))
            return cls(spec)
        found: dict[str, float] = {}
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            kind, sep, text = item.partition("=")
            kind = kind.strip()
            if kind not in FAULT_KINDS:
                raise ConfigurationError(_unknown_kind(kind))
            try:
                found[kind] = float(text) if sep else float("nan")
            except ValueError:
                found[kind] = float("nan")
            if not 0.0 <= found[kind] <= 1.0:
                raise ConfigurationError(
                    f"fault {kind}: write {kind}=PROBABILITY with a probability in 0..1, "
                    f"not {item!r}"
                )
        return cls(found)

    def __bool__(self) -> bool:
        return bool(self.probabilities)


def _unknown_kind(kind: str) -> str:
    return f"unknown fault kind {kind!r}; the kinds are {', '.join(FAULT_KINDS)}"


class FaultInjector:
    """Draws the fault, if any, for each request; thread-safe."""

    def __init__(self, plan: FaultPlan, seed: int | None = None) -> None:
        self.plan = plan
        self._random = random.Random(seed)  # noqa: S311 - fault draws, not secrets
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault kind for the next request, or ``None`` for a normal answer."""
        if not self.plan:
            return None
        with self._lock:
            point = self._random.random()
        for kind, chance in self.plan.probabilities.items():
            if point < chance:
                return kind
            point -= chance
        return None

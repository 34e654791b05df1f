"""Helpers for testing code that sends events to Redo.

- ``redo_kit.testing.strategies``: hypothesis strategies read from the spec:
  valid events and bulk bodies (wire dicts or models), and invalid events for
  every rule, each tagged with the rule it breaks.
- ``redo_kit.testing.register_models``: valid ``st.from_type`` strategies for
  the models of a package written by ``redo-kit generate``. Those of
  ``redo_kit_models`` are registered on their own when hypothesis starts (its
  ``hypothesis`` entry point calls ``setup_hypothesis``).
- ``redo_kit.testing.stateful``: a hypothesis state machine that checks an
  emulator against a small model of the documented rules.
- ``redo_kit.testing.plans``: strategies from a tracking plan: its valid
  events, events that break one of its rules, random plans, and
  ``st.from_type`` for the classes ``redo-kit generate --plan`` writes.
- ``redo_kit.testing.klaviyo``: hypothesis strategies for Klaviyo payloads (Track,
  Create Event, bulk jobs), valid and not, for converters.
- ``redo_kit.testing.plugin``: pytest fixtures, among them a running emulator.

All need the ``testing`` extra: ``pip install 'redo-kit[testing]'``.
"""

from redo_kit.testing.models import register_models, setup_hypothesis, strategies_for

__all__ = ["register_models", "setup_hypothesis", "strategies_for"]

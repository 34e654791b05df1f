"""Helpers for testing code that sends events to Redo.

- ``redo_kit.testing.strategies``: hypothesis strategies for valid events and
  for invalid ones, each tagged with the rule it breaks.
- ``redo_kit.testing.plans``: strategies from a tracking plan: its valid
  events, events that break one of its rules, random plans, and
  ``st.from_type`` for the classes ``redo-kit generate --plan`` writes.
- ``redo_kit.testing.klaviyo``: hypothesis strategies for Klaviyo payloads (Track,
  Create Event, bulk jobs), valid and not, for converters.
- ``redo_kit.testing.plugin``: pytest fixtures, among them a running emulator.

All need the ``testing`` extra: ``pip install 'redo-kit[testing]'``.
"""

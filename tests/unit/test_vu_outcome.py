"""The lean client's Outcome, made by position (client/vu.py: keyword arguments cost about half a microsecond a
request): the order it assumes is Outcome's own, so a field added or moved fails here, not silently in a run."""

from __future__ import annotations

from dataclasses import fields

from loadorch.client.vu import LEAN_OUTCOME_ORDER
from loadorch.traffic.request import Outcome


def test_the_lean_clients_positional_outcome_is_in_outcomes_field_order() -> None:
    assert tuple(f.name for f in fields(Outcome)) == LEAN_OUTCOME_ORDER

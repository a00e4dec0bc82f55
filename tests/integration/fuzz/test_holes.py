"""Seeded holes: a strict sink that checks the event schema except one keyword
location is caught, with a payload that breaks that keyword alone (a sample:
``benchmarks/holes.py`` runs every hole)."""

from __future__ import annotations

import json

import pytest

from chaoskit.fuzz.model import load_model
from fixtures.eventsink.events import SCHEMA_PATH
from fixtures.eventsink.holes import catch, holes, keyword_holes

MODEL = load_model(SCHEMA_PATH)
HOLES = {str(hole): hole for hole in holes(MODEL.schema)}
SAMPLE = (
    "oneOf",  # the variants are not checked at all
    "oneOf/2/properties/progress/maximum",
    "oneOf/5/required/session_id",  # a repeat: visited in the second pass
    "oneOf/11/properties/direction/enum",
    "oneOf/9/properties/context/additionalProperties",
)


@pytest.mark.parametrize("location", SAMPLE)
def test_a_seeded_hole_is_caught_with_its_minimal_payload(location: str) -> None:
    found = catch(MODEL, HOLES[location], seed=1, budget=450)
    assert found.case is not None, f"{location} not caught"
    # The first failing case breaks the missing keyword (or, for a whole
    # oneOf left unchecked, a keyword inside it) and nothing else: the schema
    # refuses it, the schema without that keyword accepts it.
    assert found.case.keyword.startswith(location)
    payload = json.loads(found.case.body)
    hole = HOLES[location]
    assert not MODEL.schema.is_valid(payload)
    assert MODEL.schema.without(hole.location, hole.keyword, hole.item).is_valid(
        payload
    )


def test_a_redundant_keyword_is_not_a_hole() -> None:
    """``type: string`` beside an enum of strings: removing it changes nothing,
    so no payload breaks it alone and the run says so."""
    found = catch(MODEL, HOLES["oneOf/11/properties/direction/type"], 1, 450)
    assert found.case is None
    assert found.redundant


KEYWORD_HOLES = {str(hole): (model, hole) for model, hole in keyword_holes()}


@pytest.mark.parametrize(
    "location",
    [
        "patternProperties/^x-/maxLength",
        "properties/context/not",
        "properties/samples/contains/maximum",
        "dependencies/refund_of",
    ],
)
def test_a_hole_under_an_applicator_is_caught_in_the_targeted_pass(
    location: str,
) -> None:
    """A bound under patternProperties or contains, a not, a dependency: the
    targeted pass reaches each (before any random case) and breaks it alone."""
    model, hole = KEYWORD_HOLES[location]
    found = catch(model, hole, seed=1, budget=100)
    assert found.case is not None, f"{location} not caught"
    assert found.case.mutation == "target"
    assert found.case.keyword == location
    assert found.requests is not None
    assert found.requests <= len(holes(model.schema))
    payload = json.loads(found.case.body)
    assert not model.schema.is_valid(payload)
    assert model.schema.without(hole.location, hole.keyword, hole.item).is_valid(
        payload
    )

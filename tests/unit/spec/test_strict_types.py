"""Issue 13.9: every boolean and number of the model is strict, so a new key
cannot bring back ``durable = 1`` or ``max_rate = true``."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, Strict

from chaoskit.spec import model as spec_model

MODELS = [
    value
    for value in vars(spec_model).values()
    if isinstance(value, type)
    and issubclass(value, BaseModel)
    and value.__module__ == spec_model.__name__
]


def loose_leaves(annotation: Any, strict: bool = False) -> list[Any]:
    """bool/int/float leaves of an annotation not marked Strict()."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        marked = strict or any(isinstance(m, Strict) for m in meta)
        # A BeforeValidator (durations, ratios) parses the value itself.
        parsed = any(type(m).__name__ == "BeforeValidator" for m in meta)
        return [] if parsed else loose_leaves(inner, marked)
    if origin in (Union, types.UnionType, tuple, list, dict):
        return [
            leaf
            for arg in get_args(annotation)
            if arg is not Ellipsis
            for leaf in loose_leaves(arg, strict)
        ]
    if annotation in (bool, int, float) and not strict:
        return [annotation]
    return []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_boolean_and_number_key_is_strict(model):
    loose = {
        name: loose_leaves(
            info.annotation
            if not info.metadata
            else Annotated[info.annotation, *info.metadata]
        )
        for name, info in model.model_fields.items()
    }
    assert {k: v for k, v in loose.items() if v} == {}, (
        "use spec.model.Bool / Int / Number, never bare bool/int/float"
    )


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (spec_model.PostgresService, {"durable": 1}),
        (spec_model.PostgresService, {"durable": "yes"}),
        (spec_model.BackoffHypothesis, {"max_rate": True}),
        (spec_model.ToxicFault, {"at": "\uff11\uff15s"}),  # full-width 15s
    ],
)
def test_the_reported_values_are_refused(tp, value):
    base = {
        spec_model.PostgresService: {"name": "db", "kind": "postgres"},
        spec_model.BackoffHypothesis: {"name": "h", "kind": "backoff", "route": "r"},
        spec_model.ToxicFault: {"name": "f", "kind": "latency", "route": "r", "at": 1},
    }[tp]
    with pytest.raises(ValueError, match="validation error"):
        tp.model_validate({**base, **value})

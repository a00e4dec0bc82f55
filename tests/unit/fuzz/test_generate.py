"""Valid values where the validator has the last word: integer multiples of
a fractional ``multipleOf``."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from chaoskit.fuzz.generate import valid_values
from chaoskit.fuzz.model import model_from_schema


def test_integer_multiples_of_a_fraction_are_its_numerators_multiples() -> None:
    model = model_from_schema({"type": "integer", "multipleOf": 0.75}, "s")
    found: list[object] = []

    @settings(
        max_examples=20,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(valid_values(model.schema, model.stats))
    def draw(value: object) -> None:
        found.append(value)

    draw()
    assert len(found) == 20
    assert all(isinstance(v, int) and v % 3 == 0 for v in found)
    assert model.stats.refused == 0  # drawn right, not filtered

"""The template language: parsing, checking at load time, seeded rendering, no eval."""

from __future__ import annotations

import random
import uuid

import pytest

from chaoskit.load.config import HotKeys
from chaoskit.load.tasks import UserState
from chaoskit.load.templating import Template, TemplateError


def user(number=7, seed=1):
    return UserState(number, seed, HotKeys(hot=2, ratio=0.9, space=1000))


def test_literal_text_is_static_and_renders_as_is():
    template = Template("/movies/all")
    assert template.static
    assert template.render(user()) == "/movies/all"


def test_randint_stays_in_range_and_single_expression_keeps_its_type():
    template = Template("{{ randint(1, 20) }}")
    values = [template.value(user()) for _ in range(200)]
    assert all(isinstance(v, int) and 1 <= v <= 20 for v in values)
    assert Template("/p?page={{randint(1,3)}}").render(user()).startswith("/p?page=")


def test_choice_uuid_user_seq_and_captured_values():
    state = user()
    state.values["token"] = "abc"  # noqa: S105 - a test value
    state.seq = 4
    text = Template("{{ choice('a', \"b\", 3) }}|{{ user }}|{{ seq() }}|{{ token }}")
    first, number, seq, token = text.render(state).split("|")
    assert first in {"a", "b", "3"}
    assert (number, seq, token) == ("7", "4", "abc")
    assert uuid.UUID(str(Template("{{ uuid() }}").value(state))).version == 4


def test_same_seed_renders_the_same_values():
    template = Template(
        "{{ randint(1, 10**6) }}-{{ uuid() }}-{{ randstr(8) }}".replace(
            "10**6", "1000000"
        )
    )
    a, b = user(seed=42), user(seed=42)
    assert [template.render(a) for _ in range(20)] == [
        template.render(b) for _ in range(20)
    ]
    assert template.render(user(seed=43)) != template.render(user(seed=42))


def test_hot_keys_concentrate_on_the_hot_set():
    state = user()
    keys = [Template("{{ key() }}").value(state) for _ in range(2000)]
    hot = sum(1 for k in keys if k in (1, 2))
    assert 0.85 < hot / len(keys) < 0.95  # ratio 0.9, 2000 draws


def test_uncaptured_value_renders_empty():
    assert Template("Bearer {{ token }}").render(user()) == "Bearer "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ __import__('os').system('x') }}", "unexpected"),
        ("{{ open('x') }}", "unknown function 'open'"),
        ("{{ nope }}", "unknown name 'nope'"),
        ("{{ randint(1) }}", "takes 2 argument"),
        ("{{ randint('a', 'b') }}", "takes numbers"),
        ("{{ }}", "empty expression"),
        ("{{ randint(1, 2 }}", "write a call"),
        ("{{ choice(1 2) }}", "commas"),
        ("{{ choice(1,) }}", "trailing comma"),
        ("{{ 5 }}", "starts with a name"),
        ("{{ user", "without a closing"),
    ],
)
def test_bad_templates_are_refused_with_the_reason(text, message):
    with pytest.raises(TemplateError, match=message):
        Template(text, frozenset())


def test_names_are_unchecked_when_no_name_set_is_given():
    assert Template("{{ anything }}").render(user()) == ""


def test_rendering_uses_only_the_given_randomness():
    state = user()
    state.rng = random.Random(0)
    before = state.rng.getstate()
    Template("static").render(state)
    assert state.rng.getstate() == before

"""How users and arrivals spread over user classes (chaoskit.spec.classes)."""

from __future__ import annotations

from collections import Counter

import pytest

from chaoskit.spec.classes import (
    ClassShare,
    check_classes,
    declared_shares,
    selected,
    spread,
    spread_order,
)
from chaoskit.spec.model import LoadSection

AUTOARR = [ClassShare(w) for w in (40, 30, 20, 5, 3, 2)]


def test_a_hundred_users_get_autoarrs_exact_shares():
    assert spread(AUTOARR, 100) == [40, 30, 20, 5, 3, 2]


@pytest.mark.parametrize("count", range(1, 301))
def test_every_prefix_of_the_order_is_within_one_user_of_the_weights(count):
    counts = Counter(spread_order(AUTOARR, count))
    for index, share in enumerate(AUTOARR):
        assert abs(counts[index] - count * share.weight / 100) < 1


def test_the_spread_grows_one_user_at_a_time():
    # House-monotone: n + 1 users are the n users plus one, so stopping the
    # newest user first keeps the mix.
    previous = spread(AUTOARR, 0)
    for count in range(1, 200):
        current = spread(AUTOARR, count)
        assert sum(c - p for c, p in zip(current, previous, strict=True)) == 1
        assert all(c >= p for c, p in zip(current, previous, strict=True))
        previous = current


def test_fixed_counts_come_first_then_the_weights_share_the_rest():
    shares = [ClassShare(1), ClassShare(fixed_count=3), ClassShare(3)]
    assert spread_order(shares, 3) == [1, 1, 1]
    assert spread(shares, 11) == [2, 3, 6]
    # Fewer users than the fixed counts: the fixed classes fill first.
    assert spread(shares, 2) == [0, 2, 0]


def test_declared_shares_are_of_users_or_of_requests():
    assert declared_shares(AUTOARR, [None] * 6, 100, users=True) == pytest.approx(
        [0.4, 0.3, 0.2, 0.05, 0.03, 0.02]
    )
    # Open: two classes share 90 requests/s 2:1, a third has its own 10.
    shares = [ClassShare(2), ClassShare(1), ClassShare(1)]
    assert declared_shares(shares, [None, None, 10], 90, users=False) == (
        pytest.approx([0.6, 0.3, 0.1])
    )


def test_tags_select_like_locust():
    assert selected(("a",), (), ())
    assert selected(("a", "b"), ("b",), ())
    assert not selected(("a",), ("b",), ())
    assert not selected(("a", "b"), (), ("b",))
    assert not selected((), ("b",), ())


def _load(**raw):
    return LoadSection.model_validate(raw)


TASK = {"name": "t", "path": "/"}


def test_classes_need_tasks_and_keys_of_their_model():
    load = _load(
        model="open",
        users=[
            {"name": "a", "think": "1s", "tasks": [TASK]},
            {"name": "b", "fixed_count": 2, "weight": 1},
        ],
    )
    paths = [issue.path for issue in check_classes(load)]
    assert paths == [
        "load.users[0].think",
        "load.users[1].tasks",
        "load.users[1].fixed_count",
        "load.users[1].fixed_count",
        "load.rate",
    ]


def test_a_closed_total_below_the_fixed_counts_is_refused():
    load = _load(
        model="closed",
        user_count=2,
        users=[{"name": "a", "fixed_count": 3, "tasks": [TASK]}],
    )
    assert [i.path for i in check_classes(load)] == ["load.user_count"]


def test_user_count_without_classes_and_tasks_beside_classes_are_refused():
    assert [i.path for i in check_classes(_load(user_count=3, users=2))] == [
        "load.user_count"
    ]
    load = _load(tasks=[TASK], users=[{"name": "a", "tasks": [TASK]}], rate=5)
    assert [i.path for i in check_classes(load)] == ["load.tasks"]


def test_users_beyond_the_fixed_counts_need_a_weighted_class():
    load = _load(
        model="closed",
        user_count=5,
        users=[{"name": "a", "fixed_count": 3, "tasks": [TASK]}],
    )
    (issue,) = check_classes(load)
    assert issue.path == "load.user_count"
    assert "no class takes the rest" in issue.message


def test_a_user_class_filter_with_the_locust_engine_names_its_classes(tmp_path):
    """Locust's samples carry their User class: ``user_class`` is accepted
    (without ``[[load.users]]`` the locustfile's classes are known once it
    runs); with them, it must be one of them."""
    from chaoskit import spec
    from chaoskit.errors import SpecError

    path = tmp_path / "locust.toml"
    text = (
        '[experiment]\nname = "l"\nduration = "10s"\n'
        '[target]\nbase_url = "http://127.0.0.1:8100"\n'
        '[load]\nengine = "locust"\nlocustfile = "f.py"\n{load}\n'
        '[[hypotheses]]\nname = "h"\nphase = "all"\nmetric = "p95"\n'
        'below = "1s"\nuser_class = "Admin"\n'
    )
    path.write_text(text.format(load="users = 2"))
    assert spec.load(path).hypotheses[0].user_class == "Admin"
    path.write_text(text.format(load='user_count = 2\n[[load.users]]\nname = "Viewer"'))
    with pytest.raises(SpecError) as caught:
        spec.load(path)
    (issue,) = caught.value.issues
    assert issue.path == "hypotheses[0].user_class"
    assert "Viewer" in str(issue)


def _integrity_with_class_tasks(tmp_path, ack):
    from chaoskit import spec

    path = tmp_path / "classes.toml"
    path.write_text(
        '[experiment]\nname = "c"\nduration = "10s"\n'
        '[target]\nbase_url = "http://127.0.0.1:8100"\n'
        '[load]\nmodel = "closed"\nuser_count = 2\n'
        '[[load.users]]\nname = "Reader"\n'
        '[[load.users.tasks]]\nname = "read"\npath = "/r"\n'
        '[[load.users]]\nname = "Writer"\n'
        '[[load.users.tasks]]\nname = "write"\nmethod = "POST"\npath = "/w"\n'
        f'json = {{ id = "{{{{ uuid() }}}}" }}\nack = {ack}\n'
        '[[hypotheses]]\nname = "h"\nkind = "integrity"\n'
        'read_back = { url = "/writes", ids = "$.ids" }\n'
    )
    return spec.load(path)


def test_a_class_task_with_an_ack_feeds_an_integrity_check(tmp_path):
    from chaoskit.errors import SpecError

    loaded = _integrity_with_class_tasks(tmp_path, '{ request = "$.id" }')
    assert loaded.hypotheses
    # Its ack is checked at its own key path.
    with pytest.raises(SpecError) as caught:
        _integrity_with_class_tasks(tmp_path, '{ request = "id" }')
    (issue,) = caught.value.issues
    assert issue.path == "load.users[1].tasks[0].ack.request"

"""User flows, uploads, hot keys and seeded sequences against the real app."""

from __future__ import annotations

import collections

import uvloop

from chaoskit.load import (
    ClosedModel,
    Flow,
    HotKeys,
    LoadConfig,
    LoadEngine,
    OpenModel,
    TaskSpec,
    Think,
    Upload,
)
from chaoskit.records import MemorySink


def run(config):
    memory = MemorySink()
    status = uvloop.run(LoadEngine(config, memory).run())
    return status, memory.samples


def test_auth_flow_captures_the_token_refreshes_it_on_401_and_cleans_up(app):
    flow = Flow(
        on_start=(
            TaskSpec(
                "register",
                "/register",
                method="POST",
                json={"name": "u{{ user }}"},
                capture={"uid": "$.id"},
            ),
            TaskSpec(
                "login",
                "/login",
                method="POST",
                json={"name": "u{{ user }}"},
                capture={"token": "$.access_token"},
            ),
        ),
        on_stop=(TaskSpec("logout", "/logout/{{ uid }}", method="POST"),),
        bearer="token",
        refresh="login",
    )
    me = TaskSpec("me", "/me", capture={"seen": "$.token"})
    config = LoadConfig(
        base_url=app.url,
        model=ClosedModel(users=2, think=Think(0.005, 0.005)),
        tasks=(me,),
        flow=flow,
        duration=30,
        max_requests=40,
    )
    status, samples = run(config)
    assert status.errors == 0, [s for s in samples if s.error]
    by_task = collections.Counter(s.task for s in samples)
    assert by_task["register"] == 2
    assert by_task["logout"] == 2
    # A token is good for 3 uses (app.TOKEN_USES): every 4th /me gets 401, the
    # user logs in again and retries, so there are many more logins than users.
    assert by_task["login"] > 4
    refreshed = [s for s in samples if s.status == 401]
    assert refreshed
    assert all(s.error is None and "refreshed" in s.detail for s in refreshed)
    events = app.get_json("/events")
    assert sum(1 for e in events if e.startswith("logout ")) >= 2


def test_a_refresh_step_of_its_own_runs_only_on_401(app):
    """A refresh-token exchange: login once, then on each 401 the refresh step
    (not an ``on_start`` step) gets a new access token and the request is
    retried with it."""
    flow = Flow(
        on_start=(
            TaskSpec(
                "login",
                "/login",
                method="POST",
                json={"name": "r{{ user }}"},
                capture={"token": "$.access_token", "refresh": "$.refresh_token"},
            ),
        ),
        bearer="token",
        refresh=TaskSpec(
            "refresh",
            "/refresh",
            method="POST",
            json={"refresh_token": "{{ refresh }}"},
            capture={"token": "$.access_token"},
        ),
    )
    config = LoadConfig(
        base_url=app.url,
        model=ClosedModel(users=2, think=Think(0.005, 0.005)),
        tasks=(TaskSpec("me", "/me"),),
        flow=flow,
        duration=30,
        max_requests=40,
    )
    status, samples = run(config)
    assert status.errors == 0, [s for s in samples if s.error]
    by_task = collections.Counter(s.task for s in samples)
    assert by_task["login"] == 2  # once per user: refreshes do not log in again
    unauthorized = [s for s in samples if s.task == "me" and s.status == 401]
    assert by_task["refresh"] == len(unauthorized) > 0
    assert all("refreshed" in s.detail for s in unauthorized)
    events = app.get_json("/events")
    assert {e for e in events if e.startswith("refresh ")} <= {
        "refresh r0",
        "refresh r1",
    }


def test_heartbeats_arrive_at_their_interval_between_tasks(app):
    flow = Flow(heartbeat=TaskSpec("beat", "/fast"), heartbeat_every=0.1)
    config = LoadConfig(
        base_url=app.url,
        model=ClosedModel(users=2, think=Think(0.3, 0.3)),
        tasks=(TaskSpec("fast", "/fast"),),
        flow=flow,
        duration=1.5,
    )
    _, samples = run(config)
    beats = collections.Counter(s.user for s in samples if s.task == "beat")
    # 1.5 s at one beat per 0.1 s is 15 per user; 10..16 allows a late start.
    assert all(10 <= n <= 16 for n in beats.values()), beats
    tasks = collections.Counter(s.user for s in samples if s.task == "fast")
    assert all(n <= 6 for n in tasks.values())  # think 0.3 s: about 5 each


def test_a_heartbeat_slower_than_its_interval_leaves_time_for_tasks(app):
    """The user is busy with its beat: its next task is due when the beat is
    answered (the slowness shows once, in the beat's own latency), and the
    beats it missed meanwhile are skipped, so tasks still run between beats."""
    flow = Flow(heartbeat=TaskSpec("beat", "/stall?s=0.3"), heartbeat_every=0.2)
    config = LoadConfig(
        base_url=app.url,
        model=ClosedModel(users=2, think=Think(0.05, 0.05)),
        tasks=(TaskSpec("fast", "/fast"),),
        flow=flow,
        duration=2,
    )
    _, samples = run(config)
    beats = [s for s in samples if s.task == "beat"]
    tasks = [s for s in samples if s.task == "fast"]
    # Between two beats (0.3 s each, then 0.2 s to the next) a user has time
    # for a few tasks; beats back to back would leave it none.
    assert len(tasks) > len(beats) > 0, (len(tasks), len(beats))
    # A task's lag (send - intended) is never the beat's 0.3 s again.
    shortest_beat = min(s.end_ns - s.sent_ns for s in beats)
    assert all(s.sent_ns - s.intended_ns < shortest_beat for s in tasks), [
        (s.sent_ns - s.intended_ns) / 1e9 for s in tasks
    ]


def test_uploads_arrive_with_the_generated_size(app):
    upload = TaskSpec(
        "upload",
        "/upload",
        method="POST",
        files={"file": Upload(size=123_457, filename="a.bin")},
        form={"note": "hi"},
    )
    config = LoadConfig(
        base_url=app.url,
        model=ClosedModel(users=2),
        tasks=(upload,),
        duration=10,
        max_requests=6,
    )
    status, samples = run(config)
    assert status.errors == 0
    received = app.get_json("/uploads")
    assert received[-6:] == [{"note": 2, "file": 123_457}] * 6
    assert all(s.bytes_sent > 123_457 for s in samples)


def test_hot_keys_concentrate_writes_on_few_records(app):
    write = TaskSpec("write", "/items/{{ key() }}", method="PUT", expect=(204,))
    config = LoadConfig(
        base_url=app.url,
        model=OpenModel(rate=400, users=50),
        tasks=(write,),
        duration=1.0,
        hot_keys=HotKeys(hot=2, ratio=0.8, space=10_000),
    )
    status, _ = run(config)
    assert status.errors == 0
    writes = app.get_json("/writes")
    hot = writes.get("1", 0) + writes.get("2", 0)
    total = sum(writes.values())
    assert 0.7 < hot / total < 0.9  # ratio 0.8 over ~400 writes
    assert total >= 390


def echo_config(url, seed, model):
    task = TaskSpec(
        "echo",
        "/echo",
        method="POST",
        query={"p": "{{ randint(1, 1000000) }}"},
        json={"u": "{{ user }}", "id": "{{ uuid() }}", "c": "{{ choice('a', 'b') }}"},
    )
    other = TaskSpec("other", "/echo?t={{ randstr(6) }}", weight=0.5)
    return LoadConfig(
        base_url=url,
        model=model,
        tasks=(task, other),
        duration=20,
        max_requests=60,
        seed=seed,
    )


def sequence(app, seed, model):
    app.get_json("/log")  # clear
    status, _ = run(echo_config(app.url, seed, model))
    assert status.errors == 0
    return app.get_json("/log")


def test_same_seed_gives_the_same_request_sequence(app):
    closed = ClosedModel(users=1)
    first = sequence(app, 7, closed)
    assert len(first) == 60
    assert sequence(app, 7, closed) == first
    assert sequence(app, 8, closed) != first
    # Open model: requests are rendered in arrival order; the server may see
    # them slightly reordered, so compare them as a set.
    opened = OpenModel(rate=300, users=5)

    def key(entry):
        return (entry["method"], entry["query"], entry["body"])

    a = sorted(map(key, sequence(app, 7, opened)))
    assert a == sorted(map(key, sequence(app, 7, opened)))
    assert a != sorted(map(key, sequence(app, 9, opened)))


def test_open_model_users_log_in_once_then_send_their_token(app):
    flow = Flow(
        on_start=(
            TaskSpec(
                "login",
                "/login",
                method="POST",
                json={"name": "o{{ user }}"},
                capture={"token": "$.access_token"},
            ),
        ),
        on_stop=(TaskSpec("logout", "/logout/o{{ user }}", method="POST"),),
        bearer="token",
        refresh="login",
    )
    config = LoadConfig(
        base_url=app.url,
        model=OpenModel(rate=100, users=3),
        tasks=(TaskSpec("me", "/me"),),
        flow=flow,
        duration=0.5,
    )
    status, samples = run(config)
    assert status.errors == 0, [s for s in samples if s.error]
    by_task = collections.Counter(s.task for s in samples)
    # 50 arrivals, each answered 200 in the end; a token lasts 3 uses, so some
    # got a 401 first, logged in again and were retried (one more sample each).
    me = [s for s in samples if s.task == "me"]
    assert sum(1 for s in me if s.status == 200) == 50
    refreshes = sum(1 for s in me if s.status == 401)
    assert refreshes > 0
    assert by_task["login"] == 3 + refreshes
    assert by_task["logout"] == 3
    assert {s.user for s in samples} == {0, 1, 2}

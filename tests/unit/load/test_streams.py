"""Stream tasks without sockets: the SSE parser, the settings' own checks, and
the sample names the engine and the spec share."""

from __future__ import annotations

import pytest

from chaoskit.load import LoadConfigError
from chaoskit.load.sse import EventParser
from chaoskit.load.streamspec import StreamMessage, StreamSpec, message_text
from chaoskit.records import stream_sample_name, stream_sample_parts
from chaoskit.spec.streams import task_sample_names


def feed(parser: EventParser, *chunks: bytes) -> list[tuple[str | None, int]]:
    events = []
    for chunk in chunks:
        parser.feed(chunk)
        events += parser.on_event
        parser.on_event.clear()
    return events


def test_events_end_at_a_blank_line_whatever_the_chunking():
    text = b"id: 1\ndata: a\n\nid: 2\r\ndata: b\r\ndata: c\r\n\r\n"
    whole = feed(EventParser(), text)
    split = feed(EventParser(), *(text[i : i + 1] for i in range(len(text))))
    assert [e[0] for e in whole] == ["1", "2"]
    assert whole == split


def test_comments_are_signs_of_life_not_events():
    parser = EventParser()
    assert feed(parser, b": keep-alive\n\n") == []
    assert parser.on_comment


def test_an_event_without_data_is_not_dispatched_but_its_id_is_kept():
    parser = EventParser()
    assert feed(parser, b"id: 7\n\n") == []
    assert parser.last_id == "7"
    assert feed(parser, b"data: x\n\n") == [(None, len(b"data: x\n\n"))]


def test_the_field_value_loses_one_leading_space_only():
    parser = EventParser()
    feed(parser, b"id:  9\ndata: x\n\n")
    assert parser.last_id == " 9"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hold": 0.0}, "tasks.hold"),
        ({"idle": -1.0}, "tasks.idle"),
        ({"reconnect": -0.1}, "tasks.reconnect"),
        ({"reconnect": float("inf")}, "tasks.reconnect"),
    ],
)
def test_stream_settings_out_of_range_name_their_field(kwargs, field):
    with pytest.raises(LoadConfigError) as caught:
        StreamSpec("sse", **kwargs)
    assert caught.value.field == field


def test_an_unknown_stream_kind_is_refused():
    with pytest.raises(LoadConfigError, match="websocket, sse"):
        StreamSpec("gopher")  # type: ignore[arg-type]


def test_a_table_message_is_sent_as_compact_json():
    assert message_text({"op": "subscribe", "n": 1}) == '{"op":"subscribe","n":1}'
    assert StreamMessage.of("hi", None) == StreamMessage("hi")


def test_the_spec_declares_the_names_the_engine_records():
    sse = [stream_sample_name("ticks", p) for p in stream_sample_parts("sse")]
    assert task_sample_names({"name": "ticks", "kind": "sse"}) == ["ticks", *sse]
    assert sse == ["ticks.connect", "ticks.first_event"]
    assert task_sample_names({"name": "q", "kind": "websocket"}) == ["q", "q.connect"]
    assert task_sample_names({"name": "home"}) == ["home"]
    assert task_sample_names({"name": "x", "kind": 3}) == ["x"]
    assert task_sample_names({"kind": "sse"}) == []


def test_the_engine_refuses_a_stream_task_in_the_open_model():
    from chaoskit.load import LoadConfig, LoadEngine, OpenModel, TaskSpec
    from chaoskit.records import MemorySink

    config = LoadConfig(
        "http://127.0.0.1:9", OpenModel(10),
        (TaskSpec("ticks", "/events", stream=StreamSpec("sse")),), duration=1,
    )  # fmt: skip
    with pytest.raises(LoadConfigError, match="closed model"):
        LoadEngine(config, MemorySink())


def test_the_engine_refuses_a_class_stream_task_in_the_open_model():
    from chaoskit.load import LoadConfig, LoadEngine, OpenModel, TaskSpec
    from chaoskit.load.config import UserClass
    from chaoskit.records import MemorySink

    listeners = UserClass(
        "Listener", (TaskSpec("ticks", "/events", stream=StreamSpec("sse")),)
    )
    pollers = UserClass("Poller", (TaskSpec("health", "/health"),))
    config = LoadConfig(
        "http://127.0.0.1:9", OpenModel(10), (), duration=1,
        classes=(listeners, pollers),
    )  # fmt: skip
    with pytest.raises(LoadConfigError, match=r"closed model.*ticks"):
        LoadEngine(config, MemorySink())

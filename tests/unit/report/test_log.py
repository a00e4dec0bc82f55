"""chaoskit.log: one JSON line per event, warnings for trouble, secrets masked."""

from __future__ import annotations

import json

from chaoskit.events import event
from chaoskit.report.log import StructlogSink


def test_events_become_json_lines_with_levels_and_no_secrets(tmp_path):
    with StructlogSink(tmp_path, secrets=["s3cret-token"]) as sink:
        sink.emit(event("service_ready", service="api", address="127.0.0.1:8000"))
        sink.emit(event("progress", elapsed_s=1.0))
        error = "refused: Authorization: Bearer s3cret-token"
        sink.emit(event("fault_failed", fault="slow db", error=error))
    lines = [
        json.loads(x) for x in (tmp_path / "chaoskit.log").read_text().splitlines()
    ]
    assert [(x["event"], x["level"]) for x in lines] == [
        ("service_ready", "info"),
        ("fault_failed", "warning"),
    ]
    assert lines[0]["address"] == "127.0.0.1:8000"
    assert "timestamp" in lines[0]
    assert "s3cret-token" not in (tmp_path / "chaoskit.log").read_text()


def test_library_warnings_become_events_never_stderr_lines(capfd):
    """From the run's thread or a worker's (Hypothesis runs in one), a warning is
    a ``library_warning`` event, cut short, in order; nothing is printed."""
    import threading
    import warnings

    from chaoskit.events import event
    from chaoskit.report.log import WARNING_EVENT, route_warnings

    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with route_warnings(seen.append) as emit:
            warnings.warn("from the loop", UserWarning, stacklevel=1)
            worker = threading.Thread(
                target=lambda: warnings.warn(
                    DeprecationWarning("x" * 100_000), stacklevel=1
                )
            )
            worker.start()
            worker.join()
            emit(event("progress"))
            show_inside = warnings.showwarning
        shown_after = warnings.showwarning
    assert [e.kind for e in seen] == [WARNING_EVENT, WARNING_EVENT, "progress"]
    assert seen[0].data["category"] == "UserWarning"
    assert seen[0].data["message"] == "from the loop"
    assert seen[1].data["category"] == "DeprecationWarning"
    assert len(str(seen[1].data["message"])) < 600
    assert "100000 characters" in str(seen[1].data["message"])
    assert str(seen[0].data["where"]).startswith(__file__)
    assert show_inside is not shown_after  # ours inside only, restored on exit
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")

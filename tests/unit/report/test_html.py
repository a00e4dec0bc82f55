"""report.html without a browser: structure, escaping, secrets, fault windows.

Two inputs: the hand-built run of ``conftest.py`` (two faults, one never rolled
back, a token planted everywhere) and ``recorded/``, the journal and sample
file of a real 9 s ``db-outage`` run (the database route down from 3 s to 5 s)::

    chaoskit run experiments/db-outage.toml --report-dir DIR \
      --set experiment.duration=9s --set faults.0.at=3s --set faults.0.for=2s \
      --set experiment.warmup=0.5s --set load.rate=25
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chaoskit.events import Event
from chaoskit.metrics import SampleFile
from chaoskit.report import (
    JournalSink,
    build_document,
    document_from_journal,
    html_report,
    write_html,
)
from tests.unit.report.conftest import PASSWORD, TOKEN, _samples

RECORDED = Path(__file__).parent / "recorded"


class _Ids(HTMLParser):
    """Collects element ids and tag names; fails on nothing (HTML is lenient)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [value for name, value in attrs if name == "id" and value]


def parse(page: str) -> _Ids:
    parser = _Ids()
    parser.feed(page)
    return parser


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A copy of the recorded run's directory (journal.jsonl and samples.tsv)."""
    run = tmp_path / "run"
    shutil.copytree(RECORDED, run)
    return run


def test_the_page_starts_with_the_verdict_and_the_replay_command(outcome, tmp_path):
    page = html_report(build_document(outcome), tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    header = page[: page.index('id="hypotheses"')]
    assert '<div class="verdict">FAILED</div>' in header
    assert "chaoskit run experiments/db-latency.toml --seed 7" in header
    assert "seed 7" in header


def test_every_section_with_data_is_there_in_page_order(outcome, tmp_path):
    ids = parse(html_report(build_document(outcome), tmp_path)).ids
    sections = [i for i in ids if i in {
        "hypotheses", "faults", "charts", "tasks", "errors", "services", "environment",
    }]  # fmt: skip
    assert sections == [
        "hypotheses", "faults", "charts", "tasks", "errors", "services", "environment",
    ]  # fmt: skip


def test_a_section_without_data_is_left_out(outcome, tmp_path):
    document = build_document(outcome)
    document["errors"] = {}
    document["top_error_users"] = []
    document["services"] = []
    ids = parse(html_report(document, tmp_path)).ids
    assert "errors" not in ids
    assert "services" not in ids
    assert "hypotheses" in ids


def test_the_page_is_self_contained_and_needs_no_script(outcome, tmp_path):
    page = html_report(build_document(outcome), tmp_path)
    tags = set(parse(page).tags)
    assert not tags & {"script", "link", "img", "iframe", "object"}
    assert "<style>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page


def test_html_special_characters_are_escaped(outcome, tmp_path):
    document = build_document(outcome)
    document["hypotheses"][0]["name"] = 'p95 <b>"fast"</b> & cheap'
    document["errors"]["http_5xx"]["samples"] = ["browse: <script>alert(1)</script>"]
    document["experiment"]["title"] = "</title><script>x()</script>"
    page = html_report(document, tmp_path)
    assert "p95 &lt;b&gt;&quot;fast&quot;&lt;/b&gt; &amp; cheap" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "<b>" not in page


def test_no_secret_reaches_the_page(outcome, tmp_path):
    document = build_document(outcome)
    # Also one planted after build_document, as a hand-made document could hold.
    document["hypotheses"][0]["detail"] = f"Authorization: Bearer {TOKEN}"
    page = html_report(document, tmp_path)
    assert TOKEN not in page
    assert "SECRET-TOKEN" not in page
    assert PASSWORD not in page


def test_every_fault_window_is_shaded_and_labelled_on_every_chart(outcome, tmp_path):
    page = html_report(build_document(outcome), tmp_path)
    ids = set(parse(page).ids)
    charts = ["overall", "task-0", "task-1", "task-2"]  # browse, progress, refresh
    for chart in charts:
        assert chart in ids
        for fault in (0, 1):
            # Three panels without samples.tsv: throughput and error rate.
            assert {f"{chart}-fault-{fault}-0", f"{chart}-fault-{fault}-1"} <= ids
            assert f"{chart}-fault-{fault}-label" in ids
    assert page.count(">slow db (latency)<") == len(charts)
    # "kill api" never ended (no rollback): shaded to the end of the data.
    assert page.count(">kill api (kill)<") == len(charts)


def test_a_recovery_time_is_marked_after_its_fault(outcome, tmp_path):
    document = build_document(outcome)
    recovery = next(h for h in document["hypotheses"] if h["kind"] == "recovery")
    recovery["name"] = "recovers [slow db]"
    recovery["observed_value"] = 0.4
    page = html_report(document, tmp_path)
    ids = set(parse(page).ids)
    assert {"overall-recovery-0-0", "overall-recovery-0-1"} <= ids
    assert "slow db recovered in 0.4s" in page


def test_without_samples_per_task_latency_is_missing_and_the_page_says_so(
    outcome, tmp_path
):
    page = html_report(build_document(outcome), tmp_path / "nowhere")
    assert "Per-task latency needs the run's samples.tsv" in page


def test_the_recorded_run_gets_latency_charts_per_task(recorded):
    page = html_report(document_from_journal(recorded), recorded)
    ids = set(parse(page).ids)
    # Three panels per chart: throughput, latency, error rate.
    for chart in ("overall", "task-0", "task-1"):
        assert {f"{chart}-fault-0-{row}" for row in range(3)} <= ids
        assert f"{chart}-recovery-0-2" in ids
    assert ">db gone (down)<" in page
    assert "db gone recovered in 0.0s" in page
    assert "overall-warmup" in ids  # the 0.5 s warm-up, greyed
    assert "samples.tsv" not in page[page.index('id="charts"') :].split("</p>")[0]
    assert "body_pattern:database_unavailable" in page


def test_ids_are_unique_in_the_page(recorded):
    ids = parse(html_report(document_from_journal(recorded), recorded)).ids
    assert len(ids) == len(set(ids))


def test_the_page_is_the_same_on_every_render(recorded, tmp_path):
    document = document_from_journal(recorded)
    first = write_html(document, recorded).read_bytes()
    again = html_report(copy.deepcopy(document), recorded).encode()
    assert first == again


def test_the_page_from_a_journal_equals_the_page_from_the_run(outcome, tmp_path):
    """The run renders its in-memory document; `chaoskit report` the journal's
    copy of it (JSON round trip). Same samples, same journal: same bytes."""
    run_dir = Path(outcome.report_dir)
    run_dir.mkdir(parents=True)
    samples = SampleFile(run_dir / "samples.tsv")
    for _, sample in _samples():
        samples.write(sample)
    samples.close()
    document = build_document(outcome)
    with JournalSink(run_dir) as journal:
        # The hand-built samples' timeline starts at monotonic 0.
        journal.emit(Event("phase", 0, 1795000000.0, {"name": "before", "at_s": 0.0}))
        journal.write_document(document)
    from_run = html_report(document, run_dir)
    rerendered = tmp_path / "elsewhere"
    from_journal = html_report(document_from_journal(run_dir), rerendered)
    assert from_run == from_journal
    # The samples were found through the document's report_dir: latency panels.
    assert "overall-fault-0-2" in from_journal
    assert json.loads(json.dumps(document)) == document_from_journal(run_dir)


def test_backoff_verdicts_get_a_retry_sequence_chart(outcome, tmp_path):
    document = build_document(outcome)
    sequences = [
        {"key": "127.0.1.1", "times_s": [4.0, 4.1, 4.3, 4.7], "succeeded": False},
        {"key": "127.0.1.2", "times_s": [4.05, 4.16], "succeeded": True},
    ]
    document["hypotheses"].append(
        {"name": "backs off", "kind": "backoff", "passed": False, "phase": "during",
         "observed": "2 sequences", "expected": "<= 3 attempts", "detail": "x",
         "data": {"route": "reco", "attempts": 6, "window_s": 3.0,
                     "jitter_cv": 0.12, "broken": ["max_attempts"],
                     "sequences": sequences}}
    )  # fmt: skip
    page = html_report(document, tmp_path)
    ids = parse(page).ids
    assert ids.index("errors") < ids.index("retries") < ids.index("services")
    section = page[page.index('<section id="retries">') :]
    section = section[: section.index("</section>")]
    assert section.count("<circle") == 6
    assert "6 attempts in 2 sequences over 3.00s; jitter CV 0.120" in section
    assert "broken: max_attempts" in section
    assert "4.700s" in section


def test_without_a_backoff_verdict_there_is_no_retry_section(outcome, tmp_path):
    assert "retries" not in parse(html_report(build_document(outcome), tmp_path)).ids


def test_integrity_counts_and_lost_ids_get_their_section(outcome, tmp_path):
    document = build_document(outcome)
    assert "integrity" not in parse(html_report(document, tmp_path)).ids
    document["hypotheses"].append({
        "name": "no write lost", "kind": "integrity", "passed": False,
        "observed": "2 lost", "expected": "0 lost", "phase": "all", "detail": "",
        "data": {"acknowledged": 10, "read_back": 8, "lost": 2, "duplicated": 0,
                 "unexpected": 0, "indeterminate": 1, "indeterminate_found": 0,
                 "lost_ids": ["w-<1>", "w-2"], "duplicated_ids": [],
                 "unexpected_ids": [], "source": "http://127.0.0.1:1/writes"},
    })  # fmt: skip
    page = html_report(document, tmp_path)
    assert "integrity" in parse(page).ids
    section = page[page.index('id="integrity"') :]
    assert "<code>w-&lt;1&gt;</code>" in section
    assert "lost (first 2)" in section

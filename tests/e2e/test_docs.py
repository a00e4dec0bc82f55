"""Every TOML snippet of docs/coming-from-locust.md is a real experiment.

A block with an ``[experiment]`` table is validated as it is; any other block
as the rest of a file that starts with the page's own preamble (an
``[experiment]`` and a ``[target]``: the page says so). Each is written to a
directory holding what its paths point at (the event sink's schema, a
locustfile), then ``chaoskit validate`` must answer exit 0, "valid".
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.e2e.test_experiments import REPO, chaoskit

DOC = REPO / "docs" / "coming-from-locust.md"
PREAMBLE = """\
[experiment]
name = "from-locust"
duration = "30s"

[target]
base_url = "http://127.0.0.1:8100"
"""
BLOCKS = re.findall(r"^```toml\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def test_the_page_has_snippets_and_states_the_preamble():
    assert len(BLOCKS) >= 10
    assert PREAMBLE in DOC.read_text()  # the page shows what the test prepends


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_toml_snippet_validates(index, tmp_path):
    block = BLOCKS[index]
    complete = re.search(r"^\[experiment\]$", block, re.M) is not None
    text = block if complete else PREAMBLE + "\n" + block
    schema = tmp_path / "fixtures" / "eventsink" / "schema.json"
    schema.parent.mkdir(parents=True)
    shutil.copy(REPO / "fixtures" / "eventsink" / "schema.json", schema)
    shutil.copy(
        REPO / "fixtures" / "locust" / "eventsink.py", tmp_path / "locustfile.py"
    )
    path = tmp_path / "snippet.toml"
    path.write_text(text)
    result = chaoskit("validate", str(path))
    assert result.returncode == 0, (text, result.stderr)
    assert result.stdout.rstrip().endswith("valid")

"""Reading the file: a byte-order mark is accepted, and a string that never
ends is placed at the line where it opens (issue 13.10)."""

from __future__ import annotations

import pytest

from chaoskit.errors import SpecError
from chaoskit.spec.toml import read_table


def test_a_utf8_byte_order_mark_is_not_part_of_the_file(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbf[experiment]\nname = "x"\n')
    assert read_table(path) == {"experiment": {"name": "x"}}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[experiment]\nname = "x\nduration = "1s"\n', "line 2, column 8"),
        ('[experiment]\nname = "x', "line 2, column 8"),
        ("[experiment]\nname = 'x\n", "line 2, column 8"),
        (
            '[experiment]\n# a "quote" in a comment\ntitle = """a\nb\n',
            "line 3, column 9",
        ),
        ('[experiment]\nname = "a\\"b" # \'\nx = "', "line 3, column 5"),
    ],
)
def test_an_unterminated_string_names_the_line_it_opens_on(tmp_path, text, where):
    path = tmp_path / "open.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        read_table(path)
    (issue,) = caught.value.issues
    assert issue.path == where
    assert "unterminated string" in issue.message


def test_an_error_at_the_end_of_the_file_names_its_last_line(tmp_path):
    path = tmp_path / "end.toml"
    path.write_text("[experiment]\nports = [1,\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert caught.value.issues[0].path.startswith("line 2")

"""``crossent.cli.table``: aligned text tables."""

from __future__ import annotations

import pytest

from crossent.cli.table import format_table


def test_numbers_right_text_left_and_a_rule_per_column():
    text = format_table(["name", "value"], [["alpha", "0.25"], ["gamma", "12"], ["off", "-"]])
    lines = text.splitlines()
    assert lines[0] == "name   value"
    assert lines[1] == "─────  ─────"
    assert lines[2] == "alpha   0.25"  # a number is right-aligned under its header
    assert lines[3] == "gamma     12"
    assert lines[4] == "off    -"  # text is left-aligned, with no trailing spaces
    assert all(line == line.rstrip() for line in lines)


def test_cells_are_converted_with_str():
    assert format_table(["n"], [[3], [10]]).splitlines()[2:] == [" 3", "10"]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=r"`rows`: each row needs 2 cells"):
        format_table(["a", "b"], [["1"]])

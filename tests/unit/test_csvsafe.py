"""OWASP CSV-injection guard: formula-like cells, leading whitespace included, are shown as text."""

from __future__ import annotations

import csv
import io

import pytest

from apex_demo.csvsafe import escape_cell, unescape_cell

# OWASP's list (= + - @ tab CR), ' =1+2' (leading blank), and what LibreOffice/Excel also accept.
DANGEROUS = ["=1+2", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", " =1+2", "   +cmd", "\u00a0=1", "\n=1",
             "\uff1d1+2", "' =1+2", "'=1"]
HARMLESS = ["song.wav", "take 1", "", "1.5", "'quoted'", "a=b", "email@example.com", "' plain"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_like_cells_get_a_quote(cell: str) -> None:
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", HARMLESS)
def test_plain_cells_pass_unchanged(cell: str) -> None:
    assert escape_cell(cell) == cell


@pytest.mark.parametrize("value", [1, 2.5, None, True])
def test_non_text_passes_unchanged(value: object) -> None:
    assert escape_cell(value) is value


@pytest.mark.parametrize("cell", DANGEROUS + HARMLESS + ["''=1", "'''x"])
def test_reading_our_csv_back_gives_the_original(cell: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([escape_cell(cell)])
    read = next(csv.reader(io.StringIO(buffer.getvalue())))[0]
    assert unescape_cell(read) == cell

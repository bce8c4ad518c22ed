"""The app states the authors' Music Arena numbers as APEX_arena_experiment.ipynb printed them.

Expected values are copied from the notebook's printed output (cell 4: "Equal-weight combined:
0.454", "Likes+Streams only: 0.488", "Likes alone (baseline):0.503"; cell 10's table: LogisticRegression
0.600 / 0.624 / 0.562, SVM 0.614, rule rows 0.518 ... 0.557), not from the code under test."""

from __future__ import annotations


from apex_demo.engine import caveats as arena_facts
from apex_demo.ui.tabs import about as about_tab, arena as arena_tab, leaderboard as leaderboard_tab
from tests.support import REPO

NOTEBOOK_NUMBERS = ("1,259", "45.4 %", "48.8 %", "50.3 %", "0.52-0.56", "0.600", "0.624", "0.562", "0.614")
DOCS = REPO / "docs" / "arena-statistics.md"


def test_every_tab_says_what_the_notebook_printed() -> None:
    for number in NOTEBOOK_NUMBERS:
        assert number in arena_facts.ABOUT_NOTE, number
        assert number in arena_facts.LEADERBOARD_CONTEXT, number
    assert "lower" in arena_facts.FINDINGS and "coin flip" in arena_facts.ARENA_WARNING
    assert "0.60" in arena_tab.INTRO and "45-50 %" in arena_tab.INTRO
    assert "0.52-0.60" not in arena_tab.INTRO                       # the old, misleading range is gone
    assert about_tab.ABOUT_NOTE is arena_facts.ABOUT_NOTE
    assert leaderboard_tab.LEADERBOARD_CONTEXT is arena_facts.LEADERBOARD_CONTEXT


def test_the_docs_carry_the_same_numbers() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for number in ("0.454", "0.488", "0.503", "0.518", "0.557", "0.534", "0.535", "0.527", "0.600", "0.614"):
        assert number in text, number

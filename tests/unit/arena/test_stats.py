"""Arena statistics on hand-made votes with known answers."""

from __future__ import annotations

import math

import pytest

from apex_demo.arena.stats import agreement, arena_stats, bradley_terry, per_score_agreement, wilson_interval
from apex_demo.arena.picks import model_pick
from apex_demo.engine.ranking import overall_score
from apex_demo.scores import Scores
from apex_demo.arena.records import Choice
from apex_demo.arena.records import Vote

HIGH = {"score_streams": 80.0, "score_likes": 70.0, "coherence": 4.0, "musicality": 4.0,
        "memorability": 4.0, "clarity": 4.0, "naturalness": 4.0}
LOW = {"score_streams": 20.0, "score_likes": 30.0, "coherence": 2.0, "musicality": 2.0,
       "memorability": 2.0, "clarity": 2.0, "naturalness": 2.0}


def make_vote(i: int, choice: Choice, a: str = "x", b: str = "y", scores_a=None, scores_b=None,
              source: str = "pool") -> Vote:
    pick = model_pick(scores_a, scores_b) if scores_a and scores_b else None
    return Vote(f"b{i}", choice, "s", source, f"{a}-clip", f"{b}-clip", a, b, 10.0, 10.0, 0.0, 1.0,
                pick, scores_a, scores_b, "m" if pick else None)


@pytest.mark.parametrize("k,n,low,high", [
    (81, 263, 0.2553, 0.3662),   # Newcombe (1998), Stat Med 17:857, example (a), method 3
    (15, 148, 0.0624, 0.1605),   # Newcombe (1998), example (b)
    (0, 20, 0.0, 0.1611),        # Newcombe (1998), example (c)
    (1, 29, 0.0061, 0.1718),     # Newcombe (1998), example (d)
])
def test_wilson_matches_textbook(k: int, n: int, low: float, high: float) -> None:
    p = wilson_interval(k, n)
    assert p.rate == pytest.approx(k / n)
    assert p.low == pytest.approx(low, abs=5e-5)
    assert p.high == pytest.approx(high, abs=5e-5)


def test_wilson_no_data() -> None:
    p = wilson_interval(0, 0)
    assert (p.rate, p.low, p.high, p.n) == (None, None, None, 0)


def test_overall_is_the_ranking_definition() -> None:
    assert overall_score(HIGH) == pytest.approx((80 + 70 + 5 * 75) / 7)
    assert overall_score(HIGH) == pytest.approx(overall_score(Scores.from_mapping(HIGH)))
    assert overall_score({"score_streams": 50.0, "score_likes": 100.0}) == pytest.approx(75.0)
    assert overall_score(HIGH, ("coherence",)) == pytest.approx(75.0)
    assert model_pick(HIGH, LOW) is Choice.A
    assert model_pick(LOW, HIGH) is Choice.B
    assert model_pick(HIGH, HIGH) is Choice.TIE
    assert model_pick(Scores.from_mapping(HIGH), Scores.from_mapping(LOW)) is Choice.A
    with pytest.raises(ValueError):
        overall_score({"score_streams": 50.0}, ("coherence",))


def test_agreement_counts_only_decisive_scored_votes() -> None:
    votes = [make_vote(0, Choice.A, scores_a=HIGH, scores_b=LOW),   # agree
             make_vote(1, Choice.B, scores_a=HIGH, scores_b=LOW),   # disagree
             make_vote(2, Choice.A, scores_a=LOW, scores_b=HIGH),   # disagree
             make_vote(3, Choice.B, scores_a=LOW, scores_b=HIGH),   # agree
             make_vote(4, Choice.A, scores_a=HIGH, scores_b=LOW),   # agree
             make_vote(5, Choice.TIE, scores_a=HIGH, scores_b=LOW),       # not decisive
             make_vote(6, Choice.BOTH_BAD, scores_a=HIGH, scores_b=LOW),  # not decisive
             make_vote(7, Choice.A),                                      # no scores
             make_vote(8, Choice.A, scores_a=HIGH, scores_b=HIGH)]        # model cannot pick
    p = agreement(votes)
    assert (p.k, p.n) == (3, 5)
    assert p.rate == pytest.approx(0.6)
    assert p.low < 0.6 < p.high


def test_per_score_agreement_uses_each_output_alone() -> None:
    # streams says A, coherence says B; the listener picks A.
    a = dict(HIGH, coherence=1.5)
    b = dict(LOW, coherence=4.5)
    per = per_score_agreement([make_vote(0, Choice.A, scores_a=a, scores_b=b)])
    assert per["score_streams"].k == 1 and per["score_streams"].n == 1
    assert per["coherence"].k == 0 and per["coherence"].n == 1
    assert len(per) == 7


def test_per_score_agreement_popularity_only_head() -> None:
    a = {"score_streams": 60.0, "score_likes": 60.0}
    b = {"score_streams": 40.0, "score_likes": 40.0}
    per = per_score_agreement([make_vote(0, Choice.A, scores_a=a, scores_b=b)])
    assert per["score_likes"].n == 1 and per["naturalness"].n == 0


def test_bt_one_system_always_wins() -> None:
    pairs = [("x", "y", Choice.A)] * 10 + [("y", "x", Choice.B)] * 10
    rows = bradley_terry(pairs, min_votes=1, rounds=50)
    assert [r.item for r in rows] == ["x", "y"]
    assert rows[0].rating > 1100 > 1000 > 900 > rows[1].rating
    assert rows[0].rating - 1000 == pytest.approx(1000 - rows[1].rating)   # centred on 1000
    assert (rows[0].wins, rows[0].losses, rows[1].wins, rows[1].losses) == (20, 0, 0, 20)
    assert all(math.isfinite(r.ci_low) and math.isfinite(r.ci_high) for r in rows)


def test_bt_recovers_known_strength() -> None:
    # x beats y 3 times out of 4: the MLE gives a rating gap of 400*log10(3) = 190.8.
    pairs = [("x", "y", Choice.A)] * 300 + [("x", "y", Choice.B)] * 100
    rows = bradley_terry(pairs, min_votes=1, rounds=30)
    gap = rows[0].rating - rows[1].rating
    assert gap == pytest.approx(400 * math.log10(3), abs=2.0)
    assert rows[0].ci_low < rows[0].rating < rows[0].ci_high


def test_bt_ties_are_half_wins_and_both_bad_is_dropped() -> None:
    ties = bradley_terry([("x", "y", Choice.TIE)] * 8, min_votes=1, rounds=20)
    assert [r.rating for r in ties] == pytest.approx([1000.0, 1000.0])
    assert ties[0].ties == 8
    # 1 win + 2 ties for x is the same evidence as 2 wins + 2 losses... plus one win: rate 2/3.
    mixed = bradley_terry([("x", "y", Choice.A)] * 100 + [("x", "y", Choice.TIE)] * 100
                          + [("x", "y", Choice.BOTH_BAD)] * 500, min_votes=1, rounds=20)
    assert mixed[0].item == "x" and mixed[0].votes == 200   # BOTH_BAD not counted
    assert mixed[0].rating - mixed[1].rating == pytest.approx(400 * math.log10(3), abs=3.0)


def test_bt_single_system_and_no_votes() -> None:
    rows = bradley_terry([("x", "x", Choice.A)] * 6, min_votes=1, rounds=10)
    assert len(rows) == 1 and rows[0].rating == pytest.approx(1000.0)
    assert bradley_terry([]) == []
    assert bradley_terry([("x", "y", Choice.BOTH_BAD)] * 5) == []


def test_bt_minimum_votes_and_fixed_seed() -> None:
    pairs = ([("x", "y", Choice.A)] * 6 + [("y", "z", Choice.A)] * 6 + [("x", "w", Choice.B)] * 2
             + [("x", "z", Choice.A), ("y", "x", Choice.A)])
    rows = bradley_terry(pairs, min_votes=5, rounds=40, seed=7)
    assert "w" not in {r.item for r in rows}
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
    again = bradley_terry(pairs, min_votes=5, rounds=40, seed=7)
    assert rows == again


def test_arena_stats_on_no_votes() -> None:
    stats = arena_stats([])
    assert stats.total_votes == 0 and stats.agreement.n == 0
    assert stats.systems == [] and stats.clips == []
    assert stats.to_dict()["choice_counts"] == {"A": 0, "B": 0, "TIE": 0, "BOTH_BAD": 0}


def test_arena_stats_leaves_uploads_out_of_the_leaderboard() -> None:
    votes = [make_vote(i, Choice.A, scores_a=HIGH, scores_b=LOW) for i in range(6)]
    votes += [make_vote(10 + i, Choice.A, a="your take 1", b="your take 2", source="upload") for i in range(6)]
    stats = arena_stats(votes, min_votes=1, rounds=10)
    assert {r.item for r in stats.systems} == {"x", "y"}
    assert stats.agreement.k == 6 and stats.total_votes == 12

"""The private cache's memory of who scored what forgets its oldest pairs first."""

from __future__ import annotations



from apex_demo.ui.guards.private_cache import SeenBy


def test_the_oldest_pairs_are_forgotten() -> None:
    seen = SeenBy(max_entries=2)
    for visitor in ("a", "b", "c"):
        seen.add(visitor, "song")
    assert [seen.knows(v, "song") for v in ("a", "b", "c")] == [False, True, True]



"""The anomaly check: votes that look like a script voting from new sessions leave the leaderboard.

Flagged votes stay stored (and exported, and listed by `votes stats`); only the board leaves
them out.
"""

from __future__ import annotations

import logging
from typing import Callable

from apex_demo.arena.records import SOURCE_POOL
from apex_demo.arena.store import VoteStore

LOG = logging.getLogger(__name__)

ANOMALY_WINDOW_S = 10 * 60.0      # the anomaly check looks at votes from the last 10 minutes...
ANOMALY_FRESH_S = 10 * 60.0       # ...cast by sessions whose first vote is that recent...
ANOMALY_MIN_VOTES = 10            # ...and flags a system that won every one of at least this many
ANOMALY_FLAG = "anomaly:{system} won all {n} votes from fresh sessions in {minutes:g} min"


class AnomalyCheck:
    """Flags votes out of the leaderboard when, within the last ANOMALY_WINDOW_S, one system won
    every one of at least ANOMALY_MIN_VOTES pool votes it was in that came from fresh sessions
    (first vote within ANOMALY_FRESH_S)."""

    def __init__(self, store: VoteStore, clock: Callable[[], float]) -> None:
        self._store, self._clock = store, clock

    def run(self) -> int:
        """How many votes were newly flagged."""
        now = self._clock()
        fresh = self._store.fresh_outcomes(now - ANOMALY_WINDOW_S, now - ANOMALY_FRESH_S, SOURCE_POOL)
        flagged = 0
        for system in {s for v in fresh for s in (v.system_a, v.system_b)}:
            involved = [v for v in fresh if system in (v.system_a, v.system_b)]
            if len(involved) >= ANOMALY_MIN_VOTES and all(v.winner == system for v in involved):
                flag = ANOMALY_FLAG.format(system=system, n=len(involved), minutes=ANOMALY_WINDOW_S / 60)
                flagged += self._store.flag_votes([v.battle_id for v in involved if v.flag is None], flag)
        if flagged:
            LOG.warning("anomaly check: %d votes flagged out of the leaderboard", flagged)
        return flagged

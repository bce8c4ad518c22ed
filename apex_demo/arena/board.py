"""The leaderboard's numbers, computed off the request path and at most once a minute.

With 100,000 votes the statistics (Bradley-Terry with bootstrap intervals, the
learned model's cross-validation) take tens of seconds on a small CPU, so no page
load may compute them. A background thread (`BoardRefresher.run`) pulls other
replicas' votes (when a Hub vote dataset is configured), recomputes when the
number of votes changed, keeps the latest `Board` in memory for the page and the
API, and writes it next to the vote database so `votes stats` can answer at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from apex_demo.arena.stats import ArenaStats, arena_stats
from apex_demo.arena.learned import LearnedPick, learn
from apex_demo.arena.records import Vote, counts_for_leaderboard, excluded_summary

LOG = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 60.0
SNAPSHOT_FILENAME = "leaderboard.json"


@dataclass(frozen=True)
class Board:
    """One consistent set of statistics and the vote count it was computed from."""

    stats: ArenaStats
    learned: LearnedPick
    votes: int
    remote_votes: int       # votes that reached this replica from the Hub (other replicas, earlier runs)
    computed_at: float      # unix seconds
    excluded: dict[str, Any] = field(default_factory=dict)  # votes kept but left out (votes.excluded_summary)

    def to_dict(self) -> dict[str, Any]:
        return {**self.stats.to_dict(), "learned_model": self.learned.to_dict(),
                "votes_from_elsewhere": self.remote_votes, "computed_at": self.computed_at,
                "stored_votes": self.votes, "excluded": self.excluded}


def compute_board(votes: Sequence[Vote], remote_votes: int = 0, clock: Callable[[], float] = time.time,
                  min_votes: int | None = None, signed_in_only: bool = False) -> Board:
    """Every leaderboard statistic from the stored votes that count (not flagged by the trust check;
    signed in when only signed-in votes count); `votes` of the Board is every stored vote."""
    counted = [v for v in votes if counts_for_leaderboard(v, signed_in_only)]
    return Board(arena_stats(counted, min_votes=min_votes), learn(counted), len(votes), remote_votes, clock(),
                 excluded_summary(votes, signed_in_only))


def write_snapshot(board: Board, path: Path) -> None:
    """Atomically replace the snapshot file (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(board.to_dict()), encoding="utf-8")
    os.replace(tmp, path)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The app's last snapshot, or None when there is none or it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class BoardRefresher:
    """Holds the latest Board; `run` refreshes it in the background, `refresh` does it now."""

    def __init__(self, load_votes: Callable[[], list[Vote]], count: Callable[[], int],
                 remote_count: Callable[[], int] = lambda: 0, sync: Callable[[], int] | None = None,
                 snapshot_path: Path | None = None, interval_s: float = REFRESH_INTERVAL_S,
                 signed_in_only: bool = False) -> None:
        self._load_votes, self._count, self._remote_count = load_votes, count, remote_count
        self._signed_in_only = signed_in_only
        self._sync = sync
        self._snapshot_path = snapshot_path
        self.interval_s = interval_s
        self._latest: Board | None = None
        self._stale = False                    # set when counted votes change without the count changing
        self._lock = threading.Lock()          # one computation at a time

    def latest(self) -> Board | None:
        """The last computed Board (None before the first computation ends); never computes."""
        return self._latest

    def _pull(self) -> int:
        """Other replicas' new votes and flags; how many votes that changed (0 when it failed)."""
        if self._sync is None:
            return 0
        try:
            return self._sync()
        except Exception as exc:  # the Hub being down must not stop the local leaderboard
            LOG.warning("could not pull other replicas' votes: %s", exc)
            return 0

    def invalidate(self) -> None:
        """Recompute at the next tick even if the number of votes is the same (votes were flagged)."""
        self._stale = True

    def _compute(self) -> Board:
        self._stale = False
        board = compute_board(self._load_votes(), self._remote_count(), signed_in_only=self._signed_in_only)
        self._latest = board
        if self._snapshot_path is not None:
            try:
                write_snapshot(board, self._snapshot_path)
            except OSError as exc:
                LOG.warning("could not write the leaderboard snapshot: %s", exc)
        return board

    def refresh(self) -> Board:
        """Pull other replicas' votes, recompute and publish now (blocking: tests, first use)."""
        with self._lock:
            self._pull()
            return self._compute()

    def latest_or_refresh(self) -> Board:
        """The last Board, computed now only when there is none yet."""
        return self._latest or self.refresh()

    def tick(self) -> Board | None:
        """One background step: pull, then recompute only if votes came in or changed (flags pulled)."""
        with self._lock:
            pulled = self._pull()
            if self._latest is None or self._stale or pulled or self._count() != self._latest.votes:
                return self._compute()
            return None

    def run(self, stop: threading.Event) -> None:
        """Tick at once, then once per interval, until `stop` is set."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # keep the last good board; try again next interval
                LOG.exception("leaderboard refresh failed")
            stop.wait(self.interval_s)

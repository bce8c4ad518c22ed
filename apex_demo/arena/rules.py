"""The arena's vote rules: how often a client may start battles and vote, and when a vote counts.

Only the server decides (the page may enforce the rules too). A vote is refused, with a stable
`Refusal` reason, when its battle is unknown, served to another session, already voted, expired,
too early, not listened to long enough (or longer than the clips last), or beyond the client's
rate limit.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Mapping

from apex_demo.arena.blind import SERVED_TAIL_MAX_S, probe_duration
from apex_demo.arena.records import Battle, Refusal, VoteRefused
from apex_demo.arena.store import VoteStore
from apex_demo.config import Settings
from apex_demo.errors import ApexError

BATTLE_TTL_S = 30 * 60.0          # a battle left open longer than this is refused as expired
RATE_WINDOW_S = 60.0
BATTLES_PER_VOTE_LIMIT = 2        # a session may start twice as many battles as it may vote
LISTEN_SLACK_S = 60.0             # listening time accepted: at most the clip's length plus this
RATE_LIMITER_MAX_KEYS = 10_000    # past this many clients, idle ones are forgotten (memory stays bounded)

Clock = Callable[[], float]


class RateLimiter:
    """Sliding-window limit per key: at most `limit` events in `window_s` (0 = unlimited)."""

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        self._limit, self._window, self._clock = limit, window_s, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Record an event for `key` and say whether it is within the limit."""
        if self._limit <= 0:
            return True
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and now - events[0] >= self._window:
                events.popleft()
            if len(events) >= self._limit:
                return False
            events.append(now)
            if len(self._events) > RATE_LIMITER_MAX_KEYS:
                self._events = {k: v for k, v in self._events.items() if v and now - v[-1] < self._window}
            return True


def listen_seconds(value: object) -> float:
    """A reported listening time: a finite, non-negative number of seconds."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise VoteRefused(Refusal.BAD_LISTEN_TIME, f"Listening time must be a number of seconds >= 0, "
                          f"got {value!r}.")
    return seconds


class VoteRules:
    """Every check a battle request or a vote passes before the store sees it."""

    def __init__(self, settings: Settings, store: VoteStore, durations: Mapping[str, float], clock: Clock,
                 ttl_s: float = BATTLE_TTL_S) -> None:
        self._settings, self._store, self._durations = settings, store, dict(durations)
        self._clock, self.ttl_s = clock, ttl_s
        self._votes = RateLimiter(settings.votes_per_minute, RATE_WINDOW_S, clock)
        self._battles = RateLimiter(settings.votes_per_minute * BATTLES_PER_VOTE_LIMIT, RATE_WINDOW_S, clock)

    def admit_battle(self, client: str) -> None:
        """Refuse a new battle beyond the client's rate."""
        if not self._battles.allow(client):
            raise VoteRefused(Refusal.RATE_LIMITED, "Too many battles started in the last minute; "
                              "wait a little and try again.")

    def admit_vote(self, client: str) -> None:
        """Refuse a vote beyond the client's rate (counted before anything else is checked)."""
        if not self._votes.allow(client):
            raise VoteRefused(Refusal.RATE_LIMITED, f"More than {self._settings.votes_per_minute} votes "
                              "in a minute from this address; wait a little.")

    def open_battle(self, session: str, battle_id: str) -> Battle:
        """The battle this session may vote on now, or the refusal that says why not."""
        battle = self._store.get_battle(battle_id) if isinstance(battle_id, str) and battle_id else None
        if battle is None:
            raise VoteRefused(Refusal.UNKNOWN_BATTLE, "This battle id is not known (or expired and was "
                              "removed); start a new battle.")
        if battle.session != session:
            raise VoteRefused(Refusal.WRONG_SESSION, "This battle was served to another session; "
                              "start a new battle.")
        if self._store.has_vote(battle_id):
            raise VoteRefused(Refusal.ALREADY_VOTED, "This battle already has a vote; start a new battle.")
        if self._clock() - battle.served_at > self.ttl_s:
            raise VoteRefused(Refusal.EXPIRED, f"This battle was served more than {self.ttl_s / 60:.0f} "
                              "minutes ago; start a new battle.")
        return battle

    def check_listening(self, battle: Battle, listened: tuple[float, float]) -> None:
        """Both clips heard for at least the minimum, no sooner than that after serving, and no
        longer than the served copies last (both are as long as the longer clip plus a silent tail,
        apex_demo.arena.blind), plus slack for pauses and replays."""
        need = self._settings.min_listen_s
        if self._clock() - battle.served_at < need:
            raise VoteRefused(Refusal.TOO_EARLY, f"Votes open {need:g} s after the battle starts; "
                              "listen to both clips first.")
        if min(listened) < need:
            raise VoteRefused(Refusal.NOT_LISTENED, f"Listen to each clip for at least {need:g} s before "
                              f"voting (A: {listened[0]:.1f} s, B: {listened[1]:.1f} s so far).")
        most = max(self._duration(battle.path_a), self._duration(battle.path_b)) + SERVED_TAIL_MAX_S + LISTEN_SLACK_S
        for side, seconds in (("A", listened[0]), ("B", listened[1])):
            if seconds > most:
                raise VoteRefused(Refusal.BAD_LISTEN_TIME, f"Listening time for {side} ({seconds:g} s) is "
                                  f"longer than the clips plus {LISTEN_SLACK_S:g} s ({most:.0f} s); "
                                  "report the time you actually listened.")

    def _duration(self, path: str) -> float:
        """The clip's length in seconds (pool clips: read at load), or the upload limit when the
        header cannot say."""
        known = self._durations.get(path)
        if known is not None:
            return known
        try:
            return probe_duration(Path(path))
        except ApexError:
            return float(self._settings.max_seconds)

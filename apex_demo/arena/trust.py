"""Voter trust: votes that no listener would cast leave the leaderboard; every visitor can still vote.

After each vote the arena looks at the voting client (its salted pseudonym: the signed-in user, else the
address) over the last TRUST_WINDOW_S and flags that client's votes in the window when one of five
signals fires (checked in this order, the surest first); a client flagged within the window has its
next votes there flagged too. Each threshold is set so that an honest listener trips it only by a long run of chance,
and judged against the right baseline (a system's win share among everyone else's votes, not 50 %):

- **burst**: more votes in BURST_WINDOW_S than one pair of ears can hear at the minimum listening time;
- **too_fast**: most of the client's votes (TOO_FAST_SHARE of at least TOO_FAST_VOTES) came sooner after
  the battle was served than hearing both clips for the minimum time one after the other takes;
- **one_sided**: ONE_SIDED_VOTES or more decisive votes, every one for the same side (A or B): with A and
  B in random order, an honest listener does that by chance once in 2^(n-1);
- **stuffing**: the client's wins for one system, among its decisive votes on that system, are far
  above that system's win share in everyone else's votes (one-sided binomial test, STUFFING_ALPHA);
  so a script winning every battle for one system is caught by its rate, even when it answers TIE or
  loses now and then, and a visitor who simply agrees with it is judged against the crowd, not against
  the script;
- **coordinated**: several clients (COORDINATED_CLIENTS or more, however few votes each) that report
  the same listening times on every vote (a script's constants; the page measures real times, to the
  millisecond) and together stuff one system by the test above.

Flagged votes stay stored and exported (with the flag's reason); only the leaderboard leaves them out.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from apex_demo.arena.records import SOURCE_POOL, Choice, Vote, signal_of
from apex_demo.arena.store import VoteStore

LOG = logging.getLogger(__name__)

TRUST_WINDOW_S = 60 * 60.0        # what one client did in the last hour
STUFFING_ALPHA = 1e-4             # a client's wins for a system this unlikely under the crowd's share
STUFFING_MIN_VOTES = 8            # ...over at least this many decisive votes on the system
COORDINATED_CLIENTS = 3           # clients with the same listening-time constants, stuffing together
LISTEN_SIGNATURE_S = 0.1          # listening times are compared to a tenth of a second
ONE_SIDED_VOTES = 15              # every one of at least this many decisive votes on one side
TOO_FAST_VOTES = 10
TOO_FAST_SHARE = 0.8
BURST_WINDOW_S = 10 * 60.0

BURST, TOO_FAST, ONE_SIDED, STUFFING, COORDINATED = "burst", "too_fast", "one_sided", "stuffing", "coordinated"
SIGNALS = (BURST, TOO_FAST, ONE_SIDED, STUFFING, COORDINATED)

Baseline = Callable[[str, Iterable[str]], tuple[int, int]]   # system, clients left out -> (wins, decisive votes)


def _winner(vote: Vote) -> str | None:
    return {Choice.A: vote.system_a, Choice.B: vote.system_b}.get(vote.choice)


def binomial_tail(wins: int, trials: int, share: float) -> float:
    """P(at least `wins` of `trials` | each wins with `share`): how surprising a run of wins is (scipy's
    binomial survival function, `binom.sf(wins - 1, ...)`, as the ufunc: microseconds, not a millisecond)."""
    from scipy.special import bdtrc  # imported when a client is actually judged

    return float(bdtrc(wins - 1, trials, share))


def stuffing(votes: Sequence[Vote], baseline: Baseline, clients: Iterable[str]) -> str | None:
    """Why these pool votes stuff a system, or None: for each system, the wins among the decisive votes
    on it against its win share in everyone else's votes (Laplace-smoothed: (wins + 1) / (votes + 2))."""
    left_out = tuple(clients)
    decisive = [v for v in votes if v.source == SOURCE_POOL and v.choice in (Choice.A, Choice.B)]
    by_system: dict[str, list[Vote]] = {}
    for v in decisive:
        if v.system_a != v.system_b:
            by_system.setdefault(v.system_a, []).append(v)
            by_system.setdefault(v.system_b, []).append(v)
    for system, on_it in sorted(by_system.items()):
        if len(on_it) < STUFFING_MIN_VOTES:
            continue
        wins = sum(_winner(v) == system for v in on_it)
        crowd_wins, crowd_votes = baseline(system, left_out)
        share = (crowd_wins + 1) / (crowd_votes + 2)
        if wins / len(on_it) > share and binomial_tail(wins, len(on_it), share) < STUFFING_ALPHA:
            return (f"{system} won {wins} of {len(on_it)} decisive votes from "
                    f"{'this client' if len(left_out) == 1 else f'{len(left_out)} clients'} within "
                    f"{TRUST_WINDOW_S / 60:g} min, against {100 * share:.0f} % from everyone else")
    return None


def one_sided(votes: Sequence[Vote]) -> str | None:
    sides = Counter(v.choice for v in votes if v.choice in (Choice.A, Choice.B))
    if len(sides) == 1 and sum(sides.values()) >= ONE_SIDED_VOTES:
        side, n = next(iter(sides.items()))
        return f"all {n} decisive votes within {TRUST_WINDOW_S / 60:g} min were {side.value}"
    return None


def too_fast(votes: Sequence[Vote], min_listen_s: float) -> str | None:
    """Votes sooner after serving than both clips take to hear at the minimum, one after the other."""
    if min_listen_s <= 0 or len(votes) < TOO_FAST_VOTES:
        return None
    fast = sum(v.voted_at - v.served_at < 2 * min_listen_s for v in votes)
    if fast >= TOO_FAST_SHARE * len(votes):
        return f"{fast} of {len(votes)} votes came sooner than {2 * min_listen_s:g} s after the battle was served"
    return None


def burst(votes: Sequence[Vote], min_listen_s: float) -> str | None:
    """More votes within BURST_WINDOW_S (any window [t, t + BURST_WINDOW_S)) than clips one listener can
    hear for the minimum time."""
    if min_listen_s <= 0:
        return None
    most = BURST_WINDOW_S / min_listen_s
    times = sorted(v.voted_at for v in votes)
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= BURST_WINDOW_S:
            start += 1
        if end - start + 1 > most:
            return f"{end - start + 1} votes within {BURST_WINDOW_S / 60:g} min (at most {most:g} can be heard)"
    return None


def signature(votes: Sequence[Vote]) -> tuple[float, float] | None:
    """The listening times a client reported on every one of its votes, when they never changed."""
    pairs = {(round(v.listened_a_s / LISTEN_SIGNATURE_S), round(v.listened_b_s / LISTEN_SIGNATURE_S)) for v in votes}
    if len(pairs) != 1:
        return None
    a, b = next(iter(pairs))
    return a * LISTEN_SIGNATURE_S, b * LISTEN_SIGNATURE_S


@dataclass
class _Tally:
    """Wins and decisive votes per system: everyone's, and each client's (to leave a client out)."""

    everyone: Counter[tuple[str, bool]]
    by_client: Counter[tuple[str, str, bool]]

    def add(self, vote: Vote, sign: int) -> None:
        if vote.source != SOURCE_POOL or vote.choice not in (Choice.A, Choice.B) or vote.system_a == vote.system_b:
            return
        for system in (vote.system_a, vote.system_b):
            won = _winner(vote) == system
            self.everyone[(system, won)] += sign
            self.by_client[(vote.client or "", system, won)] += sign

    def baseline(self, system: str, left_out: Iterable[str]) -> tuple[int, int]:
        wins, losses = self.everyone[(system, True)], self.everyone[(system, False)]
        for client in left_out:
            wins -= self.by_client[(client, system, True)]
            losses -= self.by_client[(client, system, False)]
        return wins, wins + losses


class TrustCheck:
    """Runs the signals after each vote; flags the votes of clients that trip one (apex_demo.arena.store)."""

    def __init__(self, store: VoteStore, clock: Callable[[], float], min_listen_s: float,
                 votes: Iterable[Vote] = ()) -> None:
        self._store, self._clock, self._min_listen_s = store, clock, min_listen_s
        self._tally = _Tally(Counter(), Counter())
        self._recent: deque[Vote] = deque()          # votes of the window with a client, oldest first
        self._flagged: dict[str, str] = {}           # battle id -> flag, for the window's votes out of the baseline
        self._lock = threading.Lock()
        since = clock() - TRUST_WINDOW_S
        for vote in votes:
            if vote.flag is None:
                self._tally.add(vote, +1)
            elif vote.voted_at >= since:
                self._flagged[vote.battle_id] = vote.flag
            if vote.voted_at >= since and vote.client:
                self._recent.append(vote)

    def observe(self, vote: Vote) -> int:
        """A vote was stored: judge its client (and the clients that report the same listening times);
        returns how many votes were newly flagged."""
        with self._lock:
            self._tally.add(vote, +1)
            if not vote.client:
                return 0
            self._recent.append(vote)
            self._forget_before(self._clock() - TRUST_WINDOW_S)
            flags = self._judge(vote.client)
            flagged = 0
            for flag, battle_ids in flags:
                flagged += self._store.flag_votes(battle_ids, flag)
                self._drop(set(battle_ids), flag)
        if flagged:
            LOG.warning("trust check: %d votes left out of the leaderboard (%s)", flagged,
                        ", ".join(signal_of(f) for f, _ in flags))
        return flagged

    def _forget_before(self, since: float) -> None:
        while self._recent and self._recent[0].voted_at < since:
            self._flagged.pop(self._recent.popleft().battle_id, None)

    def _drop(self, battle_ids: set[str], flag: str) -> None:
        """Flagged votes leave the everyone-else baseline (they stay in the window: a flagged client that
        goes on is judged on all its recent votes, so its next vote is flagged at once)."""
        for vote in self._recent:
            if vote.battle_id in battle_ids and vote.battle_id not in self._flagged:
                self._tally.add(vote, -1)
                self._flagged[vote.battle_id] = flag

    def _judge(self, client: str) -> list[tuple[str, list[str]]]:
        mine = [v for v in self._recent if v.client == client]
        ids = [v.battle_id for v in mine]
        for name, reason in ((BURST, lambda: burst(mine, self._min_listen_s)),
                             (TOO_FAST, lambda: too_fast(mine, self._min_listen_s)),
                             (ONE_SIDED, lambda: one_sided(mine)),
                             (STUFFING, lambda: stuffing(mine, self._tally.baseline, [client]))):
            found = reason()
            if found is not None:
                return [(f"{name}: {found}", ids)]
        earlier = [self._flagged[i] for i in ids if i in self._flagged]
        if earlier:
            return [(earlier[-1], ids)]             # flagged within the window: so are its next votes
        return self._coordinated(mine)

    def _coordinated(self, mine: list[Vote]) -> list[tuple[str, list[str]]]:
        shared = signature(mine)
        if shared is None:
            return []
        by_client: dict[str, list[Vote]] = {}
        for vote in self._recent:
            by_client.setdefault(vote.client or "", []).append(vote)
        group = {c: vs for c, vs in by_client.items() if signature(vs) == shared}
        if len(group) < COORDINATED_CLIENTS:
            return []
        votes = [v for vs in group.values() for v in vs]
        reason = stuffing(votes, self._tally.baseline, group)
        if reason is None:
            return []
        flag = (f"{COORDINATED}: {len(group)} clients reported {shared[0]:g} s and {shared[1]:g} s on every vote; "
                + reason)
        return [(flag, [v.battle_id for v in votes])]

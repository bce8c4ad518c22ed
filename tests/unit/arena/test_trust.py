"""Voter trust: stuffing caught by its rate (not an unbroken streak), judged per client against the crowd, so an
honest voter who agrees with a stuffer is never flagged; each other signal at its boundary; and simulated
honest and dishonest voters, where the board with everyone's votes stays within the honest-only intervals."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable


from apex_demo.arena.records import Choice, Visitor, Vote, excluded_summary
from apex_demo.arena.service import Arena
from apex_demo.arena.stats import bradley_terry, system_pairs
from apex_demo.arena.store import VoteStore
from apex_demo.arena.trust import (BURST_WINDOW_S, ONE_SIDED_VOTES, TOO_FAST_VOTES, TRUST_WINDOW_S, TrustCheck, burst,
                                   one_sided, too_fast)
from apex_demo.arena.pool import load_pool
from tests.support.arena import FakeClock, bare_arena, settings_for

MIN_LISTEN = 5.0
FAVOURITE = "Mihai Sorohan"      # a system of the bundled pool


def hand_vote(i: int, choice: Choice = Choice.A, client: str = "c1", served: float = 0.0, voted: float = 20.0,
              listened: tuple[float, float] = (6.0, 6.0), a: str = "x", b: str = "y") -> Vote:
    return Vote(f"v{i}", choice, "s", "pool", f"{a}-clip", f"{b}-clip", a, b, listened[0], listened[1], served, voted,
                client=client)


def play(arena: Arena, clock: FakeClock, who: Visitor, pick: Callable[[str, str], str], seconds: float = 3.0) -> str:
    """One battle: served, `seconds` later the verdict `pick(system_a, system_b)`; returns it."""
    battle = arena.new_battle(who)
    clock.advance(seconds)
    choice = pick(battle.system_a, battle.system_b)
    arena.vote(who, battle.battle_id, choice, 6.0, 6.0)
    return choice


# -- stuffing by rate, per client ------------------------------------------------------------------
def test_stuffing_is_caught_by_its_rate_and_an_honest_fan_is_not(tmp_path: Path) -> None:
    """An arena with 100 earlier votes on system x (50 won). A script gives x 20 wins and 1 loss in its
    battles (TIE elsewhere) within two minutes: the old unbroken-streak check never fired on such a run;
    here, 20 of 21 against the crowd's (50 + 9 + 1) / (100 + 11 + 2) = 53 % (chance about 3e-5) flags
    every vote of the script. A visitor from another address who voted for x 9 times in 11 meanwhile is
    judged on its own votes against everyone else's (chance 0.03 to 0.06) and keeps every vote."""
    clock = FakeClock()
    settings = settings_for(tmp_path, votes_per_minute=0, min_listen_s=0.0)
    history = VoteStore.open(settings)
    history.import_votes([hand_vote(i, Choice.A if i % 2 else Choice.B, client=f"crowd{i}", served=0.0, voted=1.0,
                                    a=FAVOURITE, b=f"other{i % 3}") for i in range(100)])
    history.close()
    arena = Arena(settings, VoteStore.open(settings), load_pool(), clock=clock, rng=random.Random(2))
    script, fan = Visitor("script", address="198.51.100.66"), Visitor("fan", address="203.0.113.5")
    decisive: dict[str, list[bool]] = {"script": [], "fan": []}

    def verdict(who: str, wins: Callable[[list[bool]], bool]) -> Callable[[str, str], str]:
        def pick(a: str, b: str) -> str:
            if FAVOURITE not in (a, b):
                return "TIE" if who == "script" else "A"
            won = wins(decisive[who])
            decisive[who].append(won)
            return "A" if (a == FAVOURITE) == won else "B"
        return pick

    stuff = verdict("script", lambda seen: len(seen) != 9)              # the 10th battle on x is a loss
    like = verdict("fan", lambda seen: len(seen) not in (3, 7))          # 9 wins in 11
    while decisive["script"].count(True) < 20:
        play(arena, clock, script, stuff, seconds=2.0)
        if len(decisive["fan"]) < 11:
            play(arena, clock, fan, like, seconds=2.0)
    votes = arena.store.votes()
    mine = [v for v in votes if v.client == arena.pseudonyms.client(script)]
    theirs = [v for v in votes if v.client == arena.pseudonyms.client(fan)]
    assert decisive["script"].count(False) == 1 and clock.now - FakeClock().now < 2 * 120
    assert all(v.flag and v.flag.startswith("stuffing:") for v in mine), [v.flag for v in mine]
    assert "won 20 of 21" in mine[-1].flag
    assert decisive["fan"].count(True) == 9 and not any(v.flag for v in theirs)
    arena.close()


def test_the_crowd_is_the_baseline_not_a_coin(tmp_path: Path) -> None:
    """A system everybody prefers: a listener who picks it 12 times in 12 is in line with the crowd (80 %
    of 200 votes from others; chance 0.8^12 = 0.07) and keeps every vote; the same run against a 50 %
    crowd would be 2.4e-4 (still above the test's 1e-4), 14 in 14 against 50 % is flagged (6e-5)."""
    store = VoteStore(tmp_path / "v.db")
    clock = FakeClock(10_000.0)
    crowd = [hand_vote(i, Choice.A if i % 5 else Choice.B, client=f"crowd{i}", served=9_000.0, voted=9_100.0)
             for i in range(200)]
    for v in crowd:
        store.add_vote(v)
    check = TrustCheck(store, clock, MIN_LISTEN, store.votes())
    for i in range(12):
        v = hand_vote(1000 + i, Choice.A, client="fan", served=9_500.0 + 30 * i, voted=9_520.0 + 30 * i,
                      listened=(6.0 + i, 7.0))
        store.add_vote(v)
        assert check.observe(v) == 0
    fresh = TrustCheck(VoteStore(tmp_path / "w.db"), clock, MIN_LISTEN)
    flagged = 0
    for i in range(14):
        v = hand_vote(2000 + i, Choice.A, client="script", served=9_500.0 + 30 * i, voted=9_520.0 + 30 * i,
                      listened=(6.0 + i, 7.0))
        fresh._store.add_vote(v)
        flagged += fresh.observe(v)
    assert flagged == 14
    store.close()
    fresh._store.close()


# -- each other signal at its boundary ----------------------------------------------------------------
def test_one_sided_too_fast_and_burst_at_their_boundaries() -> None:
    always_a = [hand_vote(i) for i in range(ONE_SIDED_VOTES)]
    assert one_sided(always_a) and not one_sided(always_a[1:])
    assert not one_sided(always_a + [hand_vote(99, Choice.B)])
    assert not one_sided(always_a[1:] + [hand_vote(99, Choice.TIE)])               # ties are no side
    # too fast: sooner than 2 x 5 s after serving (both clips heard one after the other), 8 of 10
    fast = [hand_vote(i, voted=9.9) for i in range(8)] + [hand_vote(8 + i, voted=10.0) for i in range(2)]
    assert too_fast(fast, MIN_LISTEN) and not too_fast(fast[1:] + [hand_vote(50, voted=10.0)], MIN_LISTEN)
    assert not too_fast(fast[: TOO_FAST_VOTES - 1], MIN_LISTEN) and not too_fast(fast, 0.0)
    # burst: at 5 s a battle, 10 minutes hold 120 listened battles; 121 cannot be heard
    most = int(BURST_WINDOW_S / MIN_LISTEN)
    spread = [hand_vote(i, served=0.0, voted=1000.0 + i * BURST_WINDOW_S / most) for i in range(most + 1)]
    packed = [hand_vote(i, served=0.0, voted=1000.0 + i * (BURST_WINDOW_S - 1) / most) for i in range(most + 1)]
    assert not burst(spread, MIN_LISTEN) and burst(packed, MIN_LISTEN) and not burst(packed[1:], MIN_LISTEN)


def test_a_flagged_client_stays_flagged_for_the_window(tmp_path: Path) -> None:
    """Fifteen A votes trip one_sided; the same client's next vote, a B (after which no signal would fire
    on its own), is left out too, until the window has passed."""
    store = VoteStore(tmp_path / "v.db")
    clock = FakeClock(10_000.0)
    check = TrustCheck(store, clock, MIN_LISTEN)

    def cast(i: int, choice: Choice) -> Vote:            # sides alternate, so no system is stuffed
        sides = ("x", "y") if i % 2 else ("y", "x")
        v = hand_vote(i, choice, served=clock.now - 20, voted=clock.now, listened=(6.0 + i % 7, 8.0 + i % 5),
                      a=sides[0], b=sides[1])
        store.add_vote(v)
        check.observe(v)
        clock.advance(60)
        return v

    for i in range(ONE_SIDED_VOTES):
        cast(i, Choice.A)
    cast(100, Choice.B)
    assert {v.flag.split(":")[0] for v in store.votes() if v.flag} == {"one_sided"} and store.votes()[-1].flag
    clock.advance(TRUST_WINDOW_S)
    cast(101, Choice.B)
    assert store.votes()[-1].flag is None                      # an hour later, a fresh start
    store.close()


def test_coordinated_clients_are_caught_together_and_honest_scripts_are_not(tmp_path: Path) -> None:
    """Three addresses reporting 7.0 s and 7.0 s on every vote, each winning 5 for x (15 of 15 together,
    6e-5 against a 50 % crowd): all their votes are flagged. Two such addresses are not a group; three
    with the same constants that vote their own way (half for x) are left alone."""
    def run(name: str, clients: int, wins_for_x: Callable[[int], bool]) -> list[Vote]:
        store = VoteStore(tmp_path / f"{name}.db")
        check = TrustCheck(store, FakeClock(10_000.0), MIN_LISTEN)
        for n in range(5 * clients):
            v = hand_vote(n, Choice.A if wins_for_x(n) else Choice.B, client=f"addr{n // 5}", served=9_000.0 + n,
                          voted=9_020.0 + n, listened=(7.0, 7.0))
            store.add_vote(v)
            check.observe(v)
        votes = store.votes()
        store.close()
        return votes

    group = run("group", 3, lambda n: True)
    assert all(v.flag and v.flag.startswith("coordinated: 3 clients reported 7 s and 7 s") for v in group)
    assert not any(v.flag for v in run("pair", 2, lambda n: True))
    assert not any(v.flag for v in run("honest", 3, lambda n: n % 2 == 0))


# -- simulated honest and dishonest voters ----------------------------------------------------------
TRUE_RATING = {"US Army Strings (Brahms)": 1150.0, "vocadito dataset": 1100.0, "Kevin MacLeod": 1050.0,
               "Karissa Hobbs": 1000.0, "Mihai Sorohan": 950.0, "Garzul (Sonic Pi sample)": 850.0}
WEAKEST = "Garzul (Sonic Pi sample)"
TIE_SHARE = 0.1


@dataclass(order=True)
class Step:
    """One voter's next move on the shared clock: serve a battle, or vote on the one served."""

    at: float
    seq: int
    voter: "Voter" = field(compare=False)


@dataclass
class Voter:
    name: str
    visitor: Visitor
    battles: int
    verdict: Callable[[random.Random, str, str], str]
    listen: Callable[[random.Random], tuple[float, float]]
    think_s: Callable[[random.Random], float]          # from serving to voting
    gap_s: Callable[[random.Random], float]            # from voting to the next battle
    honest: bool
    expected: str | None = None                        # the signal a dishonest voter should trip
    start_s: float | None = None                       # when it starts (None: any time in the first 20 min)
    battle_id: str | None = None
    done: int = 0


def honest_verdict(rng: random.Random, a: str, b: str) -> str:
    if rng.random() < TIE_SHARE:
        return "TIE"
    p = 1.0 / (1.0 + 10 ** ((TRUE_RATING[b] - TRUE_RATING[a]) / 400.0))
    return "A" if rng.random() < p else "B"


def for_weakest(rng: random.Random, a: str, b: str) -> str:
    return {a: "A", b: "B"}.get(WEAKEST, "TIE")


def human_listen(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(MIN_LISTEN + 0.5, 25.0), rng.uniform(MIN_LISTEN + 0.5, 25.0)


def voters(rng: random.Random) -> list[Voter]:
    """40 honest listeners (10 battles each), an honest enthusiast (60), an honest fan of the weakest system
    (who agrees with the stuffer in half of its battles), and five dishonest clients: a stuffing script,
    a one-sided clicker, a fast clicker, a group of eight addresses with the same constants, and a burst
    of parallel battles."""
    def human(name: str, battles: int, verdict=honest_verdict) -> Voter:
        return Voter(name, Visitor(name, address=f"h-{name}"), battles, verdict, human_listen,
                     lambda r: sum(human_listen(r)) + r.uniform(1, 10), lambda r: r.uniform(5, 120), True)

    def fan(r: random.Random, a: str, b: str) -> str:   # agrees with the stuffer half of the time
        return {a: "A", b: "B"}[WEAKEST] if WEAKEST in (a, b) and r.random() < 0.5 else honest_verdict(r, a, b)

    people = [human(f"listener{i}", 10) for i in range(40)] + [human("enthusiast", 60), human("fan", 25, fan)]

    def constant(r: random.Random) -> tuple[float, float]:
        return 7.0, 7.0

    scripts = [
        Voter("stuffer", Visitor("stuffer", address="d-stuffer"), 60, for_weakest, lambda r: (6.0, 6.0),
              lambda r: 11.0, lambda r: 1.0, False, "stuffing"),
        Voter("clicker", Visitor("clicker", address="d-clicker"), 20, lambda r, a, b: "A", human_listen,
              lambda r: r.uniform(12, 40), lambda r: r.uniform(5, 60), False, "one_sided"),
        Voter("fast", Visitor("fast", address="d-fast"), 15, honest_verdict, lambda r: (5.5, 5.5),
              lambda r: 6.0, lambda r: 1.0, False, "too_fast"),
        *[Voter(f"group{i}", Visitor(f"group{i}", address=f"d-group{i}"), 5, for_weakest, constant,
                lambda r: 16.0, lambda r: r.uniform(10, 60), False, "coordinated") for i in range(8)],
        # four battles open at once from one address, each voted 10.5 s after serving: 140 votes in 6 minutes
        *[Voter("burst", Visitor("burst", address="d-burst"), 35, honest_verdict, human_listen,
                lambda r: 10.5, lambda r: 0.5, False, "burst", start_s=600.0 + i) for i in range(4)],
    ]
    return people + scripts


def simulate(arena: Arena, clock: FakeClock, seed: int) -> list[Voter]:
    """Every voter's battles on one clock (serving and voting interleaved as they fall due)."""
    rng = random.Random(seed)
    everyone = voters(rng)
    queue = [Step(clock.now + (rng.uniform(0, 1200) if v.start_s is None else v.start_s), i, v)
             for i, v in enumerate(everyone)]
    heapq.heapify(queue)
    seq = len(queue)
    while queue:
        step = heapq.heappop(queue)
        clock.now = step.at
        voter = step.voter
        if voter.battle_id is None:
            battle = arena.new_battle(voter.visitor)
            voter.battle_id, voter.pending = battle.battle_id, (battle.system_a, battle.system_b)  # type: ignore[attr-defined]
            due = step.at + voter.think_s(rng)
        else:
            a, b = voter.pending  # type: ignore[attr-defined]
            arena.vote(voter.visitor, voter.battle_id, voter.verdict(rng, a, b), *voter.listen(rng))
            voter.battle_id, voter.done = None, voter.done + 1
            if voter.done == voter.battles:
                continue
            due = step.at + voter.gap_s(rng)
        seq += 1
        heapq.heappush(queue, Step(due, seq, voter))
    return everyone


def test_a_board_with_dishonest_votes_mixed_in_stays_within_the_honest_intervals(tmp_path: Path) -> None:
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, min_listen_s=MIN_LISTEN, votes_per_minute=30)
    everyone = simulate(arena, clock, seed=5)
    votes = arena.store.votes()
    client = {arena.pseudonyms.client(v.visitor): v for v in everyone}
    by_voter = {v.name: [x for x in votes if client[x.client].name == v.name] for v in everyone}
    for voter in everyone:
        flags = {x.flag.split(":")[0] if x.flag else None for x in by_voter[voter.name]}
        if voter.honest:
            assert flags == {None}, voter.name                       # no honest vote leaves the board
        else:
            assert flags == {voter.expected}, (voter.name, flags)   # every dishonest vote does, for its reason
    honest = [x for x in votes if client[x.client].honest]
    board = {r.item: r for r in bradley_terry(system_pairs(honest), min_votes=1, rounds=100)}
    mixed = bradley_terry(system_pairs(arena.leaderboard_votes()), min_votes=1, rounds=0)
    for row in mixed:
        assert board[row.item].ci_low <= row.rating <= board[row.item].ci_high, row.item
    unguarded = {r.item: r.rating for r in bradley_terry(system_pairs([replace(x, flag=None) for x in votes]),
                                                         min_votes=1, rounds=0)}
    assert unguarded[WEAKEST] > board[WEAKEST].ci_high                   # without the check, stuffing would show
    counts = excluded_summary(votes, signed_in_only=False)["flagged"]         # what the board shows
    assert set(counts) == {"stuffing", "one_sided", "too_fast", "coordinated", "burst"}
    arena.close()

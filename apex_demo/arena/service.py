"""The arena service: blind battles and votes, composed of small parts, as one entry point.

`Arena` does the sequence (who asks -> the rules -> the store -> the reveal) and leaves each step
to its part: salted pseudonyms (arena.pseudonyms), the vote rules and rate limits (arena.rules),
the model's clip scores (arena.clip_scores), voter trust (arena.trust), pairing (arena.pairing), the reveal and the
running agreement (arena.reveal), blind copies (arena.blind) and the background leaderboard
(arena.board). A battle id is a 192-bit `secrets.token_urlsafe`, bound to the session it was served
to and usable once. Raw session ids, addresses and user names are never stored. A vote never runs
the model: it reads scores the warm-up or the upload handler computed in the model's slot.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from apex_demo.arena.blind import BlindClips, served_channels
from apex_demo.arena.board import SNAPSHOT_FILENAME, BoardRefresher
from apex_demo.arena.clip_scores import ClipScores, ScoreFn
from apex_demo.arena.picks import FIXED_RULE, FIXED_RULE_TEXT, model_pick
from apex_demo.arena.pairing import Intervals, Pairing, battle_kind
from apex_demo.arena.pool import HUB_POOL_DIRNAME, PoolClip, load_pool
from apex_demo.arena.pseudonyms import Pseudonyms
from apex_demo.arena.records import (SOURCE_POOL, SOURCE_UPLOAD, Battle, Choice, Visitor, Vote, VoteRefused,
                                     counts_for_leaderboard)
from apex_demo.arena.reveal import Reveal, RunningAgreement
from apex_demo.arena.rules import BATTLE_TTL_S, Clock, VoteRules, listen_seconds
from apex_demo.arena.stats import ArenaStats, arena_stats
from apex_demo.arena.store import VoteStore
from apex_demo.arena.trust import TrustCheck
from apex_demo.config import Settings
from apex_demo.engine import file_sha256
from apex_demo.errors import ApexError, ErrorCode, VoteError

LOG = logging.getLogger(__name__)

BATTLE_ID_BYTES = 24
UPLOAD_SYSTEMS = ("your take 1", "your take 2")
PRUNE_EVERY_S = 60.0              # expired battles are deleted at most this often


class Arena:
    """Serves battles and applies every vote rule before a vote reaches the store."""

    def __init__(self, settings: Settings, store: VoteStore, pool: Sequence[PoolClip],
                 score_fn: ScoreFn | None = None, model_name: str | None = None,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 ttl_s: float = BATTLE_TTL_S) -> None:
        self.settings, self.store, self.pool = settings, store, tuple(pool)
        self.model_name = model_name
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self.blind = BlindClips(max_seconds=settings.max_seconds, target_lufs=settings.arena_loudness_lufs,
                                channels=served_channels([c.channels for c in self.pool if c.channels]))
        self.pseudonyms = Pseudonyms(settings.vote_salt)
        durations = {str(c.path): c.duration_s for c in self.pool if c.duration_s is not None}
        self.rules = VoteRules(settings, store, durations, clock, ttl_s)
        self.clip_scores = ClipScores(score_fn)
        stored = store.votes()
        self.trust = TrustCheck(store, clock, settings.min_listen_s, stored)
        self.reveal = Reveal(self.pool, RunningAgreement(stored), settings.arena_loudness_lufs)
        self.pairing = Pairing(self.pool, stored, intervals=self._intervals)
        self.board = BoardRefresher(store.votes, store.count, store.remote_count,
                                    sync=store.pull_from_hub if store.syncs_with_hub else None,
                                    snapshot_path=store.path.parent / SNAPSHOT_FILENAME,
                                    signed_in_only=settings.arena_signed_in_only)
        self._pruned_at = -math.inf
        self.prune()

    def close(self) -> None:
        """Close the vote store and remove the private blind copies."""
        self.store.close()
        self.blind.cleanup()

    # -- battles ---------------------------------------------------------------------------
    def new_battle(self, who: Visitor | str) -> Battle:
        """A blind pair from the pool (apex_demo.arena.pairing: votes go where they teach most),
        persisted before it is returned."""
        session = self._admit_battle(_visitor(who))
        a, b = self.pairing.draw(self._rng)
        return self._serve(session, SOURCE_POOL, (a.clip_id, a.system, a.path), (b.clip_id, b.system, b.path),
                           battle_kind(a, b))

    def _intervals(self) -> Intervals:
        """The systems' 95 % intervals on the latest leaderboard (none before the first one)."""
        board = self.board.latest()
        return {} if board is None else {r.item: (r.ci_low, r.ci_high) for r in board.stats.systems}

    def new_upload_battle(self, who: Visitor | str, path_1: Path | str, path_2: Path | str) -> Battle:
        """'Bring your own pair': two uploaded takes in random, hidden order."""
        session = self._admit_battle(_visitor(who))
        takes = []
        for label, path in zip(UPLOAD_SYSTEMS, (Path(path_1), Path(path_2))):
            if not path.is_file():
                raise VoteError(f"uploaded file {path.name} is missing; upload both takes again.",
                                ErrorCode.FILE_NOT_FOUND)
            takes.append((f"upload-{file_sha256(path)[:16]}", label, path))
        if self._rng.random() < 0.5:
            takes.reverse()
        return self._serve(session, SOURCE_UPLOAD, takes[0], takes[1])

    def _serve(self, session: str, source: str, a: tuple[str, str, Path], b: tuple[str, str, Path],
               instrumental: bool | None = None) -> Battle:
        battle = Battle(secrets.token_urlsafe(BATTLE_ID_BYTES), session, source, a[0], b[0], a[1], b[1],
                        str(a[2]), str(b[2]), self._clock(), instrumental)
        self.store.add_battle(battle)
        return battle

    def blind_copies(self, battle: Battle, names: Sequence[str] = ("A", "B")) -> list[Path]:
        """The battle's clips as `<random folder>/<name>.flac`, freshly padded (apex_demo.arena.blind);
        pool clips are converted once, uploads every time."""
        keep = battle.source == SOURCE_POOL
        return self.blind.write_battle(names, [Path(battle.path_a), Path(battle.path_b)], keep=keep)

    def _admit_battle(self, who: Visitor) -> str:
        self.rules.admit_battle(self.pseudonyms.client(who))
        self.prune()
        return self.pseudonyms.session(who)

    def prune(self) -> int:
        """Delete expired battles, at most once a minute; returns how many went."""
        now = self._clock()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return 0
        self._pruned_at = now
        return self.store.prune_battles(now - self.rules.ttl_s)

    # -- votes -----------------------------------------------------------------------------
    def vote(self, who: Visitor | str, battle_id: str, choice: object,
             listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """Apply the rules, commit the vote, and return the reveal. Raises VoteRefused."""
        visitor = _visitor(who)
        client = self.pseudonyms.client(visitor)
        self.rules.admit_vote(client)
        verdict = Choice.parse(choice)
        listened = (listen_seconds(listened_a_s), listen_seconds(listened_b_s))
        battle = self.rules.open_battle(self.pseudonyms.session(visitor), battle_id)
        self.rules.check_listening(battle, listened)
        scores_a, scores_b = self.clip_scores.known(battle.path_a), self.clip_scores.known(battle.path_b)
        pick, rule = self._pick(scores_a, scores_b) if scores_a and scores_b else (None, None)
        vote = Vote(battle.battle_id, verdict, battle.session, battle.source, battle.clip_a, battle.clip_b,
                    battle.system_a, battle.system_b, listened[0], listened[1], battle.served_at,
                    self._clock(), pick, scores_a, scores_b, self.model_name if pick else None,
                    client=client, signed_in=bool(visitor.user), instrumental=battle.instrumental, model_rule=rule)
        self.store.add_vote(vote)  # committed (or refused as already_voted) before we answer
        self.reveal.agreement.count(vote)
        self.pairing.count(vote)
        self.check_trust(vote)
        return self.reveal(vote, rule, self._rule_text(rule))

    def vote_reply(self, who: Visitor | str, battle_id: str, choice: object,
                   listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """API shape: {"accepted": bool, "reason": str|None, "message": str, ...reveal}."""
        try:
            return self.vote(who, battle_id, choice, listened_a_s, listened_b_s)
        except VoteRefused as exc:
            return {"accepted": False, "reason": exc.reason.value, "message": exc.message}

    def _pick(self, scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> tuple[Choice, str]:
        """The model's pick and the rule that made it: the model learned from this arena's votes
        once it beats the fixed rule out of fold (apex_demo.arena.learned), else the fixed rule."""
        board = self.board.latest()
        if board is None:
            return model_pick(scores_a, scores_b), FIXED_RULE
        return board.learned.pick(scores_a, scores_b)

    def _rule_text(self, rule: str | None) -> str | None:
        board = self.board.latest()
        if rule is None:
            return None
        return board.learned.rule_text(rule) if board is not None else FIXED_RULE_TEXT

    def check_trust(self, vote: Vote) -> int:
        """Judge the voter (apex_demo.arena.trust); the board is recomputed when votes were flagged."""
        flagged = self.trust.observe(vote)
        if flagged:
            self.board.invalidate()  # the vote count is unchanged, but the counted votes are not
        return flagged

    # -- model scores ----------------------------------------------------------------------
    def warm(self, paths: Sequence[Path | str] | None = None) -> int:
        """Score clips (default: the whole pool) so votes on them get a model pick; run it where the
        model may run (the model's queue slot, or the start-up warm-up): a vote never runs the model
        itself. Returns how many could be scored."""
        return self.clip_scores.warm([c.path for c in self.pool] if paths is None else paths)

    def prepare_blind(self, path: Path | str) -> None:
        """Convert a pool clip for blind serving ahead of its first battle (so no battle's reply time
        tells a new clip from a known one); a failure is logged and retried at the battle."""
        try:
            self.blind.prepared(Path(path))
        except ApexError as exc:
            LOG.warning("cannot prepare arena clip %s: %s", Path(path).name, exc.message)

    # -- statistics ------------------------------------------------------------------------
    def leaderboard_votes(self) -> list[Vote]:
        """The votes the leaderboard counts (not flagged; signed in when the settings say so)."""
        only = self.settings.arena_signed_in_only
        return [v for v in self.store.votes() if counts_for_leaderboard(v, only)]

    def stats(self, min_votes: int | None = None) -> ArenaStats:
        """Fresh statistics for scripts and tests: the background board when it counts every vote,
        else computed now. Pages use `board.latest()`, which never computes."""
        if min_votes is not None:
            return arena_stats(self.leaderboard_votes(), min_votes=min_votes)
        board = self.board.latest()
        if board is None or board.votes != self.store.count():
            board = self.board.refresh()
        return board.stats

    def running_agreement(self) -> dict[str, Any]:
        return self.reveal.agreement.to_dict()


def _visitor(who: Visitor | str) -> Visitor:
    return who if isinstance(who, Visitor) else Visitor(session=str(who))


def engine_score_fn(settings: Settings) -> ScoreFn:
    """Scores from the shared scoring engine (its embedding cache makes repeats instant)."""

    def score(path: Path) -> Mapping[str, float]:
        from apex_demo.engine import get_scorer

        return get_scorer(settings).score_file(path).scores.as_dict()

    return score


def build_arena(settings: Settings, store: VoteStore | None = None, score_fn: ScoreFn | None = None) -> Arena:
    """The arena for these settings: pool from APEX_ARENA_POOL (or assets/arena), engine scores."""
    pool = load_pool(settings.arena_pool, settings.hf_token, Path(settings.data_dir) / HUB_POOL_DIRNAME)
    model = f"{settings.mert}+{settings.head}"
    return Arena(settings, store or VoteStore.open(settings), pool,
                 score_fn=score_fn or engine_score_fn(settings), model_name=model)


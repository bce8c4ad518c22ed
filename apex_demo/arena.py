"""The arena: a pool of clips, blind random battles, and the server-side vote rules.

The page may enforce the rules too, but only this module decides. A battle id is
a 192-bit `secrets.token_urlsafe`, bound to the (salted, hashed) session it was
served to and usable once. A vote is refused, with a stable `Refusal` reason,
when it is unknown, expired, already voted, too early, not listened to long
enough, or beyond the session's rate limit. Raw session ids, IP addresses and
user names are never stored: only HMAC-SHA256(salt, session id).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from apex_demo.analysis import MIN_VOTES_LISTED, MODEL_PICK_DEFINITION, ArenaStats, arena_stats, wilson_interval
from apex_demo.arena_board import SNAPSHOT_FILENAME, BoardRefresher
from apex_demo.cache import file_sha256
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, VoteError
from apex_demo.ranking import model_pick, overall_score
from apex_demo.vote_model import FIXED_RULE, FIXED_RULE_TEXT
from apex_demo.votes import Battle, Choice, Refusal, Vote, VoteRefused, VoteStore

LOG = logging.getLogger(__name__)

DEFAULT_POOL_DIR = Path(__file__).resolve().parents[1] / "assets" / "arena"
MANIFEST_NAMES = ("manifest.json", "manifest.csv")
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aiff", ".aif"})
BATTLE_TTL_S = 30 * 60.0          # a battle left open longer than this is refused as expired
RATE_WINDOW_S = 60.0
BATTLES_PER_VOTE_LIMIT = 2        # a session may start twice as many battles as it may vote
SESSION_HASH_CHARS = 32
BATTLE_ID_BYTES = 24
SOURCE_POOL = "pool"
SOURCE_UPLOAD = "upload"
UPLOAD_SYSTEMS = ("your take 1", "your take 2")

ScoreFn = Callable[[Path], Mapping[str, float]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class PoolClip:
    """One clip of the battle pool with the metadata shown after a vote."""

    clip_id: str
    path: Path
    system: str
    instrumental: bool | None = None
    prompt: str = ""
    licence: str = ""
    attribution: str = ""

    def to_public(self) -> dict[str, Any]:
        return {"clip_id": self.clip_id, "system": self.system, "instrumental": self.instrumental,
                "prompt": self.prompt, "licence": self.licence, "attribution": self.attribution}


# -- pool loading --------------------------------------------------------------------------
def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    return None


def _clip_from_entry(entry: Mapping[str, Any], root: Path) -> PoolClip:
    try:
        path = (root / str(entry["file"])).resolve()
        return PoolClip(clip_id=str(entry.get("id") or entry.get("clip_id") or Path(str(entry["file"])).stem),
                        path=path, system=str(entry["system"]),
                        instrumental=_as_bool(entry.get("instrumental")),
                        prompt=str(entry.get("prompt") or ""),
                        licence=str(entry.get("licence") or entry.get("license") or ""),
                        attribution=str(entry.get("attribution") or ""))
    except KeyError as exc:
        raise ApexError(f"arena manifest entry {dict(entry)} lacks {exc}; every clip needs 'file' and "
                        "'system'.", ErrorCode.BAD_REQUEST) from None


def _read_manifest(manifest: Path) -> list[PoolClip]:
    if manifest.suffix == ".json":
        data = json.loads(manifest.read_text(encoding="utf-8"))
        entries = data["clips"] if isinstance(data, dict) else data
    else:
        with manifest.open(newline="", encoding="utf-8") as handle:
            entries = list(csv.DictReader(handle))
    return [_clip_from_entry(e, manifest.parent) for e in entries]


def _scan_folder(folder: Path) -> list[PoolClip]:
    """No manifest: every audio file is a clip; its system is its sub-folder's name."""
    clips = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            rel = path.relative_to(folder)
            system = rel.parts[0] if len(rel.parts) > 1 else "unknown"
            clips.append(PoolClip(clip_id=str(rel.with_suffix("")), path=path.resolve(), system=system))
    return clips


def _resolve_pool_dir(source: str | None, token: str | None) -> Path:
    if not source:
        return DEFAULT_POOL_DIR
    local = Path(source).expanduser()
    if local.exists():
        return local.parent if local.is_file() else local
    if source.count("/") == 1:
        import huggingface_hub  # only for a Hub-hosted pool

        try:
            return Path(huggingface_hub.snapshot_download(repo_id=source, repo_type="dataset", token=token))
        except Exception as exc:
            raise ApexError(f"cannot download the arena pool dataset {source!r} ({type(exc).__name__}: {exc}); "
                            "point APEX_ARENA_POOL at a local folder instead.", ErrorCode.HUB_UNREACHABLE) from exc
    raise ApexError(f"APEX_ARENA_POOL={source!r} is neither a folder, a manifest file nor a Hub dataset id.",
                    ErrorCode.BAD_REQUEST)


def load_pool(source: str | None = None, token: str | None = None) -> list[PoolClip]:
    """Clips from a manifest (JSON/CSV), a folder of per-system sub-folders, or a Hub dataset."""
    root = _resolve_pool_dir(source, token)
    given = Path(source).expanduser() if source else None
    if given is not None and given.is_file():
        clips = _read_manifest(given)
    else:
        manifest = next((root / n for n in MANIFEST_NAMES if (root / n).is_file()), None)
        clips = _read_manifest(manifest) if manifest else _scan_folder(root)
    clips = [c for c in clips if c.path.is_file()]
    if len(clips) < 2:
        raise ApexError(f"the arena pool at {root} has {len(clips)} playable clips; it needs at least 2. "
                        "Set APEX_ARENA_POOL to a folder or manifest with more.", ErrorCode.ARENA_EMPTY)
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):
        raise ApexError(f"the arena pool at {root} has duplicate clip ids.", ErrorCode.BAD_REQUEST)
    return clips


def draw_pair(clips: Sequence[PoolClip], rng: random.Random) -> tuple[PoolClip, PoolClip]:
    """Two clips in random A/B order, from two different systems whenever the pool has two."""
    systems = sorted({c.system for c in clips})
    if len(systems) >= 2:
        first, second = rng.sample(systems, 2)
        a = rng.choice([c for c in clips if c.system == first])
        b = rng.choice([c for c in clips if c.system == second])
    else:
        a, b = rng.sample(list(clips), 2)
    return (a, b) if rng.random() < 0.5 else (b, a)


# -- rate limiting -------------------------------------------------------------------------
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
            if len(self._events) > 10_000:  # forget idle sessions so memory stays bounded
                self._events = {k: v for k, v in self._events.items() if v and now - v[-1] < self._window}
            return True


# -- the arena -----------------------------------------------------------------------------
@dataclass
class _Tally:
    """Running agreement over decisive votes with a model pick (kept in memory, seeded from the store)."""

    k: int = 0
    n: int = 0


class Arena:
    """Serves battles and applies every vote rule before a vote reaches the store."""

    def __init__(self, settings: Settings, store: VoteStore, pool: Sequence[PoolClip],
                 score_fn: ScoreFn | None = None, model_name: str | None = None,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 ttl_s: float = BATTLE_TTL_S) -> None:
        self.settings = settings
        self.store = store
        self.pool = tuple(pool)
        self._by_id = {c.clip_id: c for c in self.pool}
        self._score_fn = score_fn
        self.model_name = model_name
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._ttl = ttl_s
        salt = settings.vote_salt.encode() if settings.vote_salt else secrets.token_bytes(32)
        self._salt = salt
        self._vote_limit = RateLimiter(settings.votes_per_minute, RATE_WINDOW_S, clock)
        self._battle_limit = RateLimiter(settings.votes_per_minute * BATTLES_PER_VOTE_LIMIT, RATE_WINDOW_S, clock)
        self._tally_lock = threading.Lock()
        self._tally = _Tally()
        self.board = BoardRefresher(store.votes, store.count, store.remote_count,
                                    sync=store.pull_from_hub if store.syncs_with_hub else None,
                                    snapshot_path=store.path.parent / SNAPSHOT_FILENAME)
        for vote in store.votes():
            self._count(vote)

    # -- sessions and battles --------------------------------------------------------------
    def session_key(self, raw_session: str) -> str:
        """The only form of a session that is stored: HMAC-SHA256 under the vote salt."""
        digest = hmac.new(self._salt, str(raw_session).encode(), hashlib.sha256).hexdigest()
        return digest[:SESSION_HASH_CHARS]

    def new_battle(self, raw_session: str) -> Battle:
        """A random blind pair from the pool, persisted before it is returned."""
        session = self._check_battle_rate(raw_session)
        a, b = draw_pair(self.pool, self._rng)
        battle = Battle(secrets.token_urlsafe(BATTLE_ID_BYTES), session, SOURCE_POOL, a.clip_id, b.clip_id,
                        a.system, b.system, str(a.path), str(b.path), self._clock())
        self.store.add_battle(battle)
        return battle

    def new_upload_battle(self, raw_session: str, path_1: Path, path_2: Path) -> Battle:
        """'Bring your own pair': two uploaded takes in random, hidden order."""
        session = self._check_battle_rate(raw_session)
        takes = []
        for label, path in zip(UPLOAD_SYSTEMS, (Path(path_1), Path(path_2))):
            if not path.is_file():
                raise VoteError(f"uploaded file {path.name} is missing; upload both takes again.",
                                ErrorCode.FILE_NOT_FOUND)
            takes.append((f"upload-{file_sha256(path)[:16]}", label, path))
        if self._rng.random() < 0.5:
            takes.reverse()
        (clip_a, sys_a, path_a), (clip_b, sys_b, path_b) = takes
        battle = Battle(secrets.token_urlsafe(BATTLE_ID_BYTES), session, SOURCE_UPLOAD, clip_a, clip_b,
                        sys_a, sys_b, str(path_a), str(path_b), self._clock())
        self.store.add_battle(battle)
        return battle

    def _check_battle_rate(self, raw_session: str) -> str:
        session = self.session_key(raw_session)
        if not self._battle_limit.allow(session):
            raise VoteRefused(Refusal.RATE_LIMITED, "Too many battles started in the last minute; "
                              "wait a little and try again.")
        return session

    # -- votes -----------------------------------------------------------------------------
    def vote(self, raw_session: str, battle_id: str, choice: object,
             listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """Apply the rules, commit the vote, and return the reveal. Raises VoteRefused."""
        session = self.session_key(raw_session)
        if not self._vote_limit.allow(session):
            raise VoteRefused(Refusal.RATE_LIMITED, f"More than {self.settings.votes_per_minute} votes "
                              "in a minute from this session; wait a little.")
        verdict = Choice.parse(choice)
        listened = (_listen_seconds(listened_a_s), _listen_seconds(listened_b_s))
        battle = self._open_battle(session, battle_id)
        self._check_listening(battle, listened)
        scores_a, scores_b = self._scores(battle.path_a), self._scores(battle.path_b)
        pick, rule = self._pick(scores_a, scores_b) if scores_a and scores_b else (None, None)
        vote = Vote(battle.battle_id, verdict, session, battle.source, battle.clip_a, battle.clip_b,
                    battle.system_a, battle.system_b, listened[0], listened[1], battle.served_at,
                    self._clock(), pick, scores_a, scores_b, self.model_name if pick else None)
        self.store.add_vote(vote)  # committed (or refused as already_voted) before we answer
        self._count(vote)
        return self._reveal(vote, rule)

    def _pick(self, scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> tuple[Choice, str]:
        """The model's pick and the rule that made it: the model learned from this arena's votes
        once it beats the fixed rule out of fold (apex_demo.vote_model), else ranking.model_pick."""
        board = self.board.latest()
        if board is None:
            return model_pick(scores_a, scores_b), FIXED_RULE
        return board.learned.pick(scores_a, scores_b)

    def vote_reply(self, raw_session: str, battle_id: str, choice: object,
                   listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """API shape: {"accepted": bool, "reason": str|None, "message": str, ...reveal}."""
        try:
            return self.vote(raw_session, battle_id, choice, listened_a_s, listened_b_s)
        except VoteRefused as exc:
            return {"accepted": False, "reason": exc.reason.value, "message": exc.message}

    def _open_battle(self, session: str, battle_id: str) -> Battle:
        battle = self.store.get_battle(battle_id) if isinstance(battle_id, str) and battle_id else None
        if battle is None:
            raise VoteRefused(Refusal.UNKNOWN_BATTLE, "This battle id is not known; start a new battle.")
        if battle.session != session:
            raise VoteRefused(Refusal.WRONG_SESSION, "This battle was served to another session; "
                              "start a new battle.")
        if self.store.has_vote(battle_id):
            raise VoteRefused(Refusal.ALREADY_VOTED, "This battle already has a vote; start a new battle.")
        if self._clock() - battle.served_at > self._ttl:
            raise VoteRefused(Refusal.EXPIRED, f"This battle was served more than {self._ttl / 60:.0f} "
                              "minutes ago; start a new battle.")
        return battle

    def _check_listening(self, battle: Battle, listened: tuple[float, float]) -> None:
        need = self.settings.min_listen_s
        if self._clock() - battle.served_at < need:
            raise VoteRefused(Refusal.TOO_EARLY, f"Votes open {need:g} s after the battle starts; "
                              "listen to both clips first.")
        if min(listened) < need:
            raise VoteRefused(Refusal.NOT_LISTENED, f"Listen to each clip for at least {need:g} s before "
                              f"voting (A: {listened[0]:.1f} s, B: {listened[1]:.1f} s so far).")

    def _scores(self, path: str) -> dict[str, float] | None:
        """Model scores of a clip, or None when the model cannot score it.

        Any failure is logged and the vote still counts: a model problem must never
        cost a listener's vote.
        """
        if self._score_fn is None:
            return None
        try:
            return {k: float(v) for k, v in dict(self._score_fn(Path(path))).items()}
        except ApexError as exc:
            LOG.warning("cannot score arena clip %s: %s", Path(path).name, exc.message)
        except Exception:
            LOG.exception("unexpected error scoring arena clip %s", Path(path).name)
        return None

    def warm(self, paths: Sequence[Path | str] | None = None) -> int:
        """Score clips once (default: the whole pool) so votes on them read the engine's cache
        instead of running the model inside the vote; returns how many could be scored."""
        todo = [str(c.path) for c in self.pool] if paths is None else [str(p) for p in paths]
        return sum(self._scores(p) is not None for p in todo)

    # -- reveal and running agreement ------------------------------------------------------
    def _count(self, vote: Vote) -> None:
        if vote.choice not in (Choice.A, Choice.B) or vote.model_choice not in (Choice.A, Choice.B):
            return
        with self._tally_lock:
            self._tally.n += 1
            self._tally.k += int(vote.choice == vote.model_choice)

    def stats(self, min_votes: int = MIN_VOTES_LISTED) -> ArenaStats:
        """Fresh statistics for scripts and tests: the background board when it counts every vote,
        else computed now. Pages use `board.latest()`, which never computes."""
        if min_votes != MIN_VOTES_LISTED:
            return arena_stats(self.store.votes(), min_votes=min_votes)
        board = self.board.latest()
        if board is None or board.votes != self.store.count():
            board = self.board.refresh()
        return board.stats

    def running_agreement(self) -> dict[str, Any]:
        with self._tally_lock:
            return wilson_interval(self._tally.k, self._tally.n).to_dict()

    def _clip_reveal(self, clip_id: str, system: str, scores: Mapping[str, float] | None) -> dict[str, Any]:
        clip = self._by_id.get(clip_id)
        info = clip.to_public() if clip else {"clip_id": clip_id, "system": system}
        info["scores"] = dict(scores) if scores else None
        info["overall"] = round(overall_score(scores), 2) if scores else None
        return info

    def _rule_text(self, rule: str | None) -> str | None:
        board = self.board.latest()
        if rule is None:
            return None
        return board.learned.rule_text(rule) if board is not None else FIXED_RULE_TEXT

    def _reveal(self, vote: Vote, rule: str | None = None) -> dict[str, Any]:
        decisive = vote.choice in (Choice.A, Choice.B) and vote.model_choice in (Choice.A, Choice.B)
        return {
            "accepted": True, "reason": None, "message": "vote counted",
            "battle_id": vote.battle_id, "choice": vote.choice.value,
            "model_choice": vote.model_choice.value if vote.model_choice else None,
            "agreed": (vote.choice == vote.model_choice) if decisive else None,
            "model_pick_definition": MODEL_PICK_DEFINITION,
            "model_rule": rule, "model_rule_text": self._rule_text(rule),
            "a": self._clip_reveal(vote.clip_a, vote.system_a, vote.scores_a),
            "b": self._clip_reveal(vote.clip_b, vote.system_b, vote.scores_b),
            "running_agreement": self.running_agreement(),
        }


def _listen_seconds(value: object) -> float:
    """A reported listening time: a finite, non-negative number of seconds."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise VoteRefused(Refusal.BAD_LISTEN_TIME, f"Listening time must be a number of seconds >= 0, "
                          f"got {value!r}.")
    return seconds


def engine_score_fn(settings: Settings) -> ScoreFn:
    """Scores from the shared scoring engine (its embedding cache makes repeats instant)."""

    def score(path: Path) -> Mapping[str, float]:
        from apex_demo.scoring import get_scorer  # heavy: imported on first use only

        return get_scorer(settings).score_file(path).scores.as_dict()

    return score


def pool_allowed_paths(settings: Settings) -> list[str]:
    """Folders the web server may serve pool audio from (for Gradio's `allowed_paths`)."""
    paths = [str(DEFAULT_POOL_DIR)]
    source = settings.arena_pool
    if source and Path(source).expanduser().exists():
        local = Path(source).expanduser().resolve()
        paths.append(str(local.parent if local.is_file() else local))
    elif source:
        from huggingface_hub import constants  # a Hub pool lives in the Hub cache

        paths.append(str(constants.HF_HUB_CACHE))
    return paths


def build_arena(settings: Settings, store: VoteStore | None = None, score_fn: ScoreFn | None = None) -> Arena:
    """The arena for these settings: pool from APEX_ARENA_POOL (or assets/arena), engine scores."""
    pool = load_pool(settings.arena_pool, settings.hf_token)
    model = f"{settings.mert}+{settings.head}"
    return Arena(settings, store or VoteStore.open(settings), pool,
                 score_fn=score_fn or engine_score_fn(settings), model_name=model)

"""The arena: a pool of clips, blind random battles, and the server-side vote rules.

The page may enforce the rules too, but only this module decides. A battle id is
a 192-bit `secrets.token_urlsafe`, bound to the (salted, hashed) session it was
served to and usable once. A vote is refused, with a stable `Refusal` reason,
when it is unknown, expired, already voted, too early, not listened to long
enough (or longer than the clips last), or beyond the client's rate limit.

A script chooses its session ids freely, so rate limits key on what it cannot
choose: the client address (`Visitor.address`, as the Spaces proxy forwards it).
Raw session ids, addresses and user names are never stored: only HMAC-SHA256
under the vote salt. A vote never runs the model: it reads scores the pool warm-up
or the upload handler computed in the model's slot, or goes without a model pick.
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
import tempfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from apex_demo.analysis import MIN_VOTES_LISTED, MODEL_PICK_DEFINITION, ArenaStats, arena_stats, wilson_interval
from apex_demo.arena_board import SNAPSHOT_FILENAME, BoardRefresher
from apex_demo.blind import BlindClips, probe_duration
from apex_demo.cache import file_sha256
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, VoteError
from apex_demo.ranking import model_pick, overall_score
from apex_demo.vote_model import FIXED_RULE, FIXED_RULE_TEXT
from apex_demo.votes import Battle, Choice, Refusal, Vote, VoteRefused, VoteStore, counts_for_leaderboard

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
LISTEN_SLACK_S = 60.0             # listening time accepted: at most the clip's length plus this
PRUNE_EVERY_S = 60.0              # expired battles are deleted at most this often
SCORE_MEMO_MAX = 4096             # clip scores kept for votes (pool clips and recent uploads)
HUB_POOL_DIRNAME = "arena_pool"   # a Hub pool is downloaded here under data_dir, never served from
ANOMALY_WINDOW_S = 10 * 60.0      # the anomaly check looks at votes from the last 10 minutes...
ANOMALY_FRESH_S = 10 * 60.0       # ...cast by sessions whose first vote is that recent...
ANOMALY_MIN_VOTES = 10            # ...and flags a system that won every one of at least this many
ANOMALY_FLAG = "anomaly:{system} won all {n} votes from fresh sessions in {minutes:g} min"

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
    duration_s: float | None = None

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


def _contained_audio(path: Path, root: Path) -> tuple[Path, float]:
    """`path` resolved (symlinks followed), checked to be a readable audio file inside `root`;
    returns it with its duration. Anything else would let a manifest serve any file."""
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise ApexError(f"{path} is outside the pool folder {base}", ErrorCode.BAD_REQUEST)
    if not resolved.is_file() or resolved.suffix.lower() not in AUDIO_SUFFIXES:
        raise ApexError(f"{path} is not a regular audio file ({'/'.join(sorted(AUDIO_SUFFIXES))})",
                        ErrorCode.NOT_AUDIO)
    return resolved, probe_duration(resolved)


def _clip_from_entry(entry: Mapping[str, Any], root: Path) -> PoolClip:
    try:
        path, duration = _contained_audio(root / str(entry["file"]), root)
        return PoolClip(clip_id=str(entry.get("id") or entry.get("clip_id") or Path(str(entry["file"])).stem),
                        path=path, system=str(entry["system"]), duration_s=duration,
                        instrumental=_as_bool(entry.get("instrumental")),
                        prompt=str(entry.get("prompt") or ""),
                        licence=str(entry.get("licence") or entry.get("license") or ""),
                        attribution=str(entry.get("attribution") or ""))
    except KeyError as exc:
        raise ApexError(f"arena manifest entry {dict(entry)} lacks {exc}; every clip needs 'file' and "
                        "'system'.", ErrorCode.BAD_REQUEST) from None


def _read_manifest(manifest: Path) -> list[PoolClip]:
    """Every entry that names an audio file inside the manifest's folder; each other entry is
    refused with a log line saying why, and the rest still load."""
    try:
        if manifest.suffix == ".json":
            data = json.loads(manifest.read_text(encoding="utf-8"))
            entries = data["clips"] if isinstance(data, dict) else data
        else:
            with manifest.open(newline="", encoding="utf-8") as handle:
                entries = list(csv.DictReader(handle))
    except (OSError, ValueError, KeyError) as exc:
        raise ApexError(f"the arena manifest {manifest} cannot be read ({type(exc).__name__}: {exc}); fix it or "
                        "point APEX_ARENA_POOL elsewhere.", ErrorCode.BAD_REQUEST) from exc
    clips = []
    for entry in entries:
        try:
            clips.append(_clip_from_entry(entry, manifest.parent))
        except ApexError as exc:
            LOG.warning("arena manifest %s: entry %r refused: %s", manifest, entry, exc.message)
    return clips


def _scan_folder(folder: Path) -> list[PoolClip]:
    """No manifest: every audio file is a clip; its system is its sub-folder's name."""
    clips = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            try:
                resolved, duration = _contained_audio(path, folder)
            except ApexError as exc:
                LOG.warning("arena pool file refused: %s", exc.message)
                continue
            rel = path.relative_to(folder)
            system = rel.parts[0] if len(rel.parts) > 1 else "unknown"
            clips.append(PoolClip(clip_id=str(rel.with_suffix("")), path=resolved, system=system,
                                  duration_s=duration))
    return clips


def _resolve_pool_dir(source: str | None, token: str | None, private_dir: Path | None) -> Path:
    if not source:
        return DEFAULT_POOL_DIR
    local = Path(source).expanduser()
    if local.exists():
        return local.parent if local.is_file() else local
    if source.count("/") == 1:
        import huggingface_hub  # only for a Hub-hosted pool

        target = (private_dir or Path(tempfile.mkdtemp(prefix="apex_arena_pool_"))) / source.replace("/", "--")
        try:  # local_dir: real files in a private folder, not links into the shared Hub cache
            return Path(huggingface_hub.snapshot_download(repo_id=source, repo_type="dataset", token=token,
                                                          local_dir=target))
        except Exception as exc:
            raise ApexError(f"cannot download the arena pool dataset {source!r} ({type(exc).__name__}: {exc}); "
                            "point APEX_ARENA_POOL at a local folder instead.", ErrorCode.HUB_UNREACHABLE) from exc
    raise ApexError(f"APEX_ARENA_POOL={source!r} is neither a folder, a manifest file nor a Hub dataset id.",
                    ErrorCode.BAD_REQUEST)


def load_pool(source: str | None = None, token: str | None = None,
              private_dir: Path | None = None) -> list[PoolClip]:
    """Clips from a manifest (JSON/CSV), a folder of per-system sub-folders, or a Hub dataset
    (downloaded into `private_dir`). Only audio files inside the pool's folder are clips."""
    root = _resolve_pool_dir(source, token, private_dir)
    given = Path(source).expanduser() if source else None
    if given is not None and given.is_file():
        clips = _read_manifest(given)
    else:
        manifest = next((root / n for n in MANIFEST_NAMES if (root / n).is_file()), None)
        clips = _read_manifest(manifest) if manifest else _scan_folder(root)
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
@dataclass(frozen=True)
class Visitor:
    """Who is asking, as the web layer saw it. Only salted hashes of these are ever stored.

    `session` is chosen by the client (one per page load or gradio_client), so it only binds a
    battle to the page it was served to; `address` (the client address as the proxy forwards it)
    is what rate limits key on; `user` is the Hugging Face user name when signed in.
    """

    session: str
    address: str | None = None
    user: str | None = None


@dataclass
class _Tally:
    """Running agreement over decisive votes with a model pick (kept in memory, seeded from the store)."""

    k: int = 0
    n: int = 0


def _visitor(who: Visitor | str) -> Visitor:
    return who if isinstance(who, Visitor) else Visitor(session=str(who))


class Arena:
    """Serves battles and applies every vote rule before a vote reaches the store."""

    def __init__(self, settings: Settings, store: VoteStore, pool: Sequence[PoolClip],
                 score_fn: ScoreFn | None = None, model_name: str | None = None,
                 clock: Clock = time.time, rng: random.Random | None = None,
                 ttl_s: float = BATTLE_TTL_S) -> None:
        self.settings = settings
        self.store = store
        self.pool = tuple(pool)
        self.blind = BlindClips(max_seconds=settings.max_seconds)
        self._by_id = {c.clip_id: c for c in self.pool}
        self._durations = {str(c.path): c.duration_s for c in self.pool if c.duration_s is not None}
        self._score_fn = score_fn
        self._scores_memo: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._memo_lock = threading.Lock()
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
        self._pruned_at = -math.inf
        self.board = BoardRefresher(store.votes, store.count, store.remote_count,
                                    sync=store.pull_from_hub if store.syncs_with_hub else None,
                                    snapshot_path=store.path.parent / SNAPSHOT_FILENAME,
                                    signed_in_only=settings.arena_signed_in_only)
        for vote in store.votes():
            self._count(vote)
        self.prune()

    def close(self) -> None:
        """Close the vote store and remove the private blind copies."""
        self.store.close()
        self.blind.cleanup()

    # -- visitors and battles --------------------------------------------------------------
    def session_key(self, raw_session: str) -> str:
        """The only form of a session (or address, or user name) that is stored: HMAC-SHA256 under
        the vote salt."""
        digest = hmac.new(self._salt, str(raw_session).encode(), hashlib.sha256).hexdigest()
        return digest[:SESSION_HASH_CHARS]

    def client_key(self, who: Visitor) -> str:
        """What rate limits count on: the signed-in user, else the client address, else (no web
        request: tests, scripts in-process) the session."""
        if who.user:
            return self.session_key("user:" + who.user)
        if who.address:
            return self.session_key("addr:" + who.address)
        return self.session_key("session:" + who.session)

    def new_battle(self, who: Visitor | str) -> Battle:
        """A random blind pair from the pool, persisted before it is returned."""
        session = self._check_battle_rate(_visitor(who))
        a, b = draw_pair(self.pool, self._rng)
        battle = Battle(secrets.token_urlsafe(BATTLE_ID_BYTES), session, SOURCE_POOL, a.clip_id, b.clip_id,
                        a.system, b.system, str(a.path), str(b.path), self._clock())
        self.store.add_battle(battle)
        return battle

    def new_upload_battle(self, who: Visitor | str, path_1: Path | str, path_2: Path | str) -> Battle:
        """'Bring your own pair': two uploaded takes in random, hidden order."""
        session = self._check_battle_rate(_visitor(who))
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

    def blind_copies(self, battle: Battle, names: Sequence[str] = ("A", "B")) -> list[Path]:
        """The battle's clips as `<random folder>/<name>.flac`, freshly padded (apex_demo.blind);
        pool clips are converted once, uploads every time."""
        keep = battle.source == SOURCE_POOL
        return self.blind.write_battle(names, [Path(battle.path_a), Path(battle.path_b)], keep=keep)

    def _check_battle_rate(self, who: Visitor) -> str:
        if not self._battle_limit.allow(self.client_key(who)):
            raise VoteRefused(Refusal.RATE_LIMITED, "Too many battles started in the last minute; "
                              "wait a little and try again.")
        self.prune()
        return self.session_key(who.session)

    def prune(self) -> int:
        """Delete expired battles, at most once a minute; returns how many went."""
        now = self._clock()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return 0
        self._pruned_at = now
        return self.store.prune_battles(now - self._ttl)

    # -- votes -----------------------------------------------------------------------------
    def vote(self, who: Visitor | str, battle_id: str, choice: object,
             listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """Apply the rules, commit the vote, and return the reveal. Raises VoteRefused."""
        visitor = _visitor(who)
        client = self.client_key(visitor)
        if not self._vote_limit.allow(client):
            raise VoteRefused(Refusal.RATE_LIMITED, f"More than {self.settings.votes_per_minute} votes "
                              "in a minute from this address; wait a little.")
        verdict = Choice.parse(choice)
        listened = (_listen_seconds(listened_a_s), _listen_seconds(listened_b_s))
        battle = self._open_battle(self.session_key(visitor.session), battle_id)
        self._check_listening(battle, listened)
        scores_a, scores_b = self._known_scores(battle.path_a), self._known_scores(battle.path_b)
        pick, rule = self._pick(scores_a, scores_b) if scores_a and scores_b else (None, None)
        vote = Vote(battle.battle_id, verdict, battle.session, battle.source, battle.clip_a, battle.clip_b,
                    battle.system_a, battle.system_b, listened[0], listened[1], battle.served_at,
                    self._clock(), pick, scores_a, scores_b, self.model_name if pick else None,
                    client=client, signed_in=bool(visitor.user))
        self.store.add_vote(vote)  # committed (or refused as already_voted) before we answer
        self._count(vote)
        self.check_anomalies()
        return self._reveal(vote, rule)

    def _pick(self, scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> tuple[Choice, str]:
        """The model's pick and the rule that made it: the model learned from this arena's votes
        once it beats the fixed rule out of fold (apex_demo.vote_model), else ranking.model_pick."""
        board = self.board.latest()
        if board is None:
            return model_pick(scores_a, scores_b), FIXED_RULE
        return board.learned.pick(scores_a, scores_b)

    def vote_reply(self, who: Visitor | str, battle_id: str, choice: object,
                   listened_a_s: object, listened_b_s: object) -> dict[str, Any]:
        """API shape: {"accepted": bool, "reason": str|None, "message": str, ...reveal}."""
        try:
            return self.vote(who, battle_id, choice, listened_a_s, listened_b_s)
        except VoteRefused as exc:
            return {"accepted": False, "reason": exc.reason.value, "message": exc.message}

    def _open_battle(self, session: str, battle_id: str) -> Battle:
        battle = self.store.get_battle(battle_id) if isinstance(battle_id, str) and battle_id else None
        if battle is None:
            raise VoteRefused(Refusal.UNKNOWN_BATTLE, "This battle id is not known (or expired and was "
                              "removed); start a new battle.")
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
        for side, seconds, path in (("A", listened[0], battle.path_a), ("B", listened[1], battle.path_b)):
            most = self._duration(path) + LISTEN_SLACK_S
            if seconds > most:
                raise VoteRefused(Refusal.BAD_LISTEN_TIME, f"Listening time for {side} ({seconds:g} s) is "
                                  f"longer than the clip plus {LISTEN_SLACK_S:g} s ({most:.0f} s); "
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
            return float(self.settings.max_seconds)

    # -- model scores: computed by warm() in the model's slot, only read by votes ----------
    def _known_scores(self, path: str) -> dict[str, float] | None:
        with self._memo_lock:
            scores = self._scores_memo.get(str(path))
        return dict(scores) if scores else None

    def _compute_scores(self, path: str) -> dict[str, float] | None:
        """Model scores of a clip, or None when the model cannot score it (logged: a model
        problem must never cost a listener's vote)."""
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
        """Score clips (default: the whole pool) so votes on them get a model pick; run it where the
        model may run (the model's queue slot, or the start-up warm-up): a vote never runs the model
        itself. Returns how many could be scored."""
        todo = [str(c.path) for c in self.pool] if paths is None else [str(p) for p in paths]
        done = 0
        for path in todo:
            if self._known_scores(path) is None:
                scores = self._compute_scores(path)
                if scores is None:
                    continue
                with self._memo_lock:
                    self._scores_memo[path] = scores
                    while len(self._scores_memo) > SCORE_MEMO_MAX:
                        self._scores_memo.popitem(last=False)
            done += 1
        return done

    def prepare_blind(self, path: Path | str) -> None:
        """Convert a pool clip for blind serving ahead of its first battle (so no battle's reply time
        tells a new clip from a known one); a failure is logged and retried at the battle."""
        try:
            self.blind.prepared(Path(path))
        except ApexError as exc:
            LOG.warning("cannot prepare arena clip %s: %s", Path(path).name, exc.message)

    # -- anomaly check ---------------------------------------------------------------------
    def check_anomalies(self) -> int:
        """Flag votes out of the leaderboard when, within the last ANOMALY_WINDOW_S, one system won
        every one of at least ANOMALY_MIN_VOTES pool votes it was in that came from fresh sessions
        (first vote within ANOMALY_FRESH_S): the signature of a script voting from new sessions.
        Returns how many votes were newly flagged (they stay stored; `votes stats` lists them)."""
        now = self._clock()
        fresh = self.store.fresh_outcomes(now - ANOMALY_WINDOW_S, now - ANOMALY_FRESH_S, SOURCE_POOL)
        flagged = 0
        for system in {s for v in fresh for s in (v.system_a, v.system_b)}:
            involved = [v for v in fresh if system in (v.system_a, v.system_b)]
            if len(involved) >= ANOMALY_MIN_VOTES and all(v.winner == system for v in involved):
                flag = ANOMALY_FLAG.format(system=system, n=len(involved), minutes=ANOMALY_WINDOW_S / 60)
                flagged += self.store.flag_votes([v.battle_id for v in involved if v.flag is None], flag)
        if flagged:
            self.board.invalidate()  # the vote count is unchanged, but the counted votes are not
            LOG.warning("anomaly check: %d votes flagged out of the leaderboard", flagged)
        return flagged

    # -- reveal and running agreement ------------------------------------------------------
    def _count(self, vote: Vote) -> None:
        if vote.choice not in (Choice.A, Choice.B) or vote.model_choice not in (Choice.A, Choice.B):
            return
        with self._tally_lock:
            self._tally.n += 1
            self._tally.k += int(vote.choice == vote.model_choice)

    def leaderboard_votes(self) -> list[Vote]:
        """The votes the leaderboard counts (not flagged; signed in when the settings say so)."""
        only = self.settings.arena_signed_in_only
        return [v for v in self.store.votes() if counts_for_leaderboard(v, only)]

    def stats(self, min_votes: int = MIN_VOTES_LISTED) -> ArenaStats:
        """Fresh statistics for scripts and tests: the background board when it counts every vote,
        else computed now. Pages use `board.latest()`, which never computes."""
        if min_votes != MIN_VOTES_LISTED:
            return arena_stats(self.leaderboard_votes(), min_votes=min_votes)
        board = self.board.latest()
        if board is None or board.votes != self.store.count():
            board = self.board.refresh()
        return board.stats

    def running_agreement(self) -> dict[str, Any]:
        with self._tally_lock:
            return wilson_interval(self._tally.k, self._tally.n).to_dict()

    def _clip_reveal(self, clip_id: str, system: str, scores: Mapping[str, float] | None) -> dict[str, Any]:
        clip = self._by_id.get(clip_id)
        info: dict[str, Any] = clip.to_public() if clip else {"clip_id": clip_id, "system": system}
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


def private_paths(settings: Settings) -> list[str]:
    """Folders the web server must never serve from (Gradio's `blocked_paths`): the pool, its
    manifest, the vote data and the Hugging Face cache. Battles reach browsers only as blind
    copies (apex_demo.blind), which Gradio serves from its own cache."""
    from huggingface_hub import constants  # light: paths only

    paths = [DEFAULT_POOL_DIR, Path(settings.data_dir).expanduser(), Path(constants.HF_HOME),
             Path(constants.HF_HUB_CACHE)]
    if settings.arena_pool and Path(settings.arena_pool).expanduser().exists():
        local = Path(settings.arena_pool).expanduser()
        paths.append(local.parent if local.is_file() else local)
    return [str(p.resolve()) for p in paths]


def build_arena(settings: Settings, store: VoteStore | None = None, score_fn: ScoreFn | None = None) -> Arena:
    """The arena for these settings: pool from APEX_ARENA_POOL (or assets/arena), engine scores."""
    pool = load_pool(settings.arena_pool, settings.hf_token, Path(settings.data_dir) / HUB_POOL_DIRNAME)
    model = f"{settings.mert}+{settings.head}"
    return Arena(settings, store or VoteStore.open(settings), pool,
                 score_fn=score_fn or engine_score_fn(settings), model_name=model)

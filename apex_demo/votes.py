"""The arena vote store: SQLite (WAL) under Settings.data_dir, export, optional Hub log.

Votes are the product's most valuable data, so this module is deliberately
boring: one connection guarded by a lock (SQLite serialises writers anyway,
and one connection avoids "database is locked" between our own threads), WAL
so readers never block the writer, and `synchronous=FULL` so that a vote whose
COMMIT returned survives a power loss as well as a process kill (NORMAL in WAL
mode only survives process crashes). A UNIQUE constraint on `votes.battle_id`
makes a second vote for the same battle impossible even when two requests
race past the arena's checks at the same time.

When `Settings.votes_repo` is set, every committed vote (and every anomaly flag set
on a vote later, as a flag line) is also appended to a
per-process JSONL file that `huggingface_hub.CommitScheduler` uploads to that
dataset (files are only ever appended to, never rewritten), and an empty local
store is restored from the dataset at start (Spaces disks are ephemeral). Several
replicas may share one dataset: each writes its own file, and `pull_from_hub`
(run by the leaderboard's background refresh, at most once a minute) imports all
of them, deduplicated by battle id.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, TextIO

from apex_demo.config import Settings
from apex_demo.csvsafe import escape_cell, escape_row  # noqa: F401 - escape_cell is re-exported for the UI
from apex_demo.errors import ApexError, ErrorCode, VoteError
from apex_demo.scores import SCORE_KEYS

LOG = logging.getLogger(__name__)

DB_FILENAME = "votes.sqlite3"
BUSY_TIMEOUT_MS = 10_000
HUB_FOLDER = "hub_votes"          # local folder under data_dir that CommitScheduler watches
HUB_PATH_IN_REPO = "votes"        # folder inside the Hub dataset
HUB_EVERY_MINUTES = 1.0
RECORD_KIND = "record"            # key that marks a Hub log line that is not a vote...
FLAG_RECORD = "flag"              # ...but an anomaly flag on a vote logged earlier


class Choice(str, Enum):
    """A listener's verdict (Music Arena's four options). Values are stored and exported."""

    A = "A"
    B = "B"
    TIE = "TIE"
    BOTH_BAD = "BOTH_BAD"

    @classmethod
    def parse(cls, value: object) -> "Choice":
        """Strict parse: exactly one of the four names (case-insensitive), else VoteRefused."""
        if isinstance(value, Choice):
            return value
        text = value.strip().upper() if isinstance(value, str) else ""
        try:
            return cls(text)
        except ValueError:
            raise VoteRefused(Refusal.INVALID_CHOICE,
                              f"Choice must be one of {[c.value for c in cls]}, got {value!r}.") from None


class Refusal(str, Enum):
    """Why a vote or battle request was refused. Stable strings: clients match on them."""

    INVALID_CHOICE = "invalid_choice"
    UNKNOWN_BATTLE = "unknown_battle"
    EXPIRED = "expired"
    ALREADY_VOTED = "already_voted"
    WRONG_SESSION = "wrong_session"
    TOO_EARLY = "too_early"
    NOT_LISTENED = "not_listened"
    BAD_LISTEN_TIME = "bad_listen_time"
    RATE_LIMITED = "rate_limited"


class VoteRefused(VoteError):
    """A vote the server-side rules refused; `reason` is a stable Refusal value."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message, ErrorCode.VOTE_REFUSED)
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "reason": self.reason.value}


@dataclass(frozen=True)
class Battle:
    """A pair served to one session. Paths are kept server-side and never exported."""

    battle_id: str
    session: str          # salted session hash, never a raw IP or user name
    source: str           # "pool" or "upload"
    clip_a: str
    clip_b: str
    system_a: str
    system_b: str
    path_a: str
    path_b: str
    served_at: float      # unix seconds, server clock


@dataclass(frozen=True)
class Vote:
    """One counted vote, self-contained (battle fields copied) so exports need no join."""

    battle_id: str
    choice: Choice
    session: str
    source: str
    clip_a: str
    clip_b: str
    system_a: str
    system_b: str
    listened_a_s: float
    listened_b_s: float
    served_at: float
    voted_at: float
    model_choice: Choice | None = None
    scores_a: dict[str, float] | None = None
    scores_b: dict[str, float] | None = None
    model: str | None = None
    client: str | None = None   # salted hash of the client address (never the address itself)
    signed_in: bool = False     # voted while signed in with Hugging Face
    flag: str | None = None     # set by the anomaly check: the vote is left out of the leaderboard

    def to_record(self) -> dict[str, Any]:
        """The JSON object of one vote (JSONL export and Hub log)."""
        record = asdict(self)
        record["choice"] = self.choice.value
        record["model_choice"] = self.model_choice.value if self.model_choice else None
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Vote":
        """Inverse of to_record; unknown keys are ignored so old logs stay readable."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["choice"] = Choice(values["choice"])
        values["model_choice"] = Choice(values["model_choice"]) if values.get("model_choice") else None
        values["signed_in"] = bool(values.get("signed_in"))
        return cls(**values)


# Each entry migrates the schema from version i to i+1. Never edit a released entry: append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS battles (
            battle_id TEXT PRIMARY KEY, session TEXT NOT NULL, source TEXT NOT NULL,
            clip_a TEXT NOT NULL, clip_b TEXT NOT NULL, system_a TEXT NOT NULL, system_b TEXT NOT NULL,
            path_a TEXT NOT NULL, path_b TEXT NOT NULL, served_at REAL NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            battle_id TEXT NOT NULL UNIQUE,
            choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'TIE', 'BOTH_BAD')),
            session TEXT NOT NULL, source TEXT NOT NULL,
            clip_a TEXT NOT NULL, clip_b TEXT NOT NULL, system_a TEXT NOT NULL, system_b TEXT NOT NULL,
            listened_a_s REAL NOT NULL, listened_b_s REAL NOT NULL,
            served_at REAL NOT NULL, voted_at REAL NOT NULL,
            model_choice TEXT CHECK (model_choice IS NULL OR model_choice IN ('A', 'B', 'TIE')),
            scores_a TEXT, scores_b TEXT, model TEXT)""",
        "CREATE INDEX IF NOT EXISTS votes_voted_at ON votes (voted_at)",
    ),
    (   # issue 13: who may count (client hash, signed in) and the anomaly flag; battle pruning by age
        "ALTER TABLE votes ADD COLUMN client TEXT",
        "ALTER TABLE votes ADD COLUMN signed_in INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE votes ADD COLUMN flag TEXT",
        "CREATE INDEX IF NOT EXISTS votes_session ON votes (session, served_at)",
        "CREATE INDEX IF NOT EXISTS battles_served_at ON battles (served_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_VOTE_COLUMNS = tuple(f.name for f in fields(Vote))
_BATTLE_COLUMNS = tuple(f.name for f in fields(Battle))


def _connect(path: Path) -> sqlite3.Connection:
    """Open with the durability settings above; autocommit mode, transactions are explicit."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = _enable_wal(conn)
    if str(mode).lower() != "wal":
        raise VoteError(f"the vote database {path} cannot use WAL mode (got {mode!r}); "
                        "put APEX_DATA_DIR on a local disk.", ErrorCode.BAD_REQUEST)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _enable_wal(conn: sqlite3.Connection) -> str:
    """Switch to WAL, retrying: SQLite may answer "locked" at once (without its busy
    handler) while another connection is creating or switching the same new file."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION; safe to run any number of times, from any process."""
    conn.execute("BEGIN IMMEDIATE")  # take the write lock first, then re-read the version
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise VoteError(f"the vote database has schema {version}, newer than this code's "
                            f"{SCHEMA_VERSION}; upgrade apex_demo.", ErrorCode.BAD_REQUEST)
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _vote_row(vote: Vote) -> tuple[Any, ...]:
    record = vote.to_record()
    record["scores_a"] = json.dumps(vote.scores_a) if vote.scores_a is not None else None
    record["scores_b"] = json.dumps(vote.scores_b) if vote.scores_b is not None else None
    return tuple(record[c] for c in _VOTE_COLUMNS)


def _vote_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Vote:
    record = dict(zip(_VOTE_COLUMNS, row))
    record["scores_a"] = json.loads(record["scores_a"]) if record["scores_a"] else None
    record["scores_b"] = json.loads(record["scores_b"]) if record["scores_b"] else None
    return Vote.from_record(record)


@dataclass(frozen=True)
class Outcome:
    """Who won one stored vote: what the anomaly check needs, without the scores."""

    battle_id: str
    system_a: str
    system_b: str
    choice: str
    flag: str | None

    @property
    def winner(self) -> str | None:
        """The system the vote preferred (None for TIE / BOTH_BAD)."""
        return {Choice.A.value: self.system_a, Choice.B.value: self.system_b}.get(self.choice)


def counts_for_leaderboard(vote: Vote, signed_in_only: bool) -> bool:
    """Whether a stored vote enters the leaderboard: not flagged by the anomaly check, and
    signed in when the app only counts signed-in visitors (every vote is kept either way)."""
    return vote.flag is None and (vote.signed_in or not signed_in_only)


def excluded_summary(votes: Iterable[Vote], signed_in_only: bool) -> dict[str, Any]:
    """Votes kept but left out of the leaderboard, and why: per anomaly flag, and (when only
    signed-in votes count) the anonymous ones."""
    flagged: dict[str, int] = {}
    anonymous = 0
    for vote in votes:
        if vote.flag is not None:
            flagged[vote.flag] = flagged.get(vote.flag, 0) + 1
        elif signed_in_only and not vote.signed_in:
            anonymous += 1
    return {"flagged": flagged, "not_signed_in": anonymous, "signed_in_only": signed_in_only}


class VoteStore:
    """Thread-safe store of battles and votes in one SQLite file."""

    def __init__(self, path: Path, hub: "HubVoteLog | None" = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(path)
            _migrate(self._conn)
        except (sqlite3.Error, OSError) as exc:
            LOG.error("vote database %s unavailable: %r", path, exc)  # the full path for the operator's log
            detail = exc.strerror if isinstance(exc, OSError) else str(exc)  # the page shows no server path
            raise VoteError(f"the vote database ({path.name} under APEX_DATA_DIR) cannot be opened for writing "
                            f"({type(exc).__name__}: {detail}); move the damaged file away or point "
                            "APEX_DATA_DIR at a writable folder, then restart.",
                            ErrorCode.VOTE_STORE_UNAVAILABLE) from exc
        self._hub = hub

    @classmethod
    def open(cls, settings: Settings) -> "VoteStore":
        """The store for these settings, restored from / logging to the Hub when configured."""
        path = Path(settings.data_dir) / DB_FILENAME
        if not settings.votes_repo:
            return cls(path)
        store = cls(path)
        if store.count() == 0:
            restored = restore_from_hub(store, settings.votes_repo, settings.hf_token)
            LOG.info("restored %d votes from %s", restored, settings.votes_repo)
        store._hub = HubVoteLog(settings.votes_repo, settings.hf_token,
                                Path(settings.data_dir) / HUB_FOLDER)
        return store

    def close(self) -> None:
        """Close the connection and push pending Hub uploads."""
        with self._lock:
            self._conn.close()
        if self._hub is not None:
            self._hub.stop()

    # -- battles ---------------------------------------------------------------------------
    def add_battle(self, battle: Battle) -> None:
        """Persist a served battle (so a restart does not invalidate battles being listened to)."""
        values = tuple(getattr(battle, c) for c in _BATTLE_COLUMNS)
        marks = ",".join("?" * len(values))
        with self._lock:
            self._conn.execute(f"INSERT INTO battles ({','.join(_BATTLE_COLUMNS)}) VALUES ({marks})", values)

    def get_battle(self, battle_id: str) -> Battle | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {','.join(_BATTLE_COLUMNS)} FROM battles WHERE battle_id = ?",
                                     (battle_id,)).fetchone()
        return Battle(*row) if row else None

    def prune_battles(self, served_before: float) -> int:
        """Delete battles served before this time (expired: they can no longer be voted on, and
        each vote keeps its own copy of the battle's fields); returns how many went."""
        with self._lock:
            return self._conn.execute("DELETE FROM battles WHERE served_at < ?", (served_before,)).rowcount

    def battle_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0])

    # -- votes -----------------------------------------------------------------------------
    def add_vote(self, vote: Vote) -> None:
        """Commit one vote; returns only after COMMIT. A second vote for a battle is refused."""
        row = _vote_row(vote)
        marks = ",".join("?" * len(row))
        try:
            with self._lock:
                self._conn.execute(f"INSERT INTO votes ({','.join(_VOTE_COLUMNS)}) VALUES ({marks})", row)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise VoteRefused(Refusal.ALREADY_VOTED, "This battle already has a vote; "
                                  "start a new battle.") from None
            raise VoteError(f"the vote was not stored: {exc}", ErrorCode.BAD_REQUEST) from exc
        if self._hub is not None:
            self._hub.append(vote)

    def import_votes(self, votes: Iterable[Vote]) -> int:
        """Insert votes that are not there yet (restore); returns how many were new."""
        rows = [_vote_row(v) for v in votes]
        marks = ",".join("?" * len(_VOTE_COLUMNS))
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    f"INSERT OR IGNORE INTO votes ({','.join(_VOTE_COLUMNS)}) VALUES ({marks})", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return self._conn.total_changes - before

    def remote_count(self) -> int:
        """Votes on battles this replica never served: pulled from the Hub dataset (other replicas,
        or this Space's earlier runs restored at start)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM votes WHERE battle_id NOT IN "
                                          "(SELECT battle_id FROM battles)").fetchone()[0])

    @property
    def syncs_with_hub(self) -> bool:
        return self._hub is not None

    def pull_from_hub(self) -> int:
        """Import every replica's JSONL log from the Hub dataset (duplicates by battle id are
        ignored); returns how many votes were new. A no-op without a Hub vote dataset."""
        if self._hub is None:
            return 0
        return restore_from_hub(self, self._hub.repo_id, self._hub.token)

    def has_vote(self, battle_id: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM votes WHERE battle_id = ?", (battle_id,)).fetchone() is not None

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def votes(self) -> list[Vote]:
        """Every vote, oldest first."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {','.join(_VOTE_COLUMNS)} FROM votes ORDER BY id").fetchall()
        return [_vote_from_row(r) for r in rows]

    def fresh_outcomes(self, voted_since: float, first_seen_since: float, source: str) -> list[Outcome]:
        """Votes cast since `voted_since` by sessions whose first voted battle was served since
        `first_seen_since` (fresh sessions), as light rows for the anomaly check."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT battle_id, system_a, system_b, choice, flag FROM votes v WHERE voted_at >= ? "
                "AND source = ? AND (SELECT MIN(served_at) FROM votes w WHERE w.session = v.session) >= ? "
                "ORDER BY id", (voted_since, source, first_seen_since)).fetchall()
        return [Outcome(*r) for r in rows]

    def flag_votes(self, battle_ids: Iterable[str], flag: str) -> int:
        """Mark votes as left out of the leaderboard (they stay stored); returns how many changed.
        With a Hub vote log, each new flag is appended to it too, so replicas and restores keep it."""
        changed = self._set_flags({battle_id: flag for battle_id in battle_ids})
        if self._hub is not None and changed:
            self._hub.append_flags(changed, flag)
        return len(changed)

    def import_flags(self, flags: Mapping[str, str]) -> int:
        """Flags read from the Hub log (battle id -> flag), set on votes not flagged yet; returns how
        many changed. Not written back to the log: they came from it."""
        return len(self._set_flags(flags))

    def _set_flags(self, flags: Mapping[str, str]) -> list[str]:
        """Flag the votes that have no flag yet; the battle ids that changed (a vote keeps its first flag)."""
        changed = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for battle_id, flag in flags.items():
                    cursor = self._conn.execute("UPDATE votes SET flag = ? WHERE battle_id = ? AND flag IS NULL",
                                                (flag, battle_id))
                    if cursor.rowcount:
                        changed.append(battle_id)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return changed

    def integrity_check(self) -> str:
        """SQLite's own check: 'ok' when the file is sound."""
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])


# -- export --------------------------------------------------------------------------------
EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS: tuple[str, ...] = (
    tuple(c for c in _VOTE_COLUMNS if c not in ("scores_a", "scores_b"))
    + ("voted_at_utc",)
    + tuple(f"a_{k}" for k in SCORE_KEYS) + tuple(f"b_{k}" for k in SCORE_KEYS)
)


def _csv_row(vote: Vote) -> dict[str, Any]:
    record = vote.to_record()
    row = {c: record[c] for c in _VOTE_COLUMNS if c not in ("scores_a", "scores_b")}
    row["voted_at_utc"] = datetime.fromtimestamp(vote.voted_at, timezone.utc).isoformat(timespec="seconds")
    for side, scores in (("a", vote.scores_a), ("b", vote.scores_b)):
        for key in SCORE_KEYS:
            row[f"{side}_{key}"] = (scores or {}).get(key)
    return escape_row(row)


def export_votes(votes: Iterable[Vote], fmt: str, out: TextIO) -> int:
    """Write votes as CSV (formula-escaped) or JSONL; returns the number written."""
    if fmt not in EXPORT_FORMATS:
        raise ApexError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}.", ErrorCode.BAD_REQUEST)
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for vote in votes:
            writer.writerow(_csv_row(vote))
            count += 1
    else:
        for vote in votes:
            out.write(json.dumps(vote.to_record(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def read_jsonl(lines: Iterable[str]) -> Iterator[Vote]:
    """The votes of a JSONL export or Hub log (flag lines, see read_log, are left out)."""
    yield from read_log(lines)[0]


def read_log(lines: Iterable[str]) -> tuple[list[Vote], dict[str, str]]:
    """Parse a Hub vote log: its votes, and the anomaly flags set on votes after they were logged
    (battle id -> flag, from `{"record": "flag", ...}` lines). A torn line (process killed
    mid-write) is skipped. Logs written before flags were logged hold votes only."""
    votes: list[Vote] = []
    flags: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
            if record.get(RECORD_KIND) == FLAG_RECORD:
                flags.setdefault(str(record["battle_id"]), str(record["flag"]))
            else:
                votes.append(Vote.from_record(record))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            LOG.warning("skipping unreadable vote line: %s", exc)
    return votes, flags


def flag_record(battle_id: str, flag: str) -> dict[str, str]:
    """The Hub log line that flags an already logged vote (the log is append-only)."""
    return {RECORD_KIND: FLAG_RECORD, "battle_id": battle_id, "flag": flag}


# -- Hub durability ------------------------------------------------------------------------
class HubVoteLog:
    """Append-only JSONL log that CommitScheduler pushes to a Hub dataset every minute.

    Each process writes its own `votes-<uuid>.jsonl`, so replicas never overwrite
    each other's files, and lines are only ever appended.
    """

    def __init__(self, repo_id: str, token: str | None, folder: Path) -> None:
        import huggingface_hub  # imported here: only needed when the Hub log is enabled

        folder.mkdir(parents=True, exist_ok=True)
        self.repo_id, self.token = repo_id, token
        self.file = folder / f"votes-{uuid.uuid4().hex}.jsonl"
        try:
            self._scheduler = huggingface_hub.CommitScheduler(
                repo_id=repo_id, repo_type="dataset", folder_path=folder, path_in_repo=HUB_PATH_IN_REPO,
                every=HUB_EVERY_MINUTES, token=token, private=True, allow_patterns=["*.jsonl"])
        except Exception as exc:  # network/auth errors come in many types; report one clear message
            raise ApexError(f"cannot open the Hub vote dataset {repo_id!r} ({type(exc).__name__}: {exc}); "
                            "check HF_TOKEN has write access, or unset APEX_VOTES_REPO to keep votes "
                            "only locally.", ErrorCode.HUB_UNREACHABLE) from exc

    def append(self, vote: Vote) -> None:
        """Append one vote; it is already committed locally, so a failure here is logged."""
        self._write([vote.to_record()], f"vote {vote.battle_id}")

    def append_flags(self, battle_ids: Iterable[str], flag: str) -> None:
        """Append a flag line per vote the anomaly check left out (already set locally)."""
        ids = list(battle_ids)
        self._write([flag_record(b, flag) for b in ids], f"flags on {len(ids)} votes")

    def _write(self, records: list[dict[str, Any]], what: str) -> None:
        try:
            with self._scheduler.lock:
                with self.file.open("a", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
        except OSError as exc:
            LOG.error("%s committed locally but not written to the Hub log: %s", what, exc)

    def stop(self) -> None:
        """Upload what is pending and stop the background thread."""
        self._scheduler.trigger()
        self._scheduler.stop()


def restore_from_hub(store: VoteStore, repo_id: str, token: str | None) -> int:
    """Fill a store from the dataset's JSONL logs, then set the anomaly flags they hold (a flag may sit
    in another replica's file than its vote); returns how many votes were new or newly flagged."""
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        folder = huggingface_hub.snapshot_download(repo_id=repo_id, repo_type="dataset", token=token,
                                                   allow_patterns=[f"{HUB_PATH_IN_REPO}/*.jsonl"])
    except RepositoryNotFoundError:
        return 0  # first start: the dataset is created by the first upload
    except Exception as exc:
        raise ApexError(f"cannot restore votes from the Hub dataset {repo_id!r} ({type(exc).__name__}: "
                        f"{exc}); check the network and HF_TOKEN, or unset APEX_VOTES_REPO.",
                        ErrorCode.HUB_UNREACHABLE) from exc
    changed = 0
    flags: dict[str, str] = {}
    for path in sorted(Path(folder).glob(f"{HUB_PATH_IN_REPO}/*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            votes, file_flags = read_log(handle)
        changed += store.import_votes(votes)
        for battle_id, flag in file_flags.items():
            flags.setdefault(battle_id, flag)
    return changed + store.import_flags(flags)

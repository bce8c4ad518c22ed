"""The arena vote store: battles and votes in one SQLite file (WAL) under Settings.data_dir.

Votes are the product's most valuable data, so this module is deliberately
boring: one connection guarded by a lock (SQLite serialises writers anyway,
and one connection avoids "database is locked" between our own threads), WAL
so readers never block the writer, and `synchronous=FULL` so that a vote whose
COMMIT returned survives a power loss as well as a process kill (NORMAL in WAL
mode only survives process crashes). A UNIQUE constraint on `votes.battle_id`
makes a second vote for the same battle impossible even when two requests
race past the arena's checks at the same time.

When `Settings.votes_repo` is set, every committed vote (and every trust flag set
later) also goes to the Hub vote log (apex_demo.arena.hub_log), and an empty local
store is restored from it at start (Spaces disks are ephemeral). The restore never
decides whether the app starts: a Hub that cannot be reached is logged, and the
leaderboard's pull, once a minute, restores what the start could not.

A database that fails while the app runs (a full data disk, a damaged file) answers
every call with `VoteError(vote_store_unavailable)` and a message that says what to do,
never with SQLite's own exception. Long reads (exports) run on a connection of their
own (`VoteReader`), so they never hold the lock that votes and battles wait for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from apex_demo.arena.hub_log import HUB_FOLDER, HubVoteLog, LogSeal, Restored, restore_from_hub
from apex_demo.arena.records import (BATTLE_COLUMNS, VOTE_COLUMNS, Battle, Refusal, Vote, VoteRefused)
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, VoteError

LOG = logging.getLogger(__name__)

DB_FILENAME = "votes.sqlite3"
DB_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's own files next to the database
BUSY_TIMEOUT_MS = 10_000
READ_BATCH_ROWS = 1000            # rows fetched at a time by a VoteReader
STORE_FAILED = ("The vote store cannot be used right now ({detail}). Nothing was stored; please try again later. "
                "If it keeps happening, the site's owner should check the disk that holds APEX_DATA_DIR "
                "(free space, permissions, a damaged votes.sqlite3).")


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
    (   # who may count (client hash, signed in) and the anomaly flag; battle pruning by age
        "ALTER TABLE votes ADD COLUMN client TEXT",
        "ALTER TABLE votes ADD COLUMN signed_in INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE votes ADD COLUMN flag TEXT",
        "CREATE INDEX IF NOT EXISTS votes_session ON votes (session, served_at)",
        "CREATE INDEX IF NOT EXISTS battles_served_at ON battles (served_at)",
    ),
    (   # the battle's kind (vocal and instrumental boards), the rule behind the model's pick (the data
        # release), and the trust check's look at one client's recent votes
        "ALTER TABLE battles ADD COLUMN instrumental INTEGER",
        "ALTER TABLE votes ADD COLUMN instrumental INTEGER",
        "ALTER TABLE votes ADD COLUMN model_rule TEXT",
        "CREATE INDEX IF NOT EXISTS votes_client ON votes (client, voted_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def store_files(data_dir: Path) -> list[Path]:
    """The files of the vote store under `data_dir` that nothing else may ever write: the database,
    SQLite's own files beside it (whether they exist now or not) and the Hub log files."""
    database = data_dir / DB_FILENAME
    return [database, *(database.with_name(database.name + side) for side in DB_SIDE_FILES),
            *sorted((data_dir / HUB_FOLDER).glob("*.jsonl"))]


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
    return tuple(record[c] for c in VOTE_COLUMNS)


def _vote_from_row(row: Sequence[Any]) -> Vote:
    record = dict(zip(VOTE_COLUMNS, row))
    record["scores_a"] = json.loads(record["scores_a"]) if record["scores_a"] else None
    record["scores_b"] = json.loads(record["scores_b"]) if record["scores_b"] else None
    return Vote.from_record(record)


def _votes_from_rows(rows: Iterable[Sequence[Any]], where: Path) -> Iterator[Vote]:
    """The rows as votes; a row that is not a valid vote (stored by an older version from a poisoned
    replica log) is left out and logged, so it never breaks the board or an export."""
    bad = 0
    for row in rows:
        try:
            yield _vote_from_row(row)
        except ValueError as exc:  # BadRecord, or scores that are not JSON
            bad += 1
            if bad == 1:
                LOG.warning("vote store %s: leaving out an invalid vote row (%s)", where.name, exc)
    if bad:
        LOG.warning("vote store %s: %d invalid vote rows left out", where.name, bad)


def _unavailable(exc: sqlite3.Error, path: Path) -> VoteError:
    LOG.error("vote database %s failed: %r", path, exc)  # the full path for the operator's log only
    return VoteError(STORE_FAILED.format(detail=exc), ErrorCode.VOTE_STORE_UNAVAILABLE)


class VoteReader:
    """Every vote, as one consistent snapshot, read on a read-only connection of its own.

    Opened by `VoteStore.reader()` for long reads (exports of 100,000 votes): the store's own
    connection and lock stay free for votes and battles, WAL lets the writer go on, and rows are
    fetched READ_BATCH_ROWS at a time, so memory does not grow with the number of votes.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                         timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            self._conn.execute("BEGIN")   # one snapshot for the counts and every row
            self.votes, self.flagged = self._conn.execute("SELECT COUNT(*), COUNT(flag) FROM votes").fetchone()
        except sqlite3.Error as exc:
            raise _unavailable(exc, path) from exc

    @property
    def version(self) -> tuple[int, int]:
        """(votes, flagged votes) of this snapshot: what an export of it is named by."""
        return int(self.votes), int(self.flagged)

    def __iter__(self) -> Iterator[Vote]:
        try:
            cursor = self._conn.execute(f"SELECT {','.join(VOTE_COLUMNS)} FROM votes ORDER BY id")
            while rows := cursor.fetchmany(READ_BATCH_ROWS):
                yield from _votes_from_rows(rows, self._path)
        except sqlite3.Error as exc:
            raise _unavailable(exc, self._path) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "VoteReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()



class VoteStore:
    """Thread-safe store of battles and votes in one SQLite file."""

    def __init__(self, path: Path, hub: "HubVoteLog | None" = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last_restore: Restored | None = None
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
        """The store for these settings, restored from / logging to the Hub when configured. A restore
        that fails is logged, not raised: the leaderboard's pull retries it once a minute."""
        path = Path(settings.data_dir) / DB_FILENAME
        if not settings.votes_repo:
            return cls(path)
        store, seal = cls(path), LogSeal(settings.vote_salt)
        if store.count() == 0:
            try:
                store._restored(restore_from_hub(store, settings.votes_repo, settings.hf_token, seal))
            except ApexError as exc:
                LOG.warning("starting without the Hub's votes for now (the leaderboard's pull retries): %s",
                            exc.message)
        store._hub = HubVoteLog(settings.votes_repo, settings.hf_token, Path(settings.data_dir) / HUB_FOLDER, seal)
        return store

    def _restored(self, restored: Restored) -> int:
        """Log what a restore or pull did (at warning level when lines were left out, once per change)."""
        if restored != self._last_restore:
            level = logging.WARNING if restored.skipped or restored.unsealed else logging.INFO
            LOG.log(level, "vote store %s from the Hub: %s", self.path.name, restored.describe())
        self._last_restore = restored
        return restored.changed

    @property
    def last_restore(self) -> Restored | None:
        """What the last restore or pull read, imported and left out (None before the first)."""
        return self._last_restore

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The store's connection under its lock; a database failure becomes vote_store_unavailable
        (constraint violations stay sqlite3.IntegrityError: the caller words them)."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error)."""
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection and push pending Hub uploads."""
        with self._lock:
            self._conn.close()
        if self._hub is not None:
            self._hub.stop()

    # -- battles ---------------------------------------------------------------------------
    def add_battle(self, battle: Battle) -> None:
        """Persist a served battle (so a restart does not invalidate battles being listened to)."""
        values = tuple(getattr(battle, c) for c in BATTLE_COLUMNS)
        marks = ",".join("?" * len(values))
        with self._db():
            self._conn.execute(f"INSERT INTO battles ({','.join(BATTLE_COLUMNS)}) VALUES ({marks})", values)

    def get_battle(self, battle_id: str) -> Battle | None:
        with self._db():
            row = self._conn.execute(f"SELECT {','.join(BATTLE_COLUMNS)} FROM battles WHERE battle_id = ?",
                                     (battle_id,)).fetchone()
        if not row:
            return None
        battle = Battle(*row)
        return battle if battle.instrumental is None else replace(battle, instrumental=bool(battle.instrumental))

    def prune_battles(self, served_before: float) -> int:
        """Delete battles served before this time (expired: they can no longer be voted on, and
        each vote keeps its own copy of the battle's fields); returns how many went."""
        with self._db():
            return self._conn.execute("DELETE FROM battles WHERE served_at < ?", (served_before,)).rowcount


    # -- votes -----------------------------------------------------------------------------
    def add_vote(self, vote: Vote) -> None:
        """Commit one vote; returns only after COMMIT. A second vote for a battle is refused."""
        row = _vote_row(vote)
        marks = ",".join("?" * len(row))
        try:
            with self._db():
                self._conn.execute(f"INSERT INTO votes ({','.join(VOTE_COLUMNS)}) VALUES ({marks})", row)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise VoteRefused(Refusal.ALREADY_VOTED, "This battle already has a vote; "
                                  "start a new battle.") from None
            raise VoteError(f"the vote was not stored: {exc}", ErrorCode.BAD_REQUEST) from exc
        if self._hub is not None:
            self._hub.append(vote)

    def import_votes(self, votes: Iterable[Vote]) -> tuple[int, int]:
        """Insert votes that are not there yet (restore, pull), row by row: a row the database refuses
        is left out and counted, the others still go in. Returns (new, refused)."""
        sql = (f"INSERT INTO votes ({','.join(VOTE_COLUMNS)}) VALUES ({','.join('?' * len(VOTE_COLUMNS))}) "
               "ON CONFLICT (battle_id) DO NOTHING")   # a vote already there is no error; a bad row is one
        new = refused = 0
        with self._transaction() as conn:
            for vote in votes:
                try:
                    new += conn.execute(sql, _vote_row(vote)).rowcount
                except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, TypeError,
                        ValueError) as exc:
                    refused += 1
                    LOG.warning("vote store %s: vote %.40r not imported: %s", self.path.name, vote.battle_id, exc)
        return new, refused

    def remote_count(self) -> int:
        """Votes on battles this replica never served: pulled from the Hub dataset (other replicas,
        or this Space's earlier runs restored at start)."""
        with self._db():
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
        return self._restored(restore_from_hub(self, self._hub.repo_id, self._hub.token, self._hub.seal))

    def has_vote(self, battle_id: str) -> bool:
        with self._db():
            return self._conn.execute("SELECT 1 FROM votes WHERE battle_id = ?", (battle_id,)).fetchone() is not None

    def count(self) -> int:
        with self._db():
            return int(self._conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0])

    def version(self) -> tuple[int, int]:
        """(votes, flagged votes): changes whenever a vote is added or flagged (exports are named by it)."""
        with self._db():
            votes, flagged = self._conn.execute("SELECT COUNT(*), COUNT(flag) FROM votes").fetchone()
        return int(votes), int(flagged)

    def votes(self) -> list[Vote]:
        """Every vote, oldest first (invalid rows left out and logged)."""
        with self._db():
            rows = self._conn.execute(f"SELECT {','.join(VOTE_COLUMNS)} FROM votes ORDER BY id").fetchall()
        return list(_votes_from_rows(rows, self.path))

    def reader(self) -> VoteReader:
        """Every vote as one snapshot on a connection of its own (for long reads: exports)."""
        return VoteReader(self.path)

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
        with self._transaction() as conn:
            for battle_id, flag in flags.items():
                cursor = conn.execute("UPDATE votes SET flag = ? WHERE battle_id = ? AND flag IS NULL", (flag, battle_id))
                if cursor.rowcount:
                    changed.append(battle_id)
        return changed



"""The Hub vote log: an append-only JSONL file per process that a Hub dataset collects, and the
restore that reads every replica's file back.

When `Settings.votes_repo` is set, every committed vote (and every trust flag set on a vote
later, as a flag line) is also appended to a per-process JSONL file that
`huggingface_hub.CommitScheduler` uploads to that dataset (files are only ever appended to,
never rewritten), and an empty local store is restored from the dataset at start (Spaces disks
are ephemeral). Several replicas may share one dataset: each writes its own file, and the
store's `pull_from_hub` (run by the leaderboard's background refresh, at most once a minute)
imports all of them, deduplicated by battle id.

Everything read back is outside input: a file may hold a torn line, bytes that are not UTF-8, a
line of any length or a record of any shape. Each file is read line by line (at most
MAX_LINE_BYTES each), each line decoded and checked on its own (`Vote.from_record`), and what is
skipped is counted by reason and logged; one bad line never costs the rest of the file, and no
content stops the app. What a vote may claim beyond itself (its voter was signed in, a flag that
keeps it off the board) counts only under a seal: an HMAC of the line under a key derived from
the vote salt, which only replicas sharing `APEX_VOTE_SALT` hold. A line without a valid seal
still brings its vote, but as not signed in and unflagged, and a flag line without one is skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping, Protocol, TypeGuard

from apex_demo.arena.records import MAX_TEXT_CHARS, BadRecord, Vote
from apex_demo.errors import ApexError, ErrorCode


class VoteSink(Protocol):
    """What a restore writes into: the vote store (arena/store.py, which imports this module to log to the
    Hub; a protocol here keeps the two from importing each other)."""

    def import_votes(self, votes: Iterable[Vote]) -> tuple[int, int]: ...

    def import_flags(self, flags: Mapping[str, str]) -> int: ...


LOG = logging.getLogger(__name__)

HUB_FOLDER = "hub_votes"          # local folder under data_dir that CommitScheduler watches
HUB_PATH_IN_REPO = "votes"        # folder inside the Hub dataset
HUB_EVERY_MINUTES = 1.0
RECORD_KIND = "record"            # key that marks a Hub log line that is not a vote...
FLAG_RECORD = "flag"              # ...but a trust flag on a vote logged earlier
SEAL_KEY = "seal"                 # the line's HMAC (hex), over every other key
SEAL_CONTEXT = b"apex-demo hub vote log v1"
MAX_LINE_BYTES = 64 * 1024        # a vote line is about 1 KB; longer lines are skipped unread
FUTURE_SLACK_S = 24 * 3600.0      # a vote cast later than this from now is not plausible
TOO_LONG = "line longer than 64 KiB"


class LogSeal:
    """Seals the log lines this replica writes and checks those it reads.

    The key is derived from the vote salt (`Settings.vote_salt`), so every replica with the same salt
    accepts the others' seals; without a salt it is random per process, and nothing read back counts
    as sealed (a restart then restores votes without their sign-in and flags).
    """

    def __init__(self, salt: str | None) -> None:
        secret = salt.encode() if salt else secrets.token_bytes(32)
        self._key = hmac.new(secret, SEAL_CONTEXT, hashlib.sha256).digest()

    def _mac(self, record: Mapping[str, Any]) -> str:
        body = {k: v for k, v in record.items() if k != SEAL_KEY}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def seal(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record with its seal."""
        return {**record, SEAL_KEY: self._mac(record)}

    def verify(self, record: Mapping[str, Any]) -> bool:
        """Whether the record carries a valid seal (written by a replica holding the key, unchanged)."""
        seal = record.get(SEAL_KEY)
        try:
            return isinstance(seal, str) and hmac.compare_digest(seal, self._mac(record))
        except ValueError:  # NaN or infinity somewhere: never written by this code
            return False


@dataclass
class LogRead:
    """What a Hub log held: valid votes, sealed flags, and what was skipped (reason -> lines)."""

    votes: list[Vote] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    unsealed: int = 0  # votes read without a valid seal: kept, but not signed in and not flagged

    def add(self, other: "LogRead") -> None:
        self.votes += other.votes
        for battle_id, flag in other.flags.items():
            self.flags.setdefault(battle_id, flag)
        self.skipped.update(other.skipped)
        self.unsealed += other.unsealed


def log_lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """Each line of a log file as bytes; None for a line over MAX_LINE_BYTES, whose rest is skipped
    without being held in memory."""
    while line := handle.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def read_log(lines: Iterable[str | bytes | None], seal: LogSeal, now: float | None = None) -> LogRead:
    """Parse a Hub vote log line by line: its votes, and the trust flags set on votes after they were
    logged (battle id -> first flag, from sealed `{"record": "flag", ...}` lines). Every other line (torn,
    not UTF-8, not a vote, a vote cast more than a day after `now`) is skipped and counted by reason."""
    latest = (time.time() if now is None else now) + FUTURE_SLACK_S
    read = LogRead()
    for line in lines:
        try:
            _read_line(line, seal, latest, read)
        except _Skip as skip:
            read.skipped[skip.reason] += 1
    return read


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_line(line: str | bytes | None, seal: LogSeal, latest: float, read: LogRead) -> None:
    record = _record(line)
    if record is None:
        return
    if RECORD_KIND in record:
        battle_id, flag = record.get("battle_id"), record.get("flag")
        if record[RECORD_KIND] != FLAG_RECORD or not _short_text(battle_id) or not _short_text(flag):
            raise _Skip("not a vote or flag line")
        if not seal.verify(record):
            raise _Skip("flag without a valid seal")
        read.flags.setdefault(battle_id, flag)
        return
    try:
        vote = Vote.from_record(record)
    except BadRecord as exc:
        raise _Skip(f"invalid {exc.field}") from None
    if vote.voted_at > latest:
        raise _Skip("cast in the future")
    if not seal.verify(record):
        read.unsealed += 1
        vote = replace(vote, signed_in=False, flag=None)
    read.votes.append(vote)


def _record(line: str | bytes | None) -> dict[str, Any] | None:
    """One line as a JSON object; None for a blank line."""
    if line is None:
        raise _Skip(TOO_LONG)
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise _Skip("not UTF-8") from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise _Skip("not JSON (a torn line)") from None
    if not isinstance(record, dict):
        raise _Skip("not a JSON object")
    return record


def _short_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT_CHARS


def flag_record(battle_id: str, flag: str) -> dict[str, str]:
    """The Hub log line that flags an already logged vote (the log is append-only)."""
    return {RECORD_KIND: FLAG_RECORD, "battle_id": battle_id, "flag": flag}


# -- Hub durability ------------------------------------------------------------------------
class HubVoteLog:
    """Append-only JSONL log that CommitScheduler pushes to a Hub dataset every minute.

    Each process writes its own `votes-<uuid>.jsonl`, so replicas never overwrite
    each other's files, and lines are only ever appended, each with its seal.
    """

    def __init__(self, repo_id: str, token: str | None, folder: Path, seal: LogSeal) -> None:
        import huggingface_hub  # imported here: only needed when the Hub log is enabled

        folder.mkdir(parents=True, exist_ok=True)
        self.repo_id, self.token, self.seal = repo_id, token, seal
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
        """Append a flag line per vote the trust check left out (already set locally)."""
        ids = list(battle_ids)
        self._write([flag_record(b, flag) for b in ids], f"flags on {len(ids)} votes")

    def _write(self, records: list[dict[str, Any]], what: str) -> None:
        try:
            with self._scheduler.lock:
                with self.file.open("a", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(self.seal.seal(r), sort_keys=True) + "\n" for r in records)
        except OSError as exc:
            LOG.error("%s committed locally but not written to the Hub log: %s", what, exc)

    def stop(self) -> None:
        """Upload what is pending and stop the background thread."""
        self._scheduler.trigger()
        self._scheduler.stop()


@dataclass(frozen=True)
class Restored:
    """One restore or pull: what changed in the store, and what the logs held that was left out."""

    files: int
    new_votes: int
    new_flags: int
    skipped: tuple[tuple[str, int], ...]   # (reason, lines), most frequent first
    unsealed: int

    @property
    def changed(self) -> int:
        return self.new_votes + self.new_flags

    def describe(self) -> str:
        left_out = ", ".join(f"{n} {reason}" for reason, n in self.skipped) or "none"
        return (f"{self.files} log files: {self.new_votes} new votes, {self.new_flags} new flags; lines skipped: "
                f"{left_out}; votes without a valid seal (kept, not signed in, unflagged): {self.unsealed}")


def read_replica_logs(folder: Path, seal: LogSeal) -> tuple[int, LogRead]:
    """Every replica's JSONL file under `folder`, read line by line; (files, what they held)."""
    files, read = 0, LogRead()
    for path in sorted(folder.glob(f"{HUB_PATH_IN_REPO}/*.jsonl")):
        try:
            with path.open("rb") as handle:
                read.add(read_log(log_lines(handle), seal))
            files += 1
        except OSError as exc:
            LOG.warning("cannot read the Hub vote log %s: %s", path.name, exc)
            read.skipped["unreadable file"] += 1
    return files, read


def restore_from_hub(store: VoteSink, repo_id: str, token: str | None, seal: LogSeal) -> Restored:
    """Fill a store from the dataset's JSONL logs, vote by vote, then set the sealed trust flags they
    hold (a flag may sit in another replica's file than its vote)."""
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        folder = huggingface_hub.snapshot_download(repo_id=repo_id, repo_type="dataset", token=token,
                                                   allow_patterns=[f"{HUB_PATH_IN_REPO}/*.jsonl"])
    except RepositoryNotFoundError:
        return Restored(0, 0, 0, (), 0)  # first start: the dataset is created by the first upload
    except Exception as exc:
        raise ApexError(f"cannot restore votes from the Hub dataset {repo_id!r} ({type(exc).__name__}: "
                        f"{exc}); check the network and HF_TOKEN, or unset APEX_VOTES_REPO.",
                        ErrorCode.HUB_UNREACHABLE) from exc
    files, read = read_replica_logs(Path(folder), seal)
    new_votes, refused = store.import_votes(read.votes)
    if refused:
        read.skipped["refused by the store"] += refused
    return Restored(files, new_votes, store.import_flags(read.flags), tuple(read.skipped.most_common()),
                    read.unsealed)

"""The Hub vote log: an append-only JSONL file per process that a Hub dataset collects, and the
restore that reads every replica's file back.

When `Settings.votes_repo` is set, every committed vote (and every anomaly flag set on a vote
later, as a flag line) is also appended to a per-process JSONL file that
`huggingface_hub.CommitScheduler` uploads to that dataset (files are only ever appended to,
never rewritten), and an empty local store is restored from the dataset at start (Spaces disks
are ephemeral). Several replicas may share one dataset: each writes its own file, and the
store's `pull_from_hub` (run by the leaderboard's background refresh, at most once a minute)
imports all of them, deduplicated by battle id.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from apex_demo.arena.records import Vote
from apex_demo.errors import ApexError, ErrorCode

if TYPE_CHECKING:  # the store imports this module to log to the Hub
    from apex_demo.arena.store import VoteStore

LOG = logging.getLogger(__name__)

HUB_FOLDER = "hub_votes"          # local folder under data_dir that CommitScheduler watches
HUB_PATH_IN_REPO = "votes"        # folder inside the Hub dataset
HUB_EVERY_MINUTES = 1.0
RECORD_KIND = "record"            # key that marks a Hub log line that is not a vote...
FLAG_RECORD = "flag"              # ...but an anomaly flag on a vote logged earlier


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


def restore_from_hub(store: "VoteStore", repo_id: str, token: str | None) -> int:
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


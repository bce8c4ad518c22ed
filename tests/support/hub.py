"""Stand-ins for the Hugging Face Hub that bind the real functions' signatures: a dataset repo in a folder
(the vote log's CommitScheduler and snapshot_download), and a pool dataset downloaded into `local_dir`."""

from __future__ import annotations

import fnmatch
import inspect
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import huggingface_hub

from apex_demo.config import Settings
from tests.support.arena import vote

VOTES_REPO = "team/apex-votes"
# Taken before any test replaces these names with the fakes below.
SCHEDULER_SIGNATURE = inspect.signature(huggingface_hub.CommitScheduler)
DOWNLOAD_SIGNATURE = inspect.signature(huggingface_hub.snapshot_download)


class FakeHub:
    """One dataset repo in a folder; schedulers push their watched folder into it on trigger()."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.schedulers: list[Any] = []
        self.downloads: list[inspect.BoundArguments] = []
        hub = self

        class CommitScheduler:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                bound = SCHEDULER_SIGNATURE.bind(*args, **kwargs)
                self.args = bound.arguments
                assert self.args["repo_id"] == VOTES_REPO and self.args["repo_type"] == "dataset"
                self.lock = threading.Lock()
                hub.schedulers.append(self)

            def trigger(self) -> None:
                """Upload the watched folder's files matching allow_patterns (the real one does this
                every `every` minutes in a thread)."""
                target = hub.root / (self.args.get("path_in_repo") or "")
                target.mkdir(parents=True, exist_ok=True)
                patterns = self.args.get("allow_patterns") or ["*"]
                with self.lock:
                    for path in Path(self.args["folder_path"]).iterdir():
                        if any(fnmatch.fnmatch(path.name, p) for p in patterns):
                            shutil.copy(path, target / path.name)

            def stop(self) -> None:
                pass

        self.CommitScheduler = CommitScheduler

    def snapshot_download(self, *args: Any, **kwargs: Any) -> str:
        bound = DOWNLOAD_SIGNATURE.bind(*args, **kwargs)
        assert bound.arguments["repo_id"] == VOTES_REPO and bound.arguments["repo_type"] == "dataset"
        self.downloads.append(bound)
        local = self.root.parent / f"download-{len(self.downloads)}"   # a fresh copy, as from the Hub
        shutil.copytree(self.root, local)
        return str(local)

    def push_all(self) -> None:
        for scheduler in self.schedulers:
            scheduler.trigger()


def replica(tmp_path: Path, name: str) -> Settings:
    """The settings of one app replica logging to the shared vote dataset."""
    return Settings(data_dir=tmp_path / name, votes_repo=VOTES_REPO, hf_token="hf_test", vote_salt="salt",
                    min_listen_s=0.0)


def pool_download(source: Path, calls: list[dict[str, Any]]):
    """A stand-in for huggingface_hub.snapshot_download that fills `local_dir` from `source`."""

    def snapshot_download(**kwargs: Any) -> str:
        calls.append(kwargs)
        target = Path(kwargs["local_dir"])
        shutil.copytree(source, target, dirs_exist_ok=True)
        return str(target)

    return snapshot_download


def _line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


POISON = [  # (lines of a poisoned replica file, the reason each is skipped when read; None: kept)
    (b'\xff\xfe{"battle_id": "e0"}\n', "not UTF-8"),
    (_line({**vote("e2").to_record(), "scores_a": "oops"}), "invalid scores_a"),
    (_line({**vote("e3").to_record(), "scores_b": {"streams!": 5}}), "invalid scores_b"),
    (_line({**vote("e4").to_record(), "voted_at": "tomorrow"}), "invalid voted_at"),
    (_line({**vote("e5").to_record(), "voted_at": 1e300}), "invalid voted_at"),
    (_line({**vote("e6").to_record(), "listened_a_s": [1, 2]}), "invalid listened_a_s"),  # SQLite refused the file
    (_line({**vote("e7").to_record(), "clip_a": {"x": 1}}), "invalid clip_a"),
    (_line({**vote("e8").to_record(), "served_at": float("nan")}), "invalid served_at"),
    (_line(vote("e9", voted_at=time.time() + 10 * 86400).to_record()), "cast in the future"),
    (_line({**vote("e10").to_record(), "served_at": 2000.0}), "invalid voted_at"),    # voted before it was served
    (_line({**vote("e1").to_record(), "signed_in": True, "flag": None}), None),   # claims sign-in, unsealed
    (_line({"record": "flag", "battle_id": "legit-2", "flag": "anomaly:forged"}), "flag without a valid seal"),
    (b"[" * 60_000 + b"\n", "not JSON (a torn line)"),
    (b"x" * 100_000 + b"\n", "line longer than 64 KiB"),
    (_line(["a", "list"]), "not a JSON object"),
]


CREATE_REPO_SIGNATURE = inspect.signature(huggingface_hub.create_repo)
UPLOAD_FILE_SIGNATURE = inspect.signature(huggingface_hub.upload_file)


class FakeDatasetRepos:
    """Hub dataset repos in a folder, for `create_repo` and `upload_file` (the data release's push); every
    call is bound to the real function's signature first, so a wrong argument fails here as it would there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[dict[str, Any]] = []

    def create_repo(self, *args: Any, **kwargs: Any) -> str:
        bound = CREATE_REPO_SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        self.created.append(dict(bound.arguments))
        (self.root / bound.arguments["repo_id"]).mkdir(parents=True, exist_ok=bound.arguments["exist_ok"])
        return f"https://huggingface.co/datasets/{bound.arguments['repo_id']}"

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        bound = UPLOAD_FILE_SIGNATURE.bind(*args, **kwargs)
        repo = self.root / bound.arguments["repo_id"]
        assert repo.is_dir(), "upload_file into a repo that was never created"
        assert bound.arguments.get("repo_type") == "dataset"
        target = repo / bound.arguments["path_in_repo"]
        target.parent.mkdir(parents=True, exist_ok=True)
        data = bound.arguments["path_or_fileobj"]
        target.write_bytes(data if isinstance(data, bytes) else Path(data).read_bytes())

"""The data release: every vote as one Parquet table with a documented schema, optionally pushed to a Hub
dataset, that `apex-demo eval` reads back.

Column names follow the APEX authors' notebook where it has them (`battle_uuid`, `system_a`, `system_b`,
`is_instrumental`, `user_preference`, `pred_<score>_a` / `pred_<score>_b` with the notebook's score names)
and Music Arena's release otherwise. Nobody is named: the voter is a salted pseudonym made for the release
(HMAC-SHA256 under the vote salt of the stored client key, itself already salted; never an address), and
the ids of visitors' own uploaded takes are replaced the same way. The schema is documented in
docs/arena-data.md; DATASET_COLUMNS is its one statement in code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

from apex_demo.arena.paper_table import KEY_OF_NAME
from apex_demo.arena.pseudonyms import Pseudonyms
from apex_demo.arena.records import SOURCE_POOL, Vote
from apex_demo.errors import ApexError, ErrorCode

DATASET_FORMAT = "dataset"
DATASET_PATH_IN_REPO = "data/votes.parquet"
CARD_PATH_IN_REPO = "README.md"
PSEUDONYM_PREFIX = "release:"     # release pseudonyms differ from every key the store keeps
UPLOAD_CLIP_PREFIX = "upload-"

# (column, Arrow type, meaning): the release's schema, in order
DATASET_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("battle_uuid", "string", "the battle's random id (192 bits)"),
    ("source", "string", "pool (the arena's clips) or upload (a visitor's own two takes)"),
    ("system_a", "string", "system (generator, artist) of clip A; uploads: your take 1 / your take 2"),
    ("system_b", "string", "system of clip B"),
    ("clip_a", "string", "clip id of A in the pool (uploads: a salted pseudonym)"),
    ("clip_b", "string", "clip id of B"),
    ("is_instrumental", "bool", "both clips instrumental (true), both with vocals (false), else null"),
    ("user_preference", "string", "the listener's verdict: A, B, TIE or BOTH_BAD"),
    ("listen_time_a_s", "float64", "seconds the listener heard A before voting"),
    ("listen_time_b_s", "float64", "seconds the listener heard B before voting"),
    ("served_at", "timestamp", "when the battle was served (UTC)"),
    ("voted_at", "timestamp", "when the vote was cast (UTC)"),
    ("voter", "string", "salted pseudonym of the voting client (signed-in user or address), made for the release"),
    ("signed_in", "bool", "voted while signed in with Hugging Face"),
    ("model", "string", "the scoring models (encoder + head) behind the predictions"),
    ("model_preference", "string", "the model's pick: A, B or TIE (null when a clip had no scores)"),
    ("model_rule", "string", "the rule that made the pick: fixed (higher overall score) or learned"),
    *((f"pred_{name}_{side}", "float64", f"APEX's {key} for clip {side.upper()}")
      for name, key in KEY_OF_NAME.items() for side in "ab"),
    ("left_out", "string", "why the leaderboard leaves this vote out (a trust signal and its reason), else null"),
)
DATASET_COLUMN_NAMES = tuple(name for name, _, _ in DATASET_COLUMNS)


def _schema() -> Any:
    import pyarrow as pa  # with the release only

    types = {"string": pa.string(), "bool": pa.bool_(), "float64": pa.float64(),
             "timestamp": pa.timestamp("ms", tz="UTC")}
    return pa.schema([(name, types[kind]) for name, kind, _ in DATASET_COLUMNS])


def _score(scores: dict[str, float] | None, key: str) -> float | None:
    value = (scores or {}).get(key)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def dataset_row(vote: Vote, pseudonyms: Pseudonyms) -> dict[str, Any]:
    """One vote as a release row (timestamps as unix seconds; the writer types them)."""
    def clip(clip_id: str) -> str:
        return clip_id if vote.source == SOURCE_POOL else UPLOAD_CLIP_PREFIX + pseudonyms.of(PSEUDONYM_PREFIX + clip_id)

    row: dict[str, Any] = {
        "battle_uuid": vote.battle_id, "source": vote.source, "system_a": vote.system_a, "system_b": vote.system_b,
        "clip_a": clip(vote.clip_a), "clip_b": clip(vote.clip_b), "is_instrumental": vote.instrumental,
        "user_preference": vote.choice.value, "listen_time_a_s": vote.listened_a_s,
        "listen_time_b_s": vote.listened_b_s, "served_at": vote.served_at, "voted_at": vote.voted_at,
        "voter": pseudonyms.of(PSEUDONYM_PREFIX + (vote.client or vote.session)), "signed_in": vote.signed_in,
        "model": vote.model, "model_preference": vote.model_choice.value if vote.model_choice else None,
        "model_rule": vote.model_rule if vote.model_choice else None, "left_out": vote.flag,
    }
    for name, key in KEY_OF_NAME.items():
        row[f"pred_{name}_a"], row[f"pred_{name}_b"] = _score(vote.scores_a, key), _score(vote.scores_b, key)
    return row


def write_dataset(votes: Iterable[Vote], path: Path, salt: str | None) -> int:
    """Write the release as Parquet (written beside `path`, then moved in place); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pseudonyms = Pseudonyms(salt)
    rows = [dataset_row(v, pseudonyms) for v in votes]
    columns = {name: [r[name] for r in rows] for name in DATASET_COLUMN_NAMES}
    for stamp in ("served_at", "voted_at"):
        columns[stamp] = [round(t * 1000) for t in columns[stamp]]
    table = pa.Table.from_pydict(columns, schema=_schema())
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    partial.replace(path)
    return len(rows)


def dataset_card(rows: int) -> str:
    """The Hub dataset's README: what the release is and its schema."""
    lines = ["---", "license: cc-by-4.0", "tags:", "- music", "- preference", "- arena", "configs:",
             "- config_name: default", "  data_files: " + DATASET_PATH_IN_REPO, "---", "",
             "# APEX arena votes", "",
             f"Blind pairwise votes from an APEX Song Checker arena ({rows} votes). Both clips of a battle were "
             "played at the same loudness; votes flagged by the arena's trust check carry the reason in `left_out`. "
             "`python -m apex_demo eval data/votes.parquet` reproduces the APEX authors' Music Arena table from it.",
             "", "| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in DATASET_COLUMNS]
    return "\n".join(lines) + "\n"


def push_dataset(path: Path, rows: int, repo_id: str, token: str | None) -> str:
    """Upload the release (and its card) to a private Hub dataset, creating it when needed; returns its URL."""
    import huggingface_hub

    try:
        huggingface_hub.create_repo(repo_id, token=token, private=True, repo_type="dataset", exist_ok=True)
        huggingface_hub.upload_file(path_or_fileobj=dataset_card(rows).encode("utf-8"),
                                    path_in_repo=CARD_PATH_IN_REPO, repo_id=repo_id, token=token,
                                    repo_type="dataset", commit_message="Dataset card")
        huggingface_hub.upload_file(path_or_fileobj=str(path), path_in_repo=DATASET_PATH_IN_REPO, repo_id=repo_id,
                                    token=token, repo_type="dataset", commit_message=f"Votes: {rows}")
    except Exception as exc:  # network and auth errors come in many types: one clear message
        raise ApexError(f"cannot push the release to the Hub dataset {repo_id!r} ({type(exc).__name__}: {exc}); "
                        "check the network and that HF_TOKEN may write there. The Parquet file is written.",
                        ErrorCode.HUB_UNREACHABLE) from exc
    return f"https://huggingface.co/datasets/{repo_id}"

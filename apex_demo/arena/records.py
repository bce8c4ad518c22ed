"""The arena's typed records: a verdict, a served battle, a counted vote, who asked, why a vote was refused.

Kept apart from storage (apex_demo.arena.store) and from the web page, as Music Arena keeps its
records: every other arena module speaks in these, and their field names are what the exports carry.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Iterable, Mapping

from apex_demo.errors import ErrorCode, VoteError
from apex_demo.scores import OUTPUT_BY_KEY

SOURCE_POOL = "pool"      # a battle drawn from the arena's pool
SOURCE_UPLOAD = "upload"  # a visitor's own pair ("bring your own pair")
# What a stored or logged vote may hold (a record read back from elsewhere is checked against these)
MAX_TEXT_CHARS = 256               # ids, hashes, clip and system names, the model and the flag
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31 23:59:59 UTC, the last second a date can show
MAX_LISTEN_S = 86_400.0            # a day; the vote rules allow at most the clip's length plus a minute


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
    instrumental: bool | None = None  # both clips instrumental (True), both with vocals (False), else unknown


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
    flag: str | None = None     # set by the trust check (signal: reason): the vote is left out of the leaderboard
    instrumental: bool | None = None  # the battle's kind, from the pool (None: mixed, unknown, uploads)
    model_rule: str | None = None     # which rule made model_choice ("fixed" or "learned")

    def to_record(self) -> dict[str, Any]:
        """The JSON object of one vote (JSONL export and Hub log). Built field by field, not with
        dataclasses.asdict, whose deep copies made a 100,000-vote export three times slower."""
        record = {name: getattr(self, name) for name in VOTE_COLUMNS}
        record["choice"] = self.choice.value
        record["model_choice"] = self.model_choice.value if self.model_choice else None
        for side in ("scores_a", "scores_b"):
            record[side] = dict(record[side]) if record[side] is not None else None
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Vote":
        """Inverse of to_record, checked field by field, because records also come back from elsewhere
        (another replica's log, an old database): BadRecord names the first field that is not what
        this code writes. Unknown keys are ignored and missing optional ones take their defaults, so
        old logs stay readable."""
        if not isinstance(record, Mapping):
            raise BadRecord("record", f"is a {type(record).__name__}, not an object")
        served_at, voted_at = (_number(record, name, 0.0, MAX_TIMESTAMP) for name in ("served_at", "voted_at"))
        if voted_at < served_at:
            raise BadRecord("voted_at", "is before served_at")
        return cls(
            battle_id=_text(record, "battle_id", empty=False), choice=_choice(record, "choice", Choice),
            session=_text(record, "session"), source=_text(record, "source"),
            clip_a=_text(record, "clip_a"), clip_b=_text(record, "clip_b"),
            system_a=_text(record, "system_a"), system_b=_text(record, "system_b"),
            listened_a_s=_number(record, "listened_a_s", 0.0, MAX_LISTEN_S),
            listened_b_s=_number(record, "listened_b_s", 0.0, MAX_LISTEN_S),
            served_at=served_at, voted_at=voted_at,
            model_choice=_choice(record, "model_choice", (Choice.A, Choice.B, Choice.TIE), optional=True),
            scores_a=_scores(record, "scores_a"), scores_b=_scores(record, "scores_b"),
            model=_text(record, "model", optional=True), client=_text(record, "client", optional=True),
            signed_in=_flag(record, "signed_in"), flag=_text(record, "flag", optional=True),
            instrumental=_flag(record, "instrumental", optional=True),
            model_rule=_text(record, "model_rule", optional=True))


class BadRecord(ValueError):
    """A vote record that is not what this code writes; `field` names the first wrong field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


def _text(record: Mapping[str, Any], name: str, optional: bool = False, empty: bool = True) -> Any:
    value = record.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BadRecord(name, "is missing" if value is None else f"is a {type(value).__name__}, not text")
    if len(value) > MAX_TEXT_CHARS or (not value and not empty):
        raise BadRecord(name, f"must be text of {0 if empty else 1} to {MAX_TEXT_CHARS} characters")
    return value


def _in_range(value: object, low: float, high: float) -> bool:
    """A JSON number (not a boolean) from low to high; NaN compares false, so it is refused too."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def _number(record: Mapping[str, Any], name: str, low: float, high: float) -> float:
    value = record.get(name)
    if not _in_range(value, low, high):
        raise BadRecord(name, f"must be a number from {low:g} to {high:g}, got {str(value)[:40]!r}")
    return float(value)  # type: ignore[arg-type]


def _choice(record: Mapping[str, Any], name: str, allowed: Iterable[Choice], optional: bool = False) -> Any:
    value = record.get(name)
    if value is None and optional:
        return None
    names = {c.value: c for c in allowed}
    if not isinstance(value, str) or value not in names:
        raise BadRecord(name, f"must be one of {sorted(names)}, got {str(value)[:40]!r}")
    return names[value]


def _scores(record: Mapping[str, Any], name: str) -> dict[str, float] | None:
    """None, or some of the seven scores by name, each a number in its output's range."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise BadRecord(name, "must be an object of scores by name")
    for key, score in value.items():
        spec = OUTPUT_BY_KEY.get(key) if isinstance(key, str) else None
        if spec is None:
            raise BadRecord(name, f"holds {str(key)[:40]!r}, which is not a score name")
        if not _in_range(score, spec.low, spec.high):
            raise BadRecord(name, f"{key} must be a number from {spec.low:g} to {spec.high:g}")
    return {key: float(score) for key, score in value.items()}


def _flag(record: Mapping[str, Any], name: str, optional: bool = False) -> Any:
    """JSON true/false (the database's 1/0); with `optional`, also None (unknown)."""
    value = record.get(name, None if optional else False)
    if value is None and optional:
        return None
    if value not in (True, False):
        raise BadRecord(name, f"must be true or false, got {str(value)[:40]!r}")
    return bool(value)




VOTE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Vote))
BATTLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Battle))


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


def signal_of(flag: str) -> str:
    """The trust signal a stored flag belongs to (flags read "<signal>: <reason>", apex_demo.arena.trust)."""
    return flag.split(":", 1)[0].strip()


def counts_for_leaderboard(vote: Vote, signed_in_only: bool) -> bool:
    """Whether a stored vote enters the leaderboard: not flagged by the trust check, and
    signed in when the app only counts signed-in visitors (every vote is kept either way)."""
    return vote.flag is None and (vote.signed_in or not signed_in_only)


def excluded_summary(votes: Iterable[Vote], signed_in_only: bool) -> dict[str, Any]:
    """Votes kept but left out of the leaderboard, and why: per trust signal (a flag reads
    "<signal>: <reason>"), and (when only signed-in votes count) the anonymous ones."""
    flagged: dict[str, int] = {}
    anonymous = 0
    for vote in votes:
        if vote.flag is not None:
            flagged[signal_of(vote.flag)] = flagged.get(signal_of(vote.flag), 0) + 1
        elif signed_in_only and not vote.signed_in:
            anonymous += 1
    return {"flagged": flagged, "not_signed_in": anonymous, "signed_in_only": signed_in_only}


"""The arena's typed records: a verdict, a served battle, a counted vote, who asked, why a vote was refused.

Kept apart from storage (apex_demo.arena.store) and from the web page, as Music Arena keeps its
records: every other arena module speaks in these, and their field names are what the exports carry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, Iterable, Mapping

from apex_demo.errors import ErrorCode, VoteError

SOURCE_POOL = "pool"      # a battle drawn from the arena's pool
SOURCE_UPLOAD = "upload"  # a visitor's own pair ("bring your own pair")


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
        if values.get("instrumental") is not None:
            values["instrumental"] = bool(values["instrumental"])
        return cls(**values)




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


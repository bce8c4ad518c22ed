"""What a voter sees once the vote is in: who was who, the model's pick and the rule behind it, and
how often the model has agreed with decisive votes so far."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping, Sequence

from apex_demo.arena.picks import MODEL_PICK_DEFINITION
from apex_demo.arena.pool import PoolClip
from apex_demo.arena.records import Choice, Vote
from apex_demo.arena.stats import wilson_interval
from apex_demo.engine import overall_score

DECISIVE = (Choice.A, Choice.B)


def decisive_pick(vote: Vote) -> bool:
    """A vote that counts for agreement: the listener and the model each picked A or B."""
    return vote.choice in DECISIVE and vote.model_choice in DECISIVE


class RunningAgreement:
    """Agreement over decisive votes with a model pick, counted in memory (seeded from the store)."""

    def __init__(self, votes: Iterable[Vote] = ()) -> None:
        self._lock = threading.Lock()
        self._agreed = self._decided = 0
        for vote in votes:
            self.count(vote)

    def count(self, vote: Vote) -> None:
        if not decisive_pick(vote):
            return
        with self._lock:
            self._decided += 1
            self._agreed += int(vote.choice == vote.model_choice)

    def to_dict(self) -> dict[str, Any]:
        """k of n agreed, with the Wilson 95 % interval."""
        with self._lock:
            return wilson_interval(self._agreed, self._decided).to_dict()


class Reveal:
    """Builds the reveal of a stored vote: the pool's public metadata for each side and the scores."""

    def __init__(self, pool: Sequence[PoolClip], agreement: RunningAgreement, loudness_lufs: float) -> None:
        self._by_id = {c.clip_id: c for c in pool}
        self.agreement = agreement
        self.loudness_lufs = loudness_lufs

    def __call__(self, vote: Vote, rule: str | None, rule_text: str | None) -> dict[str, Any]:
        return {
            "accepted": True, "reason": None, "message": "vote counted",
            "battle_id": vote.battle_id, "choice": vote.choice.value,
            "model_choice": vote.model_choice.value if vote.model_choice else None,
            "agreed": (vote.choice == vote.model_choice) if decisive_pick(vote) else None,
            "model_pick_definition": MODEL_PICK_DEFINITION,
            "model_rule": rule, "model_rule_text": rule_text,
            "a": self._clip(vote.clip_a, vote.system_a, vote.scores_a),
            "b": self._clip(vote.clip_b, vote.system_b, vote.scores_b),
            "running_agreement": self.agreement.to_dict(),
            "loudness_lufs": self.loudness_lufs,   # both clips were played at this loudness (apex_demo.arena.loudness)
        }

    def _clip(self, clip_id: str, system: str, scores: Mapping[str, float] | None) -> dict[str, Any]:
        clip = self._by_id.get(clip_id)
        info: dict[str, Any] = clip.to_public() if clip else {"clip_id": clip_id, "system": system}
        info["scores"] = dict(scores) if scores else None
        info["overall"] = round(overall_score(scores), 2) if scores else None
        return info

"""The contract of what APEX predicts: seven named outputs, their ranges and meaning.

One place for keys, ranges, labels, colours and descriptions so the head, the
CLI, the plots, the About tab and the arena analysis never disagree.
Source: docs/reference.md, §1 "What APEX predicts".
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator, Mapping


@dataclass(frozen=True)
class OutputSpec:
    """One APEX output: its key, scale and how to present it."""

    key: str
    label: str
    low: float
    high: float
    color: str
    description: str

    @property
    def scale(self) -> float:
        """Multiplier after the sigmoid: sigmoid(x) * scale + shift."""
        return self.high - self.low

    @property
    def shift(self) -> float:
        return self.low


POPULARITY = (
    OutputSpec("score_streams", "Streams", 0.0, 100.0, "#2563eb",
               "Predicted streaming-engagement score (0-100). Trained on play counts of "
               "Suno and Udio songs mapped to percentiles, then power-transformed."),
    OutputSpec("score_likes", "Likes", 0.0, 100.0, "#db2777",
               "Predicted likes-engagement score (0-100). Trained on like counts of "
               "Suno and Udio songs mapped to percentiles, then power-transformed."),
)
AESTHETICS = (
    OutputSpec("coherence", "Coherence", 1.0, 5.0, "#0d9488",
               "SongEval dimension: overall coherence of the song (1-5)."),
    OutputSpec("musicality", "Musicality", 1.0, 5.0, "#7c3aed",
               "SongEval dimension: overall musicality (1-5)."),
    OutputSpec("memorability", "Memorability", 1.0, 5.0, "#ea580c",
               "SongEval dimension: how memorable the song is (1-5)."),
    OutputSpec("clarity", "Clarity", 1.0, 5.0, "#0891b2",
               "SongEval dimension: clarity of the song structure (1-5)."),
    OutputSpec("naturalness", "Naturalness", 1.0, 5.0, "#65a30d",
               "SongEval dimension: naturalness of vocal breathing and phrasing (1-5)."),
)
OUTPUTS: tuple[OutputSpec, ...] = POPULARITY + AESTHETICS
OUTPUT_BY_KEY: dict[str, OutputSpec] = {o.key: o for o in OUTPUTS}
POPULARITY_KEYS: tuple[str, ...] = tuple(o.key for o in POPULARITY)
AESTHETIC_KEYS: tuple[str, ...] = tuple(o.key for o in AESTHETICS)
SCORE_KEYS: tuple[str, ...] = POPULARITY_KEYS + AESTHETIC_KEYS


@dataclass(frozen=True)
class Scores:
    """The seven APEX outputs of one song or segment, by name.

    Aesthetic fields are None when the head is popularity-only.
    """

    score_streams: float
    score_likes: float
    coherence: float | None = None
    musicality: float | None = None
    memorability: float | None = None
    clarity: float | None = None
    naturalness: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> "Scores":
        """Build from a {key: value} mapping; unknown keys are an error."""
        unknown = set(values) - set(SCORE_KEYS)
        if unknown:
            raise KeyError(f"unknown score keys {sorted(unknown)}; known: {list(SCORE_KEYS)}")
        return cls(**{k: float(v) for k, v in values.items()})

    def as_dict(self) -> dict[str, float]:
        """Present outputs only, in the canonical order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def keys(self) -> tuple[str, ...]:
        return tuple(self.as_dict())

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(self.as_dict().items())

    @property
    def has_aesthetics(self) -> bool:
        return self.coherence is not None

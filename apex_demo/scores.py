"""The contract of what APEX predicts: seven named outputs, their ranges and meaning.

One place for keys, ranges, labels, colours and descriptions so the head, the
CLI, the plots, the About tab and the arena analysis never disagree.
Source: docs/reference.md, §1 "What APEX predicts". The aesthetic definitions are
SongEval's five dimensions; "sounds like" and "what to try" put them in a musician's
words (they describe what raters listened for, not what the model provably hears).
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
    high_means: str = ""  # what a high value sounds like
    low_means: str = ""   # what a low value sounds like
    to_try: str = ""  # one line: what to change when this score is low, fitting any song
    to_try_vocals: str = ""  # the same for a song known to have vocals (empty: `to_try` fits those too)
    sung: bool = False  # judges the singing: means little for an instrumental, which gets no verdict on it

    @property
    def scale(self) -> float:
        """Multiplier after the sigmoid: sigmoid(x) * scale + shift."""
        return self.high - self.low

    @property
    def shift(self) -> float:
        return self.low


POPULARITY_TRAINING = ("Trained on play/like counts of about 211k Suno and Udio songs, turned into percentiles "
                       "and then power-transformed (which squeezes the top), so it reads as \"more or less "
                       "engagement than typical songs there\", not as a chart position.")
POPULARITY_TO_TRY = ("Popularity is the model's weakest signal on new music (see \"How far to trust it\"); use the "
                     "five aesthetic scores to decide what to change.")
POPULARITY = (
    OutputSpec("score_streams", "Streams", 0.0, 100.0, "#2563eb",
               "Predicted streaming engagement: how many plays the model expects, compared with "
               "songs on Suno and Udio. " + POPULARITY_TRAINING,
               "like songs that were played a lot there", "like songs that were rarely played there",
               POPULARITY_TO_TRY),
    OutputSpec("score_likes", "Likes", 0.0, 100.0, "#db2777",
               "Predicted likes engagement: how many likes the model expects, compared with "
               "songs on Suno and Udio. " + POPULARITY_TRAINING,
               "like songs that listeners liked a lot there", "like songs that got few likes there",
               POPULARITY_TO_TRY),
)
AESTHETICS = (
    OutputSpec("coherence", "Coherence", 1.0, 5.0, "#0d9488",
               "SongEval's overall coherence. Does the song hang together as one piece: one style "
               "and sound, sections that follow from each other, vocals and backing that fit?",
               "one song from start to finish", "stitched together: sudden changes of style or sound, "
               "parts that do not fit",
               "Keep one genre, tempo and instrumentation; regenerate or cut the section that changes style."),
    OutputSpec("musicality", "Musicality", 1.0, 5.0, "#7c3aed",
               "SongEval's overall musicality. Are melody, harmony, rhythm and arrangement "
               "musically pleasing and well made?",
               "a strong melody over fitting chords, a tight groove, a clean full arrangement",
               "an aimless melody, clashing chords, a sloppy rhythm or a muddy or thin sound",
               "Ask for a clear genre and a few key instruments, and keep the take with the strongest melody."),
    OutputSpec("memorability", "Memorability", 1.0, 5.0, "#ea580c",
               "SongEval's memorability. Is there a hook, a melody or line you would still hum "
               "after one listen?",
               "a catchy chorus or riff that comes back", "nothing sticks; no part returns or stands out",
               "Give it a short hook that comes back several times: a chorus, or a riff or melody in an "
               "instrumental.",
               "Give it a short, singable chorus that repeats (mark [Chorus] in the lyrics)."),
    OutputSpec("clarity", "Clarity", 1.0, 5.0, "#0891b2",
               "SongEval's clarity of song structure. Can you tell the sections apart (intro, verse, "
               "chorus, bridge, outro) and follow where the song is going?",
               "clear sections with clean transitions", "one long stretch, or sections that blur or stop "
               "abruptly",
               "Give it sections you can tell apart (a change of melody, rhythm or instruments between them), "
               "an intro and an ending.",
               "Mark the sections in the lyrics ([Verse], [Chorus], [Bridge]) and give it an intro and an ending."),
    OutputSpec("naturalness", "Naturalness", 1.0, 5.0, "#65a30d",
               "SongEval's naturalness of vocal breathing and phrasing. Does the singing sound like "
               "a person: breaths in believable places, phrases of natural length? (Means little for "
               "instrumentals.)",
               "a believable singer with relaxed phrasing", "robotic or breathless vocals, words crammed "
               "together or cut off",
               "If the song has vocals: shorten long lyric lines so each fits one breath, and leave space "
               "between lines. On an instrumental this score means little.",
               "Shorten long lyric lines so each fits one breath, and leave space between lines.", sung=True),
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

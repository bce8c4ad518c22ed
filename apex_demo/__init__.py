"""APEX demo: score AI-generated songs with MERT-v1-95M and the APEX head.

The supported way in for a library user (names listed in __init__.pyi, imported on first use, so
`import apex_demo` stays light and nothing loads until it is asked for):

    from apex_demo import load_scorer, song_report

    scorer = load_scorer()                 # Settings from the APEX_* variables; models load once
    result = scorer.score_file("song.mp3") # a ScoreResult: scores, per-30 s segments, model, warnings
    result.scores.musicality               # named score fields (Scores); SCORE_KEYS lists all seven
    song_report(result).parts              # the verdicts a musician reads (weakest part, advice)

- `Settings`: every setting, validated (`Settings.from_env()` reads APEX_*).
- `load_scorer(settings=None)` / `get_scorer(settings)`: the process-wide `Scorer`, loaded once.
- `Scorer.score_file(path)` / `Scorer.iter_score(path)`: one `ScoreResult`, or partial results per segment.
- `song_report(result)`: a `SongReport` (overall score, readings, strongest and weakest dimension,
  advice, the weakest part); `rank_takes(takes, by)`: several takes, ties within the tolerance sharing a rank.
- `Scores`, `SCORE_KEYS`, `OUTPUTS`: the seven outputs, their ranges and meaning.
- `ApexError` and `ErrorCode`: every failure a user can act on, with a stable code.
"""

import lazy_loader

__version__ = "0.1.0"
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)

"""How far to trust the scores: what the APEX authors found when they checked APEX against real listeners.

One place for every sentence the app (About, Arena, Leaderboard) says about it, so
the tabs cannot drift apart. The numbers are the printed outputs of the authors'
APEX_arena_experiment.ipynb (github.com/AMAAI-Lab/apex): cell 4 for "higher score
wins" accuracy, cell 10 for the ROC AUC table. Read the direction carefully: that
table's rule rows predict that the clip with the LOWER score wins, so their AUCs
above 0.5 are not evidence that a higher score means a better song.
"""

from __future__ import annotations

SOURCE = ("the APEX authors' Music Arena experiment (APEX_arena_experiment.ipynb in "
          "github.com/AMAAI-Lab/apex)")
VOTES = "1,259 blind pairwise votes on songs from 11 music generators that APEX never saw in training"

FINDINGS = (
    f"In {SOURCE}, APEX was checked against {VOTES}. The simple rule \"the clip with the higher score wins\" "
    "agreed with the listener no more often than a coin flip: 45.4 % of battles for all seven scores together, "
    "48.8 % for likes + streams, 50.3 % for likes alone. The ROC AUCs of 0.52-0.56 that the authors "
    "report for single scores come from the reversed rule (the clip with the *lower* score is predicted "
    "to win), so they do not mean that a higher score is a better song. Only models fitted to those votes "
    "beat chance: a logistic regression on the score differences reached ROC AUC 0.600 (0.624 on "
    "instrumental songs, 0.562 on songs with vocals) and an SVM 0.614, in 10-fold cross-validation "
    "(0.5 is a coin flip, 1.0 perfect)."
)
ABOUT_NOTE = (
    "**How far to trust it.** APEX was trained on about 211k Suno and Udio songs. " + FINDINGS
    + " Use the scores to spot weak parts and to compare takes of one song, not as a verdict on a song."
)
ARENA_WARNING = (
    "Be warned: in the APEX authors' own Music Arena test (1,259 votes), \"the higher score wins\" agreed "
    "with listeners no better than a coin flip (45-50 %); only a model fitted to the votes beat chance "
    "(ROC AUC 0.60). So disagreeing with the model is normal. This arena learns from its votes the same "
    "way: see the Leaderboard."
)
LEADERBOARD_CONTEXT = (
    "<small>For comparison: " + FINDINGS + " This page's agreement and learned-model numbers do the same with "
    "this arena's votes.</small>"
)
# One plain sentence for wherever a score is shown (Analyze, Compare, the API, the CLI, the MCP tools).
SCORE_CAVEAT = (
    "A guide, not a verdict: when the APEX authors checked these scores against 1,259 blind listener votes, "
    "\"the higher score wins\" agreed with the listener no more often than a coin flip. Use them to compare "
    "takes of one song and to find weak parts."
)

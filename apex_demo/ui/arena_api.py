"""The public Arena API for gradio_client: `/arena_new_battle`, `/arena_vote`, `/arena_stats`.

The same Arena object (and rules) as the page: refusals come back as
`{"accepted": false, "reason": <stable string>, "message": ...}` rather than
errors, so scripts can branch on `reason`. The session is Gradio's per-client
session hash (one `gradio_client.Client` = one session), salted and hashed by
the arena before anything is stored. Hidden components only type the endpoints.

The arena stays blind and who is asking is worked out as on the page (ui/arena_host.py).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from apex_demo.arena import Arena
from apex_demo.ui.arena_host import arena_errors, blind_files, visitor_of

NEW_BATTLE_DESCRIPTION = ("Start a blind battle from the arena pool. Returns ({battle_id, min_listen_s}, "
                          "audio A, audio B). System names stay hidden until the vote.")
VOTE_DESCRIPTION = ("Vote on a battle: battle_id, choice (A, B, TIE or BOTH_BAD), seconds listened to A and "
                    "to B. Returns {accepted, reason, message} and, when accepted, the reveal: model_choice, "
                    "agreed, both clips' systems and scores, running_agreement.")
ARENA_CONCURRENCY_ID = "apex-arena"
# Arena calls are short (a few SQLite statements; clip scores come from the engine's cache,
# warmed at start), so they run side by side instead of waiting in the shared queue, whose
# max_size would otherwise turn voters away during a burst. SQLite serialises the writes.
ARENA_CONCURRENCY_LIMIT = 64


def make_new_battle(arena: Arena):
    def arena_new_battle(request: gr.Request,
                         profile: gr.OAuthProfile | None = None) -> tuple[dict[str, Any], str, str]:
        with arena_errors():
            battle = arena.new_battle(visitor_of(request, arena.settings, profile))
            info = {"battle_id": battle.battle_id, "min_listen_s": arena.settings.min_listen_s}
            return (info, *blind_files(arena, battle))

    return arena_new_battle


def make_vote(arena: Arena):
    def arena_vote(battle_id: str, choice: str, listened_a_s: float | None, listened_b_s: float | None,
                   request: gr.Request, profile: gr.OAuthProfile | None = None) -> dict[str, Any]:
        with arena_errors():  # refusals come back as a reply; anything else is an error
            return arena.vote_reply(visitor_of(request, arena.settings, profile), battle_id, choice,
                                    listened_a_s, listened_b_s)

    return arena_vote


def make_stats(arena: Arena):
    def arena_stats() -> dict[str, Any]:
        """Read how often APEX agrees with this arena's blind listening votes, and what the votes say.

        Recomputed in the background at most once a minute. Returns total_votes and the vote counts; agreement: how often the model's pick (the higher overall score) matched the listener's choice on decisive A/B votes, with a 95% Wilson interval (chance is 0.5); per_score: the same for each score alone; Bradley-Terry leaderboards of the systems and clips (ties count half a win, "both bad" votes left out, 95% bootstrap intervals); learned_model: a logistic regression fitted to the votes once there are enough (its out-of-fold ROC AUC against the fixed rule); votes_from_elsewhere: votes from other replicas. The APEX authors found the fixed rule no better than chance on Music Arena's votes; this arena measures it again.

        Returns:
            The arena statistics as JSON.
        """
        with arena_errors():
            return arena.board.latest_or_refresh().to_dict()  # computed in the background

    return arena_stats


def build(arena: Arena) -> None:
    """Register the three endpoints on invisible components (call inside the Blocks)."""
    with gr.Column(visible=False):
        info_out = gr.JSON(label="battle")
        # gr.File, not gr.Audio: the same file for a script, without Audio's per-call ffprobe
        audio_a = gr.File(label="audio_a")
        audio_b = gr.File(label="audio_b")
        battle_in = gr.Textbox(label="battle_id")
        choice_in = gr.Textbox(label="choice")
        listened_a = gr.Number(label="listened_a_s")
        listened_b = gr.Number(label="listened_b_s")
        vote_out = gr.JSON(label="vote")
        stats_out = gr.JSON(label="stats")
        new_trigger, vote_trigger, stats_trigger = gr.Button("new"), gr.Button("vote"), gr.Button("stats")
    queue: dict[str, Any] = {"concurrency_id": ARENA_CONCURRENCY_ID, "concurrency_limit": ARENA_CONCURRENCY_LIMIT}
    # Callable by scripts (docs/arena.md) but not offered to AI agents as MCP tools: a vote stands for a person
    # who listened to both clips ("undocumented": off the API page and the MCP tool list, still callable).
    listener_only: dict[str, Any] = {"api_visibility": "undocumented"}
    new_trigger.click(make_new_battle(arena), inputs=None, outputs=[info_out, audio_a, audio_b],
                      api_name="arena_new_battle", api_description=NEW_BATTLE_DESCRIPTION, **queue, **listener_only)
    vote_trigger.click(make_vote(arena), inputs=[battle_in, choice_in, listened_a, listened_b], outputs=[vote_out],
                       api_name="arena_vote", api_description=VOTE_DESCRIPTION, **queue, **listener_only)
    stats_trigger.click(make_stats(arena), inputs=None, outputs=[stats_out], api_name="arena_stats", **queue)

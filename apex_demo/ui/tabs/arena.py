"""Arena tab: listen to two clips blind, vote, then see both radars and whether APEX agreed.

Listening time is measured from the players' play/pause/stop events, timed on
the server, and handed to the arena, whose rules decide (minimum listening
time on each clip, and not sooner than that after the battle was served).
While a battle waits, a one-second timer shows under each player how long it
has been heard and turns the vote buttons on once both are heard long enough.
A refused vote keeps the battle open and says why in a toast. The players get
the clips under neutral names only (`blind_files`), so the page stays
blind; the labelled "bring your own pair" players fold away when a battle starts.
After the vote: the reveal in plain words, both radars, and "Next battle".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import gradio as gr

from apex_demo import figures
from apex_demo.arena import FIXED_RULE_TEXT, LEARNED_RULE, UPLOAD_SYSTEMS, Arena, Battle
from apex_demo.engine import ARENA_WARNING
from apex_demo.scores import Scores
from apex_demo.ui.arena_host import arena_errors, arena_or_notice, blind_files, visitor_of
from apex_demo.ui.common import MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT
from apex_demo.ui.context import AppContext
from apex_demo.ui.messages import limits_line

INTRO = ("Two clips, names hidden. Listen to **both** (at least {min_listen:g} s each), then vote. "
         "After your vote you see what each clip was, both clips' APEX profiles, and whether the model "
         "picked the same one. " + ARENA_WARNING)
POOL_NOTE = ("The bundled pool holds openly licensed real recordings, labelled by artist or source, not "
             "AI generators; a real arena pool is configured with `APEX_ARENA_POOL`.")
NO_BATTLE = "Press **New battle** (or upload your own pair) to start."
BATTLE_READY = "🎧 Battle ready. Listen to A and B; the vote buttons turn on once both are heard long enough."
UPLOAD_NEEDED = "Upload both takes first."
NO_MODEL_PICK = ("The model had no scores for these clips yet (models still loading), so this battle has "
                 "no model pick; your vote still counts.")
CHOICES = (("A is better", "A"), ("B is better", "B"), ("Tie", "TIE"), ("Both bad", "BOTH_BAD"))
HEARD_SO_FAR = "🎧 {side}: {seconds} of {need:g} s heard"
HEARD_ENOUGH = "✅ {side}: heard long enough"
SCORING_TAKES = "⏳ Scoring your two takes (the players above are folded away so the battle stays blind)…"
SCORING_PROGRESS = "Scoring take {i} of 2"
LISTEN_TICK_S = 1.0
CHOICE_WORDS = {"A": "A is better", "B": "B is better", "TIE": "tie", "BOTH_BAD": "both bad"}
SIDES = ("a", "b")
SAME_LOUDNESS = "Both clips were played at the same loudness ({lufs:g} LUFS), so neither won by being louder."
SIGNED_IN_ONLY_NOTE = ("Only votes from visitors signed in with Hugging Face count for the leaderboard; you can "
                       "vote without signing in, but your vote is then kept out of it.")


# -- listening time -------------------------------------------------------------------------
def fresh_listening() -> dict[str, list[float | None]]:
    """Per side: [playing since (monotonic s) or None, seconds listened so far]."""
    return {side: [None, 0.0] for side in SIDES}


def started(state: dict[str, list[float | None]], side: str) -> dict[str, list[float | None]]:
    state = {k: list(v) for k, v in (state or fresh_listening()).items()}
    if state[side][0] is None:
        state[side][0] = time.monotonic()
    return state


def stopped(state: dict[str, list[float | None]], side: str) -> dict[str, list[float | None]]:
    state = {k: list(v) for k, v in (state or fresh_listening()).items()}
    since, total = state[side]
    if since is not None:
        state[side] = [None, float(total or 0.0) + time.monotonic() - since]
    return state


def listened(state: dict[str, list[float | None]], side: str) -> float:
    since, total = (state or fresh_listening())[side]
    return float(total or 0.0) + (time.monotonic() - since if since is not None else 0.0)


# -- reveal ---------------------------------------------------------------------------------
def _clip_line(side: str, clip: Mapping[str, Any], take_names: Mapping[str, str]) -> str:
    name = take_names.get(clip["system"]) or clip.get("prompt") or clip.get("clip_id")
    credit = f" · {clip['licence']}: {clip['attribution']}" if clip.get("licence") else ""
    scores = clip.get("scores") or {}
    overall = (f" · overall {clip['overall']:.1f} (Streams {scores['score_streams']:.0f}, "
               f"Likes {scores['score_likes']:.0f})") if clip.get("overall") is not None else ""
    return f"- **{side.upper()}** was **{clip['system']}**, *{name}*{overall}{credit}"


def reveal_markdown(reply: Mapping[str, Any], take_names: Mapping[str, str] | None = None) -> str:
    """The after-vote text in plain words: what you said, who was who (uploaded takes by their file
    names), the model's pick and which rule made it, agreement so far."""
    names = take_names or {}
    lines = [f"### You said: {CHOICE_WORDS[reply['choice']]}", _clip_line("a", reply["a"], names),
             _clip_line("b", reply["b"], names), ""]
    if reply.get("loudness_lufs") is not None:
        lines += [SAME_LOUDNESS.format(lufs=reply["loudness_lufs"]), ""]
    if reply["model_choice"] is None:
        lines.append(NO_MODEL_PICK)
    else:
        verdict = {True: "✅ the same as you", False: "❌ not what you picked",
                   None: "(only A/B votes count for agreement)"}[reply["agreed"]]
        lines.append(f"**The model's pick: {CHOICE_WORDS[reply['model_choice']]}** {verdict}. "
                     f"The pick came from {reply.get('model_rule_text') or FIXED_RULE_TEXT}.")
    run = reply["running_agreement"]
    if run["n"]:
        lines.append(f"\nSo far the model agreed with **{100 * run['rate']:.0f}%** of {run['n']} decisive votes "
                     f"(95% interval {100 * run['low']:.0f}-{100 * run['high']:.0f}%; chance is 50%).")
    if reply.get("model_rule") != LEARNED_RULE:  # the fixed rule's definition; the learned one is on the Leaderboard
        lines.append(f"\n<small>{reply['model_pick_definition']}</small>")
    return "\n".join(lines)


def _radar(reply: Mapping[str, Any], side: str):
    clip = reply[side]
    takes = [(f"{side.upper()}: {clip['system']}", Scores.from_mapping(clip["scores"]))] if clip["scores"] else []
    return figures.radar_figure(takes, title=f"{side.upper()}: {clip['system']}")


# -- handlers -------------------------------------------------------------------------------
def heard_markdown(side: str, seconds: float, need: float) -> str:
    """Under each player: how long it has been heard, and a tick once that is long enough."""
    if seconds >= need:
        return HEARD_ENOUGH.format(side=side.upper())
    return HEARD_SO_FAR.format(side=side.upper(), seconds=int(seconds), need=need)  # whole seconds, never rounded up


def _hidden_plot() -> Any:
    return gr.update(value=None, visible=False)


def _battle_outputs(arena: Arena, battle: Battle, take_names: Mapping[str, str]) -> tuple[Any, ...]:
    """A fresh battle on the page: clips only under neutral names (blind_files), vote
    buttons off until both clips are heard long enough (the listening timer turns them on), no
    figures yet, and the labelled upload players folded away so they cannot be matched by ear."""
    need = arena.settings.min_listen_s
    buttons = [gr.Button(interactive=False) for _ in CHOICES]
    players = [gr.update(value=clip, visible=True) for clip in blind_files(arena, battle)]
    return (battle.battle_id, fresh_listening(), dict(take_names), *players,
            heard_markdown("a", 0.0, need), heard_markdown("b", 0.0, need), BATTLE_READY,
            _hidden_plot(), _hidden_plot(), gr.update(visible=False), gr.Timer(active=True),
            gr.Accordion(open=False), *buttons)


def make_new_battle(arena: Arena):
    def new_battle(request: gr.Request, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        with arena_errors():
            battle = arena.new_battle(visitor_of(request, arena.settings, profile))
            return _battle_outputs(arena, battle, {})

    return new_battle


def scoring_notice(take_1: str | None, take_2: str | None) -> tuple[Any, Any]:
    """Shown at once when 'Start a blind battle' is pressed: fold the labelled players, say what happens."""
    if not take_1 or not take_2:
        return gr.skip(), gr.skip()
    return SCORING_TAKES, gr.Accordion(open=False)


def make_upload_battle(arena: Arena):
    def upload_battle(take_1: str | None, take_2: str | None, request: gr.Request,
                      profile: gr.OAuthProfile | None = None,
                      progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        if not take_1 or not take_2:
            raise gr.Error(UPLOAD_NEEDED, print_exception=False)
        with arena_errors():
            visitor = visitor_of(request, arena.settings, profile)
            battle = arena.new_upload_battle(visitor, take_1, take_2)
            for i, take in enumerate((take_1, take_2)):  # score now (in the model's slot): a vote never runs the model
                progress(i / 2, desc=SCORING_PROGRESS.format(i=i + 1))
                arena.clip_scores.warm([take], again=True)  # in this visitor's private view: no timing tells
            names = {system: Path(take).name for system, take in zip(UPLOAD_SYSTEMS, (take_1, take_2))}
            return _battle_outputs(arena, battle, names)

    return upload_battle


def make_listen_tick(need: float):
    """Every second while a battle waits for its vote: update 'heard' lines, enable the buttons once
    both clips are heard long enough, then stop ticking. The server still checks every vote."""

    def tick(state: dict, battle_id: str | None) -> tuple[Any, ...]:
        if not battle_id:
            return (gr.skip(), gr.skip(), gr.Timer(active=False), *[gr.skip() for _ in CHOICES])
        a, b = listened(state, "a"), listened(state, "b")
        ready = min(a, b) >= need
        buttons = [gr.Button(interactive=True) if ready else gr.skip() for _ in CHOICES]
        return (heard_markdown("a", a, need), heard_markdown("b", b, need),
                gr.Timer(active=not ready), *buttons)

    return tick


def make_vote(arena: Arena, choice: str):
    def vote(battle_id: str | None, state: dict, take_names: dict, request: gr.Request,
             profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        if not battle_id:
            raise gr.Error(NO_BATTLE, print_exception=False)
        with arena_errors():
            visitor = visitor_of(request, arena.settings, profile)
            reply = arena.vote_reply(visitor, battle_id, choice, listened(state, "a"), listened(state, "b"))
        if not reply["accepted"]:
            gr.Warning(reply["message"])
            return (gr.skip(),) * (6 + len(CHOICES))
        buttons = [gr.Button(interactive=False) for _ in CHOICES]
        return (None, reveal_markdown(reply, take_names), gr.update(value=_radar(reply, "a"), visible=True),
                gr.update(value=_radar(reply, "b"), visible=True), gr.update(visible=True),
                gr.Timer(active=False), *buttons)

    return vote


# -- layout ---------------------------------------------------------------------------------
def build(ctx: AppContext) -> None:
    """The Arena tab (call inside a gr.Tab)."""
    arena = arena_or_notice(ctx)
    if arena is None:
        return
    need = ctx.settings.min_listen_s
    gr.Markdown(INTRO.format(min_listen=need))
    if ctx.settings.arena_login:
        gr.LoginButton()
    if ctx.settings.arena_signed_in_only:
        gr.Markdown(SIGNED_IN_ONLY_NOTE)
    battle_id = gr.State(None)
    listening = gr.State(fresh_listening())
    take_names = gr.State({})
    timer = gr.Timer(LISTEN_TICK_S, active=False)
    with gr.Row():
        new = gr.Button("🎲 New battle", variant="primary")
    with gr.Accordion("Bring your own pair (two takes of one song)", open=False) as upload_box:
        with gr.Row():
            take_1 = gr.Audio(type="filepath", sources=["upload"], label="Take 1", elem_id="arena-take-1")
            take_2 = gr.Audio(type="filepath", sources=["upload"], label="Take 2", elem_id="arena-take-2")
        gr.HTML(limits_line(ctx.settings.max_seconds, ctx.settings.max_file_mb), elem_id="arena-limits")
        upload = gr.Button("Start a blind battle with my takes")
    with gr.Row(equal_height=True):
        with gr.Column(min_width=160):
            audio_a = gr.Audio(label="A", interactive=False, type="filepath", visible=False,  # shown with a battle
                               buttons=["download"], elem_id="arena-player-a")  # page.js names its controls "… clip A"
            heard_a = gr.Markdown()
        with gr.Column(min_width=160):
            audio_b = gr.Audio(label="B", interactive=False, type="filepath", visible=False, buttons=["download"],
                               elem_id="arena-player-b")
            heard_b = gr.Markdown()
    with gr.Row():
        buttons = [gr.Button(label, interactive=False, min_width=100) for label, _ in CHOICES]
    status = gr.Markdown(NO_BATTLE)
    next_battle = gr.Button("▶ Next battle", variant="primary", visible=False)
    with gr.Row(equal_height=True):
        radar_a = gr.Plot(show_label=False, visible=False)
        radar_b = gr.Plot(show_label=False, visible=False)
    gr.Markdown(f"<small>{POOL_NOTE}</small>")

    battle_outputs = [battle_id, listening, take_names, audio_a, audio_b, heard_a, heard_b, status, radar_a,
                      radar_b, next_battle, timer, upload_box, *buttons]
    private: dict[str, Any] = {"api_visibility": "private"}
    for trigger, name in ((new, "ui_arena_new"), (next_battle, "ui_arena_next")):
        trigger.click(make_new_battle(arena), inputs=None, outputs=battle_outputs, api_name=name, **private)
    upload.click(scoring_notice, inputs=[take_1, take_2], outputs=[status, upload_box], queue=False,
                 **private).then(
        make_upload_battle(arena), inputs=[take_1, take_2], outputs=battle_outputs,
        api_name="ui_arena_upload", concurrency_id=MODEL_CONCURRENCY_ID, concurrency_limit=MODEL_CONCURRENCY_LIMIT,
        **private)
    for audio, side in ((audio_a, "a"), (audio_b, "b")):
        audio.play(lambda s, side=side: started(s, side), inputs=listening, outputs=listening, queue=False,
                   **private)
        for event in (audio.pause, audio.stop):
            event(lambda s, side=side: stopped(s, side), inputs=listening, outputs=listening, queue=False,
                  **private)
    timer.tick(make_listen_tick(need), inputs=[listening, battle_id], outputs=[heard_a, heard_b, timer, *buttons],
               queue=False, **private)
    for button, (_, choice) in zip(buttons, CHOICES):
        button.click(make_vote(arena, choice), inputs=[battle_id, listening, take_names],
                     outputs=[battle_id, status, radar_a, radar_b, next_battle, timer, *buttons],
                     api_name=f"ui_arena_vote_{choice}", **private)

"""The app's one Arena: built on first use, warmed in the background, shared by every page that shows it.

The Arena tab, the Leaderboard tab and the arena API all reach the same Arena (vote store + pool)
through `get_arena`, so they apply the same rules and read the same board; no tab is a library of
another. The arena stays blind: a battle's clips reach the browser (page or API) only as per-battle
blind copies, `<random folder>/A.flac` and `B.flac` (`blind_files`, apex_demo.arena.blind), never
under the pool file's own path, name, bytes or size.

Who is asking (`visitor_of`): the session only binds a battle to its page; rate limits key on the
client address (ui/guards/visitors.py: the X-Forwarded-For hop the trusted proxy appended when the app
runs behind one, else the socket's address); a signed-in Hugging Face user counts as that user. Its two
background threads start with it: the pool warm-up (scores every clip once the models are loaded, giving
way to visitors between segments) and the leaderboard refresher.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Mapping

import gradio as gr

from apex_demo.arena import Arena, Battle, Visitor, build_arena
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, ModelError
from apex_demo.ui.common import engine_errors
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.private_cache import private_view
from apex_demo.ui.guards.visitors import client_address, current_visitor
from apex_demo.ui.loader import LoadState

UNAVAILABLE = "⚠️ The arena is not available: {message}"
BLIND_NAMES = ("A", "B")
ARENA_ERROR_TITLE = "Arena"


def loaded_score_fn(ctx: AppContext):
    """Scores from the app's one shared scorer; refuses (no waiting) while the models load. Inside a
    visitor's request (a bring-your-own battle) through that visitor's private view, as `/score`: a
    song somebody else scored is encoded again, so the battle's answer time does not tell."""

    def score(path: Any) -> Mapping[str, float]:
        if ctx.loader.state is not LoadState.READY:
            raise ModelError("models still loading", ErrorCode.MODEL_NOT_FOUND)
        scorer = private_view(ctx.scorer(0), ctx.seen, current_visitor(ctx.settings.trusted_hops))
        return scorer.score_file(path).scores.as_dict()

    return score


def get_arena(ctx: AppContext) -> Arena:
    """The app's one Arena (vote store + pool), created on first use at build time."""
    if ctx.arena is None:
        ctx.arena = build_arena(ctx.settings, score_fn=loaded_score_fn(ctx))
        _warm_in_background(ctx, ctx.arena)
    return ctx.arena


def arena_or_notice(ctx: AppContext) -> Arena | None:
    """The Arena, or None after showing why it is unavailable (a tab then shows only that notice)."""
    try:
        return get_arena(ctx)
    except ApexError as exc:
        gr.Markdown(UNAVAILABLE.format(message=exc.message))
        return None


def _warm_in_background(ctx: AppContext, arena: Arena) -> None:
    """Once the models are loaded, score the pool so battles reveal instantly (engine cache).
    Clip by clip, stopping as soon as the app shuts down (no thread left inside torch at exit)."""

    def warm() -> None:
        try:
            ctx.loader.wait(None)
        except ApexError:
            return  # the header already shows why the models failed
        for clip in arena.pool:
            if ctx.stopping.is_set():
                return
            ctx.score_in_background(clip.path)  # gives way to visitors between segments (fills the cache)
            arena.prepare_blind(clip.path)   # no battle's reply time tells a new clip from a known one
            arena.warm([clip.path])

    ctx.run_in_background("apex-arena-warm", warm)
    ctx.run_in_background("apex-arena-board", lambda: arena.board.run(ctx.stopping))


def arena_errors() -> AbstractContextManager[None]:
    """Every arena handler's errors as a gr.Error with a clear message: an ApexError's own (a
    battle refused by the rate limit, a vote the store could not keep), any other failure as such."""
    return engine_errors(title=ARENA_ERROR_TITLE, unexpected=True)


def blind_files(arena: Arena, battle: Battle) -> tuple[str, str]:
    """The battle's two clips as `<random folder>/A.flac` and `B.flac`, padded with fresh random
    bytes, so no name, URL, size or content hash the browser sees gives away the clip."""
    a, b = arena.blind_copies(battle, BLIND_NAMES)
    return str(a), str(b)


def session_of(request: gr.Request | None) -> str:
    """Gradio's session hash for this client (never an IP or user name)."""
    return (request.session_hash if request is not None else None) or "anonymous"


def address_of(request: gr.Request | None, settings: Settings) -> str | None:
    """The client's address (ui/guards/visitors.py: the hop the trusted proxy appended, behind one)."""
    if request is None:
        return None
    client = getattr(request, "client", None)
    return client_address(getattr(request, "headers", None) or {}, getattr(client, "host", None),
                          settings.trusted_hops)


def visitor_of(request: gr.Request | None, settings: Settings,
               profile: gr.OAuthProfile | None = None) -> Visitor:
    """Who is asking, for the arena's rules (it stores only salted hashes of these)."""
    user = getattr(profile, "username", None) if profile is not None else None
    return Visitor(session=session_of(request), address=address_of(request, settings), user=user)

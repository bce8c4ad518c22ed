"""Assemble the Gradio app: header with model status, the five tabs and the API endpoints.

`build_app(ctx)` starts the background model load and returns the Blocks;
`launch_options(settings)` gives what Gradio 6 wants at `launch()` (theme, css,
upload limit), so app.py and the tests launch the same app the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from apex_demo.arena import private_paths
from apex_demo.config import Settings
from apex_demo.ui import api, arena_api
from apex_demo.ui.common import mark_user_requests
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards import fairness
from apex_demo.ui.guards.uploads import PrivateUploads
from apex_demo.ui.loader import Loader, LoadState
from apex_demo.ui.tabs import about, analyze, arena, compare, leaderboard

TITLE = "APEX: what a model hears in your song"
SUBTITLE = ("Scores AI-generated songs with [APEX](https://github.com/AMAAI-Lab/apex): two popularity "
            "predictions and five aesthetic dimensions, for the whole song and every 30 seconds of it. A guide "
            "for comparing takes and finding weak parts, not a verdict.")
STATUS_POLL_S = 2.0
STATUS_READY = "✓ Models ready: you can score songs."
STATUS_MODE = " ⚡ Fast mode was asked for (APEX_FAST): {note}"  # why it runs or not, its error: engine/modes.py
STATUS_LOADING = "… Loading the models (a minute or two). Look around meanwhile."
STATUS_FAILED = ("⚠ Scoring is unavailable: the models could not be loaded. The site's owner finds the "
                 "details on the About tab and in the server log.")
# No global queue size: Gradio's max_size counts every endpoint together, so a scoring flood turned
# arena and leaderboard visitors away. Scoring is bounded by ui/guards/fairness.py instead (one job per
# visitor, SCORING_QUEUE_MAX in all); every other event has its own concurrency group.
QUEUE_MAX_SIZE = None
DEFAULT_CONCURRENCY_LIMIT = 4    # light events (re-sorting, leaderboard), each its own group; scoring: limit 1
CACHE_CLEANUP = (3600, 3600)     # delete Gradio's uploaded/served temp files older than 1 h, hourly
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "assets" / "examples"
PAGE_JS = Path(__file__).with_name("page.js")  # click a timeline part (or the weakest part) to hear it
FONT = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif")
FONT_MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "monospace")
CSS = """
#apex-header h1 { margin-bottom: 0.2rem; }
/* the model line's room is kept from the first paint (two lines on a phone, where the loading line wraps),
   so the tabs do not move when it fills in or changes */
#apex-status { font-size: 0.95rem; min-height: 1.6em; }
.apex-panel { border-radius: 8px; padding: 0.6rem 0.8rem; margin: 0.25rem 0; line-height: 1.4; }
.apex-panel-error { background: #fef2f2; border: 1px solid #fca5a5; color: #7f1d1d; }
.apex-panel-note { background: #eff6ff; border: 1px solid #bfdbfe; color: #1e3a8a; }
.apex-progress { font-size: 1rem; font-weight: 600; padding: 0.5rem 0.8rem; border-radius: 8px;
  background: #eef2ff; color: #312e81; }
.apex-progress-done { background: #f0fdf4; color: #14532d; }
/* visually hidden, read by screen readers; the -1px margin keeps it from making its box scroll by a pixel */
.apex-sr-only { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; margin: -1px; padding: 0; border: 0; }
.apex-queue-words { background: #fffbeb; color: #78350f; }
/* while the waiting line speaks (ui/waiting.py), Gradio's own tracker text and spinner would say it twice */
#analyze-wait:has(.apex-queue-words) ~ #analyze-progress [data-testid="status-tracker"],
#compare-wait:has(.apex-queue-words) ~ #compare-progress [data-testid="status-tracker"] { display: none; }
/* "Done" shows once the charts it announces have drawn (page.js adds apex-drawn) */
.apex-progress-done:not(.apex-drawn) { visibility: hidden; }
/* the caveat beside the scores; audio that cannot be judged: its numbers greyed (engine/report.py) */
.apex-caveat { font-size: 0.9rem; color: #4b5563; }
.apex-greyed, .apex-greyed * { color: #6b7280 !important; }
/* a take's full name over its player (rank · name), wrapped rather than cut */
#compare-players [data-testid="block-label"] { white-space: normal; overflow-wrap: anywhere; height: auto; }
/* plotly's toolbar only while the pointer is over a figure: less clutter, still there when wanted. Hidden
   with visibility too, so its buttons are no keyboard stops while nobody can see them (each chart has a
   text twin for screen readers) */
.js-plotly-plot .modebar-container { opacity: 0; visibility: hidden; transition: opacity 0.2s, visibility 0.2s; }
.js-plotly-plot:hover .modebar-container { opacity: 1; visibility: visible; }
/* a long file name (no spaces) wraps inside the text instead of widening it past a phone's screen */
#analyze-summary h3, #compare-verdict { overflow-wrap: anywhere; }
/* table headers and cells break between words, never inside one ("Memorabilit y", "Ran k"), down to the text
   spans Gradio's Dataframe styles itself (word-break: break-word); wide tables scroll */
.table-wrap th, .table-wrap td, table th, table td, table th *, table td * { word-break: normal !important;
  overflow-wrap: normal !important; hyphens: manual; }
@media (max-width: 640px) {
  #apex-header h1 { font-size: 1.4rem; }
  #apex-status { min-height: 3.2em; }
  button[role="tab"] { padding-left: 0.5rem; padding-right: 0.5rem; }
}
"""


def theme() -> gr.themes.Base:
    """A quiet theme with system fonts (no web-font download, so it also works offline)."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
                          font=FONT, font_mono=FONT_MONO)


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` that every launcher must pass. Monitoring is off: Gradio's
    /monitoring/summary would tell anyone how often each endpoint is called. Uploads are moved to
    private random names as they arrive (ui/guards/uploads.py). APEX_MCP: Gradio's MCP server at
    /gradio_api/mcp/, its tools the public API endpoints (ui/api.py, ui/arena_api.py)."""
    return {"theme": theme(), "css": CSS, "js": PAGE_JS.read_text(encoding="utf-8"),
            "max_file_size": int(settings.max_file_mb * 1024 * 1024),
            "allowed_paths": [str(EXAMPLES_DIR)], "blocked_paths": private_paths(settings),
            "enable_monitoring": False, "app_kwargs": {"middleware": [Middleware(PrivateUploads)]},
            "mcp_server": settings.mcp}


def header_status(ctx: AppContext) -> str:
    """The header's model line, in a musician's words: no model or file names (About lists the models);
    how to fix a failed load is for the owner (About tab, log), not for visitors."""
    state = ctx.loader.state
    if state is LoadState.READY:
        note = ctx.loader.mode_note if ctx.settings.fast else ""
        return STATUS_READY + (STATUS_MODE.format(note=note) if note else "")
    if state is LoadState.FAILED:
        return STATUS_FAILED
    return STATUS_LOADING


def _status_update(ctx: AppContext) -> tuple[str, gr.Timer]:
    """The status line, and stop polling once loading has finished either way."""
    return header_status(ctx), gr.Timer(active=ctx.loader_busy())


def _header(ctx: AppContext) -> tuple[gr.Markdown, gr.Timer]:
    """Title and model line. The line starts empty and is filled by the page's load event with
    the state at that moment (the page config is built once at launch, so a value set here
    would flash "Loading" on every later visit)."""
    gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="apex-header")
    status = gr.Markdown("", elem_id="apex-status")
    timer = gr.Timer(STATUS_POLL_S, active=False)
    timer.tick(lambda: _status_update(ctx), outputs=[status, timer], api_name="ui_status",
               api_visibility="private", queue=False)
    return status, timer


def build_app(ctx: AppContext) -> gr.Blocks:
    """The whole app; starts loading the models in the background."""
    ctx.start()
    with gr.Blocks(title=TITLE, delete_cache=CACHE_CLEANUP) as demo:
        status, timer = _header(ctx)
        with gr.Tabs(overflow_behavior="wrap"):  # every tab reachable on a phone, no "⋯" menu
            with gr.Tab("Analyze", id="analyze"):
                analyze.build(ctx)
            with gr.Tab("Compare takes", id="compare"):
                compare.build(ctx)
            with gr.Tab("Arena", id="arena"):
                arena.build(ctx)
            with gr.Tab("Leaderboard", id="leaderboard"):
                leaderboard.build(ctx)
            with gr.Tab("About", id="about"):
                about.build(ctx)
        api.build(ctx)
        if ctx.arena is not None:  # built by the Arena tab; absent when the arena is unavailable
            arena_api.build(ctx.arena)
        demo.load(lambda: _status_update(ctx), outputs=[status, timer], api_visibility="private", queue=False,
                  show_progress="hidden")
    fairness.install(demo, ctx.settings)
    mark_user_requests(demo, ctx)  # visitors before the arena warm-up, on every scoring entry point
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=DEFAULT_CONCURRENCY_LIMIT)
    return demo


def create_context(settings: Settings, load: Loader | None = None) -> AppContext:
    """The app context with the bundled example clips; `load` replaces the model loader (tests)."""
    if load is None:
        return AppContext.create(settings, examples_dir=EXAMPLES_DIR)
    return AppContext.create(settings, load=load, examples_dir=EXAMPLES_DIR)

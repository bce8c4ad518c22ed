"""Assemble the Gradio app: header with model status, the five tabs and the API endpoints.

`build_app(ctx)` starts the background model load and returns the Blocks;
`launch_options(settings)` gives what Gradio 6 wants at `launch()` (theme, css,
upload limit), so app.py and the tests launch the same app the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from apex_demo.arena import private_paths
from apex_demo.config import Settings
from apex_demo.ui import about_tab, analyze_tab, api, arena_tab, compare_tab, fairness, leaderboard_tab
from apex_demo.ui.context import AppContext, Loader, LoadState

TITLE = "APEX: how good is this song?"
SUBTITLE = ("Scores AI-generated songs with [APEX](https://github.com/AMAAI-Lab/apex): two popularity "
            "predictions and five aesthetic dimensions, for the whole song and every 30 seconds of it.")
STATUS_POLL_S = 2.0
# No global queue size: Gradio's max_size counts every endpoint together, so a scoring flood turned
# arena and leaderboard visitors away. Scoring is bounded by ui/fairness.py instead (one job per
# visitor, SCORING_QUEUE_MAX in all); every other event has its own concurrency group.
QUEUE_MAX_SIZE = None
DEFAULT_CONCURRENCY_LIMIT = 4    # light events (re-sorting, leaderboard), each its own group; scoring: limit 1
CACHE_CLEANUP = (3600, 3600)     # delete Gradio's uploaded/served temp files older than 1 h, hourly
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "assets" / "examples"
FONT = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif")
FONT_MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "monospace")
CSS = """
#apex-header h1 { margin-bottom: 0.2rem; }
#apex-status { font-size: 0.95rem; }
/* plotly's toolbar only while the pointer is over a figure: less clutter, still there when wanted */
.js-plotly-plot .modebar-container { opacity: 0; transition: opacity 0.2s; }
.js-plotly-plot:hover .modebar-container { opacity: 1; }
#analyze-summary h3 { overflow-wrap: anywhere; }
@media (max-width: 640px) {
  #apex-header h1 { font-size: 1.4rem; }
}
"""


def theme() -> gr.themes.Base:
    """A quiet theme with system fonts (no web-font download, so it also works offline)."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
                          font=FONT, font_mono=FONT_MONO)


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` that every launcher must pass."""
    return {"theme": theme(), "css": CSS, "max_file_size": int(settings.max_file_mb * 1024 * 1024),
            "allowed_paths": [str(EXAMPLES_DIR)], "blocked_paths": private_paths(settings)}


def _status_update(ctx: AppContext) -> tuple[str, gr.Timer]:
    """The status line, and stop polling once loading has finished either way."""
    loading = ctx.loader.state in (LoadState.IDLE, LoadState.LOADING)
    return ctx.loader.status_text(), gr.Timer(active=loading)


def _header(ctx: AppContext) -> None:
    gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="apex-header")
    status = gr.Markdown(ctx.loader.status_text(), elem_id="apex-status")
    timer = gr.Timer(STATUS_POLL_S)
    timer.tick(lambda: _status_update(ctx), outputs=[status, timer], api_name="ui_status",
               api_visibility="private", queue=False)


def build_app(ctx: AppContext) -> gr.Blocks:
    """The whole app; starts loading the models in the background."""
    ctx.start()
    with gr.Blocks(title=TITLE, delete_cache=CACHE_CLEANUP) as demo:
        _header(ctx)
        with gr.Tabs():
            with gr.Tab("Analyze", id="analyze"):
                analyze_tab.build(ctx)
            with gr.Tab("Compare takes", id="compare"):
                compare_tab.build(ctx)
            with gr.Tab("Arena", id="arena"):
                arena_tab.build(ctx)
            with gr.Tab("Leaderboard", id="leaderboard"):
                leaderboard_tab.build(ctx)
            with gr.Tab("About", id="about"):
                about_tab.build(ctx)
        api.build(ctx)
    fairness.install(demo, ctx.settings.max_seconds, ctx.settings.behind_proxy)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=DEFAULT_CONCURRENCY_LIMIT)
    return demo


def create_context(settings: Settings, load: Loader | None = None) -> AppContext:
    """The app context with the bundled example clips; `load` replaces the model loader (tests)."""
    if load is None:
        return AppContext.create(settings, examples_dir=EXAMPLES_DIR)
    return AppContext.create(settings, load=load, examples_dir=EXAMPLES_DIR)

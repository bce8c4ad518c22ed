"""Helpers every scoring tab and API endpoint shares: errors, names, records, the scorer.

For API endpoints, this is where engine errors become `gr.Error` (raised; the scoring API
words them as the visitor refusals are worded, ui/api.py). The tabs word errors for visitors in
a persistent message panel instead (apex_demo.ui.messages).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr
import pandas as pd

from apex_demo.engine import song_record
from apex_demo.errors import ApexError
from apex_demo.ui.context import AppContext
from apex_demo.ui.loader import LoadState, model_name
from apex_demo.ui.guards.private_cache import private_view
from apex_demo.ui.guards.visitors import current_visitor

LOG = logging.getLogger(__name__)
MODEL_CONCURRENCY_ID = "apex-model"  # every event that runs MERT shares this queue slot
MODEL_CONCURRENCY_LIMIT = 1          # one model instance, one song at a time
MODEL_WAIT_S = 900.0                 # how long a request waits for models still loading
NO_AUDIO_MESSAGE = "Upload, record or pick an example clip first."
ERROR_TITLE = "Could not score"
MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#+-.!|")
GREYED_CELL = "color: #6b7280"  # the grey of numbers shown but not judged (the page's .apex-greyed, in app.py)
UNEXPECTED_ERROR = ("Something went wrong on the server ({kind}); please try again, and report it if it "
                    "keeps happening.")


@contextlib.contextmanager
def engine_errors(title: str = ERROR_TITLE, unexpected: bool = False,
                  words: Callable[[ApexError], str] | None = None) -> Iterator[None]:
    """Turn an ApexError raised inside the block into a raised gr.Error with its message, or with
    `words(error)` (the scoring API words errors for visitors: ui/api.py).

    With `unexpected`, any other exception (a store or disk failure) also becomes a
    gr.Error that says so, logged with its traceback, instead of Gradio's bare "Error".
    """
    try:
        yield
    except ApexError as exc:
        raise gr.Error(words(exc) if words else exc.message, title=title, print_exception=False) from exc
    except gr.Error:
        raise
    except Exception as exc:
        if not unexpected:
            raise
        LOG.exception("unexpected error in a request")
        raise gr.Error(UNEXPECTED_ERROR.format(kind=type(exc).__name__), title=title,
                       print_exception=False) from exc


def get_scorer(ctx: AppContext, progress: gr.Progress | None = None) -> Any:
    """The shared scorer as this request's visitor sees it (private cache hits: ui/private_cache.py),
    waiting (with a progress note) while models are still loading; raises ApexError when they
    cannot be loaded (the API words it: ui/api.py)."""
    if progress is not None and ctx.loader.state is LoadState.LOADING:
        progress(0.0, desc="Loading models (first request only)…")
    scorer = ctx.scorer(MODEL_WAIT_S)
    return private_view(scorer, ctx.seen, current_visitor(ctx.settings.trusted_hops))


def tab_scorer(ctx: AppContext) -> Any:
    """The shared scorer for a tab's handler: waits for models still loading; raises ApexError
    (the tab words it for the visitor in its message panel, apex_demo.ui.messages)."""
    return ctx.scorer(MODEL_WAIT_S)


def model_events(demo: gr.Blocks) -> list[Any]:
    """Every event of `demo` that runs in the model's queue slot (Gradio's BlockFunction objects):
    the tabs', the API's and the arena's scoring, whoever registered them."""
    return [fn for fn in demo.fns.values() if fn.concurrency_id == MODEL_CONCURRENCY_ID and fn.fn is not None]


def mark_user_requests(demo: gr.Blocks, ctx: AppContext) -> None:
    """Run every model-slot event as a user request (AppContext.user_first), so the arena pool
    warm-up waits while any visitor's scoring runs, from the page or the API alike.

    Done once here, after the layout is built, rather than by each handler: an entry point
    added later cannot forget it. Call it once (a second call would mark twice, harmlessly).
    """
    for fn in model_events(demo):
        fn.fn = ctx.user_first.marked(fn.fn)


def current_blocks() -> gr.Blocks:
    """The Blocks being built (call while laying out a tab): for handlers that read its queue.

    Reads `gradio.context.Context.root_block` (Gradio 6.31, pinned): Gradio hands a tab no handle on the
    app it is part of."""
    from gradio.context import Context

    blocks = Context.root_block
    if blocks is None:
        raise RuntimeError("current_blocks() is only meaningful while a gr.Blocks is being built")
    return blocks


def escape_markdown(text: str) -> str:
    """File names often hold _ and * that Markdown would turn into italics."""
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text)


def public_record(result: Any, vocals: bool | None = None) -> dict[str, Any]:
    """A result's JSON record with its verdicts (engine.song_record) as visitors may see it (downloads,
    share links): the models named by Hub id or file name (ui/loader.model_name), never by a path on
    this server."""
    record = song_record(result, vocals=vocals)
    model = record["model"]
    record["model"] = model | {"mert": model_name(model["mert"]), "head": model_name(model["head"])}
    return record


def table_view(table: pd.DataFrame, greyed: Sequence[bool]) -> Any:
    """`table` for a gr.Dataframe with the rows where `greyed` is true greyed (audio that cannot be judged);
    numbers shown as rounded, without the six decimals a styled table would otherwise show."""
    grey = [GREYED_CELL] * len(table.columns)
    plain = [""] * len(table.columns)
    styles = [grey if flag else plain for flag in greyed]
    return table.style.apply(lambda row: styles[row.name], axis=1).format(
        lambda value: f"{value:g}" if isinstance(value, float) else value)


def display_name(path: str | Path) -> str:
    """What users (and the JSON `file` field) see for an upload: its original file name
    (Gradio keeps it), never the server's temporary path."""
    return Path(path).name

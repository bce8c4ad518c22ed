"""About tab: what each score means, where the models come from, and how far to trust them."""

from __future__ import annotations

import gradio as gr

from apex_demo.arena_facts import ABOUT_NOTE
from apex_demo.config import DEFAULT_HEAD, DEFAULT_MERT
from apex_demo.ranking import OVERALL_DEFINITION
from apex_demo.scores import OUTPUTS
from apex_demo.ui.context import AppContext

HUB_URL = "https://huggingface.co/{repo}"
PAPER_URL = "https://arxiv.org/abs/2605.03395"
CODE_URL = "https://github.com/AMAAI-Lab/apex"
METHOD = (
    "**How a song is scored.** The audio is mixed to mono, resampled to 24 kHz and cut into 30-second "
    "segments (the last one padded with silence). MERT-v1-95M turns each segment into an embedding "
    "(layers 2, 5, 8 and 12, averaged over time and combined); the song embedding is the mean of its "
    "segments, and the APEX head maps it to seven scores. The timeline applies the same head to each "
    "segment's embedding."
)


def scores_markdown() -> str:
    """A table of every output, its range and meaning, from apex_demo.scores."""
    rows = ["| Score | Scale | Meaning |", "|---|---|---|"]
    rows += [f"| <span style='color:{o.color}'>■</span>&nbsp;{o.label} | {o.low:g}-{o.high:g} | {o.description} |"
             for o in OUTPUTS]
    return "\n".join(rows)


def _model_line(what: str, configured: str, default: str) -> str:
    link = f"[{default}]({HUB_URL.format(repo=default)})"
    if configured == default:
        return f"- {what}: {link}"
    return f"- {what}: `{configured}` (this server's local copy; the published model is {link})"


def models_markdown(ctx: AppContext) -> str:
    """Where the models come from, noting local copies configured with APEX_MERT / APEX_HEAD."""
    return "\n".join([
        "**Models**",
        _model_line("Audio encoder", ctx.settings.mert, DEFAULT_MERT),
        _model_line("APEX head", ctx.settings.head, DEFAULT_HEAD),
        f"- Paper: [APEX (arXiv 2605.03395)]({PAPER_URL}), Husain & Herremans, AMAAI Lab; "
        f"code: [AMAAI-Lab/apex]({CODE_URL})",
    ])


def build(ctx: AppContext) -> None:
    """Lay out the About tab (call inside a gr.Tab)."""
    gr.Markdown("### What the scores mean")
    gr.Markdown(scores_markdown())
    gr.Markdown(f"**Overall score (Compare tab).** {OVERALL_DEFINITION}")
    gr.Markdown(ABOUT_NOTE)
    gr.Markdown(METHOD)
    gr.Markdown(models_markdown(ctx))

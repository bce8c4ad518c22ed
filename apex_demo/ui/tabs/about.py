"""About tab: what each score means, where the models come from, and how far to trust them."""

from __future__ import annotations

import gradio as gr

from apex_demo.config import DEFAULT_HEAD, DEFAULT_MERT
from apex_demo.engine import ABOUT_NOTE, OVERALL_DEFINITION, SHORT_TAIL_S, TOLERANCE_DEFINITION, licences_markdown
from apex_demo.scores import OUTPUTS, OutputSpec
from apex_demo.ui.context import AppContext
from apex_demo.ui.loader import LOCAL_MODELS_HINT, model_name

HUB_URL = "https://huggingface.co/{repo}"
PAPER_URL = "https://arxiv.org/abs/2605.03395"
CODE_URL = "https://github.com/AMAAI-Lab/apex"
METHOD = (
    "**How a song is scored.** The audio is mixed to mono, resampled to 24 kHz and cut into 30-second "
    f"segments (the last one padded with silence, as the reference does; the app labels it with its real "
    f"length and never names a tail under {SHORT_TAIL_S:g} s the weakest part). MERT-v1-95M turns each segment into an embedding "
    "(layers 2, 5, 8 and 12, averaged over time and combined); the song embedding is the mean of its "
    "segments, and the APEX head maps it to seven scores. The timeline applies the same head to each "
    "segment's embedding."
)
OWNER_NOTES = (
    "- Length limit: `APEX_MAX_SECONDS`; upload size limit: `APEX_MAX_FILE_MB`. Audio is decoded with "
    "libsndfile (WAV, FLAC, OGG, MP3), other formats with the ffmpeg program.\n"
    "- Every error a visitor sees is also logged with the engine's full message (file paths, decoder "
    "details) under the `apex_demo` loggers.\n- " + LOCAL_MODELS_HINT
)


def explain_output(spec: OutputSpec) -> str:
    """One score for a musician: what it measures, what high and low sound like, what to try."""
    lines = [f"**<span style='color:{spec.color}'>■</span>&nbsp;{spec.label}** ({spec.low:g}-{spec.high:g}). "
             f"{spec.description}"]
    if spec.high_means:
        lines.append(f"*High:* {spec.high_means}. *Low:* {spec.low_means}.")
    if spec.to_try:
        lines.append(f"*When it is low:* {spec.to_try}")
    return "<br>".join(lines)


def scores_markdown() -> str:
    """Every output, its range, meaning and what to do about it, from apex_demo.scores (one
    paragraph each, so it reads on a phone too)."""
    return "\n\n".join(explain_output(o) for o in OUTPUTS)


def _model_line(what: str, configured: str, default: str) -> str:
    link = f"[{default}]({HUB_URL.format(repo=default)})"
    if configured == default:
        return f"- {what}: {link}"
    return f"- {what}: local copy `{model_name(configured)}` (the published model is {link})"


def models_markdown(ctx: AppContext) -> str:
    """Where the models come from, noting local copies configured with APEX_MERT / APEX_HEAD."""
    return "\n".join([
        "**Models**",
        _model_line("Audio encoder", ctx.settings.mert, DEFAULT_MERT),
        _model_line("APEX head", ctx.settings.head, DEFAULT_HEAD),
        f"- Paper: [APEX (arXiv 2605.03395)]({PAPER_URL}), Husain & Herremans, AMAAI Lab; "
        f"code: [AMAAI-Lab/apex]({CODE_URL})",
    ])


MODEL_FILES_TITLE = ("**Loaded model files** (what `python -m apex_demo doctor` reports; run it on the server "
                     "to also score a probe and see the full paths)")


def build(ctx: AppContext) -> None:
    """Lay out the About tab (call inside a gr.Tab)."""
    gr.Markdown("### What the scores mean")
    gr.Markdown(scores_markdown())
    gr.Markdown(f"**Overall score (Compare tab).** {OVERALL_DEFINITION}")
    gr.Markdown(f"**About the same.** {TOLERANCE_DEFINITION} Compare, the weakest part and the Arena's model "
                "pick then say so instead of naming a winner.")
    gr.Markdown(ABOUT_NOTE)
    gr.Markdown(METHOD)
    gr.Markdown(models_markdown(ctx))
    gr.Markdown(licences_markdown(), elem_id="about-licences")
    with gr.Accordion("For the site's owner", open=False):
        gr.Markdown(OWNER_NOTES)
        owner_note = gr.Markdown(elem_id="about-owner-note")
        gr.Markdown(MODEL_FILES_TITLE)
        model_files = gr.Markdown(elem_id="about-model-files")
    # filled on every page load; a page event, not an API endpoint or an MCP tool
    gr.on(triggers=None, fn=lambda: (ctx.loader.owner_note(), ctx.loader.model_facts()), inputs=None,
          outputs=[owner_note, model_files], api_visibility="private", queue=False, show_progress="hidden")

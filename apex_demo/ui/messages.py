"""What a visitor reads when something goes wrong: plain words and what to do, in a panel that stays.

Engine errors (apex_demo.errors) speak to whoever runs the server: file paths, libsndfile,
APEX_* variables. Visitors get a message chosen by the error's stable code instead; the
engine's own message goes to the server log (and model-load problems to the About tab),
so nothing useful is lost. Messages are shown in a per-tab panel (a component value, so
it stays until the next action) rather than a toast that vanishes after a few seconds.
"""

from __future__ import annotations

import html
import logging
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from apex_demo.errors import ApexError, ErrorCode

LOG = logging.getLogger(__name__)

ACCEPTED_FORMATS = "WAV, FLAC, OGG, MP3"
UPLOAD_LIMITS = "Accepts {formats} (most other audio formats too) · up to {length} · up to {mb:g} MB per file."
# An upload over the size limit is stopped in the browser before Gradio sends it (page.js reads the
# limit Gradio was launched with and fills in {name} and {size}); the limit itself is Settings.max_file_mb.
TOO_BIG = ("“{{name}}” is {{size}} MB; the limit is {limit:g} MB per file. Export it as a smaller MP3 or OGG "
           "(a lower bitrate; much smaller than WAV) or trim it, then upload it again.")
LIMITS_LINE = '<small class="apex-limits" data-apex-too-big="{too_big}">{text}</small>'
NO_AUDIO = "No song yet. Upload a file, record one, or pick an example below, then press the button again."
TOO_LONG = ("“{name}” is {length} long; the limit is {limit}. Trim it or upload the part you want checked.")
TOO_LONG_NO_LENGTH = ("“{name}” is longer than the limit of {limit}. Trim it or upload the part you want "
                      "checked.")
BY_CODE: dict[ErrorCode, str] = {
    ErrorCode.NOT_AUDIO: ("“{name}” doesn't look like audio we can read. Check that it plays in a music "
                          "player, or export it again as " + ACCEPTED_FORMATS + "."),
    ErrorCode.CORRUPT_AUDIO: "“{name}” is damaged or cut short. Export or download it again and re-upload it.",
    ErrorCode.EMPTY_FILE: "“{name}” is empty (0 bytes). Export or download it again and re-upload it.",
    ErrorCode.ZERO_LENGTH: "“{name}” holds no sound (0 seconds). Export it again with the audio included.",
    ErrorCode.NON_FINITE: ("“{name}” contains broken sample values. Export it again, for example as a "
                           "16-bit WAV."),
    ErrorCode.FFMPEG_MISSING: ("This server can't read “{name}” in this format. Convert it to "
                               + ACCEPTED_FORMATS + " and upload it again."),
    ErrorCode.FILE_NOT_FOUND: "The upload of “{name}” did not arrive. Upload the file again.",
}
MODELS_UNAVAILABLE = ("Scoring is not available right now: the models could not be loaded on this server. "
                      "Try again later; the site's owner finds the details in the server log and on the "
                      "About tab.")
MODELS_LOADING = "The models are still loading (this takes a minute after a restart). Press the button again shortly."
SOMETHING_WRONG = "Something went wrong on the server while scoring “{name}”. Try again; if it keeps happening, tell the site's owner."
# Refusals whose engine message is already written for visitors (the numbers and what to do); only the
# server's upload path in it is replaced by the file's name.
PLAIN_CODES = frozenset({ErrorCode.UNSUPPORTED_SAMPLE_RATE, ErrorCode.TOO_MANY_CHANNELS, ErrorCode.TOO_LARGE,
                         ErrorCode.BUSY, ErrorCode.TOO_MUCH_AUDIO})
MODEL_CODES = frozenset({ErrorCode.HUB_UNREACHABLE, ErrorCode.MODEL_NOT_FOUND, ErrorCode.UNSUPPORTED_CONFIG,
                         ErrorCode.WEIGHTS_MISMATCH, ErrorCode.HEAD_MISMATCH, ErrorCode.DEVICE_UNAVAILABLE})
PANEL = '<div class="apex-panel apex-panel-{kind}" role="{role}"><span aria-hidden="true">{icon}</span> {text}</div>'
ICONS = {"error": "⚠", "note": "ℹ"}
SECONDS_PER_MINUTE = 60
TENTH, WHOLE = Decimal("0.1"), Decimal("1")


def minutes_text(seconds: float) -> str:
    """'11 min', '1 min 31 s', '45 s' or '8.5 s': how a musician says a length.

    Halves round up, as a reader rounds (Python's round() takes 8.5 to 8, so a limit of 8.5 s
    read "8 s"). Under a minute a tenth of a second is kept, so a limit of 8.5 s and a 9.1 s clip
    never both read "9 s"; from a minute on, whole seconds.
    """
    tenths = _round_half_up(seconds, TENTH)
    if tenths < SECONDS_PER_MINUTE:
        return f"{tenths.normalize():f} s"
    minutes, secs = divmod(int(_round_half_up(seconds, WHOLE)), SECONDS_PER_MINUTE)
    return f"{minutes} min" if not secs else f"{minutes} min {secs} s"


def _round_half_up(value: float, step: Decimal) -> Decimal:
    """`value` to a multiple of `step`, halves up, as its shortest decimal form reads (1.05 -> 1.1)."""
    return Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP)


def upload_limits(max_seconds: float, max_file_mb: float) -> str:
    """The line shown beside every upload: formats and both limits."""
    return UPLOAD_LIMITS.format(formats=ACCEPTED_FORMATS, length=minutes_text(max_seconds), mb=max_file_mb)


def limits_line(max_seconds: float, max_file_mb: float, more: str = "") -> str:
    """The HTML shown under every upload: formats and limits (and `more`, e.g. Compare's total),
    carrying the too-big message for page.js (a file over the size limit never reaches the server,
    so the browser words that refusal)."""
    text = " ".join(part for part in (upload_limits(max_seconds, max_file_mb), more) if part)
    return LIMITS_LINE.format(too_big=html.escape(TOO_BIG.format(limit=max_file_mb)), text=html.escape(text))


def visitor_message(exc: ApexError, upload: str | Path | None = None, loading: bool = False) -> str:
    """Plain words and what to do for an engine error; the engine's message is logged for the owner."""
    LOG.warning("request failed (%s): %s", exc.code.value, exc.message)
    name = Path(upload).name if upload else "the file"
    if exc.code is ErrorCode.TOO_LONG:
        limit = exc.details.get("limit_s")
        seconds = exc.details.get("seconds")
        if seconds is not None and limit is not None:
            return TOO_LONG.format(name=name, length=minutes_text(seconds), limit=minutes_text(limit))
        return TOO_LONG_NO_LENGTH.format(name=name, limit=minutes_text(limit) if limit else "the limit")
    if exc.code in MODEL_CODES:
        return MODELS_LOADING if loading else MODELS_UNAVAILABLE
    if exc.code in PLAIN_CODES:
        return exc.message.replace(str(upload), f"“{name}”") if upload else exc.message
    template = BY_CODE.get(exc.code)
    return template.format(name=name) if template else SOMETHING_WRONG.format(name=name)


def unexpected_message(exc: BaseException, upload: str | Path | None = None) -> str:
    """For a bug or an environment failure: logged with its traceback, worded for the visitor."""
    LOG.error("unexpected error in a request", exc_info=exc)
    return SOMETHING_WRONG.format(name=Path(upload).name if upload else "your file")


def panel(text: str, kind: str = "error") -> str:
    """The HTML of the message panel: an alert for errors, a status note otherwise (text is escaped)."""
    role = "alert" if kind == "error" else "status"
    return PANEL.format(kind=kind, role=role, icon=ICONS.get(kind, ""), text=html.escape(text))


def notes_panel(lines: list[str]) -> str:
    """Several notes (a result's warnings) in one panel; empty when there is nothing to say."""
    return "".join(panel(line, "note") for line in lines)

"""CSV cells that spreadsheets will not execute (one rule for every CSV this project writes).

OWASP "CSV injection": a text cell starting with = + - @, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets, and so is one where spaces come first
(' =1+2': spreadsheets skip leading blanks) or where the sign is the full-width form. File names
and prompts come from users, so every CSV writer passes its cells through `escape_cell`, which
prefixes such cells with a ' (shown as text). A cell that already starts with ' before such
text gets one more, so `unescape_cell` (reading our own CSV back to resume) is exact.
"""

from __future__ import annotations

from typing import Any, Mapping

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
GUARD = "'"


def _formula_like(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES) or text.lstrip().startswith(FORMULA_PREFIXES)


def needs_guard(text: str) -> bool:
    """Whether a spreadsheet could read `text` as a formula, now or once one leading ' is removed."""
    return _formula_like(text.lstrip(GUARD))


def escape_cell(value: Any) -> Any:
    """Prefix a formula-like text cell with ' so it shows as text; other values pass unchanged."""
    if isinstance(value, str) and needs_guard(value):
        return GUARD + value
    return value


def escape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: escape_cell(value) for key, value in row.items()}


def unescape_cell(value: Any) -> Any:
    """Undo `escape_cell` when reading our own CSV back (e.g. to resume a batch run)."""
    if isinstance(value, str) and value.startswith(GUARD) and needs_guard(value[1:]):
        return value[1:]
    return value

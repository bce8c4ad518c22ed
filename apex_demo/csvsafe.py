"""CSV cells that spreadsheets will not execute (one rule for every CSV this project writes).

A text cell starting with = + - @, a tab or a carriage return is read as a formula by Excel,
LibreOffice and Google Sheets; file names and prompts come from users, so every CSV writer
passes its cells through `escape_cell`.
"""

from __future__ import annotations

from typing import Any, Mapping

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """Prefix a formula-like text cell with ' so it shows as text; other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: escape_cell(value) for key, value in row.items()}


def unescape_cell(value: Any) -> Any:
    """Undo `escape_cell` when reading our own CSV back (e.g. to resume a batch run)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value

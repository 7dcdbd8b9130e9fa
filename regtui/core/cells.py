"""Spreadsheet cells written from user data (reports, exports): a value a spreadsheet would
evaluate as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
is written as text. In .xlsx the cell is typed as a string; in .csv, which has no types, it
gets a leading single quote."""

from __future__ import annotations

import datetime as dt
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text

"""Errors of the batch engine.

Two kinds:

* ``RosterError`` is raised when a whole file cannot be read (not a spreadsheet, too big,
  a zip bomb, empty, ...). ``str(err)`` is one sentence for a HR person; it is a
  ``UsageError`` so the CLI exits with code 2.
* ``RowError`` is a value, never raised: one problem with one cell, row or column, or with the
  plan as a whole (row 0), with a stable ``code`` the planner, the report writer and the tests
  can rely on. Reading, validating and planning all make it (``batch.plan.PlanError`` is the
  same class); warnings have the same shape. Every code is in docs/roster-codes.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from regtui.core.errors import UsageError


class RosterError(UsageError):
    """The roster file as a whole cannot be read. ``code`` is stable, the text is a sentence."""

    def __init__(self, message: str, code: str = "unreadable-file"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem (or warning) in a roster.

    ``row`` is the spreadsheet's own row number (header = 1), or 1 for a problem with the
    header (a missing column), or 0 for a problem with the file as a whole.
    ``column`` is the canonical column name (``email``) when the column is known, else the
    header text as written, else None. ``value`` is the cell as read (None when there is none).
    ``message`` is a complete sentence, starting with "Row N:" when it is about a row.
    """

    code: str
    row: int
    column: str | None
    value: Any
    message: str

    def as_dict(self) -> dict:
        return {"code": self.code, "row": self.row, "column": self.column, "value": _jsonable(self.value),
                "message": self.message}


def _jsonable(value: Any) -> Any:
    """A cell value as JSON has it: dates as ISO text, anything unusual as its text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# The stable codes, with what they mean. Kept here so a report or a UI can list them.
ERROR_CODES: dict[str, str] = {
    "missing-column": "a column needed by the actions in the file is not in the header",
    "duplicate-column": "two header cells name the same column",
    "missing-value": "a cell that the row's action needs is empty",
    "invalid-email": "the email address is not valid",
    "unknown-action": "the action is not create, invite, revoke or extend",
    "bad-date": "the cell is not a date",
    "ambiguous-date": "a date like 03/04/2027 could be day/month or month/day",
    "end-before-start": "access_end is before access_start",
    "cell-too-long": "the cell is longer than the limit",
    "formula-no-value": "the cell has a formula but the file holds no computed value for it",
    "conflicting-duplicate": "the same person and pool appear on an earlier row with different data",
    "name-too-long": "a first or last name is longer than a learner's name may be (100 characters)",
    "weak-password": "a create row's password breaks the password rule (length, control characters, a common password)",
}

WARNING_CODES: dict[str, str] = {
    "unknown-column": "a header cell names no roster column; the column is ignored",
    "duplicate-row": "an exact duplicate of an earlier row; it counts once",
    "value-ignored": "a value that the row's action does not use (e.g. a password on an invite row)",
    "formula-no-value": "a formula without a computed value in a column that is ignored",
    "cell-too-long": "an over-long cell in a column that is ignored",
}

"""``read_roster``: the one entry point the planner uses: read a file, validate every row."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from batch.errors import RowError
from batch.readers import Limits, RawRoster, read_raw, read_raw_bytes
from batch.readers import RawRow
from batch.schema import REPORT_COLUMNS, HeaderMap, header_key
from batch.validate import ProgressFn, ValidRow, validate


@dataclass(frozen=True)
class RosterRows:
    """A roster file, read and validated.

    ``rows`` are the valid rows (exact duplicates counted once); a row with any error is not
    among them. ``errors``/``warnings`` are sorted by row. ``raw`` keeps every non-blank row as
    read, with its row number, and the original header, for a report with a status column.
    """

    name: str
    sha256: str
    header: HeaderMap
    rows: tuple[ValidRow, ...]
    errors: tuple[RowError, ...]
    warnings: tuple[RowError, ...]
    raw: RawRoster

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_rows(self) -> frozenset[int]:
        """Row numbers that have at least one error (1 = the header: a file-level problem)."""
        return frozenset(e.row for e in self.errors)


def read_roster(
    path: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    sheet: str | None = None,
    default_action: str | None = None,
    default_pool: str | None = None,
    date_format: str | None = None,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    on_parse: Callable[[], Any] | None = None,
) -> RosterRows:
    """Read and validate a roster (.xlsx, .csv, .txt): a path to a regular file, or the file's
    bytes (then ``name``, default "stdin", is what messages and reports call it).

    Raises ``RosterError`` (a UsageError, exit code 2, one sentence) when the file as a whole
    cannot be read; problems with rows, cells or columns come back as ``errors``.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        name = name or "stdin"
        raw = read_raw_bytes(name, bytes(path), sheet=sheet, limits=limits, on_parse=on_parse)
    else:
        name = name or Path(path).name
        raw = read_raw(path, sheet=sheet, limits=limits, on_parse=on_parse)
    raw = roster_of_report(raw)
    header, rows, errors, warnings = validate(
        raw,
        default_action=default_action,
        default_pool=default_pool,
        date_format=date_format,
        progress=progress,
    )
    return RosterRows(name, raw.sha256, header, rows, errors, warnings, raw)


_REPORT_KEYS = tuple(header_key(c) for c in REPORT_COLUMNS)


def roster_of_report(raw: RawRoster) -> RawRoster:
    """A report (``batch.report``) read back as the roster it was made from: its status columns
    set aside, each row numbered as in the roster (its "Report row" cell), and the lines the report
    added for sync revokes (no roster row) dropped. Any other file is returned as it is."""
    keys = [header_key(h) for h in raw.header]
    if _REPORT_KEYS[0] not in keys or not all(k in keys for k in _REPORT_KEYS[1:]):
        return raw
    drop = {i for i, k in enumerate(keys) if k in _REPORT_KEYS}
    row_at = keys.index(_REPORT_KEYS[0])
    keep = [i for i in range(len(raw.header)) if i not in drop]
    rows = []
    numbers: dict[int, int] = {}  # the report's row -> the roster's
    for r in raw.rows:
        number = r.cells[row_at] if row_at < len(r.cells) else None
        if isinstance(number, str) and number.strip().isdigit():
            number = int(number.strip())
        if not isinstance(number, int) or isinstance(number, bool) or number < 2:
            continue  # a line the report added (a sync revoke), not a roster row
        numbers[r.row] = number
        rows.append(RawRow(number, tuple(r.cells[i] if i < len(r.cells) else None for i in keep)))
    moved = {old: new for new, old in enumerate(keep)}
    issues = tuple(i._replace(row=numbers[i.row], col=moved[i.col]) for i in raw.issues
                   if i.col in moved and i.row in numbers)
    return replace(raw, header=tuple(raw.header[i] for i in keep), rows=tuple(rows), issues=issues, columns=None)

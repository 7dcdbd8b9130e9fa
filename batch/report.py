"""Reports: the roster's own rows with a status and a message column, as .xlsx or .csv.

Every cell is written as plain text when a spreadsheet would evaluate it (it starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return): in .xlsx the cell is typed as a string
explicitly, in .csv it is prefixed with a single quote. A roster can never smuggle a formula
into the report an admin opens. In .xlsx, the cells of rows with errors are highlighted.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ERROR_FILL = "FFC7CE"
ERROR_FONT = "9C0006"
STATUS_COLUMNS = ("status", "message")


def risky(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _header_and_rows(rows) -> tuple[list[str], list[tuple[int, Sequence[Any]]]]:
    """The roster's header and raw rows, wherever the reader keeps them."""
    raw = getattr(rows, "raw", None)
    header = getattr(raw, "header", None) or getattr(rows, "header", None) or getattr(rows, "raw_header", None)
    raw_rows = getattr(raw, "rows", None) if raw is not None else None
    if raw_rows is None:
        raw_rows = getattr(rows, "raw_rows", None)
    if header is None or raw_rows is None:  # fall back to the valid rows' fields
        names = ["action", "email", "first_name", "last_name", "access_start", "access_end", "pool", "message"]
        return names, [(r.row, [getattr(r, n, None) for n in names]) for r in rows.rows]
    out = []
    for r in raw_rows:
        if hasattr(r, "cells"):
            out.append((r.row, list(r.cells)))
        else:
            out.append((r[0], list(r[1])))
    return [str(h) for h in header], out


def _column_index(rows, header: Sequence[str], column: str | None) -> int | None:
    if column is None:
        return None
    mapping = getattr(getattr(rows, "header", None), "columns", None) or getattr(rows, "columns", None)
    if isinstance(mapping, Mapping):
        hit = mapping.get(column)
        if isinstance(hit, int):
            return hit
        if isinstance(hit, str) and hit in header:
            return list(header).index(hit)
        for idx, name in mapping.items():  # index -> canonical name
            if name == column and isinstance(idx, int):
                return idx
    from batch.schema import header_key

    want = header_key(column)
    for i, h in enumerate(header):
        if header_key(h) == want:
            return i
    return None


def write_report(path: str | os.PathLike, rows, plan=None, *, statuses: Mapping[int, tuple[str, str]] | None = None) -> Path:
    """Write the roster's rows with status and message to ``path`` (.xlsx, or .csv/.txt)."""
    path = Path(path)
    header, raw_rows = _header_and_rows(rows)
    if statuses is None:
        statuses = plan.rows_status() if plan is not None else {}
        if plan is None:
            merged: dict[int, tuple[str, str]] = {}
            for e in rows.errors:
                if e.row > 1:
                    merged[e.row] = ("error", (merged[e.row][1] + " " if e.row in merged else "") + e.message)
            statuses = merged
    errors = plan.errors if plan is not None else rows.errors
    bad_cells: dict[int, set[int]] = {}
    for e in errors:
        idx = _column_index(rows, header, e.column)
        if idx is not None and e.row > 1:
            bad_cells.setdefault(e.row, set()).add(idx)
    lines = []
    for rownum, cells in raw_rows:
        status, message = statuses.get(rownum, ("", ""))
        lines.append((rownum, list(cells) + [""] * (len(header) - len(cells)), status, message))
    if plan is not None:  # sync revokes of learners not on the roster get their own lines
        for c in plan.changes:
            if c.row is None:
                cells = [""] * len(header)
                idx = _column_index(rows, header, "email")
                if idx is not None:
                    cells[idx] = c.email
                from batch.plan import describe

                lines.append((None, cells, c.kind, describe(c)))
    if path.suffix.lower() == ".xlsx":
        _write_xlsx(path, header, lines, bad_cells)
    elif path.suffix.lower() in (".csv", ".txt"):
        _write_csv(path, header, lines)
    else:
        from regtui.core.errors import UsageError

        raise UsageError(f"A report is .xlsx or .csv, not {path.suffix or 'a file without an extension'}.")
    return path


def _write_csv(path: Path, header: Sequence[str], lines: Iterable) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow([csv_cell(h) for h in ["row", *header, *STATUS_COLUMNS]])
        for rownum, cells, status, message in lines:
            w.writerow([csv_cell(rownum), *[csv_cell(c) for c in cells], csv_cell(status), csv_cell(message)])


def _write_xlsx(path: Path, header: Sequence[str], lines: Iterable, bad_cells: Mapping[int, set[int]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("report")
    fill = PatternFill("solid", start_color=ERROR_FILL, end_color=ERROR_FILL)
    font = Font(color=ERROR_FONT)
    bold = Font(bold=True)

    def cell(value: Any, *, error: bool = False, style_font=None) -> WriteOnlyCell:
        if value == "":
            value = None
        if isinstance(value, str):
            c = WriteOnlyCell(ws, value=None)
            c._value = value
            c.data_type = "s"  # always text, never a formula
        else:
            c = WriteOnlyCell(ws, value=value)
        if error:
            c.fill = fill
            c.font = font
        elif style_font is not None:
            c.font = style_font
        return c

    ws.append([cell(h, style_font=bold) for h in ["row", *header, *STATUS_COLUMNS]])
    for rownum, cells, status, message in lines:
        bad = bad_cells.get(rownum, set()) if rownum is not None else set()
        is_error = status == "error"
        ws.append([cell(rownum)]
                  + [cell(_plain(v), error=(i in bad)) for i, v in enumerate(cells)]
                  + [cell(status, error=is_error), cell(message, error=is_error)])
    wb.save(path)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, dt.date, dt.datetime)):
        return value
    return str(value)

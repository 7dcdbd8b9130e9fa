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

from regtui.core.cells import FORMULA_START, csv_cell  # noqa: F401 (both part of this module's interface)
ERROR_FILL = "FFC7CE"
ERROR_FONT = "9C0006"
from batch.schema import REPORT_COLUMNS  # noqa: E402 - ("Report row", "Report status", "Report message")

ROW_COLUMN, STATUS_COLUMNS = REPORT_COLUMNS[0], REPORT_COLUMNS[1:]


def _column_index(rows, column: str | None) -> int | None:
    """The 0-based position in the roster's rows of a canonical column, or of a header as written."""
    if column is None:
        return None
    if column in rows.header.columns:
        return rows.header.columns[column]
    from batch.schema import header_key

    want = header_key(column)
    return next((i for i, h in enumerate(rows.raw.header) if header_key(str(h)) == want), None)


def statuses_of(rows, plan=None) -> dict[int, tuple[str, str]]:
    """spreadsheet row -> (status, message): the plan's verdict, else the reader's errors;
    a row with only a warning (an exact duplicate, say) says so too."""
    out: dict[int, tuple[str, str]] = plan.rows_status() if plan is not None else {}
    if plan is None:
        for e in rows.errors:
            if e.row > 1:
                prev = out.get(e.row)
                out[e.row] = ("error", f"{prev[1]} {e.message}" if prev else e.message)
    for w in rows.warnings:
        if w.row > 1 and w.row not in out:
            out[w.row] = ("warning", w.message)
    return out


def write_report(path: str | os.PathLike, rows, plan=None, *, statuses: Mapping[int, tuple[str, str]] | None = None) -> Path:
    """Write the roster's rows with status and message to ``path`` (.xlsx, or .csv/.txt)."""
    path = Path(path)
    header = [str(h) for h in rows.raw.header]
    if statuses is None:
        statuses = statuses_of(rows, plan)
    errors = plan.errors if plan is not None else rows.errors
    bad_cells: dict[int, set[int]] = {}
    for e in errors:
        idx = _column_index(rows, e.column)
        if idx is not None and e.row > 1:
            bad_cells.setdefault(e.row, set()).add(idx)
    lines = []
    for raw in rows.raw.rows:
        status, message = statuses.get(raw.row, ("", ""))
        cells = list(raw.cells)
        lines.append((raw.row, cells + [""] * (len(header) - len(cells)), status, message))
    if plan is not None:  # sync revokes of learners not on the roster get their own lines
        for c in plan.changes:
            if c.row is None:
                cells = [""] * len(header)
                idx = _column_index(rows, "email")
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
        w.writerow([csv_cell(h) for h in [ROW_COLUMN, *header, *STATUS_COLUMNS]])
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

    ws.append([cell(h, style_font=bold) for h in [ROW_COLUMN, *header, *STATUS_COLUMNS]])
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

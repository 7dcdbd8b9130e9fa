"""Reading an .xlsx with python-calamine, once ``batch.zipguard`` has checked it: cells keep their
types (integral numbers as int, real date cells as dates)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from itertools import compress
from typing import Any, Callable

from batch.errors import RosterError
from batch.rawtypes import CellIssue, Limits, RawRoster, RawRow, _header_only, _is_blank, _too_many_rows
from regtui.core.records import from_columns
from batch.zipguard import _Inflater, _SheetScan, _exact_extent, _open_zip, _sheet_parts, _too_many_columns


def _read_xlsx(name: str, data: bytes, sha: str, sheet: str | None, limits: Limits,
               on_parse: Callable[[], Any] | None = None) -> RawRoster:
    """The roster in the workbook's sheet (``sheet``, else the first visible one): every zip part
    calamine inflates is measured first (``batch.zipguard``), then the sheet is read in one call
    and turned column by column into rows (no call per cell on the usual roster)."""
    import python_calamine as pc

    members, inflater, parts = _guarded_parts(data, limits)
    wb = _open_workbook(pc, data)
    chosen = _choose_sheet(pc, wb, sheet)
    part = parts.get(chosen.name)
    info = members.get(part) if part else None
    if info is None:
        raise RosterError(f"The workbook is damaged (the sheet '{chosen.name}' is missing); save it again and upload it.", "bad-workbook")
    scan = _measure_sheet(inflater, info, limits)
    grid, (row0, col0) = _sheet_grid(wb, chosen.name, on_parse)
    first = row0 + 1  # spreadsheet row number of grid[0]
    h = _header_index(grid, chosen.name)
    header = tuple(_header_text(v) for v in grid[h])
    header_row = first + h
    if first + len(grid) - 1 - header_row > limits.max_rows:
        raise _too_many_rows(limits)
    body = grid[h + 1:]
    start_row = header_row + 1
    columns, long_cells = _typed_columns(body, start_row, limits.max_cell_chars)
    issues = _cell_issues(scan.formula_cells, col0, range(start_row, start_row + len(body)), len(header), long_cells)
    rownums, cells_of, columns = _without_blank_rows(range(start_row, start_row + len(body)), columns, len(body))
    rows = from_columns(RawRow, rownums, cells_of)
    if not rows:
        raise _header_only()
    return RawRoster(name, sha, "xlsx", header_row, header, tuple(rows), tuple(issues), sheet=chosen.name, limits=limits,
                     columns=tuple(columns))


_DAMAGED = "The workbook is damaged; save it again and upload it."


def _guarded_parts(data: bytes, limits: Limits):
    """(zip members by name, the inflater, sheet name -> part) once the shared strings and styles,
    which calamine reads when it opens the workbook, are inflated to their true size within the
    limits."""
    zf, members = _open_zip(data, limits)
    inflater = _Inflater(data, limits)
    try:
        parts = _sheet_parts(inflater, members)
        for other in ("xl/sharedstrings.xml", "xl/styles.xml"):
            if other in members:
                for _ in inflater.chunks(members[other]):
                    pass
    except zipfile.BadZipFile:
        raise RosterError(_DAMAGED, "bad-workbook") from None
    return members, inflater, parts


def _open_workbook(pc, data: bytes):
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        wb.sheets_metadata  # read here, so that a damaged index fails as a damaged workbook
        return wb
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # calamine errors, and pyo3 panics (BaseException)
        raise _calamine_error(e) from None


def _choose_sheet(pc, wb, sheet: str | None):
    """The worksheet named ``sheet`` (exactly, else ignoring case), or the first visible one."""
    worksheets = [m for m in wb.sheets_metadata if m.typ == pc.SheetTypeEnum.WorkSheet]
    if sheet is None:
        chosen = next((m for m in worksheets if m.visible == pc.SheetVisibleEnum.Visible), None)
        if chosen is None:
            raise RosterError("The workbook has no visible sheet to read.", "no-sheet")
        return chosen
    chosen = next((m for m in worksheets if m.name == sheet), None) or next(
        (m for m in worksheets if m.name.casefold() == sheet.strip().casefold()), None)
    if chosen is None:
        names = ", ".join(f"'{m.name}'" for m in worksheets) or "none"
        raise RosterError(f"The workbook has no sheet named '{sheet}' (its sheets: {names}).", "no-sheet")
    return chosen


def _measure_sheet(inflater, info, limits: Limits) -> _SheetScan:
    """Check the sheet's part for its true size, rows, columns and cells before calamine
    inflates it; returns the scan (it also found the formula cells with no saved value)."""
    scan = _SheetScan(limits)
    try:
        for piece in inflater.chunks(info):
            scan.feed(piece)
        scan.finish()
        if scan.cells_without_ref or scan.height * scan.width > limits.max_cells:
            # Cells without references, or a wide sheet: measure the grid exactly (second pass).
            max_row, max_col = _exact_extent(inflater.chunks(info))
            height, width = max(max_row, 1), max(max_col, 1)
            if scan.cells_without_ref:  # they take the next position after a referenced one
                height += scan.rows_without_ref
                width += scan.max_cells_in_row
            if height > limits.max_rows + 1:
                raise _too_many_rows(limits)
            if width > limits.max_columns:
                raise _too_many_columns(limits)
            scan.check_cells(height, width)
    except zipfile.BadZipFile:
        raise RosterError(_DAMAGED, "bad-workbook") from None
    return scan


def _sheet_grid(wb, sheet_name: str, on_parse: Callable[[], Any] | None) -> tuple[list, tuple[int, int]]:
    """The sheet's cells as rows of Python values (calamine, one call), and the 0-based
    (row, column) of its top-left cell; the workbook is closed."""
    try:
        if on_parse is not None:
            on_parse()
        ws = wb.get_sheet_by_name(sheet_name)
        start = ws.start
        grid = ws.to_python(skip_empty_area=True) if start is not None else []
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise _calamine_error(e) from None
    finally:
        try:
            wb.close()
        except BaseException:
            pass
    if not grid:
        raise RosterError(f"The sheet '{sheet_name}' is empty.", "empty-file")
    return grid, start


def _header_index(grid: list, sheet_name: str) -> int:
    """The header: the first row that is not blank."""
    h = 0
    while h < len(grid) and _is_blank(grid[h]):
        h += 1
    if h == len(grid):
        raise RosterError(f"The sheet '{sheet_name}' is empty.", "empty-file")
    return h


def _typed_columns(body: list, start_row: int, max_chars: int) -> tuple[list, list[tuple[int, int, str]]]:
    """The body's columns with integral floats as ints, and the cells longer than ``max_chars``
    as (row number, column, text). Column by column: a type check per column, not per cell."""
    columns = list(zip(*body)) if body else []
    long_cells: list[tuple[int, int, str]] = []
    for c, col in enumerate(columns):
        types = set(map(type, col))
        if float in types:
            columns[c] = col = tuple([_int_if_integral(v) if type(v) is float else v for v in col])
        if str in types:
            strs = col if len(types) == 1 else [v for v in col if type(v) is str]
            if max(map(len, strs)) > max_chars:
                long_cells.extend((start_row + i, c, v) for i, v in enumerate(col) if type(v) is str and len(v) > max_chars)
    return columns, long_cells


def _cell_issues(formula_cells, col0: int, rownums: range, width: int,
                 long_cells: list[tuple[int, int, str]]) -> list[CellIssue]:
    """Cells the reader flags: formulas without a value (positions relative to the grid), then
    cells too long, row by row; formulas outside the rows read come last."""
    formula_at: dict[int, list[int]] = {}
    for r, c in formula_cells:
        formula_at.setdefault(r, []).append(c - 1 - col0)
    if not (formula_at or long_cells):
        return []
    flagged = [(r, 0, c, "formula-no-value", None) for r in rownums
               for c in formula_at.pop(r, ()) if 0 <= c < width] if formula_at else []
    flagged += [(r, 1, c, "cell-too-long", v) for r, c, v in long_cells]
    flagged.sort(key=lambda f: (f[0], f[1]))
    issues = [CellIssue(r, c, code, v) for r, _, c, code, v in flagged]
    for rownum, cols in formula_at.items():
        issues.extend(CellIssue(rownum, c, "formula-no-value", None) for c in cols if 0 <= c < width)
    return issues


def _without_blank_rows(rownums: range, columns: list, height: int):
    """(row numbers, rows of cells, columns) without the blank rows; only a row whose first cell
    is blank can be blank, so the usual roster is checked with one pass over one column."""
    cells_of = list(zip(*columns)) if columns else [()] * height
    first_col = columns[0] if columns else ()
    maybe_blank = [i for i, v in enumerate(first_col) if not v or (type(v) is str and v.isspace())] \
        if ("" in first_col or None in first_col or any(map(_blank_text, set(first_col)))) else []
    blank = [i for i in maybe_blank if _is_blank(cells_of[i])]
    if not blank:
        return rownums, cells_of, columns
    keep = [True] * height
    for i in blank:
        keep[i] = False
    return compress(rownums, keep), compress(cells_of, keep), [tuple(compress(col, keep)) for col in columns]


def _blank_text(v: Any) -> bool:
    return type(v) is str and v.isspace()


def _int_if_integral(v: float) -> int | float:
    return int(v) if v.is_integer() else v


def _header_text(v: Any) -> str:
    if v is None:
        return ""
    if type(v) is float:
        v = _int_if_integral(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v).strip()


def _calamine_error(e: BaseException) -> RosterError:
    text = str(e).lower()
    if "password" in text or "encrypt" in text:
        return RosterError(
            "This workbook is protected with a password; remove the password, save it as .xlsx and upload again.",
            "encrypted-workbook",
        )
    return RosterError("The workbook is damaged and cannot be read; open it in Excel or LibreOffice, save it as .xlsx and upload again.", "bad-workbook")

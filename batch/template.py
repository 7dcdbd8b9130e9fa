"""Write an .xlsx roster template from ``schemas/roster.json``: the header row, an
"Instructions" sheet (one line per column) and a drop-down for the action column."""

from __future__ import annotations

import io
import os
from pathlib import Path

from batch.schema import Schema, load_schema
from regtui.core.errors import UsageError

MAX_TEMPLATE_ROWS = 5000  # rows the action drop-down and the date format cover


def write_template(path: str | os.PathLike, schema: Schema | None = None) -> Path:
    """Write the template to ``path`` (a new .xlsx) and return the path. UsageError (one sentence,
    nothing written) for another extension, a file that exists, a folder, or a missing folder."""
    out = _new_xlsx_path(Path(path))
    import openpyxl
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    schema = schema or load_schema()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Roster"
    names = [f.name for f in schema.fields]
    ws.append(names)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for i, f in enumerate(schema.fields, 1):
        cell = ws.cell(row=1, column=i)
        cell.font = bold
        cell.fill = fill
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(14, len(f.name) + 4, 30 if f.name in ("email", "message") else 0)
        if f.type == "date":
            for r in range(2, MAX_TEMPLATE_ROWS + 2):
                ws.cell(row=r, column=i).number_format = "yyyy-mm-dd"
        elif f.name in ("pool", "password"):
            for r in range(2, MAX_TEMPLATE_ROWS + 2):  # text, so 1001 stays "1001" and 0123 keeps its 0
                ws.cell(row=r, column=i).number_format = "@"
    ws.freeze_panes = "A2"

    action = schema.field("action")
    choices = ",".join(action.enum or ())
    dv = DataValidation(
        type="list",
        formula1=f'"{choices}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Unknown action",
        error=f"Choose one of: {choices.replace(',', ', ')}.",
        promptTitle="Action",
        prompt="What to do for this learner.",
    )
    dv.showInputMessage = True
    col = get_column_letter(names.index("action") + 1)
    dv.add(f"{col}2:{col}{MAX_TEMPLATE_ROWS + 1}")
    ws.add_data_validation(dv)

    info = wb.create_sheet("Instructions")
    info.append(["column", "description", "required for", "used by", "example", "other accepted headers"])
    for c in info[1]:
        c.font = bold
        c.fill = fill
    all_actions = tuple(action.enum or ())
    for f in schema.fields:
        required = [a for a in all_actions if f.name in schema.required(a)]
        for a in all_actions:
            for group in schema.required_any_of(a):
                if f.name in group and a not in required:
                    required.append(f"{a} (this or {' / '.join(g for g in group if g != f.name)})")
        info.append([
            f.name,
            f.description,
            ", ".join(required) or "optional",
            ", ".join(f.only_for) if f.only_for else "all actions",
            f.example,
            ", ".join(f.aliases),
        ])
    info.append([])
    info.append(["", "One row is one action on one learner. Row 1 is the header; keep it. "
                     "Dates: use date cells or write them like 2027-03-01."])
    for letter, width in zip("ABCDEF", (16, 80, 28, 26, 24, 60)):
        info.column_dimensions[letter].width = width
    data = io.BytesIO()
    wb.save(data)
    try:  # O_EXCL: a file made meanwhile is not overwritten either
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{out} already exists; give a new file name (a template never overwrites a file).") from None
    except OSError as e:
        raise UsageError(f"{out} cannot be written ({e.strerror}).") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.getvalue())
    return out


def _new_xlsx_path(out: Path) -> Path:
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"A roster template is an .xlsx workbook (a drop-down for the action and an instructions "
                         f"sheet); name it {out.stem or 'roster'}.xlsx, not {out.name}.")
    if out.is_dir():
        raise UsageError(f"{out} is a folder: give the name of the .xlsx to write.")
    if not out.parent.is_dir():
        raise UsageError(f"There is no folder {out.parent}/ to write {out.name} into.")
    if out.exists():
        raise UsageError(f"{out} already exists; give a new file name (a template never overwrites a file).")
    return out

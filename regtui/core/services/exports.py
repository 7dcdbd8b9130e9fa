"""Exports: a pool's codes with who holds them, and a customer's users, as tables written to
an .xlsx or .csv file (the format from the file's suffix).

Every cell is written as text or a date, never as a formula: a name typed on the claim page as
``=HYPERLINK(...)`` stays that text in a spreadsheet (in a CSV it gets a leading apostrophe,
the usual guard, since a CSV has no cell types).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import JOIN

from regtui.core.cells import csv_cell
from regtui.core.errors import UsageError
from regtui.core.models import Access, Code, Customer, Invitation, Learner, Pool, utcnow
from regtui.core.services import registrations
from regtui.core.services.operators import Actor, require
from regtui.core.services.pools import customer_id

FORMATS = (".xlsx", ".csv")
STATE_WORDS = {"available": "available", "invited": "pending", "claimed": "claimed"}


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def pool_table(actor: Actor, pool: Pool) -> Table:
    """Every code of ``pool``, in code order: its state (available, pending, claimed), who
    holds it (or the pending invitee's address) and the access it gives."""
    require(actor, "seats.view", customer_id(pool))
    pending = dict(Invitation.select(Invitation.code, Invitation.email).join(Code)
                   .where((Code.pool == pool.id) & (Invitation.status == "pending") & (Invitation.expires_at >= utcnow()))
                   .order_by(Invitation.id).tuples())
    q = (Code.select(Code.id, Code.code, Code.state, Learner.email, Learner.first_name, Learner.last_name, Access.starts, Access.ends)
         .join(Learner, JOIN.LEFT_OUTER, on=(Code.learner == Learner.id))
         .switch(Code).join(Access, JOIN.LEFT_OUTER, on=((Access.code == Code.id) & (Access.status == "active")))
         .where(Code.pool == pool.id).order_by(Code.id).tuples())
    rows = [(code, STATE_WORDS.get(state, state), email or pending.get(code_id, ""), first or "", last or "", starts, ends)
            for code_id, code, state, email, first, last, starts, ends in q]
    return Table(("code", "state", "email", "first_name", "last_name", "access_start", "access_end"), rows)


def customer_table(actor: Actor, customer: Customer) -> Table:
    """Every learner holding a seat in any of ``customer``'s pools (``regtui users``)."""
    users = registrations.of_customer(actor, customer.id)
    rows = [(u.registration.email, u.registration.first_name, u.registration.last_name, u.pool_id, u.session,
             u.registration.code, u.registration.access_start, u.registration.access_end) for u in users]
    return Table(("email", "first_name", "last_name", "pool", "session", "code", "access_start", "access_end"), rows)


def target_file(path: str) -> Path:
    """A file about to be written: not a folder, in a folder that exists and is writable, with a
    suffix that says the format; else a UsageError (asked before the table is read)."""
    target = Path(path)
    if not path.strip():
        raise UsageError("Give the name of a file to write, ending in .xlsx or .csv.")
    if path.endswith(os.sep) or target.is_dir():
        raise UsageError(f"{path} is a folder: give the name of a file to write.")
    if target.suffix.lower() not in FORMATS:
        raise UsageError(f"{target.name} does not end in .xlsx or .csv: say which format to write by its suffix.")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"There is no folder {folder}/ to write {target.name} into.")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"The folder {folder}/ is not writable.")
    return target


def write(path: str | os.PathLike, table: Table) -> int:
    """Write ``table`` to ``path`` as .xlsx or .csv (from its suffix); returns the rows written."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{target.name} does not end in .xlsx or .csv: say which format to write by its suffix.")
    try:
        (_write_xlsx if suffix == ".xlsx" else _write_csv)(target, table)
    except OSError as exc:
        raise UsageError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    return len(table.rows)


def _write_csv(path: Path, table: Table) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        out = csv.writer(fh)
        out.writerow(table.header)
        out.writerows([csv_cell(c) for c in row] for row in table.rows)


def _write_xlsx(path: Path, table: Table) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    bold = Font(bold=True)

    def cell(value: Any, font=None) -> WriteOnlyCell:
        if isinstance(value, str):
            c = WriteOnlyCell(sheet, value=None)
            c._value, c.data_type = _without_controls(value), "s"  # text, never a formula
        else:
            c = WriteOnlyCell(sheet, value=value)
            if isinstance(value, dt.date):
                c.number_format = "yyyy-mm-dd"
        if font is not None:
            c.font = font
        return c

    sheet.append([cell(h, bold) for h in table.header])
    for row in table.rows:
        sheet.append([cell(v) for v in row])
    book.save(path)


def _without_controls(text: str) -> str:
    """XML 1.0 cannot hold most C0 controls: such a character is written as its escape."""
    from regtui.core.terminal import one_line

    return one_line(text) if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text) else text

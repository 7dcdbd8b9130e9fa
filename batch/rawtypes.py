"""What reading a roster produces (``RawRoster``, ``RawRow``, ``CellIssue``) and its ``Limits``, with
the sentences every reader shares. See ``batch.readers`` for the entry points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from batch.errors import RosterError


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a roster may be; checked before and while parsing."""

    max_file_bytes: int = 50 * MB
    max_rows: int = 200_000  # data rows, i.e. spreadsheet rows after the header
    max_cell_chars: int = 1000
    max_columns: int = 256
    max_cells: int = 10_000_000  # rows x columns of the grid a sheet spans
    max_unzipped_bytes: int = 500 * MB  # all the parts of an xlsx that are read, inflated
    max_zip_ratio: int = 200  # inflated size / compressed size of one part
    max_zip_entries: int = 10_000


class RawRow(NamedTuple):
    """One non-blank row as read: its spreadsheet row number and its cells (header order)."""

    row: int
    cells: tuple


class CellIssue(NamedTuple):
    """A problem the reader saw in one cell: ``code`` is 'formula-no-value' or 'cell-too-long'.

    ``col`` is the 0-based index in the row (the header's column)."""

    row: int
    col: int
    code: str
    value: Any


@dataclass(frozen=True)
class RawRoster:
    """A roster file as read, before validation."""

    name: str
    sha256: str
    kind: str  # "xlsx" or "csv"
    header_row: int
    header: tuple[str, ...]
    rows: tuple[RawRow, ...]
    issues: tuple[CellIssue, ...] = ()
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    limits: Limits = Limits()
    # The same cells by column (one tuple per column, in row order), when the reader has them;
    # validation reads columns. Not part of the roster's value.
    columns: tuple[tuple, ...] | None = field(default=None, repr=False, compare=False)


def _fmt(n: int) -> str:
    return f"{n:,}"


def _mb(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def _too_big(size: int, max_bytes: int) -> RosterError:
    return RosterError(f"The file is {_mb(size)}; a roster may be at most {_mb(max_bytes)}.", "file-too-big")


def _too_many_rows(lim: Limits) -> RosterError:
    return RosterError(
        f"The file has more than {_fmt(lim.max_rows)} rows; split it into smaller files.", "too-many-rows"
    )


def _is_blank(cells) -> bool:
    for v in cells:
        if v == "" or v is None:
            continue
        if type(v) is str and v.isspace():
            continue
        return False
    return True


def _header_only() -> RosterError:
    return RosterError("The file has a header row but no rows of learners.", "no-rows")

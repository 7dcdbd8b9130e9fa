"""Read a roster file into a header and rows, whatever tool wrote it, without trusting it.

* .xlsx (Excel, LibreOffice, openpyxl) is read with python-calamine, after a cheap check of
  the zip (sizes, compression ratio, the true inflated size of the parts calamine reads) and
  of the sheet's XML (cell references far away, which would make calamine allocate a huge
  grid, whatever the <dimension> says; a second r attribute, which calamine follows;
  formulas without a saved value, which calamine shows as empty cells).
* .csv/.txt: UTF-8 with or without BOM, UTF-16 with BOM (Excel "Unicode Text"), cp1252;
  comma, semicolon or tab separated (detected).

Row numbers are the spreadsheet's own: the header is row 1 (or the first non-blank row),
blank rows are skipped but keep their numbers. Cells keep their types: ``str``, ``int``
(integral numbers, so long ids and phone numbers never become floats), ``float``, ``bool``,
``datetime.date``/``datetime`` from real date cells. Everything a file can do wrong as a whole
raises ``RosterError`` with one sentence.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Callable

from batch.errors import RosterError
from batch.rawtypes import CellIssue, RawRow, MB, Limits, OLE2_MAGIC, RawRoster, ZIP_MAGICS, _mb, _too_big
from batch.xlsx import _read_xlsx
from batch.text import decode_text, sniff_delimiter, _read_csv


# The types and the text helpers, where they have always been imported from.
__all__ = ["Limits", "RawRow", "CellIssue", "RawRoster", "MB", "decode_text", "sniff_delimiter",
           "read_raw", "read_raw_bytes", "read_regular_file", "read_stream"]


def read_raw(path: str | os.PathLike, *, sheet: str | None = None, limits: Limits | None = None,
             on_parse: Callable[[], Any] | None = None) -> RawRoster:
    """Read the file at ``path`` into a RawRoster, choosing the reader by the file's content.

    Only a regular file is read (a device such as /dev/zero, a FIFO or a folder is refused in
    one sentence before anything is read). ``on_parse`` is called when the checks are done and
    python-calamine starts parsing an .xlsx (it lets go of the GIL then: a caller may do other
    work meanwhile)."""
    limits = limits or Limits()
    p = Path(path)
    return read_raw_bytes(p.name, read_regular_file(p, limits.max_file_bytes), sheet=sheet, limits=limits,
                          on_parse=on_parse)


def read_regular_file(p: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``p``, at most ``max_bytes`` of them, or RosterError.

    The file is opened without blocking (a FIFO would wait for a writer) and checked on the open
    descriptor (no race with a rename), then read up to one byte past the limit."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise RosterError(f"The file {p.name} does not exist.", "no-file") from None
    except IsADirectoryError:
        raise RosterError(f"{p.name} is a folder, not a roster file.", "no-file") from None
    except OSError as e:
        raise RosterError(f"The file {p.name} cannot be read ({e.strerror}).", "no-file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise RosterError(f"{p.name} is a folder, not a roster file.", "no-file")
        if not stat.S_ISREG(info.st_mode):
            raise RosterError(f"{p.name} is not a regular file (a device, a pipe or a socket); "
                              "save the roster as a file and give its path.", "not-a-file")
        if info.st_size > max_bytes:
            raise _too_big(info.st_size, max_bytes)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise RosterError(f"The file {p.name} cannot be read ({e.strerror}).", "no-file") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while we looked
        raise _too_big(len(data), max_bytes)
    return data


def read_stream(stream: BinaryIO, max_bytes: int = Limits.max_file_bytes) -> bytes:
    """At most ``max_bytes`` from a binary stream (standard input), or RosterError if there are more."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RosterError(f"The roster on standard input is more than {_mb(max_bytes)}; "
                          f"a roster may be at most {_mb(max_bytes)}.", "file-too-big")
    return data


def read_raw_bytes(name: str, data: bytes, *, sheet: str | None = None, limits: Limits | None = None,
                   on_parse: Callable[[], Any] | None = None) -> RawRoster:
    """Read a roster given as bytes (an upload, standard input): .xlsx or CSV/text, told apart by
    the bytes themselves. ``name`` is only shown in messages and reports."""
    limits = limits or Limits()
    if len(data) > limits.max_file_bytes:
        raise _too_big(len(data), limits.max_file_bytes)
    sha = hashlib.sha256(data).hexdigest()
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise RosterError("The file is empty.", "empty-file")
    if data.startswith(OLE2_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise RosterError(
                "This workbook is protected with a password; remove the password, save it as .xlsx and upload again.",
                "encrypted-workbook",
            )
        raise RosterError("This is an old .xls file; save it as .xlsx or .csv and upload again.", "old-xls")
    if data.startswith(ZIP_MAGICS):
        return _read_xlsx(name, data, sha, sheet, limits, on_parse)
    if data.startswith(b"%PDF"):
        raise RosterError("This is a PDF, not a spreadsheet; upload the roster as .xlsx or .csv.", "not-a-roster")
    return _read_csv(name, data, sha, limits)

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

import csv
import datetime as dt
import hashlib
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from itertools import compress, repeat
from pathlib import Path
from typing import Any, BinaryIO, Callable, NamedTuple

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


# --------------------------------------------------------------------------- entry point


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


def _too_big(size: int, max_bytes: int) -> RosterError:
    return RosterError(f"The file is {_mb(size)}; a roster may be at most {_mb(max_bytes)}.", "file-too-big")


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


# --------------------------------------------------------------------------- xlsx


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _member_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    off = info.header_offset
    if data[off:off + 4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local header")
    name_len, extra_len = struct.unpack("<HH", data[off + 26:off + 30])
    return off + 30 + name_len + extra_len


class _Inflater:
    """Inflate zip members from the raw bytes, counting the true output (not the header's claim)."""

    def __init__(self, data: bytes, limits: Limits):
        self.data = data
        self.limits = limits
        self.total = 0

    def chunks(self, info: zipfile.ZipInfo, chunk: int = 4 * MB):
        limits = self.limits
        start = _member_data_offset(self.data, info)
        raw = memoryview(self.data)[start:start + info.compress_size]
        if info.flag_bits & 0x1:
            raise RosterError(
                "This workbook is protected with a password; remove the password, save it as .xlsx and upload again.",
                "encrypted-workbook",
            )
        if info.compress_type == zipfile.ZIP_STORED:
            gen = (bytes(raw[i:i + chunk]) for i in range(0, len(raw), chunk))
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            gen = self._inflate(raw, chunk)
        else:
            raise RosterError(
                "The workbook uses a compression method regtui cannot read; save it again from Excel or LibreOffice as .xlsx.",
                "bad-workbook",
            )
        out = 0
        for piece in gen:
            out += len(piece)
            self.total += len(piece)
            if out > 1 * MB and out > limits.max_zip_ratio * max(info.compress_size, 1):
                raise _zip_bomb()
            if self.total > limits.max_unzipped_bytes:
                raise _zip_bomb()
            yield piece
        if out != info.file_size:  # the header lied about the size (calamine checks the CRC)
            raise RosterError("The workbook is damaged (a part of it is not the size it claims); save it again and upload it.", "bad-workbook")

    @staticmethod
    def _inflate(raw: memoryview, chunk: int):
        d = zlib.decompressobj(-15)
        pos = 0
        step = 256 * 1024
        try:
            while pos < len(raw) or d.unconsumed_tail:
                if d.unconsumed_tail:
                    piece = d.decompress(d.unconsumed_tail, chunk)
                else:
                    piece = d.decompress(raw[pos:pos + step], chunk)
                    pos += step
                if piece:
                    yield piece
                if d.eof:
                    break
            rest = d.flush()
            if rest:
                yield rest
        except zlib.error:
            raise RosterError("The workbook is damaged (a part of it cannot be unpacked); save it again and upload it.", "bad-workbook") from None

    def read(self, info: zipfile.ZipInfo) -> bytes:
        return b"".join(self.chunks(info))


def _zip_bomb() -> RosterError:
    return RosterError(
        "The workbook unpacks to far more data than a roster can hold (it looks like a zip bomb); it was not read.",
        "zip-bomb",
    )


def _open_zip(data: bytes, limits: Limits) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error):
        raise RosterError("The file looks like a workbook but is damaged or cut short; save it again and upload it.", "bad-workbook") from None
    if len(infos) > limits.max_zip_entries:
        raise _zip_bomb()
    declared = 0
    for info in infos:
        declared += info.file_size
        if info.file_size > 1 * MB and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise _zip_bomb()
    if declared > limits.max_unzipped_bytes:
        raise _zip_bomb()
    members = {i.filename.lstrip("/"): i for i in infos}
    lower = {k.lower(): v for k, v in members.items()}
    if "xl/workbook.xml" not in lower:
        if "xl/workbook.bin" in lower:
            raise RosterError("This is an Excel binary workbook (.xlsb); save it as .xlsx or .csv and upload again.", "not-a-workbook")
        if "mimetype" in members and b"opendocument.spreadsheet" in zf.read("mimetype")[:200]:
            raise RosterError("This is an OpenDocument spreadsheet (.ods); save it as .xlsx or .csv and upload again.", "not-a-workbook")
        if "word/document.xml" in lower:
            raise RosterError("This is a Word document, not a spreadsheet; upload the roster as .xlsx or .csv.", "not-a-workbook")
        raise RosterError("This file is a zip archive but not an Excel workbook; upload the roster as .xlsx or .csv.", "not-a-workbook")
    return zf, lower


def _parse_xml(blob: bytes):
    import defusedxml.ElementTree as DET  # refuses entity expansion and external entities

    try:
        return DET.fromstring(blob)
    except Exception:  # defusedxml's own errors and ParseError
        raise RosterError("The workbook is damaged (its list of sheets cannot be read); save it again and upload it.", "bad-workbook") from None


def _sheet_parts(inflater: _Inflater, members: dict[str, zipfile.ZipInfo]) -> dict[str, str]:
    """sheet name -> zip member name of its XML (lower-cased member names)."""
    wb = _parse_xml(inflater.read(members["xl/workbook.xml"]))
    rels_info = members.get("xl/_rels/workbook.xml.rels")
    targets: dict[str, str] = {}
    if rels_info is not None:
        for rel in _parse_xml(inflater.read(rels_info)):
            if _local_name(rel.tag) == "Relationship":
                target = rel.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else "xl/" + target
                parts: list[str] = []
                for seg in target.split("/"):
                    if seg == "..":
                        parts and parts.pop()
                    elif seg and seg != ".":
                        parts.append(seg)
                targets[rel.get("Id", "")] = "/".join(parts).lower()
    out: dict[str, str] = {}
    for el in wb.iter():
        if _local_name(el.tag) == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local_name(k) == "id"), None)
            if rid in targets:
                out[el.get("name", "")] = targets[rid]
    return out


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n


def _col_letters(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _at_least(threshold: str, alphabet: str) -> str:
    """A regex alternative matching tokens of len(threshold) chars that are >= threshold in ``alphabet`` order."""
    n = len(threshold)
    alts = []
    for i, ch in enumerate(threshold):
        idx = alphabet.index(ch)
        higher = alphabet[idx + 1:]
        if higher:
            rest = n - i - 1
            alts.append(re.escape(threshold[:i]) + f"[{higher[0]}-{higher[-1]}]" + (f"[{alphabet[0]}-{alphabet[-1]}]{{{rest}}}" if rest else ""))
    alts.append(re.escape(threshold))
    return "(?:" + "|".join(alts) + ")"


class _SheetScan:
    """One pass over the sheet XML, in chunks, with C-speed regex searches only.

    Finds: references beyond the row/column limits (calamine would allocate the whole grid
    up to them, whatever the <dimension> says), rows/cells without references (bounded by
    counting), and formulas without a saved value. A chunk of usual cells only (the common
    case) is cleared by one search; the others get the exact scan. Cells too long are found
    after reading, column by column.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.prefix: bytes | None = None
        self.max_row = 0
        self.max_col = 0
        self.rows = 0
        self.rows_without_ref = 0
        self.cells_without_ref = False
        self.max_cells_in_row = 0
        self.formula_cells: list[tuple[int, int]] = []
        self._tail = b""

    def _compile(self, prefix: bytes) -> None:
        lim = self.limits
        P = re.escape(prefix)
        row_limit = str(lim.max_rows + 1)
        # Columns past Z are reported (rare in rosters) so the grid's width is known exactly.
        col_limit = _col_letters(min(lim.max_columns + 1, 27))
        # refs whose row number or column letters may exceed the limits (checked exactly after)
        big_row = f"\\d{{{len(row_limit) + 1},}}|{_at_least(row_limit, '0123456789')}".encode()
        big_col = f"[A-Za-z]{{{len(col_limit) + 1},}}|{_at_least(col_limit, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}".encode()
        body = rb"(?:([A-Za-z]{0,4})(" + big_row + rb")|(" + big_col + rb")(\d+))"
        # Starts with a literal 'r' (the attribute name's last letter; inside sheetData only r
        # ends with r), so the engine skips between candidates; allows any XML spelling
        # (spaces around '=', single quotes).
        self.re_big = re.compile(rb"r\s*=\s*[\"']" + body + rb"[\"']")
        self.cell_tags = (b"<" + prefix + b"c ", b"<" + prefix + b"c>")
        self.cell_ref = b"<" + prefix + b"c r="
        self.re_row_noref = re.compile(rb"<" + P + rb"row(?=[\s>/])(?![^>]*\sr\s*=)")
        self.re_cell_noref = re.compile(rb"<" + P + rb"c(?=[\s>/])(?![^>]*\sr\s*=)")
        self.re_cell_tag = re.compile(rb"<" + P + rb"c[\s>/]")
        self.re_row_tag = re.compile(rb"<" + P + rb"row[\s>/]")
        self.re_formula = re.compile(
            rb"<" + P + rb"c(\s[^>]*)?>\s*<" + P + rb"f\b[^>]*?(?:/>|>[^<]*</" + P + rb"f>)\s*(?:<" + P + rb"v\s*/>)?\s*</" + P + rb"c>"
        )
        self.re_ref = re.compile(rb"\sr\s*=\s*[\"']([A-Za-z]+)(\d+)[\"']")
        # The common case in one C-level pass: every cell written as <c r="A123" ...> with a
        # single-letter column, a row within the limit and only the usual other attributes
        # (so no second r, which calamine would follow), and no formula. If that search finds
        # nothing (and no prefixed c or f element exists), the chunk holds nothing the exact
        # scan would act on. Only for unprefixed sheets; anything else takes the exact scan.
        self.re_unusual = None
        if not prefix:
            small_row = rb"(?:\d{1,%d}|(?!%s\")\d{%d})" % (
                len(row_limit) - 1, _at_least(str(lim.max_rows + 2), "0123456789").encode(), len(row_limit))
            usual_cell = rb' r="[A-Z]' + small_row + rb'"(?: (?:[stv]|cm|vm|ph)="[^"<>]*+")*+/?>'
            self.re_unusual = re.compile(rb"<(?:f[\s>/]|c(?=[\s>/])(?!" + usual_cell + rb"))")
            self.re_prefixed = re.compile(rb":[cf][\s>/]")

    def feed(self, chunk: bytes) -> None:
        buf = self._tail + chunk
        if self.prefix is None:
            m = re.search(rb"<(\w+:)?worksheet\b", buf[:65536])
            if m is None and len(buf) < 65536:
                self._tail = buf
                return
            self.prefix = (m.group(1) or b"") if m else b""
            self._compile(self.prefix)
        # Scan up to the end of the last complete cell or row; keep the rest for the next chunk
        # (an element split across chunks). Searches take bounds: no copies of the chunk.
        cut = buf.rfind(b">") + 1
        last = max(buf.rfind(b"</" + self.prefix + b"row>", 0, cut), buf.rfind(b"</" + self.prefix + b"c>", 0, cut))
        if last > 0:
            end = buf.index(b">", last) + 1
        elif cut < 16 * MB:
            self._tail = buf
            return
        else:
            end = cut
        self._tail = buf[end:]
        if end:
            self._scan_complete(buf, end)

    def _scan_complete(self, buf: bytes, end: int) -> None:
        if (self.re_unusual is not None and not self.re_unusual.search(buf, 0, end)
                and not self.re_prefixed.search(buf, 0, end)):
            return  # only usual cells, within the limits, no formula: nothing to record
        self._scan_exact(buf[:end] if end < len(buf) else buf)

    def _scan_exact(self, buf: bytes) -> None:
        lim = self.limits
        for m in self.re_big.finditer(buf):
            if m.group(2) is not None:
                self.max_row = max(self.max_row, int(m.group(2)))
                if m.group(1):
                    self.max_col = max(self.max_col, _col_number(m.group(1)))
            else:
                self.max_col = max(self.max_col, _col_number(m.group(3)))
                if m.group(4):
                    self.max_row = max(self.max_row, int(m.group(4)))
            self._check()
        # calamine places a cell by its own reference (r="B7") when it has one, so the
        # references bound the grid. Every real writer gives every cell one; only when the
        # counts disagree (cells without r) count rows and cells in detail.
        cells = buf.count(self.cell_tags[0]) + buf.count(self.cell_tags[1])
        if cells != buf.count(self.cell_ref) and self.re_cell_noref.search(buf):
            self.rows += sum(1 for _ in self.re_row_tag.finditer(buf))
            if self.rows > lim.max_rows + 1:
                raise _too_many_rows(lim)
            self.rows_without_ref += len(self.re_row_noref.findall(buf))
            # Cells without a reference take the next column: bound the width by the
            # number of cells in each row (only files from unusual writers get here).
            self.cells_without_ref = True
            close = b"</" + self.prefix + b"row>"
            for segment in buf.split(close):
                n = len(self.re_cell_tag.findall(segment))
                if n > self.max_cells_in_row:
                    self.max_cells_in_row = n
        if b"<" + self.prefix + b"f" in buf:
            for m in self.re_formula.finditer(buf):
                ref = self.re_ref.search(m.group(1) or b"")
                if ref:
                    self.formula_cells.append((int(ref.group(2)), _col_number(ref.group(1))))

    def _check(self) -> None:
        lim = self.limits
        if self.max_row > lim.max_rows + 1:
            raise _too_many_rows(lim)
        if self.max_col > lim.max_columns:
            raise _too_many_columns(lim)

    def finish(self) -> None:
        """Refuse what is certain now (references past the limits); compute the grid's bound."""
        if self._tail.strip():
            self._scan_complete(self._tail, len(self._tail))
        self._tail = b""
        self._check()
        lim = self.limits
        if self.rows > lim.max_rows + 1:
            raise _too_many_rows(lim)
        # No reference past the limits: the grid is at most max_rows+1 high, and at most 26
        # columns wide unless a reference past Z was seen (then max_col is exact).
        self.height = max(self.max_row, lim.max_rows + 1)
        self.width = max(self.max_col, min(26, lim.max_columns))

    def check_cells(self, height: int, width: int) -> None:
        lim = self.limits
        if height * width > lim.max_cells:
            raise RosterError(
                f"The sheet spans {_fmt(height)} rows by {_fmt(width)} columns, more than a roster may "
                f"({_fmt(lim.max_cells)} cells); delete the unused rows and columns and upload again.",
                "too-many-cells",
            )


_RE_REF = re.compile(rb"r\s*=\s*[\"']([A-Za-z]{0,4})(\d+)[\"']")


def _exact_extent(chunks) -> tuple[int, int]:
    """The largest row and column any cell reference names (slow; for wide sheets only)."""
    max_row = max_col = 0
    tail = b""
    for piece in chunks:
        buf = tail + piece
        cut = buf.rfind(b">") + 1
        tail = buf[cut:]
        for m in _RE_REF.finditer(buf, 0, cut):
            r = int(m.group(2))
            if r > max_row:
                max_row = r
            c = _col_number(m.group(1)) if m.group(1) else 0
            if c > max_col:
                max_col = c
    return max_row, max_col


def _too_many_columns(lim: Limits) -> RosterError:
    return RosterError(
        f"The sheet has cells beyond column {_col_letters(lim.max_columns)}; a roster may have at most "
        f"{lim.max_columns} columns.",
        "too-many-columns",
    )


def _too_many_rows(lim: Limits) -> RosterError:
    return RosterError(
        f"The file has more than {_fmt(lim.max_rows)} rows; split it into smaller files.", "too-many-rows"
    )


def _read_xlsx(name: str, data: bytes, sha: str, sheet: str | None, limits: Limits,
               on_parse: Callable[[], Any] | None = None) -> RawRoster:
    import python_calamine as pc

    zf, members = _open_zip(data, limits)
    inflater = _Inflater(data, limits)
    try:
        parts = _sheet_parts(inflater, members)
        # calamine reads these when it opens the workbook: their true size first
        for other in ("xl/sharedstrings.xml", "xl/styles.xml"):
            if other in members:
                for _ in inflater.chunks(members[other]):
                    pass
    except zipfile.BadZipFile:
        raise RosterError("The workbook is damaged; save it again and upload it.", "bad-workbook") from None

    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        metas = wb.sheets_metadata
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # calamine errors, and pyo3 panics (BaseException)
        raise _calamine_error(e) from None

    worksheets = [m for m in metas if m.typ == pc.SheetTypeEnum.WorkSheet]
    if sheet is not None:
        chosen = next((m for m in worksheets if m.name == sheet), None) or next(
            (m for m in worksheets if m.name.casefold() == sheet.strip().casefold()), None
        )
        if chosen is None:
            names = ", ".join(f"'{m.name}'" for m in worksheets) or "none"
            raise RosterError(f"The workbook has no sheet named '{sheet}' (its sheets: {names}).", "no-sheet")
    else:
        chosen = next((m for m in worksheets if m.visible == pc.SheetVisibleEnum.Visible), None)
        if chosen is None:
            raise RosterError("The workbook has no visible sheet to read.", "no-sheet")

    part = parts.get(chosen.name)
    info = members.get(part) if part else None
    if info is None:
        raise RosterError(f"The workbook is damaged (the sheet '{chosen.name}' is missing); save it again and upload it.", "bad-workbook")

    # Check the parts calamine will inflate, for their true size, before it does.
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
        raise RosterError("The workbook is damaged; save it again and upload it.", "bad-workbook") from None

    try:
        if on_parse is not None:
            on_parse()
        ws = wb.get_sheet_by_name(chosen.name)
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
        raise RosterError(f"The sheet '{chosen.name}' is empty.", "empty-file")
    row0, col0 = start  # 0-based position of the top-left cell of the data
    first = row0 + 1  # spreadsheet row number of grid[0]

    # Formula cells without a value: positions relative to the grid.
    formula_at: dict[int, list[int]] = {}
    for r, c in scan.formula_cells:
        formula_at.setdefault(r, []).append(c - 1 - col0)

    # Header: the first non-blank row.
    h = 0
    while h < len(grid) and _is_blank(grid[h]):
        h += 1
    if h == len(grid):
        raise RosterError(f"The sheet '{chosen.name}' is empty.", "empty-file")
    header = tuple(_header_text(v) for v in grid[h])
    width = len(header)
    header_row = first + h
    if first + len(grid) - 1 - header_row > limits.max_rows:
        raise _too_many_rows(limits)

    # Column by column: integral floats become ints, cells longer than the limit are found,
    # then the rows are put back together and blank ones dropped.
    body = grid[h + 1:]
    start_row = first + h + 1
    columns = list(zip(*body)) if body else []
    issues: list[CellIssue] = []
    max_chars = limits.max_cell_chars
    long_cells: list[tuple[int, int, str]] = []
    for c, col in enumerate(columns):
        types = set(map(type, col))
        if float in types:
            columns[c] = col = tuple([_int_if_integral(v) if type(v) is float else v for v in col])
        if str in types:
            strs = col if len(types) == 1 else [v for v in col if type(v) is str]
            if max(map(len, strs)) > max_chars:
                long_cells.extend((start_row + i, c, v) for i, v in enumerate(col) if type(v) is str and len(v) > max_chars)
    cells_of = list(zip(*columns)) if columns else [()] * len(body)

    # Cells the reader flags: formulas without a value (positions relative to the grid), then
    # cells too long, row by row; formulas outside the rows read come last.
    formula_at: dict[int, list[int]] = {}
    for r, c in scan.formula_cells:
        formula_at.setdefault(r, []).append(c - 1 - col0)
    if formula_at or long_cells:
        flagged = [(r, 0, c, "formula-no-value", None) for r in range(start_row, start_row + len(body))
                   for c in formula_at.pop(r, ()) if 0 <= c < width] if formula_at else []
        flagged += [(r, 1, c, "cell-too-long", v) for r, c, v in long_cells]
        flagged.sort(key=lambda f: (f[0], f[1]))
        issues = [CellIssue(r, c, code, v) for r, _, c, code, v in flagged]
        for rownum, cols in formula_at.items():
            issues.extend(CellIssue(rownum, c, "formula-no-value", None) for c in cols if 0 <= c < width)

    # Blank rows: only those whose first cell is blank can be.
    rownums = range(start_row, start_row + len(body))
    first_col = columns[0] if columns else ()
    maybe_blank = [i for i, v in enumerate(first_col) if not v or (type(v) is str and v.isspace())] \
        if ("" in first_col or None in first_col or any(map(_blank_text, set(first_col)))) else []
    blank = [i for i in maybe_blank if _is_blank(cells_of[i])]
    if blank:
        keep = [True] * len(body)
        for i in blank:
            keep[i] = False
        rownums, cells_of = compress(rownums, keep), compress(cells_of, keep)
        columns = [tuple(compress(col, keep)) for col in columns]
    rows = list(map(tuple.__new__, repeat(RawRow), zip(rownums, cells_of)))
    if not rows:
        raise _header_only()
    return RawRoster(name, sha, "xlsx", header_row, header, tuple(rows), tuple(issues), sheet=chosen.name, limits=limits,
                     columns=tuple(columns))


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


# --------------------------------------------------------------------------- csv / txt


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding name). BOMs decide; else UTF-16 by its NUL bytes; else UTF-8; else cp1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        enc = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    else:
        sample = data[:4096]
        nuls = sample.count(b"\x00")
        if nuls:
            even = sample[0::2].count(b"\x00")
            odd = sample[1::2].count(b"\x00")
            if odd > len(sample) // 4 and even < odd // 8:
                enc = "utf-16-le"
            elif even > len(sample) // 4 and odd < even // 8:
                enc = "utf-16-be"
            else:
                raise RosterError("This file is neither a spreadsheet nor a text (CSV) file; upload the roster as .xlsx or .csv.", "not-a-roster")
        else:
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                enc = "cp1252"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError:
        raise RosterError(
            "The file's characters cannot be read as UTF-8, UTF-16 or Windows-1252 text; save it as 'CSV UTF-8' and upload again.",
            "bad-encoding",
        ) from None
    if enc == "utf-16":
        enc = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise RosterError("This file is neither a spreadsheet nor a text (CSV) file; upload the roster as .xlsx or .csv.", "not-a-roster")
    return text, enc


def sniff_delimiter(text: str) -> str:
    """Tab, semicolon or comma: the one that splits the header into the most columns, with
    the sample's rows agreeing on that number (quotes respected)."""
    lines: list[str] = []
    for line in io.StringIO(text, newline=None):
        if line.strip():
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= 50:
                break
    if not lines:
        return ","
    best = (0, 0, 0)
    choice = ","
    for rank, cand in enumerate((",", ";", "\t")):
        try:
            parsed = list(csv.reader(lines, delimiter=cand))
        except csv.Error:
            continue
        n = len(parsed[0])
        if n < 2:
            continue
        agree = sum(1 for r in parsed[1:] if len(r) == n)
        score = (agree, n, rank)
        if score > best:
            best, choice = score, cand
    return choice


def _read_csv(name: str, data: bytes, sha: str, limits: Limits) -> RawRoster:
    text, enc = decode_text(data)
    if not text.strip():
        raise RosterError("The file is empty.", "empty-file")
    if text[:4].lower() == "sep=" and text[5:6] in ("\r", "\n", ""):
        # Excel's hint line ("sep=;"): it names the delimiter and is not a row.
        delim = text[4]
        text = text[5:].lstrip("\r\n") if text[5:6] == "\r" else text[6:]
    else:
        delim = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    max_rows = limits.max_rows
    max_chars = limits.max_cell_chars
    rows: list[RawRow] = []
    issues: list[CellIssue] = []
    header: tuple[str, ...] | None = None
    header_row = 0
    width = 0
    append = rows.append
    rownum = 0
    try:
        for rownum, cells in enumerate(reader, 1):
            if header is None:
                if not cells or _is_blank(cells):
                    continue
                header = tuple(c.strip() for c in cells)
                header_row = rownum
                width = len(header)
                continue
            if not cells:
                continue
            if rownum - header_row > max_rows:
                raise _too_many_rows(limits)
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            if sum(map(len, cells)) > max_chars:
                for c, v in enumerate(cells):
                    if len(v) > max_chars:
                        issues.append(CellIssue(rownum, c, "cell-too-long", v))
            if not "".join(cells).strip():
                continue
            append(RawRow(rownum, tuple(cells)))
    except csv.Error as e:
        if "field larger" in str(e):
            raise RosterError(
                f"Row {rownum + 1}: a cell is far longer than a roster cell may be ({_fmt(max_chars)} characters); the file was not read.",
                "cell-too-long",
            ) from None
        raise RosterError(f"Row {rownum + 1}: the line cannot be read as CSV ({e}).", "bad-csv") from None
    if header is None:
        raise RosterError("The file is empty.", "empty-file")
    if not rows:
        raise _header_only()
    return RawRoster(name, sha, "csv", header_row, header, tuple(rows), tuple(issues), encoding=enc, delimiter=delim, limits=limits)

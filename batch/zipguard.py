"""The cheap checks an .xlsx passes before python-calamine parses it: the zip (sizes, compression
ratio, the true inflated size of the parts calamine reads) and the sheet's XML (cell references far
away, a second r attribute, formulas without a saved value). Everything wrong raises RosterError."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

from batch.errors import RosterError
from batch.rawtypes import Limits, MB, _fmt, _too_many_rows


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

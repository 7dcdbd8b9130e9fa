"""Reading CSV and text rosters: UTF-8 with or without BOM, UTF-16 with BOM, cp1252; comma,
semicolon or tab separated (detected); Excel's "sep=" line."""

from __future__ import annotations

import csv
import io

from batch.errors import RosterError
from batch.rawtypes import CellIssue, Limits, RawRoster, RawRow, _fmt, _header_only, _is_blank, _too_many_rows


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

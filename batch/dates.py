"""Dates in roster cells: real date cells, ISO text, Excel serial numbers, and day/month/year
or month/day/year text. Text like 03/04/2027 is ambiguous and refused unless the file's
order is given (``date_format="dmy"`` or ``"mdy"``); 13/04/2027 is not ambiguous.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, NamedTuple

EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug aside)
# Serial numbers are accepted in a plausible range for access dates (1927-05-18 .. 2173-10-14),
# so a stray year (2027) or a phone number is not taken for a date.
MIN_SERIAL, MAX_SERIAL = 10000, 99999

_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?: ?[AaPp][Mm])?Z?)?"
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME)
_XY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})" + _TIME)
_SERIAL = re.compile(r"\d{5}(?:\.0+)?")
_D_MON_Y = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[ -]([A-Za-z]{3,9})\.?,?[ -](\d{4})")
_MON_D_Y = re.compile(r"([A-Za-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})")
_MONTHS = {
    name: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}
_MONTH_NAMES = ["", "January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December"]

DATE_FORMATS = ("dmy", "mdy")


class DateResult(NamedTuple):
    """``value`` when the cell is a date (or None when empty); else ``code`` and ``reason``."""

    value: dt.date | None
    code: str | None = None
    reason: str | None = None


_EMPTY = DateResult(None)
_EXAMPLE = "write it like 2027-03-01"


def _bad(reason: str = "") -> DateResult:
    return DateResult(None, "bad-date", reason or f"is not a date ({_EXAMPLE})")


def _make(y: int, m: int, d: int) -> DateResult:
    try:
        return DateResult(dt.date(y, m, d))
    except ValueError:
        return _bad(f"is not a real date ({_EXAMPLE})")


def _serial(n: float) -> DateResult:
    if not MIN_SERIAL <= n <= MAX_SERIAL:
        return _bad()
    return DateResult(EXCEL_EPOCH + dt.timedelta(days=int(n)))


def parse_date(value: Any, date_format: str | None = None) -> DateResult:
    """Turn one cell into a date. Never raises."""
    t = type(value)
    if t is dt.date:
        return DateResult(value)
    if t is dt.datetime:
        return DateResult(value.date())
    if value is None:
        return _EMPTY
    if t is str:
        return _parse_text(value.strip(), date_format)
    if t is bool:
        return _bad()
    if t is int or t is float:
        return _serial(value)
    if isinstance(value, dt.datetime):
        return DateResult(value.date())
    if isinstance(value, dt.date):
        return DateResult(value)
    return _bad()  # time of day, duration, anything else


def _parse_text(s: str, date_format: str | None) -> DateResult:
    if not s:
        return _EMPTY
    m = _YMD.fullmatch(s)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _XY.fullmatch(s)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
        year = int(y) + 2000 if len(y) == 2 else int(y)
        if date_format == "dmy":
            if b > 12:
                return _bad("is not a day/month/year date, which is the order chosen for this file")
            return _make(year, b, a)
        if date_format == "mdy":
            if a > 12:
                return _bad("is not a month/day/year date, which is the order chosen for this file")
            return _make(year, a, b)
        if a > 12 and b <= 12:
            return _make(year, b, a)
        if b > 12 and a <= 12:
            return _make(year, a, b)
        if a == b:
            return _make(year, a, b)
        if a > 12:  # both > 12
            return _bad(f"is not a date ({_EXAMPLE})")
        if a == 0 or b == 0:
            return _bad(f"is not a real date ({_EXAMPLE})")
        return DateResult(
            None,
            "ambiguous-date",
            f"could be {a} {_MONTH_NAMES[b]} or {_MONTH_NAMES[a]} {b}; write it as {year:04d}-{b:02d}-{a:02d} "
            f"or {year:04d}-{a:02d}-{b:02d}, or say which order the file uses (day/month or month/day)",
        )
    if _SERIAL.fullmatch(s):
        return _serial(float(s))
    m = _D_MON_Y.fullmatch(s)
    if m and m.group(2).lower() in _MONTHS:
        return _make(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    m = _MON_D_Y.fullmatch(s)
    if m and m.group(1).lower() in _MONTHS:
        return _make(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    return _bad()

"""What the commands share: opening the database as the operator, JSON and table output, the
formats of arguments (dates, ids, counts, files to write), and the escaping of what is printed."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
from typing import Any, Callable, Sequence

from regtui import config
from regtui.core import terminal
from regtui.core.errors import UsageError
from regtui.core.ids import parse_id

Handler = Callable[[argparse.Namespace], int]


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> int:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=json_default))
    else:
        human()
    return 0


def emit_page(args: argparse.Namespace, list_name: str, fetch: Callable[..., Any], as_dict: Callable[[Any], dict],
              human: Callable[[list[dict]], None]) -> int:
    """One page of a long list (``args.limit`` rows after ``args.after``), read by ``fetch(limit=,
    after=)`` (a service's keyset page function). ``--json`` prints {"rows", "next", "total"};
    the table is followed by how to get the next page. The cursor given out is sealed to
    ``list_name`` (the list and its pool or customer): another list's, or an edited one, is
    refused in one sentence (exit 2)."""
    from regtui.core import paging
    from regtui.core.services import tokens

    key = tokens.secret_key()
    page = fetch(limit=args.limit, after=paging.unseal(args.after, list_name, key))
    rows = [as_dict(r) for r in page.rows]
    next_cursor = paging.seal(page.next, list_name, key)
    if getattr(args, "json", False):
        print(json.dumps({"rows": rows, "next": next_cursor, "total": page.total}, indent=2, default=json_default))
        return 0
    human(rows)
    if next_cursor:
        print(f"{len(rows):,} of {page.total:,} shown. Next page: the same command with --after {next_cursor}")
    return 0


def json_default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(h) for h in header]] + [["" if c is None else terminal.one_line(str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if not rows:
        print("(none)")


class EscapingStream:
    """A text stream that shows control characters escaped (``terminal.escape``) before they
    reach the terminal: every sentence and table the CLI prints goes through one (see
    ``parser.main``). It buffers like Python's own streams (by line on a terminal or when
    ``line_buffered``, else 2,048 writes at a time) and escapes a whole chunk at once: a 100,000-line plan
    costs one regular-expression pass, not one per line. ``raw`` is the stream underneath, for a
    progress line's own ``\\r``."""

    CHUNK = 2048  # writes held before they are escaped and passed on together

    def __init__(self, raw, *, line_buffered: bool | None = None):
        self.raw = raw
        self._parts: list[str] = []
        self._by_line = raw.isatty() if line_buffered is None else line_buffered

    def write(self, text: str) -> int:
        parts = self._parts
        parts.append(text)
        if len(parts) >= self.CHUNK or (self._by_line and "\n" in text):
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self.raw.write(terminal.escape(text))
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self):
        return getattr(self.raw, "encoding", "utf-8")

    def __getattr__(self, name: str):
        # anything else (``buffer`` for binary output, ``errors``, ``reconfigure``) is the raw stream's
        return getattr(self.raw, name)


# --- argument formats (argparse types: a bad value is a usage error, exit 2) -------------

def parse_date(text: str) -> dt.date:
    """YYYY-MM-DD, e.g. 2027-03-01."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2027-03-01 (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2027-03-01 (YYYY-MM-DD)") from None


def number(low: int, high: int, what: str = "a number") -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` in ASCII digits."""

    def parse(text: str) -> int:
        value = parse_id(text)
        if value is None or not low <= value <= high:
            span = "" if high >= 10**17 else f" from {low:,} to {high:,}"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}{span} (digits 0-9)")
        return value
    parse.__name__ = what  # argparse names the type in its message
    return parse


def record_id(text: str) -> int:
    """An id: ASCII digits (``int`` would also take "١" as 1)."""
    value = parse_id(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (digits 0-9)")
    return value


LIMIT = number(1, 1_000_000, "a limit")
PAGE = number(1, 1000, "a page size")  # paging.MAX_LIMIT
WHOLE = number(0, 10**18 - 1, "a whole number")  # the service that takes it says which range it allows
PORT = number(1, 65535, "a port")


# --- the database -------------------------------------------------------------------------

def setup(args: argparse.Namespace, *, need_schema: bool = True):
    """Open the database and find the operator (the OS user, or the one an SSH key signed in as:
    ``args.actor``, set by `regtui ssh session`). A SQLite file that is not there is not
    created (only `regtui init` makes one): the command says to run init first."""
    from regtui.core import db
    from regtui.core.services import operators

    url = config.database_url(args.db)
    if need_schema:
        require_database_file(url)
    db.open_database(url)
    if need_schema:
        db.require_schema()
    if getattr(args, "actor", None) is not None:
        return args.actor
    return operators.current(args.as_name)


def require_database_file(url: str) -> None:
    """Refuse a SQLite file that is not there (opening it would leave an empty file behind)."""
    path = sqlite_path(url)
    if path is not None and path != ":memory:" and not os.path.exists(path):
        raise UsageError(f"There is no database at {path} yet: run `regtui init` first.")


def sqlite_path(url: str) -> str | None:
    """The file of a sqlite:/// URL (None for any other database)."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):] or ":memory:"
    if url.startswith("sqlite://"):
        return url[len("sqlite://"):] or ":memory:"
    return None


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a text file.") from None
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text.") from None

"""Keyset pagination: one page of a long list, read from the database in an indexed order.

A list is ordered by one sort expression and then by its key (an id), so each row has a
unique position. A page starts right after (``after``) or ends right before (``before``) the
position of a row the caller saw last, given as an opaque cursor; ``last`` asks for the final
page. No OFFSET: the database seeks to the position, so page 1,000 costs what page 1 does.

Cursors travel through the CLI (``--after CURSOR``) and the TUI, so they are decoded as
hostile input: anything but what ``encode`` made is refused in one sentence.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

from peewee import SQL, Expression, NodeList, Tuple

from regtui.core.db import dialect
from regtui.core.errors import UsageError

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_CURSOR = 512  # characters: a cursor holds one sort value and one id


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of one page, the number of rows matching the filter, and where the neighbours start.

    ``next`` is the cursor after the last row (None at the end of the list), ``prev`` the
    cursor before the first row (None at the start)."""

    rows: list[T]
    total: int | None  # None: not counted yet (see counting_later); ``count`` counts it
    next: str | None = None
    prev: str | None = None
    keys: list[Any] = field(default_factory=list)  # each row's key, in order
    count: Callable[[], int] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Ticked:
    """Rows ticked in a list, possibly across pages: the keys ticked one by one, or every row
    matching ``search`` (``all_matching``) except the ``excluded`` keys. A service resolves it to
    keys with one query (``resolve``)."""

    keys: frozenset = frozenset()
    all_matching: bool = False
    search: str = ""
    excluded: frozenset = frozenset()

    def __bool__(self) -> bool:
        return self.all_matching or bool(self.keys)


_later = threading.local()


@contextmanager
def counting_later():
    """Pages fetched in this block (in this thread) leave a filtered count for later: their
    ``total`` is None and their ``count`` counts it. The TUI shows a page's rows first and its
    total when counted: counting every row matching a filter costs more than finding a page."""
    _later.on = True
    try:
        yield
    finally:
        _later.on = False


def encode(sort_value: Any, key: Any) -> str:
    """A cursor for the position (sort value, key)."""
    if isinstance(sort_value, dt.datetime):
        # as the databases compare it with the column: SQLite stores peewee's text with a space
        # ("2027-03-01 09:00:00.001000"), and PostgreSQL reads that as a timestamp too
        sort_value = sort_value.isoformat(sep=" ")
    elif isinstance(sort_value, dt.date):
        sort_value = sort_value.isoformat()
    raw = json.dumps([sort_value, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[Any, int]:
    """(sort value, key) from a cursor made by ``encode``; UsageError for anything else."""
    bad = UsageError("That cursor is not one regtui gave: use the `next` value of a listing as it was printed.")
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR:
        raise bad
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], int) or isinstance(value[1], bool)
            or not (value[0] is None or isinstance(value[0], (str, int, float)))):
        raise bad
    return value[0], value[1]


def seal(cursor: str | None, list_name: str, key: bytes) -> str | None:
    """A cursor as a script is given it (the CLI's ``next``): bound by a MAC to its list
    (``list_name``, e.g. "registrations:8"), so that ``unseal`` refuses one of another list, or
    an edited one, before anything is read."""
    return None if cursor is None else f"{cursor}.{_list_mac(cursor, list_name, key)}"


def unseal(text: str | None, list_name: str, key: bytes) -> str | None:
    """The cursor inside a ``seal``ed one of this list (None stays None); UsageError, one sentence
    that does not repeat the text, for anything else."""
    if text is None:
        return None
    cursor, _, mac = text.rpartition(".")
    if (len(text) > MAX_CURSOR + 64 or not text.isascii() or not text.isprintable() or not cursor
            or not hmac.compare_digest(mac, _list_mac(cursor, list_name, key))):
        raise UsageError("That cursor is not one this list gave: use the `next` value the same listing printed, "
                         "as it was printed.")
    return cursor


def _list_mac(cursor: str, list_name: str, key: bytes) -> str:
    return hmac.new(key, f"list cursor\n{list_name}\n{cursor}".encode(), hashlib.sha256).hexdigest()[:24]


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        raise UsageError(f"A page holds 1 to {MAX_LIMIT} rows; {limit!r} is not that.")
    return limit


def like(search: str) -> str:
    """The LIKE pattern for "contains", with LIKE's own wildcards taken literally."""
    text = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{text}%"


def contains(columns: Sequence[Any], search: str) -> Expression:
    """Any of ``columns`` contains ``search``, ignoring case (see Dialect.like_ignoring_case)."""
    from regtui.core.db import dialect

    operator = SQL(dialect().like_ignoring_case)
    pattern = like(search)
    expr = None
    for column in columns:
        term = NodeList((column, operator, pattern, SQL("ESCAPE '\\'")))
        expr = term if expr is None else (expr | term)
    return expr


def _after(sort_expr, key, value, key_value, descending: bool) -> Expression:
    """Rows strictly after (value, key_value) in the order (sort_expr, key), both ascending or
    both descending: a row-value comparison, which an index on (sort, key) can seek to."""
    mine, theirs = Tuple(sort_expr, key), Tuple(value, key_value)
    return mine < theirs if descending else mine > theirs


def fetch(query, *, sort_expr, key, descending: bool, limit: int, after: str | None = None, before: str | None = None,
          last: bool = False, total: int | Callable[[], int], make: Callable[[tuple], T],
          detail: Callable[[list], dict] | None = None) -> Page[T]:
    """One page of ``query`` (a peewee select whose columns ``make`` turns into a row), ordered
    by ``sort_expr`` then ``key``. The select gets the sort value and key appended as its last
    two columns; ``total`` is a number (from counters) or a function counting the filtered rows.

    ``detail``: the page's keys are found first (``query`` then selects what filtering and
    sorting need, no columns of its own), and ``detail(keys)`` reads their rows' columns
    ({key: columns}): joins that only add columns are done for one page, not for every row
    walked. A row gone in between is left out."""
    check_limit(limit)
    if after and before:
        raise UsageError("Give --after or --before, not both.")
    backwards = bool(before) or last
    q = query.select_extend(sort_expr.alias("_sort"), key.alias("_key"))
    if after or before:
        value, key_value = decode(after or before)
        q = q.where(_after(sort_expr, key, value, key_value, descending != backwards))
    reverse = descending != backwards
    q = q.order_by(sort_expr.desc() if reverse else sort_expr.asc(), key.desc() if reverse else key.asc())
    with dialect().page_reads():
        fetched = list(q.limit(limit + 1).tuples())
        more = len(fetched) > limit
        fetched = fetched[:limit]
        if backwards:
            fetched.reverse()
        if detail is not None:
            found = detail([r[-1] for r in fetched]) if fetched else {}
            fetched = [found[r[-1]] + tuple(r[-2:]) for r in fetched if r[-1] in found]
    rows = [make(r[:-2]) for r in fetched]
    keys = [r[-1] for r in fetched]
    first_pos = encode(fetched[0][-2], fetched[0][-1]) if fetched else None
    last_pos = encode(fetched[-1][-2], fetched[-1][-1]) if fetched else None
    if backwards:
        has_prev, has_next = more, bool(before) and bool(fetched)
    else:
        has_prev, has_next = bool(after) and bool(fetched), more
    if callable(total) and not (after or before) and not more:
        total = len(rows)  # the whole list is on this page: nothing to count
    later = callable(total) and getattr(_later, "on", False)
    count = None if later else total() if callable(total) else total
    return Page(rows, count, next=last_pos if has_next else None, prev=first_pos if has_prev else None, keys=keys,
                count=total if later else None)


def sort_expression(sorts: dict[str, Any], sort: str) -> Any:
    if sort not in sorts:
        raise UsageError(f"Sort by one of {', '.join(sorts)}; {sort!r} is not one.")
    return sorts[sort]


def resolve(ticked: Ticked, key, filtered: Callable[[str], Any]) -> list:
    """The keys a Ticked stands for, in one query: ``filtered(search)`` is the list's query
    (selecting only ``key``) filtered as the user saw it."""
    if ticked.all_matching:
        q = filtered(ticked.search)
        if ticked.excluded:
            q = q.where(key.not_in(list(ticked.excluded)))
        return [k for (k,) in q.tuples()]
    if not ticked.keys:
        return []
    return [k for (k,) in filtered("").where(key.in_(list(ticked.keys))).tuples()]


def in_chunks(values: Iterable, size: int = 500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]

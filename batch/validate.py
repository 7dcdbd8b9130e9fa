"""Turn raw roster rows into ValidRow values, RowError errors and warnings. Pure: no database.

One pass over the rows; each distinct email address, date text and action word is checked
once (memo dicts), so the cost per row is a handful of dict look-ups.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any, NamedTuple

from batch.dates import DATE_FORMATS, parse_date
from regtui.core import namerules
from regtui.core.emailcheck import check_email_column
from regtui.core.records import from_columns
from batch.errors import RowError
from batch.readers import RawRoster
from batch.schema import HeaderMap, Schema, load_schema, map_header
from batch.progress import Progress as ProgressFn


class ValidRow(NamedTuple):
    """One valid roster row: one action on one learner (in one pool).

    ``email`` is the address as written (trimmed); ``email_normalized`` is email-validator's
    normal form (domain lower-cased); ``email_key`` identifies the learner (the normal form
    lower-cased). Empty optional cells are None. ``pool`` is the cell, else the file's default
    pool, else None (the planner decides). A named tuple, like the reader's ``RawRow``: the plain
    rows of a big roster are made from the validated columns at C speed (``regtui.core.records``).
    """

    row: int
    action: str
    email: str
    email_key: str
    first_name: str | None
    last_name: str | None
    password: str | None
    access_start: dt.date | None
    access_end: dt.date | None
    pool: str | None
    message: str | None
    email_normalized: str = ""



_LABELS = {
    "action": "action",
    "email": "email",
    "first_name": "first name",
    "last_name": "last name",
    "password": "password",
    "access_start": "access start",
    "access_end": "access end",
    "pool": "pool",
    "message": "message",
}


def _show(value: Any, limit: int = 60) -> str:
    """A cell value as it appears in a message: quoted, shortened."""
    if isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    else:
        text = str(value)
    text = " ".join(text.split()) if len(text) < 500 else text[:500]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _text(value: Any) -> str:
    """A cell as trimmed text (numbers without a spurious '.0', dates as ISO)."""
    t = type(value)
    if t is str:
        return value.strip()
    if value is None:
        return ""
    if t is float and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if t is bool:
        return "TRUE" if value else "FALSE"
    return str(value).strip()


def _rows_phrase(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:5])
    return f"rows {shown} and {len(rows) - 5} more" if len(rows) > 5 else ("row " if len(rows) == 1 else "rows ") + shown


def validate(
    raw: RawRoster,
    *,
    default_action: str | None = None,
    default_pool: str | None = None,
    date_format: str | None = None,
    schema: Schema | None = None,
    progress: ProgressFn | None = None,
) -> tuple[HeaderMap, tuple[ValidRow, ...], tuple[RowError, ...], tuple[RowError, ...]]:
    """Validate every row of ``raw``. Returns (header map, valid rows, errors, warnings).

    ``default_action``/``default_pool`` apply to rows whose cell is empty (or to every row when
    the file has no such column). ``date_format`` ("dmy" or "mdy") settles text dates like
    03/04/2027, which are otherwise refused as ambiguous.
    """
    schema = schema or load_schema()
    if date_format is not None and date_format not in DATE_FORMATS:
        raise ValueError(f"date_format must be one of {DATE_FORMATS}, not {date_format!r}")
    action_words = schema.action_words()
    if default_action is not None:
        canon = action_words.get(" ".join(default_action.casefold().split()))
        if canon is None:
            from batch.errors import RosterError

            raise RosterError(
                f"'{default_action}' is not an action; use create, invite, revoke or extend.", "unknown-action"
            )
        default_action = canon
    default_pool = default_pool.strip() or None if default_pool else None

    hmap, errors, warnings = map_header(raw.header, schema)
    cols = hmap.columns
    errors = list(errors)
    warnings = list(warnings)

    if "action" not in cols and default_action is None:
        errors.append(RowError(
            "missing-column", 1, "action", None,
            "Row 1: there is no action column; add one (create, invite, revoke or extend) "
            "or choose one action for the whole file.",
        ))
    if "email" not in cols:
        errors.append(RowError(
            "missing-column", 1, "email", None,
            "Row 1: there is no email column; every row needs the learner's email address "
            f"(headers read: {', '.join(repr(h) for h in raw.header if h) or 'none'}).",
        ))
    if errors:  # the file cannot be read row by row: one error for the file, nothing else
        return hmap, (), tuple(errors), tuple(warnings)

    return _validate_rows(raw, hmap, errors=errors, warnings=warnings, schema=schema, action_words=action_words,
                          default_action=default_action, default_pool=default_pool, date_format=date_format,
                          progress=progress)


def _text_column(col: list) -> list:
    """Trimmed text or None for each cell (fast path for all-text columns)."""
    try:
        stripped = list(map(str.strip, col))
        return [v or None for v in stripped] if "" in stripped else stripped
    except TypeError:
        return [_text(v) or None for v in col]


@dataclass(slots=True)
class _RowsContext:
    """What every column check of one roster shares: its columns, its row numbers, the rows found
    bad so far (by index), and where errors and warnings go."""

    raw: RawRoster
    hmap: HeaderMap
    errors: list
    warnings: list
    n: int
    rownums: list[int]
    by_column: list | None  # the reader's columns, or None: cells are read from the rows
    cells: list | None
    bad: set[int] = field(default_factory=set)
    flagged: set[tuple[int, str]] = field(default_factory=set)  # (index, field) with a reader error

    @classmethod
    def of(cls, raw: RawRoster, hmap: HeaderMap, errors: list, warnings: list) -> "_RowsContext":
        rows = raw.rows
        n = len(rows)
        by_column = raw.columns
        if by_column is not None and (len(by_column) < len(raw.header) or any(len(c) != n for c in by_column)):
            by_column = None
        cells = [r[1] for r in rows] if by_column is None else None
        return cls(raw, hmap, errors, warnings, n, [r[0] for r in rows], by_column, cells)

    def column(self, name: str) -> list | None:
        """The field's cells, one per row, or None if the roster has no such column."""
        i = self.hmap.columns.get(name)
        if i is None:
            return None
        return list(self.by_column[i]) if self.by_column is not None else list(map(itemgetter(i), self.cells))

    def text_column(self, name: str, default: str | None = None) -> list:
        """The field's cells as trimmed text or None (``default`` for a missing column)."""
        col = self.column(name)
        return [default] * self.n if col is None else _text_column(col)

    def reject(self, i: int, code: str, name: str, value: Any, message: str) -> None:
        """Row ``i`` is bad: one error for it (the message names its row)."""
        self.bad.add(i)
        self.errors.append(RowError(code, self.rownums[i], name, value, message))

    def missing(self, i: int, name: str, value: Any, what: str) -> None:
        """Row ``i``'s ``name`` cell is empty (said once: not again if the reader flagged it)."""
        self.bad.add(i)
        if (i, name) not in self.flagged:
            r = self.rownums[i]
            self.errors.append(RowError("missing-value", r, name, value, f"Row {r}: the {self.hmap.title(name)} cell is empty; {what}"))


@dataclass(frozen=True, slots=True)
class _Columns:
    """The roster's fields as columns, one value per row, ready to become ValidRows."""

    rownums: list
    actions: list
    emails: list
    keys: list
    firsts: list
    lasts: list
    passwords: list
    starts: list
    ends: list
    pools: list
    messages: list
    normalized: list


def _validate_rows(raw, hmap, *, errors, warnings, schema, action_words, default_action, default_pool,
                   date_format, progress):
    """Column by column: each distinct value of a column is checked once (memo dicts), then the
    rows are assembled: the plain ones column-wise, the others one by one (``_assemble``)."""
    ctx = _RowsContext.of(raw, hmap, errors, warnings)
    n = ctx.n
    tick = _ticker(progress, n)
    _reader_issues(ctx)
    actions = _actions(ctx, action_words, default_action)
    tick(1)
    emails, keys, normalized, distinct_emails = _emails(ctx)
    tick(2)
    firsts, lasts, messages = ctx.text_column("first_name"), ctx.text_column("last_name"), ctx.text_column("message")
    _names(ctx, firsts, lasts)
    pools = _pools(ctx, default_pool)
    passwords = _passwords(ctx)
    tick(3)
    starts, ends = _dates(ctx, "access_start", date_format), _dates(ctx, "access_end", date_format)
    tick(4)
    columns = _Columns(ctx.rownums, actions, emails, keys, firsts, lasts, passwords, starts, ends, pools, messages,
                       normalized)
    if any(passwords):
        _check_passwords(ctx, columns)
    valid = _assemble(ctx, columns, _RowRules.of(schema, action_words, hmap.columns), distinct_emails)
    tick(5)
    errors.sort(key=lambda err: err.row)
    warnings.sort(key=lambda w: w.row)
    return hmap, tuple(valid), tuple(errors), tuple(warnings)


def _reader_issues(ctx: _RowsContext) -> None:
    """Problems the reader saw in single cells (a formula with no saved value, a cell too long):
    an error of the row in a used column, a warning in an ignored one."""
    used = {i: name for name, i in ctx.hmap.columns.items()}
    header = ctx.raw.header
    index_of_row = None
    for issue in ctx.raw.issues:
        name = used.get(issue.col)
        if name is None:
            header_text = header[issue.col] if issue.col < len(header) else f"column {issue.col + 1}"
            what = "has a formula with no saved value" if issue.code == "formula-no-value" else "is too long"
            ctx.warnings.append(RowError(
                issue.code, issue.row, header_text or None, issue.value,
                f"Row {issue.row}: the cell in the ignored column '{header_text}' {what}.",
            ))
            continue
        if issue.code == "formula-no-value":
            msg = (f"Row {issue.row}: the {ctx.hmap.title(name)} cell has a formula but the file holds no value "
                   "for it; open the file in Excel or LibreOffice, save it, and upload it again.")
        else:
            msg = (f"Row {issue.row}: the {ctx.hmap.title(name)} cell is {len(str(issue.value)):,} characters long; "
                   f"a cell may have at most {ctx.raw.limits.max_cell_chars:,}.")
        ctx.errors.append(RowError(issue.code, issue.row, name, issue.value, msg))
        if index_of_row is None:
            index_of_row = {r: i for i, r in enumerate(ctx.rownums)}
        i = index_of_row.get(issue.row)
        if i is not None:
            ctx.bad.add(i)
            ctx.flagged.add((i, name))


def _actions(ctx: _RowsContext, action_words: dict, default_action: str | None) -> list:
    """Each row's action (canonical word), each distinct cell read once; unknown or empty ones are
    errors of their rows."""
    col = ctx.column("action")
    if col is None:
        return [default_action] * ctx.n
    memo: dict = {}
    for v in set(col):
        word = " ".join(_text(v).casefold().split())
        memo[v] = action_words.get(word) if word else (default_action or "")
    actions = list(map(memo.__getitem__, col))
    wrong = {v for v, a in memo.items() if not a}
    if wrong:
        for i, v in enumerate(col):
            if v not in wrong:
                continue
            if memo[v] is None:
                r = ctx.rownums[i]
                ctx.reject(i, "unknown-action", "action", v,
                           f"Row {r}: {_show(v)} is not an action; use create, invite, revoke or extend.")
            else:
                ctx.missing(i, "action", v, "write create, invite, revoke or extend.")
    return actions


def _emails(ctx: _RowsContext) -> tuple[list, list, list, list]:
    """(address, key, normal form) per row, and the distinct addresses; each distinct address is
    checked once; an empty or invalid one is an error of its row."""
    col = ctx.column("email")
    emails = _text_column(col)
    distinct = list(dict.fromkeys(emails))
    if None in distinct:
        distinct.remove(None)
    normalized_of, key_of, reasons = check_email_column(distinct)
    wrong: set[int] = set()
    if None in emails:
        wrong.update(i for i, e in enumerate(emails) if e is None)
    if set(map(type, col)) != {str}:
        wrong.update(i for i, v in enumerate(col) if type(v) is not str)
    if reasons:
        wrong.update(i for i, e in enumerate(emails) if e in reasons)
    for i in sorted(wrong):
        v, e, r = col[i], emails[i], ctx.rownums[i]
        if type(v) is not str and v is not None:
            ctx.reject(i, "invalid-email", "email", v, f"Row {r}: {_show(v)} is not a valid email address.")
        elif not e:
            ctx.missing(i, "email", v, "every row needs the learner's email address.")
        else:
            ctx.reject(i, "invalid-email", "email", v, f"Row {r}: {_show(e)} is not a valid email address ({reasons[e]}).")
    if len(distinct) == ctx.n:  # every row a different address (the usual roster)
        return emails, key_of, normalized_of, distinct
    normalized_by, key_by = dict(zip(distinct, normalized_of)), dict(zip(distinct, key_of))
    return emails, list(map(key_by.get, emails)), list(map(normalized_by.get, emails)), distinct


def _names(ctx: _RowsContext, firsts: list, lasts: list) -> None:
    """A name longer than the services allow (``namerules``) is an error of its row: the plan
    names it, and --skip-invalid applies the others, instead of the apply refusing the batch."""
    for name, col in (("first_name", firsts), ("last_name", lasts)):
        if max(map(len, filter(None, col)), default=0) <= namerules.MAX_NAME:
            continue
        for i, value in enumerate(col):
            if value and namerules.too_long(value) and (i, name) not in ctx.flagged:  # not "too long" twice
                r = ctx.rownums[i]
                ctx.reject(i, "name-too-long", name, value,
                           f"Row {r}: the {ctx.hmap.title(name)} cell is {len(value):,} characters long; "
                           f"a name may have at most {namerules.MAX_NAME}.")


def _pools(ctx: _RowsContext, default_pool: str | None) -> list:
    """Each row's pool cell, else the file's default pool, else None."""
    if "pool" not in ctx.hmap.columns:
        return [default_pool] * ctx.n
    pools = ctx.text_column("pool")
    return [p or default_pool for p in pools] if default_pool is not None else pools


def _passwords(ctx: _RowsContext) -> list:
    """Each row's password as written (not trimmed), None if empty or blank."""
    col = ctx.column("password")
    if col is None:
        return [None] * ctx.n
    passwords = [None if v is None or v == "" else (v if type(v) is str else _text(v)) for v in col]
    return [p if p and not p.isspace() else None for p in passwords]


def _dates(ctx: _RowsContext, name: str, date_format: str | None) -> list:
    """Each row's date of the column, each distinct cell parsed once; an unreadable one is an
    error of its row."""
    col = ctx.column(name)
    if col is None:
        return [None] * ctx.n
    memo = {v: parse_date(v, date_format) for v in set(col)}
    values = {v: res.value for v, res in memo.items()}
    wrong = {v for v, res in memo.items() if res.code is not None}
    if wrong:
        for i, v in enumerate(col):
            if v in wrong:
                res = memo[v]
                ctx.reject(i, res.code, name, v, f"Row {ctx.rownums[i]}: {_show(v)} in {ctx.hmap.title(name)} {res.reason}.")
    return list(map(values.__getitem__, col))


@dataclass(frozen=True, slots=True)
class _RowRules:
    """Which actions use which optional fields (from the schema), and whether dates can be given."""

    password_for: frozenset
    message_for: frozenset
    dates_for: frozenset
    has_date_columns: bool
    both_date_columns: bool

    @classmethod
    def of(cls, schema: Schema, action_words: dict, cols: dict) -> "_RowRules":
        only = {f.name: frozenset(f.only_for) for f in schema.fields if f.only_for}
        every = frozenset(action_words.values())
        return cls(only.get("password", every), only.get("message", every),
                   only.get("access_end", every) & only.get("access_start", every),
                   "access_start" in cols or "access_end" in cols, "access_start" in cols and "access_end" in cols)


def _assemble(ctx: _RowsContext, c: _Columns, rules: _RowRules, distinct_emails: list) -> list:
    """The ValidRows. Most rows are plain creates (valid, dates in order, no duplicate): made
    column-wise in one C-level pass. The others (``_special_rows``) go through ``_check_row``
    one by one, in row order (the first of two duplicates wins)."""
    pool_keys = {p: p.casefold() for p in set(c.pools) if p}
    special = _special_rows(ctx, c, rules, pool_keys)
    columns = (c.rownums, c.actions, c.emails, c.keys, c.firsts, c.lasts, c.passwords, c.starts, c.ends, c.pools,
               c.messages, c.normalized)
    if not special:
        return from_columns(ValidRow, *columns)
    keep = [True] * ctx.n
    for i in special:
        keep[i] = False
    out: list = [None] * ctx.n
    for i, row in zip(compress(range(ctx.n), keep), from_columns(ValidRow, *(compress(col, keep) for col in columns))):
        out[i] = row
    seen: dict[tuple, tuple[int, tuple]] = {}
    extend_without_date_columns: list[int] = []
    # one call per special row (a profile of 100,000 invite rows: read and validate 1.08 s, as
    # before the split); the plain creates above make no call per row
    for i in sorted(special):
        out[i] = _check_row(ctx, c, rules, i, pool_keys, seen, extend_without_date_columns)
    if extend_without_date_columns:
        ctx.errors.append(RowError(
            "missing-column", 1, "access_end", None,
            f"Row 1: {_rows_phrase(extend_without_date_columns)} extend access, which needs an access_end "
            "(or access_start) column; add one.",
        ))
    return list(filter(None, out))


def _special_rows(ctx: _RowsContext, c: _Columns, rules: _RowRules, pool_keys: dict) -> set[int]:
    """Indexes of the rows the column-wise pass cannot make: bad ones, not creates, dates out of
    order, or an email (per pool) on more than one row."""
    n = ctx.n
    special = set(ctx.bad)
    if c.actions.count("create") != n:
        special.update(i for i, a in enumerate(c.actions) if a != "create")
    if rules.both_date_columns:
        special.update(i for i, (s, e) in enumerate(zip(c.starts, c.ends)) if s is not None and e is not None and e < s)
    if len(set(pool_keys.values())) <= 1 and None not in c.pools or not pool_keys:
        dup_keys: list = c.keys  # one pool for every row: the email key decides
    else:
        dup_keys = list(zip(c.keys, map(pool_keys.get, c.pools)))
    if len(set(dup_keys)) != n:
        counts = Counter(dup_keys)
        special.update(i for i, k in enumerate(dup_keys) if counts[k] > 1)
    return special


def _check_row(ctx: _RowsContext, c: _Columns, rules: _RowRules, i: int, pool_keys: dict, seen: dict,
               extend_without_date_columns: list) -> ValidRow | None:
    """One row the column-wise pass left out: its ValidRow, or None (an error or warning said why).
    ``seen`` holds the first row of each (email key, pool); extends that cannot have a date are
    gathered in ``extend_without_date_columns`` (one error for the file)."""
    rownum, action = c.rownums[i], c.actions[i]
    if i in ctx.bad:
        if action == "extend" and not rules.has_date_columns:
            extend_without_date_columns.append(rownum)
        return None
    password, message, start, end = c.passwords[i], c.messages[i], c.starts[i], c.ends[i]
    if action != "create":
        if action == "extend" and start is None and end is None:
            if rules.has_date_columns:
                title = ctx.hmap.title
                ctx.errors.append(RowError(
                    "missing-value", rownum, "access_end", None,
                    f"Row {rownum}: an extend row needs a new {title('access_end')} or {title('access_start')} date.",
                ))
            else:
                extend_without_date_columns.append(rownum)
            return None
        password, message, start, end = _drop_ignored(ctx, rules, rownum, action, password, message, start, end)
    if start is not None and end is not None and end < start:
        ctx.errors.append(RowError(
            "end-before-start", rownum, "access_end", end,
            f"Row {rownum}: access ends ({end.isoformat()}) before it starts ({start.isoformat()}).",
        ))
        return None
    email, first, last, pool = c.emails[i], c.firsts[i], c.lasts[i], c.pools[i]
    signature = (action, first, last, password, start, end, message)
    dup_key = (c.keys[i], pool_keys.get(pool))
    earlier = seen.get(dup_key)
    if earlier is not None:
        _duplicate(ctx, rownum, email, pool, earlier, signature)
        return None
    seen[dup_key] = (rownum, signature)
    return ValidRow(rownum, action, email, c.keys[i], first, last, password, start, end, pool, message,
                    c.normalized[i])


def _drop_ignored(ctx: _RowsContext, rules: _RowRules, rownum: int, action: str, password, message, start, end):
    """A password, message or dates on a row whose action does not use them: a warning each, and
    the value dropped. Returns (password, message, start, end)."""
    if password is not None and action not in rules.password_for:
        ctx.warnings.append(RowError(
            "value-ignored", rownum, "password", None,
            f"Row {rownum}: a password is only used when creating an account; it is ignored on a {action} row.",
        ))
        password = None
    if message is not None and action not in rules.message_for:
        ctx.warnings.append(RowError(
            "value-ignored", rownum, "message", message,
            f"Row {rownum}: the message is only sent with an invitation; it is ignored on a {action} row.",
        ))
        message = None
    if (start is not None or end is not None) and action not in rules.dates_for:
        ctx.warnings.append(RowError(
            "value-ignored", rownum, "access_end" if end is not None else "access_start", None,
            f"Row {rownum}: access dates are ignored on a {action} row.",
        ))
        start = end = None
    return password, message, start, end


_SIGNATURE = ("action", "first_name", "last_name", "password", "access_start", "access_end", "message")


def _duplicate(ctx: _RowsContext, rownum: int, email: str, pool, earlier: tuple, signature: tuple) -> None:
    """A second row for one learner (in one pool): a warning if it says the same, else an error
    naming what differs."""
    first_row, first_sig = earlier
    if first_sig == signature:
        ctx.warnings.append(RowError(
            "duplicate-row", rownum, "email", email, f"Row {rownum}: the same as row {first_row}; it counts once.",
        ))
        return
    differ = [_LABELS[nm] for nm, x, y in zip(_SIGNATURE, first_sig, signature) if x != y]
    ctx.errors.append(RowError(
        "conflicting-duplicate", rownum, "email", email,
        f"Row {rownum}: {email} is already on row {first_row} with a different "
        f"{', '.join(differ)}; keep one row per person{' and pool' if pool else ''}.",
    ))


def _check_passwords(ctx: _RowsContext, c: _Columns) -> None:
    """The password rule (``passwords.check_strength``, the one the claim page uses) for each row
    that creates an account with a password: a weak one is an error of that row, so the plan names
    it and --skip-invalid skips it, instead of the apply refusing the whole batch. The error never
    shows the password."""
    from regtui.core.errors import Refused
    from regtui.core.services.passwords import check_strength

    for i, password in enumerate(c.passwords):
        if password is None or c.actions[i] != "create" or i in ctx.bad:
            continue
        try:
            check_strength(password, avoid=[x for x in (c.emails[i], c.firsts[i], c.lasts[i]) if x])
        except Refused as refused:
            ctx.reject(i, "weak-password", "password", None, f"Row {c.rownums[i]}: {refused}")


_PHASES = 5


def _ticker(progress: ProgressFn | None, total: int):
    if progress is None:
        return lambda phase: None
    return lambda phase: progress("rows", total * phase // _PHASES, total)

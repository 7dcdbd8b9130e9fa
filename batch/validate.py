"""Turn raw roster rows into ValidRow values, RowError errors and warnings. Pure: no database.

One pass over the rows; each distinct email address, date text and action word is checked
once (memo dicts), so the cost per row is a handful of dict look-ups.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import Any

from batch.dates import DATE_FORMATS, parse_date
from regtui.core.emailcheck import check_email_column
from batch.errors import RowError
from batch.fastinit import fast_constructor
from batch.readers import RawRoster
from batch.schema import HeaderMap, Schema, load_schema, map_header
from batch.progress import Progress as ProgressFn


@dataclass(frozen=True, slots=True)
class ValidRow:
    """One valid roster row: one action on one learner (in one pool).

    ``email`` is the address as written (trimmed); ``email_normalized`` is email-validator's
    normal form (domain lower-cased); ``email_key`` identifies the learner (the normal form
    lower-cased). Empty optional cells are None. ``pool`` is the cell, else the file's default
    pool, else None (the planner decides).
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



# ValidRow(*fields) at a fraction of the frozen __init__'s cost (100,000 rows per roster).
_new_valid_row = fast_constructor(ValidRow)

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


def _validate_rows(raw, hmap, *, errors, warnings, schema, action_words, default_action, default_pool,
                   date_format, progress):
    """Column by column: each distinct value of a column is checked once (memo dicts), then
    one loop over the rows assembles ValidRows, checks actions' needs and duplicates."""
    cols = hmap.columns
    title = hmap.title
    rows = raw.rows
    n = len(rows)
    tick = _ticker(progress, n)
    by_column = raw.columns
    if by_column is not None and (len(by_column) < len(raw.header) or any(len(c) != n for c in by_column)):
        by_column = None
    cells = [r[1] for r in rows] if by_column is None else None
    rownums = [r[0] for r in rows]
    bad: set[int] = set()
    append_error = errors.append
    append_warning = warnings.append
    max_chars = raw.limits.max_cell_chars

    def column(name: str) -> list | None:
        i = cols.get(name)
        if i is None:
            return None
        return list(by_column[i]) if by_column is not None else list(map(itemgetter(i), cells))

    # Problems the reader saw in single cells.
    used = {i: name for name, i in cols.items()}
    flagged: set[tuple[int, str]] = set()
    index_of_row = None
    for issue in raw.issues:
        name = used.get(issue.col)
        if name is None:
            header_text = raw.header[issue.col] if issue.col < len(raw.header) else f"column {issue.col + 1}"
            what = "has a formula with no saved value" if issue.code == "formula-no-value" else "is too long"
            append_warning(RowError(
                issue.code, issue.row, header_text or None, issue.value,
                f"Row {issue.row}: the cell in the ignored column '{header_text}' {what}.",
            ))
            continue
        if issue.code == "formula-no-value":
            msg = (f"Row {issue.row}: the {title(name)} cell has a formula but the file holds no value for it; "
                   "open the file in Excel or LibreOffice, save it, and upload it again.")
        else:
            msg = (f"Row {issue.row}: the {title(name)} cell is {len(str(issue.value)):,} characters long; "
                   f"a cell may have at most {max_chars:,}.")
        append_error(RowError(issue.code, issue.row, name, issue.value, msg))
        if index_of_row is None:
            index_of_row = {r: i for i, r in enumerate(rownums)}
        i = index_of_row.get(issue.row)
        if i is not None:
            bad.add(i)
            flagged.add((i, name))

    # action
    col = column("action")
    if col is None:
        actions = [default_action] * n
    else:
        memo: dict = {}
        for v in set(col):
            word = " ".join(_text(v).casefold().split())
            memo[v] = action_words.get(word) if word else (default_action or "")
        actions = list(map(memo.__getitem__, col))
        wrong = {v for v, a in memo.items() if not a}
        if wrong:
            for i, v in enumerate(col):
                if v in wrong:
                    bad.add(i)
                    if memo[v] is None:
                        append_error(RowError(
                            "unknown-action", rownums[i], "action", v,
                            f"Row {rownums[i]}: {_show(v)} is not an action; use create, invite, revoke or extend.",
                        ))
                    elif (i, "action") not in flagged:
                        append_error(RowError(
                            "missing-value", rownums[i], "action", v,
                            f"Row {rownums[i]}: the {title('action')} cell is empty; "
                            "write create, invite, revoke or extend.",
                        ))
    tick(1)

    # email: each distinct address checked once
    col = column("email")
    emails = _text_column(col)
    distinct = list(dict.fromkeys(emails))
    if None in distinct:
        distinct.remove(None)
    normalized_of, key_of, reasons = check_email_column(distinct)
    wrong_set: set[int] = set()
    if None in emails:
        wrong_set.update(i for i, e in enumerate(emails) if e is None)
    if set(map(type, col)) != {str}:
        wrong_set.update(i for i, v in enumerate(col) if type(v) is not str)
    if reasons:
        wrong_set.update(i for i, e in enumerate(emails) if e in reasons)
    wrong_idx = sorted(wrong_set)
    for i in wrong_idx:
        bad.add(i)
        v, e, r = col[i], emails[i], rownums[i]
        if type(v) is not str and v is not None:
            append_error(RowError(
                "invalid-email", r, "email", v, f"Row {r}: {_show(v)} is not a valid email address.",
            ))
        elif not e:
            if (i, "email") not in flagged:
                append_error(RowError(
                    "missing-value", r, "email", v,
                    f"Row {r}: the {title('email')} cell is empty; every row needs the learner's email address.",
                ))
        else:
            append_error(RowError(
                "invalid-email", r, "email", v,
                f"Row {r}: {_show(e)} is not a valid email address ({reasons[e]}).",
            ))
    tick(2)

    firsts = _text_column(col) if (col := column("first_name")) is not None else [None] * n
    lasts = _text_column(col) if (col := column("last_name")) is not None else [None] * n
    messages = _text_column(col) if (col := column("message")) is not None else [None] * n
    col = column("pool")
    if col is None:
        pools = [default_pool] * n
    else:
        pools = _text_column(col)
        if default_pool is not None:
            pools = [p or default_pool for p in pools]
    col = column("password")
    if col is None:
        passwords = [None] * n
    else:
        passwords = [None if v is None or v == "" else (v if type(v) is str else _text(v)) for v in col]
        passwords = [p if p and not p.isspace() else None for p in passwords]
    tick(3)

    # dates: each distinct cell parsed once
    parsed = {}
    for name in ("access_start", "access_end"):
        col = column(name)
        if col is None:
            parsed[name] = [None] * n
            continue
        memo = {v: parse_date(v, date_format) for v in set(col)}
        values = {v: res.value for v, res in memo.items()}
        parsed[name] = list(map(values.__getitem__, col))
        wrong = {v for v, res in memo.items() if res.code is not None}
        if wrong:
            for i, v in enumerate(col):
                if v in wrong:
                    bad.add(i)
                    res = memo[v]
                    append_error(RowError(
                        res.code, rownums[i], name, v,
                        f"Row {rownums[i]}: {_show(v)} in {title(name)} {res.reason}.",
                    ))
    tick(4)

    if any(passwords):
        _check_passwords(passwords, actions, emails, firsts, lasts, rownums, bad, append_error)

    # The rows: most are plain creates (valid, no dates in the wrong order, no duplicate), made
    # into ValidRows column by column; the others go through the row-by-row rules below.
    only = {f.name: frozenset(f.only_for) for f in schema.fields if f.only_for}
    all_actions = frozenset(action_words.values())
    pw_ok = only.get("password", all_actions)
    msg_ok = only.get("message", all_actions)
    dates_ok = only.get("access_end", all_actions) & only.get("access_start", all_actions)
    has_date_columns = "access_start" in cols or "access_end" in cols
    extend_without_date_columns: list[int] = []
    starts, ends = parsed["access_start"], parsed["access_end"]
    if len(distinct) == n:  # every row a different address (the usual roster)
        normalized_col, key_col = normalized_of, key_of
    else:
        normalized_by = dict(zip(distinct, normalized_of))
        key_by = dict(zip(distinct, key_of))
        normalized_col = list(map(normalized_by.get, emails))
        key_col = list(map(key_by.get, emails))
    pool_keys = {p: p.casefold() for p in set(pools) if p}
    if len(set(pool_keys.values())) <= 1 and None not in pools or not pool_keys:
        dup_keys: list = key_col  # one pool for every row: the email key decides
    else:
        dup_keys = list(zip(key_col, map(pool_keys.get, pools)))

    special = set(bad)
    if actions.count("create") != n:
        special.update(i for i, a in enumerate(actions) if a != "create")
    if "access_start" in cols and "access_end" in cols:
        special.update(i for i, (s, e) in enumerate(zip(starts, ends)) if s is not None and e is not None and e < s)
    if len(set(dup_keys)) != n:
        counts = Counter(dup_keys)
        special.update(i for i, k in enumerate(dup_keys) if counts[k] > 1)

    new = _new_valid_row
    columns = (rownums, actions, emails, key_col, firsts, lasts, passwords, starts, ends, pools, messages, normalized_col)
    if not special:
        valid: list = list(map(new, *columns))
    else:
        keep = [True] * n
        for i in special:
            keep[i] = False
        out: list = [None] * n
        for i, row in zip(compress(range(n), keep), map(new, *(compress(c, keep) for c in columns))):
            out[i] = row
        seen: dict[tuple, tuple[int, tuple]] = {}
        for i in sorted(special):
            rownum, action, email, first, last, password, start, end, pool, message = (
                rownums[i], actions[i], emails[i], firsts[i], lasts[i], passwords[i], starts[i], ends[i], pools[i],
                messages[i])
            if i in bad:
                if action == "extend" and not has_date_columns:
                    extend_without_date_columns.append(rownum)
                continue
            if action != "create":
                if action == "extend" and start is None and end is None:
                    if has_date_columns:
                        append_error(RowError(
                            "missing-value", rownum, "access_end", None,
                            f"Row {rownum}: an extend row needs a new {title('access_end')} or "
                            f"{title('access_start')} date.",
                        ))
                    else:
                        extend_without_date_columns.append(rownum)
                    continue
                if password is not None and action not in pw_ok:
                    append_warning(RowError(
                        "value-ignored", rownum, "password", None,
                        f"Row {rownum}: a password is only used when creating an account; it is ignored on a {action} row.",
                    ))
                    password = None
                if message is not None and action not in msg_ok:
                    append_warning(RowError(
                        "value-ignored", rownum, "message", message,
                        f"Row {rownum}: the message is only sent with an invitation; it is ignored on a {action} row.",
                    ))
                    message = None
                if (start is not None or end is not None) and action not in dates_ok:
                    append_warning(RowError(
                        "value-ignored", rownum, "access_end" if end is not None else "access_start", None,
                        f"Row {rownum}: access dates are ignored on a {action} row.",
                    ))
                    start = end = None
            if start is not None and end is not None and end < start:
                append_error(RowError(
                    "end-before-start", rownum, "access_end", end,
                    f"Row {rownum}: access ends ({end.isoformat()}) before it starts ({start.isoformat()}).",
                ))
                continue
            normalized, key = normalized_col[i], key_col[i]
            dup_key = (key, pool_keys.get(pool))
            earlier = seen.get(dup_key)
            if earlier is not None:
                first_row, first_sig = earlier
                signature = (action, first, last, password, start, end, message)
                if first_sig == signature:
                    append_warning(RowError(
                        "duplicate-row", rownum, "email", email, f"Row {rownum}: the same as row {first_row}; it counts once.",
                    ))
                else:
                    names = ("action", "first_name", "last_name", "password", "access_start", "access_end", "message")
                    differ = [_LABELS[nm] for nm, x, y in zip(names, first_sig, signature) if x != y]
                    append_error(RowError(
                        "conflicting-duplicate", rownum, "email", email,
                        f"Row {rownum}: {email} is already on row {first_row} with a different "
                        f"{', '.join(differ)}; keep one row per person{' and pool' if pool else ''}.",
                    ))
                continue
            seen[dup_key] = (rownum, (action, first, last, password, start, end, message))
            out[i] = new(rownum, action, email, key, first, last, password, start, end, pool, message, normalized)

        valid = list(filter(None, out))

    if extend_without_date_columns:
        errors.append(RowError(
            "missing-column", 1, "access_end", None,
            f"Row 1: {_rows_phrase(extend_without_date_columns)} extend access, which needs an access_end "
            "(or access_start) column; add one.",
        ))
    tick(5)
    errors.sort(key=lambda err: err.row)
    warnings.sort(key=lambda w: w.row)
    return hmap, tuple(valid), tuple(errors), tuple(warnings)


def _check_passwords(passwords, actions, emails, firsts, lasts, rownums, bad: set, append_error) -> None:
    """The password rule (``passwords.check_strength``, the one the claim page uses) for each row
    that creates an account with a password: a weak one is an error of that row, so the plan names
    it and --skip-invalid skips it, instead of the apply refusing the whole batch. The error never
    shows the password."""
    from regtui.core.errors import Refused
    from regtui.core.services.passwords import check_strength

    for i, password in enumerate(passwords):
        if password is None or actions[i] != "create" or i in bad:
            continue
        try:
            check_strength(password, avoid=[x for x in (emails[i], firsts[i], lasts[i]) if x])
        except Refused as refused:
            bad.add(i)
            append_error(RowError("weak-password", rownums[i], "password", None, f"Row {rownums[i]}: {refused}"))


_PHASES = 5


def _ticker(progress: ProgressFn | None, total: int):
    if progress is None:
        return lambda phase: None
    return lambda phase: progress("rows", total * phase // _PHASES, total)

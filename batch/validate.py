"""Turn raw roster rows into ValidRow values, RowError errors and warnings. Pure: no database.

One pass over the rows; each distinct email address, date text and action word is checked
once (memo dicts), so the cost per row is a handful of dict look-ups.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from batch.dates import DATE_FORMATS, parse_date
from batch.emails import EmailCheck, check_email
from batch.errors import RowError
from batch.readers import RawRoster
from batch.schema import HeaderMap, Schema, load_schema, map_header


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


ProgressFn = Callable[[int, int], Any]

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
    title = hmap.title
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

    ia = cols.get("action")
    ie = cols["email"]
    ifn = cols.get("first_name")
    iln = cols.get("last_name")
    ipw = cols.get("password")
    isd = cols.get("access_start")
    ied = cols.get("access_end")
    ipo = cols.get("pool")
    ims = cols.get("message")
    used = {i: name for name, i in cols.items()}
    extend_needs_dates = isd is None and ied is None

    # Problems the reader saw in single cells, by row.
    cell_issues: dict[int, list] = {}
    for issue in raw.issues:
        name = used.get(issue.col)
        if name is None:
            header_text = raw.header[issue.col] if issue.col < len(raw.header) else f"column {issue.col + 1}"
            what = ("has a formula with no saved value" if issue.code == "formula-no-value"
                    else "is too long")
            warnings.append(RowError(
                issue.code, issue.row, header_text or None, issue.value,
                f"Row {issue.row}: the cell in the ignored column '{header_text}' {what}.",
            ))
        else:
            cell_issues.setdefault(issue.row, []).append((name, issue))
    max_chars = raw.limits.max_cell_chars

    valid: list[ValidRow] = []
    emails: dict[str, EmailCheck] = {}
    dates: dict[Any, Any] = {}
    actions: dict[Any, str | None] = {}
    seen: dict[tuple, tuple[int, tuple]] = {}
    extend_rows_without_dates: list[int] = []
    only = {f.name: f.only_for for f in schema.fields if f.only_for}
    pw_only, sd_only, ed_only, ms_only = (only.get(n) for n in ("password", "access_start", "access_end", "message"))
    append_error = errors.append
    append_warning = warnings.append
    total = len(raw.rows)
    step = max(1000, total // 100)
    next_tick = step

    for n, (rownum, cells) in enumerate(raw.rows):
        if progress is not None and n >= next_tick:
            progress(n, total)
            next_tick += step
        bad = False
        flagged = ()

        if rownum in cell_issues:
            flagged = {name for name, _ in cell_issues[rownum]}
            for name, issue in cell_issues[rownum]:
                bad = True
                if issue.code == "formula-no-value":
                    msg = (f"Row {rownum}: the {title(name)} cell has a formula but the file holds no value for it; "
                           "open the file in Excel or LibreOffice, save it, and upload it again.")
                else:
                    msg = (f"Row {rownum}: the {title(name)} cell is {len(str(issue.value)):,} characters long; "
                           f"a cell may have at most {max_chars:,}.")
                append_error(RowError(issue.code, rownum, name, issue.value, msg))

        # action
        if ia is None:
            action = default_action
        else:
            a = cells[ia]
            if a in actions:
                action = actions[a]
            else:
                word = " ".join(_text(a).casefold().split())
                action = action_words.get(word) if word else default_action
                if action is None and not word:
                    action = ""  # empty, no default
                actions[a] = action
            if not action:
                bad = True
                if action is None:
                    append_error(RowError(
                        "unknown-action", rownum, "action", a,
                        f"Row {rownum}: {_show(a)} is not an action; use create, invite, revoke or extend.",
                    ))
                else:
                    append_error(RowError(
                        "missing-value", rownum, "action", a,
                        f"Row {rownum}: the {title('action')} cell is empty; write create, invite, revoke or extend.",
                    ))
                action = None

        # email
        e = cells[ie]
        email = e.strip() if type(e) is str else None
        chk = None
        if email is None:
            if e is None:
                email = ""
            else:
                bad = True
                append_error(RowError(
                    "invalid-email", rownum, "email", e,
                    f"Row {rownum}: {_show(e)} is not a valid email address.",
                ))
        if email == "":
            bad = True
            if "email" not in flagged:
                append_error(RowError(
                    "missing-value", rownum, "email", e,
                    f"Row {rownum}: the {title('email')} cell is empty; every row needs the learner's email address.",
                ))
        elif email is not None:
            chk = emails.get(email)
            if chk is None:
                chk = emails[email] = check_email(email)
            if chk.reason is not None:
                bad = True
                append_error(RowError(
                    "invalid-email", rownum, "email", e,
                    f"Row {rownum}: {_show(email)} is not a valid email address ({chk.reason}).",
                ))

        first = _text(cells[ifn]) or None if ifn is not None else None
        last = _text(cells[iln]) or None if iln is not None else None
        message = _text(cells[ims]) or None if ims is not None else None
        pool = (_text(cells[ipo]) or default_pool) if ipo is not None else default_pool

        password = None
        if ipw is not None:
            p = cells[ipw]
            if p is not None and p != "":
                password = p if type(p) is str else _text(p)
                if not password.strip():
                    password = None

        # dates
        start = end = None
        dates_given = False
        for idx, name in ((isd, "access_start"), (ied, "access_end")):
            if idx is None:
                continue
            v = cells[idx]
            if v == "" or v is None or (type(v) is str and not v.strip()):
                continue
            dates_given = True
            key = (v, type(v))
            res = dates.get(key)
            if res is None:
                res = dates[key] = parse_date(v, date_format)
            if res.code is not None:
                bad = True
                append_error(RowError(
                    res.code, rownum, name, v,
                    f"Row {rownum}: {_show(v)} in {title(name)} {res.reason}.",
                ))
            elif name == "access_start":
                start = res.value
            else:
                end = res.value
        if start is not None and end is not None and end < start:
            bad = True
            append_error(RowError(
                "end-before-start", rownum, "access_end", cells[ied],
                f"Row {rownum}: access ends ({end.isoformat()}) before it starts ({start.isoformat()}).",
            ))

        if action is not None:
            if action == "extend":
                if extend_needs_dates:
                    extend_rows_without_dates.append(rownum)
                    bad = True
                elif not dates_given:
                    bad = True
                    append_error(RowError(
                        "missing-value", rownum, "access_end", None,
                        f"Row {rownum}: an extend row needs a new {title('access_end')} or {title('access_start')} date.",
                    ))
            if password is not None and pw_only and action not in pw_only:
                append_warning(RowError(
                    "value-ignored", rownum, "password", None,
                    f"Row {rownum}: a password is only used when creating an account; it is ignored on a {action} row.",
                ))
                password = None
            if message is not None and ms_only and action not in ms_only:
                append_warning(RowError(
                    "value-ignored", rownum, "message", message,
                    f"Row {rownum}: the message is only sent with an invitation; it is ignored on a {action} row.",
                ))
                message = None
            if (start is not None or end is not None) and sd_only and action not in sd_only:
                append_warning(RowError(
                    "value-ignored", rownum, "access_end" if end is not None else "access_start", None,
                    f"Row {rownum}: access dates are ignored on a {action} row.",
                ))
                start = end = None

        if bad:
            continue

        key = (chk.key, pool.casefold() if pool else None)
        signature = (action, first, last, password, start, end, message)
        earlier = seen.get(key)
        if earlier is not None:
            first_row, first_sig = earlier
            if first_sig == signature:
                append_warning(RowError(
                    "duplicate-row", rownum, "email", email,
                    f"Row {rownum}: the same as row {first_row}; it counts once.",
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
        seen[key] = (rownum, signature)
        valid.append(ValidRow(
            rownum, action, email, chk.key, first, last, password, start, end, pool, message, chk.normalized,
        ))

    if extend_rows_without_dates:
        errors.append(RowError(
            "missing-column", 1, "access_end", None,
            f"Row 1: {_rows_phrase(extend_rows_without_dates)} extend access, which needs an access_end "
            "(or access_start) column; add one.",
        ))
    if progress is not None:
        progress(total, total)
    errors.sort(key=lambda err: err.row)
    warnings.sort(key=lambda w: w.row)
    return hmap, tuple(valid), tuple(errors), tuple(warnings)


"""The human diff of a plan: a line per change in row order, then the errors, the warnings (at
most ``SHOWN_PER_CODE`` of each kind) and a summary line."""

from __future__ import annotations

from collections import Counter
from operator import attrgetter

from batch.plan import _DESCRIPTIONS, KINDS, Plan, _kind, _row, describe

# One mark per kind, at the start of each line of the diff.
MARKS = {"create": "+", "assign": "+", "invite": "✉", "revoke": "-", "extend": "~", "unchanged": "=", "error": "!"}
def _without_row(message: str, row: int | None) -> str:
    """The sentence without its "Row N: " opening, which the diff already shows in a column."""
    prefix = f"Row {row}: "
    return message[len(prefix):] if row and message.startswith(prefix) else message


def diff_text(plan: "Plan") -> str:
    """The human diff of a plan: a line per change (row order, sync revokes last), then the
    errors, the warnings and a summary line. Built column by column and joined once."""
    items = plan.changes + plan.unchanged
    rows = list(map(_row, items))
    if None in rows or len(set(rows)) != len(rows):
        items = sorted(items, key=lambda c: (c.row is None, c.row or 0, c.email))
        rows = list(map(_row, items))
    elif plan.unchanged or rows != sorted(rows):
        items = [items[i] for i in sorted(range(len(items)), key=rows.__getitem__)]
        rows = list(map(_row, items))
    kinds = list(map(_kind, items))
    heads = {k: f"{MARKS[k]} {k:<9} " for k in set(kinds)}
    firsts = list(map(attrgetter("first_name"), items))
    lasts = list(map(attrgetter("last_name"), items))
    details = list(map(attrgetter("detail"), items))
    plain_names = not ("" in firsts or "" in lasts or None in firsts or None in lasts)
    if plain_names and None not in rows and "extend" not in heads and details.count("") == len(details):
        # the usual big plan: every line from one format, kinds decide the mark and the words
        tails = {k: _DESCRIPTIONS.get(k, k) for k in heads}
        lines = [f"{h}row {r:<5} {e}  {f} {la}  ({t})\n" for h, r, e, f, la, t in zip(
            map(heads.__getitem__, kinds), rows, map(attrgetter("email"), items), firsts, lasts,
            map(tails.__getitem__, kinds))]
    else:
        where = [f"{'row ' + str(r) if r is not None else '(sync)':<9}" for r in rows]
        if plain_names:
            names = list(map("  {} {}".format, firsts, lasts))
        else:
            names = ["  " + " ".join(x for x in (f, l) if x) if (f or l) else "" for f, l in zip(firsts, lasts)]
        tails = list(map(describe, items))
        lines = map("{}{} {}{}  ({})\n".format, map(heads.__getitem__, kinds), where, map(attrgetter("email"), items),
                    names, tails)
    return "".join([*lines, *_tail_lines(plan, errors_cap=None)])


def summary_text(plan: "Plan") -> str:
    """The diff without a line per change (``batch plan --summary``, for big files): the errors
    and warnings, at most ``SHOWN_PER_CODE`` of each kind, and the summary line."""
    return "".join(_tail_lines(plan, errors_cap=SHOWN_PER_CODE))


def _tail_lines(plan: "Plan", *, errors_cap: int | None) -> list[str]:
    """The errors (all, or at most ``errors_cap`` of each code), the warnings and the summary."""
    parts = _capped(plan.errors, errors_cap, lambda e: f"! error     {'row ' + str(e.row) if e.row else 'plan':<9} "
                    f"{_without_row(e.message, e.row)} [{e.code}]\n", "! error    ", "errors")
    parts += _capped(plan.warnings, SHOWN_PER_CODE,
                     lambda w: f"  warning   row {w.row:<5} {_without_row(w.message, w.row)}\n", "  warning  ", "warnings")
    s = plan.summary()
    counts = ", ".join(f"{s[k]} {k}" for k in KINDS)
    parts.append(f"Plan for pool {plan.pool_id} ({plan.file_name}): {counts}. "
                 f"Seats {plan.seats}: {plan.available_before} available before, {plan.available_after} after.\n")
    return parts


SHOWN_PER_CODE = 10  # warnings of one kind printed before the rest are summed up in one line


def _capped(items, cap: int | None, line, head: str, what: str) -> list[str]:
    """A line per item, but (with a cap) at most ``cap`` of each code, then one line for the rest."""
    lines: list[str] = []
    seen: Counter = Counter()
    for item in items:
        seen[item.code] += 1
        if cap is None or seen[item.code] <= cap:
            lines.append(line(item))
    if cap is not None:
        for code, n in seen.items():
            if n > cap:
                lines.append(f"{head} ...       and {n - cap:,} more {what} like these [{code}]\n")
    return lines


__all__ = ["diff_text", "summary_text", "MARKS", "SHOWN_PER_CODE"]

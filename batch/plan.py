"""Plans: the validated diff of a roster against one pool.

``make_plan(rows, snapshot)`` is a pure function: no database, no clock, no randomness. It
classifies every valid row as one change (``create``, ``assign``, ``invite``, ``revoke``,
``extend``), as ``unchanged`` (already so: re-applying a roster changes nothing), or as an
error with a stable code, and checks the seats for the whole plan. The plan carries the
snapshot's fingerprint; ``batch.apply.apply_plan`` refuses it if the database moved since.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import compress, repeat
from operator import attrgetter
from typing import Any, Sequence

import orjson

from batch.errors import RowError
from batch.fastinit import fast_constructor
from batch.snapshot import Snapshot

KINDS = ("create", "assign", "invite", "revoke", "extend", "unchanged", "error")
SEAT_TAKING = ("create", "assign", "invite")
PLAN_VERSION = 1
DEFAULT_MAX_REVOKE = "10%"

# Errors that stop a plan even with --skip-invalid: they are about the whole plan or file.
WHOLE_PLAN_CODES = frozenset({"seats-short", "too-many-revokes", "missing-column", "duplicate-column",
                              "unreadable-file", "no-pool", "no-rows"})


@dataclass(frozen=True, slots=True)
class Change:
    """One row's effect. ``row`` is the spreadsheet row (None for a sync revoke of someone not
    on the roster). ``old_*`` are the access dates before, ``starts``/``ends`` the dates asked
    for (None: the session's defaults, or unchanged for an extend)."""

    row: int | None
    kind: str
    email: str
    key: str
    first_name: str = ""
    last_name: str = ""
    starts: dt.date | None = None
    ends: dt.date | None = None
    old_starts: dt.date | None = None
    old_ends: dt.date | None = None
    message: str = ""
    code_id: int | None = None
    invitation_id: int | None = None
    detail: str = ""
    has_password: bool = False
    password: str | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        d = {"row": self.row, "kind": self.kind, "email": self.email, "first_name": self.first_name,
             "last_name": self.last_name, "detail": describe(self)}
        if self.kind == "extend" or self.old_starts or self.old_ends:
            d["old"] = {"access_start": _iso(self.old_starts), "access_end": _iso(self.old_ends)}
        if self.starts or self.ends or self.kind == "extend":
            d["new"] = {"access_start": _iso(self.starts), "access_end": _iso(self.ends)}
        if self.kind == "invite" and self.message:
            d["message"] = self.message
        return d


# One class for every problem, from reading the roster or from planning it (see batch.errors).
PlanError = RowError


@dataclass(frozen=True)
class Plan:
    pool_id: int
    file_name: str
    sha256: str
    fingerprint: str
    changes: tuple[Change, ...]
    unchanged: tuple[Change, ...]
    errors: tuple[PlanError, ...]
    warnings: tuple[PlanError, ...]
    seats: int
    available_before: int
    available_after: int
    options: dict = field(default_factory=dict)

    # --- reading -----------------------------------------------------------------------------
    def count(self, kind: str) -> int:
        if kind == "error":
            return len(self.errors)
        if kind == "unchanged":
            return len(self.unchanged)
        return list(map(_kind, self.changes)).count(kind)

    def summary(self) -> dict[str, int]:
        counts = Counter(map(_kind, self.changes))
        out = {k: counts[k] for k in KINDS}
        out["unchanged"], out["error"] = len(self.unchanged), len(self.errors)
        return out

    @property
    def skip_invalid(self) -> bool:
        return bool(self.options.get("skip_invalid"))

    @property
    def blocking_errors(self) -> tuple[PlanError, ...]:
        """Errors that stop the apply: all of them, or with --skip-invalid only the whole-plan ones."""
        if not self.skip_invalid:
            return self.errors
        return tuple(e for e in self.errors if e.code in WHOLE_PLAN_CODES or e.row <= 1)

    @property
    def learner_keys(self) -> tuple[str, ...]:
        """The keys whose account existence the plan relied on (create vs assign)."""
        return tuple(sorted(set(compress(map(_key, self.changes), map(_NEW_SEAT_KINDS.__contains__, map(_kind, self.changes))))))

    @property
    def has_passwords(self) -> bool:
        return any(c.has_password for c in self.changes)

    def rows_status(self) -> dict[int, tuple[str, str]]:
        """spreadsheet row -> (status, message), for reports."""
        out: dict[int, tuple[str, str]] = {}
        for c in self.unchanged + self.changes:
            if c.row is not None:
                out[c.row] = (c.kind, describe(c))
        for e in self.errors:
            if e.row > 1:
                prev = out.get(e.row)
                msg = e.message if prev is None or prev[0] != "error" else f"{prev[1]} {e.message}"
                out[e.row] = ("error", msg)
        return out

    # --- JSON --------------------------------------------------------------------------------
    def report_json(self) -> dict:
        """The CLI's --json shape."""
        return {
            "summary": self.summary(),
            "changes": [c.as_dict() for c in self.changes + self.unchanged],
            "warnings": [w.as_dict() for w in self.warnings],
            "errors": [e.as_dict() for e in self.errors],
            "seats": {"pool": self.pool_id, "seats": self.seats, "available_before": self.available_before,
                      "available_after": self.available_after},
        }

    def to_json(self) -> str:
        """The PLAN.json file. Passwords are never written: a plan with passwords is applied from its roster.

        Changes are stored as rows under one list of field names: a 100,000-row plan is written
        with every batch, and objects with the names repeated cost twice the size and time."""
        return orjson.dumps({
            "version": PLAN_VERSION, "pool": self.pool_id, "file_name": self.file_name, "sha256": self.sha256,
            "fingerprint": self.fingerprint, "options": self.options,
            "seats": {"seats": self.seats, "available_before": self.available_before, "available_after": self.available_after},
            "errors": [e.as_dict() for e in self.errors], "warnings": [w.as_dict() for w in self.warnings],
            "change_fields": _CHANGE_FIELDS,
            "changes": list(map(_stored_change, self.changes)), "unchanged": list(map(_stored_change, self.unchanged)),
        }).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> "Plan":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError("it is not valid JSON") from exc
        if (not isinstance(data, dict) or data.get("version") != PLAN_VERSION or "fingerprint" not in data
                or data.get("change_fields") != list(_CHANGE_FIELDS)):
            raise ValueError("it holds no plan of this regtui version")
        dates = [i for i, name in enumerate(_CHANGE_FIELDS) if name in _DATE_FIELDS]
        parsed: dict[str, dt.date] = {}  # a plan has few distinct dates

        def change(values: list) -> Change:
            if not isinstance(values, list) or len(values) != len(_CHANGE_FIELDS):
                raise ValueError("a change is not a list of its fields")
            for i in dates:
                if text := values[i]:
                    values[i] = parsed.get(text) or parsed.setdefault(text, dt.date.fromisoformat(text))
            return _new_change(*values)

        seats = data["seats"]
        return cls(
            pool_id=int(data["pool"]), file_name=data["file_name"], sha256=data["sha256"], fingerprint=data["fingerprint"],
            changes=tuple(change(c) for c in data["changes"]), unchanged=tuple(change(c) for c in data["unchanged"]),
            errors=tuple(PlanError(**e) for e in data["errors"]), warnings=tuple(PlanError(**w) for w in data["warnings"]),
            seats=seats["seats"], available_before=seats["available_before"], available_after=seats["available_after"],
            options=data.get("options") or {},
        )


_CHANGE_FIELDS = tuple(f for f in Change.__dataclass_fields__ if f != "password")
_DATE_FIELDS = ("starts", "ends", "old_starts", "old_ends")
# a change as PLAN.json keeps it: its values in the order of _CHANGE_FIELDS (orjson writes dates as ISO)
_stored_change = attrgetter(*_CHANGE_FIELDS)
# Change(*fields) for the 100,000 new seats of a big roster, without the frozen __init__'s cost.
_new_change = fast_constructor(Change)
_kind = attrgetter("kind")
_row = attrgetter("row")
_key = attrgetter("key")
_NEW_SEAT_KINDS = frozenset(("create", "assign"))
_COLUMNS = ("row", "action", "email", "email_key", "first_name", "last_name", "password", "access_start", "access_end",
            "pool")


def _columns(rows: Sequence) -> list[list]:
    """The roster rows' fields the planner reads, as columns."""
    return [list(map(attrgetter(name), rows)) for name in _COLUMNS]


def describe(c: Change) -> str:
    """One short sentence about a change, for reports and the diff."""
    if c.kind == "extend":
        return f"access {_span(c.old_starts, c.old_ends)} → {_span(c.starts, c.ends)}"
    if c.detail:
        return c.detail
    return _DESCRIPTIONS.get(c.kind, c.kind)


# One mark per kind, at the start of each line of the diff.
MARKS = {"create": "+", "assign": "+", "invite": "✉", "revoke": "-", "extend": "~", "unchanged": "=", "error": "!"}
_DESCRIPTIONS = {"create": "new account and a seat", "assign": "existing account gets a seat",
                 "invite": "invitation emailed", "revoke": "seat taken back"}


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
    parts = list(lines)
    for e in plan.errors:
        where_e = f"row {e.row}" if e.row else "plan"
        parts.append(f"! error     {where_e:<9} {_without_row(e.message, e.row)} [{e.code}]\n")
    parts.extend(_warning_lines(plan.warnings))
    s = plan.summary()
    counts = ", ".join(f"{s[k]} {k}" for k in KINDS)
    parts.append(f"Plan for pool {plan.pool_id} ({plan.file_name}): {counts}. "
                 f"Seats {plan.seats}: {plan.available_before} available before, {plan.available_after} after.\n")
    return "".join(parts)


SHOWN_PER_CODE = 10  # warnings of one kind printed before the rest are summed up in one line


def _warning_lines(warnings) -> list[str]:
    """A line per warning, but at most SHOWN_PER_CODE of each code and then one line for the rest."""
    lines: list[str] = []
    seen: Counter = Counter()
    for w in warnings:
        seen[w.code] += 1
        if seen[w.code] <= SHOWN_PER_CODE:
            lines.append(f"  warning   row {w.row:<5} {_without_row(w.message, w.row)}\n")
    for code, n in seen.items():
        if n > SHOWN_PER_CODE:
            lines.append(f"  warning   ...       and {n - SHOWN_PER_CODE:,} more warnings like these [{code}]\n")
    return lines


def _span(starts: dt.date | None, ends: dt.date | None) -> str:
    return f"{_iso(starts) or '?'}..{_iso(ends) or 'open'}"


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def revoke_limit(max_revoke: int | str | None, seats: int) -> int:
    """The most revokes a sync may do: N, or P% of the pool's seats (default 10%)."""
    spec = DEFAULT_MAX_REVOKE if max_revoke is None else max_revoke
    if isinstance(spec, int):
        return spec
    text = str(spec).strip()
    if text.endswith("%"):
        pct = float(text[:-1])
        if not 0 <= pct <= 100:
            raise ValueError(f"--max-revoke {text}: a percentage is between 0% and 100%")
        return math.floor(seats * pct / 100)
    n = int(text)
    if n < 0:
        raise ValueError("--max-revoke needs a number of 0 or more, or a percentage like 10%")
    return n


def _err(code: str, row: int, column: str | None, value: Any, message: str) -> PlanError:
    return PlanError(code, row, column, value, message)


def _problem(e) -> RowError:
    """A reader's or validator's problem as it is (a RowError), or another object with its fields."""
    return e if type(e) is RowError else RowError(e.code, e.row, e.column, e.value, e.message)


def make_plan(rows, snapshot: Snapshot, *, sync: bool = False, max_revoke: int | str | None = None,
              skip_invalid: bool = False, may_extend: bool = True) -> Plan:
    """Classify the roster's valid rows against the snapshot. Pure: same input, same plan.

    ``may_extend``: whether the operator may change access dates; a create row for someone
    already seated, with other dates, plans an ``extend`` if so, and says why not otherwise."""
    valid: Sequence = rows.rows
    errors: list[PlanError] = list(map(_problem, rows.errors))
    warnings: list[PlanError] = list(map(_problem, rows.warnings))
    changes: list[Change] = []
    unchanged: list[Change] = []
    seen: dict[str, int] = {}
    pool_ref = str(snapshot.pool_id)
    pool_refs = set(snapshot.refs) | {pool_ref}
    pool_ok: set = set()  # pool cells already seen to name this pool
    known = snapshot.learners
    seated, pending = snapshot.seated, snapshot.pending
    cancel_ids: set[int] = set()
    on_roster: set[str] = set()

    # Column by column first: the rows that are plain new seats (create, this pool, no seat or
    # invitation yet, the key once on the roster) become Changes in one pass; the others follow
    # the rules below one by one, in row order.
    n = len(valid)
    (rownums, actions, emails, keys, firsts, lasts, passwords, starts, ends,
     row_pools) = _columns(valid)
    on_roster.update(keys)
    special: set[int] = set()
    if actions.count("create") != n:
        special.update(i for i, a in enumerate(actions) if a != "create")
    other_pools = {p for p in set(row_pools) if p and str(p).strip().casefold() not in pool_refs}
    if other_pools:
        special.update(i for i, p in enumerate(row_pools) if p in other_pools)
    if len(on_roster) != n:
        counts = Counter(keys)
        special.update(i for i, k in enumerate(keys) if counts[k] > 1)
    held = on_roster.intersection(seated).union(on_roster.intersection(pending))
    if held:
        special.update(i for i, k in enumerate(keys) if k in held)
    keep = [True] * n
    for i in special:
        keep[i] = False
    pick = (lambda col: col) if not special else (lambda col: compress(col, keep))
    fast_keys = list(pick(keys))
    assigned = known.keys() & set(fast_keys)
    kinds = ["assign" if k in assigned else "create" for k in fast_keys] if assigned else repeat("create")
    fast_passwords = list(pick(passwords))
    has_password = list(map(bool, fast_passwords)) if any(fast_passwords) else repeat(False)
    firsts = [x or "" for x in firsts] if None in firsts else firsts
    lasts = [x or "" for x in lasts] if None in lasts else lasts
    slots: list = [None] * n
    fast = map(_new_change, pick(rownums), kinds, pick(emails), fast_keys, pick(firsts), pick(lasts), pick(starts),
               pick(ends), repeat(None), repeat(None), repeat(""), repeat(None), repeat(None), repeat(""),
               has_password, fast_passwords)
    if not special:
        slots = list(fast)
    else:
        for i, change in zip(compress(range(n), keep), fast):
            slots[i] = change
    for i in sorted(special):
        r = valid[i]
        key = r.email_key
        pool_given = r.pool
        if pool_given and pool_given not in pool_ok and str(pool_given).strip().casefold() not in pool_refs:
            errors.append(_err("other-pool", r.row, "pool", pool_given,
                               f"Row {r.row}: this row is for pool {pool_given}, but the plan is for pool {pool_ref}; "
                               "split the file by pool or leave the pool column empty."))
            continue
        if pool_given:
            pool_ok.add(pool_given)
        if key in seen:
            errors.append(_err("duplicate", r.row, "email", r.email,
                               f"Row {r.row}: {r.email} is already on row {seen[key]}; one row per learner."))
            continue
        seen[key] = r.row
        seat = seated.get(key)
        inv = pending.get(key)
        action = r.action
        base = dict(row=r.row, email=r.email, key=key, first_name=r.first_name or "", last_name=r.last_name or "")
        if action == "create":
            if seat is not None:
                change = _seated_create(r, seat, base, may_extend)
                if isinstance(change, PlanError):
                    errors.append(change)
                elif change.kind == "unchanged":
                    unchanged.append(change)
                else:
                    slots[i] = change
            elif inv is not None:
                errors.append(_err("already-invited", r.row, "email", r.email,
                                   f"Row {r.row}: {r.email} has a pending invitation in this pool; cancel it first "
                                   "(revoke) or let them accept it."))
            else:
                kind = "assign" if key in snapshot.learners else "create"
                pw = getattr(r, "password", None)
                slots[i] = Change(kind=kind, starts=r.access_start, ends=r.access_end, password=pw,
                                  has_password=bool(pw), **base)
        elif action == "invite":
            if seat is not None:
                unchanged.append(Change(kind="unchanged", detail="already has a seat", **base))
            elif inv is not None:
                unchanged.append(Change(kind="unchanged", invitation_id=inv[0], detail="already invited", **base))
            else:
                slots[i] = Change(kind="invite", message=getattr(r, "message", "") or "", **base)
        elif action == "revoke":
            if seat is not None:
                slots[i] = Change(kind="revoke", code_id=seat.code_id, old_starts=seat.starts, old_ends=seat.ends,
                                  detail="seat taken back", **base)
            elif inv is not None:
                cancel_ids.add(inv[0])
                slots[i] = Change(kind="revoke", invitation_id=inv[0], code_id=inv[1],
                                  detail="pending invitation cancelled", **base)
            elif key in snapshot.revoked or key in snapshot.cancelled:
                unchanged.append(Change(kind="unchanged", detail="already revoked", **base))
            else:
                errors.append(_err("not-seated", r.row, "email", r.email,
                                   f"Row {r.row}: {r.email} has no seat or invitation in this pool to revoke."))
        elif action == "extend":
            if seat is None or seat.access_id is None:
                errors.append(_err("not-seated", r.row, "email", r.email,
                                   f"Row {r.row}: {r.email} has no seat in this pool, so there is no access to extend."))
                continue
            new_starts = r.access_start or seat.starts
            new_ends = r.access_end if r.access_end is not None else seat.ends
            if new_ends is not None and new_starts is not None and new_ends < new_starts:
                errors.append(_err("end-before-start", r.row, "access_end", _iso(r.access_end),
                                   f"Row {r.row}: access would end ({_iso(new_ends)}) before it starts ({_iso(new_starts)})."))
            elif (new_starts, new_ends) == (seat.starts, seat.ends):
                unchanged.append(Change(kind="unchanged", old_starts=seat.starts, old_ends=seat.ends,
                                        starts=new_starts, ends=new_ends, detail="access dates already so", **base))
            else:
                slots[i] = Change(kind="extend", code_id=seat.code_id, old_starts=seat.starts, old_ends=seat.ends,
                                  starts=new_starts, ends=new_ends, **base)
        else:
            errors.append(_err("unknown-action", r.row, "action", action, f"Row {r.row}: unknown action {action!r}."))

    changes.extend(filter(None, slots))

    if sync:
        extra: list[Change] = []
        for key in sorted(set(seated) - on_roster):
            s = seated[key]
            extra.append(Change(row=None, kind="revoke", email=key, key=key, code_id=s.code_id, old_starts=s.starts,
                                old_ends=s.ends, detail="not on the roster (sync)"))
        for key in sorted(set(pending) - on_roster):
            inv_id, code_id = pending[key]
            cancel_ids.add(inv_id)
            extra.append(Change(row=None, kind="revoke", email=key, key=key, invitation_id=inv_id, code_id=code_id,
                                detail="not on the roster: pending invitation cancelled (sync)"))
        changes.extend(extra)
        revokes = sum(1 for c in changes if c.kind == "revoke")
        limit = revoke_limit(max_revoke, snapshot.seats)
        if revokes > limit:
            errors.append(_err("too-many-revokes", 0, None, revokes,
                               f"This sync would revoke {revokes} seats or invitations, more than the limit of {limit} "
                               f"({max_revoke or DEFAULT_MAX_REVOKE} of {snapshot.seats} seats); check the roster is complete, "
                               "or raise --max-revoke."))

    kinds_of = Counter(map(_kind, changes))
    needed = sum(kinds_of[k] for k in SEAT_TAKING)
    freed = sum(1 for c in changes if c.kind == "revoke" and c.invitation_id is None) if kinds_of["revoke"] else 0
    codes_left_pending: dict[int, int] = {}
    for inv_id, code_id in pending.values():
        if inv_id not in cancel_ids:
            codes_left_pending[code_id] = codes_left_pending.get(code_id, 0) + 1
    freed += len({code for inv_id, code in pending.values() if inv_id in cancel_ids and code not in codes_left_pending})
    after = snapshot.available + freed - needed
    if after < 0:
        errors.append(_err("seats-short", 0, None, needed,
                           f"The roster needs {needed} seats but the pool has {snapshot.available + freed} free "
                           f"({snapshot.available} available now, {freed} freed by this plan): {-after} short. "
                           "Buy more seats or remove rows."))
    if not valid and not rows.errors:
        errors.append(_err("no-rows", 0, None, None, "The roster has no rows to apply."))

    learner_keys = set(compress(map(_key, changes), map(_NEW_SEAT_KINDS.__contains__, map(_kind, changes))))
    options = {"sync": sync, "max_revoke": max_revoke, "skip_invalid": skip_invalid}
    return Plan(
        pool_id=snapshot.pool_id, file_name=getattr(rows, "file_name", None) or getattr(rows, "name", "") or "", sha256=getattr(rows, "sha256", "") or "",
        fingerprint=snapshot.fingerprint_for(learner_keys), changes=tuple(changes), unchanged=tuple(unchanged),
        errors=tuple(sorted(errors, key=lambda e: (e.row, e.code))), warnings=tuple(warnings), seats=snapshot.seats,
        available_before=snapshot.available, available_after=after, options=options,
    )


CREATE_OR_LINK = "create or link: a seat, with a new account or the learner's existing one"


def conceal_accounts(plan: Plan) -> Plan:
    """The plan as an operator who may not see other customers' learners gets it: whether an
    address already has an account (``assign``) or not (``create``) is not shown; both read
    "create or link". Applying it does exactly the same (both kinds take the same path, and the
    fingerprint still pins which accounts existed)."""
    if not any(c.kind in _NEW_SEAT_KINDS for c in plan.changes):
        return plan
    changes = tuple(replace(c, kind="create", detail=CREATE_OR_LINK) if c.kind in _NEW_SEAT_KINDS else c
                    for c in plan.changes)
    return replace(plan, changes=changes)


def _seated_create(r, seat, base: dict, may_extend: bool) -> Change | PlanError:
    """A create row for a learner who already has a seat: unchanged, or an extend when the row
    asks for other access dates (admins), or unchanged saying why the dates stay (others)."""
    same = Change(kind="unchanged", old_starts=seat.starts, old_ends=seat.ends, detail="already has a seat", **base)
    if (r.access_start is None and r.access_end is None) or seat.access_id is None:
        return same
    new_starts = r.access_start or seat.starts
    new_ends = r.access_end if r.access_end is not None else seat.ends
    if (new_starts, new_ends) == (seat.starts, seat.ends):
        return same
    if not may_extend:
        return replace(same, starts=new_starts, ends=new_ends,
                       detail=f"already has a seat; access stays {_span(seat.starts, seat.ends)}, not "
                              f"{_span(new_starts, new_ends)}: only an admin can change access dates")
    if new_ends is not None and new_starts is not None and new_ends < new_starts:
        return _err("end-before-start", r.row, "access_end", _iso(r.access_end),
                    f"Row {r.row}: access would end ({_iso(new_ends)}) before it starts ({_iso(new_starts)}).")
    return Change(kind="extend", code_id=seat.code_id, old_starts=seat.starts, old_ends=seat.ends,
                  starts=new_starts, ends=new_ends, **base)


def keys_of(rows) -> list[str]:
    """The email keys a snapshot should look up for these roster rows."""
    return [r.email_key for r in rows.rows]


__all__ = ["Change", "Plan", "PlanError", "make_plan", "conceal_accounts", "revoke_limit", "describe", "diff_text", "KINDS", "MARKS", "keys_of",
           "replace"]

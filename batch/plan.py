"""Plans as values: ``Change``, ``Plan`` (with its counts, its PLAN.json form and the report's
statuses) and the words for each change. The planner that makes them is ``batch.planner``, the
human diff ``batch.diff``; a plan carries the snapshot's fingerprint and ``batch.apply`` refuses
it if the database moved since.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, itemgetter
from typing import NamedTuple

import orjson

from batch.errors import RowError

KINDS = ("create", "assign", "invite", "revoke", "extend", "unchanged", "error")
SEAT_TAKING = ("create", "assign", "invite")
PLAN_VERSION = 1
DEFAULT_MAX_REVOKE = "10%"

# Errors that stop a plan even with --skip-invalid: they are about the whole plan or file.
WHOLE_PLAN_CODES = frozenset({"seats-short", "too-many-revokes", "missing-column", "duplicate-column",
                              "unreadable-file", "no-pool", "no-rows"})


class Change(NamedTuple):
    """One row's effect. ``row`` is the spreadsheet row (None for a sync revoke of someone not
    on the roster). ``old_*`` are the access dates before, ``starts``/``ends`` the dates asked
    for (None: the session's defaults, or unchanged for an extend).

    A named tuple, like the reader's rows: immutable, and a big roster's 100,000 new seats are
    made at C speed (``regtui.core.records``), not through a constructor call per row. ``password`` is
    never shown by ``repr`` and never written to a PLAN.json."""

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
    password: str | None = None  # the last field: PLAN.json stores the ones before it

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields[:-1], self))
        return f"Change({shown})"

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
            return Change(*values)

        seats = data["seats"]
        return cls(
            pool_id=int(data["pool"]), file_name=data["file_name"], sha256=data["sha256"], fingerprint=data["fingerprint"],
            changes=tuple(change(c) for c in data["changes"]), unchanged=tuple(change(c) for c in data["unchanged"]),
            errors=tuple(PlanError(**e) for e in data["errors"]), warnings=tuple(PlanError(**w) for w in data["warnings"]),
            seats=seats["seats"], available_before=seats["available_before"], available_after=seats["available_after"],
            options=data.get("options") or {},
        )


# PLAN.json keeps every field of a change but its password, which is the last one
_CHANGE_FIELDS = Change._fields[:Change._fields.index("password")]
_DATE_FIELDS = ("starts", "ends", "old_starts", "old_ends")
# a change as PLAN.json keeps it: its values in the order of _CHANGE_FIELDS (orjson writes dates as ISO)
_stored_change = itemgetter(slice(0, len(_CHANGE_FIELDS)))


_kind = attrgetter("kind")
_row = attrgetter("row")
_key = attrgetter("key")
_NEW_SEAT_KINDS = frozenset(("create", "assign"))
def describe(c: Change) -> str:
    """One short sentence about a change, for reports and the diff."""
    if c.kind == "extend":
        return f"access {_span(c.old_starts, c.old_ends)} → {_span(c.starts, c.ends)}"
    if c.detail:
        return c.detail
    return _DESCRIPTIONS.get(c.kind, c.kind)


_DESCRIPTIONS = {"create": "new account and a seat", "assign": "existing account gets a seat",
                 "invite": "invitation to be emailed", "revoke": "seat taken back"}


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


__all__ = ["Change", "Plan", "PlanError", "revoke_limit", "describe", "KINDS", "SEAT_TAKING", "WHOLE_PLAN_CODES",
           "DEFAULT_MAX_REVOKE"]

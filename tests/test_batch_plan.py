"""make_plan is a pure function of (roster rows, snapshot): these tests need no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from batch.plan import Plan, revoke_limit
from batch.planner import make_plan
from batch.snapshot import Seat, Snapshot

D = dt.date


@dataclass(frozen=True)
class Row:
    row: int
    action: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    password: str | None = None
    access_start: dt.date | None = None
    access_end: dt.date | None = None
    pool: str | None = None
    message: str | None = None

    @property
    def email_key(self) -> str:
        return self.email.strip().lower()


@dataclass(frozen=True)
class Rows:
    rows: tuple
    errors: tuple = ()
    warnings: tuple = ()
    name: str = "r.csv"
    sha256: str = "ab" * 32


@dataclass(frozen=True)
class Err:
    code: str
    row: int
    column: str | None
    value: object
    message: str


def snap(*, seats=10, available=None, seated=None, pending=None, learners=None, revoked=(), cancelled=()):
    seated = seated or {}
    pending = pending or {}
    invited = len({c for _, c in pending.values()})
    available = seats - len(seated) - invited if available is None else available
    return Snapshot(pool_id=7, seats=seats, available=available, invited=invited, claimed=len(seated), access_days=365,
                    seated=seated, pending=pending, cancelled=frozenset(cancelled), revoked=frozenset(revoked),
                    learners=learners or {})


def seat(code_id, starts=D(2026, 1, 1), ends=D(2026, 12, 31)):
    return Seat(code_id=code_id, learner_id=code_id + 100, access_id=code_id + 200, starts=starts, ends=ends)


def kinds(plan: Plan) -> dict:
    out = {c.email: c.kind for c in plan.changes + plan.unchanged}
    out.update({e.value: f"error:{e.code}" for e in plan.errors if e.row > 1})
    return out


def test_each_row_is_classified():
    s = snap(
        seated={"seated@example.com": seat(1), "old@example.com": seat(2), "ext@example.com": seat(3), "same@example.com": seat(6)},
        pending={"pending@example.com": (50, 4), "cancelme@example.com": (51, 5), "pend2@example.com": (52, 7)},
        learners={"known@example.com": 9},
        revoked={"gone@example.com"},
    )
    rows = Rows((
        Row(2, "create", "new@example.com", "New", "One"),
        Row(3, "create", "Known@Example.com", "Kno", "Wn"),
        Row(4, "create", "seated@example.com"),
        Row(5, "invite", "inv@example.com", message="hi"),
        Row(6, "invite", "pending@example.com"),
        Row(7, "revoke", "old@example.com"),
        Row(8, "revoke", "cancelme@example.com"),
        Row(9, "revoke", "gone@example.com"),
        Row(10, "revoke", "never@example.com"),
        Row(11, "extend", "ext@example.com", access_end=D(2027, 6, 30)),
        Row(12, "extend", "same@example.com", access_end=D(2026, 12, 31)),
        Row(13, "extend", "nobody@example.com", access_end=D(2027, 1, 1)),
        Row(14, "create", "pend2@example.com"),
    ))
    plan = make_plan(rows, s)
    assert kinds(plan) == {
        "new@example.com": "create",
        "Known@Example.com": "assign",
        "seated@example.com": "unchanged",
        "inv@example.com": "invite",
        "pending@example.com": "unchanged",
        "old@example.com": "revoke",
        "cancelme@example.com": "revoke",
        "gone@example.com": "unchanged",
        "never@example.com": "error:not-seated",
        "ext@example.com": "extend",
        "nobody@example.com": "error:not-seated",
        "same@example.com": "unchanged",
        "pend2@example.com": "error:already-invited",
    }
    assert [e.code for e in plan.errors] == ["not-seated", "not-seated", "already-invited"]
    ext = next(c for c in plan.changes if c.kind == "extend")
    assert (ext.old_starts, ext.old_ends, ext.starts, ext.ends) == (D(2026, 1, 1), D(2026, 12, 31), D(2026, 1, 1), D(2027, 6, 30))
    cancel = next(c for c in plan.changes if c.email == "cancelme@example.com")
    assert cancel.invitation_id == 51
    # 3 taken (create, assign, invite); freed: one seat revoked, one invited code released
    assert (plan.available_before, plan.available_after) == (s.available, s.available + 2 - 3)
    assert plan.summary() == {"create": 1, "assign": 1, "invite": 1, "revoke": 2, "extend": 1, "unchanged": 4, "error": 3}


def test_plan_is_pure_and_round_trips_through_json():
    s = snap(seated={"a@example.com": seat(1)}, learners={"b@example.com": 3})
    rows = Rows((Row(2, "create", "b@example.com", "B", "B", access_start=D(2026, 2, 1), access_end=D(2026, 3, 1)),
                 Row(3, "extend", "a@example.com", access_end=D(2028, 1, 1)),
                 Row(4, "invite", "c@example.com", message="=1+1")),
                errors=(Err("invalid-email", 5, "email", "x", "Row 5: bad."),))
    p1, p2 = make_plan(rows, s), make_plan(rows, s)
    assert p1 == p2
    back = Plan.from_json(p1.to_json())
    assert back == p1
    assert back.fingerprint == p1.fingerprint and back.sha256 == rows.sha256


def test_passwords_never_reach_the_plan_file():
    rows = Rows((Row(2, "create", "p@example.com", "P", "Q", password="s3cret-pass!"),))
    plan = make_plan(rows, snap())
    assert plan.changes[0].password == "s3cret-pass!" and plan.has_passwords
    text = plan.to_json()
    assert "s3cret" not in text
    assert Plan.from_json(text).has_passwords and Plan.from_json(text).changes[0].password is None
    # nor a log line or a traceback that shows the plan or one of its changes
    assert "s3cret" not in repr(plan) and "s3cret" not in repr(plan.changes[0]) and "p@example.com" in repr(plan)


def test_fingerprint_changes_with_what_the_plan_read():
    base = snap(seated={"a@example.com": seat(1)})
    rows = Rows((Row(2, "create", "b@example.com"),))
    fp = make_plan(rows, base).fingerprint
    assert make_plan(rows, snap(seated={"a@example.com": seat(1, ends=D(2030, 1, 1))})).fingerprint != fp
    assert make_plan(rows, snap(seated={"a@example.com": seat(1)}, learners={"b@example.com": 1})).fingerprint != fp
    assert make_plan(rows, snap(seated={"a@example.com": seat(1)}, pending={"z@example.com": (1, 9)})).fingerprint != fp
    assert make_plan(rows, snap(seated={"a@example.com": seat(1)}, available=3)).fingerprint != fp


def test_seats_short_is_checked_for_the_whole_plan():
    s = snap(seats=3, seated={"a@example.com": seat(1)})
    ok = make_plan(Rows((Row(2, "create", "b@example.com"), Row(3, "invite", "c@example.com"))), s)
    assert not ok.errors and ok.available_after == 0
    short = make_plan(Rows(tuple(Row(i, "create", f"n{i}@example.com") for i in range(2, 5))), s)
    assert [e.code for e in short.errors] == ["seats-short"]
    # a revoke in the same roster frees the seat that is needed
    freed = make_plan(Rows(tuple(Row(i, "create", f"n{i}@example.com") for i in range(2, 5))
                           + (Row(9, "revoke", "a@example.com"),)), s)
    assert not freed.errors and freed.available_after == 0
    # seats-short blocks even with --skip-invalid
    assert make_plan(Rows(tuple(Row(i, "create", f"n{i}@example.com") for i in range(2, 5))), s,
                     skip_invalid=True).blocking_errors


def test_sync_revokes_everyone_not_on_the_roster_up_to_the_limit():
    seated = {f"s{i}@example.com": seat(i) for i in range(1, 6)}
    s = snap(seats=20, seated=seated, pending={"p@example.com": (70, 30)})
    rows = Rows((Row(2, "create", "s1@example.com"), Row(3, "create", "s2@example.com"), Row(4, "create", "s3@example.com")))
    assert not make_plan(rows, s).changes  # without sync the others stay
    plan = make_plan(rows, s, sync=True, max_revoke=3)
    revoked = sorted(c.email for c in plan.changes if c.kind == "revoke")
    assert revoked == ["p@example.com", "s4@example.com", "s5@example.com"]
    assert all(c.row is None for c in plan.changes)
    assert not plan.errors
    too_many = make_plan(rows, s, sync=True, max_revoke=2)
    assert [e.code for e in too_many.errors] == ["too-many-revokes"]
    assert too_many.blocking_errors  # whole plan: --skip-invalid does not get past it
    assert make_plan(rows, s, sync=True, skip_invalid=True).blocking_errors  # default 10% of 20 seats = 2
    assert not make_plan(rows, s, sync=True, max_revoke="15%").errors


def test_revoke_limit_parsing():
    assert revoke_limit(None, 100) == 10
    assert revoke_limit("25%", 10) == 2
    assert revoke_limit("7", 10) == 7
    with pytest.raises(ValueError):
        revoke_limit("lots", 10)


def test_skip_invalid_keeps_row_errors_non_blocking():
    rows = Rows((Row(2, "create", "a@example.com"),), errors=(Err("invalid-email", 3, "email", "x", "Row 3: bad."),))
    assert make_plan(rows, snap()).blocking_errors
    assert not make_plan(rows, snap(), skip_invalid=True).blocking_errors
    header = Rows((), errors=(Err("missing-column", 1, "email", None, "No email column."),))
    assert make_plan(header, snap(), skip_invalid=True).blocking_errors


def test_other_pool_and_repeated_rows_are_errors():
    rows = Rows((Row(2, "create", "a@example.com", pool="7"), Row(3, "create", "b@example.com", pool="8"),
                 Row(4, "invite", "A@example.com")))
    plan = make_plan(rows, snap())
    assert [(e.row, e.code) for e in plan.errors] == [(3, "other-pool"), (4, "duplicate")]

"""Access dates mean something (issue 9 items 5, 6, 10): an access's status is derived from its
dates everywhere it is shown, an access that has already ended is never granted, a learner holds
one seat of a session per customer, and reading a pool never writes (not even the expiry of an
invitation)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import run_cli
from regtui.core import clock
from regtui.core.errors import Refused
from regtui.core.models import Access, AuditEvent, Code, Invitation, database
from regtui.core.services import access, expiry, invitations, pools, registrations
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.operators import Actor
from test_core_support import check, claim_token, dump, make_customer, make_pool, make_session

PW = "Chosen-on-the-claim-page-1"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    clock.set_now(None)


def at(when: str) -> dict:
    return {"REGTUI_NOW": when}


def ok(*args, when: str) -> str:
    r = run_cli(*args, env=at(when))
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def fails(code: int, *args, when: str) -> str:
    r = run_cli(*args, env=at(when))
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def as_json(*args, when: str):
    return json.loads(ok(*args, "--json", when=when))


# --- item 5: the status is derived from the dates -----------------------------------------

def test_status_rule():
    on = dt.date(2027, 1, 31)
    assert access.status("active", dt.date(2027, 2, 1), None, on) == "scheduled"
    assert access.status("active", dt.date(2027, 1, 31), dt.date(2027, 1, 31), on) == "active"  # its last day
    assert access.status("active", dt.date(2026, 1, 1), dt.date(2027, 1, 30), on) == "ended"
    assert access.status("active", dt.date(2026, 1, 1), None, on) == "active"
    assert access.status("revoked", dt.date(2027, 2, 1), dt.date(2027, 1, 1), on) == "revoked"


@pytest.mark.storage
def test_the_sql_status_is_the_same_rule(admin):
    """Listings derive the status in the database: it must say what ``access.status`` says."""
    clock.set_now(dt.datetime(2027, 1, 1, 9))
    pool = make_pool(admin, 4)
    dates = [(dt.date(2027, 3, 1), dt.date(2027, 6, 1)), (dt.date(2026, 12, 1), dt.date(2027, 1, 15)),
             (dt.date(2026, 12, 1), None), (dt.date(2027, 1, 1), dt.date(2027, 1, 1))]
    registrations.assign(admin, pool, [LearnerSpec(f"l{n}@example.com") for n in range(4)], dates=dates)
    registrations.revoke(admin, pool, ["l3@example.com"])
    for day in ("2026-12-15", "2027-01-01", "2027-01-02", "2027-01-16", "2027-03-01", "2027-06-02"):
        on = dt.date.fromisoformat(day)
        in_sql = dict(Access.select(Access.id, access.status_sql(on)).tuples())
        in_python = {a.id: access.status(a.status, a.starts, a.ends, on) for a in Access.select()}
        assert in_sql == in_python, day
    assert set(in_python.values()) == {"ended", "revoked", "active"}


@sqlite_only
def test_status_in_the_cli_follows_the_clock(cli):
    ok("init", when="2027-01-01T09:00:00")
    ok("product", "PY", "Python", when="2027-01-01T09:00:00")
    ok("session", "PY", "PY-1", "Python March", "--access-days", "90", when="2027-01-01T09:00:00")
    ok("customer", "--name", "Acme Ltd", "--email", "hr@acme.example.com", when="2027-01-01T09:00:00")
    pool = str(as_json("order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "3",
                       when="2027-01-01T09:00:00")["pool"])
    ok("assign", pool, "ada@example.com", "--first", "Ada", "--last", "L", "--start", "2027-03-01", "--end",
       "2027-06-01", when="2027-01-01T09:00:00")

    def statuses(when):
        [grant] = as_json("access", "ada@example.com", when=when)
        [reg] = as_json("registrations", pool, when=when)["rows"]
        [user] = as_json("users", "Acme Ltd", when=when)["rows"]
        return grant["status"], reg["status"], user["status"]

    assert statuses("2027-01-01T09:00:00") == ("scheduled",) * 3
    assert statuses("2027-03-01T00:00:00") == ("active",) * 3
    assert statuses("2027-06-01T23:59:59") == ("active",) * 3
    assert statuses("2027-06-02T00:00:00") == ("ended",) * 3
    assert "ended" in ok("access", "ada@example.com", when="2027-06-02T00:00:00")
    assert "ended" in ok("registrations", pool, when="2027-06-02T00:00:00")
    assert "ended" in ok("users", "Acme Ltd", when="2027-06-02T00:00:00")
    # an admin extends the ended access: active again
    [grant] = as_json("access", "ada@example.com", when="2027-06-02T00:00:00")
    assert "(active)" in ok("extend", str(grant["id"]), "--end", "2027-12-31", when="2027-06-02T00:00:00")
    assert statuses("2027-06-02T00:00:00") == ("active",) * 3
    ok("revoke", pool, "ada@example.com", when="2027-06-03T00:00:00")
    [grant] = as_json("access", "ada@example.com", when="2027-06-03T00:00:00")
    assert grant["status"] == "revoked"


@sqlite_only
def test_granting_an_access_that_has_already_ended_is_refused(cli):
    when = "2026-03-01T09:00:00"
    ok("init", when=when)
    ok("product", "PY", "Python", when=when)
    ok("session", "PY", "PY-1", "Python", "--access-days", "30", when=when)
    ok("customer", "--name", "Acme Ltd", "--email", "hr@acme.example.com", when=when)
    pool = str(as_json("order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "3", when=when)["pool"])
    before = _dump()
    said = fails(1, "assign", pool, "ada@example.com", "--start", "2025-01-01", "--end", "2025-02-01", when=when)
    assert "2025-02-01" in said and "already passed" in said
    # the session's default end (30 days) after a start long ago has passed as well
    said = fails(1, "assign", pool, "ada@example.com", "--start", "2025-01-01", when=when)
    assert "2025-01-31" in said
    assert _dump() == before  # no seat taken, no email, no learner
    [row] = as_json("pools", when=when)
    assert row["available"] == 3


def _dump():
    from regtui.core import db

    db.open_database(f"sqlite:///{_db_path()}")
    try:
        return dump()
    finally:
        database.close()


def _db_path():
    import os

    return os.environ["REGTUI_DB"][len("sqlite:///"):]


@pytest.mark.storage
def test_the_grant_rule_the_planner_calls(admin):
    clock.set_now(dt.datetime(2027, 1, 31, 9))
    assert access.grant_refusal(dt.date(2027, 1, 1), dt.date(2027, 1, 31)) is None  # ends today: still active
    assert access.grant_refusal(dt.date(2027, 1, 1), None) is None
    assert access.grant_refusal(dt.date(2027, 1, 1), dt.date(2027, 1, 30)).code == "access-ended"
    assert access.grant_refusal(dt.date(2027, 3, 1), dt.date(2027, 2, 1)).code == "bad-dates"


# --- item 6: one seat of a session per customer -------------------------------------------

@pytest.mark.storage
def test_a_learner_holds_one_seat_of_a_session_per_customer(admin):
    customer, session = make_customer(admin), make_session(admin)
    first, second = make_pool(admin, 2, customer, session), make_pool(admin, 2, customer, session)
    other_session = make_pool(admin, 2, customer)
    other_customer = make_pool(admin, 2, None, session)
    # the invitation went out before Ada had her seat in the first pool
    [inv] = invitations.invite(admin, second, ["ADA@example.com"])
    [inv2] = invitations.invite(admin, second, ["bob@example.com"])
    registrations.assign(admin, first, [LearnerSpec("ada@example.com", "Ada", "L"), LearnerSpec("cy@example.com")])
    before = dump()
    with pytest.raises(Refused) as err:
        registrations.assign(admin, second, [LearnerSpec("Ada@Example.com")])
    assert err.value.code == "seat-elsewhere"
    assert f"pool {first.id}" in str(err.value) and session.code in str(err.value)
    with pytest.raises(Refused) as err:
        invitations.accept(claim_token(invitations.link(inv)), password=PW)
    assert err.value.code == "seat-elsewhere"
    with pytest.raises(Refused) as err:
        invitations.assign_pending(admin, inv2, LearnerSpec("ada@example.com"))
    assert err.value.code == "seat-elsewhere"
    with pytest.raises(Refused) as err:
        invitations.invite(admin, second, ["Cy@example.com"])
    assert err.value.code == "seat-elsewhere"
    assert dump() == before
    check(second)
    # what the roster planner reads: the keys seated elsewhere, in one query
    assert pools.holders_elsewhere(second) == {"ada@example.com": first.id, "cy@example.com": first.id}
    assert pools.holders_elsewhere(first) == {}
    # another session of the customer, or another customer's pool of the session: fine
    registrations.assign(admin, other_session, [LearnerSpec("ada@example.com")])
    registrations.assign(admin, other_customer, [LearnerSpec("ada@example.com")])
    # once the first seat is given back, the second pool may seat her
    registrations.revoke(admin, first, ["ada@example.com"])
    invitations.accept(claim_token(invitations.link(inv)), password=PW)
    assert check(second)["claimed"] == 1


# --- item 10: reads do not write ----------------------------------------------------------

@pytest.mark.storage
def test_a_manager_listing_pools_and_invitations_writes_nothing(admin):
    clock.set_now(dt.datetime(2027, 1, 1, 9))
    pool = make_pool(admin, 3)
    [late, _] = invitations.invite(admin, pool, ["late@example.com", "other@example.com"])
    manager = Actor("hr", "manager", customer_id=pool.order.customer_id)
    clock.set_now(dt.datetime(2027, 1, 10, 9))
    invitations.resend(admin, Invitation.get_by_id(_.id))  # the other one gets 14 more days
    clock.set_now(dt.datetime(2027, 1, 16, 9))  # the first one expired yesterday
    before, events = dump(), AuditEvent.select().count()
    [row] = pools.listing(manager)
    listed = invitations.page(manager, pool).rows
    assert pools.row(pools.get(manager, pool.id)).pending == row.pending
    assert dump() == before and AuditEvent.select().count() == events  # nothing written, not even an expiry
    assert (row.available, row.pending, row.claimed) == (2, 1, 0)  # the expired one is not pending
    assert [i.email for i in listed] == ["other@example.com"]
    assert Invitation.get_by_id(late.id).status == "pending"  # still unswept in the database
    # the sweep (the scheduler's, or a writer's) writes it, by the system
    assert expiry.expire_due() == 1
    assert Invitation.get_by_id(late.id).status == "expired"
    assert Code.get_by_id(late.code_id).state == "available"
    event = AuditEvent.select().order_by(AuditEvent.id.desc()).first()
    assert (event.action, event.operator) == ("invitation.expire", "regtui")
    assert check(pool) == {"available": 2, "invited": 1, "claimed": 0}
    [again] = pools.listing(manager)
    assert (again.available, again.pending) == (2, 1)


@pytest.mark.storage
def test_a_writer_sweeps_the_pool_it_changes(admin):
    """The listing said 1 available although an expired invitation still held the code: the
    assign that follows must find that seat."""
    clock.set_now(dt.datetime(2027, 1, 1, 9))
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("a@example.com")])
    invitations.invite(admin, pool, ["late@example.com"])
    clock.set_now(dt.datetime(2027, 2, 1, 9))
    assert pools.row(pools.get(admin, pool.id)).available == 1
    registrations.assign(admin, pool, [LearnerSpec("late@example.com")])
    assert check(pool) == {"available": 0, "invited": 0, "claimed": 2}

"""Applying plans: one transaction through the services, stale plans refused, all or nothing.
Runs on SQLite, and on PostgreSQL when REGTUI_TEST_POSTGRES is set."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from batch import read_roster
from batch import pool_state as snapshots
from batch.apply import apply_plan
from regtui.core.services import batches
from batch.plan import Plan
from batch.planner import keys_of, make_plan
from regtui.core.errors import NotAllowed, Refused
from regtui.core.models import Access, AuditEvent, Batch, Learner, OutboxEmail, Pool
from regtui.core.services import invitations, learners, operators, registrations
from regtui.core.services.learners import LearnerSpec
from test_core_support import check, dump, make_pool

pytestmark = pytest.mark.storage


def roster(tmp_path, text: str, name: str = "r.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def plan_of(path, pool, **kw) -> Plan:
    rows = read_roster(path)
    return make_plan(rows, snapshots.take(pool, keys_of(rows)), **kw)


CREATES = """action,email,first_name,last_name,access_start,access_end
create,ada@example.com,Ada,Lovelace,,
create,Grace@Example.com,Grace,Hopper,2027-01-05,2027-06-30
create,known@example.com,Known,Person,,
invite,ivan@example.com,,,,
"""


def test_apply_then_plan_again_changes_nothing(db, admin, tmp_path):
    pool = make_pool(admin, 6)
    with_account = learners.ensure(admin.name, [LearnerSpec("known@example.com", "Known", "Person")])
    assert with_account[0][1]
    path = roster(tmp_path, CREATES)
    plan = plan_of(path, pool)
    assert plan.summary() == {"create": 2, "assign": 1, "invite": 1, "revoke": 0, "extend": 0, "unchanged": 0, "error": 0}
    outbox_before = OutboxEmail.select().count()
    batch = apply_plan(admin, plan)
    counters = check(pool)
    assert counters == {"available": 2, "invited": 1, "claimed": 3}
    assert set(registrations.seated_keys(pool)) == {"ada@example.com", "grace@example.com", "known@example.com"}
    assert list(invitations.pending_keys(pool)) == ["ivan@example.com"]
    grace = Access.select().join(Learner).where(Learner.email_key == "grace@example.com").get()
    assert (grace.starts, grace.ends) == (dt.date(2027, 1, 5), dt.date(2027, 6, 30))
    # one confirmation or invitation per row, audit events tagged with the batch
    assert OutboxEmail.select().count() - outbox_before == 4
    actions = {e.action for e in AuditEvent.select().where(AuditEvent.batch == batch.id)}
    assert {"seat.assign", "invitation.send", "batch.apply"} <= actions
    # one event per applied row: a new account is recorded on its seat.assign event
    assigned = [json.loads(e.after) for e in AuditEvent.select().where(
        (AuditEvent.batch == batch.id) & (AuditEvent.action == "seat.assign"))]
    assert sorted((a["email"].lower(), a["new_account"]) for a in assigned) == [
        ("ada@example.com", True), ("grace@example.com", True), ("known@example.com", False)]
    row = Batch.get_by_id(batch.id)
    assert row.sha256 == plan.sha256 and row.file_name == "r.csv" and row.operator == admin.name
    assert json.loads(row.counts)["create"] == 2
    assert Plan.from_json(row.plan).fingerprint == plan.fingerprint
    assert batches.page(admin).rows[0].id == batch.id

    again = plan_of(path, Pool.get_by_id(pool.id))
    assert again.changes == () and not again.errors
    assert again.summary()["unchanged"] == 4


def test_revoke_extend_and_sync(db, admin, tmp_path):
    pool = make_pool(admin, 10)
    apply_plan(admin, plan_of(roster(tmp_path, "action,email\n" + "".join(
        f"create,p{i}@example.com\n" for i in range(5)), "c.csv"), pool))
    invitations.invite(admin, Pool.get_by_id(pool.id), ["inv@example.com"])
    check(pool)
    text = ("action,email,access_end\nrevoke,p0@example.com,\nextend,p1@example.com,2030-01-31\n"
            "create,p2@example.com,\nrevoke,inv@example.com,\n")
    plan = plan_of(roster(tmp_path, text, "r.csv"), Pool.get_by_id(pool.id))
    assert [c.kind for c in plan.changes] == ["revoke", "extend", "revoke"]
    apply_plan(admin, plan)
    assert check(pool) == {"available": 6, "invited": 0, "claimed": 4}
    p1 = Access.select().join(Learner).where((Learner.email_key == "p1@example.com") & (Access.status == "active")).get()
    assert p1.ends == dt.date(2030, 1, 31)
    # re-applying the same roster: revokes and the extend are now unchanged
    again = plan_of(roster(tmp_path, text, "r.csv"), Pool.get_by_id(pool.id))
    assert again.changes == () and not again.errors

    # sync: only p1, p2 stay; p3, p4 revoked (2 of 10 seats: refused at the 10% default, allowed with 20%)
    sync_text = "action,email\ncreate,p1@example.com\ncreate,p2@example.com\n"
    refused = plan_of(roster(tmp_path, sync_text, "s.csv"), Pool.get_by_id(pool.id), sync=True)
    assert [e.code for e in refused.errors] == ["too-many-revokes"]
    with pytest.raises(Refused):
        apply_plan(admin, refused)
    plan = plan_of(roster(tmp_path, sync_text, "s.csv"), Pool.get_by_id(pool.id), sync=True, max_revoke="20%")
    apply_plan(admin, plan)
    assert set(registrations.seated_keys(pool)) == {"p1@example.com", "p2@example.com"}
    check(pool)


def test_stale_plan_is_refused_and_nothing_changes(db, admin, tmp_path):
    pool = make_pool(admin, 5)
    plan = plan_of(roster(tmp_path, CREATES), pool)
    registrations.assign(admin, Pool.get_by_id(pool.id), [LearnerSpec("sneaky@example.com", "S", "S")])
    before = dump()
    with pytest.raises(Refused) as err:
        apply_plan(admin, plan)
    assert err.value.code == "stale"
    assert dump() == before


def test_an_account_made_meanwhile_makes_the_plan_stale(db, admin, tmp_path):
    pool = make_pool(admin, 5)
    plan = plan_of(roster(tmp_path, CREATES), pool)
    learners.ensure(admin.name, [LearnerSpec("ada@example.com", "Ada", "L")])
    with pytest.raises(Refused) as err:
        apply_plan(admin, plan)
    assert err.value.code == "stale"


def test_errors_refuse_the_whole_plan_unless_skip_invalid(db, admin, tmp_path):
    pool = make_pool(admin, 5)
    path = roster(tmp_path, "action,email\ncreate,ok@example.com\ncreate,not-an-address\nrevoke,nobody@example.com\n")
    plan = plan_of(path, pool)
    assert {e.code for e in plan.errors} == {"invalid-email", "not-seated"}
    before = dump()
    with pytest.raises(Refused) as err:
        apply_plan(admin, plan)
    assert err.value.code == "invalid"
    assert dump() == before
    batch = apply_plan(admin, plan_of(path, pool, skip_invalid=True))
    assert set(registrations.seated_keys(pool)) == {"ok@example.com"}
    assert Batch.get_by_id(batch.id).outcome == "applied-partly"


def test_seats_short_refused_whole(db, admin, tmp_path):
    pool = make_pool(admin, 3)
    path = roster(tmp_path, "action,email\n" + "".join(f"create,n{i}@example.com\n" for i in range(4)))
    plan = plan_of(path, pool, skip_invalid=True)
    assert [e.code for e in plan.errors] == ["seats-short"]
    before = dump()
    with pytest.raises(Refused):
        apply_plan(admin, plan)
    assert dump() == before


def test_two_plans_of_one_snapshot_one_wins_whole(db, admin, tmp_path):
    pool = make_pool(admin, 4)
    a = plan_of(roster(tmp_path, "action,email\n" + "".join(f"create,a{i}@example.com\n" for i in range(3)), "a.csv"), pool)
    b = plan_of(roster(tmp_path, "action,email\n" + "".join(f"create,b{i}@example.com\n" for i in range(3)), "b.csv"), pool)
    apply_plan(admin, a)
    before = dump()
    with pytest.raises(Refused) as err:
        apply_plan(admin, b)
    assert err.value.code == "stale"
    assert dump() == before
    assert check(pool)["claimed"] == 3


def test_extend_needs_an_admin_and_managers_stay_in_their_customer(db, admin, tmp_path):
    pool = make_pool(admin, 3)
    apply_plan(admin, plan_of(roster(tmp_path, "action,email\ncreate,e@example.com\n", "c.csv"), pool))
    limited = operators.set_operator(admin, "lim", "limited")
    plan = plan_of(roster(tmp_path, "action,email,access_end\nextend,e@example.com,2031-01-01\n", "e.csv"), Pool.get_by_id(pool.id))
    with pytest.raises(NotAllowed):
        apply_plan(operators.Actor(limited.name, "limited"), plan)
    other = make_pool(admin, 3)
    manager = operators.Actor("mgr", "manager", customer_id=other.order.customer_id)
    with pytest.raises(NotAllowed):
        apply_plan(manager, plan)
    apply_plan(admin, plan)


EXPIRING = """action,email,first_name,last_name
invite,late@example.com,,
create,other@example.com,Other,Person
"""


def test_an_expired_invitation_is_not_pending_when_planning(db, admin, tmp_path):
    """An invitation past its expiry that no sweep has touched yet: the plan treats it as gone (its
    seat free, the address invitable again), as the pools listing does, and the apply agrees."""
    from regtui.core import clock

    clock.set_now(dt.datetime(2027, 1, 1, 9))
    try:
        pool = make_pool(admin, 2)
        invitations.invite(admin, pool, ["late@example.com"])
        clock.set_now(dt.datetime(2027, 3, 1, 9))  # long past the invitation's expiry, not swept
        assert check(pool)["invited"] == 1  # the stored counters still hold the code
        plan = plan_of(roster(tmp_path, EXPIRING), Pool.get_by_id(pool.id))
        assert not plan.errors
        assert [(c.kind, c.email) for c in plan.changes] == [("invite", "late@example.com"),
                                                             ("create", "other@example.com")]
        assert (plan.available_before, plan.available_after) == (2, 0)
        apply_plan(admin, plan)
        assert list(invitations.pending_keys(pool)) == ["late@example.com"]
        assert check(pool) == {"available": 0, "invited": 1, "claimed": 1}
    finally:
        clock.set_now(None)


def test_a_seat_elsewhere_and_an_access_already_ended_are_row_errors_of_the_plan(db, admin, tmp_path):
    """Issue 9 item 6: a learner holding a seat of the session through another pool of the same
    customer, and a create whose access would end on a day already past, are row errors the plan
    names (codes in docs/roster-codes.md); with --skip-invalid the other rows are applied, instead
    of the apply refusing the whole batch."""
    from batch.planning import PlanOptions, apply_result, plan_roster
    from regtui.core import clock
    from test_core_support import make_customer

    clock.set_now(dt.datetime(2027, 3, 1, 9))
    try:
        customer = make_customer(admin)
        first = make_pool(admin, 3, customer=customer)
        second = make_pool(admin, 3, customer=customer, session=first.session)
        registrations.assign(admin, first, [LearnerSpec("held@example.com", "Held", "Elsewhere")])
        path = roster(tmp_path, "action,email,first_name,last_name,access_start,access_end\n"
                                "create,held@example.com,Held,Elsewhere,,\n"
                                "create,late@example.com,Late,Comer,2027-01-01,2027-02-01\n"
                                "invite,HELD@example.com,,,,\n"
                                "create,fine@example.com,Fine,Person,,\n")
        result = plan_roster(admin, path, PlanOptions(pool=str(second.id)))
        plan = result.plan
        assert [(e.row, e.code) for e in plan.errors] == [(2, "seat-elsewhere"), (3, "access-ended"), (4, "conflicting-duplicate")]
        assert f"in pool {first.id} of the same customer" in plan.errors[0].message
        assert "2027-02-01" in plan.errors[1].message and plan.errors[1].message.startswith("Row 3: ")
        assert [(c.kind, c.email) for c in plan.changes] == [("create", "fine@example.com")]
        with pytest.raises(Refused):  # without --skip-invalid the plan's errors stop it, nothing changes
            apply_plan(admin, plan)
        result = plan_roster(admin, path, PlanOptions(pool=str(second.id), skip_invalid=True))
        apply_result(admin, result)
        assert set(registrations.seated_keys(Pool.get_by_id(second.id))) == {"fine@example.com"}
        assert set(registrations.seated_keys(Pool.get_by_id(first.id))) == {"held@example.com"}
        # the same rule for an invitation on its own (a new plan, the invite row alone)
        alone = roster(tmp_path, "action,email\ninvite,held@example.com\n", "invite.csv")
        [error] = plan_roster(admin, alone, PlanOptions(pool=str(second.id))).plan.errors
        assert (error.row, error.code) == (2, "seat-elsewhere")
    finally:
        clock.set_now(None)

"""The seat lifecycle through the services, checked as a user would see it: pools, codes,
learners, invitations, access, emails. After every move the seat invariant is asserted
from the counters and from the codes themselves."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from regtui.core.errors import NotAllowed, NotFound, Refused, UsageError
from regtui.core.models import Access, Code, Customer, EmailTemplate, Invitation, Learner, Order, Pool, utcnow
from regtui.core.services import (
    access,
    customers,
    expiry,
    invitations,
    learners,
    operators,
    orders,
    passwords,
    registrations,
    templates,
)
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor
from test_core_support import (
    all_bodies,
    check,
    claim_token,
    dump,
    dump_text,
    mails,
    make_customer,
    make_pool,
    make_session,
    set_password_token,
)

CODE_RE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$")
AMBIGUOUS = set("01OIL")

PW = "Chosen-on-the-claim-page-1"  # the claim page asks a new learner for a password


# --- orders make pools ------------------------------------------------------------------

def test_order_of_n_seats_makes_a_pool_of_n_unique_unambiguous_codes(admin):
    pool = make_pool(admin, 50)
    codes = [c.code for c in Code.select().where(Code.pool == pool.id)]
    assert len(codes) == 50 == len(set(codes))
    for code in codes:
        assert CODE_RE.match(code), code
        assert not AMBIGUOUS & set(code)
    assert check(pool) == {"available": 50, "invited": 0, "claimed": 0}
    # a second order gets codes of its own
    other = make_pool(admin, 30)
    assert not set(codes) & {c.code for c in Code.select().where(Code.pool == other.id)}


def test_one_seat_or_a_session_without_codes_makes_no_pool(admin):
    customer = make_customer(admin)
    single = make_session(admin)
    order, pools = orders.add(admin, customer, [orders.OrderLine(single, 1)])
    assert pools == [] and Order.get_by_id(order.id).customer_id == customer.id
    no_codes = make_session(admin, generate_codes=False)
    _, pools = orders.add(admin, customer, [orders.OrderLine(no_codes, 40)])
    assert pools == []
    assert Pool.select().count() == 0 and Code.select().count() == 0


def test_order_with_zero_seats_is_refused(admin):
    customer, session = make_customer(admin), make_session(admin)
    before = dump()
    with pytest.raises(UsageError):
        orders.add(admin, customer, [orders.OrderLine(session, 0)])
    assert dump() == before


# --- assign -------------------------------------------------------------------------------

def test_assign_new_learner_without_password_gets_set_password_link_and_no_password(admin):
    pool = make_pool(admin, 3)
    [seat] = registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "Lovelace")])
    assert seat.new_account
    learner = Learner.get(Learner.email_key == "ada@example.com")
    assert learner.must_set_password and learner.password_hash is None
    assert check(pool) == {"available": 2, "invited": 0, "claimed": 1}
    [mail] = mails("ada@example.com")
    code = Code.get((Code.pool == pool.id) & (Code.learner == learner.id))
    assert code.code in mail.body and "Ada" in mail.body
    token = set_password_token(mail.body)
    assert "password" not in mail.body.lower().replace("set your password", "").replace("set-password", "")
    # the link works once and sets the password
    learners.set_password(token, "a long passphrase")
    learner = Learner.get_by_id(learner.id)
    assert not learner.must_set_password and passwords.verify(learner.password_hash, "a long passphrase")
    # the access runs from today for the session's default length
    grant = Access.get(Access.code == code.id)
    assert grant.status == "active" and grant.starts == access.today()
    assert grant.ends == access.today() + dt.timedelta(days=365)


def test_assign_with_password_stores_an_argon2_hash_and_never_the_password(admin):
    pool = make_pool(admin, 3)
    secret = "Correct-Horse-Battery-9"
    registrations.assign(admin, pool, [LearnerSpec("bob@example.com", "Bob", "B", secret)])
    learner = Learner.get(Learner.email_key == "bob@example.com")
    assert learner.password_hash.startswith("$argon2id$")
    assert secret not in learner.password_hash and passwords.verify(learner.password_hash, secret)
    assert not learner.must_set_password
    assert secret not in dump_text()
    [mail] = mails("bob@example.com")
    assert "/set-password/" not in mail.body
    check(pool)


def test_assign_picks_an_existing_learner_case_insensitively(admin):
    pool1, pool2 = make_pool(admin, 3), make_pool(admin, 3)
    registrations.assign(admin, pool1, [LearnerSpec("Alice@Example.com", "Alice", "A")])
    [seat] = registrations.assign(admin, pool2, [LearnerSpec("alice@example.com")])
    assert not seat.new_account
    assert Learner.select().count() == 1
    learner = Learner.get()
    assert learner.email == "Alice@Example.com" and learner.email_key == "alice@example.com"
    assert learner.first_name == "Alice"  # not overwritten by the nameless second assignment
    # the same person in the same pool is refused whatever the case
    before = dump()
    with pytest.raises(Refused) as err:
        registrations.assign(admin, pool1, [LearnerSpec("ALICE@example.COM")])
    assert err.value.code == "already-seated"
    assert dump() == before
    check(pool1), check(pool2)


def test_assign_the_same_learner_twice_in_one_call_is_refused(admin):
    pool = make_pool(admin, 5)
    before = dump()
    with pytest.raises(Refused) as err:
        registrations.assign(admin, pool, [LearnerSpec("x@example.com"), LearnerSpec("X@example.com")])
    assert err.value.code == "duplicate"
    assert dump() == before


def test_assign_more_learners_than_seats_is_all_or_nothing(admin):
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("first@example.com")])
    before = dump()
    specs = [LearnerSpec(f"l{i}@example.com", "L", str(i)) for i in range(3)]
    with pytest.raises(Refused) as err:
        registrations.assign(admin, pool, specs)
    assert err.value.code == "seats-short"
    assert "2 available" in str(err.value)
    assert dump() == before
    assert Learner.select().count() == 1
    assert check(pool) == {"available": 2, "invited": 0, "claimed": 1}
    # exactly as many as there are seats works
    registrations.assign(admin, pool, specs[:2])
    assert check(pool) == {"available": 0, "invited": 0, "claimed": 3}


def test_assign_dates_and_impossible_dates(admin):
    pool = make_pool(admin, 4)
    start, end = dt.date(2027, 3, 1), dt.date(2027, 6, 1)
    registrations.assign(admin, pool, [LearnerSpec("d@example.com")], dates=[(start, end)])
    grant = Access.get()
    assert (grant.starts, grant.ends) == (start, end)
    before = dump()
    with pytest.raises(Refused) as err:
        registrations.assign(admin, pool, [LearnerSpec("e@example.com")], dates=[(end, start)])
    assert err.value.code == "bad-dates"
    # an end in the past with the default start (today) is the same mistake
    with pytest.raises(Refused) as err:
        registrations.assign(admin, pool, [LearnerSpec("e@example.com")], dates=[(None, dt.date(2020, 1, 1))])
    assert err.value.code == "bad-dates"
    assert dump() == before


def test_invalid_email_is_refused_and_changes_nothing(admin):
    pool = make_pool(admin, 3)
    before = dump()
    for bad in ["not-an-email", "", "a@b", "two@@example.com"]:
        with pytest.raises(Refused) as err:
            registrations.assign(admin, pool, [LearnerSpec("ok@example.com"), LearnerSpec(bad)])
        assert err.value.code == "invalid-email"
        with pytest.raises(Refused):
            invitations.invite(admin, pool, [bad])
    assert dump() == before


# --- invitations ----------------------------------------------------------------------------

def _pending(pool):
    return list(Invitation.select().join(Code).where((Code.pool == pool.id) & (Invitation.status == "pending")))


def test_invite_resend_cancel(admin):
    pool = make_pool(admin, 3)
    [inv] = invitations.invite(admin, pool, ["Invitee@Example.com"], "See you there")
    assert check(pool) == {"available": 2, "invited": 1, "claimed": 0}
    assert Code.get_by_id(inv.code_id).state == "invited"
    [mail] = mails("Invitee@Example.com")
    link = invitations.link(inv)
    assert link in mail.body and "See you there" in mail.body
    # resend: the same link again, new expiry, a second email
    Invitation.update(expires_at=inv.expires_at - dt.timedelta(days=5)).where(Invitation.id == inv.id).execute()
    invitations.resend(admin, Invitation.get_by_id(inv.id))
    assert Invitation.get_by_id(inv.id).expires_at > inv.expires_at - dt.timedelta(days=1)
    assert [link in m.body for m in mails("Invitee@Example.com")] == [True, True]
    assert check(pool)["invited"] == 1
    # inviting the same person again is refused
    before = dump()
    with pytest.raises(Refused) as err:
        invitations.invite(admin, pool, ["invitee@example.com"])
    assert err.value.code == "already-invited"
    assert dump() == before
    # cancel: the code is available again, the link is dead
    invitations.cancel(admin, Invitation.get_by_id(inv.id))
    assert Invitation.get_by_id(inv.id).status == "cancelled"
    assert Code.get_by_id(inv.code_id).state == "available"
    assert check(pool) == {"available": 3, "invited": 0, "claimed": 0}
    before = dump()
    with pytest.raises(Refused) as err:
        invitations.accept(claim_token(link), "In", "Vitee", password=PW)
    assert err.value.code == "cancelled"
    with pytest.raises(Refused):
        invitations.resend(admin, Invitation.get_by_id(inv.id))
    with pytest.raises(Refused):
        invitations.cancel(admin, Invitation.get_by_id(inv.id))
    assert dump() == before


def test_invite_more_than_available_is_refused(admin):
    pool = make_pool(admin, 2)
    before = dump()
    with pytest.raises(Refused) as err:
        invitations.invite(admin, pool, ["a@example.com", "b@example.com", "c@example.com"])
    assert err.value.code == "seats-short"
    assert dump() == before


def test_invite_instead_cancels_the_first_invitation(admin):
    pool = make_pool(admin, 2)
    [first] = invitations.invite(admin, pool, ["first@example.com"])
    new = invitations.invite_instead(admin, first, "second@example.com")
    assert new.code_id == first.code_id
    assert Invitation.get_by_id(first.id).status == "cancelled"
    assert [i.email for i in _pending(pool)] == ["second@example.com"]
    assert check(pool) == {"available": 1, "invited": 1, "claimed": 0}
    assert invitations.link(new) in mails("second@example.com")[0].body


def test_invite_instead_keep_others_first_to_accept_wins(admin):
    pool = make_pool(admin, 2)
    [first] = invitations.invite(admin, pool, ["first@example.com"])
    second = invitations.invite_instead(admin, first, "second@example.com", keep_others=True)
    third = invitations.invite_instead(admin, first, "third@example.com", keep_others=True)
    assert {i.id for i in _pending(pool)} == {first.id, second.id, third.id}
    assert check(pool) == {"available": 1, "invited": 1, "claimed": 0}
    learner = invitations.accept(claim_token(invitations.link(second)), "Sec", "Ond", password=PW)
    assert learner.email == "second@example.com" and passwords.verify(learner.password_hash, PW)
    assert Invitation.get_by_id(second.id).status == "accepted"
    assert Invitation.get_by_id(first.id).status == "invalidated"
    assert Invitation.get_by_id(third.id).status == "invalidated"
    code = Code.get_by_id(first.code_id)
    assert code.state == "claimed" and code.learner_id == learner.id
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 1}
    # the confirmation names the code and carries no password
    [confirmation] = [m for m in mails("second@example.com") if code.code in m.body]
    assert PW not in confirmation.body
    # the losers' links say so, and nothing changes
    before = dump()
    for inv, reason in ((first, "invalidated"), (third, "invalidated"), (second, "accepted")):
        with pytest.raises(Refused) as err:
            invitations.accept(claim_token(invitations.link(inv)), "X", "Y", password=PW)
        assert err.value.code == reason
    assert dump() == before


def test_accept_with_password_and_existing_learner(admin):
    pool = make_pool(admin, 3)
    registrations.assign(admin, make_pool(admin, 2), [LearnerSpec("known@example.com", "Kno", "Wn", "already-set-pw")])
    [inv_known, inv_new] = invitations.invite(admin, pool, ["KNOWN@example.com", "new@example.com"])
    learner = invitations.accept(claim_token(invitations.link(inv_known)), password=PW)
    assert learner.email == "known@example.com" and Learner.select().count() == 1
    before = dump()
    with pytest.raises(Refused) as err:
        invitations.accept(claim_token(invitations.link(inv_new)), password=PW)  # a new learner must give a name
    assert err.value.code == "missing-name"
    assert dump() == before
    learner = invitations.accept(claim_token(invitations.link(inv_new)), "New", "Comer", "my own password")
    assert passwords.verify(learner.password_hash, "my own password")
    assert "my own password" not in dump_text()
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 2}


def test_assign_pending_to_the_invitee(admin):
    pool = make_pool(admin, 2)
    [inv] = invitations.invite(admin, pool, ["Pen@Example.com"])
    seat = invitations.assign_pending(admin, inv)
    assert seat.learner.email == "Pen@Example.com"
    assert Invitation.get_by_id(inv.id).status == "accepted"
    assert Code.get_by_id(inv.code_id).learner_id == seat.learner.id
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 1}
    with pytest.raises(Refused):
        invitations.accept(claim_token(invitations.link(inv)), "P", "En", password=PW)


def test_assign_pending_to_someone_else_invalidates_every_invitation(admin):
    pool = make_pool(admin, 2)
    [inv] = invitations.invite(admin, pool, ["one@example.com"])
    other = invitations.invite_instead(admin, inv, "two@example.com", keep_others=True)
    seat = invitations.assign_pending(admin, inv, LearnerSpec("third@example.com", "Thi", "Rd"))
    assert seat.learner.email == "third@example.com" and seat.new_account
    assert Invitation.get_by_id(inv.id).status == "invalidated"
    assert Invitation.get_by_id(other.id).status == "invalidated"
    assert Code.get_by_id(inv.code_id).learner_id == seat.learner.id
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 1}
    before = dump()
    for i in (inv, other):
        with pytest.raises(Refused) as err:
            invitations.accept(claim_token(invitations.link(i)), "A", "B", password=PW)
        assert err.value.code == "invalidated"
    assert dump() == before


def test_expired_invitation_frees_its_code(admin):
    pool = make_pool(admin, 2)
    [inv, keep] = invitations.invite(admin, pool, ["late@example.com", "ontime@example.com"])
    Invitation.update(expires_at=dt.datetime(2020, 1, 1)).where(Invitation.id == inv.id).execute()
    with pytest.raises(Refused) as err:
        invitations.accept(claim_token(invitations.link(inv)), "La", "Te", password=PW)
    assert err.value.code == "expired"
    assert expiry.expire_due() == 1
    assert Invitation.get_by_id(inv.id).status == "expired"
    assert Code.get_by_id(inv.code_id).state == "available"
    assert Invitation.get_by_id(keep.id).status == "pending"
    assert check(pool) == {"available": 1, "invited": 1, "claimed": 0}
    assert expiry.expire_due() == 0
    with pytest.raises(Refused) as err:
        invitations.accept(claim_token(invitations.link(inv)), "La", "Te", password=PW)
    assert err.value.code == "expired"


def test_expired_invitation_keeps_the_code_if_another_is_pending(admin):
    pool = make_pool(admin, 2)
    [inv] = invitations.invite(admin, pool, ["a@example.com"])
    other = invitations.invite_instead(admin, inv, "b@example.com", keep_others=True)
    Invitation.update(expires_at=dt.datetime(2020, 1, 1)).where(Invitation.id == inv.id).execute()
    assert expiry.expire_due() == 1
    assert Code.get_by_id(inv.code_id).state == "invited"
    assert check(pool) == {"available": 1, "invited": 1, "claimed": 0}
    invitations.accept(claim_token(invitations.link(other)), "B", "B", password=PW)
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 1}


# --- revoke, resend, extend ------------------------------------------------------------

def test_revoke_frees_the_seat_and_it_can_be_given_again(admin):
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("a@example.com"), LearnerSpec("b@example.com")])
    assert check(pool)["available"] == 0
    code = registrations.find(pool, "a@example.com")
    assert registrations.revoke(admin, pool, ["A@example.com"]) == 1
    grant = Access.get(Access.code == code.id)
    assert grant.status == "revoked" and grant.revoked_at is not None
    assert Code.get_by_id(code.id).state == "available" and Code.get_by_id(code.id).learner_id is None
    assert check(pool) == {"available": 1, "invited": 0, "claimed": 1}
    assert [r.email for r in registrations.page(admin, pool).rows] == ["b@example.com"]
    # the seat can be given again: to someone else, or back to the same learner
    registrations.assign(admin, pool, [LearnerSpec("c@example.com")])
    assert check(pool)["claimed"] == 2
    registrations.revoke(admin, pool, ["c@example.com"])
    registrations.assign(admin, pool, [LearnerSpec("a@example.com")])
    assert check(pool) == {"available": 0, "invited": 0, "claimed": 2}
    a = Learner.get(Learner.email_key == "a@example.com")
    assert Access.select().where((Access.learner == a.id) & (Access.status == "active")).count() == 1
    # revoking someone without a seat is refused, and nothing changes (all or nothing)
    before = dump()
    with pytest.raises(NotFound):
        registrations.revoke(admin, pool, ["b@example.com", "nobody@example.com"])
    assert dump() == before


def test_resend_confirmation(admin):
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("r@example.com", "R", "S")])
    registrations.resend(admin, pool, "R@example.com")
    sent = mails("r@example.com")
    assert len(sent) == 2
    tokens = [set_password_token(m.body) for m in sent]
    assert tokens[0] == tokens[1], "a learner has one live set-password link: every email carries it"
    check(pool)


def test_a_resend_renews_a_live_link_and_replaces_an_expired_one(admin):
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("r@example.com", "R", "S")])
    learner = Learner.get(Learner.email_key == "r@example.com")
    Learner.update(password_link_expires_at=utcnow() + dt.timedelta(days=1)).where(Learner.id == learner.id).execute()
    registrations.resend(admin, pool, "r@example.com")
    renewed = Learner.get_by_id(learner.id).password_link_expires_at
    assert renewed > utcnow() + dt.timedelta(days=13)
    first, second = (set_password_token(m.body) for m in mails("r@example.com"))
    assert first == second

    Learner.update(password_link_expires_at=utcnow() - dt.timedelta(seconds=1)).where(Learner.id == learner.id).execute()
    registrations.resend(admin, pool, "r@example.com")
    third = set_password_token(mails("r@example.com")[-1].body)
    assert third != first
    # links are made at send time: emails still queued carry the one live link, never a dead one
    assert {set_password_token(m.body) for m in mails("r@example.com")} == {third}
    with pytest.raises(Refused) as err:
        learners.set_password(first, "an old link's password")
    assert err.value.code == "bad-link"
    assert learners.set_password(third, "the newest link works").password_hash


def test_extend_is_for_admins_and_checks_dates(admin):
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("x@example.com")],
                         dates=[(dt.date(2027, 1, 1), dt.date(2027, 6, 30))])
    grant = Access.get()
    row = access.extend(admin, grant.id, ends=dt.date(2027, 12, 31))
    assert (row.starts, row.ends) == (dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    row = access.extend(admin, grant.id, open_ended=True)
    assert row.ends is None
    before = dump()
    with pytest.raises(Refused) as err:
        access.extend(admin, grant.id, starts=dt.date(2027, 5, 1), ends=dt.date(2027, 4, 1))
    assert err.value.code == "bad-dates"
    limited = Actor("lim", "limited")
    with pytest.raises(NotAllowed) as err:
        access.extend(limited, grant.id, ends=dt.date(2030, 1, 1))
    assert "admin role" in str(err.value)
    manager = Actor("hr", "manager", customer_id=pool.order.customer_id)
    with pytest.raises(NotAllowed):
        access.extend(manager, grant.id, ends=dt.date(2030, 1, 1))
    assert dump() == before
    # a revoked access cannot be extended
    registrations.revoke(admin, pool, ["x@example.com"])
    with pytest.raises(Refused) as err:
        access.extend(admin, grant.id, ends=dt.date(2030, 1, 1))
    assert err.value.code == "access-revoked"
    check(pool)


# --- roles: refused actions change nothing ----------------------------------------------------

def test_not_allowed_actions_change_nothing(admin):
    customer = make_customer(admin)
    pool = make_pool(admin, 3, customer=customer)
    other_pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("held@example.com")])
    operators.set_operator(admin, "lim", "limited")
    operators.set_operator(admin, "hr", "manager", customer)
    limited, manager = operators.current(), None
    limited = operators._actor(operators.Operator.get(operators.Operator.name == "lim"))
    manager = operators._actor(operators.Operator.get(operators.Operator.name == "hr"))
    assert manager.role == "manager" and manager.customer_id == customer.id
    learner = Learner.get()
    grant = Access.get()
    [inv] = invitations.invite(admin, other_pool, ["inv@example.com"])
    before = dump()
    refused = [
        lambda: access.extend(limited, grant.id, ends=dt.date(2030, 1, 1)),
        lambda: customers.new_with_account(limited, "New Co", "newco@example.com"),
        lambda: operators.set_operator(limited, "eve", "admin"),
        lambda: operators.set_operator(manager, "eve", "admin"),
        lambda: orders.add(manager, customer, [orders.OrderLine(pool.session, 5)]),
        lambda: customers.sync_to_ecommerce(manager, learner),
        lambda: registrations.assign(manager, other_pool, [LearnerSpec("m@example.com")]),
        lambda: registrations.revoke(manager, other_pool, ["held@example.com"]),
        lambda: invitations.invite(manager, other_pool, ["m@example.com"]),
        lambda: invitations.cancel(manager, inv),
        lambda: invitations.assign_pending(manager, inv),
        lambda: access.extend(manager, grant.id, ends=dt.date(2030, 1, 1)),
    ]
    for attempt in refused:
        with pytest.raises(NotAllowed):
            attempt()
    assert dump() == before
    # what a manager may do, in their own pool
    registrations.assign(manager, pool, [LearnerSpec("mine@example.com")])
    check(pool)


def test_limited_admin_may_sync_but_not_create_accounts(admin):
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("sync@example.com", "Syn", "C")])
    limited = Actor("lim", "limited")
    row, created = customers.sync_to_ecommerce(limited, Learner.get())
    assert created and row.email == "sync@example.com" and row.learner_id == Learner.get().id
    assert customers.sync_to_ecommerce(limited, Learner.get()) == (row, False)


def test_new_customer_with_account_emails_a_link_not_a_password(admin):
    row = customers.new_with_account(admin, "Solo Buyer", "Solo@Example.com", "So", "Lo")
    learner = Learner.get(Learner.email_key == "solo@example.com")
    assert row.learner_id == learner.id and learner.must_set_password and learner.password_hash is None
    [mail] = mails("Solo@Example.com")
    token = set_password_token(mail.body)
    learners.set_password(token, "chosen by me")
    assert passwords.verify(Learner.get_by_id(learner.id).password_hash, "chosen by me")
    before = dump()
    with pytest.raises(Refused) as err:
        customers.new_with_account(admin, "Again", "solo@example.com")
    assert err.value.code == "exists"
    with pytest.raises(Refused):
        customers.new_with_account(admin, "Bad", "not an email")
    assert dump() == before
    assert Customer.select().count() == 1


def test_no_email_ever_contains_a_password(admin):
    pool = make_pool(admin, 4)
    pw = "Sup3r-Secret-Passw0rd"
    registrations.assign(admin, pool, [LearnerSpec("p1@example.com", "P", "One", pw)])
    [inv] = invitations.invite(admin, pool, ["p2@example.com"])
    invitations.accept(claim_token(invitations.link(inv)), "P", "Two", pw + "2")
    customers.new_with_account(admin, "C", "p3@example.com")
    bodies = all_bodies()
    assert pw not in bodies and pw + "2" not in bodies
    for learner in Learner.select():
        if learner.password_hash:
            assert learner.password_hash not in bodies


def test_revoking_one_person_named_twice_removes_one_registration(admin):
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("twice@example.com"), LearnerSpec("stay@example.com")])
    assert registrations.revoke(admin, pool, ["twice@example.com", "TWICE@example.com"]) == 1
    assert [r.email for r in registrations.page(admin, pool).rows] == ["stay@example.com"]
    assert check(pool) == {"available": 2, "invited": 0, "claimed": 1}


def test_customers_are_found_by_id_email_or_an_unambiguous_name(admin):
    a = customers.add(admin, "Acme", "one@acme.example.com")
    assert customers.find(str(a.id)) == a == customers.find("ONE@acme.example.com") == customers.find(" Acme ")
    customers.add(admin, "Acme", "two@acme.example.com")  # names are not unique
    with pytest.raises(UsageError):
        customers.find("Acme")
    with pytest.raises(NotFound):
        customers.find("Nobody")
    assert customers.find("two@acme.example.com").email == "two@acme.example.com"


def test_confirmations_rendered_by_the_database_read_as_the_template_says(admin):
    """A seat's confirmation is rendered in SQL; it must read exactly as the Python renderer
    (string.Template's safe_substitute) would write it, odd placeholders and quotes included: the
    template is stored as one saved before saving refused a line break in the subject and unknown
    placeholders."""
    templates.seed()
    EmailTemplate.update(subject="Seat for ${first_name} in $session\nnow",
                         body="Hi $first_name $last_name <$email> 100% ?sure '$$5' ${code} $unknown\n"
                              "$product/$session: $access_start..$access_end\n$set_password\nÉté ✓\n"
                         ).where(EmailTemplate.name == templates.CONFIRMATION).execute()
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("o'neil@example.com", "Ann % ?", "O'Neil $x")],
                         dates=[(dt.date(2027, 1, 2), None)])
    [mail] = mails("o'neil@example.com")
    learner = Learner.get(Learner.email_key == "o'neil@example.com")
    code = Code.get(Code.learner == learner.id)
    grant = Access.get(Access.code == code.id)
    url = f"http://127.0.0.1:8080/set-password/{set_password_token(mail.body)}"
    subject, body = templates.render(templates.CONFIRMATION, {
        "first_name": "Ann % ?", "last_name": "O'Neil $x", "email": "o'neil@example.com", "code": code.code,
        "product": pool.session.product.name, "session": pool.session.name, "access_start": "2027-01-02",
        "access_end": grant.ends.isoformat() if grant.ends else "open-ended",
        "set_password": f"Set your password here (the link works once): {url}"})
    assert (mail.subject, mail.body) == (subject, body)
    assert "$unknown\n" in mail.body and "'$5'" in mail.body

    registrations.resend(admin, pool, "o'neil@example.com")
    first, again = mails("o'neil@example.com")
    assert (again.subject, again.body) == (first.subject, first.body)
    assert again.message_id != first.message_id

    access.extend(admin, grant.id, open_ended=True)
    registrations.resend(admin, pool, "o'neil@example.com")
    assert "2027-01-02..open-ended\n" in mails("o'neil@example.com")[-1].body

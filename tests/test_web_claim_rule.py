"""Issue 8 item 1: a claim link proves nothing about who holds the address.

The attack, as a hostile operator does it: a manager (or a limited admin) of one customer
invites a learner who already has an account through another customer, copies the claim link
with `regtui link`, and posts the claim page over real HTTP with a password of their own. The
claim must never set or change an existing account's password, and an account made through a
claim link stays unverified until its owner uses the set-password link that only email carries.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from regtui.core.models import Learner, database
from regtui.core.services import customers, invitations, learners, operators, passwords, registrations
from test_core_support import mails, make_customer, make_pool, make_session
from test_web import claim_fields, dump, site  # noqa: F401 - the fixture

pytestmark = pytest.mark.storage

MALLORY_PW = "mallory owns this now"
VICTIM_PW = "the real owner's own words"
VICTIM = "victim@other.example"


def _links_to(email: str, kind: str) -> list[str]:
    """The links of this kind in the emails to ``email``, as the sender makes them."""
    return [w for e in mails(email) for w in e.body.split() if f"/{kind}/" in w]


def _copy_link(cli, as_name: str, pool_id: int, email: str) -> str:
    """What the hostile operator does: invite the address, then copy the link (`regtui link`)."""
    proc = cli("--as", as_name, "invite", str(pool_id), email)
    assert proc.returncode == 0, proc.stderr
    proc = cli("--as", as_name, "link", str(pool_id), email)
    assert proc.returncode == 0, proc.stderr
    [link] = [w for w in proc.stdout.split() if "/claim/" in w]
    return link


@pytest.fixture
def world(admin):
    """Customer A (the attacker's) with a pool; customer B's pool, where the victim has a seat
    and an account with no password yet; a manager of A and a limited admin."""
    session = make_session(admin)
    cust_a, cust_b = make_customer(admin, "Attacker Co", "hr@attacker.example"), make_customer(admin, "Other Co", "hr@other.example")
    pool_a, pool_b = make_pool(admin, 3, cust_a, session), make_pool(admin, 3, cust_b, make_session(admin))
    registrations.assign(admin, pool_b, [learners.LearnerSpec(VICTIM, "Victor", "Tim")])
    operators.set_operator(admin, "mgr", "manager", cust_a)
    operators.set_operator(admin, "lim", "limited")
    [victim_link] = _links_to(VICTIM, "set-password")
    database.close()
    return {"a": pool_a, "b": pool_b, "victim_link": victim_link}


@pytest.mark.parametrize("operator", ["mgr", "lim"])
def test_a_copied_claim_link_cannot_set_an_existing_accounts_password(world, cli, site, operator):  # noqa: F811
    link = _copy_link(cli, operator, world["a"].id, VICTIM)

    page = site.get(link)
    assert page.status == 200
    assert 'name="password"' not in page.body  # nothing to type: the seat goes to the account there is
    assert "Victor" not in page.body  # and the other customer's learner's name is not shown
    r = site.post(link, claim_fields(first="Mallory", last="M", password=MALLORY_PW), headers={"Origin": site.base})
    assert r.status == 200, r.body
    assert MALLORY_PW not in r.body

    victim = Learner.get(Learner.email_key == VICTIM)
    assert victim.password_hash is None and victim.must_set_password
    assert not passwords.verify(victim.password_hash, MALLORY_PW)
    assert (victim.first_name, victim.last_name) == ("Victor", "Tim")
    # the seat is attached, and the confirmation went to the address itself, with the account's one
    # live set-password link: the same link the owner was sent before, which still works
    links = _links_to(VICTIM, "set-password")
    assert len(links) == 2 and links[1] == links[0] == world["victim_link"]
    assert site.get(world["victim_link"]).status == 200
    r = site.post(world["victim_link"], {"password": VICTIM_PW, "confirm": VICTIM_PW})
    assert r.status == 200, r.body
    victim = Learner.get(Learner.email_key == VICTIM)
    assert passwords.verify(victim.password_hash, VICTIM_PW) and not victim.unverified


def test_an_existing_accounts_password_is_never_changed_by_a_claim(world, cli, site):  # noqa: F811
    site.post(world["victim_link"], {"password": VICTIM_PW, "confirm": VICTIM_PW})
    link = _copy_link(cli, "mgr", world["a"].id, VICTIM)
    before = Learner.get(Learner.email_key == VICTIM).password_hash
    r = site.post(link, claim_fields(password=MALLORY_PW), headers={"Origin": site.base})
    assert r.status == 200, r.body
    assert "existing password" in r.body
    assert Learner.get(Learner.email_key == VICTIM).password_hash == before


@pytest.mark.parametrize("operator", ["mgr", "lim"])
def test_an_account_made_through_a_claim_link_is_unverified_until_the_emailed_link_is_used(admin, world, cli, site, operator):  # noqa: F811
    newcomer = "newcomer@elsewhere.example"
    link = _copy_link(cli, operator, world["a"].id, newcomer)
    r = site.post(link, claim_fields(first="Mallory", last="M", password=MALLORY_PW), headers={"Origin": site.base})
    assert r.status == 200, r.body
    assert "not verified" in r.body

    account = Learner.get(Learner.email_key == newcomer)
    assert account.unverified and passwords.verify(account.password_hash, MALLORY_PW)
    # the confirmation to the address carries a link that no operator ever sees
    [confirm_link] = _links_to(newcomer, "set-password")
    assert "Confirm your email address" in mails(newcomer)[-1].body
    proc = cli("--as", operator, "invites", str(world["a"].id))
    assert confirm_link.rsplit("/", 1)[1] not in proc.stdout

    # another customer gives the account a seat while it is unverified: that email carries the link too
    registrations.assign(admin, world["b"], [learners.LearnerSpec(newcomer)])
    assert _links_to(newcomer, "set-password") == [confirm_link, confirm_link]

    page = site.get(confirm_link)
    assert page.status == 200 and "Confirm your address" in page.body
    r = site.post(confirm_link, {"password": VICTIM_PW, "confirm": VICTIM_PW})
    assert r.status == 200 and "Your address is confirmed" in r.body
    account = Learner.get(Learner.email_key == newcomer)
    assert not account.unverified
    assert passwords.verify(account.password_hash, VICTIM_PW) and not passwords.verify(account.password_hash, MALLORY_PW)
    assert site.get(confirm_link).status == 410


def test_a_second_claim_on_an_unverified_account_sets_nothing(world, cli, site):  # noqa: F811
    newcomer = "newcomer@elsewhere.example"
    first = invitations.invite(operators.current(), world["b"], [newcomer])[0]
    assert site.post(invitations.link(first), claim_fields(password=VICTIM_PW)).status == 200
    link = _copy_link(cli, "mgr", world["a"].id, newcomer)
    assert 'name="password"' not in site.get(link).body
    before = Learner.get(Learner.email_key == newcomer)
    assert site.post(link, claim_fields(password=MALLORY_PW)).status == 200
    after = Learner.get(Learner.email_key == newcomer)
    assert (after.password_hash, after.unverified) == (before.password_hash, True)


def test_hostile_names_are_refused_on_the_claim_page(world, cli, site):  # noqa: F811
    link = _copy_link(cli, "mgr", world["a"].id, "fresh@elsewhere.example")
    before = dump()
    for first, last in (("Ada\x1b]52;c;ZXZpbA==\x07", "L"), ("Ada", "L\r\nBcc: x@evil.example"),
                        ("\u202eadA", "L"), ("Ada\x00", "L"), ("A" * 101, "L")):
        r = site.post(link, claim_fields(first=first, last=last))
        assert r.status == 400, (first, last)
        assert "control characters" in r.body or "at most 100 characters" in r.body
    assert dump() == before
    assert site.post(link, claim_fields(first="Ada", last="Lovelace")).status == 200


def test_new_customer_with_account_gets_its_link_by_email_only(admin, cli):
    customers.new_with_account(admin, "Solo", "solo@example.com", "So", "Lo")
    proc = cli("users", "Solo")
    [link] = _links_to("solo@example.com", "set-password")
    assert link.rsplit("/", 1)[1] not in proc.stdout + proc.stderr


def test_init_marks_accounts_made_on_claim_pages_before_as_unverified(db_url, home, monkeypatch):
    from conftest import run_cli
    from regtui.core import db as dbmod
    from regtui.core.services import templates

    monkeypatch.setenv("REGTUI_DB", db_url)
    dbmod.open_database(db_url)
    dbmod.migrate()
    templates.seed()
    operators.make_first_admin(operators.login_name())
    admin = operators.current()
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [learners.LearnerSpec("assigned@example.com", "As", "Signed", VICTIM_PW)])
    [inv] = invitations.invite(admin, pool, ["claimer@example.com"])
    invitations.accept(invitations.link(inv).rsplit("/", 1)[1], "Claim", "Er", VICTIM_PW)
    # the database as it was before schema 3
    database.execute_sql('ALTER TABLE "learner" DROP COLUMN "unverified"')
    database.execute_sql('DELETE FROM "schema_version" WHERE "version" = 3')
    database.close()

    done = run_cli("init")
    assert done.returncode == 0, done.stderr
    dbmod.open_database(db_url)
    try:
        assert dbmod.current_version() == dbmod.LATEST
        unverified = dict(Learner.select(Learner.email, Learner.unverified).tuples())
        assert unverified == {"assigned@example.com": False, "claimer@example.com": True}
    finally:
        database.close()

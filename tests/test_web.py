"""The learner web pages over real HTTP: waitress on 127.0.0.1, urllib as the browser.

Runs on SQLite and (with REGTUI_TEST_POSTGRES) PostgreSQL. The test thread and the
server's worker threads each have their own Peewee connection; the test never holds a
transaction open while the server works.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import waitress

from regtui.core.models import (
    Access,
    AuditEvent,
    Code,
    Invitation,
    Learner,
    OutboxEmail,
    Pool,
    database,
    utcnow,
)
from regtui.core.services import catalog, customers, invitations, learners, orders, passwords, registrations, seats, tokens
from regtui.web import create_app
from regtui.web.limits import ServerLimits
from test_core_support import mails

PASSWORD = "correct horse battery"
SESSION_NAME = "Python basics, May 2025"
CUSTOMER_NAME = "Acme Corp"


@dataclass
class Response:
    status: int
    body: str
    headers: dict


class Site:
    def __init__(self, base: str):
        self.base = base

    def url(self, link_or_path: str) -> str:
        path = urllib.parse.urlsplit(link_or_path).path if "://" in link_or_path else link_or_path
        return self.base + path

    def get(self, link: str, headers: dict | None = None) -> Response:
        return self._send(urllib.request.Request(self.url(link), headers=headers or {}))

    def post(self, link: str, fields: dict | None = None, headers: dict | None = None) -> Response:
        data = urllib.parse.urlencode(fields or {}).encode()
        req = urllib.request.Request(self.url(link), data=data, method="POST", headers=headers or {})
        return self._send(req)

    @staticmethod
    def _send(req: urllib.request.Request) -> Response:
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return Response(resp.status, resp.read().decode(), dict(resp.headers))
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.code, err.read().decode(), dict(err.headers))


@contextmanager
def running(db_url: str, server_limits: ServerLimits | None = None):
    """The app served by waitress with ``server_limits`` (default: what `regtui serve` uses) on a
    free port in a background thread, bound to the test database: yields (Site, server)."""
    app = create_app(db_url)
    options = (server_limits or ServerLimits()).waitress_options()
    server = waitress.create_server(app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.effective_port}"), server
    finally:
        try:
            server.trigger.pull_trigger(server.close)  # closed inside the server's own loop thread
        except OSError:
            # the trigger's pipe was already gone (seen once in a full run, at teardown of a test
            # whose requests had all been answered): the loop cannot be woken, close from here
            server.close()
        thread.join(10)
        server.task_dispatcher.shutdown()
        database.close()


@pytest.fixture
def site(db, db_url):
    """The app on a free port in a background thread, bound to the test database."""
    db.close()  # create_app binds the models to its own Database object
    with running(db_url) as (served, _):
        yield served


def make_pool(admin, seats_: int = 3, suffix: str = "") -> Pool:
    product = catalog.find_product("PY") if suffix else catalog.add_product(admin, "PY", "Python basics")
    session = catalog.add_session(admin, product, f"PY-2025{suffix}", SESSION_NAME + suffix)
    customer = customers.add(admin, CUSTOMER_NAME + suffix, f"hr{suffix}@acme.example")
    _, [pool] = orders.add(admin, customer, [orders.OrderLine(session, seats_)])
    return pool


def fresh(pool: Pool) -> Pool:
    return Pool.get_by_id(pool.id)


def assert_counters(pool: Pool) -> None:
    p = fresh(pool)
    assert p.available + p.invited + p.claimed == p.seats
    assert min(p.available, p.invited, p.claimed) >= 0
    assert seats.counts(p.id) == {"available": p.available, "invited": p.invited, "claimed": p.claimed}


def dump() -> dict:
    """Every table a claim or set-password touches, as plain tuples."""
    return {m.__name__: list(m.select().order_by(m.id).tuples())
            for m in (Pool, Code, Invitation, Learner, Access, OutboxEmail, AuditEvent)}


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def claim_fields(first="Ada", last="Lovelace", password=PASSWORD, confirm=None) -> dict:
    return {"first_name": first, "last_name": last, "password": password,
            "confirm": password if confirm is None else confirm}


# --- pages and headers ---------------------------------------------------------------


def test_index_and_security_headers(site):
    r = site.get("/")
    assert r.status == 200
    assert "claim" in r.body.lower()
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["Cache-Control"] == "no-store"
    css = site.get("/static/style.css")
    assert css.status == 200 and "body" in css.body


def test_unknown_page_is_a_plain_404(site):
    r = site.get("/nothing/here")
    assert r.status == 404
    assert "There is no page here" in r.body
    assert r.headers["X-Frame-Options"] == "DENY"


def test_invite_link_shows_the_form(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["Ada@Example.com"], "Welcome aboard")
    r = site.get(invitations.link(inv))
    assert r.status == 200
    assert SESSION_NAME in r.body and "Python basics" in r.body
    assert CUSTOMER_NAME in r.body
    assert 'value="Ada@Example.com" readonly' in r.body
    assert 'name="first_name"' in r.body and 'name="last_name"' in r.body
    assert 'name="password"' in r.body and 'name="confirm"' in r.body
    assert "Welcome aboard" in r.body
    assert 'method="post"' in r.body
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["Cache-Control"] == "no-store"


# --- claiming ------------------------------------------------------------------------


def test_claim_creates_the_learner_and_takes_the_seat(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    other = invitations.invite_instead(admin, inv, "grace@example.com", keep_others=True)
    link = invitations.link(inv)

    r = site.post(link, claim_fields(), headers={"Origin": site.base})
    assert r.status == 200, r.body
    assert f"Your seat in {SESSION_NAME} is yours" in r.body

    learner = Learner.get(Learner.email_key == "ada@example.com")
    assert (learner.first_name, learner.last_name) == ("Ada", "Lovelace")
    assert learner.password_hash and PASSWORD not in learner.password_hash
    assert passwords.verify(learner.password_hash, PASSWORD)
    assert not learner.must_set_password
    code = Code.get_by_id(inv.code_id)
    assert (code.state, code.learner_id) == ("claimed", learner.id)
    [grant] = Access.select().where(Access.learner == learner.id)
    assert (grant.status, grant.code_id, grant.session_id) == ("active", code.id, pool.session_id)
    assert Invitation.get_by_id(inv.id).status == "accepted"
    assert Invitation.get_by_id(other.id).status == "invalidated"
    p = fresh(pool)
    assert (p.available, p.invited, p.claimed) == (2, 0, 1)
    assert_counters(pool)
    assert all(PASSWORD not in e.body for e in OutboxEmail.select())
    assert all(PASSWORD not in (e.after or "") for e in AuditEvent.select())

    # The same link again: "already used", and nothing changes.
    before = dump()
    again = site.get(link)
    assert again.status == 410
    assert "already been used" in again.body
    assert 'name="password"' not in again.body
    again = site.post(link, claim_fields(first="Mallory"))
    assert again.status == 410 and "already been used" in again.body
    assert dump() == before


def test_first_to_accept_wins(site, admin):
    pool = make_pool(admin)
    [first] = invitations.invite(admin, pool, ["ada@example.com"])
    second = invitations.invite_instead(admin, first, "grace@example.com", keep_others=True)
    assert fresh(pool).invited == 1

    assert site.post(invitations.link(first), claim_fields()).status == 200
    before = dump()
    r = site.get(invitations.link(second))
    assert r.status == 410 and "Someone else claimed this seat first" in r.body
    r = site.post(invitations.link(second), claim_fields(first="Grace", last="Hopper"))
    assert r.status == 410 and "Someone else claimed this seat first" in r.body
    assert dump() == before
    assert Learner.get_or_none(Learner.email_key == "grace@example.com") is None
    assert_counters(pool)


def test_cancelled_link_is_gone(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    invitations.cancel(admin, inv)
    before = dump()
    r = site.get(invitations.link(inv))
    assert r.status == 410 and "cancelled" in r.body
    r = site.post(invitations.link(inv), claim_fields())
    assert r.status == 410 and "cancelled" in r.body
    assert dump() == before
    assert fresh(pool).available == 3


def test_expired_link_is_gone(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    Invitation.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(Invitation.id == inv.id).execute()
    before = dump()
    r = site.get(invitations.link(inv))
    assert r.status == 410 and "expired" in r.body
    r = site.post(invitations.link(inv), claim_fields())
    assert r.status == 410 and "expired" in r.body
    assert dump() == before
    assert Learner.select().count() == 0


def test_tampered_and_truncated_links_are_not_found(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    token = token_of(invitations.link(inv))
    last = token[-1]
    tampered = token[:-1] + ("A" if last != "A" else "B")
    before = dump()
    mac = token.split(".")[1]
    for bad in (tampered, token[:-5], token.split(".")[0], "999999." + mac, "9" * 18 + "." + mac, "x", ".", "-1." + mac):
        r = site.get(f"/claim/{bad}")
        assert r.status == 404, bad
        assert "not valid" in r.body
        r = site.post(f"/claim/{bad}", claim_fields())
        assert r.status == 404, bad
    assert dump() == before


def test_fixable_input_shows_the_form_again(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    link = invitations.link(inv)
    before = dump()

    r = site.post(link, claim_fields(password="short"))
    assert r.status == 400
    assert f"at least {passwords.MIN_LENGTH} characters" in r.body
    assert 'name="password"' in r.body and 'value="Ada"' in r.body
    assert "short" not in r.body  # a password is never echoed back

    r = site.post(link, claim_fields(confirm=PASSWORD + "x"))
    assert r.status == 400 and "not the same" in r.body

    r = site.post(link, claim_fields(first=" ", last=""))
    assert r.status == 400 and "first and last name" in r.body

    r = site.post(link, claim_fields(password="", confirm=""))
    assert r.status == 400 and "choose a password" in r.body

    assert dump() == before
    assert site.post(link, claim_fields()).status == 200


def test_existing_learner_with_password_only_clicks(site, admin):
    pool = make_pool(admin)
    elsewhere = make_pool(admin, suffix="-B")
    registrations.assign(admin, elsewhere, [learners.LearnerSpec("ada@example.com", "Ada", "Lovelace", PASSWORD)])
    old_hash = Learner.get(Learner.email_key == "ada@example.com").password_hash
    [inv] = invitations.invite(admin, pool, ["ADA@example.com"])

    r = site.get(invitations.link(inv))
    assert r.status == 200
    assert "Claim my seat" in r.body
    assert 'name="password"' not in r.body and 'name="first_name"' not in r.body

    r = site.post(invitations.link(inv), {"password": "something-else-entirely", "confirm": "x"})
    assert r.status == 200, r.body
    learner = Learner.get(Learner.email_key == "ada@example.com")
    assert learner.password_hash == old_hash
    assert Code.get_by_id(inv.code_id).learner_id == learner.id
    assert Learner.select().count() == 1
    assert_counters(pool)


def test_post_from_another_origin_is_refused(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    before = dump()
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:1{site.base.rsplit(':', 1)[1]}"):
        r = site.post(invitations.link(inv), claim_fields(), headers={"Origin": origin})
        assert r.status == 403, origin
    assert dump() == before
    assert site.post(invitations.link(inv), claim_fields(), headers={"Origin": site.base}).status == 200


def test_names_are_escaped(site, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["x@example.com"], "<b>hi</b>")
    r = site.post(invitations.link(inv), claim_fields(first="<script>alert(1)</script>", last="<i>"))
    assert r.status == 200, r.body
    assert "<script>alert(1)</script>" not in r.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.body
    assert Learner.get(Learner.email_key == "x@example.com").first_name == "<script>alert(1)</script>"

    registrations.assign(admin, pool, [learners.LearnerSpec("y@example.com", "<script>alert(1)</script>", "Doe")])
    learner = Learner.get(Learner.email_key == "y@example.com")
    with database.atomic():
        url, _ = learners.password_link(learner)
    r = site.get(url)
    assert r.status == 200
    assert "<script>" not in r.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.body


def test_server_error_shows_a_sentence_and_logs_no_secrets(site, admin, monkeypatch, caplog):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    link = invitations.link(inv)

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(invitations, "accept", broken)
    with caplog.at_level(logging.INFO):
        r = site.post(link, claim_fields())
    assert r.status == 500
    assert "Something went wrong" in r.body
    assert "Traceback" not in r.body and "internal detail" not in r.body and "RuntimeError" not in r.body
    assert "RuntimeError" in caplog.text  # logged for the operator...
    assert token_of(link) not in caplog.text  # ...without the link's token
    assert PASSWORD not in caplog.text


# --- set-password links --------------------------------------------------------------


def test_set_password_link(site, admin):
    pool = make_pool(admin)
    registrations.assign(admin, pool, [learners.LearnerSpec("ada@example.com", "Ada", "Lovelace")])
    learner = Learner.get(Learner.email_key == "ada@example.com")
    assert learner.password_hash is None and learner.must_set_password
    [mail] = mails("ada@example.com")
    [url] = [w for w in mail.body.split() if "/set-password/" in w]

    r = site.get(url)
    assert r.status == 200
    assert "Ada" in r.body and "ada@example.com" in r.body
    assert 'name="password"' in r.body and 'name="confirm"' in r.body

    before = dump()
    r = site.post(url, {"password": "short", "confirm": "short"})
    assert r.status == 400 and f"at least {passwords.MIN_LENGTH} characters" in r.body
    r = site.post(url, {"password": PASSWORD, "confirm": PASSWORD + "!"})
    assert r.status == 400 and "not the same" in r.body
    assert dump() == before

    r = site.post(url, {"password": PASSWORD, "confirm": PASSWORD}, headers={"Origin": site.base})
    assert r.status == 200, r.body
    assert "Your password is set" in r.body
    learner = Learner.get_by_id(learner.id)
    assert passwords.verify(learner.password_hash, PASSWORD)
    assert PASSWORD not in learner.password_hash
    assert not learner.must_set_password

    before = dump()
    r = site.get(url)
    assert r.status == 410 and "already been used" in r.body
    r = site.post(url, {"password": "another password", "confirm": "another password"})
    assert r.status == 410
    assert dump() == before
    assert passwords.verify(Learner.get_by_id(learner.id).password_hash, PASSWORD)


def test_set_password_bad_and_expired_links(site, admin):
    pool = make_pool(admin)
    registrations.assign(admin, pool, [learners.LearnerSpec("ada@example.com", "Ada", "Lovelace")])
    learner = Learner.get(Learner.email_key == "ada@example.com")
    with database.atomic():
        url, _ = learners.password_link(learner)
    token = token_of(url)
    before = dump()
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:10], "9" * 18 + "." + token.split(".")[1]):
        assert site.get(f"/set-password/{bad}").status == 404
        assert site.post(f"/set-password/{bad}", {"password": PASSWORD, "confirm": PASSWORD}).status == 404
    assert dump() == before

    Learner.update(password_link_expires_at=utcnow() - dt.timedelta(seconds=1)).where(Learner.id == int(token.split(".")[0])).execute()
    before = dump()
    r = site.get(url)
    assert r.status == 410 and "expired" in r.body
    assert site.post(url, {"password": PASSWORD, "confirm": PASSWORD}).status == 410
    assert dump() == before


# --- the race ------------------------------------------------------------------------


def test_twenty_parallel_accepts_one_winner(site, admin):
    pool = make_pool(admin, seats_=2)
    [first] = invitations.invite(admin, pool, ["racer0@example.com"])
    invs = [first] + [invitations.invite_instead(admin, first, f"racer{i}@example.com", keep_others=True)
                      for i in range(1, 20)]
    assert {i.code_id for i in invs} == {first.code_id}
    assert (fresh(pool).available, fresh(pool).invited) == (1, 1)
    database.close()  # nothing of the test thread's is open while the server works

    links = [invitations.link(i) for i in invs]
    barrier = threading.Barrier(len(links))
    results: list[Response | BaseException] = [None] * len(links)  # type: ignore[list-item]

    def race(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[n] = site.post(links[n], claim_fields(first=f"Racer{n}", last="Fast"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[n] = exc

    threads = [threading.Thread(target=race, args=(n,)) for n in range(len(links))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(isinstance(r, Response) for r in results), results
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [410] * 19, statuses
    [winner] = [n for n, r in enumerate(results) if r.status == 200]
    assert all("Someone else claimed this seat first" in r.body for r in results if r.status == 410)

    code = Code.get_by_id(first.code_id)
    learner = Learner.get(Learner.email_key == f"racer{winner}@example.com")
    assert (code.state, code.learner_id) == ("claimed", learner.id)
    assert Learner.select().count() == 1
    assert Access.select().where((Access.code == code.id) & (Access.status == "active")).count() == 1
    states = sorted(s for (s,) in Invitation.select(Invitation.status).tuples())
    assert states == ["accepted"] + ["invalidated"] * 19
    assert Invitation.get_by_id(invs[winner].id).status == "accepted"
    p = fresh(pool)
    assert (p.available, p.invited, p.claimed) == (1, 0, 1)
    assert_counters(pool)


def test_ids_are_ascii_digits_only(site, admin):
    pool = make_pool(admin)
    invitations.invite(admin, pool, ["ada@example.com"])
    before = dump()
    # '²' and '①' pass str.isdigit() but int() refuses them; '١' (Arabic-Indic one) would read as 1
    for path in ("/claim/%C2%B2.x", "/set-password/%E2%91%A0.x", "/claim/%D9%A1.x", "/set-password/%D9%A1.x",
                 "/claim/%EF%BC%91.x", "/claim/1%00.x", "/claim/+1.x", "/claim/%201.x"):
        r = site.get(path)
        assert r.status == 404, path
        assert "not valid" in r.body
        assert site.post(path, claim_fields()).status == 404, path
    assert dump() == before
    assert tokens.parse_id("١.x") is None and tokens.parse_id("².x") is None and tokens.parse_id("12.x") == 12

"""The learner's own pages over real HTTP with cookies: sign in, /me, sign out, forgotten password,
redeeming a code; CSRF refusal, rate limits, and the same answer for unknown and wrong.

Runs on SQLite and PostgreSQL; time is moved with ``clock.set_now`` (rate-limit windows, an access
ending), never slept.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pytest

from regtui.core import clock
from regtui.core.models import Code, OutboxEmail, database
from regtui.core.services import codes, learners, registrations

from tests import cookie_browser
from tests.test_core_support import make_pool
from tests.test_web import Response, running

pytestmark = pytest.mark.storage

PASSWORD = "correct horse battery"


class Browser(cookie_browser.Browser):
    """Redirects not followed (the test follows them); every form posted with its page's CSRF
    token unless the test says ``csrf=False``."""

    def __init__(self, base: str):
        super().__init__(base, follow_redirects=False, timeout=60)

    def post(self, path: str, fields: dict, *, csrf: bool = True) -> Response:
        if csrf and "csrf" not in fields:
            fields = {**fields, "csrf": self.csrf(path if path != "/signout" else "/me")}
        return super().post(path, fields)


@pytest.fixture
def portal(db, db_url):
    db.close()
    with running(db_url) as (site, _):
        yield site.base
    clock.set_now(None)


def _learner_with_password(admin, email="ada@example.com", pool=None, **kwargs):
    pool = pool or make_pool(admin, 3)
    database.connect(reuse_if_open=True)
    registrations.assign(admin, pool, [learners.LearnerSpec(email, "Ada", "Lovelace", PASSWORD)], **kwargs)
    database.close()
    return pool


def test_sign_in_see_trainings_sign_out(portal, admin):
    _learner_with_password(admin)
    b = Browser(portal)
    assert b.get("/me").status == 302  # not signed in: to the sign-in page
    page = b.post("/signin", {"email": "ADA@example.com", "password": PASSWORD})
    assert page.status == 303 and page.headers["Location"].endswith("/me")
    cookie = next(c for c in b.jar if c.name == "regtui_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    me = b.get("/me")
    assert me.status == 200 and "Session" in me.body and "active" in me.body
    assert b.post("/signout", {}).status == 303
    assert b.get("/me").status == 302


def test_unknown_address_and_wrong_password_get_the_same_answer(portal, admin):
    _learner_with_password(admin)
    wrong = Browser(portal).post("/signin", {"email": "ada@example.com", "password": "not the password"})
    unknown = Browser(portal).post("/signin", {"email": "nobody@example.com", "password": "not the password"})
    assert wrong.status == unknown.status == 401
    sentence = re.compile(r'role="alert">([^<]+)<')
    assert sentence.search(wrong.body).group(1) == sentence.search(unknown.body).group(1)


def test_a_post_without_the_csrf_token_is_refused(portal, admin):
    _learner_with_password(admin)
    b = Browser(portal)
    assert b.post("/signin", {"email": "ada@example.com", "password": PASSWORD}, csrf=False).status == 403
    assert b.post("/signin", {"email": "ada@example.com", "password": PASSWORD, "csrf": "forged"}).status == 403
    assert b.get("/me").status == 302


def test_sign_in_is_rate_limited_per_client(portal, admin):
    _learner_with_password(admin)
    b = Browser(portal)
    statuses = [b.post("/signin", {"email": f"x{i}@example.com", "password": "nope nope"}).status for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # the right password is refused too while the client is over the limit, and works after the window
    assert b.post("/signin", {"email": "ada@example.com", "password": PASSWORD}).status == 429
    clock.set_now(clock.now() + dt.timedelta(minutes=11))
    assert b.post("/signin", {"email": "ada@example.com", "password": PASSWORD}).status == 303


def test_an_access_whose_end_passed_reads_ended_on_me(portal, admin):
    today = clock.today()
    _learner_with_password(admin, dates=[(today, today + dt.timedelta(days=3))])
    b = Browser(portal)
    b.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert "<td>active</td>" in b.get("/me").body
    clock.set_now(clock.now() + dt.timedelta(days=5))
    assert b.get("/me").status == 302  # idle for days: signed out
    b.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert "<td>ended</td>" in b.get("/me").body


def test_forgot_password_mails_a_link_only_to_accounts_and_says_the_same(portal, admin):
    _learner_with_password(admin)
    known = Browser(portal).post("/forgot", {"email": "ada@example.com"})
    unknown = Browser(portal).post("/forgot", {"email": "nobody@example.com"})
    assert known.status == unknown.status == 200
    assert re.sub(r"\s+", " ", known.body) == re.sub(r"\s+", " ", unknown.body)
    database.connect(reuse_if_open=True)
    mails = list(OutboxEmail.select().where(OutboxEmail.subject == "Choose a new password"))
    database.close()
    assert [m.to for m in mails] == ["ada@example.com"]


def test_a_reset_link_sets_a_new_password_and_ends_old_sessions(portal, admin):
    _learner_with_password(admin)
    old = Browser(portal)
    old.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert old.get("/me").status == 200
    database.connect(reuse_if_open=True)
    learner = learners.find("ada@example.com")
    link, _ = learners.password_link(learner)
    database.close()
    path = urllib.parse.urlsplit(link).path
    b = Browser(portal)
    assert b.post(path, {"password": "a brand new passphrase", "confirm": "a brand new passphrase"},
                  csrf=False).status == 200
    assert old.get("/me").status == 302  # the session from before the new password is over
    assert b.post("/signin", {"email": "ada@example.com", "password": "a brand new passphrase"}).status == 303


def test_redeem_a_shared_code_first_wins(portal, admin):
    pool = make_pool(admin, 3)
    other_pool = make_pool(admin, 2)
    _learner_with_password(admin, "ada@example.com", other_pool)
    _learner_with_password(admin, "grace@example.com", make_pool(admin, 2))
    database.connect(reuse_if_open=True)
    code = codes.share_one(admin, pool)
    database.close()

    ada, grace = Browser(portal), Browser(portal)
    ada.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    grace.post("/signin", {"email": "grace@example.com", "password": PASSWORD})
    done = ada.post("/redeem", {"code": code.lower()})
    assert done.status == 303
    assert ada.get("/me").body.count("<td>active</td>") == 2
    taken = grace.post("/redeem", {"code": code})
    assert taken.status == 409 and "already redeemed" in taken.body


def test_an_unshared_code_looks_like_no_code_and_near_misses_lock_the_group(portal, admin):
    pool = make_pool(admin, 3)
    _learner_with_password(admin, "ada@example.com", make_pool(admin, 2))
    database.connect(reuse_if_open=True)
    shared = codes.share_one(admin, pool)
    unshared = Code.select().where((Code.pool == pool.id) & (Code.code != shared)).first().code
    database.close()

    b = Browser(portal)
    b.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    refused = b.post("/redeem", {"code": unshared})
    nonsense = b.post("/redeem", {"code": "ZZZZ-ZZZZ"})
    sentence = re.compile(r'role="alert">([^<]+)<')
    assert refused.status == nonsense.status == 400
    assert sentence.search(refused.body).group(1) == sentence.search(nonsense.body).group(1)

    group = shared.split("-")[0]
    for n in range(codes.LOCK_AFTER):
        clock.set_now(clock.now() + dt.timedelta(minutes=5))  # stay inside the rate limits
        b.post("/redeem", {"code": f"{group}-{n}{n}{n}{n}"[:len(shared)]})
    clock.set_now(clock.now() + dt.timedelta(minutes=5))
    locked = b.post("/redeem", {"code": shared})
    assert locked.status == 400  # its group took too many wrong tries: locked until shared again


@pytest.mark.parametrize("typed", ["\x1b]52;c;aGk=\x07", "' OR 1=1 --", "A" * 5000, "%00", "Q2PR-AN5H\r\nX: y"])
def test_hostile_codes_are_plain_refusals(portal, admin, typed):
    _learner_with_password(admin, "ada@example.com")
    b = Browser(portal)
    b.post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    answer = b.post("/redeem", {"code": typed})
    assert answer.status == 400 and "\x1b" not in answer.body


def test_redeem_needs_a_signed_in_learner(portal):
    b = Browser(portal)
    assert b.get("/redeem").status == 302
    assert b.post("/redeem", {"code": "Q2PR-AN5H", "csrf": "x"}).status == 403


def test_an_account_made_on_a_claim_page_cannot_sign_in_until_its_address_is_proven(portal, admin):
    from regtui.core.models import Learner

    _learner_with_password(admin)
    database.connect(reuse_if_open=True)
    Learner.update(unverified=True).where(Learner.email_key == "ada@example.com").execute()
    database.close()
    refused = Browser(portal).post("/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert refused.status == 401 and "Confirm your email address" in refused.body
    # a wrong password still gets the plain answer: nothing tells the account apart
    wrong = Browser(portal).post("/signin", {"email": "ada@example.com", "password": "not it at all"})
    assert "Confirm" not in wrong.body

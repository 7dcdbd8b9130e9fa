"""The roster page for HR (/staff) over real HTTP: waitress on loopback, urllib with a cookie jar
as the browser. Sign-in, CSRF, pools, upload, the dry-run diff, apply, stale plans, other customers."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import openpyxl
import pyotp
import pytest

from conftest import ROOT
from regtui.core import clock
from regtui.core.models import Batch, Pool, StaffCredential
from regtui.core.services import catalog, customers, orders, operators, staff
from test_core_support import dump
from test_web import Response, running
from tests import cookie_browser
from tests.cookie_browser import csrf_of

pytestmark = pytest.mark.storage
PASSWORD = "a long staff passphrase"


class Browser(cookie_browser.Browser):
    def sign_in(self, name: str, password: str = PASSWORD, code: str = "") -> Response:
        return self.post("/staff/signin", {"csrf": self.csrf("/staff/signin"), "name": name, "password": password,
                                           "code": code})


def field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def make_pool(admin, customer_name: str, number: str, seats_n: int = 10) -> Pool:
    product = catalog.find_product("PY") if Pool.select().count() else catalog.add_product(admin, "PY", "Python")
    session = catalog.add_session(admin, product, f"PY-{number}", f"Python {number}", access_days=365)
    customer = customers.add(admin, customer_name, f"hr{number}@example.com")
    _, [pool] = orders.add(admin, customer, [orders.OrderLine(session, seats_n)], number=number)
    return pool


@pytest.fixture
def world(db, db_url, admin):
    """Two customers' pools; hana manages the first, olga the second; both have passwords."""
    mine = make_pool(admin, "Tailspin Toys", "1001")
    theirs = make_pool(admin, "Contoso Health", "2002")
    operators.set_operator(admin, "hana", "manager", customers.find("Tailspin Toys"))
    operators.set_operator(admin, "olga", "manager", customers.find("Contoso Health"))
    for name in ("hana", "olga"):
        staff.set_password(admin, name, PASSWORD)
    db.close()
    with running(db_url) as (site, _):
        yield site.base, mine.id, theirs.id


def roster_csv(*rows: str) -> bytes:
    return ("email,first_name,last_name,action\n" + "\n".join(rows) + "\n").encode()


def test_sign_in_out_and_pages_need_a_session(world):
    base, mine, theirs = world
    b = Browser(base)
    assert b.get("/staff/pools").status == 200 and "Sign in" in b.get("/staff/pools").body  # redirected
    wrong = b.sign_in("hana", "not the password")
    assert wrong.status == 401 and "do not match" in wrong.body
    assert b.sign_in("nobody", PASSWORD).body == wrong.body.replace('value="hana"', 'value="nobody"')
    ok = b.sign_in("hana")
    assert ok.status == 200 and "hana (manager)" in ok.body and "Tailspin Toys" in ok.body
    assert "Contoso Health" not in ok.body  # a manager sees only their customer's pools
    cookie = next(c for c in b.jar if c.name == "regtui_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    out = b.post("/staff/signout", {"csrf": b.csrf("/staff/pools")})
    assert out.status == 200 and "Sign in" in out.body
    assert "Sign in" in b.get("/staff/rosters").body


def test_the_cookie_attributes_and_headers(world):
    base, _, _ = world
    req = urllib.request.Request(base + "/staff/signin")
    with urllib.request.urlopen(req) as resp:
        set_cookie = resp.headers["Set-Cookie"]
        headers = dict(resp.headers)
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    assert "default-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in urllib.request.urlopen(base + "/staff/signin").read().decode()


def test_csrf_is_refused_on_every_form(world):
    base, mine, _ = world
    b = Browser(base)
    assert b.post("/staff/signin", {"name": "hana", "password": PASSWORD}).status == 403
    b.sign_in("hana")
    assert b.post("/staff/signout", {"csrf": "forged"}).status == 403
    r = b.post_file("/staff/rosters", {"csrf": "x" * 43, "pool": str(mine)}, "r.csv", roster_csv("a@example.com,A,B,create"))
    assert r.status == 403
    other = Browser(base)  # another session's token is not this session's
    other.sign_in("olga")
    r = b.post_file("/staff/rosters", {"csrf": other.csrf("/staff/rosters"), "pool": str(mine)}, "r.csv",
                    roster_csv("a@example.com,A,B,create"))
    assert r.status == 403
    # and a cross-site post is refused whatever it carries
    req = urllib.request.Request(base + "/staff/signin", data=b"name=hana", method="POST",
                                 headers={"Origin": "https://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 403


def test_upload_diff_report_apply(world):
    base, mine, _ = world
    b = Browser(base)
    b.sign_in("hana")
    before = dump()
    data = roster_csv("ann@example.com,Ann,Lee,create", "ben@example.com,Ben,Ng,invite", "bad@@example.com,Bad,Row,create",
                      "cat@example.com,Cat,Poe,delete")
    r = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(mine)}, "people.csv", data)
    assert r.status == 200, r.body
    assert "Plan for pool" in r.body and "ann@example.com" in r.body
    assert re.search(r"<strong>1</strong> create", r.body) and re.search(r"<strong>2</strong> error", r.body)
    assert "more than one @" in r.body and "is not an action" in r.body  # each error says how to fix it
    assert re.search(r'<td class="num">4</td><td>error</td>', r.body)  # with its spreadsheet row number
    assert "10</strong> available before, <strong>8</strong> after" in r.body
    assert "Apply this plan" not in r.body  # errors block applying
    report = re.search(r'href="(/staff/rosters/[^"]+/report)"', r.body).group(1)
    status, xlsx, headers = b.get_bytes(report)
    assert status == 200 and xlsx[:2] == b"PK" and "people-report.xlsx" in headers["Content-Disposition"]
    assert dump() == before  # a plan changes nothing

    good = roster_csv("ann@example.com,Ann,Lee,create", "ben@example.com,Ben,Ng,invite")
    r = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": ""}, "good.csv",
                    good.replace(b"action\n", b"action,pool\n").replace(b"create\n", b"create,1001-1\n").replace(
                        b"invite\n", b"invite,1001-1\n"))
    assert r.status == 200 and "Apply this plan" in r.body, r.body  # the pool taken from the file
    apply_path = re.search(r'action="(/staff/rosters/[^"]+/apply)"', r.body).group(1)
    done = b.post(apply_path, {"csrf": csrf_of(r.body), "mac": field(r.body, "mac")})
    assert done.status == 200 and "Applied: batch" in done.body, done.body
    assert "1 create, 0 assign, 1 invite" in done.body and "Seats available now: <strong>8</strong>" in done.body
    batch = Batch.select().order_by(Batch.id.desc()).first()
    assert batch.operator == "hana" and batch.file_name == "good.csv"
    # the same upload cannot be applied twice
    assert b.post(apply_path, {"csrf": csrf_of(r.body), "mac": field(r.body, "mac")}).status == 404


def test_a_stale_or_forged_plan_is_refused(world, tmp_path):
    base, mine, _ = world
    hana, other = Browser(base), Browser(base)
    hana.sign_in("hana")
    r = hana.post_file("/staff/rosters", {"csrf": hana.csrf("/staff/rosters"), "pool": str(mine)}, "a.csv",
                       roster_csv("ann@example.com,Ann,Lee,create"))
    apply_path = re.search(r'action="(/staff/rosters/[^"]+/apply)"', r.body).group(1)
    forged = hana.post(apply_path, {"csrf": csrf_of(r.body), "mac": "0" * 64})
    assert forged.status == 409 and "nothing was applied" in forged.body
    # someone else takes a seat of the pool meanwhile: the plan shown is no longer the plan
    other.sign_in("hana")
    r2 = other.post_file("/staff/rosters", {"csrf": other.csrf("/staff/rosters"), "pool": str(mine)}, "b.csv",
                         roster_csv("zed@example.com,Zed,Z,create"))
    applied = other.post(re.search(r'action="(/staff/rosters/[^"]+/apply)"', r2.body).group(1),
                         {"csrf": csrf_of(r2.body), "mac": field(r2.body, "mac")})
    assert applied.status == 200
    before = dump()
    stale = hana.post(apply_path, {"csrf": csrf_of(r.body), "mac": field(r.body, "mac")})
    assert stale.status == 409 and "changed since" in stale.body
    assert dump() == before


def test_a_manager_is_refused_another_customers_pool(world):
    base, mine, theirs = world
    b = Browser(base)
    b.sign_in("hana")
    before = dump()
    r = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(theirs)}, "x.csv",
                    roster_csv("x@example.com,X,Y,create"))
    assert r.status == 403 and "another customer" in r.body
    # nor by the file's pool column, nor another operator's upload
    r = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": ""}, "x.csv",
                    b"email,action,pool\nx@example.com,create,2002-1\n")
    assert r.status == 403
    olga = Browser(base)
    olga.sign_in("olga")
    mine_upload = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(mine)}, "m.csv",
                              roster_csv("m@example.com,M,N,create"))
    apply_path = re.search(r'action="(/staff/rosters/[^"]+/apply)"', mine_upload.body).group(1)
    assert olga.post(apply_path, {"csrf": olga.csrf("/staff/rosters"), "mac": field(mine_upload.body, "mac")}).status == 404
    assert olga.get(apply_path.replace("/apply", "/report")).status == 404
    assert dump() == before


def test_hostile_uploads_get_one_sentence(world):
    base, mine, _ = world
    b = Browser(base)
    b.sign_in("hana")
    before = dump()
    for name, data in [("x.xlsx", b"PK\x03\x04 not really a zip"), ("e.csv", b""), ("bin.csv", bytes(range(256)) * 10),
                       ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 600)]:
        r = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(mine)}, name, data)
        assert r.status in (400, 409), (name, r.status)
        assert 'class="error"' in r.body and "Traceback" not in r.body
    big = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(mine)}, "big.csv",
                      b"email\n" + b"a" * (50 * 1024 * 1024 - 5))  # one byte over 50 MB
    assert big.status == 413 and "larger than 50 MB" in big.body
    # far over: waitress answers 413 before the body is read, or cuts the connection
    try:
        huge = b.post_file("/staff/rosters", {"csrf": b.csrf("/staff/rosters"), "pool": str(mine)}, "huge.csv",
                           b"a" * (60 * 1024 * 1024))
        assert huge.status == 413
    except urllib.error.URLError:
        pass
    assert dump() == before


def test_sign_in_is_rate_limited(world):
    base, _, _ = world
    b = Browser(base)
    statuses = [b.sign_in("hana", "wrong guess").status for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert b.sign_in("hana").status == 429  # even the right password waits


def test_totp_and_idle_timeout(db, db_url, admin):
    make_pool(admin, "Tailspin Toys", "1001")
    operators.set_operator(admin, "hana", "manager", customers.find("Tailspin Toys"))
    staff.set_password(admin, "hana", PASSWORD)
    uri = staff.enable_totp(admin, "hana")
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["secret"][0]
    clock.set_now(None)
    db.close()
    with running(db_url) as (site, _):
        b = Browser(site.base)
        assert b.sign_in("hana").status == 401  # the code is needed
        code = pyotp.TOTP(secret).now()
        assert b.sign_in("hana", code=code).status == 200
        assert Browser(site.base).sign_in("hana", code=code).status == 401  # a code is used once
        assert "hana (manager)" in b.get("/staff/pools").body
        later = clock.now() + staff_idle() + __import__("datetime").timedelta(seconds=5)
        clock.set_now(later)
        try:
            r = b.get("/staff/pools")
            assert "signed out after a while" in r.body
        finally:
            clock.set_now(None)


def staff_idle():
    from regtui.web.staff import IDLE

    return IDLE


def test_password_and_totp_commands(cli, admin):
    r = cli("operators", "add", "hana", "--role", "limited")
    assert r.returncode == 0
    r = cli("operators", "password", "hana", "--password-stdin", input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert StaffCredential.select().count() == 1 and PASSWORD not in StaffCredential.get().password_hash
    weak = cli("operators", "password", "hana", "--password-stdin", input="short\n")
    assert weak.returncode == 1 and "Traceback" not in weak.stderr
    r = cli("operators", "password", "hana", input=PASSWORD)
    assert r.returncode == 2 and "--password-stdin" in r.stderr  # no terminal to ask on
    r = cli("operators", "totp", "hana")
    assert r.returncode == 0 and "otpauth://totp/" in r.stdout
    assert cli("operators", "password", "nobody", "--password-stdin", input=PASSWORD + "\n").returncode == 2

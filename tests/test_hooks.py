"""Webhooks out (Standard Webhooks) and the pull API, over real HTTP on loopback both ways.

The receiver is an http.server on 127.0.0.1 that checks every delivery with the reference
``standardwebhooks`` library. Time is moved with REGTUI_NOW (the retry schedule), never slept.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from regtui.core import clock
from regtui.core.models import HookDelivery, database
from regtui.core.services import endpoints, learners, registrations

from tests.test_core_support import make_pool
from tests.test_web import running

pytestmark = pytest.mark.storage


class Receiver:
    """A loopback webhook receiver: records each request; answers from ``answers`` (then 204)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.secret: str | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(status)
                if status == 307:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()

            def do_HEAD(self):
                self.send_response(405)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, index: int, *, check_time: bool = True) -> dict:
        """The request's payload after the reference library checked its signature."""
        req = self.requests[index]
        wh = Webhook(self.secret)
        if check_time:
            return wh.verify(req["body"], req["headers"])
        headers = {k.lower(): v for k, v in req["headers"].items()}
        when = dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.timezone.utc)
        expected = wh.sign(headers["webhook-id"], when, req["body"].decode())
        if expected != headers["webhook-signature"]:
            raise WebhookVerificationError("No matching signature found")
        return json.loads(req["body"])


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def _endpoint(admin, receiver, events=None):
    row, secret = endpoints.add(admin, receiver.url, event_patterns=events, allow_private=True)
    receiver.secret = secret
    return row


def _assign(admin, pool, email="ada@example.com"):
    return registrations.assign(admin, pool, [learners.LearnerSpec(email, "Ada", "Lovelace")])


def test_an_assigned_seat_reaches_the_receiver_signed(db, admin, receiver, cli):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver)
    _assign(admin, pool)
    database.close()

    result = cli("hooks", "deliver")
    assert result.returncode == 0, result.stderr
    kinds = [receiver.verified(i)["type"] for i in range(len(receiver.requests))]
    assert "access.granted" in kinds and "learner.created" in kinds
    granted = next(receiver.verified(i) for i in range(len(receiver.requests))
                   if receiver.verified(i)["type"] == "access.granted")
    data = granted["data"]
    assert data["learner"] == {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    assert data["status"] == "active" and data["session"] and data["product"] and data["customer"]["name"]
    assert granted["timestamp"].endswith("Z")

    # delivered once: the next run sends nothing
    before = len(receiver.requests)
    assert cli("hooks", "deliver").returncode == 0
    assert len(receiver.requests) == before


def test_a_failed_delivery_comes_again_later_with_the_same_id(db, admin, receiver, cli):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.granted")
    _assign(admin, pool)
    database.close()
    receiver.answers = [500]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

    first = cli("hooks", "deliver", env={"REGTUI_NOW": now.isoformat()})
    assert first.returncode == 1 and "will be retried" in first.stdout
    assert len(receiver.requests) == 1
    # not due yet 3 s later: nothing sent
    cli("hooks", "deliver", env={"REGTUI_NOW": (now + dt.timedelta(seconds=3)).isoformat()})
    assert len(receiver.requests) == 1
    # due after the first backoff step (5 s)
    again = cli("hooks", "deliver", env={"REGTUI_NOW": (now + dt.timedelta(seconds=6)).isoformat()})
    assert again.returncode == 0, again.stderr
    assert len(receiver.requests) == 2
    ids = [{k.lower(): v for k, v in r["headers"].items()}["webhook-id"] for r in receiver.requests]
    assert ids[0] == ids[1]
    assert receiver.verified(1, check_time=False)["type"] == "access.granted"
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]

    log = json.loads(cli("hooks", "log", "--json").stdout)
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 2


def test_a_forged_signature_is_what_the_reference_library_refuses(db, admin, receiver):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.granted")
    _assign(admin, pool)
    endpoints.deliver_due(admin)
    req = receiver.requests[0]
    tampered = req["body"].replace(b"ada@example.com", b"eve@example.com")
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secret).verify(tampered, req["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(req["body"], req["headers"])


def test_events_of_one_access_arrive_in_order(db, admin, receiver):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.*")
    seating = _assign(admin, pool)[0]
    registrations.revoke(admin, pool, ["ada@example.com"])
    receiver.answers = [503]  # the grant fails first: the revoke must wait for it
    now = clock.now()
    endpoints.deliver_due(admin)
    assert [receiver.verified(i)["type"] for i in range(len(receiver.requests))] == ["access.granted"]
    clock.set_now(now + dt.timedelta(seconds=10))
    try:
        endpoints.deliver_due(admin)
    finally:
        clock.set_now(None)
    kinds = [json.loads(r["body"])["type"] for r in receiver.requests]
    assert kinds == ["access.granted", "access.granted", "access.revoked"]
    assert seating is not None


def test_gone_disables_the_endpoint_and_retry_now_enables_it(db, admin, receiver):
    pool = make_pool(admin, 3)
    row = _endpoint(admin, receiver, events="access.granted")
    _assign(admin, pool)
    receiver.answers = [410]
    report = endpoints.deliver_due(admin)
    assert report.disabled == 1
    assert endpoints.listing(admin)[0].disabled == "gone (410)"
    _assign(admin, pool, "grace@example.com")
    endpoints.deliver_due(admin)
    assert len(receiver.requests) == 1  # a disabled endpoint is sent nothing
    endpoints.retry_now(admin, row.id)
    endpoints.deliver_due(admin)
    assert len(receiver.requests) == 3


def test_a_redirect_is_a_failure_and_never_followed(db, admin, receiver):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.granted")
    _assign(admin, pool)
    receiver.answers = [307]
    report = endpoints.deliver_due(admin)
    assert report.failed == 1 and report.delivered == 0
    assert "redirect" in endpoints.log(admin)[0].last_error


def test_the_retry_schedule_gives_up_after_its_last_step(db, admin, receiver):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.granted")
    _assign(admin, pool)
    receiver.answers = [500] * 20
    start = clock.now()
    when = start
    try:
        for step in [dt.timedelta(0), *endpoints.RETRY_DELAYS]:
            when += step + dt.timedelta(seconds=1)
            clock.set_now(when)
            endpoints.deliver_due(admin)
    finally:
        clock.set_now(None)
    assert len(receiver.requests) == endpoints.MAX_ATTEMPTS == 8
    assert endpoints.log(admin)[0].status == "failed"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "http://user:pw@example.com/",
                                 "http://example.com/\r\nX: y", "javascript:alert(1)"])
def test_bad_urls_are_refused_when_added(db, admin, url):
    with pytest.raises(Exception) as info:
        endpoints.add(admin, url, allow_private=True)
    assert "URL" in str(info.value) or "user name" in str(info.value)
    assert endpoints.listing(admin) == []


def test_private_addresses_need_an_admins_allow_private(db, admin, cli):
    database.close()
    result = cli("hooks", "add", "http://127.0.0.1:9/x")
    assert result.returncode == 1 and "--allow-private" in result.stderr
    result = cli("hooks", "add", "http://10.1.2.3/x", "--allow-private", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["secret"].startswith("whsec_")
    assert "whsec_" not in cli("hooks").stdout  # the secret is shown once only


def test_unknown_event_patterns_are_refused(db, admin):
    with pytest.raises(Exception) as info:
        endpoints.add(admin, "http://10.0.0.1/", event_patterns="access.nope", allow_private=True)
    assert "matches no event" in str(info.value)


def test_a_database_copy_holds_no_endpoint_secret(db, admin, receiver):
    _endpoint(admin, receiver)
    raw = receiver.secret.removeprefix("whsec_")
    for (text,) in database.execute_sql('SELECT url || events || nonce FROM "endpoint"').fetchall():
        assert raw not in text


def test_a_host_that_later_resolves_to_a_private_address_is_not_sent_to(db, admin, receiver, monkeypatch):
    """DNS rebinding: the name resolved to a public address when it was added and to loopback
    when a delivery goes out. Each delivery checks the address it connects to."""
    pool = make_pool(admin, 3)
    url = receiver.url.replace("127.0.0.1", "localhost")
    with monkeypatch.context() as m:
        m.setattr(endpoints, "_resolve", lambda host: ["93.184.215.14"])  # public when added
        endpoints.add(admin, url, event_patterns="access.granted", probe=lambda url: None)
    # from now on, the machine's own resolver: localhost is 127.0.0.1
    _assign(admin, pool)

    report = endpoints.deliver_due(admin)
    assert receiver.requests == [] and report.delivered == 0
    assert "private or local address (127.0.0.1)" in endpoints.log(admin)[0].last_error


def test_an_endpoint_an_admin_allowed_private_is_still_sent_to(db, admin, receiver):
    pool = make_pool(admin, 3)
    _endpoint(admin, receiver, events="access.granted")  # allow_private=True
    _assign(admin, pool)
    assert endpoints.deliver_due(admin).delivered == 1 and len(receiver.requests) == 1


def test_upgrading_keeps_endpoints_written_as_private_addresses_allowed(db, admin):
    from regtui.core import db as dbmod
    from regtui.core.models import Endpoint

    for url in ("http://10.0.0.1/a", "http://localhost:9/b", "http://hooks.example.com/c"):
        Endpoint.create(url=url, nonce="n", allow_private=False)
    dbmod._endpoint_allow_private()  # the schema-10 step, on endpoints from before it
    allowed = dict(Endpoint.select(Endpoint.url, Endpoint.allow_private).tuples())
    assert allowed == {"http://10.0.0.1/a": True, "http://localhost:9/b": True, "http://hooks.example.com/c": False}


def test_limited_admins_and_managers_cannot_add_endpoints(db, admin, cli):
    from regtui.core.errors import NotAllowed
    from regtui.core.services.permissions import Actor

    for role in ("limited", "manager"):
        with pytest.raises(NotAllowed):
            endpoints.add(Actor("x", role, 1 if role == "manager" else None), "http://10.0.0.1/", allow_private=True)


# --- the pull API -----------------------------------------------------------------------------


def _get(site, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return site.get(path, headers=headers)


@pytest.fixture
def api(db, db_url):
    db.close()
    with running(db_url) as (served, _):
        yield served


def test_the_pull_api_needs_a_token(api, admin, cli):
    from regtui.core.services import apitokens

    database.connect(reuse_if_open=True)
    token = apitokens.add(admin, "lms")
    database.close()
    assert _get(api, "/api/v1/accesses").status == 401
    assert _get(api, "/api/v1/accesses", "rgt_" + "x" * 43).status == 401
    assert _get(api, "/api/v1/accesses", token + "x").status == 401
    ok = _get(api, "/api/v1/accesses", token)
    assert ok.status == 200 and json.loads(ok.body) == {"accesses": [], "next_cursor": "0", "has_more": False}
    assert "token" not in cli("tokens", "--json").stdout.lower().replace('"name"', "")


def test_wrong_tokens_are_rate_limited(api):
    statuses = [_get(api, "/api/v1/accesses", f"rgt_guess{i}").status for i in range(25)]
    assert statuses[:20] == [401] * 20 and 429 in statuses[20:]


def test_the_pull_api_pages_through_changes_with_a_cursor(api, admin):
    from regtui.core.services import apitokens

    database.connect(reuse_if_open=True)
    token = apitokens.add(admin, "lms")
    pool = make_pool(admin, 5)
    for i in range(5):
        _assign(admin, pool, f"l{i}@example.com")
    registrations.revoke(admin, pool, ["l0@example.com"])
    database.close()

    seen: dict[int, str] = {}
    cursor = "0"
    pages = 0
    while True:
        page = json.loads(_get(api, f"/api/v1/accesses?changed_since={cursor}&limit=2", token).body)
        for access in page["accesses"]:
            seen[access["access_id"]] = access["status"]
        cursor = page["next_cursor"]
        pages += 1
        if not page["has_more"]:
            break
    assert len(seen) == 5 and sorted(seen.values()) == ["active"] * 4 + ["revoked"]
    assert pages >= 3
    # nothing new after the last cursor
    assert json.loads(_get(api, f"/api/v1/accesses?changed_since={cursor}", token).body)["accesses"] == []
    mine = json.loads(_get(api, "/api/v1/learners/L1@Example.com/accesses", token).body)
    assert [a["learner"]["email"] for a in mine["accesses"]] == ["l1@example.com"]
    assert _get(api, "/api/v1/accesses?changed_since=-1", token).status == 400
    assert _get(api, "/api/v1/accesses?changed_since=%C2%B2", token).status == 400


def test_an_endpoint_that_does_not_answer_is_tried_once_per_run(db, admin):
    pool = make_pool(admin, 5)
    endpoints.add(admin, "http://127.0.0.1:9/nothing-listens-here", allow_private=True)
    for i in range(3):
        _assign(admin, pool, f"l{i}@example.com")
    calls = []

    def post(url, body, headers):
        calls.append(url)
        return None, {}, "no answer: connection refused"

    report = endpoints.deliver_due(admin, post=post)
    assert len(calls) == 1 and report.retrying == 1
    pending = HookDelivery.select().where(HookDelivery.status == "pending").count()
    assert pending == HookDelivery.select().count()  # nothing lost, nothing given up
    assert HookDelivery.select().where(HookDelivery.attempts > 0).count() == 1


def test_a_sender_killed_mid_delivery_loses_nothing(db, admin, cli):
    """kill -9 while the receiver holds the request: after the stale window the delivery goes again."""
    import signal
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(5)  # accepts the connection and never answers
    url = f"http://127.0.0.1:{hang.getsockname()[1]}/hook"
    pool = make_pool(admin, 3)
    endpoints.add(admin, url, event_patterns="access.granted", allow_private=True, probe=lambda url: None)
    _assign(admin, pool)
    database.close()

    proc = subprocess.Popen([sys.executable, "-m", "regtui", "hooks", "deliver"], cwd=ROOT, env=dict(os.environ))
    conn, _ = hang.accept()  # the sender is now waiting for an answer
    conn.settimeout(30)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, "the sender closed the connection"
        received += chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    conn.close()
    hang.close()

    database.connect(reuse_if_open=True)
    stuck = HookDelivery.get()
    assert stuck.status == "sending"  # claimed, never answered: not lost, not delivered
    database.close()

    receiver = Receiver()
    try:
        database.connect(reuse_if_open=True)
        from regtui.core.models import Endpoint
        Endpoint.update(url=receiver.url).execute()
        database.close()
        soon = (clock.now() + dt.timedelta(minutes=1)).isoformat()
        assert cli("hooks", "deliver", env={"REGTUI_NOW": soon}).returncode == 0
        assert receiver.requests == []  # still within the stale window: another sender may hold it
        later = (clock.now() + endpoints.STALE_SENDING + dt.timedelta(minutes=1)).isoformat()
        assert cli("hooks", "deliver", env={"REGTUI_NOW": later}).returncode == 0
        assert len(receiver.requests) == 1
        assert json.loads(receiver.requests[0]["body"])["type"] == "access.granted"
    finally:
        receiver.server.shutdown()


def test_the_pull_api_pages_through_100k_accesses(api, admin, db_url):
    """A pool of 100,000 seats given in one set-based assign; a platform pages through all of it.
    On SQLite only: the same queries page the PostgreSQL database in the smaller test above."""
    from regtui.core.services import apitokens

    if not db_url.startswith("sqlite"):
        pytest.skip("the 100,000-access walk runs on SQLite; PostgreSQL pages in the smaller test")
    n = 100_000
    database.connect(reuse_if_open=True)
    token = apitokens.add(admin, "lms")
    pool = make_pool(admin, n)
    registrations.assign(admin, pool, [learners.LearnerSpec(f"l{i:06d}@example.com") for i in range(n)])
    database.close()

    seen: set[int] = set()
    cursor, pages = "0", 0
    while True:
        page = json.loads(_get(api, f"/api/v1/accesses?changed_since={cursor}", token).body)
        seen.update(a["access_id"] for a in page["accesses"])
        assert all(a["status"] == "active" for a in page["accesses"])
        cursor, pages = page["next_cursor"], pages + 1
        if not page["has_more"]:
            break
    assert len(seen) == n and pages == n // 1000

"""The outbox as a hostile reader and a flaky server see it: no live link in the database, 4xx
backed off and given up, exit codes of `mail send`, a sender killed mid-send, IDN domains,
withdrawn emails of cancelled invitations and removed seats, and who may count the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from conftest import ROOT
from regtui.core import clock, mailer
from regtui.core.models import Invitation, OutboxEmail, database
from regtui.core.services import customers, invitations, learners, operators, outbox, registrations, templates
from regtui.core.services.learners import LearnerSpec
from test_core_support import dump, dump_text, make_customer, make_pool, mails
from test_mail import SmtpServer, free_port, smtp  # noqa: F401 (smtp: the server fixture)

LIVE_LINK = re.compile(rb"/(claim|set-password)/([0-9]+)\.([A-Za-z0-9_-]{20,})")


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    clock.set_now(None)


def deliver(admin) -> outbox.DeliveryReport:
    return outbox.deliver(admin, mailer.transport_from_config())


def _links_everywhere(admin):
    """An invitation, an assigned learner with no password and a new customer account: three
    emails that carry live links."""
    pool = make_pool(admin, 5)
    [inv] = invitations.invite(admin, pool, ["invitee@example.com"])
    registrations.assign(admin, pool, [LearnerSpec("seated@example.com", "Sea", "Ted")])
    customers.new_with_account(admin, "Buyer", "buyer@example.com", "Bu", "Yer")
    return pool, inv


# --- issue 8 item 4: no live link in a copy of the database ------------------------------------


@pytest.mark.storage
def test_a_copy_of_the_database_holds_no_working_link(db, db_url, admin, smtp, tmp_path):
    pool, inv = _links_everywhere(admin)
    assert len(mails()) == 3 and all(LIVE_LINK.search(m.body.encode()) for m in mails())  # as sent: links
    if db_url.startswith("sqlite"):
        database.execute_sql("PRAGMA wal_checkpoint(FULL)")
        path = db_url[len("sqlite:///"):]
        copied = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
        shutil.copy(path, tmp_path / "stolen.db")
        assert copied and b"invitee@example.com" in copied  # the copy does hold the emails
    else:
        copied = dump_text().encode()
    assert not LIVE_LINK.search(copied)
    # nor does anything in it make one without the key: the tokens are MACs of the nonces
    for kind, rid, mac in LIVE_LINK.findall(b"".join(m.body.encode() for m in mails())):
        assert mac not in copied

    report = deliver(admin)
    assert report.sent == 3
    # the emails that went out carry links that work
    body = smtp.received_by("invitee@example.com")[0].get_content()
    token = re.search(r"/claim/(\S+)", body).group(1)
    assert invitations.check(token).id == inv.id
    body = smtp.received_by("seated@example.com")[0].get_content()
    assert learners.check_password_token(re.search(r"/set-password/(\S+)", body).group(1)).email == "seated@example.com"
    # and the sent rows keep no link either
    assert all(outbox.SENT_LINK in e.body and outbox.LINK not in e.body for e in OutboxEmail.select())
    assert not LIVE_LINK.search(dump_text().encode())


@pytest.mark.storage
def test_a_batch_of_confirmations_is_rendered_by_the_database_with_the_placeholder(db, admin, smtp):
    pool = make_pool(admin, 300)
    registrations.assign(admin, pool, [LearnerSpec(f"l{i}@example.com", "L", str(i)) for i in range(300)])
    rows = list(OutboxEmail.select().order_by(OutboxEmail.id))
    assert len(rows) == 300
    assert all(r.body.count(outbox.LINK) == 1 and r.link_purpose == outbox.PASSWORD_LINK for r in rows)
    assert len({r.link_id for r in rows}) == 300 and all(r.about.startswith("access:") for r in rows)
    assert not LIVE_LINK.search(dump_text().encode())
    # the same text as the Python renderer, link in place
    learner = learners.find("l7@example.com")
    [sent] = mails("l7@example.com")
    url, _ = learners.password_link(learner)
    assert url in sent.body


@pytest.mark.storage
def test_upgrade_takes_live_links_out_of_unsent_bodies(db, admin):
    """Schema 4 on a database whose queued emails hold live links (written by an older regtui)."""
    pool = make_pool(admin, 2)
    [inv] = invitations.invite(admin, pool, ["old@example.com"])
    link = invitations.link(inv)
    OutboxEmail.update(body=f"Claim it here:\n{link}\n", link_purpose=None, link_id=None).execute()
    assert outbox.take_links_out_of_unsent_bodies() == 1
    row = OutboxEmail.get()
    assert link not in row.body and outbox.LINK in row.body
    assert (row.link_purpose, row.link_id) == ("invitation", inv.id)
    assert link in mails()[0].body


# --- issue 8 item 17: backoff of 4xx, giving up, exit codes -------------------------------------


@pytest.mark.storage
def test_4xx_backs_off_doubling_and_gives_up_after_max_attempts(db, admin, smtp):
    smtp.replies["slow@example.com"] = "452 4.2.2 mailbox full"
    pool = make_pool(admin, 2)
    invitations.invite(admin, pool, ["slow@example.com"])
    start = dt.datetime(2027, 1, 31, 9, 0)
    clock.set_now(start)
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        report = deliver(admin)
        row = OutboxEmail.get()
        assert row.attempts == attempt
        if attempt < outbox.MAX_ATTEMPTS:
            assert (report.retry, row.status) == (1, "queued")
            waits.append(row.next_attempt_at - clock.now())
            clock.set_now(row.next_attempt_at - dt.timedelta(seconds=1))
            assert deliver(admin).retry == 0  # not due a second early
            clock.set_now(row.next_attempt_at)
    assert waits == [outbox.BACKOFF * 2 ** n for n in range(outbox.MAX_ATTEMPTS - 1)]
    assert (report.failed, row.status) == (1, "failed")
    assert row.last_error.startswith(f"gave up after {outbox.MAX_ATTEMPTS} tries: 452")
    assert report.delivered_nothing
    # retry starts the count again
    assert outbox.retry_failed(admin) == 1
    del smtp.replies["slow@example.com"]
    assert deliver(admin).sent == 1 and OutboxEmail.get().attempts == 1


@pytest.mark.storage
def test_mail_send_exits_1_when_nothing_could_be_delivered(db, admin, home, cli, monkeypatch):
    pool = make_pool(admin, 3)
    database.connect(reuse_if_open=True)
    invitations.invite(admin, pool, ["ada@example.com", "bob@example.com"])
    database.close()
    port = free_port()
    env = {"REGTUI_SMTP": f"smtp://127.0.0.1:{port}?timeout=3"}
    r = cli("mail", "send", env=env)  # nobody listens
    assert r.returncode == 1 and "cannot reach the mail server" in r.stdout and "no email could be delivered" in r.stderr
    with SmtpServer(port) as server:
        server.replies = {"ada@example.com": "550 5.1.1 no such user", "bob@example.com": "554 5.7.1 rejected"}
        r = cli("mail", "send", "--json", env=env)
        assert r.returncode == 1 and '"failed": 2' in r.stdout, r.stdout
        server.replies = {}
        r = cli("mail", "retry")
        assert r.returncode == 0 and "2 failed or stuck emails queued again" in r.stdout
        server.replies = {"ada@example.com": "450 4.2.0 greylisted"}
        r = cli("mail", "send", env=env)  # one out, one to try later: a normal run
        assert r.returncode == 0, r.stdout + r.stderr
        assert [m["To"] for m in server.messages] == ["bob@example.com"]
        server.replies = {}
        r = cli("mail", "send", env=env | {"REGTUI_NOW": (clock.now() + dt.timedelta(minutes=6)).isoformat()})
        assert r.returncode == 0 and [m["To"] for m in server.messages][-1] == "ada@example.com"
    r = cli("mail", "send", env=env)  # nothing due: nothing to deliver is no failure
    assert r.returncode == 0 and "Sent 0" in r.stdout


# --- issue 8 item 16: kill -9 during `mail send` -------------------------------------------------


class HangingDelivery:
    """Takes the first message's DATA, then never answers: the sender is killed while waiting."""

    def __init__(self):
        self.got_data = threading.Event()
        self.first: bytes | None = None
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        if self.first is None:
            self.first = envelope.content
            self.got_data.set()
            await asyncio.sleep(60)
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.mark.storage
def test_kill_9_while_sending_leaves_a_stuck_email_listed_and_retried_with_its_message_id(db, admin, cli, home):
    from aiosmtpd.controller import Controller

    pool = make_pool(admin, 3)
    database.connect(reuse_if_open=True)
    invitations.invite(admin, pool, ["ada@example.com"])
    message_id = OutboxEmail.get().message_id
    database.close()
    port = free_port()
    handler = HangingDelivery()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = dict(os.environ, REGTUI_SMTP=f"smtp://127.0.0.1:{port}?timeout=120")
        sender = subprocess.Popen([sys.executable, "-m", "regtui", "mail", "send"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert handler.got_data.wait(60)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        assert message_id.encode() in handler.first  # the server may have the email: a copy is possible

        r = cli("mail", "status", "--json")
        assert '"sending": 1' in r.stdout and '"stuck": 0' in r.stdout  # within the window: maybe still sending
        later = {"REGTUI_NOW": (clock.now() + outbox.STALE_SENDING + dt.timedelta(minutes=1)).isoformat()}
        r = cli("mail", "status", env=later)
        assert r.returncode == 0 and "stuck 1" in r.stdout and "ada@example.com" in r.stdout and message_id in r.stdout
        r = cli("mail", "retry", env=later)
        assert r.returncode == 0 and "1 failed or stuck email queued again" in r.stdout
        r = cli("mail", "send", env=later | {"REGTUI_SMTP": env["REGTUI_SMTP"]})
        assert r.returncode == 0, r.stderr
        assert len(handler.messages) == 1 and message_id.encode() in handler.messages[0]  # the same Message-ID
        database.connect(reuse_if_open=True)
        row = OutboxEmail.get()
        assert row.status == "sent" and row.attempts == 1
    finally:
        controller.stop()


# --- issue 8 item 18: IDN domains as punycode --------------------------------------------------


@pytest.mark.storage
def test_idn_domain_goes_out_as_punycode_to_a_server_without_smtputf8(db, admin, home, monkeypatch):
    pool = make_pool(admin, 3)
    invitations.invite(admin, pool, ["user@bücher.example", "jörg@bücher.example"])
    port = free_port()
    monkeypatch.setenv("REGTUI_SMTP", f"smtp://127.0.0.1:{port}?timeout=5")
    with SmtpServer(port, enable_SMTPUTF8=False) as smtp:
        report = deliver(admin)
    assert (report.sent, report.failed) == (1, 1)
    assert smtp.envelopes[0][1] == ["user@xn--bcher-kva.example"]
    assert smtp.messages[0]["To"] == "user@xn--bcher-kva.example"
    failed = OutboxEmail.get(OutboxEmail.to == "jörg@bücher.example")
    assert failed.status == "failed" and "SMTPUTF8" in failed.last_error


def test_ascii_address():
    assert mailer.ascii_address("user@bücher.example") == "user@xn--bcher-kva.example"
    assert mailer.ascii_address("User@Example.com") == "User@Example.com"
    assert mailer.ascii_address("jörg@bücher.example") == "jörg@bücher.example"


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.storage
def test_header_injection_and_huge_bodies(db, admin, smtp):
    with database.atomic():
        outbox.queue("victim@example.com\r\nBcc: everyone@example.com", templates.INVITATION, templates.SAMPLE_VALUES)
        outbox.queue("big@example.com", templates.INVITATION, dict(templates.SAMPLE_VALUES, message="x" * 5_000_000))
    report = deliver(admin)
    assert (report.sent, report.failed) == (1, 1)
    assert all("everyone@example.com" not in rcpts for _, rcpts in smtp.envelopes)
    bad = OutboxEmail.get(OutboxEmail.status == "failed")
    assert "cannot build this email" in bad.last_error
    assert len(smtp.received_by("big@example.com")[0].get_content()) > 5_000_000


# --- issue 8 item 19: a manager does not count the outbox ---------------------------------------


@pytest.mark.storage
def test_a_manager_is_refused_the_outbox_counts(db, admin, cli):
    customer = make_customer(admin, "Acme", "hr@acme.example.com")
    operators.set_operator(admin, "hr-acme", "manager", customer)
    database.close()
    r = cli("--as", "hr-acme", "mail", "status")
    assert r.returncode == 3 and "needs the admin or limited role" in r.stderr and "queued" not in r.stdout
    r = cli("mail", "status")
    assert r.returncode == 0 and "queued" in r.stdout


# --- issue 10 item 2: cancelled invitations and removed seats ----------------------------------


@pytest.mark.storage
def test_cancelling_before_sending_withdraws_the_email(db, admin, smtp):
    pool = make_pool(admin, 3)
    [inv, other] = invitations.invite(admin, pool, ["ada@example.com", "bob@example.com"])
    invitations.cancel(admin, inv)
    assert [m.to for m in mails()] == ["bob@example.com"]
    assert deliver(admin).sent == 1
    assert smtp.received_by("ada@example.com") == []


@pytest.mark.storage
def test_cancelling_after_sending_tells_the_invitee(db, admin, smtp):
    pool = make_pool(admin, 3)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    deliver(admin)
    invitations.cancel(admin, inv)
    [notice] = [m for m in mails("ada@example.com") if m.status == "queued"]
    assert notice.subject.startswith("Your invitation to") and "withdrawn" in notice.subject
    assert "withdrawn" in notice.body and outbox.LINK not in notice.body and "/claim/" not in notice.body
    deliver(admin)
    assert [m["Subject"] for m in smtp.received_by("ada@example.com")][-1] == notice.subject


@pytest.mark.storage
def test_replacing_an_invitation_withdraws_the_unsent_email(db, admin, smtp):
    pool = make_pool(admin, 3)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    invitations.invite_instead(admin, inv, "bob@example.com")
    assert [m.to for m in mails()] == ["bob@example.com"]


@pytest.mark.storage
def test_a_cancel_that_is_refused_withdraws_nothing(db, admin):
    pool = make_pool(admin, 3)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    invitations.cancel(admin, inv)
    before = dump()
    with pytest.raises(Exception):
        invitations.cancel(admin, Invitation.get_by_id(inv.id))
    assert dump() == before


@pytest.mark.storage
def test_removing_a_seat_withdraws_or_tells(db, admin, smtp):
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "L"), LearnerSpec("bob@example.com", "Bob", "B")])
    deliver(admin)  # both confirmations went out
    registrations.resend(admin, pool, "bob@example.com")  # queued again, unsent
    registrations.assign(admin, pool, [LearnerSpec("cy@example.com", "Cy", "C")])  # unsent
    registrations.revoke(admin, pool, ["ada@example.com", "bob@example.com", "cy@example.com"])
    queued = [(m.to, m.subject) for m in mails() if m.status == "queued"]
    # cy's confirmation never left: withdrawn, nothing to tell; bob's resend withdrawn, but he was told
    assert sorted(queued) == [("ada@example.com", f"Your access to {pool.session.name} was removed"),
                              ("bob@example.com", f"Your access to {pool.session.name} was removed")]
    [notice] = [m for m in mails("ada@example.com") if m.status == "queued"]
    assert "Hello Ada" in notice.body and clock.today().isoformat() in notice.body
    deliver(admin)
    assert smtp.received_by("cy@example.com") == []


def test_the_new_templates_are_seeded_and_editable(db, admin):
    names = {t.name for t in templates.list_templates()}
    assert {templates.INVITATION_WITHDRAWN, templates.ACCESS_REMOVED} <= names
    templates.save(admin, templates.ACCESS_REMOVED, "Seat removed: $session", "Bye $first_name.\n")
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "L")])
    OutboxEmail.update(status="sent").execute()
    registrations.revoke(admin, pool, ["ada@example.com"])
    notice = mails("ada@example.com")[-1]
    assert (notice.subject, notice.body) == (f"Seat removed: {pool.session.name}", "Bye Ada.\n")


def test_no_key_no_link_email(db, admin, monkeypatch, tmp_path):
    pool = make_pool(admin, 2)
    monkeypatch.setenv("REGTUI_SECRET_KEY_FILE", str(tmp_path / "missing.key"))
    before = dump()
    with pytest.raises(Exception, match="no secret key"):
        invitations.invite(admin, pool, ["ada@example.com"])
    with pytest.raises(Exception, match="no secret key"):
        registrations.assign(admin, pool, [LearnerSpec("bob@example.com")])
    assert dump() == before


@pytest.mark.storage
def test_a_link_a_caller_put_in_the_body_itself_is_taken_out_too(db, admin):
    """Any service that renders a live link into an email (not through outbox.Link) still
    stores none: the outbox takes it out and makes it again at send time."""
    pool = make_pool(admin, 2)
    registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "L")])
    learner = learners.find("ada@example.com")
    OutboxEmail.delete().execute()
    with database.atomic():
        url, _ = learners.password_link(learner)
        outbox.queue("ada@example.com", templates.CONFIRMATION, {"first_name": "Ada", "set_password": f"Here: {url}"})
    row = OutboxEmail.get()
    assert url not in row.body and outbox.LINK in row.body and (row.link_purpose, row.link_id) == ("set-password", learner.id)
    assert not LIVE_LINK.search(dump_text().encode())
    assert url in mails()[0].body

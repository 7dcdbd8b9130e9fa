"""Mail delivery against a real SMTP server (aiosmtpd on 127.0.0.1) and into a Maildir."""

from __future__ import annotations

import mailbox
import os
import socket
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from regtui.core import db as dbmod
from regtui.core import clock, mailer
from regtui.core.errors import UsageError
from regtui.core.models import OutboxEmail, database
from regtui.core.services import outbox, templates

USER, PASSWORD = "mailer@example.com", "p@ss:w/rd %"
SMTP_PASSWORD_IN_URL = "p%40ss%3Aw%2Frd%20%25"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Keeps every message the server accepted; answers ``replies[address]`` to RCPT TO instead."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self.replies: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.replies:
            return self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def received_by(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int, **smtp_options):
        self.port = port
        self.recorder = Recorder()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=port, **smtp_options)

    def __enter__(self) -> Recorder:
        self.controller.start()
        return self.recorder

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@pytest.fixture(autouse=True)
def real_clock_after():
    """Tests move the clock (backoff) with clock.set_now; the next test starts on real time."""
    yield
    clock.set_now(None)


@pytest.fixture
def smtp(home, monkeypatch):
    """A running SMTP server that REGTUI_SMTP points at."""
    port = free_port()
    monkeypatch.setenv("REGTUI_SMTP", f"smtp://127.0.0.1:{port}?timeout=5")
    with SmtpServer(port) as recorder:
        yield recorder


def queue(*addresses: str) -> None:
    with database.atomic():
        for address in addresses:
            outbox.queue(address, templates.INVITATION, dict(templates.SAMPLE_VALUES, link=f"http://x/claim/{address}"))


def rows() -> dict[str, OutboxEmail]:
    return {e.to: e for e in OutboxEmail.select().order_by(OutboxEmail.id)}


def statuses() -> dict[str, int]:
    return dict(Counter(e.status for e in OutboxEmail.select()))


def deliver(admin) -> outbox.DeliveryReport:
    return outbox.deliver(admin, mailer.transport_from_config())


def test_queued_emails_are_sent_once_with_their_message_id(db, admin, smtp):
    queue("ada@example.com", "bob@example.com", "cy@example.com")

    report = deliver(admin)

    assert (report.sent, report.retry, report.failed) == (3, 0, 0)
    assert sorted(to for _, (to,) in smtp.envelopes) == ["ada@example.com", "bob@example.com", "cy@example.com"]
    for address, email in rows().items():
        (received,) = smtp.received_by(address)
        assert email.status == "sent" and email.sent_at is not None and email.last_error is None
        assert received["Message-ID"] == email.message_id
        assert received["Subject"] == "You are invited to PY-2027-03 (March 2027)"
        assert received["From"] == "regtui <noreply@localhost>"
        assert received["Date"] is not None
        assert f"http://x/claim/{address}" in received.get_content()

    assert deliver(admin).sent == 0
    database.close()
    dbmod.open_database(os.environ["REGTUI_DB"])
    try:
        assert deliver(admin).sent == 0
        assert len(smtp.messages) == 3
        assert statuses() == {"sent": 3}
    finally:
        database.close()


def test_sender_address_comes_from_regtui_mail_from(db, admin, smtp, monkeypatch):
    monkeypatch.setenv("REGTUI_MAIL_FROM", "Training Desk <training@example.com>")
    queue("ada@example.com")
    deliver(admin)
    assert smtp.messages[0]["From"] == "Training Desk <training@example.com>"
    assert smtp.envelopes[0][0] == "training@example.com"


def test_try_later_stays_queued_and_goes_out_on_the_next_run(db, admin, smtp):
    smtp.replies["bob@example.com"] = "451 4.3.0 try later"
    queue("ada@example.com", "bob@example.com", "cy@example.com")

    report = deliver(admin)

    assert (report.sent, report.retry, report.failed) == (2, 1, 0)
    assert [m["To"] for m in smtp.messages] == ["ada@example.com", "cy@example.com"]
    bob = rows()["bob@example.com"]
    assert bob.status == "queued"
    assert bob.last_error == "451 4.3.0 try later"

    del smtp.replies["bob@example.com"]
    assert (deliver(admin).sent, rows()["bob@example.com"].status) == (0, "queued")  # not due yet: backoff
    clock.set_now(bob.next_attempt_at)
    report = deliver(admin)

    assert (report.sent, report.retry) == (1, 0)
    assert [m["To"] for m in smtp.messages] == ["ada@example.com", "cy@example.com", "bob@example.com"]
    bob = rows()["bob@example.com"]
    assert (bob.status, bob.last_error, bob.attempts) == ("sent", None, 2)
    assert smtp.messages[-1]["Message-ID"] == bob.message_id


def test_no_such_user_fails_with_the_server_reply_until_retried(db, admin, smtp):
    smtp.replies["nobody@example.com"] = "550 5.1.1 no such user"
    queue("nobody@example.com", "ada@example.com")

    report = deliver(admin)

    assert (report.sent, report.failed) == (1, 1)
    nobody = rows()["nobody@example.com"]
    assert nobody.status == "failed"
    assert nobody.last_error == "550 5.1.1 no such user"

    del smtp.replies["nobody@example.com"]
    assert deliver(admin).sent == 0
    assert rows()["nobody@example.com"].status == "failed"
    assert smtp.received_by("nobody@example.com") == []

    assert outbox.retry_failed(admin) == 1
    assert deliver(admin).sent == 1
    assert len(smtp.received_by("nobody@example.com")) == 1
    assert rows()["nobody@example.com"].status == "sent"


def test_server_down_keeps_everything_queued_and_ends_the_run_at_the_first_try(db, admin, home, monkeypatch):
    port = free_port()
    monkeypatch.setenv("REGTUI_SMTP", f"smtp://127.0.0.1:{port}?timeout=3")
    queue(*(f"learner{i}@example.com" for i in range(20)))

    report = deliver(admin)

    assert (report.sent, report.retry, report.failed) == (0, 1, 0)
    assert statuses() == {"queued": 20}
    first = rows()["learner0@example.com"]
    assert first.last_error.startswith(f"cannot reach the mail server at 127.0.0.1:{port}")
    assert sum(e.attempts for e in rows().values()) == 0  # an unreachable server is not the email's try

    with SmtpServer(port) as recorder:
        assert deliver(admin).sent == 20
    assert len(recorder.messages) == 20


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    if ok:
        server.event_handler.logins.append(auth_data.login.decode())
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("password, sent", [(SMTP_PASSWORD_IN_URL, True), ("wrong", False)])
def test_smtp_login(db, admin, home, monkeypatch, password, sent):
    port = free_port()
    user = USER.replace("@", "%40")
    monkeypatch.setenv("REGTUI_SMTP", f"smtp://{user}:{password}@127.0.0.1:{port}")
    queue("ada@example.com", "bob@example.com")

    with SmtpServer(port, authenticator=_authenticator, auth_required=True, auth_require_tls=False) as recorder:
        report = deliver(admin)

    if sent:
        assert report.sent == 2
        assert recorder.logins == [USER]
        assert [m["To"] for m in recorder.messages] == ["ada@example.com", "bob@example.com"]
    else:
        assert (report.sent, report.failed, recorder.messages) == (0, 0, [])
        assert statuses() == {"queued": 2}
        assert "refused the login: 535" in rows()["ada@example.com"].last_error


def test_rolled_back_change_sends_nothing(db, admin, smtp):
    with pytest.raises(RuntimeError):
        with database.atomic():
            outbox.queue("ada@example.com", templates.INVITATION, templates.SAMPLE_VALUES)
            raise RuntimeError("the change failed after queueing its email")

    assert OutboxEmail.select().count() == 0
    assert deliver(admin).sent == 0
    assert smtp.messages == []


def test_without_smtp_mail_goes_into_a_readable_maildir(db, admin, home):
    queue("ada@example.com", "bob@example.com")
    assert mailer.describe() == f"Maildir at {home / 'maildir'} (no REGTUI_SMTP set)"

    report = deliver(admin)

    assert report.sent == 2
    box = mailbox.Maildir(home / "maildir", factory=None, create=False)
    received = {m["To"]: m for m in box}
    assert set(received) == {"ada@example.com", "bob@example.com"}
    for address, email in rows().items():
        assert email.status == "sent"
        assert received[address]["Message-ID"] == email.message_id
        assert received[address]["Subject"] == email.subject
        assert f"http://x/claim/{address}" in received[address].get_payload(decode=True).decode()
    assert len(os.listdir(home / "maildir" / "new")) == 2

    assert deliver(admin).sent == 0
    assert len(box) == 2


def test_smtp_url_parts_are_read_and_percent_decoded():
    t = mailer.SmtpTransport(f"smtp://{USER.replace('@', '%40')}:{SMTP_PASSWORD_IN_URL}@mail.example.com:587?starttls=1&timeout=2.5")
    assert (t.host, t.port, t.user, t.password, t.starttls, t.timeout) == ("mail.example.com", 587, USER, PASSWORD, True, 2.5)
    assert t.describe() == f"SMTP server mail.example.com:587 (STARTTLS, as {USER})"

    t = mailer.SmtpTransport("smtp://localhost")
    assert (t.host, t.port, t.user, t.password, t.starttls, t.timeout) == ("localhost", 25, None, None, False, 10.0)
    assert t.describe() == "SMTP server localhost:25"


@pytest.mark.parametrize(
    "url",
    [
        "smtps://mail.example.com:465",
        "mail.example.com:25",
        "smtp://",
        "smtp://mail.example.com:port",
        "smtp://mail.example.com:99999",
        "smtp://mail.example.com:0",
        "smtp://mail.example.com:25?starttls=maybe",
        "smtp://mail.example.com:25?timeout=soon",
        "smtp://mail.example.com:25?timeout=0",
        "smtp://mail.example.com:25?tls=1",
        "smtp://:secret@mail.example.com:25",
        "smtp://user:secret@mail.example.com:notaport",
    ],
)
def test_malformed_smtp_url_is_a_usage_error(url, home, monkeypatch):
    monkeypatch.setenv("REGTUI_SMTP", url)
    with pytest.raises(UsageError) as err:
        mailer.transport_from_config()
    message = str(err.value)
    assert message.startswith("REGTUI_SMTP=") and message.endswith("[?starttls=1&timeout=10].")
    assert "\n" not in message
    assert "secret" not in message
    assert err.value.exit_code == 2

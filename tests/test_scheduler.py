"""Dates that happen (issue 12 part 1): the scheduler starts and ends accesses (events),
expires invitations, reminds learners and customers once each, and two schedulers at once do
each thing once (a lease in the database). Time is moved with the clock, never slept."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, run_cli
from regtui.core import clock
from regtui.core.models import Access, AuditEvent, Code, Event, Invitation, OutboxEmail, database
from regtui.core.services import access, invitations, registrations, scheduler
from regtui.core.services.learners import LearnerSpec
from test_core_support import check, make_pool

D = dt.date


@pytest.fixture(autouse=True)
def real_clock_after():
    yield
    clock.set_now(None)


def now(day: str, hour: int = 9) -> None:
    clock.set_now(dt.datetime.fromisoformat(day).replace(hour=hour))


def tick() -> scheduler.TickReport:
    report = scheduler.tick(deliver_mail=False)
    assert report.ran
    return report


DATED = ("access.started", "access.ended", "access.extended")


def events(kind: str | None = None) -> list[tuple[str, int]]:
    """Events of dates and date changes (a grant's own access.granted and learner.created are left out)."""
    q = Event.select().order_by(Event.id)
    return [(e.kind, e.access_id) for e in q if (e.kind == kind if kind else e.kind in DATED)]


def grant(admin, pool, email, starts, ends) -> Access:
    registrations.assign(admin, pool, [LearnerSpec(email, "First", "Last")], dates=[(starts, ends)])
    return Access.select().join(access.Learner).where(access.Learner.email_key == email).get()


def mails_to(email: str) -> list[OutboxEmail]:
    return list(OutboxEmail.select().where(OutboxEmail.to == email).order_by(OutboxEmail.id))


@pytest.mark.storage
def test_start_and_end_dates_are_announced_once(admin):
    now("2027-01-01")
    pool = make_pool(admin, 4)
    later = grant(admin, pool, "later@example.com", D(2027, 2, 1), D(2027, 3, 1))
    soon_over = grant(admin, pool, "soon@example.com", D(2027, 1, 1), D(2027, 1, 20))
    grant(admin, pool, "open@example.com", D(2027, 1, 1), None)
    assert tick().started == tick().ended == 0 and events() == []

    now("2027-02-01")
    report = tick()
    assert (report.started, report.ended) == (1, 1)
    assert events() == [("access.started", later.id), ("access.ended", soon_over.id)]
    assert (tick().started, tick().ended) == (0, 0)  # each once
    assert access.status_of(Access.get_by_id(soon_over.id)) == "ended"

    now("2027-03-02")
    assert tick().ended == 1
    assert events("access.ended") == [("access.ended", soon_over.id), ("access.ended", later.id)]

    # an admin extends the ended access: active again, told as extended (not as a new start)
    extended = access.extend(admin, later.id, ends=D(2027, 12, 31))
    assert access.status_of(extended) == "active"
    assert events()[-1] == ("access.extended", later.id)
    assert tick().started == tick().ended == 0
    now("2028-01-01")  # and it ends again, announced again
    assert tick().ended == 1
    assert events()[-1] == ("access.ended", later.id)


@pytest.mark.storage
def test_an_access_upgraded_from_before_the_scheduler_is_adopted_silently(admin):
    now("2027-01-01")
    pool = make_pool(admin, 2)
    old = grant(admin, pool, "old@example.com", D(2027, 1, 1), D(2027, 1, 5))
    Access.update(announced=None).where(Access.id == old.id).execute()  # as schema 5 leaves it
    now("2027-02-01")
    assert tick().ended == 0 and events() == []
    assert Access.get_by_id(old.id).announced == "ended"


@pytest.mark.storage
def test_access_end_reminders_once_per_threshold(admin, monkeypatch):
    now("2027-01-01")
    pool = make_pool(admin, 3)
    grant(admin, pool, "ada@example.com", D(2027, 1, 1), D(2027, 1, 31))
    now("2027-01-16")  # 15 days left: nothing yet
    assert tick().ending_reminders == 0
    now("2027-01-17")  # 14 days left
    assert tick().ending_reminders == 1
    assert tick().ending_reminders == 0
    now("2027-01-27")
    assert tick().ending_reminders == 0
    now("2027-01-28")  # 3 days
    assert tick().ending_reminders == 1
    now("2027-01-30")
    assert tick().ending_reminders == 0
    [first, second] = mails_to("ada@example.com")[1:]  # after the confirmation
    assert "ends in 14 days" in first.subject and "2027-01-31" in first.body
    assert "ends in 3 days" in second.subject
    # someone first seen two days before the end gets one reminder, not two
    grant(admin, pool, "bob@example.com", D(2027, 1, 1), D(2027, 2, 1))
    assert tick().ending_reminders == 1
    assert "ends in 2 days" in mails_to("bob@example.com")[-1].subject
    # N is configurable
    monkeypatch.setenv("REGTUI_REMIND_DAYS", "30")
    grant(admin, pool, "cy@example.com", D(2027, 1, 1), D(2027, 2, 28))
    assert tick().ending_reminders == 3  # a new threshold: ada and bob are within 30 days too
    assert "ends in 29 days" in mails_to("cy@example.com")[-1].subject


@pytest.mark.storage
def test_unclaimed_invitations_are_reported_once_and_expired_ones_free_their_seat(admin):
    now("2027-01-01")
    pool = make_pool(admin, 4)
    contact = pool.order.customer.email
    [late, _] = invitations.invite(admin, pool, ["a@example.com", "b@example.com"])
    now("2027-01-07")
    assert tick().unclaimed_reminders == 0
    now("2027-01-08")
    assert tick().unclaimed_reminders == 1
    assert tick().unclaimed_reminders == 0
    [report] = mails_to(contact)[-1:]
    assert report.subject == "Unclaimed invitations: 2" and f"pool {pool.id}" in report.body
    invitations.invite(admin, pool, ["c@example.com"])
    now("2027-01-15", hour=10)  # the first two expired at 09:00; the third is a week old
    result = tick()
    assert result.expired == 2 and result.unclaimed_reminders == 1
    assert mails_to(contact)[-1].subject == "Unclaimed invitations: 1"  # counting what is unclaimed now
    assert check(pool) == {"available": 3, "invited": 1, "claimed": 0}
    assert Invitation.get_by_id(late.id).status == "expired"
    expired = [e for e in AuditEvent.select().where(AuditEvent.action == "invitation.expire")]
    assert len(expired) == 2 and {e.operator for e in expired} == {"regtui"}
    now("2027-01-16")
    assert tick().unclaimed_reminders == 0


@pytest.mark.storage
def test_the_lease_lets_one_scheduler_run(admin):
    now("2027-01-01")
    assert scheduler.take_lease("a")
    assert not scheduler.take_lease("b")
    assert scheduler.tick().ran is False  # a holds it
    assert scheduler.take_lease("a")  # renewing one's own
    scheduler.release_lease("a")
    assert scheduler.take_lease("b")
    now("2027-01-01", hour=10)  # b died an hour ago: its lease lapsed
    assert scheduler.take_lease("c")


def _pending_work(admin) -> None:
    """Something of each kind for a scheduler to do on 2027-02-01."""
    now("2027-01-01")
    pool = make_pool(admin, 13)
    for n in range(4):
        grant(admin, pool, f"starts{n}@example.com", D(2027, 1, 20), D(2027, 6, 1))
        grant(admin, pool, f"ends{n}@example.com", D(2027, 1, 1), D(2027, 1, 25))
        grant(admin, pool, f"remind{n}@example.com", D(2027, 1, 1), D(2027, 2, 10))
    now("2027-01-25")
    invitations.invite(admin, pool, ["late@example.com"])  # expires 2027-02-08
    clock.set_now(None)


@pytest.mark.storage
def test_two_ticks_at_once_do_each_thing_once(admin, home, db_url):
    _pending_work(admin)
    database.close()
    env = dict(os.environ, REGTUI_NOW="2027-02-09T09:00:00", REGTUI_DB=db_url)
    for _ in range(3):  # three rounds of two racing processes
        procs = [subprocess.Popen([sys.executable, "-m", "regtui", "tick", "--json"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
            assert "Traceback" not in err
    assert sorted(events()) == sorted([("access.started", a) for a in _ids("starts")] +
                                      [("access.ended", a) for a in _ids("ends")])
    assert sum(len(mails_to(f"remind{n}@example.com")) for n in range(4)) == 4 + 4  # confirmation + one reminder
    assert AuditEvent.select().where(AuditEvent.action == "invitation.expire").count() == 1
    # every reminder was delivered once (the Maildir), none left queued
    delivered = list((home / "maildir" / "new").iterdir())
    assert len(delivered) == OutboxEmail.select().count()
    assert OutboxEmail.select().where(OutboxEmail.status != "sent").count() == 0


def _ids(prefix: str) -> list[int]:
    return [a.id for a in Access.select().join(access.Learner).where(access.Learner.email_key.startswith(prefix))]


@pytest.mark.storage
def test_tick_on_the_command_line(admin, cli):
    _pending_work(admin)
    database.close()
    r = run_cli("tick", "--no-mail", env={"REGTUI_NOW": "2027-02-09T09:00:00"})
    assert r.returncode == 0, r.stderr
    assert "4 accesses started, 4 ended" in r.stdout and "Expired 1 invitation;" in r.stdout
    r = run_cli("tick", "--json", "--no-mail", env={"REGTUI_NOW": "2027-02-09T09:01:00"})
    data = json.loads(r.stdout)
    assert data["ran"] and (data["started"], data["ended"], data["expired"], data["ending_reminders"]) == (0, 0, 0, 0)
    assert "RegCodeEmailText" not in run_cli("templates").stdout or "AccessEndsText" in run_cli("templates").stdout


@pytest.mark.storage
def test_the_background_loop_runs_the_scheduler(admin):
    _pending_work(admin)
    now("2027-02-09")
    ran, stop = threading.Event(), threading.Event()

    def run():
        report = scheduler.tick(deliver_mail=False)
        ran.set()
        return report

    thread = scheduler.run_in_background(stop, interval=3600, run=run)
    assert ran.wait(60)
    stop.set()
    thread.join(60)
    assert not thread.is_alive()
    assert len(events("access.started")) == 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_runs_the_scheduler(admin, db_url):
    """`regtui serve` expires a due invitation by itself (its scheduler thread)."""
    now("2027-01-01")
    pool = make_pool(admin, 2)
    [inv] = invitations.invite(admin, pool, ["late@example.com"])
    clock.set_now(None)
    database.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, REGTUI_NOW="2027-02-01T09:00:00", REGTUI_DB=db_url)
    proc = subprocess.Popen([sys.executable, "-m", "regtui", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90  # a bound on waiting for the first run, not a timing assertion
        status = "pending"
        while status == "pending" and time.monotonic() < deadline:
            status = Invitation.get_by_id(inv.id).status
            database.close()
            if status == "pending":
                time.sleep(0.2)
        assert status == "expired"
        assert Code.get_by_id(inv.code_id).state == "available"
    finally:
        proc.terminate()
        proc.wait(30)

"""The scheduler: what makes dates happen. Each run (``tick``):

- expires the invitations past their date (their seats are available again, audited);
- notices the accesses whose start or end date has passed and records it (events
  ``access.started`` / ``access.ended``, in the transaction that marks them announced);
- reminds learners that their access ends in N days (``REGTUI_REMIND_DAYS``, default 14 and 3)
  and each customer's contact of its invitations still unclaimed after some days: each
  reminder once (the ``reminder`` table remembers what was sent);
- delivers the outbox, the shop outbox (sync to eCommerce calls that are due), and the webhooks
  due to learning platforms' endpoints (services.endpoints);
- makes the big shop orders a stopped ``regtui serve`` left stored but not made.

It runs as ``regtui tick`` (cron, a systemd timer) and inside ``regtui serve`` once a minute.
Two schedulers at once do each thing once: a run first takes the ``scheduler`` lease, a row
taken by a conditional UPDATE until it expires; whoever does not get it does nothing. Every
step is also safe to repeat (it acts only on what is not done yet), so a run that died half-way
is finished by the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Callable

from regtui import config
from regtui.core import clock
from regtui.core.models import (Access, Code, Customer, Invitation, Lease, Learner, Order, Pool, Product, Reminder,
                                Session, database)
from regtui.core.services import access, endpoints, events, expiry, outbox, shops, templates
from regtui.core.services.operators import SYSTEM

LEASE = "scheduler"
LEASE_FOR = dt.timedelta(minutes=5)  # longer than a run; a crashed run's lease lapses after it
INTERVAL = 60  # seconds between runs inside `regtui serve`

log = logging.getLogger("regtui.scheduler")


@dataclass
class TickReport:
    ran: bool = True  # False: another scheduler held the lease
    expired: int = 0
    started: int = 0
    ended: int = 0
    ending_reminders: int = 0
    unclaimed_reminders: int = 0
    mail: dict = field(default_factory=dict)
    shop_orders: int = 0  # big shop orders made that a stopped process had left stored
    shop_calls: dict = field(default_factory=dict)
    webhooks: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# --- the lease ---------------------------------------------------------------------------

def take_lease(holder: str, name: str = LEASE, length: dt.timedelta = LEASE_FOR) -> bool:
    """Take the lease ``name`` for ``holder`` until now + ``length``, if it is free (never
    taken, released, or expired) or already ours. The conditional UPDATE decides: of two
    schedulers at once, the database lets exactly one change the row."""
    now = clock.now()
    with database.atomic():
        Lease.insert(name=name, holder="", expires_at=now - dt.timedelta(seconds=1)).on_conflict_ignore().execute()
        taken = (Lease.update(holder=holder, expires_at=now + length)
                 .where((Lease.name == name) & ((Lease.expires_at < now) | (Lease.holder == holder))).execute())
    return taken == 1


def release_lease(holder: str, name: str = LEASE) -> None:
    with database.atomic():
        Lease.update(holder="", expires_at=clock.now() - dt.timedelta(seconds=1)).where(
            (Lease.name == name) & (Lease.holder == holder)).execute()


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- one run -----------------------------------------------------------------------------

def tick(*, deliver_mail: bool = True, transport=None) -> TickReport:
    """One scheduler run (see the module's docstring); does nothing if another holds the lease."""
    holder = new_holder()
    if not take_lease(holder):
        return TickReport(ran=False)
    report = TickReport()
    try:
        report.expired = expiry.expire_due()
        report.started, report.ended = announce_dates()
        report.ending_reminders = remind_access_ends(config.reminder_days())
        report.unclaimed_reminders = remind_unclaimed(config.unclaimed_after_days())
        report.shop_orders = shops.process_left_behind()
        if deliver_mail:
            report.mail = _deliver(transport)
            report.shop_calls = shops.deliver_calls(SYSTEM).as_dict()
            report.webhooks = endpoints.deliver_due(SYSTEM).as_dict()
    finally:
        release_lease(holder)
    return report


def _deliver(transport) -> dict:
    from regtui.core import mailer

    return outbox.deliver(SYSTEM, transport or mailer.transport_from_config()).as_dict()


def announce_dates() -> tuple[int, int]:
    """Record ``access.started`` for each access whose start has come and ``access.ended`` for
    each whose last day has passed, since it was last announced; returns (started, ended). An
    access that never was announced (granted before schema 5) is adopted silently."""
    on = clock.today()
    live = Access.status == "active"
    with database.atomic():
        Access.update(announced=access.status_sql(on)).where(live & Access.announced.is_null()).execute()
        started = _announce("access.started", live & (Access.announced == "scheduled") & (Access.starts <= on), "active")
        ended = _announce("access.ended", live & (Access.announced == "active") & (Access.ends < on), "ended")
    return started, ended


def _announce(kind: str, where, now_is: str) -> int:
    """Mark the accesses matching ``where`` as announced ``now_is`` and record one ``kind``
    event for each, in the same transaction (UPDATE ... RETURNING: exactly the rows changed)."""
    ids = [aid for (aid,) in Access.update(announced=now_is).where(where).returning(Access.id).tuples()]
    ids.sort()
    events.record_many(kind, ((aid, None) for aid in ids))
    return len(ids)


def remind_access_ends(days: tuple[int, ...]) -> int:
    """Email each learner whose access ends within one of ``days`` ("ends in 3 days"), once per
    threshold and end date (an extended access is reminded again before its new end). A learner
    first seen 2 days before the end gets one email, for the smallest threshold it is within."""
    if not days:
        return 0
    on = clock.today()
    q = (Access.select(Access.id, Access.ends, Learner.email, Learner.first_name, Learner.last_name, Session.code,
                       Session.name, Product.name)
         .join(Learner).switch(Access).join(Session).join(Product)
         .where((Access.status == "active") & (Access.starts <= on) & Access.ends.is_null(False)
                & (Access.ends >= on) & (Access.ends <= on + dt.timedelta(days=max(days))))
         .order_by(Access.id))
    due = []
    for aid, ends, email, first, last, session_code, session_name, product in q.tuples():
        ends = ends if isinstance(ends, dt.date) else dt.date.fromisoformat(str(ends))
        left = (ends - on).days
        step = min(n for n in days if left <= n)
        due.append(((f"access-ends:{aid}:{step}:{ends.isoformat()}",), email, {
            "first_name": first, "last_name": last, "email": email, "product": product, "session": session_name,
            "access_end": ends.isoformat(), "days": str(left), "when": _when(left)}))
    return _send_once(templates.ACCESS_ENDS, due)


def _when(days: int) -> str:
    return {0: "today", 1: "tomorrow"}.get(days, f"in {days} days")


def remind_unclaimed(after_days: int) -> int:
    """Email each customer's contact how many of its invitations are still unclaimed after
    ``after_days``: once for each invitation (a customer is written to again only when more
    invitations have gone unclaimed), counting all that are unclaimed."""
    now = clock.now()
    q = (Invitation.select(Invitation.id, Invitation.created_at, Customer.id, Customer.name, Customer.email, Pool.id,
                           Order.number, Session.code)
         .join(Code).join(Pool).join(Order).join(Customer).switch(Pool).join(Session)
         .where((Invitation.status == "pending") & (Invitation.expires_at >= now)
                & (Invitation.created_at <= now - dt.timedelta(days=after_days)))
         .order_by(Customer.id, Pool.id, Invitation.id))
    by_customer: dict[int, list[tuple]] = {}
    for row in q.tuples():
        by_customer.setdefault(row[2], []).append(row)
    due = []
    for rows in by_customer.values():
        _, _, _, name, email, _, _, _ = rows[0]
        due.append((tuple(f"unclaimed:{r[0]}" for r in rows), email,
                    {"customer": name, "email": email, "count": str(len(rows)), "pools": _pool_lines(rows)}))
    return _send_once(templates.UNCLAIMED, due)


def _pool_lines(rows: list[tuple]) -> str:
    by_pool: dict[int, list[tuple]] = {}
    for row in rows:
        by_pool.setdefault(row[5], []).append(row)
    return "\n".join(f"- {group[0][7]} (order {group[0][6]}, pool {pid}): {len(group)} unclaimed, the first sent "
                     f"{min(r[1] for r in group).date().isoformat()}" for pid, group in by_pool.items())


def _sent(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(k for (k,) in Reminder.select(Reminder.key).where(Reminder.key.in_(keys[start:start + 500])).tuples())
    return found


def _send_once(template: str, due: list[tuple[tuple[str, ...], str, dict]]) -> int:
    """Queue each (keys, to, values) of which some key was not sent before, and remember the
    keys, in one transaction."""
    with database.atomic():
        sent = _sent([k for keys, _, _ in due for k in keys])
        todo = [(keys, to, values) for keys, to, values in due if not set(keys) <= sent]
        new_keys = sorted({k for keys, _, _ in todo for k in keys} - sent)
        for start in range(0, len(new_keys), 500):
            Reminder.insert_many([{"key": k} for k in new_keys[start:start + 500]]).execute()
        outbox.queue_many(template, ((to, values) for _, to, values in todo))
    return len(todo)


# --- inside `regtui serve` ---------------------------------------------------------------

def run_in_background(stop: threading.Event, interval: float = INTERVAL,
                      run: Callable[[], TickReport] = tick) -> threading.Thread:
    """Run the scheduler every ``interval`` seconds in a daemon thread until ``stop`` is set.
    A failed run is logged and the next one tries again."""
    def loop() -> None:
        while not stop.is_set():
            try:
                report = run()
                if report.ran and any((report.expired, report.started, report.ended, report.ending_reminders,
                                       report.unclaimed_reminders)):
                    log.info("scheduler: %s", report.as_dict())
            except Exception:
                log.exception("scheduler run failed; the next one tries again")
            finally:
                if not database.is_closed():
                    database.close()
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="regtui-scheduler", daemon=True)
    thread.start()
    return thread

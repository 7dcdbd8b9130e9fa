"""The outbox: emails written in the transaction of the change that caused them.

A rolled-back change therefore sends nothing, and a committed one is never lost:
``deliver`` (``regtui mail send``) sends what is queued, later, through a transport.

No body holds a live link: where its link goes, a body holds ``LINK``, and the row names the
link (``link_purpose``, ``link_id``); ``deliver`` makes the link from the record's nonce and the
secret key at send time. A copy of the database therefore reveals no link.

Delivery is at least once. A 4xx answer is tried again later with exponential backoff
(``BACKOFF`` doubling, ``MAX_ATTEMPTS`` tries in all, then the email is failed); a 5xx answer fails
the email at once. An email left ``sending`` by a sender that died is listed as stuck, and queued
again (same Message-ID) by ``retry_failed`` or, after ``STALE_SENDING``, by the next ``deliver``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple, Protocol, Sequence

from peewee import Case, Expression, fn

from regtui.core.models import OutboxEmail, database, utcnow
from regtui.core.services import templates, tokens
from regtui.core.services.permissions import Actor, require

STALE_SENDING = dt.timedelta(minutes=10)
BACKOFF = dt.timedelta(minutes=5)  # after the first 4xx; doubled after each one
MAX_ATTEMPTS = 8  # 4xx answers at 5, 10, 20, 40, 80, 160, 320 minutes: given up after about 10.6 hours
LINK = "[[regtui-link]]"  # where a body's link goes; made at send time
SENT_LINK = "(link sent)"  # what a sent email's body keeps in its place
INVITATION_LINK = "invitation"
PASSWORD_LINK = "set-password"


class Link(NamedTuple):
    """The link an email carries (made at send time) and what the email is about."""

    purpose: str | None = None
    id: int | None = None
    about: str | None = None


def queue(to: str, template: str, values: dict, link: Link = Link()) -> None:
    """Render ``template`` now and queue it; call inside the change's transaction. With a
    ``link``, the template's ``$link`` is the placeholder the sender replaces."""
    queue_many(template, [(to, values, link)])


def queue_many(template: str, items: Iterable[tuple[str, dict] | tuple[str, dict, Link]]) -> int:
    """Render ``template`` for each (to, values[, link]) and queue them, in bulk; ``items`` may be
    a generator (streamed: a big batch's values are never all held at once)."""
    from regtui.core import bulk

    now = bulk.db_datetime(utcnow())
    render = templates.renderer(template)
    urandom = os.urandom
    # Message-IDs of one batch share a time prefix and count up, with 64 random bits each: still
    # unique everywhere, and their unique index grows at its end instead of at 100,000 random places
    prefix = f"{time.time_ns() // 1000:x}{urandom(4).hex()}"
    none = Link()
    tokens.secret_key()  # no key, no emails whose links could never be made (one sentence: exit 2)

    def rows():
        for n, (to, values, *link) in enumerate(items):
            link = link[0] if link else none
            if link.purpose:
                values = {**values, "link": LINK}
            subject, body = render(values)
            if not link.purpose and "/" in body:  # a caller that put the link itself: taken out all the same
                body, link = _link_taken_out(body, link)
            yield (now, to, subject, body, f"<{prefix}.{n:07x}.{urandom(8).hex()}@regtui>", "queued", 0,
                   link.purpose, link.id, link.about)
    return bulk.insert_tuples(OutboxEmail, ["created_at", "to", "subject", "body", "message_id", "status", "attempts",
                                            "link_purpose", "link_id", "about"], rows())


def queue_selected(template: str, *, to: str, columns: dict[str, str], constants: dict, source: str,
                   ordinal: str, link: Link = Link()) -> int:
    """Queue one email per row of ``source`` (a FROM clause over staged rows, see
    ``bulk.staged``), rendered by the database in one INSERT ... SELECT: ``to`` and ``columns``
    (placeholder -> SQL expression) are SQL over ``source``, ``constants`` the same for every
    email, ``ordinal`` a distinct integer per row (it orders the emails and makes their Message-IDs),
    ``link`` SQL over ``source`` for the link's purpose and record id and what the email is about
    (a column that holds ``LINK`` needs its purpose set). The same text as ``queue_many`` gives."""
    from regtui.core import bulk

    mark = bulk.param()
    if link.purpose:
        tokens.secret_key()  # no key, no emails whose links could never be made (one sentence: exit 2)
    subject, subject_params, body, body_params = templates.sql_renderer(template)(columns, constants)
    # one random prefix for the batch and the row's ordinal: unique everywhere, and the
    # Message-ID index grows at its end
    prefix = f"{time.time_ns() // 1000:x}.{os.urandom(12).hex()}"
    cursor = database.cursor()
    cursor.execute(
        f'INSERT INTO "outbox_email" ("created_at", "to", "subject", "body", "message_id", "status", "attempts", '
        f'"link_purpose", "link_id", "about") '
        f"SELECT {mark}, {to}, {subject}, {body}, '<' || {mark} || '.' || CAST({ordinal} AS TEXT) || '@regtui>', "
        f"'queued', 0, {link.purpose or 'NULL'}, {link.id or 'NULL'}, {link.about or 'NULL'} "
        f"FROM {source} ORDER BY {ordinal}",
        [bulk.db_datetime(utcnow()), *subject_params, *body_params, prefix])
    return cursor.rowcount


_LIVE_LINK = re.compile(r"(?P<site>https?://[^\s/]+(?:/[^\s]*?)?)/(?P<kind>claim|set-password)/(?P<id>[0-9]{1,18})\.[A-Za-z0-9_-]+")


_PURPOSES = {"claim": INVITATION_LINK, "set-password": PASSWORD_LINK}


def _link_taken_out(body: str, link: Link) -> tuple[str, Link]:
    """``body`` with its one live link replaced by ``LINK``, and the link's reference; as it was
    if it holds none (or several: only the callers' own Link can place more than one)."""
    found = list(_LIVE_LINK.finditer(body))
    if len(found) != 1:
        return body, link
    m = found[0]
    return body[:m.start()] + LINK + body[m.end():], link._replace(purpose=_PURPOSES[m["kind"]], id=int(m["id"]))


def take_links_out_of_unsent_bodies() -> int:
    """Schema 4: unsent emails queued before it hold their live link in the body; each becomes
    the placeholder and the link's reference (emails with more than one link keep theirs)."""
    changed = 0
    for row in OutboxEmail.select().where(OutboxEmail.status.in_(["queued", "sending", "failed"])):
        body, link = _link_taken_out(row.body, Link())
        if link.purpose:
            OutboxEmail.update(body=body, link_purpose=link.purpose, link_id=link.id).where(OutboxEmail.id == row.id).execute()
            changed += 1
    return changed


def live_link(purpose: str | None, record_id: int | None) -> str:
    """The link an email carries, made now from the record's nonce and the secret key."""
    from regtui import config
    from regtui.core.models import Invitation, Learner

    if purpose == INVITATION_LINK:
        inv = Invitation.get_or_none(Invitation.id == record_id)
        if inv is not None:
            return f"{config.site_url()}/claim/{tokens.make(purpose, inv.id, inv.nonce)}"
    elif purpose == PASSWORD_LINK:
        learner = Learner.get_or_none(Learner.id == record_id)
        if learner is not None and learner.password_link_nonce and learner.password_link_used_at is None:
            return f"{config.site_url()}/set-password/{tokens.make(purpose, learner.id, learner.password_link_nonce)}"
        if learner is not None:
            return "(your password is set already: sign in with it)"
    return "(this link is no longer available)"


def with_live_link(email: OutboxEmail) -> OutboxEmail:
    """The email as sent: its link put in place of the placeholder (the row keeps the placeholder)."""
    if email.link_purpose and LINK in email.body:
        email.body = email.body.replace(LINK, live_link(email.link_purpose, email.link_id))
    return email


class TemporaryFailure(Exception):
    """The server said 4xx or could not be reached: try again on the next run."""


class Unreachable(TemporaryFailure):
    """The server cannot be reached or refused the session: stop this run, send nothing more."""


class PermanentFailure(Exception):
    """The server said 5xx: keep the email as failed, with the server's reply."""


class Transport(Protocol):
    def send(self, email: OutboxEmail) -> None: ...

    def close(self) -> None: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unreachable: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "unreachable": self.unreachable,
                "errors": self.errors}

    @property
    def delivered_nothing(self) -> bool:
        """Emails were due and none went out: the server was unreachable, or refused every one
        (``regtui mail send`` then exits 1)."""
        return self.unreachable or self.failed > 0 and self.sent == 0


def _due() -> Expression:
    return (OutboxEmail.status == "queued") & (
        OutboxEmail.next_attempt_at.is_null() | (OutboxEmail.next_attempt_at <= utcnow()))


def _claim_next(after_id: int) -> OutboxEmail | None:
    """Mark the next due queued email (by id, after ``after_id``) as being sent. The
    conditional UPDATE makes two senders running at once never take the same email."""
    while True:
        row = OutboxEmail.select(OutboxEmail.id).where(_due() & (OutboxEmail.id > after_id)).order_by(OutboxEmail.id).first()
        if row is None:
            return None
        with database.atomic():
            taken = (
                OutboxEmail.update(status="sending", claimed_at=utcnow(), attempts=OutboxEmail.attempts + 1)
                .where((OutboxEmail.id == row.id) & (OutboxEmail.status == "queued"))
                .execute()
            )
        if taken:
            return OutboxEmail.get_by_id(row.id)
        after_id = row.id


def _stuck() -> Expression:
    return (OutboxEmail.status == "sending") & (OutboxEmail.claimed_at < utcnow() - STALE_SENDING)


STUCK_NOTE = ("the sender stopped while sending it; queued again with the same Message-ID, so if the "
              "first try did arrive the receiver gets a copy it can recognise")


def _requeue_stuck(ids: list[int] | None = None) -> int:
    """Emails left 'sending' by a sender that died are queued again, keeping their Message-ID
    (a receiver that did get the first try can tell the copy apart) and saying so."""
    q = OutboxEmail.update(status="queued", next_attempt_at=None, last_error=STUCK_NOTE).where(
        _stuck() if ids is None else (OutboxEmail.status == "sending") & OutboxEmail.id.in_(ids))
    with database.atomic():
        return q.execute()


def _finish(email_id: int, **fields) -> None:
    with database.atomic():
        OutboxEmail.update(**fields).where(OutboxEmail.id == email_id).execute()


def _try_later(email: OutboxEmail, exc: TemporaryFailure, report: DeliveryReport) -> None:
    """A 4xx answer: queued again after a backoff, or failed after ``MAX_ATTEMPTS`` tries. An
    unreachable server is no fault of the email: the try does not count."""
    if isinstance(exc, Unreachable):
        _finish(email.id, status="queued", attempts=email.attempts - 1, last_error=str(exc))
        report.retry += 1
        report.unreachable = True
        report.errors.append(f"{email.to}: {exc} (will retry)")
        return
    if email.attempts >= MAX_ATTEMPTS:
        _finish(email.id, status="failed", next_attempt_at=None,
                last_error=f"gave up after {email.attempts} tries: {exc}")
        report.failed += 1
        report.errors.append(f"{email.to}: {exc} (gave up after {email.attempts} tries)")
        return
    later = utcnow() + BACKOFF * 2 ** (email.attempts - 1)
    _finish(email.id, status="queued", next_attempt_at=later, last_error=str(exc))
    report.retry += 1
    report.errors.append(f"{email.to}: {exc} (will retry after {later:%Y-%m-%d %H:%M} UTC)")


def deliver(actor: Actor, transport: Transport, limit: int | None = None) -> DeliveryReport:
    """Send due queued emails once each, oldest first. A 4xx answer is tried again after a
    backoff; a server that cannot be reached ends this run early."""
    require(actor, "mail.send")
    _requeue_stuck()
    report = DeliveryReport()
    cursor = 0
    try:
        while limit is None or report.sent + report.retry + report.failed < limit:
            email = _claim_next(cursor)
            if email is None:
                break
            cursor = email.id
            try:
                transport.send(with_live_link(email))
            except TemporaryFailure as exc:
                _try_later(email, exc, report)
                if isinstance(exc, Unreachable):
                    break
            except PermanentFailure as exc:
                _finish(email.id, status="failed", next_attempt_at=None, last_error=str(exc))
                report.failed += 1
                report.errors.append(f"{email.to}: {exc}")
            except Exception as exc:
                # e.g. no secret key to make the link: the email waits, the try does not count
                _finish(email.id, status="queued", attempts=email.attempts - 1, last_error=f"{type(exc).__name__}: {exc}")
                raise
            else:
                _finish(email.id, status="sent", sent_at=utcnow(), last_error=None, next_attempt_at=None,
                        body=OutboxEmail.body if not email.link_purpose else fn.REPLACE(OutboxEmail.body, LINK, SENT_LINK))
                report.sent += 1
    finally:
        transport.close()
    return report


def retry_failed(actor: Actor, ids: list[int] | None = None) -> int:
    """Queue failed emails and stuck ones (left 'sending' longer than ``STALE_SENDING``) again,
    all or those in ``ids``, for the next run; their tries count from zero again."""
    require(actor, "mail.send")
    failed = OutboxEmail.status == "failed"
    stuck = _stuck()
    where = failed | stuck
    if ids:
        where = where & OutboxEmail.id.in_(ids)
    with database.atomic():
        return OutboxEmail.update(status="queued", attempts=0, next_attempt_at=None, last_error=Case(
            None, [(stuck, STUCK_NOTE)], None)).where(where).execute()


def counts(actor: Actor) -> dict[str, int]:
    """Emails by status, and how many of those sending are stuck. The outbox holds every
    customer's emails, so only staff may count it (a manager is refused)."""
    require(actor, "mail.view")
    out = {"queued": 0, "sending": 0, "sent": 0, "failed": 0}
    for status, n in OutboxEmail.select(OutboxEmail.status, fn.COUNT(OutboxEmail.id)).group_by(OutboxEmail.status).tuples():
        out[status] = n
    out["stuck"] = OutboxEmail.select().where(_stuck()).count()
    out["waiting"] = OutboxEmail.select().where((OutboxEmail.status == "queued") & ~_due()).count()
    return out


def stuck(actor: Actor) -> list[OutboxEmail]:
    """Emails left 'sending' longer than ``STALE_SENDING``: their sender died, perhaps after
    the server took them (``retry_failed`` queues them again, same Message-ID)."""
    require(actor, "mail.view")
    return list(OutboxEmail.select().where(_stuck()).order_by(OutboxEmail.id))


# --- pages (keyset, see regtui.core.paging): the TUI's outbox ----------------------------------

class OutboxRow(NamedTuple):
    id: int
    created_at: dt.datetime
    to: str
    subject: str
    status: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None
    body: str  # as the learner reads it, the link shown as a placeholder (see ``shown_body``)


SORTS = {"id": OutboxEmail.id, "to": OutboxEmail.to, "subject": OutboxEmail.subject, "status": OutboxEmail.status}
LINK_SHOWN = {INVITATION_LINK: "<the invitation's claim link, made when the email is sent>",
              PASSWORD_LINK: "<the learner's set-password link, made when the email is sent>"}


def shown_body(body: str, purpose: str | None) -> str:
    """The body as the learner reads it, with the link placeholder shown as a placeholder: never
    a live link (an operator reading the outbox must not be able to claim a learner's seat)."""
    return body.replace(LINK, LINK_SHOWN.get(purpose, "<a link, made when the email is sent>"))


def _filtered(search: str, status: str | None):
    from regtui.core import paging

    q = OutboxEmail.select(OutboxEmail.id, OutboxEmail.created_at, OutboxEmail.to, OutboxEmail.subject, OutboxEmail.status,
                           OutboxEmail.attempts, OutboxEmail.sent_at, OutboxEmail.last_error, OutboxEmail.body,
                           OutboxEmail.link_purpose)
    if status:
        q = q.where(OutboxEmail.status == status)
    if search.strip():
        q = q.where(paging.contains([OutboxEmail.to, OutboxEmail.subject], search))
    return q


def page(actor: Actor, *, search: str = "", status: str | None = None, sort: str = "id", descending: bool = True,
         limit: int = 100, after: str | None = None, before: str | None = None, last: bool = False):
    """One page of the outbox, newest first unless sorted otherwise, searched by recipient and
    subject in the database; the total unsearched comes from the counts by status."""
    from regtui.core import paging

    require(actor, "mail.view")
    if search.strip():
        total = lambda: _filtered(search, status).count()  # noqa: E731
    else:
        by_status = counts(actor)
        total = by_status.get(status, 0) if status else sum(by_status[k] for k in ("queued", "sending", "sent", "failed"))
    return paging.fetch(_filtered(search, status), sort_expr=paging.sort_expression(SORTS, sort), key=OutboxEmail.id,
                        descending=descending, limit=limit, after=after, before=before, last=last, total=total,
                        make=lambda r: OutboxRow(*r[:8], shown_body(r[8], r[9])))


# --- withdrawing the emails of cancelled invitations and revoked access ----------------------


def withdraw(kind: str, record_ids: Sequence[int], template: str,
             notices: Callable[[set[int]], Iterable[tuple[str, dict]]]) -> set[int]:
    """Unsent emails about these records (``kind``: "invitation" or "access") are withdrawn:
    deleted, as they never left. Whoever got one already (sent, or being sent) is told instead:
    ``notices(ids)`` gives their (to, values) for ``template``. Returns those ids. Call inside
    the change's transaction."""
    told = _withdraw(kind, record_ids)
    if told:
        queue_many(template, notices(told))
    return told


def _withdraw(kind: str, record_ids: Sequence[int]) -> set[int]:
    from regtui.core import bulk

    if not record_ids:
        return set()
    abouts = [f"{kind}:{int(i)}" for i in record_ids]
    gone = bulk.select_in('SELECT DISTINCT "about" FROM "outbox_email" WHERE "status" IN (\'sent\', \'sending\') '
                          'AND "about" IN ({in})', abouts)
    mark = bulk.param()
    for start in range(0, len(abouts), 5000):
        part = abouts[start:start + 5000]
        database.execute_sql('DELETE FROM "outbox_email" WHERE "status" IN (\'queued\', \'failed\') '
                             f'AND "about" IN ({", ".join(mark for _ in part)})', part)
    return {int(a.partition(":")[2]) for (a,) in gone}

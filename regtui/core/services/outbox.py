"""The outbox: emails written in the transaction of the change that caused them.

A rolled-back change therefore sends nothing, and a committed one is never lost:
``deliver`` (``regtui mail send``) sends what is queued, later, through a transport.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import re
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from peewee import fn

from regtui.core.models import OutboxEmail, database, utcnow
from regtui.core.services import templates
from regtui.core.services.permissions import Actor, require

STALE_SENDING = dt.timedelta(minutes=10)


def queue(to: str, template: str, values: dict) -> None:
    """Render ``template`` now and queue it; call inside the change's transaction."""
    queue_many(template, [(to, values)])


def queue_many(template: str, items: Iterable[tuple[str, dict]]) -> int:
    """Render ``template`` for each (to, values) and queue them, in bulk; ``items`` may be a
    generator (streamed: a big batch's values are never all held at once)."""
    from regtui.core import bulk

    now = bulk.db_datetime(utcnow())
    render = templates.renderer(template)
    urandom = os.urandom
    # Message-IDs of one batch share a time prefix and count up, with 64 random bits each: still
    # unique everywhere, and their unique index grows at its end instead of at 100,000 random places
    prefix = f"{time.time_ns() // 1000:x}{urandom(4).hex()}"

    def rows():
        for n, (to, values) in enumerate(items):
            subject, body = render(values)
            yield now, to, subject, body, f"<{prefix}.{n:07x}.{urandom(8).hex()}@regtui>", "queued", 0
    return bulk.insert_tuples(OutboxEmail, ["created_at", "to", "subject", "body", "message_id", "status", "attempts"], rows())


def queue_selected(template: str, *, to: str, columns: dict[str, str], constants: dict, source: str,
                   ordinal: str) -> int:
    """Queue one email per row of ``source`` (a FROM clause over staged rows, see
    ``bulk.staged``), rendered by the database in one INSERT ... SELECT: ``to`` and ``columns``
    (placeholder -> SQL expression) are SQL over ``source``, ``constants`` the same for every
    email, ``ordinal`` a distinct integer per row (it orders the emails and makes their Message-IDs).
    The same text as ``queue_many`` gives for the same values."""
    from regtui.core import bulk

    mark = bulk.param()
    subject, subject_params, body, body_params = templates.sql_renderer(template)(columns, constants)
    # one random prefix for the batch and the row's ordinal: unique everywhere, and the
    # Message-ID index grows at its end
    prefix = f"{time.time_ns() // 1000:x}.{os.urandom(12).hex()}"
    cursor = database.cursor()
    cursor.execute(
        f'INSERT INTO "outbox_email" ("created_at", "to", "subject", "body", "message_id", "status", "attempts") '
        f"SELECT {mark}, {to}, {subject}, {body}, '<' || {mark} || '.' || CAST({ordinal} AS TEXT) || '@regtui>', "
        f"'queued', 0 FROM {source} ORDER BY {ordinal}",
        [bulk.db_datetime(utcnow()), *subject_params, *body_params, prefix])
    return cursor.rowcount


_LINK = re.compile(r"(/(?:claim|set-password)/)[0-9]+\.[A-Za-z0-9_-]+")


def redact_links(body: str) -> str:
    """A sent email keeps no live link: the database alone must not reveal one."""
    return _LINK.sub(r"\1(link sent)", body)


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
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "errors": self.errors}


def _claim_next(after_id: int) -> OutboxEmail | None:
    """Mark the next queued email (by id, after ``after_id``) as being sent. The
    conditional UPDATE makes two senders running at once never take the same email."""
    while True:
        row = (
            OutboxEmail.select(OutboxEmail.id)
            .where((OutboxEmail.status == "queued") & (OutboxEmail.id > after_id))
            .order_by(OutboxEmail.id)
            .first()
        )
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


def _requeue_stale() -> None:
    """An email left 'sending' by a sender that died is queued again. It keeps its
    Message-ID, so a receiver that did get it can tell the copy apart."""
    with database.atomic():
        OutboxEmail.update(status="queued").where(
            (OutboxEmail.status == "sending") & (OutboxEmail.claimed_at < utcnow() - STALE_SENDING)
        ).execute()


def _finish(email_id: int, **fields) -> None:
    with database.atomic():
        OutboxEmail.update(**fields).where(OutboxEmail.id == email_id).execute()


def deliver(actor: Actor, transport: Transport, limit: int | None = None) -> DeliveryReport:
    """Send queued emails once each, oldest first. A temporary failure stays queued for
    the next run; a server that cannot be reached ends this run early."""
    require(actor, "mail.send")
    _requeue_stale()
    report = DeliveryReport()
    cursor = 0
    try:
        while limit is None or report.sent + report.retry + report.failed < limit:
            email = _claim_next(cursor)
            if email is None:
                break
            cursor = email.id
            try:
                transport.send(email)
            except TemporaryFailure as exc:
                _finish(email.id, status="queued", last_error=str(exc))
                report.retry += 1
                report.errors.append(f"{email.to}: {exc} (will retry)")
                if isinstance(exc, Unreachable):
                    break
            except PermanentFailure as exc:
                _finish(email.id, status="failed", last_error=str(exc))
                report.failed += 1
                report.errors.append(f"{email.to}: {exc}")
            except Exception as exc:
                _finish(email.id, status="queued", last_error=f"{type(exc).__name__}: {exc}")
                raise
            else:
                _finish(email.id, status="sent", sent_at=utcnow(), last_error=None, body=redact_links(email.body))
                report.sent += 1
    finally:
        transport.close()
    return report


def retry_failed(actor: Actor, ids: list[int] | None = None) -> int:
    """Queue failed emails again (all, or those in ``ids``)."""
    require(actor, "mail.send")
    q = OutboxEmail.update(status="queued", last_error=None).where(OutboxEmail.status == "failed")
    if ids:
        q = q.where(OutboxEmail.id.in_(ids))
    with database.atomic():
        return q.execute()


def counts() -> dict[str, int]:
    out = {"queued": 0, "sending": 0, "sent": 0, "failed": 0}
    for status, n in OutboxEmail.select(OutboxEmail.status, fn.COUNT(OutboxEmail.id)).group_by(OutboxEmail.status).tuples():
        out[status] = n
    return out


def listing(actor: Actor, status: str | None = None, limit: int = 200, offset: int = 0) -> list[OutboxEmail]:
    """A page of the outbox, newest first, optionally of one status."""
    require(actor, "mail.view")
    q = OutboxEmail.select().order_by(OutboxEmail.id.desc())
    if status:
        q = q.where(OutboxEmail.status == status)
    return list(q.limit(limit).offset(offset))

"""Content access: what a learner may see of a session, from when until when.

An access stores only its dates and whether it was revoked; what it *is* is derived from the
dates and today's date wherever it is shown (``status``, and ``status_sql`` for listings that
page or filter in the database): ``scheduled`` (starts in the future), ``active``, ``ended``
(its last day is past) or ``revoked``."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from peewee import Case

from regtui.core import clock
from regtui.core.errors import NotFound, Refused
from regtui.core.models import Access, Learner, Session, database, utcnow
from regtui.core.services import audit, events
from regtui.core.services.permissions import Actor, require

STATUSES = ("scheduled", "active", "ended", "revoked")


def today() -> dt.date:
    return clock.today()


def status(stored: str, starts: dt.date, ends: dt.date | None, on: dt.date | None = None) -> str:
    """What an access is on ``on`` (default today): revoked, scheduled, ended or active. An
    access is active on its last day (``ends``) and ended from the day after."""
    on = on or today()
    if stored == "revoked":
        return "revoked"
    if starts > on:
        return "scheduled"
    if ends is not None and ends < on:
        return "ended"
    return "active"


def status_of(row: Access) -> str:
    return status(row.status, row.starts, row.ends)


def status_sql(on: dt.date | None = None):
    """``status`` as a SQL expression over the ``access`` columns (NULL where a LEFT JOIN found
    no access), for listings that sort, filter or page in the database."""
    on = on or today()
    return Case(None, [
        (Access.id.is_null(), None),
        (Access.status == "revoked", "revoked"),
        (Access.starts > on, "scheduled"),
        (Access.ends < on, "ended"),
    ], "active")


def default_end(session: Session, starts: dt.date) -> dt.date | None:
    return starts + dt.timedelta(days=session.access_days) if session.access_days else None


def resolve_dates(session: Session, dates: Sequence[tuple[dt.date | None, dt.date | None]]) -> list[tuple[dt.date, dt.date | None]]:
    """The access dates of each grant: None takes the session's defaults (starts today, ends
    after the session's access length)."""
    start_default = today()
    out = []
    for starts, ends in dates:
        starts = starts or start_default
        out.append((starts, ends if ends is not None else default_end(session, starts)))
    return out


def grant_refusal(starts: dt.date, ends: dt.date | None) -> Refused | None:
    """Why an access with these (resolved) dates may not be granted, or None: it ends before it
    starts, or it has already ended. The one rule for every way a seat is given (assign,
    invitations, rosters: the batch planner calls it per row)."""
    try:
        check_dates(starts, ends)
    except Refused as refusal:
        return refusal
    if ends is not None and ends < today():
        return Refused(f"That access would end on {ends.isoformat()}, which has already passed: give an end date "
                       "from today on.", code="access-ended")
    return None


def check_grants(session: Session, dates: Sequence[tuple[dt.date | None, dt.date | None]]) -> None:
    """Refused for the first grant of these dates (None: the session's defaults, see
    ``resolve_dates``) that may not be granted. Each distinct pair is checked once (a roster of
    100,000 rows has a few)."""
    for starts, ends in resolve_dates(session, sorted(set(dates), key=repr)):
        refusal = grant_refusal(starts, ends)
        if refusal is not None:
            raise refusal


def grant_staged(session: Session, table: str) -> int:
    """One access per staged seating row (access_id, learner_id, code_id, starts, ends as ISO
    text; see registrations.complete), inserted by the database, announced as what it is today
    (scheduled or active) so that the scheduler tells the world when its dates pass. Call inside
    a transaction."""
    from regtui.core.bulk import sql_date

    on = today().isoformat()  # ISO text compares as dates do
    cursor = database.cursor()
    cursor.execute(f'INSERT INTO "access" ("id", "learner_id", "session_id", "code_id", "starts", "ends", "status", "announced") '
                   f"SELECT s.access_id, s.learner_id, {int(session.id)}, s.code_id, {sql_date('s.starts')}, {sql_date('s.ends')}, "
                   f"'active', CASE WHEN s.starts > '{on}' THEN 'scheduled' ELSE 'active' END FROM {table} AS s ORDER BY s.ord")
    return cursor.rowcount


def revoke_for_codes(code_ids: Sequence[int]) -> None:
    """End the active access that came from each of these codes: content access ends today, and
    the learning platforms are told (``access.revoked``)."""
    now = utcnow()
    for start in range(0, len(code_ids), 500):
        chunk = list(code_ids[start:start + 500])
        ending = [a for (a,) in Access.select(Access.id).where(
            Access.code.in_(chunk) & (Access.status == "active")).tuples()]
        Access.update(status="revoked", revoked_at=now).where(Access.id.in_(ending)).execute()
        events.record_many("access.revoked", ((a, None) for a in ending))


def active_for_code(code_id: int) -> Access | None:
    return Access.get_or_none((Access.code == code_id) & (Access.status == "active"))


def for_learner(actor: Actor, learner: Learner) -> list[Access]:
    require(actor, "access.view")
    return list(Access.select(Access, Session).join(Session).where(Access.learner == learner).order_by(Access.starts.desc()))


def describe(row: Access) -> dict:
    return {"starts": row.starts, "ends": row.ends, "status": status_of(row)}


def check_dates(starts: dt.date, ends: dt.date | None) -> None:
    if ends is not None and ends < starts:
        raise Refused(f"Access cannot end ({ends.isoformat()}) before it starts ({starts.isoformat()}).", code="bad-dates")


def extend(actor: Actor, access_id: int, *, starts: dt.date | None = None, ends: dt.date | None = None,
           open_ended: bool = False) -> Access:
    """Change an access's start and/or end date (admins only). An ended access given a later
    end is active again."""
    require(actor, "access.extend")
    with database.atomic():
        row = Access.get_or_none(Access.id == access_id) if 0 < access_id < 2**63 else None
        if row is None:
            raise NotFound(f"There is no access record {access_id}.")
        extend_rows(actor, [(row, starts, None if open_ended else ends, open_ended)])
    return Access.get_by_id(access_id)


def extend_rows(actor: Actor, changes: Sequence[tuple[Access, dt.date | None, dt.date | None, bool]],
                batch_id: int | None = None) -> None:
    """Apply (access, new start or None, new end or None, make open-ended) inside a transaction.
    The access is announced as what its new dates make it (the change is told as
    ``access.extended``, not as a start or an end)."""
    require(actor, "access.extend")
    changed = []
    for row, starts, ends, open_ended in changes:
        if row.status != "active":
            raise Refused("That access was revoked; give the learner a seat again instead.", code="access-revoked")
        before = describe(row)
        new_starts = starts or row.starts
        new_ends = None if open_ended else (ends if ends is not None else row.ends)
        check_dates(new_starts, new_ends)
        row.starts, row.ends = new_starts, new_ends
        Access.update(starts=new_starts, ends=new_ends, announced=status_of(row)).where(Access.id == row.id).execute()
        changed.append((row, before, describe(row)))
    audit.record_many(actor, "access.extend", changed, batch_id=batch_id)
    events.record_many("access.extended", [(row.id, after) for row, _, after in changed])

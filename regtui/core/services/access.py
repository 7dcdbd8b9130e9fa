"""Content access: what a learner may see of a session, from when until when."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from regtui.core.errors import NotFound, Refused
from regtui.core.models import Access, Learner, Session, database, utcnow
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require


def today() -> dt.date:
    return utcnow().date()


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


def grant_staged(session: Session, table: str) -> int:
    """One active access per staged seating row (access_id, learner_id, code_id, starts, ends as
    ISO text; see registrations.complete), inserted by the database. Call inside a transaction."""
    from regtui.core.bulk import sql_date

    cursor = database.cursor()
    cursor.execute(f'INSERT INTO "access" ("id", "learner_id", "session_id", "code_id", "starts", "ends", "status") '
                   f"SELECT s.access_id, s.learner_id, {int(session.id)}, s.code_id, {sql_date('s.starts')}, {sql_date('s.ends')}, "
                   f"'active' FROM {table} AS s ORDER BY s.ord")
    return cursor.rowcount


def revoke_for_codes(code_ids: Sequence[int]) -> None:
    """End the active access that came from each of these codes: content access ends today."""
    now = utcnow()
    for start in range(0, len(code_ids), 500):
        chunk = list(code_ids[start:start + 500])
        Access.update(status="revoked", revoked_at=now).where(
            Access.code.in_(chunk) & (Access.status == "active")
        ).execute()


def active_for_code(code_id: int) -> Access | None:
    return Access.get_or_none((Access.code == code_id) & (Access.status == "active"))


def for_learner(actor: Actor, learner: Learner) -> list[Access]:
    require(actor, "access.view")
    return list(Access.select(Access, Session).join(Session).where(Access.learner == learner).order_by(Access.starts.desc()))


def describe(row: Access) -> dict:
    return {"starts": row.starts, "ends": row.ends, "status": row.status}


def check_dates(starts: dt.date, ends: dt.date | None) -> None:
    if ends is not None and ends < starts:
        raise Refused(f"Access cannot end ({ends.isoformat()}) before it starts ({starts.isoformat()}).", code="bad-dates")


def extend(actor: Actor, access_id: int, *, starts: dt.date | None = None, ends: dt.date | None = None,
           open_ended: bool = False) -> Access:
    """Change an access's start and/or end date (admins only)."""
    require(actor, "access.extend")
    with database.atomic():
        row = Access.get_or_none(Access.id == access_id) if 0 < access_id < 2**63 else None
        if row is None:
            raise NotFound(f"There is no access record {access_id}.")
        extend_rows(actor, [(row, starts, None if open_ended else ends, open_ended)])
    return Access.get_by_id(access_id)


def extend_rows(actor: Actor, changes: Sequence[tuple[Access, dt.date | None, dt.date | None, bool]],
                batch_id: int | None = None) -> None:
    """Apply (access, new start or None, new end or None, make open-ended) inside a transaction."""
    require(actor, "access.extend")
    events = []
    for row, starts, ends, open_ended in changes:
        if row.status != "active":
            raise Refused("That access was revoked; give the learner a seat again instead.", code="access-revoked")
        before = describe(row)
        new_starts = starts or row.starts
        new_ends = None if open_ended else (ends if ends is not None else row.ends)
        check_dates(new_starts, new_ends)
        Access.update(starts=new_starts, ends=new_ends).where(Access.id == row.id).execute()
        row.starts, row.ends = new_starts, new_ends
        events.append((row, before, describe(row)))
    audit.record_many(actor, "access.extend", events, batch_id=batch_id)

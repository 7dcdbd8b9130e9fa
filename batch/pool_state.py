"""``take(pool, keys)``: read the ``Snapshot`` of one pool for a roster, in one query per table
(see ``batch.snapshot`` for what it holds). The query half of the snapshot: the planner never
imports this module."""

from __future__ import annotations

import datetime as dt
from operator import attrgetter
from typing import Iterable

from batch.snapshot import Seat, Snapshot
from regtui.core import bulk
from regtui.core.models import Access, Code, Invitation, Learner, Pool, database

# Bound-parameter chunk for the learner lookup (SQLite allows 32766 variables; PostgreSQL 65535).
KEY_CHUNK = 20_000


def take(pool: Pool | int, keys: Iterable[str] = (), dates: Iterable[tuple] = ()) -> Snapshot:
    """Read the snapshot of ``pool`` (a Pool or its id) for a roster with these email keys and
    these (access_start, access_end) pairs (see ``dates_of``)."""
    pool_id = pool if isinstance(pool, int) else pool.id
    from regtui.core.models import Session
    from regtui.core.services import expiry, pools

    seats, available, invited, claimed, access_days = (
        Pool.select(Pool.seats, Pool.available, Pool.invited, Pool.claimed, Session.access_days)
        .join(Session).where(Pool.id == pool_id).tuples().get()
    )
    # an invitation past its expiry is not pending (expiry.live), swept or not: its code
    # counts as available, as in the pools listing, and the writer's sweep makes it so
    lapsed = pools.lapsed_codes(pool_id).get(pool_id, 0)
    available, invited = available + lapsed, invited - lapsed
    seated: dict[str, Seat] = {}
    from peewee import JOIN

    q = (
        Code.select(Learner.email_key, Code.id, Learner.id, Access.id, Access.starts, Access.ends, Learner.email)
        .join(Learner, on=(Code.learner == Learner.id))
        .join(Access, JOIN.LEFT_OUTER, on=((Access.code == Code.id) & (Access.status == "active")))
        .where((Code.pool == pool_id) & (Code.state == "claimed"))
    )
    addresses: dict[str, str] = {}
    for key, code_id, learner_id, access_id, starts, ends, address in _rows(q):
        seated[key] = Seat(code_id, learner_id, access_id, _date(starts), _date(ends))
        addresses[key] = address
    pending: dict[str, tuple[int, int]] = {}
    cancelled: set[str] = set()
    q = (
        Invitation.select(Invitation.email_key, Invitation.id, Invitation.code, Invitation.status, Invitation.email)
        .join(Code, on=(Invitation.code == Code.id))
        .where((Code.pool == pool_id) & (expiry.live() | (Invitation.status == "cancelled")))
        .order_by(Invitation.id)
    )
    for key, inv_id, code_id, status, address in _rows(q):
        if status == "pending":
            pending[key] = (inv_id, code_id)
            addresses[key] = address
        else:
            cancelled.add(key)
    revoked = {
        key for (key,) in _rows(
            Access.select(Learner.email_key)
            .join(Code, on=(Access.code == Code.id))
            .switch(Access).join(Learner, on=(Access.learner == Learner.id))
            .where((Code.pool == pool_id) & (Access.status == "revoked"))
        )
    }
    # raw SQL through the dialect (peewee's query builder was the cost here)
    learners: dict[str, int] = dict(bulk.select_in('SELECT email_key, id FROM "learner" WHERE email_key IN ({in})',
                                                   dict.fromkeys(keys), chunk=KEY_CHUNK))
    refs = {str(pool_id)}
    if not isinstance(pool, int):
        refs.update(pools.refs(pool))
    row = _pool_row(pool_id)
    return Snapshot(pool_id, seats, available, invited, claimed, access_days, seated, pending,
                    frozenset(cancelled - set(pending)), frozenset(revoked - set(seated)), learners,
                    frozenset(r.casefold() for r in refs), _seats_elsewhere(row, learners), _refused_dates(row, dates),
                    addresses)


def dates_of(rows) -> list[tuple]:
    """The distinct (access_start, access_end) pairs of these roster rows (``RosterRows``)."""
    return list(dict.fromkeys(zip(map(attrgetter("access_start"), rows.rows), map(attrgetter("access_end"), rows.rows))))


def _pool_row(pool_id: int) -> Pool:
    from regtui.core.models import Order, Session

    return (Pool.select(Pool, Order, Session).join(Order).switch(Pool).join(Session)
            .where(Pool.id == pool_id).get())


def _seats_elsewhere(pool: Pool, learners: dict[str, int]) -> dict[str, str]:
    """key -> the services' sentence, for each of the roster's learners who holds a seat of the
    pool's session in another pool of the same customer (one query for the customer's holders)."""
    from regtui.core.services import pools

    if not learners:
        return {}
    holders = pools.holders_elsewhere(pool)
    return {key: pools.seat_elsewhere_sentence(pool, key, other) for key, other in holders.items() if key in learners}


def _refused_dates(pool: Pool, dates: Iterable[tuple]) -> dict[tuple, tuple[str, str]]:
    """(access_start, access_end) as on the roster -> (code, sentence) for each pair a new seat's
    access may not be granted with (``access.grant_refusal``, after the session's defaults)."""
    from regtui.core.services import access

    pairs = list(dict.fromkeys(dates))
    refused = {}
    for pair, (starts, ends) in zip(pairs, access.resolve_dates(pool.session, pairs)):
        refusal = access.grant_refusal(starts, ends)
        if refusal is not None:
            refused[pair] = (refusal.code, str(refusal))
    return refused


def _rows(query):
    """The query's rows as plain tuples from the cursor (no peewee row processing)."""
    return database.execute_sql(*query.sql())


def _date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])

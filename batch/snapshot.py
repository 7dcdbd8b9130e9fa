"""What a plan reads from the database about one pool, in one query per table.

``take(pool, keys)`` reads:

* the pool's counters (seats, available, invited, claimed) and the session's default access length;
* every seated learner (claimed code + active access): email key -> Seat;
* every pending invitation: email key -> (invitation id, code id); and the keys whose invitation
  was cancelled (so that revoking them again is "unchanged");
* the keys whose access from this pool was revoked (revoking them again is "unchanged");
* the existing learners among the roster's ``keys``: email key -> learner id.

``fingerprint_for(keys)`` is a sha256 over the counters and the sorted rows the plan depends on.
The applier takes a new snapshot inside its transaction (after locking the pool) and refuses
the plan as stale if the fingerprint differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from regtui.core.models import Access, Code, Invitation, Learner, Pool, database

# Bound-parameter chunk for the learner lookup (SQLite allows 32766 variables; PostgreSQL 65535).
KEY_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class Seat:
    """A learner holding a claimed code of the pool, with the access it gives (None if none)."""

    code_id: int
    learner_id: int
    access_id: int | None
    starts: dt.date | None
    ends: dt.date | None


@dataclass(frozen=True)
class Snapshot:
    pool_id: int
    seats: int
    available: int
    invited: int
    claimed: int
    access_days: int | None
    seated: Mapping[str, Seat]
    pending: Mapping[str, tuple[int, int]]  # key -> (invitation id, code id)
    cancelled: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    learners: Mapping[str, int] = field(default_factory=dict)
    refs: frozenset[str] = frozenset()  # how a roster may name this pool: id, ORDER-LINE

    def fingerprint_for(self, learner_keys: Iterable[str] = ()) -> str:
        """sha256 over the counters, the seated rows, the pending invitations, and which of
        ``learner_keys`` already have an account."""
        h = hashlib.sha256()
        h.update(f"pool {self.pool_id} {self.seats} {self.available} {self.invited} {self.claimed}\n".encode())
        for key in sorted(self.seated):
            s = self.seated[key]
            h.update(f"s {key}\t{s.code_id}\t{s.learner_id}\t{s.access_id}\t{s.starts}\t{s.ends}\n".encode())
        for key in sorted(self.pending):
            inv, code = self.pending[key]
            h.update(f"p {key}\t{inv}\t{code}\n".encode())
        keys = sorted(set(learner_keys))
        # one string for all the keys (same bytes as a line per key): 100,000 keys in C-level passes
        if keys and self.learners.keys().isdisjoint(keys):  # all new learners: every line ends in None
            h.update(("l " + "\tNone\nl ".join(keys) + "\tNone\n").encode())
        else:
            h.update("".join(map("l {}\t{}\n".format, keys, map(self.learners.get, keys))).encode())
        return h.hexdigest()


def take(pool: Pool | int, keys: Iterable[str] = ()) -> Snapshot:
    """Read the snapshot of ``pool`` (a Pool or its id) for a roster with these email keys."""
    pool_id = pool if isinstance(pool, int) else pool.id
    from regtui.core.models import Session

    seats, available, invited, claimed, access_days = (
        Pool.select(Pool.seats, Pool.available, Pool.invited, Pool.claimed, Session.access_days)
        .join(Session).where(Pool.id == pool_id).tuples().get()
    )
    seated: dict[str, Seat] = {}
    from peewee import JOIN

    q = (
        Code.select(Learner.email_key, Code.id, Learner.id, Access.id, Access.starts, Access.ends)
        .join(Learner, on=(Code.learner == Learner.id))
        .join(Access, JOIN.LEFT_OUTER, on=((Access.code == Code.id) & (Access.status == "active")))
        .where((Code.pool == pool_id) & (Code.state == "claimed"))
    )
    for key, code_id, learner_id, access_id, starts, ends in _rows(q):
        seated[key] = Seat(code_id, learner_id, access_id, _date(starts), _date(ends))
    pending: dict[str, tuple[int, int]] = {}
    cancelled: set[str] = set()
    q = (
        Invitation.select(Invitation.email_key, Invitation.id, Invitation.code, Invitation.status)
        .join(Code, on=(Invitation.code == Code.id))
        .where((Code.pool == pool_id) & Invitation.status.in_(["pending", "cancelled"]))
        .order_by(Invitation.id)
    )
    for key, inv_id, code_id, status in _rows(q):
        if status == "pending":
            pending[key] = (inv_id, code_id)
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
    learners: dict[str, int] = {}
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), KEY_CHUNK):
        chunk = wanted[start:start + KEY_CHUNK]
        marks = ", ".join([database.param] * len(chunk))  # raw SQL: peewee's builder was the cost here
        learners.update(database.execute_sql(f'SELECT email_key, id FROM "learner" WHERE email_key IN ({marks})', chunk))
    refs = {str(pool_id)}
    if not isinstance(pool, int):
        from regtui.core.services import pools

        refs.update(pools.refs(pool))
    return Snapshot(pool_id, seats, available, invited, claimed, access_days, seated, pending,
                    frozenset(cancelled - set(pending)), frozenset(revoked - set(seated)), learners,
                    frozenset(r.casefold() for r in refs))


def _rows(query):
    """The query's rows as plain tuples from the cursor (no peewee row processing)."""
    return database.execute_sql(*query.sql())


def _date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])

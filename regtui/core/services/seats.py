"""The seat lifecycle at the database level: every move of a code between
``available``, ``invited`` and ``claimed`` goes through here.

The limit is held by the writes themselves, never by "read the count, then write":
the pool row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions are
BEGIN IMMEDIATE), its counters move by a conditional UPDATE that refuses to go below
zero, CHECK constraints back that up, and each code moves by an UPDATE conditioned on
its current state, so the number of rows it touched says who won.
"""

from __future__ import annotations

from typing import Sequence

from peewee import fn

from regtui.core import bulk
from regtui.core.db import dialect
from regtui.core.errors import Refused
from regtui.core.models import Code, Pool, database

STATES = ("available", "invited", "claimed")


def lock_pool(pool_id: int) -> None:
    """Serialise seat moves in one pool (a no-op on SQLite, whose writers already queue)."""
    dialect().lock_row("pool", pool_id)


def shift(pool_id: int, src: str, dst: str, n: int = 1) -> None:
    """Move ``n`` seats of the pool's counters from ``src`` to ``dst``, or refuse."""
    if n <= 0:
        return
    src_col, dst_col = getattr(Pool, src), getattr(Pool, dst)
    moved = (
        Pool.update({src_col: src_col - n, dst_col: dst_col + n})
        .where((Pool.id == pool_id) & (src_col >= n))
        .execute()
    )
    if not moved:
        have = Pool.select(src_col).where(Pool.id == pool_id).scalar() or 0
        if src == "available":
            raise Refused(f"Not enough free seats: {n} needed, {have} available.", code="seats-short")
        raise Refused(f"The pool has only {have} {src} seats, not {n}.", code="seats-changed")


def take_available(pool_id: int, learner_ids: Sequence[int | None], dst: str) -> list[int]:
    """Move one available code per entry to ``dst`` (``claimed`` for a learner id,
    ``invited`` for None) and return the code ids, in order."""
    codes = pick_available(pool_id, len(learner_ids), dst)
    if codes:
        moves = [(code_id, learner) for (code_id, _), learner in zip(codes, learner_ids)]
        with bulk.staged("seat_move", SEAT_MOVE, moves) as table:
            move_staged("available", dst, table, len(moves))
    return [code_id for code_id, _ in codes]


# a staged code move: which code (its key, which the UPDATE looks rows up by), and to whom (NULL
# for an invitation)
SEAT_MOVE = {"code_id": "INTEGER PRIMARY KEY", "learner_id": "INTEGER"}


def pick_available(pool_id: int, n: int, dst: str) -> list[tuple[int, str]]:
    """Move ``n`` seats of the pool's counters from available to ``dst`` (or refuse) and return
    ``n`` available codes as (id, code text), in order: the caller moves exactly those with
    ``move_staged`` in the same transaction."""
    if n == 0:
        return []
    lock_pool(pool_id)
    shift(pool_id, "available", dst, n)
    mark = dialect().param
    codes = database.execute_sql(
        f'SELECT "id", "code" FROM "code" WHERE "pool_id" = {mark} AND "state" = \'available\' ORDER BY "id" LIMIT {mark}',
        (pool_id, n)).fetchall()
    if len(codes) != n:
        raise Refused("The pool's codes and its counters disagree; nothing was changed.", code="seats-changed")
    return [tuple(c) for c in codes]


def move_staged(src: str, dst: str, table: str, n: int) -> None:
    """Move each staged code (columns ``code_id``, ``learner_id``; see ``bulk.staged``) from
    ``src`` to ``dst``, each only if it is still in ``src``: one UPDATE, which must touch all
    ``n`` of them, or nothing is changed."""
    assert src in STATES and dst in STATES
    moved = dialect().update_from("code", {"state": f"'{dst}'", "learner_id": "m.learner_id"}, table,
                                  key="id", source_key="code_id", where=f"state = '{src}'")
    if moved != n:
        raise Refused("Some seats were taken meanwhile; nothing was changed.", code="seats-changed")


def move_code(pool_id: int, code_id: int, src: str, dst: str, learner_id: int | None = None) -> bool:
    """Move one code from ``src`` to ``dst`` if it is still in ``src``; False if someone else moved it first."""
    lock_pool(pool_id)
    moved = (
        Code.update(state=dst, learner=learner_id)
        .where((Code.id == code_id) & (Code.state == src))
        .execute()
    )
    if moved:
        shift(pool_id, src, dst, 1)
    return bool(moved)


def release_many(pool_id: int, code_ids: Sequence[int], src: str) -> None:
    """Make these ``src`` codes available again (revoke, cancel, expire)."""
    if not code_ids:
        return
    lock_pool(pool_id)
    moved = 0
    for start in range(0, len(code_ids), 500):
        moved += (
            Code.update(state="available", learner=None, redeemable=False)
            .where(Code.id.in_(list(code_ids[start:start + 500])) & (Code.state == src) & (Code.pool == pool_id))
            .execute()
        )
    if moved != len(code_ids):
        raise Refused("Some of those seats changed meanwhile; nothing was changed.", code="seats-changed")
    shift(pool_id, src, "available", moved)


def counts(pool_id: int) -> dict[str, int]:
    """Counts from the codes themselves (used by tests and checks to confirm the counters)."""
    out = {state: 0 for state in STATES}
    for state, n in Code.select(Code.state, fn.COUNT(Code.id)).where(Code.pool == pool_id).group_by(Code.state).tuples():
        out[state] = n
    return out


def remove_available(pool_id: int, n: int) -> int:
    """Take up to ``n`` available seats out of the pool for good (a shop refunded them): the
    counters shrink (seats and available together, so the CHECKs hold) and as many available
    codes are deleted, newest first. Returns how many were removed."""
    if n <= 0:
        return 0
    lock_pool(pool_id)
    have = Pool.select(Pool.available).where(Pool.id == pool_id).scalar() or 0
    take = min(n, have)
    if take == 0:
        return 0
    ids = [i for (i,) in Code.select(Code.id).where((Code.pool == pool_id) & (Code.state == "available"))
           .order_by(Code.id.desc()).limit(take).tuples()]
    shrunk = (Pool.update(seats=Pool.seats - take, available=Pool.available - take)
              .where((Pool.id == pool_id) & (Pool.available >= take)).execute())
    deleted = Code.delete().where(Code.id.in_(ids) & (Code.state == "available")).execute() if shrunk else 0
    if not shrunk or deleted != take:
        raise Refused("Some of those seats changed meanwhile; nothing was changed.", code="seats-changed")
    return take

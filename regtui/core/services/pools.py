"""Pools: the seats of one order line, as the customer sees them.

Reading never writes: an invitation past its expiry that nobody has swept yet (the scheduler
and the writers do) is counted as not pending, and its seat as available."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from regtui.core.errors import NotFound, Refused
from regtui.core.ids import parse_id
from regtui.core.models import Customer, Order, Pool, Product, Session, database, utcnow
from regtui.core.services.permissions import Actor, require


@dataclass(frozen=True)
class PoolRow:
    id: int
    customer: str
    customer_id: int
    order: str
    ordered: str
    product: str
    session: str
    seats: int
    available: int
    pending: int
    claimed: int
    over_refunded: bool = False  # a shop refunded seats that were claimed: an admin decides

    def as_dict(self) -> dict:
        return {
            "id": self.id, "customer": self.customer, "customer_id": self.customer_id, "order": self.order,
            "ordered": self.ordered, "product": self.product, "session": self.session, "seats": self.seats,
            "available": self.available, "pending": self.pending, "claimed": self.claimed,
            "over_refunded": self.over_refunded,
        }


def _query():
    return (
        Pool.select(Pool, Order, Customer, Session, Product)
        .join(Order).join(Customer).switch(Pool).join(Session).join(Product)
    )


def _row(p: Pool, lapsed: int = 0) -> PoolRow:
    return PoolRow(
        id=p.id, customer=p.order.customer.name, customer_id=p.order.customer_id, order=p.order.number,
        ordered=p.order.placed_at.date().isoformat(), product=p.session.product.name, session=p.session.code,
        seats=p.seats, available=p.available + lapsed, pending=p.invited - lapsed, claimed=p.claimed,
        over_refunded=bool(p.over_refunded),
    )


def lapsed_codes(pool_id: int | None = None) -> dict[int, int]:
    """pool id -> how many of its invited codes have no pending invitation left that has not
    expired: seats that read as available although no sweep has released them yet."""
    from regtui.core.bulk import db_datetime, param

    mark = param()
    sql = ('SELECT c."pool_id", COUNT(DISTINCT c."id") FROM "invitation" AS i JOIN "code" AS c ON i."code_id" = c."id" '
           f'WHERE i."status" = \'pending\' AND i."expires_at" < {mark} AND c."state" = \'invited\' '
           'AND NOT EXISTS (SELECT 1 FROM "invitation" AS j WHERE j."code_id" = c."id" '
           f'AND j."status" = \'pending\' AND j."expires_at" >= {mark})')
    now = db_datetime(utcnow())
    params: list = [now, now]
    if pool_id is not None:
        sql += f' AND c."pool_id" = {mark}'
        params.append(pool_id)
    return dict(database.execute_sql(sql + ' GROUP BY c."pool_id"', params).fetchall())


def listing(actor: Actor, customer: Customer | None = None) -> list[PoolRow]:
    q = _query().order_by(Customer.name, Order.placed_at, Pool.id)
    if actor.role == "manager":
        q = q.where(Order.customer == actor.customer_id)
    elif customer is None:
        require(actor, "customers.view")
    if customer is not None:
        require(actor, "seats.view", customer.id)
        q = q.where(Order.customer == customer.id)
    lapsed = lapsed_codes()
    return [_row(p, lapsed.get(p.id, 0)) for p in q]


def get(actor: Actor, ref: int | str) -> Pool:
    """A pool the operator may see, by id."""
    text = str(ref).strip()
    pool_id = parse_id(text)  # ASCII digits only: "١" is not pool 1
    pool = _query().where(Pool.id == pool_id).first() if pool_id is not None else _by_order_line(text)
    if pool is None:
        raise NotFound(f"There is no pool {ref!r}: give its id or ORDER-LINE (see `regtui pools`).")
    require(actor, "seats.view", pool.order.customer_id)
    return pool


def _by_order_line(text: str) -> Pool | None:
    """A pool by "ORDER NUMBER-LINE" (line: the order's n-th pool, from 1), as rosters name them."""
    number, _, line = text.rpartition("-")
    line_no = parse_id(line)
    if not number or line_no is None or line_no < 1:
        return None
    found = list(_query().where(Order.number == number).order_by(Pool.id).limit(1).offset(line_no - 1))
    return found[0] if found else None


def refs(pool: Pool) -> tuple[str, ...]:
    """Every way a roster may name this pool: its id and ORDER-LINE."""
    ids = [i for (i,) in Pool.select(Pool.id).where(Pool.order == pool.order_id).order_by(Pool.id).tuples()]
    return (str(pool.id), f"{pool.order.number}-{ids.index(pool.id) + 1}")


def names(pool_ids: Sequence[int]) -> dict[int, str]:
    """pool id -> its ORDER-LINE name (``1001-1``), for many pools in two queries."""
    ids = list({int(i) for i in pool_ids})
    if not ids:
        return {}
    orders = dict(Pool.select(Pool.order, Order.number).join(Order).where(Pool.id.in_(ids)).tuples())
    named: dict[int, str] = {}
    line: dict[int, int] = {}
    for pool_id, order_id in Pool.select(Pool.id, Pool.order).where(Pool.order.in_(list(orders))).order_by(Pool.id).tuples():
        line[order_id] = line.get(order_id, 0) + 1
        named[pool_id] = f"{orders[order_id]}-{line[order_id]}"
    return {i: named[i] for i in ids if i in named}


def row(pool: Pool) -> PoolRow:
    return _row(pool, lapsed_codes(pool.id).get(pool.id, 0))


def holders_elsewhere(pool: Pool, learner_ids: Sequence[int] | None = None) -> dict[str, int]:
    """email key -> pool id of each learner holding a seat of this pool's session in another
    pool of the same customer (of ``learner_ids`` only, when given). A learner holds at most
    one seat of a session per customer: the roster planner reads this once per plan."""
    from regtui.core import bulk

    sql = ('SELECT l."email_key", c."pool_id" FROM "code" AS c JOIN "pool" AS p ON c."pool_id" = p."id" '
           'JOIN "order" AS o ON p."order_id" = o."id" JOIN "learner" AS l ON c."learner_id" = l."id" '
           f'WHERE c."state" = \'claimed\' AND p."session_id" = {int(pool.session_id)} '
           f'AND o."customer_id" = {int(customer_id(pool))} AND p."id" <> {int(pool.id)}')
    if learner_ids is None:
        return dict(database.execute_sql(sql).fetchall())
    return dict(bulk.select_in(sql + ' AND c."learner_id" IN ({in})', learner_ids)) if learner_ids else {}


def refuse_seat_elsewhere(pool: Pool, learner_ids: Sequence[int]) -> None:
    """Refused if any of these learners already holds a seat of this pool's session in another
    pool of the same customer."""
    found = holders_elsewhere(pool, learner_ids)
    if found:
        key, other = min(found.items())
        raise Refused(seat_elsewhere_sentence(pool, key, other), code="seat-elsewhere")


def seat_elsewhere_sentence(pool: Pool, key: str, other_pool_id: int) -> str:
    return (f"{key} already has a seat of {pool.session.code} in pool {other_pool_id} of the same customer; "
            "a learner holds one seat of a session.")


def customer_id(pool: Pool) -> int:
    return pool.order.customer_id

"""Pools: the seats of one order line, as the customer sees them."""

from __future__ import annotations

from dataclasses import dataclass

from regtui.core.errors import NotFound
from regtui.core.ids import parse_id
from regtui.core.models import Customer, Order, Pool, Product, Session
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


def _row(p: Pool) -> PoolRow:
    return PoolRow(
        id=p.id, customer=p.order.customer.name, customer_id=p.order.customer_id, order=p.order.number,
        ordered=p.order.placed_at.date().isoformat(), product=p.session.product.name, session=p.session.code,
        seats=p.seats, available=p.available, pending=p.invited, claimed=p.claimed, over_refunded=bool(p.over_refunded),
    )


def listing(actor: Actor, customer: Customer | None = None) -> list[PoolRow]:
    from regtui.core.services import invitations

    invitations.expire_due()
    q = _query().order_by(Customer.name, Order.placed_at, Pool.id)
    if actor.role == "manager":
        q = q.where(Order.customer == actor.customer_id)
    elif customer is None:
        require(actor, "customers.view")
    if customer is not None:
        require(actor, "seats.view", customer.id)
        q = q.where(Order.customer == customer.id)
    return [_row(p) for p in q]


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


def row(pool: Pool) -> PoolRow:
    return _row(pool)


def customer_id(pool: Pool) -> int:
    return pool.order.customer_id

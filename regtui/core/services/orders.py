"""Orders: a purchase of seats. A line of 2+ seats of a session with ``generate_codes``
becomes a pool with one registration code per seat."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Sequence

from regtui.core import clock
from regtui.core.errors import Refused, UsageError
from regtui.core.models import Access, Code, Customer, Order, Pool, Product, Session, ShopOrderLine, database, utcnow
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_SEATS = 1_000_000


@dataclass(frozen=True)
class OrderLine:
    session: Session
    seats: int


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def _fresh_codes(n: int) -> list[str]:
    """``n`` new codes, unique among themselves and against the database."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = [new_code() for _ in range(n - len(codes))]
        wanted = [c for c in dict.fromkeys(wanted) if c not in codes]
        taken = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            taken.update(c for (c,) in Code.select(Code.code).where(Code.code.in_(chunk)).tuples())
        codes.update(c for c in wanted if c not in taken)
    return list(codes)


def next_number() -> str:
    return f"R{utcnow():%Y%m%d}-{secrets.token_hex(3).upper()}"


def add(actor: Actor, customer: Customer, lines: Sequence[OrderLine], number: str | None = None,
        placed_on: dt.date | None = None) -> tuple[Order, list[Pool]]:
    """Record an order (placed today, or on ``placed_on``, a day not in the future)."""
    require(actor, "orders.add")
    if not lines:
        raise UsageError("An order needs at least one line.")
    for line in lines:
        if not 1 <= line.seats <= MAX_SEATS:
            raise UsageError(f"Seats must be between 1 and {MAX_SEATS:,}, not {line.seats}.")
    if placed_on is not None and placed_on > clock.today():
        raise Refused(f"An order cannot be placed on {placed_on}, a day that has not come yet.", code="future-order")
    placed_at = utcnow() if placed_on is None else dt.datetime.combine(placed_on, dt.time())
    with database.atomic():
        number = number or next_number()
        if Order.get_or_none(Order.number == number):
            raise Refused(f"Order number {number!r} is taken: give another --number, or none to have one made.",
                          code="order-number-taken")
        order = Order.create(number=number, customer=customer, placed_at=placed_at)
        pools = [_make_pool(order, line) for line in lines if line.session.generate_codes and line.seats >= 2]
        audit.record(actor, "order.add", order, after={
            "number": number, "customer": customer.name, "placed_at": placed_at.isoformat(),
            "lines": [{"session": l.session.code, "seats": l.seats} for l in lines],
            "pools": [p.id for p in pools],
        })
    return order, pools


def _make_pool(order: Order, line: OrderLine) -> Pool:
    pool = Pool.create(order=order, session=line.session, seats=line.seats, available=line.seats)
    rows = [{"pool": pool.id, "code": c, "state": "available"} for c in _fresh_codes(line.seats)]
    for start in range(0, len(rows), 1000):
        Code.insert_many(rows[start:start + 1000]).execute()
    return pool


@dataclass(frozen=True)
class OrderRow:
    """An order as the orders list shows it. Its lines are its pools, and the shop lines that gave
    their buyer direct access (a manual line of one seat, or of a session without codes, makes no
    pool and is not listed); ``source`` is the shop it came from, or "manual" for one recorded by an
    operator."""

    number: str
    placed: dt.date
    customer: str
    customer_id: int
    source: str
    external_id: str | None
    lines: tuple[tuple[str, str, int], ...]  # (product, session code, seats) per pool

    @property
    def seats(self) -> int:
        return sum(n for _, _, n in self.lines)

    def as_dict(self) -> dict:
        return {"number": self.number, "date": self.placed.isoformat(), "customer": self.customer,
                "customer_id": self.customer_id, "source": self.source, "external_id": self.external_id,
                "lines": [{"product": p, "session": s, "seats": n} for p, s, n in self.lines], "seats": self.seats}


def listing(actor: Actor, customer: Customer | None = None) -> list[OrderRow]:
    """Orders, newest first: a manager sees their own customer's, staff anyone's (or one customer's)."""
    if actor.role == "manager":
        require(actor, "seats.view", actor.customer_id)
        customer_id = actor.customer_id if customer is None else customer.id
        require(actor, "seats.view", customer_id)
    else:
        require(actor, "customers.view")
        customer_id = customer.id if customer is not None else None
    q = Order.select(Order, Customer).join(Customer).order_by(Order.placed_at.desc(), Order.id.desc())
    if customer_id is not None:
        q = q.where(Order.customer == customer_id)
    orders = list(q)
    lines: dict[int, list[tuple[str, str, int]]] = {o.id: [] for o in orders}
    ids = list(lines)
    for start in range(0, len(ids), 500):
        pools = (Pool.select(Pool.order, Product.name, Session.code, Pool.seats).join(Session).join(Product)
                 .where(Pool.order.in_(ids[start:start + 500])).order_by(Pool.id).tuples())
        for order_id, product, session, seats in pools:
            lines[order_id].append((product, session, seats))
        # a shop line that gave its buyer direct access (one seat, or a session without codes) has no pool
        direct = (ShopOrderLine.select(ShopOrderLine.order, Product.name, Session.code, ShopOrderLine.seats)
                  .join(Access, on=(ShopOrderLine.access == Access.id)).join(Session).join(Product)
                  .where(ShopOrderLine.order.in_(ids[start:start + 500]) & ShopOrderLine.pool.is_null())
                  .order_by(ShopOrderLine.id).tuples())
        for order_id, product, session, seats in direct:
            lines[order_id].append((product, session, seats))
    return [OrderRow(o.number, o.placed_at.date(), o.customer.name, o.customer_id, o.source or "manual",
                     o.external_id, tuple(lines[o.id])) for o in orders]

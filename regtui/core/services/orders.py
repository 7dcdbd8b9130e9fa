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
    """An order as the orders list shows it: one line per pool it made, per shop line that gave its
    buyer direct access, and per manual line that made no pool (one seat, or a session without
    codes: a direct access, read from the order's ``order.add`` event, the one place it is kept).
    ``pools`` goes with ``lines``: the line's pool id, or None for a direct access. ``source`` is
    the shop it came from, or "manual" for one recorded by an operator."""

    number: str
    placed: dt.date
    customer: str
    customer_id: int
    source: str
    external_id: str | None
    lines: tuple[tuple[str, str, int], ...]  # (product, session code, seats) per line
    pools: tuple[int | None, ...] = ()  # per line: its pool, or None (a direct access)

    @property
    def seats(self) -> int:
        return sum(n for _, _, n in self.lines)

    def as_dict(self) -> dict:
        return {"number": self.number, "date": self.placed.isoformat(), "customer": self.customer,
                "customer_id": self.customer_id, "source": self.source, "external_id": self.external_id,
                "lines": [{"product": p, "session": s, "seats": n, "pool": pool, "direct": pool is None}
                          for (p, s, n), pool in zip(self.lines, self.pools)],
                "seats": self.seats}


Line = tuple[str, str, int, "int | None"]  # product, session code, seats, pool (None: a direct access)


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
    lines = lines_of([o.id for o in orders], manual={o.id for o in orders if not o.source})
    return [OrderRow(o.number, o.placed_at.date(), o.customer.name, o.customer_id, o.source or "manual",
                     o.external_id, tuple(l[:3] for l in lines[o.id]), tuple(l[3] for l in lines[o.id]))
            for o in orders]


def lines_of(ids: Sequence[int], manual: set[int]) -> dict[int, list[Line]]:
    """order id -> its lines: its pools, then its direct accesses (a shop line's, or the manual
    lines of the ``manual`` orders that made no pool)."""
    lines: dict[int, list[Line]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        pools = (Pool.select(Pool.order, Product.name, Session.code, Pool.seats, Pool.id).join(Session).join(Product)
                 .where(Pool.order.in_(chunk)).order_by(Pool.id).tuples())
        for order_id, product, session, seats, pool_id in pools:
            lines[order_id].append((product, session, seats, pool_id))
        # a shop line that gave its buyer direct access (one seat, or a session without codes) has no pool
        direct = (ShopOrderLine.select(ShopOrderLine.order, Product.name, Session.code, ShopOrderLine.seats)
                  .join(Access, on=(ShopOrderLine.access == Access.id)).join(Session).join(Product)
                  .where(ShopOrderLine.order.in_(chunk) & ShopOrderLine.pool.is_null())
                  .order_by(ShopOrderLine.id).tuples())
        for order_id, product, session, seats in direct:
            lines[order_id].append((product, session, seats, None))
    for order_id, typed in _typed_lines([i for i in ids if i in manual]).items():
        lines[order_id].extend(_without_pool(typed, lines[order_id]))
    return lines


def _typed_lines(ids: Sequence[int]) -> dict[int, list[tuple[str, str, int]]]:
    """order id -> the lines an operator typed, (product, session code, seats), as ``add`` recorded them."""
    recorded = audit.recorded("order.add", "order", ids)
    codes = {l["session"] for after in recorded.values() for l in after.get("lines", ())}
    products = dict(Session.select(Session.code, Product.name).join(Product).where(Session.code.in_(list(codes) or [""]))
                    .tuples())
    return {order_id: [(products.get(l["session"], ""), l["session"], l["seats"]) for l in after.get("lines", ())]
            for order_id, after in recorded.items()}


def _without_pool(typed: list[tuple[str, str, int]], made: list[Line]) -> list[Line]:
    """The typed lines no pool was made for: each pool answers one line of its session and seats."""
    unmatched = [(session, seats) for _, session, seats, pool in made if pool is not None]
    out: list[Line] = []
    for product, session, seats in typed:
        if (session, seats) in unmatched:
            unmatched.remove((session, seats))
        else:
            out.append((product, session, seats, None))
    return out

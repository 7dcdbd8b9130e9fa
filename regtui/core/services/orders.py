"""Orders: a purchase of seats, in lines of (session, seats), each kept as an ``order_line`` row.
A line of 2+ seats of a session with ``generate_codes`` becomes a pool with one registration code
per seat."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Sequence

from regtui.core import clock
from regtui.core.errors import Refused, UsageError
from regtui.core import models
from regtui.core.models import Code, Customer, Order, Pool, Product, Session, database, utcnow
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_SEATS = 1_000_000


@dataclass(frozen=True)
class OrderLine:
    """A line to record: ``seats`` of ``session`` (stored as a ``models.OrderLine``)."""

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
        pools = []
        for line in lines:
            pool = _make_pool(order, line) if makes_pool(line) else None
            record_line(order, line, pool=pool)
            pools += [pool] if pool else []
        audit.record(actor, "order.add", order, after={
            "number": number, "customer": customer.name, "placed_at": placed_at.isoformat(),
            "lines": [{"session": l.session.code, "seats": l.seats} for l in lines],
            "pools": [p.id for p in pools],
        })
    return order, pools


def makes_pool(line: OrderLine) -> bool:
    """Whether a line becomes a pool: 2 or more seats of a session that has codes."""
    return line.session.generate_codes and line.seats >= 2


def record_line(order: Order, line: OrderLine, *, pool: Pool | None = None, access=None) -> None:
    """Keep the line as sold, with what it became (its pool, or a direct access)."""
    models.OrderLine.create(order=order, session=line.session, seats=line.seats, pool=pool, access=access)


def _make_pool(order: Order, line: OrderLine) -> Pool:
    pool = Pool.create(order=order, session=line.session, seats=line.seats, available=line.seats)
    rows = [{"pool": pool.id, "code": c, "state": "available"} for c in _fresh_codes(line.seats)]
    for start in range(0, len(rows), 1000):
        Code.insert_many(rows[start:start + 1000]).execute()
    return pool


@dataclass(frozen=True)
class OrderRow:
    """An order as the orders list shows it, a line per line sold: (product, session code, seats)
    in ``lines``, and in ``made`` what each became: ``("pool", id)``, ``("access", id)`` (a shop's
    single seat given to its buyer) or ``("none", None)`` (a single seat or a session without codes
    recorded by an operator). ``source`` is the shop it came from, or "manual"."""

    number: str
    placed: dt.date
    customer: str
    customer_id: int
    source: str
    external_id: str | None
    lines: tuple[tuple[str, str, int], ...]
    made: tuple[tuple[str, int | None], ...] = ()

    @property
    def seats(self) -> int:
        return sum(n for _, _, n in self.lines)

    def lines_text(self) -> str:
        """"Python PY-1 ×30 (pool 8); Python PY-2 ×1 (no pool: one seat)", as every face shows it."""
        return "; ".join(f"{product} {session}".strip() + f" ×{n} ({_became(kind, ref, n)})"
                         for (product, session, n), (kind, ref) in zip(self.lines, self.made)) or "(no lines)"

    def as_dict(self) -> dict:
        return {"number": self.number, "date": self.placed.isoformat(), "customer": self.customer,
                "customer_id": self.customer_id, "source": self.source, "external_id": self.external_id,
                "lines": [{"product": p, "session": s, "seats": n, "pool": ref if kind == "pool" else None,
                           "access": ref if kind == "access" else None}
                          for (p, s, n), (kind, ref) in zip(self.lines, self.made)],
                "seats": self.seats}


def _became(kind: str, ref: int | None, seats: int) -> str:
    if kind == "pool":
        return f"pool {ref}"
    if kind == "access":
        return "direct access to the buyer"
    return "no pool: one seat" if seats == 1 else "no pool: the session has no codes"


def _visible_customer(actor: Actor, customer: Customer | None) -> int | None:
    """The customer whose orders ``actor`` may list (None: anyone's): a manager sees their own
    customer's, staff anyone's (or one customer's)."""
    if actor.role == "manager":
        require(actor, "seats.view", actor.customer_id)
        customer_id = actor.customer_id if customer is None else customer.id
        require(actor, "seats.view", customer_id)
        return customer_id
    require(actor, "customers.view")
    return customer.id if customer is not None else None


def _rows(orders: list) -> list[OrderRow]:
    lines = lines_of([o.id for o in orders])
    return [OrderRow(o.number, o.placed_at.date(), o.customer.name, o.customer_id, o.source or "manual",
                     o.external_id, tuple(l[:3] for l in lines[o.id]), tuple(l[3] for l in lines[o.id]))
            for o in orders]


SORTS = {"placed": Order.placed_at, "number": Order.number, "customer": Customer.name}  # ties: by id


def _searched(customer_id: int | None, search: str):
    from regtui.core import paging

    q = Order.select(Order.id).join(Customer)
    if customer_id is not None:
        q = q.where(Order.customer == customer_id)
    if search.strip():
        q = q.where(paging.contains([Order.number, Customer.name, Order.external_id, Order.source], search))
    return q


def page(actor: Actor, *, customer: Customer | None = None, search: str = "", sort: str = "placed",
         descending: bool = True, limit: int = 100, after: str | None = None, before: str | None = None,
         last: bool = False):
    """One page of the orders list (newest placed first unless sorted otherwise),
    searched by number, customer, external id or source in the database; each order with its lines."""
    from regtui.core import paging

    customer_id = _visible_customer(actor, customer)

    def detail(keys: list[int]) -> dict[int, tuple]:
        found = {o.id: o for o in Order.select(Order, Customer).join(Customer).where(Order.id.in_(keys))}
        return {k: (row,) for k, row in zip(found, _rows(list(found.values())))}

    return paging.fetch(_searched(customer_id, search), sort_expr=paging.sort_expression(SORTS, sort), key=Order.id,
                        descending=descending, limit=limit, after=after, before=before, last=last,
                        total=lambda: _searched(customer_id, search).count(), detail=detail, make=lambda r: r[0])


def lines_of(ids: Sequence[int]) -> dict[int, list[tuple[str, str, int, tuple[str, int | None]]]]:
    """order id -> its lines in the order they were sold: (product, session code, seats, made)."""
    line = models.OrderLine
    lines: dict[int, list] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        q = (line.select(line.order, Product.name, Session.code, line.seats, line.pool, line.access)
             .join(Session).join(Product).where(line.order.in_(ids[start:start + 500])).order_by(line.id).tuples())
        for order_id, product, session, seats, pool_id, access_id in q:
            made = ("pool", pool_id) if pool_id else ("access", access_id) if access_id else ("none", None)
            lines[order_id].append((product, session, seats, made))
    return lines

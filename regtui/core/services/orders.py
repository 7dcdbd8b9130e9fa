"""Orders: a purchase of seats. A line of 2+ seats of a session with ``generate_codes``
becomes a pool with one registration code per seat."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Sequence

from regtui.core.errors import UsageError
from regtui.core.models import Code, Customer, Order, Pool, Session, database, utcnow
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


def add(actor: Actor, customer: Customer, lines: Sequence[OrderLine], number: str | None = None) -> tuple[Order, list[Pool]]:
    require(actor, "orders.add")
    if not lines:
        raise UsageError("An order needs at least one line.")
    for line in lines:
        if not 1 <= line.seats <= MAX_SEATS:
            raise UsageError(f"Seats must be between 1 and {MAX_SEATS:,}, not {line.seats}.")
    with database.atomic():
        number = number or next_number()
        if Order.get_or_none(Order.number == number):
            raise UsageError(f"Order number {number!r} is taken.")
        order = Order.create(number=number, customer=customer)
        pools = [_make_pool(order, line) for line in lines if line.session.generate_codes and line.seats >= 2]
        audit.record(actor, "order.add", order, after={
            "number": number, "customer": customer.name,
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

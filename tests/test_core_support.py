"""Helpers shared by the core tests (no tests here): a small catalog, the seat invariant,
a dump of every table, and reading the outbox."""

from __future__ import annotations

import itertools
import re

from regtui.core.models import ALL_MODELS, Access, Code, OutboxEmail, Pool
from regtui.core.services import catalog, customers, orders, seats

_serial = itertools.count(1)


def make_session(actor, *, generate_codes: bool = True, access_days: int | None = 365):
    n = next(_serial)
    product = catalog.add_product(actor, f"P{n}", f"Product {n}")
    return catalog.add_session(actor, product, f"S{n}", f"Session {n}", access_days=access_days,
                               generate_codes=generate_codes)


def make_customer(actor, name: str | None = None, email: str | None = None):
    n = next(_serial)
    return customers.add(actor, name or f"Customer {n}", email or f"buyer{n}@example.com")


def make_pool(actor, seats_n: int = 5, customer=None, session=None) -> Pool:
    customer = customer or make_customer(actor)
    session = session or make_session(actor)
    _, pools = orders.add(actor, customer, [orders.OrderLine(session, seats_n)])
    assert len(pools) == 1
    return pools[0]


def check(pool: Pool | int) -> dict[str, int]:
    """Assert the seat invariant from the counters AND from the codes; return the counters."""
    pool_id = pool if isinstance(pool, int) else pool.id
    p = Pool.get_by_id(pool_id)
    assert min(p.available, p.invited, p.claimed) >= 0
    assert p.available + p.invited + p.claimed == p.seats
    assert seats.counts(pool_id) == {"available": p.available, "invited": p.invited, "claimed": p.claimed}
    assert Code.select().where(Code.pool == pool_id).count() == p.seats
    # claimed codes have a holder, the others none; one learner holds at most one code here
    holders = [c.learner_id for c in Code.select().where(Code.pool == pool_id)]
    states = [c.state for c in Code.select().where(Code.pool == pool_id)]
    for state, holder in zip(states, holders):
        assert (holder is not None) == (state == "claimed"), (state, holder)
    claimed_holders = [h for h in holders if h is not None]
    assert len(claimed_holders) == len(set(claimed_holders))
    # a claimed code has exactly one active access, any other code none
    for code in Code.select().where(Code.pool == pool_id):
        active = Access.select().where((Access.code == code.id) & (Access.status == "active")).count()
        assert active == (1 if code.state == "claimed" else 0), (code.code, code.state, active)
    return {"available": p.available, "invited": p.invited, "claimed": p.claimed}


def dump() -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean an unchanged database."""
    return {m.__name__: sorted((tuple(repr(v) for v in row) for row in m.select().tuples()))
            for m in ALL_MODELS}


def dump_text(exclude: tuple = ()) -> str:
    return repr({k: v for k, v in dump().items() if k not in exclude})


def mails(to: str | None = None) -> list[OutboxEmail]:
    """The outbox's emails as the sender sends them: with their links made (the rows hold none)."""
    from regtui.core.services import outbox

    q = OutboxEmail.select().order_by(OutboxEmail.id)
    if to is not None:
        q = q.where(OutboxEmail.to == to)
    return [outbox.with_live_link(m) for m in q]


def all_bodies() -> str:
    return "\n".join(f"{m.subject}\n{m.body}" for m in mails())


def set_password_token(body: str) -> str:
    m = re.search(r"/set-password/(\S+)", body)
    assert m, body
    return m.group(1)


def claim_token(link: str) -> str:
    m = re.search(r"/claim/(\S+)$", link)
    assert m, link
    return m.group(1)

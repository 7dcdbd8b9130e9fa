"""Customers (the eCommerce side) and their link to learner accounts (the portal side)."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

from regtui.core import paging
from regtui.core.errors import NotFound, Refused, UsageError
from regtui.core.ids import parse_id
from regtui.core.models import Code, Customer, Learner, Order, Pool, database
from regtui.core.services import audit, learners, outbox, templates
from regtui.core.services.permissions import Actor, require


def describe(row: Customer) -> dict:
    return {"name": row.name, "email": row.email, "learner_id": row.learner_id}


def find(ref: str) -> Customer:
    """A customer by id, email or name."""
    ref = str(ref).strip()
    cid = parse_id(ref)
    row = Customer.get_or_none(Customer.id == cid) if cid is not None else None
    if row is None and "@" in ref:
        row = Customer.get_or_none(Customer.email_key == ref.lower())
    if row is None:
        named = list(Customer.select().where(Customer.name == ref).limit(2))
        if len(named) > 1:
            raise UsageError(f"More than one customer is called {ref!r}: give its id or email (see `regtui customers`).")
        row = named[0] if named else None
    if row is None:
        raise NotFound(f"There is no customer {ref!r}: give its id, email or name (see `regtui customers`).")
    return row


def add(actor: Actor, name: str, email: str) -> Customer:
    """A customer record only (a buyer with no learner account)."""
    require(actor, "orders.add")
    given, key = learners.normalise_email(email)
    name = name.strip()
    if not name:
        raise UsageError("A customer needs a name.")
    with database.atomic():
        _refuse_duplicate(key)
        row = Customer.create(name=name, email=given, email_key=key)
        audit.record(actor, "customer.add", row, after=describe(row))
    return row


def new_with_account(actor: Actor, name: str, email: str, first_name: str = "", last_name: str = "") -> Customer:
    """"New customer": the customer and its learner account together; the learner is
    emailed a set-password link (no password is ever emailed). Full admins only."""
    require(actor, "customers.new")
    given, key = learners.normalise_email(email)
    with database.atomic():
        _refuse_duplicate(key)
        if Learner.get_or_none(Learner.email_key == key):
            raise Refused(f"A learner account for {given} exists already: use sync to eCommerce instead.", code="exists")
        [(learner, _)] = learners.ensure(actor.name, [learners.LearnerSpec(given, first_name, last_name)], keys=[key])
        row = Customer.create(name=name.strip() or _full_name(learner) or given, email=given, email_key=key, learner=learner)
        audit.record(actor, "customer.new", row, after=describe(row))
        _, expires = learners.password_link(learner)
        outbox.queue(given, templates.SET_PASSWORD, {
            "first_name": learner.first_name, "last_name": learner.last_name, "email": given,
            "expires": expires.date().isoformat(),
        }, outbox.Link(outbox.PASSWORD_LINK, learner.id))
    return row


def sync_to_ecommerce(actor: Actor, learner: Learner) -> tuple[Customer, bool]:
    """Make or link the customer for a learner: (customer, created)."""
    require(actor, "customers.sync")
    with database.atomic():
        linked = Customer.get_or_none(Customer.learner == learner.id)
        if linked:
            return linked, False
        row = Customer.get_or_none(Customer.email_key == learner.email_key)
        if row is not None:
            before = describe(row)
            row.learner = learner
            row.save()
            audit.record(actor, "customer.link", row, before=before, after=describe(row))
            return row, False
        row = Customer.create(name=_full_name(learner) or learner.email, email=learner.email,
                              email_key=learner.email_key, learner=learner)
        audit.record(actor, "customer.sync", row, after=describe(row))
        return row, True


def _full_name(learner: Learner) -> str:
    return f"{learner.first_name} {learner.last_name}".strip()


def _refuse_duplicate(key: str) -> None:
    if Customer.get_or_none(Customer.email_key == key):
        raise Refused(f"A customer with the address {key} exists already.", code="exists")


@dataclass(frozen=True)
class CustomerRow:
    id: int
    name: str
    email: str
    pools: int
    seats: int
    available: int


SORTS = {"name": Customer.name, "email": Customer.email_key}


def listing(actor: Actor, search: str = "", sort: str = "name", descending: bool = False,
            limit: int = 100, offset: int = 0) -> list[CustomerRow]:
    """One page of customers with their seat totals, filtered and sorted by the database."""
    q = (
        Customer.select(Customer.id, Customer.name, Customer.email,
                        fn.COUNT(Pool.id).alias("pools"),
                        fn.COALESCE(fn.SUM(Pool.seats), 0).alias("seats"),
                        fn.COALESCE(fn.SUM(Pool.available), 0).alias("available"))
        .join(Order, JOIN.LEFT_OUTER).join(Pool, JOIN.LEFT_OUTER)
        .group_by(Customer.id, Customer.name, Customer.email)
    )
    q = _scope(actor, q)
    if search:
        like = f"%{search.lower()}%"
        q = q.where(fn.LOWER(Customer.name) ** like | (Customer.email_key ** like))
    totals = {"pools": fn.COUNT(Pool.id), "seats": fn.COALESCE(fn.SUM(Pool.seats), 0),
              "available": fn.COALESCE(fn.SUM(Pool.available), 0)}
    order_col = totals.get(sort) or SORTS.get(sort, Customer.name)
    q = q.order_by(order_col.desc() if descending else order_col.asc(), Customer.id)
    return [CustomerRow(*r) for r in q.limit(limit).offset(offset).tuples()]


def count(actor: Actor, search: str = "") -> int:
    q = _scope(actor, Customer.select())
    if search:
        like = f"%{search.lower()}%"
        q = q.where(fn.LOWER(Customer.name) ** like | (Customer.email_key ** like))
    return q.count()


def _scope(actor: Actor, q):
    if actor.role == "manager":
        return q.where(Customer.id == actor.customer_id)
    require(actor, "customers.view")
    return q


def learners_of(actor: Actor, customer: Customer) -> list[Learner]:
    """Learners who hold a seat in one of the customer's pools (to pick from when assigning)."""
    require(actor, "seats.view", customer.id)
    return list(
        Learner.select().join(Code, on=(Code.learner == Learner.id)).join(Pool).join(Order)
        .where(Order.customer == customer.id).distinct().order_by(Learner.email_key)
    )


# --- pages (keyset pagination: see regtui.core.paging) --------------------------------------

@dataclass(frozen=True)
class KnownLearner:
    """A learner holding a seat in another pool of the customer (to tick when assigning)."""

    id: int
    email: str
    first_name: str
    last_name: str


LEARNER_SORTS = {"email": Learner.email_key, "first": Learner.first_name, "last": Learner.last_name}


def _known_query(customer_id_: int, pool_id: int, search: str, columns):
    """Learners seated in another pool of the customer and not in ``pool_id``: two indexed
    look-ups on code (pool, learner), whatever the size of the pools."""
    others = [p for (p,) in Pool.select(Pool.id).join(Order).where(
        (Order.customer == customer_id_) & (Pool.id != pool_id)).tuples()]
    q = Learner.select(*columns).where(
        Learner.id.in_(Code.select(Code.learner).where(Code.pool.in_(others or [0]) & (Code.state == "claimed")))
        & Learner.id.not_in(Code.select(Code.learner).where((Code.pool == pool_id) & Code.learner.is_null(False))))
    if search.strip():
        q = q.where(paging.contains([Learner.email_key, Learner.first_name, Learner.last_name], search))
    return q


def known_learners_page(actor: Actor, customer_id_: int, pool_id: int, *, search: str = "", sort: str = "email",
                        descending: bool = False, limit: int = 100, after: str | None = None, before: str | None = None,
                        last: bool = False) -> paging.Page[KnownLearner]:
    """One page of the customer's learners who could be given a seat of ``pool_id`` by ticking them."""
    require(actor, "seats.view", customer_id_)
    q = _known_query(customer_id_, pool_id, search, (Learner.id, Learner.email, Learner.first_name, Learner.last_name))
    return paging.fetch(q, sort_expr=paging.sort_expression(LEARNER_SORTS, sort), key=Learner.id, descending=descending,
                        limit=limit, after=after, before=before, last=last, total=lambda: q.count(),
                        make=lambda r: KnownLearner(*r))


def ticked_known(actor: Actor, customer_id_: int, pool_id: int, ticked: paging.Ticked) -> list[str]:
    """The addresses of the ticked known learners (across pages), in one query."""
    require(actor, "seats.view", customer_id_)
    ids = paging.resolve(ticked, Learner.id, lambda search: _known_query(customer_id_, pool_id, search, (Learner.id,)))
    emails: list[str] = []
    for chunk in paging.in_chunks(ids):
        emails.extend(e for (e,) in Learner.select(Learner.email).where(Learner.id.in_(chunk)).order_by(Learner.email_key).tuples())
    return emails

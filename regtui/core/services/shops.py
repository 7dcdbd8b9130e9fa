"""Shops: connected eCommerce stores whose orders become pools and access by themselves.

A webhook is verified by its shop's adapter (``regtui.core.shops``), stored in the inbox
(``ShopDelivery``) and processed in the same transaction: the delivery row and everything it
made commit together, or a rule's refusal leaves the delivery stored as ``failed`` for replay.
Idempotency is held by unique keys, not by reads: one delivery id per shop, one order per
(shop, external id), one ``ShopOrderLine`` per shop line. Refunds and cancellations that arrive
before their order are ``held`` and applied, in arrival order, right after the order is made.

Buyers out to the shop ("sync to eCommerce") go through the shop outbox (``ShopCall``), written
in the transaction of the sync and delivered later with retries and backoff.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from peewee import IntegrityError, fn

from regtui import config
from regtui.core import shops as adapters
from regtui.core.db import dialect
from regtui.core.errors import NotFound, Refused, RegtuiError, UsageError
from regtui.core.models import (Access, Code, Customer, Invitation, Learner, Order, Pool, Session, Shop, ShopCall,
                                ShopCustomer, ShopDelivery, ShopOrderLine, ShopProduct, ShopUnmatched, database, utcnow)
from regtui.core.services import access, audit, customers, events, invitations, learners, orders, outbox, seats, templates
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.operators import Actor, require
from regtui.core.shops.base import BadDelivery, Buyer, Event, Line, ShopOrder, Unauthorized
from regtui.core.words import plural

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_SECRET_BYTES = 4096
STALE_SENDING = dt.timedelta(minutes=10)
MAX_BACKOFF = dt.timedelta(hours=6)
MAX_ATTEMPTS = 12
FAST_SEATS = 1000
"""An order of more seats is stored and answered at once, and made right after the answer
(``process_received``): its codes take longer than a shop waits (bench/shops.py)."""


# --- shops and their SKU map -----------------------------------------------------------------

def _read_secret(path: str, what: str) -> bytes:
    try:
        raw = Path(path).read_bytes()[:MAX_SECRET_BYTES + 1]
    except OSError as exc:
        raise UsageError(f"Cannot read the {what} file {path}: {exc.strerror}.") from None
    secret = raw.strip()
    if not secret or len(raw) > MAX_SECRET_BYTES:
        raise UsageError(f"The {what} file {path} is empty or too long to be a {what}.")
    return secret


def get(name: str) -> Shop:
    row = Shop.get_or_none(Shop.name == name)
    if row is None:
        raise NotFound(f"There is no shop {name!r} (see `regtui shops`).")
    return row


def add(actor: Actor, name: str, kind: str, secret_file: str, api_url: str | None = None,
        token_file: str | None = None) -> Shop:
    """Connect a shop. Its secrets stay in their files (readable by regtui); only the paths are stored."""
    require(actor, "shops.manage")
    if not NAME.match(name or ""):
        raise UsageError(f"{name!r} is not a shop name: use 1-40 lowercase letters, digits, - or _ (it is part of the URL).")
    if kind not in adapters.KINDS:
        raise UsageError(f"{kind!r} is not a shop kind: use {', '.join(adapters.KINDS)}.")
    if bool(api_url) != bool(token_file):
        raise UsageError("--api-url and --token-file go together: the API needs both.")
    if api_url and not re.match(r"^https?://[^\s/]+", api_url):
        raise UsageError(f"{api_url!r} is not an http(s) URL.")
    _read_secret(secret_file, "webhook secret")
    if token_file:
        _read_secret(token_file, "API token")
    with database.atomic():
        if Shop.get_or_none(Shop.name == name):
            raise Refused(f"There is a shop called {name!r} already; remove it first to connect it again.", code="exists")
        row = Shop.create(name=name, kind=kind, secret_file=str(Path(secret_file).resolve()), api_url=api_url,
                          token_file=str(Path(token_file).resolve()) if token_file else None)
        audit.record(actor, "shop.add", row, after=describe(row))
    return row


def describe(row: Shop) -> dict:
    return {"name": row.name, "kind": row.kind, "api_url": row.api_url, "webhook": f"/hooks/shop/{row.name}"}


def remove(actor: Actor, name: str) -> None:
    """Disconnect a shop: its SKU map, inbox and outbox go; orders it made stay (with their source)."""
    require(actor, "shops.manage")
    with database.atomic():
        row = get(name)
        audit.record(actor, "shop.remove", row, before=describe(row))
        row.delete_instance(recursive=False)


def map_sku(actor: Actor, name: str, sku: str, session: Session) -> tuple[ShopProduct, int]:
    """Map a shop SKU to a session (or move it); returns the mapping and how many unmatched lines it now matches."""
    require(actor, "shops.manage")
    sku = (sku or "").strip()
    if not sku or len(sku) > 200:
        raise UsageError("A SKU is 1-200 characters.")
    with database.atomic():
        shop = get(name)
        row = ShopProduct.get_or_none((ShopProduct.shop == shop.id) & (ShopProduct.sku == sku))
        before = {"sku": sku, "session": row.session.code} if row else None
        if row is None:
            row = ShopProduct.create(shop=shop, sku=sku, session=session)
        else:
            row.session = session
            row.save()
        audit.record(actor, "shop.map", row, before=before, after={"shop": name, "sku": sku, "session": session.code})
        waiting = ShopUnmatched.select().where((ShopUnmatched.shop == shop.id) & (ShopUnmatched.sku == sku)
                                               & ShopUnmatched.resolved_at.is_null()).count()
    return row, waiting


@dataclass(frozen=True)
class ShopRow:
    name: str
    kind: str
    api: bool
    products: int
    deliveries: int
    unmatched: int
    failed: int

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "api": self.api, "webhook": f"/hooks/shop/{self.name}",
                "products": self.products, "deliveries": self.deliveries, "unmatched": self.unmatched, "failed": self.failed}


def listing(actor: Actor) -> list[ShopRow]:
    require(actor, "shops.view")
    out = []
    for shop in Shop.select().order_by(Shop.name):
        statuses = dict(ShopDelivery.select(ShopDelivery.status, fn.COUNT(ShopDelivery.id))
                        .where(ShopDelivery.shop == shop.id).group_by(ShopDelivery.status).tuples())
        out.append(ShopRow(shop.name, shop.kind, bool(shop.api_url), shop.products.count(), sum(statuses.values()),
                           _open_unmatched(shop).count(), statuses.get("failed", 0)))
    return out


def _open_unmatched(shop: Shop):
    return ShopUnmatched.select().where((ShopUnmatched.shop == shop.id) & ShopUnmatched.resolved_at.is_null())


@dataclass(frozen=True)
class UnmatchedRow:
    shop: str
    order: str
    line: str
    sku: str
    quantity: int
    seen_at: dt.datetime

    def as_dict(self) -> dict:
        return {"shop": self.shop, "order": self.order, "line": self.line, "sku": self.sku, "quantity": self.quantity,
                "seen_at": self.seen_at.isoformat()}


def unmatched(actor: Actor, name: str | None = None) -> list[UnmatchedRow]:
    """Order lines no session is mapped to yet, oldest first: map their SKU, then replay."""
    require(actor, "shops.view")
    q = (ShopUnmatched.select(ShopUnmatched, Shop).join(Shop).where(ShopUnmatched.resolved_at.is_null())
         .order_by(ShopUnmatched.id))
    if name:
        q = q.where(Shop.name == name)
    return [UnmatchedRow(u.shop.name, u.external_order_id, u.external_line_id, u.sku, u.quantity, u.seen_at) for u in q]


# --- webhooks in ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Receipt:
    """What to answer the shop: an HTTP status and one sentence; ``later`` is the stored delivery
    to process once the answer is sent (``process_received``), for a big order."""

    status: int
    sentence: str
    later: int | None = None


def receive(name: str, headers: Mapping[str, str], body: bytes) -> Receipt:
    """Verify, store and process one webhook. Raises Unauthorized (401: nothing stored) or
    BadDelivery (400: nothing stored); everything else is stored and answered 2xx."""
    shop = Shop.get_or_none(Shop.name == name)
    if shop is None:
        raise NotFound(f"There is no shop {name!r}.")
    adapter = adapters.adapter(shop.kind)
    if shop.kind == "woocommerce" and adapter.is_ping(headers, body):
        return Receipt(200, "Ping received.")
    try:
        secret = _read_secret(shop.secret_file, "webhook secret")
    except UsageError:
        log.error("shop %s: its webhook secret file cannot be read; refusing deliveries", shop.name)
        raise Unauthorized("the shop's secret file cannot be read") from None
    delivery = adapter.verify(secret, headers, body, utcnow())
    event = adapter.parse(delivery.topic, body)
    if event.order is not None:
        _check_buyer(event.order.buyer)
    return _retrying(lambda: _store_and_apply(shop, delivery.delivery_id, delivery.topic, body, event))


def _retrying(step):
    """``step()`` in its own transaction, again if a concurrent twin won a unique key: another
    request made the same delivery or order at the same moment; the next round sees what it made
    and changes nothing."""
    for attempt in range(5):
        try:
            return step()
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _check_buyer(buyer: Buyer) -> None:
    try:
        learners.normalise_email(buyer.email)
    except Refused:
        raise BadDelivery("The buyer's email address is not valid.") from None


def _store_and_apply(shop: Shop, delivery_id: str, topic: str, body: bytes, event: Event) -> Receipt:
    # a retry is answered from a plain read, without queueing for the write lock behind a big order
    if ShopDelivery.get_or_none((ShopDelivery.shop == shop.id) & (ShopDelivery.delivery_id == delivery_id)):
        return Receipt(200, "Already received; nothing new was done.")
    with database.atomic():
        if ShopDelivery.get_or_none((ShopDelivery.shop == shop.id) & (ShopDelivery.delivery_id == delivery_id)):
            return Receipt(200, "Already received; nothing new was done.")
        row = ShopDelivery.create(shop=shop, delivery_id=delivery_id, topic=topic or "(none)",
                                  external_order_id=event.order.order_id if event.order else event.order_id,
                                  body=body.decode("utf-8", "replace"))
        if event.order is not None and sum(l.quantity for l in event.order.lines) > FAST_SEATS:
            return Receipt(200, "Received: queued.", later=row.id)  # stored; made right after the answer
        _apply_stored(shop, row, event)
    if row.status == "ignored":
        return Receipt(202, f"Topic {topic!r} is not one regtui acts on; logged.")
    return Receipt(200, f"Received: {row.status}.")


def process_received(delivery_pk: int) -> str | None:
    """Process a delivery stored as ``received`` (a big order, answered before it was made); its
    status after, or None if another process took it first. ``shop replay`` does the same for any
    left behind by a process that stopped."""
    def step():
        with database.atomic():
            dialect().lock_row("shop_delivery", delivery_pk)
            row = ShopDelivery.get_or_none(ShopDelivery.id == delivery_pk)
            if row is None or row.status != "received":
                return None
            shop = Shop.get_by_id(row.shop_id)
            try:
                event = adapters.adapter(shop.kind).parse(row.topic, row.body.encode("utf-8"))
            except BadDelivery as exc:
                ShopDelivery.update(status="failed", note=str(exc)).where(ShopDelivery.id == row.id).execute()
                return "failed"
            _apply_stored(shop, row, event)
            return row.status
    return _retrying(step)


def process_left_behind(older_than: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Make the big orders stored as ``received`` more than ``older_than`` ago (their ``regtui
    serve`` stopped before making them; a younger one is still being made): for the scheduler."""
    due = [i for (i,) in ShopDelivery.select(ShopDelivery.id).where(
        (ShopDelivery.status == "received") & (ShopDelivery.received_at < utcnow() - older_than))
        .order_by(ShopDelivery.id).tuples()]
    return sum(1 for delivery_pk in due if process_received(delivery_pk) is not None)


def _apply_stored(shop: Shop, row: ShopDelivery, event: Event) -> None:
    """Process a stored delivery in a savepoint: a rule's refusal rolls back only what it
    started and leaves the delivery ``failed`` with the reason, to replay."""
    try:
        with database.atomic():
            status, note = _apply(shop, row, event)
    except IntegrityError:
        raise  # a concurrent twin won: receive() starts again and sees what it made
    except RegtuiError as exc:  # a rule said no, or the installation is not ready (e.g. no secret key)
        status, note = "failed", str(exc)
        log.warning("shop %s delivery %s failed: %s", shop.name, row.delivery_id, exc)
    except Exception as exc:  # kept for replay rather than lost; the details go to the log
        status, note = "failed", f"unexpected {type(exc).__name__}: {exc}"[:1000]
        log.exception("shop %s delivery %s failed", shop.name, row.delivery_id)
    row.status, row.note, row.processed_at = status, note, utcnow()
    ShopDelivery.update(status=status, note=note, processed_at=row.processed_at).where(ShopDelivery.id == row.id).execute()


def _apply(shop: Shop, row: ShopDelivery, event: Event) -> tuple[str, str | None]:
    actor_name = f"shop:{shop.name}"
    if event.action == "ignore":
        log.info("shop %s: topic %r ignored", shop.name, row.topic)
        return "ignored", None
    if event.action == "create":
        order, missing = _make_order(actor_name, shop, event.order, delivery=row)
        _release_held(actor_name, shop, event.order.order_id)
        if missing:
            return "unmatched", "no session for SKU " + ", ".join(sorted(set(missing)))
        return "processed", f"order {order.number}"
    order = Order.get_or_none((Order.source == shop.name) & (Order.external_id == event.order_id))
    if order is None:
        return "held", "its order has not arrived yet"
    return "processed", _take_back(actor_name, shop, event)


def _release_held(actor_name: str, shop: Shop, order_id: str) -> None:
    """Refunds and cancellations that came before this order, applied now in arrival order."""
    held = list(ShopDelivery.select().where((ShopDelivery.shop == shop.id) & (ShopDelivery.status == "held")
                                            & (ShopDelivery.external_order_id == order_id)).order_by(ShopDelivery.id))
    for row in held:
        event = adapters.adapter(shop.kind).parse(row.topic, row.body.encode("utf-8"))
        note = _take_back(actor_name, shop, event)
        ShopDelivery.update(status="processed", note=f"{note} (held until its order came)", processed_at=utcnow()).where(
            ShopDelivery.id == row.id).execute()


# --- what an order line becomes ----------------------------------------------------------------

def _make_order(actor_name: str, shop: Shop, data: ShopOrder, *, delivery: ShopDelivery | None) -> tuple[Order, list[str]]:
    """The order (found, or made with its buyer) and each of its lines not made yet; returns the
    order and the SKUs no session is mapped to (those lines land in the unmatched list)."""
    customer = _buyer_customer(shop, data.buyer)
    order = Order.get_or_none((Order.source == shop.name) & (Order.external_id == data.order_id))
    if order is None:
        order = Order.create(number=_order_number(shop, data), customer=customer, source=shop.name,
                             external_id=data.order_id, placed_at=data.placed_at or utcnow())
        audit.record(actor_name, "order.add", order, after={"number": order.number, "customer": customer.name,
                                                            "source": shop.name, "external_id": data.order_id})
    made = {(l.external_line_id, l.sku) for l in ShopOrderLine.select().where(
        (ShopOrderLine.shop == shop.id) & (ShopOrderLine.external_order_id == data.order_id))}
    made_ids, made_skus = {i for i, _ in made}, {s for _, s in made}
    products = {p.sku: p.session for p in ShopProduct.select(ShopProduct, Session).join(Session)
                .where((ShopProduct.shop == shop.id) & ShopProduct.sku.in_([l.sku for l in data.lines] or [""]))}
    missing = []
    for line in data.lines:
        if line.line_id in made_ids or (line.sku and line.sku in made_skus and not line.line_id.startswith("row-")
                                        and any(i.startswith("row-") for i in made_ids)):
            continue  # made already (the same delivery, another topic, or an imported export of this order)
        session = products.get(line.sku)
        if session is None:
            missing.append(line.sku or "(none)")
            _note_unmatched(shop, data.order_id, line, delivery)
            continue
        _make_line(actor_name, shop, order, customer, data, line, session)
        ShopUnmatched.update(resolved_at=utcnow()).where(
            (ShopUnmatched.shop == shop.id) & (ShopUnmatched.external_order_id == data.order_id)
            & (ShopUnmatched.external_line_id == line.line_id) & ShopUnmatched.resolved_at.is_null()).execute()
    return order, missing


def _order_number(shop: Shop, data: ShopOrder) -> str:
    number = data.number.lstrip("#").strip()[:40] or data.order_id
    taken = Order.get_or_none(Order.number == number)
    return number if taken is None else f"{shop.name}-{number}"[:60]


def _note_unmatched(shop: Shop, order_id: str, line: Line, delivery: ShopDelivery | None) -> None:
    known = ShopUnmatched.get_or_none((ShopUnmatched.shop == shop.id) & (ShopUnmatched.external_order_id == order_id)
                                      & (ShopUnmatched.external_line_id == line.line_id))
    if known is None:
        ShopUnmatched.create(shop=shop, delivery=delivery, external_order_id=order_id, external_line_id=line.line_id,
                             sku=line.sku or "(none)", quantity=line.quantity)


def _make_line(actor_name: str, shop: Shop, order: Order, customer: Customer, data: ShopOrder, line: Line,
               session: Session) -> None:
    pool = grant = None
    sold = orders.OrderLine(session, line.quantity)
    if orders.makes_pool(sold):
        pool = orders._make_pool(order, sold)
    else:
        grant = _direct_access(actor_name, customer, data.buyer, session, order.number)
    orders.record_line(order, sold, pool=pool, access=grant)
    ShopOrderLine.create(shop=shop, external_order_id=data.order_id, external_line_id=line.line_id, order=order,
                         sku=line.sku, seats=line.quantity, pool=pool, access=grant)
    audit.record(actor_name, "shop.line", order, after={
        "shop": shop.name, "order": data.order_id, "line": line.line_id, "sku": line.sku, "seats": line.quantity,
        "session": session.code, "pool": pool.id if pool else None, "access": grant.id if grant else None})


def _buyer_customer(shop: Shop, buyer: Buyer) -> Customer:
    """The buyer as a customer: by the shop's customer id, then by email; made if new (named
    after the billing company when there is one)."""
    given, key = learners.normalise_email(buyer.email)
    row = None
    if buyer.remote_id:
        link = ShopCustomer.get_or_none((ShopCustomer.shop == shop.id) & (ShopCustomer.remote_id == buyer.remote_id))
        row = Customer.get_by_id(link.customer_id) if link else None
    if row is None:
        row = Customer.get_or_none(Customer.email_key == key)
    if row is None:
        name = buyer.company or f"{buyer.first_name} {buyer.last_name}".strip() or given
        row = Customer.create(name=name, email=given, email_key=key)
        audit.record(f"shop:{shop.name}", "customer.add", row, after=customers.describe(row))
    if buyer.remote_id:
        _link_remote(shop, row, buyer.remote_id)
    return row


def _link_remote(shop: Shop, customer: Customer, remote_id: str) -> None:
    """Remember the shop's id for this customer unless either side is linked already."""
    if ShopCustomer.get_or_none((ShopCustomer.shop == shop.id) & ((ShopCustomer.remote_id == remote_id)
                                                                   | (ShopCustomer.customer == customer.id))) is None:
        ShopCustomer.create(shop=shop, customer=customer, remote_id=remote_id)


def _direct_access(actor_name: str, customer: Customer, buyer: Buyer, session: Session, order_number: str) -> Access:
    """A single seat (or a session with codes off): the buyer's own account gets access, with a
    confirmation email carrying their set-password link if they have no password yet. An
    active access they already have to the session is kept, not doubled."""
    [(learner, _)] = learners.ensure(actor_name, [LearnerSpec(buyer.email, buyer.first_name, buyer.last_name)])
    if customer.learner_id is None and Customer.get_or_none(Customer.learner == learner.id) is None:
        Customer.update(learner=learner.id).where(Customer.id == customer.id).execute()
    today = access.today()
    current = Access.get_or_none((Access.learner == learner.id) & (Access.session == session.id) & (Access.status == "active")
                                 & (Access.ends.is_null() | (Access.ends >= today)))
    if current is not None:
        return current
    grant = Access.create(learner=learner, session=session, code=None, starts=today,
                          ends=access.default_end(session, today))
    events.record("access.granted", grant.id)
    set_password = ""
    if learner.must_set_password:
        link, _ = learners.password_link(learner)
        set_password = f"Set your password here (the link works once): {link}"
    outbox.queue(learner.email, templates.CONFIRMATION, {
        "first_name": learner.first_name, "last_name": learner.last_name, "email": learner.email,
        "code": f"not needed (order {order_number})", "product": session.product.name, "session": session.name,
        "access_start": grant.starts.isoformat(), "access_end": grant.ends.isoformat() if grant.ends else "open-ended",
        "set_password": set_password, "signin": config.signin_url()})
    audit.record(actor_name, "access.grant", grant, after={"learner": learner.email, "session": session.code,
                                                           "starts": grant.starts, "ends": grant.ends})
    return grant


# --- cancellations and refunds -----------------------------------------------------------------

def _take_back(actor_name: str, shop: Shop, event: Event) -> str:
    """Take back the refunded (or, for a cancellation, all remaining) seats of the order's lines:
    available seats first, then pending invitations (cancelled, with an email). Claimed seats are
    never taken: what is left is counted as over-refunded and the pool flagged for an admin."""
    lines = {l.external_line_id: l for l in ShopOrderLine.select().where(
        (ShopOrderLine.shop == shop.id) & (ShopOrderLine.external_order_id == event.order_id))}
    if event.action == "cancel":
        wanted = [(l, l.seats - l.taken_back - l.over_refunded) for l in lines.values()]
    else:
        wanted = [(lines[line_id], n) for line_id, n in event.refunds if line_id in lines]
    taken = flagged = 0
    for line, n in wanted:
        n = min(n, line.seats - line.taken_back - line.over_refunded)
        if n <= 0:
            continue
        got = _take_from_pool(actor_name, line.pool_id, n) if line.pool_id else 0
        short = n - got
        ShopOrderLine.update(taken_back=ShopOrderLine.taken_back + got,
                             over_refunded=ShopOrderLine.over_refunded + short).where(ShopOrderLine.id == line.id).execute()
        if short and line.pool_id:
            Pool.update(over_refunded=True).where(Pool.id == line.pool_id).execute()
        taken, flagged = taken + got, flagged + short
        audit.record(actor_name, f"shop.{event.action}", line.order, after={
            "shop": shop.name, "order": event.order_id, "line": line.external_line_id, "seats": n, "taken_back": got,
            "over_refunded": short, "pool": line.pool_id, "access": line.access_id})
    return f"{plural(taken, 'seat')} taken back" + (f", {plural(flagged, 'claimed seat')} left for an admin (over-refunded)" if flagged else "")


def _take_from_pool(actor_name: str, pool_id: int, n: int) -> int:
    pool = Pool.select(Pool, Order).join(Order).where(Pool.id == pool_id).get()
    seats.lock_pool(pool.id)
    got = seats.remove_available(pool.id, n)
    if got < n:
        pending = list(Invitation.select(Invitation, Code).join(Code)
                       .where((Code.pool == pool.id) & (Code.state == "invited") & (Invitation.status == "pending"))
                       .order_by(Invitation.id.desc()))
        codes: list[int] = []
        for inv in pending:
            if inv.code_id not in codes:
                codes.append(inv.code_id)
        codes = codes[:n - got]
        chosen = [i for i in pending if i.code_id in codes]
        if chosen:
            # cancelling withdraws their unsent emails, and tells whoever got one already
            invitations.cancel_many(actor_name, pool, chosen)
            got += seats.remove_available(pool.id, len(codes))
    return got


# --- replay, and the admin's view of deliveries -----------------------------------------------

def replay(actor: Actor, name: str) -> dict[str, int]:
    """Process the shop's unmatched and failed deliveries again (after ``map``), and any big order
    still ``received`` (its process stopped before making it): lines made already are left alone,
    so a replay never doubles anything."""
    require(actor, "shops.orders")
    shop = get(name)
    counts: dict[str, int] = {}
    ids = [i for (i,) in ShopDelivery.select(ShopDelivery.id).where(
        (ShopDelivery.shop == shop.id) & ShopDelivery.status.in_(["unmatched", "failed", "received"])).order_by(ShopDelivery.id).tuples()]
    adapter = adapters.adapter(shop.kind)
    for delivery_id in ids:
        with database.atomic():
            dialect().lock_row("shop_delivery", delivery_id)
            row = ShopDelivery.get_by_id(delivery_id)
            if row.status not in ("unmatched", "failed", "received"):
                continue
            try:
                event = adapter.parse(row.topic, row.body.encode("utf-8"))
            except BadDelivery as exc:
                row.status, row.note = "failed", str(exc)
                ShopDelivery.update(status="failed", note=str(exc)).where(ShopDelivery.id == row.id).execute()
            else:
                _apply_stored(shop, row, event)
            audit.record(actor, "shop.replay", row, after={"shop": name, "delivery": row.delivery_id, "status": row.status})
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def over_refunded_lines(actor: Actor) -> list[dict]:
    """Shop lines with refunded seats that were claimed (pools are flagged too): for an admin to decide."""
    require(actor, "shops.view")
    q = (ShopOrderLine.select(ShopOrderLine, Shop, Order).join(Shop).switch(ShopOrderLine).join(Order)
         .where(ShopOrderLine.over_refunded > 0).order_by(ShopOrderLine.id))
    return [{"shop": l.shop.name, "order": l.order.number, "line": l.external_line_id, "sku": l.sku, "seats": l.seats,
             "taken_back": l.taken_back, "over_refunded": l.over_refunded, "pool": l.pool_id, "access": l.access_id} for l in q]


# --- backfill from the shop's CSV order export ------------------------------------------------

@dataclass(frozen=True)
class ImportChange:
    """One line of the import plan: ``op`` is create (a pool or direct access), unchanged,
    unmatched or error."""

    op: str
    order: str
    line: str
    sku: str
    seats: int
    detail: str

    def as_dict(self) -> dict:
        return {"op": self.op, "order": self.order, "line": self.line, "sku": self.sku, "seats": self.seats,
                "detail": self.detail}


@dataclass(frozen=True)
class ImportPlan:
    shop: str
    file: str
    changes: tuple[ImportChange, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "unchanged": 0, "unmatched": 0}
        for c in self.changes:
            out[c.op] = out.get(c.op, 0) + 1
        return out


def read_export(shop: Shop, path: str) -> list[ShopOrder]:
    """The paid orders of a Shopify or WooCommerce CSV order export (UTF-8, with or without BOM)."""
    adapter = adapters.adapter(shop.kind)
    if not hasattr(adapter, "export_orders"):
        raise UsageError(f"{shop.kind} has no CSV order export regtui reads; its orders come in by webhook.")
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text (save the export as it was downloaded).") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    if not adapter.EXPORT_COLUMNS <= columns:
        raise UsageError(f"{Path(path).name} is not a {shop.kind} order export: it lacks the columns "
                         f"{', '.join(sorted(adapter.EXPORT_COLUMNS - columns))}.")
    try:
        return adapter.export_orders(list(reader))
    except BadDelivery as exc:
        raise UsageError(f"{Path(path).name}: {exc}") from None


def plan_import(actor: Actor, name: str, path: str) -> ImportPlan:
    """The dry-run diff of an export against the database: nothing is written."""
    require(actor, "shops.view")
    shop = get(name)
    return _plan(shop, path, read_export(shop, path))


def _plan(shop: Shop, path: str, data: list[ShopOrder]) -> ImportPlan:
    products = {p.sku: p.session for p in ShopProduct.select(ShopProduct, Session).join(Session)
                .where(ShopProduct.shop == shop.id)}
    changes = []
    for o in data:
        made = {(l.external_line_id, l.sku) for l in ShopOrderLine.select().where(
            (ShopOrderLine.shop == shop.id) & (ShopOrderLine.external_order_id == o.order_id))}
        made_ids, made_skus = {i for i, _ in made}, {s for _, s in made}
        for line in o.lines:
            session = products.get(line.sku)
            if line.line_id in made_ids or (line.sku and line.sku in made_skus):
                op, detail = "unchanged", "made already"
            elif session is None:
                op, detail = "unmatched", f"no session for SKU {line.sku or '(none)'}"
            elif session.generate_codes and line.quantity >= 2:
                op, detail = "create", f"pool of {line.quantity} seats of {session.code} for {o.buyer.email}"
            else:
                op, detail = "create", f"access to {session.code} for {o.buyer.email}"
            changes.append(ImportChange(op, o.number, line.line_id, line.sku, line.quantity, detail))
    return ImportPlan(shop.name, Path(path).name, tuple(changes))


def apply_import(actor: Actor, name: str, path: str) -> ImportPlan:
    """Apply an export in one transaction: the plan is made again inside it and exactly its
    ``create`` lines are made; lines made already stay as they are, so a re-import changes nothing."""
    require(actor, "shops.orders")
    shop = get(name)
    data = read_export(shop, path)
    for o in data:
        _check_buyer(o.buyer)
    actor_name = actor.name
    with database.atomic():
        plan = _plan(shop, path, data)
        creating = {(c.order, c.line) for c in plan.changes if c.op == "create"}
        for o in data:
            if any((o.number, l.line_id) in creating for l in o.lines):
                subset = ShopOrder(o.order_id, o.number, o.currency, o.buyer,
                                   tuple(l for l in o.lines if (o.number, l.line_id) in creating), o.placed_at)
                _make_order(actor_name, shop, subset, delivery=None)
        audit.record(actor, "shop.import", shop, after={"file": plan.file, **plan.counts()})
    return plan


# --- buyers out to the shop: sync to eCommerce through the shop outbox -------------------------

def sync_customer(actor: Actor, learner: Learner) -> tuple[Customer, bool, int]:
    """"Sync to eCommerce": make or link the learner's customer and, in the same transaction,
    queue its creation in every shop with an API that does not know it yet. Returns
    (customer, created, calls queued)."""
    require(actor, "customers.sync")
    with database.atomic():
        customer, created = customers.sync_to_ecommerce(actor, learner)
        queued = 0
        for shop in Shop.select().where(Shop.api_url.is_null(False)):
            known = ShopCustomer.get_or_none((ShopCustomer.shop == shop.id) & (ShopCustomer.customer == customer.id))
            waiting = ShopCall.get_or_none((ShopCall.shop == shop.id) & (ShopCall.customer == customer.id)
                                           & ShopCall.status.in_(["queued", "sending"]))
            if known is None and waiting is None:
                call = ShopCall.create(shop=shop, customer=customer, action="customer.create")
                audit.record(actor, "shop.call.queue", call, after={"shop": shop.name, "customer": customer.email})
                queued += 1
    return customer, created, queued


@dataclass
class CallReport:
    done: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"done": self.done, "retry": self.retry, "failed": self.failed, "errors": self.errors}


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... doubling after each failed attempt, at most 6 hours."""
    return min(dt.timedelta(seconds=30 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


def deliver_calls(actor: Actor, limit: int | None = None) -> CallReport:
    """Make the queued shop API calls that are due, once each; a shop that says 429 (or 5xx, or
    cannot be reached) is tried again after its Retry-After or the backoff."""
    require(actor, "shops.sync")
    _requeue_stale()
    report = CallReport()
    after_id = 0
    while limit is None or report.done + report.retry + report.failed < limit:
        call = _claim_next(after_id)
        if call is None:
            break
        after_id = call.id
        _deliver_one(call, report)
    return report


def _requeue_stale() -> None:
    with database.atomic():
        ShopCall.update(status="queued").where(
            (ShopCall.status == "sending") & (ShopCall.claimed_at < utcnow() - STALE_SENDING)).execute()


def _claim_next(after_id: int) -> ShopCall | None:
    """The next due call, marked as being sent by a conditional UPDATE (two senders never take the same one)."""
    while True:
        row = (ShopCall.select(ShopCall.id).where((ShopCall.status == "queued") & (ShopCall.id > after_id)
                                                  & (ShopCall.next_attempt_at <= utcnow())).order_by(ShopCall.id).first())
        if row is None:
            return None
        with database.atomic():
            taken = ShopCall.update(status="sending", claimed_at=utcnow(), attempts=ShopCall.attempts + 1).where(
                (ShopCall.id == row.id) & (ShopCall.status == "queued")).execute()
        if taken:
            return ShopCall.get_by_id(row.id)
        after_id = row.id


def _deliver_one(call: ShopCall, report: CallReport) -> None:
    from regtui.core.shops.base import CallFailed, TryLater

    shop, customer = Shop.get_by_id(call.shop_id), Customer.get_by_id(call.customer_id)
    learner = Learner.get_or_none(Learner.id == customer.learner_id) if customer.learner_id else None
    try:
        token = _read_secret(shop.token_file, "API token").decode("utf-8", "replace")
        remote_id = adapters.adapter(shop.kind).create_customer(
            shop.api_url, token, customer.email, learner.first_name if learner else "", learner.last_name if learner else "")
    except (TryLater, UsageError) as exc:
        after = getattr(exc, "after", None)
        wait = dt.timedelta(seconds=after) if after is not None else backoff(call.attempts)
        final = call.attempts >= MAX_ATTEMPTS
        _finish(call, status="failed" if final else "queued", last_error=str(exc)[:1000], next_attempt_at=utcnow() + wait)
        report.failed += final
        report.retry += not final
        report.errors.append(f"{shop.name} {customer.email}: {exc}" + ("" if final else " (will retry)"))
        return
    except CallFailed as exc:
        _finish(call, status="failed", last_error=str(exc)[:1000])
        report.failed += 1
        report.errors.append(f"{shop.name} {customer.email}: {exc}")
        return
    with database.atomic():
        _link_remote(shop, customer, remote_id)
        _finish(call, status="done", remote_id=remote_id, done_at=utcnow(), last_error=None)
        audit.record(f"shop:{shop.name}", "shop.customer.create", customer,
                     after={"shop": shop.name, "remote_id": remote_id})
    report.done += 1


def _finish(call: ShopCall, **fields) -> None:
    with database.atomic():
        ShopCall.update(**fields).where(ShopCall.id == call.id).execute()


def call_counts() -> dict[str, int]:
    out = {"queued": 0, "sending": 0, "done": 0, "failed": 0}
    for status, n in ShopCall.select(ShopCall.status, fn.COUNT(ShopCall.id)).group_by(ShopCall.status).tuples():
        out[status] = n
    return out


def remote_id(shop_name: str, customer: Customer) -> str | None:
    row = (ShopCustomer.select().join(Shop).where((Shop.name == shop_name) & (ShopCustomer.customer == customer.id)).first())
    return row.remote_id if row else None


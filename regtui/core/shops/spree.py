"""Spree 5: webhooks signed as hex HMAC-SHA256 of "{timestamp}.{raw body}" under the endpoint's
secret key (X-Spree-Webhook-Signature), the Unix time in X-Spree-Webhook-Timestamp (made at send
time, so retries carry a fresh one; Spree's own SDK accepts 300 seconds of age), the event name in
X-Spree-Webhook-Event. The body is an envelope {id, name, created_at, data, metadata}; the event
``id`` is the same on every retry, so it is the delivery id. Order lines carry no SKU: a Spree
line is matched by its variant's prefixed id (``var_...``), which is what ``shop map`` takes.
Customers are created with the Admin API ``POST /api/v3/admin/customers`` (X-Spree-Api-Key).

Sources: spree/spree spree/api/app/services/spree/webhooks/deliver_webhook.rb,
packages/sdk/src/webhooks.ts (verifyWebhookSignature, 300 s tolerance),
docs/developer/core-concepts/webhooks.mdx, docs/api-reference/webhooks-events.mdx,
docs/api-reference/admin-api/authentication.mdx, packages/admin-sdk (customers.create).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Mapping

from regtui.core.shops import base, http
from regtui.core.shops.base import (BadDelivery, Buyer, Delivery, Event, Line, ShopOrder, Unauthorized, clean, currency,
                                    header, need, parse_time, quantity, text_id)

KIND = "spree"
TOLERANCE = dt.timedelta(seconds=300)


def sign(secret: bytes, body: bytes, timestamp: str) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> Delivery:
    given, stamp = header(headers, "X-Spree-Webhook-Signature"), header(headers, "X-Spree-Webhook-Timestamp")
    if not given or not stamp.isdigit() or len(stamp) > 12 or not base.same(given, sign(secret, body, stamp)):
        raise Unauthorized("missing or wrong X-Spree-Webhook-Signature")
    sent = dt.datetime.fromtimestamp(int(stamp), dt.timezone.utc).replace(tzinfo=None)
    if abs(now - sent) > TOLERANCE:
        raise Unauthorized(f"X-Spree-Webhook-Timestamp {stamp} is more than 300 seconds from now")
    envelope = base.load_json(body)
    if not isinstance(envelope, dict):
        raise BadDelivery("The body is not a Spree webhook envelope.")
    event_id = text_id(envelope.get("id"), "event")
    return Delivery(event_id, header(headers, "X-Spree-Webhook-Event")[:100] or str(envelope.get("name"))[:100], body)


def parse(topic: str, body: bytes) -> Event:
    envelope = base.load_json(body)
    data = need(envelope, "data", dict, "webhook envelope")
    if topic == "order.paid" or (topic == "order.completed" and (data.get("payment_status") or data.get("payment_state")) == "paid"):
        return Event("create", order=order(data))
    if topic == "order.canceled":
        return Event("cancel", order_id=text_id(data.get("id"), "order"))
    return Event("ignore")


def order(data: dict) -> ShopOrder:
    order_id = text_id(data.get("id"), "order")
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        raise BadDelivery("The order has no email.")
    billing = next((data[k] for k in ("billing_address", "bill_address") if isinstance(data.get(k), dict)), {})
    remote = data.get("customer_id") or data.get("user_id")
    buyer = Buyer(email=email.strip()[:254], remote_id=str(remote) if isinstance(remote, (str, int)) and remote else None,
                  first_name=clean(billing.get("first_name") or billing.get("firstname")),
                  last_name=clean(billing.get("last_name") or billing.get("lastname")), company=clean(billing.get("company")))
    lines = []
    for n, item in enumerate(need(data, "items", list, "order"), 1):
        if not isinstance(item, dict):
            raise BadDelivery(f"Item {n} of the order is not a line item.")
        sku = clean(item.get("sku")) or clean(item.get("variant_id"))
        lines.append(Line(text_id(item.get("id"), f"item {n}"), sku, quantity(item.get("quantity"), f"Item {n}"),
                          clean(item.get("name"))))
    return ShopOrder(order_id, clean(data.get("number")) or order_id, currency(data.get("currency")), buyer, tuple(lines),
                     parse_time(data.get("completed_at") or data.get("created_at")))


def create_customer(api_url: str, token: str, email: str, first_name: str, last_name: str) -> str:
    """The Spree id (prefixed) of a new customer; an address Spree already has is looked up."""
    root = f"{api_url.rstrip('/')}/api/v3/admin/customers"
    headers = {"X-Spree-Api-Key": token}
    try:
        _, made = http.call("POST", root, headers, {"email": email, "first_name": first_name, "last_name": last_name})
        return text_id((made or {}).get("id"), "customer")
    except base.CallFailed as exc:
        if not str(exc).startswith("422"):  # Spree answers 422 for an address that is taken
            raise
    from urllib.parse import urlencode

    _, found = http.call("GET", f"{root}?{urlencode({'q[email_eq]': email})}", headers)
    rows = (found or {}).get("data") if isinstance(found, dict) else None
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        return text_id(rows[0].get("id"), "customer")
    raise base.CallFailed(f"{email} exists in the shop but was not found by email")

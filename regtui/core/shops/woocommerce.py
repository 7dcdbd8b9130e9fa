"""WooCommerce: webhooks signed with a base64 HMAC-SHA256 of the raw body under the webhook's
secret (X-WC-Webhook-Signature), with X-WC-Webhook-Topic (order.created, order.updated, ...),
X-WC-Webhook-ID and X-WC-Webhook-Delivery-ID; no timestamp is sent, so no replay window applies
beyond the delivery id. The body is the REST API v3 order. When a webhook is saved, WooCommerce
pings the URL with the unsigned form body ``webhook_id=N`` and wants a 200.
Customers are created with REST ``POST /wp-json/wc/v3/customers`` (HTTP Basic with the
consumer key and secret over HTTPS).

Sources: woocommerce/woocommerce plugins/woocommerce/includes/class-wc-webhook.php (deliver,
generate_signature, deliver_ping); woocommerce.github.io/woocommerce-rest-api-docs (orders,
customers, webhooks); the Customer/Order/Coupon Export "Default - One Row per Item" CSV format.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from typing import Mapping

from regtui.core.shops import base, http
from regtui.core.shops.base import (BadDelivery, Buyer, Delivery, Event, Line, ShopOrder, Unauthorized, clean, currency,
                                    header, need, parse_time, quantity, text_id)

KIND = "woocommerce"
PAID_STATUSES = {"processing", "completed"}
CANCEL_STATUSES = {"cancelled", "refunded"}
PING = re.compile(rb"^webhook_id=\d{1,20}$")


def sign(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """WooCommerce's unsigned test ping when a webhook is saved: nothing in it to act on."""
    return not header(headers, "X-WC-Webhook-Signature") and not header(headers, "X-WC-Webhook-Topic") and bool(PING.match(body))


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> Delivery:
    given = header(headers, "X-WC-Webhook-Signature")
    if not given or not base.same(given, sign(secret, body)):
        raise Unauthorized("missing or wrong X-WC-Webhook-Signature")
    delivery_id = header(headers, "X-WC-Webhook-Delivery-ID")
    if not delivery_id:
        raise BadDelivery("A WooCommerce delivery needs its X-WC-Webhook-Delivery-ID header.")
    return Delivery(delivery_id[:200], header(headers, "X-WC-Webhook-Topic")[:100], body)


def parse(topic: str, body: bytes) -> Event:
    if not topic.startswith("order."):
        return Event("ignore")
    data = base.load_json(body)
    if not isinstance(data, dict):
        raise BadDelivery("The body is not a WooCommerce order.")
    status = data.get("status")
    if topic in ("order.created", "order.updated", "order.restored") and status in PAID_STATUSES:
        return Event("create", order=order(data))
    if topic == "order.updated" and status in CANCEL_STATUSES:
        return Event("cancel", order_id=text_id(data.get("id"), "order"))
    return Event("ignore")


def order(data: dict) -> ShopOrder:
    order_id = text_id(data.get("id"), "order")
    billing = data.get("billing") if isinstance(data.get("billing"), dict) else {}
    email = billing.get("email")
    if not isinstance(email, str) or not email.strip():
        raise BadDelivery("The order has no billing email.")
    customer_id = data.get("customer_id")
    buyer = Buyer(email=email.strip()[:254],
                  remote_id=str(customer_id) if isinstance(customer_id, int) and customer_id > 0 else None,
                  first_name=clean(billing.get("first_name")), last_name=clean(billing.get("last_name")),
                  company=clean(billing.get("company")))
    lines = []
    for n, item in enumerate(need(data, "line_items", list, "order"), 1):
        if not isinstance(item, dict):
            raise BadDelivery(f"Line {n} of the order is not a line item.")
        lines.append(Line(text_id(item.get("id"), f"line {n}"), clean(item.get("sku")),
                          quantity(item.get("quantity"), f"Line {n}"), clean(item.get("name"))))
    return ShopOrder(order_id, str(data.get("number") or order_id)[:50], currency(data.get("currency")), buyer,
                     tuple(lines), parse_time(data.get("date_paid_gmt") or data.get("date_created_gmt")))


def create_customer(api_url: str, token: str, email: str, first_name: str, last_name: str) -> str:
    """The shop's id of a new customer, or of the one with that email. ``token`` is
    ``consumer_key:consumer_secret``."""
    root = f"{api_url.rstrip('/')}/wp-json/wc/v3/customers"
    auth = {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    try:
        _, made = http.call("POST", root, auth, {"email": email, "first_name": first_name, "last_name": last_name})
        return text_id((made or {}).get("id"), "customer")
    except base.CallFailed as exc:
        if "registration-error-email-exists" not in str(exc):
            raise
    from urllib.parse import urlencode

    _, found = http.call("GET", f"{root}?{urlencode({'email': email})}", auth)
    if isinstance(found, list) and found and isinstance(found[0], dict):
        return text_id(found[0].get("id"), "customer")
    raise base.CallFailed(f"{email} exists in the shop but was not found by email")


# --- the CSV order export ("Default - One Row per Item") ---------------------------------

EXPORT_COLUMNS = {"order_id", "billing_email", "item_sku", "item_quantity"}


def export_orders(rows: list[dict[str, str]]) -> list[ShopOrder]:
    by_id: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_id.setdefault((row.get("order_id") or "").strip(), []).append(row)
    orders = []
    for order_id, items in by_id.items():
        first = items[0]
        if not order_id or (first.get("status") or "").strip().lower() not in PAID_STATUSES:
            continue
        lines = tuple(Line((r.get("item_id") or "").strip() or f"row-{n}", (r.get("item_sku") or "").strip(),
                           quantity(base.whole_number(r.get("item_quantity")), f"Order {order_id} line {n}"), clean(r.get("item_name")))
                      for n, r in enumerate(items, 1))
        email = (first.get("billing_email") or "").strip()
        if not email:
            raise BadDelivery(f"Order {order_id} has no billing_email.")
        customer_id = (first.get("customer_id") or "").strip()
        buyer = Buyer(email=email, remote_id=customer_id if customer_id not in ("", "0") else None,
                      first_name=clean(first.get("billing_first_name")), last_name=clean(first.get("billing_last_name")),
                      company=clean(first.get("billing_company")))
        orders.append(ShopOrder(order_id, (first.get("order_number") or order_id).strip(),
                                currency((first.get("currency") or first.get("order_currency") or "").strip()), buyer, lines,
                                parse_time(first.get("order_date"))))
    return orders


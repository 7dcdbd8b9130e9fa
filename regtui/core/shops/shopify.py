"""Shopify: webhooks signed with a base64 HMAC-SHA256 of the raw body (X-Shopify-Hmac-Sha256),
topic in X-Shopify-Topic, the event in X-Shopify-Event-Id (the same for every copy of one event:
the delivery id regtui keeps) and X-Shopify-Webhook-Id (per subscription), the original trigger time in
X-Shopify-Triggered-At (retries keep it: Shopify retries 8 times over 4 hours). The Admin
GraphQL API creates customers (customerCreate); the CSV order export has one row per line item.

Sources: shopify.dev/docs/apps/build/webhooks (verify deliveries, ignore duplicates, headers),
shopify.dev/apps/build/webhooks/ignore-duplicates,
shopify.dev/changelog/updates-to-webhook-retry-mechanism, shopify.dev/docs/api/admin-graphql
(customerCreate), help.shopify.com/manual/fulfillment/managing-orders/exporting-orders.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Mapping

from regtui.core.shops import base, http
from regtui.core.shops.base import (BadDelivery, Buyer, Delivery, Event, Line, ShopOrder, Unauthorized, clean, currency,
                                    header, need, parse_time, quantity, text_id)

KIND = "shopify"
REPLAY_WINDOW = dt.timedelta(hours=4, minutes=5)  # Shopify's retry window, and 5 minutes of clock skew
API_VERSION = "2025-01"
CREATE_TOPICS = {"orders/paid"}
CANCEL_TOPICS = {"orders/cancelled"}
REFUND_TOPICS = {"refunds/create"}


def sign(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> Delivery:
    given = header(headers, "X-Shopify-Hmac-Sha256")
    if not given or not base.same(given, sign(secret, body)):
        raise Unauthorized("missing or wrong X-Shopify-Hmac-Sha256")
    triggered = header(headers, "X-Shopify-Triggered-At")
    if triggered:
        when = parse_time(triggered)
        if when is None or now - when > REPLAY_WINDOW or when - now > dt.timedelta(minutes=5):
            raise Unauthorized(f"X-Shopify-Triggered-At {triggered[:40]!r} is outside Shopify's 4-hour retry window")
    # Shopify: "the same X-Shopify-Event-Id across more than one webhook indicates a duplicate" (two
    # subscriptions to one topic send one event twice, with two webhook ids); retries keep both
    delivery_id = header(headers, "X-Shopify-Event-Id") or header(headers, "X-Shopify-Webhook-Id")
    if not delivery_id:
        raise BadDelivery("A Shopify delivery needs its X-Shopify-Event-Id or X-Shopify-Webhook-Id header.")
    return Delivery(delivery_id[:200], header(headers, "X-Shopify-Topic")[:100], body)


def parse(topic: str, body: bytes) -> Event:
    data = base.load_json(body)
    if not isinstance(data, dict):
        raise BadDelivery("The body is not a Shopify order or refund.")
    if topic in CREATE_TOPICS or (topic == "orders/create" and data.get("financial_status") == "paid"):
        return Event("create", order=order(data))
    if topic in CANCEL_TOPICS:
        return Event("cancel", order_id=text_id(data.get("id"), "order"))
    if topic in REFUND_TOPICS:
        return refund(data)
    return Event("ignore")


def order(data: dict) -> ShopOrder:
    order_id = text_id(data.get("id"), "order")
    items = need(data, "line_items", list, "order")
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    billing = data.get("billing_address") if isinstance(data.get("billing_address"), dict) else {}
    email = data.get("email") or data.get("contact_email") or customer.get("email")
    if not isinstance(email, str) or not email.strip():
        raise BadDelivery("The order has no buyer email.")
    buyer = Buyer(email=email.strip()[:254],
                  remote_id=str(customer["id"]) if isinstance(customer.get("id"), (int, str)) and customer.get("id") else None,
                  first_name=clean(customer.get("first_name") or billing.get("first_name")),
                  last_name=clean(customer.get("last_name") or billing.get("last_name")),
                  company=clean(billing.get("company")))
    lines = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise BadDelivery(f"Line {n} of the order is not a line item.")
        lines.append(Line(text_id(item.get("id"), f"line {n}"), clean(item.get("sku")) or "",
                          quantity(item.get("quantity"), f"Line {n}"), clean(item.get("name") or item.get("title"))))
    return ShopOrder(order_id, clean(data.get("name")) or str(data.get("order_number") or order_id),
                     currency(data.get("currency")), buyer, tuple(lines), parse_time(data.get("created_at")))


def refund(data: dict) -> Event:
    order_id = text_id(data.get("order_id"), "order")
    pairs = []
    for n, item in enumerate(need(data, "refund_line_items", list, "refund"), 1):
        if not isinstance(item, dict):
            raise BadDelivery(f"Refund line {n} is not a refund line item.")
        pairs.append((text_id(item.get("line_item_id"), f"refund line {n}"), quantity(item.get("quantity"), f"Refund line {n}")))
    return Event("refund", order_id=order_id, refunds=tuple(pairs))


# --- the Admin GraphQL API ----------------------------------------------------------------

CUSTOMER_CREATE = """mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) { customer { id } userErrors { field message } }
}"""
CUSTOMER_BY_EMAIL = """query customerByEmail($query: String!) {
  customers(first: 1, query: $query) { edges { node { id } } }
}"""


def create_customer(api_url: str, token: str, email: str, first_name: str, last_name: str) -> str:
    """The shop's id (a gid://shopify/Customer/N) of a new customer, or of the one with that email."""
    url = f"{api_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json"
    headers = {"X-Shopify-Access-Token": token}
    variables = {"input": {"email": email, "firstName": first_name, "lastName": last_name}}
    _, answer = http.call("POST", url, headers, {"query": CUSTOMER_CREATE, "variables": variables})
    _raise_graphql_errors(answer)
    result = (answer.get("data") or {}).get("customerCreate") or {}
    if result.get("customer"):
        return str(result["customer"]["id"])
    errors = result.get("userErrors") or []
    if any("taken" in str(e.get("message", "")).lower() for e in errors):
        _, found = http.call("POST", url, headers, {"query": CUSTOMER_BY_EMAIL, "variables": {"query": f"email:{email}"}})
        _raise_graphql_errors(found)
        edges = ((found.get("data") or {}).get("customers") or {}).get("edges") or []
        if edges:
            return str(edges[0]["node"]["id"])
    raise base.CallFailed("customerCreate: " + "; ".join(str(e.get("message")) for e in errors) if errors else "customerCreate gave no customer")


def _raise_graphql_errors(answer) -> None:
    """GraphQL answers 200 even when throttled: a THROTTLED error is a TryLater."""
    if not isinstance(answer, dict):
        raise base.TryLater("the answer was not a GraphQL response")
    errors = answer.get("errors") or []
    if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
        raise base.TryLater("THROTTLED", None)
    if errors:
        raise base.CallFailed("; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors))


# --- the CSV order export -----------------------------------------------------------------

EXPORT_COLUMNS = {"Name", "Email", "Lineitem quantity", "Lineitem sku"}


def export_orders(rows: list[dict[str, str]]) -> list[ShopOrder]:
    """Orders from Shopify's CSV export (one row per line item; the order's own columns are filled
    on its first row only). Paid orders only; the line id is the row's place in its order."""
    by_name: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_name.setdefault(row.get("Name", "").strip(), []).append(row)
    orders = []
    for name, items in by_name.items():
        first = items[0]
        if not name or (first.get("Financial Status") or "").strip() not in ("paid", "partially_refunded"):
            continue
        order_id = (first.get("Id") or "").strip() or name
        lines = tuple(Line(f"row-{n}", (r.get("Lineitem sku") or "").strip(),
                           quantity(base.whole_number(r.get("Lineitem quantity")), f"Order {name} line {n}"), clean(r.get("Lineitem name")))
                      for n, r in enumerate(items, 1))
        buyer = Buyer(email=(first.get("Email") or "").strip(), first_name=clean((first.get("Billing Name") or "").split(" ")[0]),
                      last_name=clean(" ".join((first.get("Billing Name") or "").split(" ")[1:])),
                      company=clean(first.get("Billing Company")))
        if not buyer.email:
            raise BadDelivery(f"Order {name} has no Email.")
        orders.append(ShopOrder(order_id, name, currency((first.get("Currency") or "").strip()), buyer, lines,
                                parse_time((first.get("Paid at") or first.get("Created at") or "").replace(" ", "T", 1))))
    return orders


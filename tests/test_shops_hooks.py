"""Shop webhooks over real HTTP: the app served by waitress on 127.0.0.1, each request signed
exactly as its shop signs it (fixtures/shops/README.md), bodies shaped like the shops' samples.

Runs on SQLite and (with REGTUI_TEST_POSTGRES) PostgreSQL."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import waitress

from regtui.core import clock
from regtui.core.models import (Access, AuditEvent, Code, Customer, Invitation, Learner, Order, OutboxEmail, Pool,
                                ShopDelivery, ShopOrderLine, ShopUnmatched, database)
from regtui.core.services import catalog, invitations, outbox, registrations, seats, shops
from regtui.core.services.learners import LearnerSpec
from regtui.web import create_app
from regtui.web.limits import ServerLimits

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops"
NOW = dt.datetime(2027, 1, 31, 14, 0, 0)
SECRET = b"hush-shopify-secret-0123456789abcdef"
SKU = "IPOD2008PINK"  # the SKU of Shopify's sample order line


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def shopify_headers(body: bytes, topic: str = "orders/paid", webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                    secret: bytes = SECRET, triggered: dt.datetime = NOW, event_id: str | None = None) -> dict:
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode(),
            "X-Shopify-Shop-Domain": "example.myshopify.com", "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": event_id or f"event-of-{webhook_id}",
            "X-Shopify-Triggered-At": triggered.isoformat() + ".877041743Z"}


def post(base: str, path: str, body: bytes, headers: dict) -> tuple[int, str]:
    req = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


def _status_of_raw_post(base: str, path: str, body: bytes, headers: dict) -> int:
    """POST over a plain socket, reading the answer even when the server answers (413) and closes
    before the whole body is sent."""
    import socket

    host, port = base.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode())
        try:
            sock.sendall(body)
        except OSError:
            pass  # refused from its Content-Length: the answer is waiting
        answer = sock.recv(200)
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def pinned_clock():
    clock.set_now(NOW)
    yield
    clock.set_now(None)


@pytest.fixture
def shop_setup(admin, tmp_path, pinned_clock):
    """A Shopify shop whose sample SKU is a seat of PYDATA (codes on), a WooCommerce shop and a Spree shop."""
    product = catalog.add_product(admin, "PY", "Python for Data Teams")
    py = catalog.add_session(admin, product, "PYDATA", "Python for Data Teams, March")
    catalog.add_session(admin, product, "PYOPEN", "Python, self-paced", generate_codes=False)
    (tmp_path / "shopify.secret").write_bytes(SECRET + b"\n")
    (tmp_path / "woo.secret").write_text("woo secret with spaces & ampersand")
    (tmp_path / "spree.secret").write_text("a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2")
    shops.add(admin, "main", "shopify", str(tmp_path / "shopify.secret"))
    shops.add(admin, "woo", "woocommerce", str(tmp_path / "woo.secret"))
    shops.add(admin, "spree", "spree", str(tmp_path / "spree.secret"))
    shops.map_sku(admin, "main", SKU, py)
    return py


@pytest.fixture
def site(shop_setup, db, db_url):
    db.close()
    app = create_app(db_url)
    server = waitress.create_server(app, host="127.0.0.1", port=0, **ServerLimits().waitress_options())  # as `regtui serve`
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.trigger.pull_trigger(server.close)
    thread.join(10)
    server.task_dispatcher.shutdown()
    database.close()


def dump() -> dict:
    return {m.__name__: list(m.select().order_by(m.id).tuples())
            for m in (Order, Pool, Code, Customer, Learner, Access, Invitation, OutboxEmail, AuditEvent, ShopDelivery,
                      ShopOrderLine, ShopUnmatched)}


def paid_order(quantity: int = 5, **changes) -> bytes:
    order = fixture("shopify-orders-paid.json")
    order["line_items"][0]["quantity"] = quantity
    order.update(changes)
    return json.dumps(order).encode()


def send_shopify(site: str, body: bytes, **kw) -> tuple[int, str]:
    return post(site, "/hooks/shop/main", body, shopify_headers(body, **kw))


# --- done means ------------------------------------------------------------------------------

@pytest.mark.storage
def test_a_paid_shopify_order_of_5_seats_makes_a_pool_of_5_for_the_buyer_once(site):
    body = paid_order(5)
    status, text = send_shopify(site, body)
    assert (status, text.strip()) == (200, "Received: processed.")
    database.connect(reuse_if_open=True)
    order = Order.get(Order.source == "main")
    assert order.external_id == "820982911946154508" and order.number == "9999"
    buyer = Customer.get_by_id(order.customer_id)
    assert (buyer.email, buyer.name) == ("jon@example.com", "Shipping Company")  # billing company names the customer
    [pool] = Pool.select().where(Pool.order == order.id)
    assert (pool.seats, pool.available, pool.session.code) == (5, 5, "PYDATA")
    assert seats.counts(pool.id) == {"available": 5, "invited": 0, "claimed": 0}
    before = dump()
    database.close()

    assert send_shopify(site, body)[0] == 200  # Shopify retries: the same delivery again
    assert send_shopify(site, body, webhook_id="another-id", topic="orders/create")[0] == 200  # the same line, another topic
    database.connect(reuse_if_open=True)
    after = dump()
    assert after["Pool"] == before["Pool"] and after["Code"] == before["Code"] and after["Order"] == before["Order"]
    assert len(after["ShopDelivery"]) == 2  # the second topic is stored, and makes nothing


@pytest.mark.storage
def test_a_big_order_is_answered_at_once_and_made_after_the_answer(site, admin):
    from regtui.web import hooks

    body = paid_order(2500)  # more seats than are made before answering (shops.FAST_SEATS)
    status, text = send_shopify(site, body)
    assert (status, text.strip()) == (200, "Received: queued.")
    assert send_shopify(site, body)[0] == 200  # a retry meanwhile makes nothing new
    hooks.wait_for_background()
    database.connect(reuse_if_open=True)
    [pool] = Pool.select()
    assert pool.seats == 2500 and seats.counts(pool.id)["available"] == 2500
    assert ShopDelivery.get().status == "processed"
    assert shops.replay(admin, "main") == {}  # nothing left behind


@pytest.mark.storage
def test_a_big_order_left_behind_by_a_stopped_process_is_made_by_replay(admin, shop_setup):
    body = paid_order(1500)
    receipt = shops.receive("main", shopify_headers(body), body)  # stored; the process "stops" before making it
    assert receipt.later is not None and Pool.select().count() == 0
    assert shops.replay(admin, "main") == {"processed": 1}
    assert Pool.get().seats == 1500
    assert shops.process_received(receipt.later) is None  # made once only


@pytest.mark.storage
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(site, caplog):
    database.connect(reuse_if_open=True)
    before = dump()
    database.close()
    body = paid_order(5, note="SECRET-BODY-MARKER")
    forged = shopify_headers(body, secret=b"not the secret")
    with caplog.at_level(logging.INFO):
        assert post(site, "/hooks/shop/main", body, forged)[0] == 401
        missing = {k: v for k, v in shopify_headers(body).items() if k != "X-Shopify-Hmac-Sha256"}
        assert post(site, "/hooks/shop/main", body, missing)[0] == 401
        tampered = body.replace(b'"quantity": 5', b'"quantity": 50')
        assert post(site, "/hooks/shop/main", tampered, shopify_headers(body))[0] == 401
        garbage = dict(shopify_headers(body), **{"X-Shopify-Hmac-Sha256": "\u00e9\u00e9=="})
        assert post(site, "/hooks/shop/main", body, garbage)[0] == 401
    refused = [r for r in caplog.records if "401" in r.getMessage()]
    assert len(refused) == 4
    assert all("SECRET-BODY-MARKER" not in r.getMessage() for r in caplog.records)
    database.connect(reuse_if_open=True)
    assert dump() == before


@pytest.mark.storage
def test_a_single_seat_gives_the_buyer_access_and_a_confirmation(site):
    status, _ = send_shopify(site, paid_order(1))
    assert status == 200
    database.connect(reuse_if_open=True)
    learner = Learner.get(Learner.email_key == "jon@example.com")
    [grant] = Access.select().where(Access.learner == learner.id)
    assert (grant.session.code, grant.status, grant.starts, grant.code_id) == ("PYDATA", "active", NOW.date(), None)
    assert Pool.select().count() == 0
    [mail] = OutboxEmail.select().where(OutboxEmail.to == "jon@example.com")
    mail = outbox.with_live_link(mail)  # as sent: the row itself holds no live link
    assert "Python for Data Teams, March" in mail.subject and "/set-password/" in mail.body
    assert Customer.get(Customer.email_key == "jon@example.com").learner_id == learner.id


@pytest.mark.storage
def test_a_delivery_that_cannot_be_processed_is_kept_for_replay(site, admin, monkeypatch, tmp_path):
    # an installation without its secret key cannot make set-password links: the delivery is kept
    monkeypatch.setenv("REGTUI_SECRET_KEY_FILE", str(tmp_path / "not-made-yet.key"))
    status, text = send_shopify(site, paid_order(1))
    assert (status, text.strip()) == (200, "Received: failed.")
    database.connect(reuse_if_open=True)
    row = ShopDelivery.get()
    assert row.status == "failed" and "secret key" in row.note
    assert Access.select().count() == 0 and Order.select().count() == 0  # nothing half done
    monkeypatch.delenv("REGTUI_SECRET_KEY_FILE")
    assert shops.replay(admin, "main") == {"processed": 1}
    assert Access.select().count() == 1


@pytest.mark.storage
def test_a_refund_takes_back_unclaimed_seats_only(site, admin):
    assert send_shopify(site, paid_order(5))[0] == 200
    database.connect(reuse_if_open=True)
    pool = Pool.get()
    registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "Lovelace")])
    invitations.invite(admin, Pool.get_by_id(pool.id), ["bob@example.com"])
    OutboxEmail.update(status="sent").execute()  # bob has his invitation: he is told when it is withdrawn
    database.close()

    refund = fixture("shopify-refunds-create.json")
    refund["refund_line_items"][0]["quantity"] = 3
    body = json.dumps(refund).encode()
    assert send_shopify(site, body, topic="refunds/create", webhook_id="refund-1")[0] == 200
    database.connect(reuse_if_open=True)
    p = Pool.get_by_id(pool.id)
    assert (p.seats, p.available, p.invited, p.claimed, p.over_refunded) == (2, 0, 1, 1, False)
    database.close()

    refund["id"] += 1
    refund["refund_line_items"][0]["quantity"] = 2
    body = json.dumps(refund).encode()
    assert send_shopify(site, body, topic="refunds/create", webhook_id="refund-2")[0] == 200
    database.connect(reuse_if_open=True)
    p = Pool.get_by_id(pool.id)
    assert (p.seats, p.available, p.invited, p.claimed, p.over_refunded) == (1, 0, 0, 1, True)
    assert seats.counts(p.id) == {"available": 0, "invited": 0, "claimed": 1}
    # the invitation was cancelled (its code is gone with the seat, so the audit log keeps the record)
    assert AuditEvent.select().where(AuditEvent.action == "invitation.cancel", AuditEvent.operator == "shop:main").count() == 1
    assert Invitation.select().where(Invitation.email_key == "bob@example.com", Invitation.status == "pending").count() == 0
    withdrawn = OutboxEmail.get(OutboxEmail.to == "bob@example.com", OutboxEmail.subject.contains("withdrawn"))
    assert "was withdrawn" in withdrawn.body and withdrawn.status == "queued"
    ada = Learner.get(Learner.email_key == "ada@example.com")
    assert Access.get(Access.learner == ada.id).status == "active"  # a claimed seat is never taken silently
    [line] = shops.over_refunded_lines(admin)
    assert (line["seats"], line["taken_back"], line["over_refunded"]) == (5, 4, 1)


@pytest.mark.storage
def test_one_refund_event_sent_through_two_subscriptions_is_applied_once(site):
    assert send_shopify(site, paid_order(5))[0] == 200
    body = json.dumps(fixture("shopify-refunds-create.json")).encode()  # 3 seats
    for webhook_id in ("subscription-a", "subscription-b"):
        assert send_shopify(site, body, topic="refunds/create", webhook_id=webhook_id, event_id="refund-event")[0] == 200
    database.connect(reuse_if_open=True)
    assert Pool.get().seats == 2


@pytest.mark.storage
def test_a_refund_before_its_paid_order_is_held_and_applied_after_it(site):
    refund = fixture("shopify-refunds-create.json")  # 3 of the 5 seats
    body = json.dumps(refund).encode()
    assert send_shopify(site, body, topic="refunds/create", webhook_id="early-refund")[0] == 200
    database.connect(reuse_if_open=True)
    assert ShopDelivery.get(ShopDelivery.delivery_id == "event-of-early-refund").status == "held"
    assert Pool.select().count() == 0
    database.close()
    assert send_shopify(site, paid_order(5))[0] == 200
    database.connect(reuse_if_open=True)
    p = Pool.get()
    assert (p.seats, p.available) == (2, 2)
    assert ShopDelivery.get(ShopDelivery.delivery_id == "event-of-early-refund").status == "processed"


@pytest.mark.storage
def test_a_cancellation_takes_back_every_unclaimed_seat(site):
    assert send_shopify(site, paid_order(4))[0] == 200
    cancelled = paid_order(4, cancelled_at="2027-01-31T09:30:00-05:00", cancel_reason="customer", financial_status="refunded")
    assert send_shopify(site, cancelled, topic="orders/cancelled", webhook_id="cancel-1")[0] == 200
    database.connect(reuse_if_open=True)
    p = Pool.get()
    assert (p.seats, p.available, p.over_refunded) == (0, 0, False)
    assert Code.select().where(Code.pool == p.id).count() == 0


@pytest.mark.storage
def test_the_same_order_posted_by_8_requests_at_once_makes_one_pool(site):
    body = paid_order(6)
    results: list[int] = []
    start = threading.Barrier(8)

    def deliver(n: int) -> None:
        start.wait()
        # half retries of one delivery, half the same order through other deliveries/topics
        results.append(send_shopify(site, body, webhook_id="race" if n % 2 else f"race-{n}")[0])

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 8
    database.connect(reuse_if_open=True)
    assert Order.select().count() == 1
    [pool] = Pool.select()
    assert pool.seats == 6 and seats.counts(pool.id)["available"] == 6
    assert ShopOrderLine.select().count() == 1
    assert ShopDelivery.select().count() == 5  # "race" once, and the four others


@pytest.mark.storage
def test_an_unknown_sku_is_200_and_listed_until_mapped_and_replayed(site, admin, shop_setup):
    order = fixture("shopify-orders-paid.json")
    order["line_items"][0]["sku"] = "NOT-A-COURSE"
    body = json.dumps(order).encode()
    status, text = send_shopify(site, body)
    assert (status, text.strip()) == (200, "Received: unmatched.")
    database.connect(reuse_if_open=True)
    [row] = shops.unmatched(admin)
    assert (row.shop, row.order, row.sku, row.quantity) == ("main", "820982911946154508", "NOT-A-COURSE", 5)
    assert Pool.select().count() == 0
    _, waiting = shops.map_sku(admin, "main", "NOT-A-COURSE", shop_setup)
    assert waiting == 1
    assert shops.replay(admin, "main") == {"processed": 1}
    assert Pool.get().seats == 5 and shops.unmatched(admin) == []
    assert shops.replay(admin, "main") == {}  # nothing waits: a replay never doubles anything
    assert Pool.select().count() == 1


@pytest.mark.storage
@pytest.mark.parametrize("change, status", [
    (lambda o: o["line_items"][0].update(quantity=-3), 400),
    (lambda o: o["line_items"][0].update(quantity=10**9), 400),
    (lambda o: o["line_items"][0].update(quantity="5"), 400),
    (lambda o: o.update(currency="BTCX"), 400),
    (lambda o: o.update(line_items="all of them"), 400),
    (lambda o: o.update(email="not an address", contact_email=None, customer=None), 400),
])
def test_bad_shapes_are_400_with_one_sentence_and_store_nothing(site, change, status):
    database.connect(reuse_if_open=True)
    before = dump()
    database.close()
    order = fixture("shopify-orders-paid.json")
    change(order)
    code, text = send_shopify(site, json.dumps(order).encode())
    assert code == status and text.count("\n") == 1 and text.strip().endswith(".")
    database.connect(reuse_if_open=True)
    assert dump() == before


@pytest.mark.storage
def test_malformed_json_huge_bodies_and_stale_replays_are_refused(site):
    database.connect(reuse_if_open=True)
    before = dump()
    database.close()
    assert send_shopify(site, b'{"id": 1, "line_items": [')[0] == 400
    huge = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert _status_of_raw_post(site, "/hooks/shop/main", huge, shopify_headers(huge)) == 413
    old = NOW - dt.timedelta(hours=5)  # a captured delivery replayed after Shopify's 4-hour retry window
    assert send_shopify(site, paid_order(5), triggered=old)[0] == 401
    future = NOW + dt.timedelta(hours=1)
    assert send_shopify(site, paid_order(5), triggered=future)[0] == 401
    assert post(site, "/hooks/shop/nope", b"{}", {})[0] == 404
    assert post(site, "/hooks/shop/%2e%2e", b"{}", {})[0] == 404
    database.connect(reuse_if_open=True)
    assert dump() == before


@pytest.mark.storage
def test_a_big_order_body_is_taken_and_a_flood_of_bad_signatures_is_slowed(site):
    big = paid_order(5, note="n" * 300_000)  # far over the claim pages' 64 KiB, under 1 MiB
    assert send_shopify(site, big)[0] == 200
    body = paid_order(2)
    forged = shopify_headers(body, secret=b"guess", webhook_id="flood")
    codes = [post(site, "/hooks/shop/main", body, forged)[0] for _ in range(21)]
    assert codes == [401] * 20 + [429]
    assert send_shopify(site, body, webhook_id="signed-from-the-same-address")[0] == 429  # the address, not the request
    clock.set_now(NOW + dt.timedelta(minutes=11))
    assert send_shopify(site, body, webhook_id="later", triggered=NOW + dt.timedelta(minutes=11))[0] == 200


@pytest.mark.storage
def test_a_topic_regtui_does_not_act_on_is_202_and_logged(site):
    body = json.dumps({"id": 632910392, "title": "IPod Nano - 8GB"}).encode()
    status, _ = send_shopify(site, body, topic="products/update", webhook_id="prod-1")
    assert status == 202
    database.connect(reuse_if_open=True)
    assert ShopDelivery.get(ShopDelivery.delivery_id == "event-of-prod-1").status == "ignored"


# --- WooCommerce and Spree -------------------------------------------------------------------

def woo_headers(body: bytes, topic: str = "order.created", delivery: str = "5fcd1f13b3b2c9c3f0d1e2a3b4c5d6e7",
                secret: bytes = b"woo secret with spaces & ampersand") -> dict:
    resource, event = topic.split(".")
    return {"Content-Type": "application/json", "User-Agent": "WooCommerce/9.0.0 Hookshot (WordPress/6.5)",
            "X-WC-Webhook-Source": "https://shop.example.com/", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode(),
            "X-WC-Webhook-ID": "12", "X-WC-Webhook-Delivery-ID": delivery}


@pytest.mark.storage
def test_woocommerce_orders_become_a_pool_and_an_access(site, admin, shop_setup):
    database.connect(reuse_if_open=True)
    shops.map_sku(admin, "woo", "Bar3", catalog.find_session("PYOPEN"))  # codes off: direct access
    order = fixture("woocommerce-order.json")
    order["line_items"][0]["sku"] = "PYDATA-SEAT"
    shops.map_sku(admin, "woo", "PYDATA-SEAT", shop_setup)
    database.close()
    body = json.dumps(order).encode()
    assert post(site, "/hooks/shop/woo", b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 200
    assert post(site, "/hooks/shop/woo", body, woo_headers(body, secret=b"wrong"))[0] == 401
    assert post(site, "/hooks/shop/woo", body, woo_headers(body))[0] == 200
    assert post(site, "/hooks/shop/woo", body, woo_headers(body, "order.updated", "another"))[0] == 200
    database.connect(reuse_if_open=True)
    order_row = Order.get(Order.source == "woo")
    assert (order_row.external_id, order_row.number) == ("727", "727")
    [pool] = Pool.select().where(Pool.order == order_row.id)
    assert pool.seats == 2
    john = Learner.get(Learner.email_key == "john.doe@example.com")
    assert Access.get(Access.learner == john.id).session.code == "PYOPEN"
    database.close()

    cancelled = dict(order, status="cancelled")
    body = json.dumps(cancelled).encode()
    assert post(site, "/hooks/shop/woo", body, woo_headers(body, "order.updated", "cancel"))[0] == 200
    database.connect(reuse_if_open=True)
    assert Pool.get_by_id(pool.id).seats == 0
    assert Access.get(Access.learner == john.id).status == "active"  # the buyer's own access is claimed: left to an admin


def spree_headers(body: bytes, when: dt.datetime = NOW, secret: bytes | None = None) -> dict:
    secret = secret or b"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
    stamp = str(int(when.replace(tzinfo=dt.timezone.utc).timestamp()))
    return {"Content-Type": "application/json", "User-Agent": "Spree-Webhooks/1.0",
            "X-Spree-Webhook-Signature": hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest(),
            "X-Spree-Webhook-Timestamp": stamp, "X-Spree-Webhook-Event": "order.paid"}


@pytest.mark.storage
def test_spree_order_paid_becomes_a_pool_and_old_timestamps_are_refused(site, admin, shop_setup):
    database.connect(reuse_if_open=True)
    shops.map_sku(admin, "spree", "var_k5nR8xLq", shop_setup)  # Spree lines carry the variant id, no SKU
    database.close()
    body = (FIXTURES / "spree-order-paid.json").read_bytes()
    assert post(site, "/hooks/shop/spree", body, spree_headers(body, NOW - dt.timedelta(seconds=301)))[0] == 401
    assert post(site, "/hooks/shop/spree", body, spree_headers(body, secret=b"wrong"))[0] == 401
    assert post(site, "/hooks/shop/spree", body, spree_headers(body))[0] == 200
    assert post(site, "/hooks/shop/spree", body, spree_headers(body, NOW + dt.timedelta(seconds=20)))[0] == 200  # a retry
    database.connect(reuse_if_open=True)
    [pool] = Pool.select()
    assert pool.seats == 3 and pool.order.external_id == "or_m3Rp9wXz" and pool.order.customer.name == "Acme Training"
    assert ShopDelivery.get().delivery_id == "550e8400-e29b-41d4-a716-446655440000"


@pytest.mark.storage
def test_the_scheduler_makes_a_big_order_a_stopped_server_left_behind(admin, shop_setup):
    from regtui.core.services import scheduler

    body = paid_order(1200)
    receipt = shops.receive("main", shopify_headers(body), body)  # answered; the server stops before making it
    assert receipt.later is not None
    assert scheduler.tick(deliver_mail=False).shop_orders == 0  # still young: its own thread may be making it
    clock.set_now(NOW + dt.timedelta(minutes=3))
    assert scheduler.tick(deliver_mail=False).shop_orders == 1
    assert Pool.get().seats == 1200
    assert scheduler.tick(deliver_mail=False).shop_orders == 0

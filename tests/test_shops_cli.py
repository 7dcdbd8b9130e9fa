"""The shop commands as a user runs them (subprocesses): connecting shops, importing their CSV
order exports through a dry-run diff, and "sync to eCommerce" calling each shop's admin API on a
loopback server that answers as the vendor's API reference says (including 429 and errors)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from regtui.core.models import ShopCall, database
from regtui.core.services import catalog, learners, operators, shops
from regtui.core.services.learners import LearnerSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops"
NOW = {"REGTUI_NOW": "2027-01-31T14:00:00"}


@pytest.fixture
def catalog_(admin):
    product = catalog.add_product(admin, "PY", "Python for Data Teams")
    catalog.add_session(admin, product, "PYDATA", "Python for Data Teams, March")
    catalog.add_session(admin, product, "DATAVIZ", "Data Viz Workshop", generate_codes=False)
    return admin


def secret(tmp_path, name="shop.secret", text="s3cret-signing-key") -> str:
    path = tmp_path / name
    path.write_text(text + "\n")
    return str(path)


@pytest.mark.storage
def test_connect_map_list_and_remove_a_shop(catalog_, cli, tmp_path):
    r = cli("shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path))
    assert r.returncode == 0 and "/hooks/shop/main" in r.stdout
    assert cli("shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path)).returncode == 1
    bad = cli("shop", "add", "other", "--kind", "shopify", "--secret-file", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "Cannot read the webhook secret file" in bad.stderr
    assert cli("shop", "add", "../x", "--kind", "shopify", "--secret-file", secret(tmp_path)).returncode == 2
    assert cli("shop", "add", "x", "--kind", "magento", "--secret-file", secret(tmp_path)).returncode == 2
    assert cli("shop", "map", "main", "PYDATA-SEAT", "PYDATA").returncode == 0
    [row] = json.loads(cli("shops", "--json").stdout)
    assert row == {"name": "main", "kind": "shopify", "api": False, "webhook": "/hooks/shop/main", "products": 1,
                   "deliveries": 0, "unmatched": 0, "failed": 0}
    assert "s3cret" not in cli("shops").stdout and "s3cret" not in cli("audit", "--json").stdout
    assert cli("shop", "remove", "main").returncode == 0
    assert json.loads(cli("shops", "--json").stdout) == []


@pytest.mark.storage
def test_limited_admins_may_not_connect_shops_or_import(catalog_, cli, tmp_path):
    database.connect(reuse_if_open=True)
    operators.set_operator(catalog_, "lim", "limited")
    database.close()
    r = cli("--as", "lim", "shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path))
    assert r.returncode == 3 and "admin" in r.stderr
    assert cli("shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path)).returncode == 0
    export = str(FIXTURES / "shopify-orders-export.csv")
    assert cli("--as", "lim", "orders", "import", export, "--shop", "main").returncode == 0  # the dry run: reading
    assert cli("--as", "lim", "orders", "import", export, "--shop", "main", "--apply").returncode == 3


@pytest.mark.storage
def test_a_shopify_export_imports_through_a_dry_run_diff(catalog_, cli, tmp_path):
    assert cli("shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path)).returncode == 0
    assert cli("shop", "map", "main", "PYDATA-SEAT", "PYDATA").returncode == 0
    assert cli("shop", "map", "main", "DATAVIZ-SEAT", "DATAVIZ").returncode == 0
    export = str(FIXTURES / "shopify-orders-export.csv")
    plan = cli("orders", "import", export, "--shop", "main", env=NOW)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0].startswith("+ create") and "pool of 10 seats of PYDATA for hr@tailspin.example.com" in lines[0]
    assert "access to DATAVIZ for hr@tailspin.example.com" in lines[1]
    assert lines[2].startswith("? unmatched") and "GIFT-CARD" in lines[2]  # #1002 is pending: not imported
    assert lines[-1] == ("Plan for shopify-orders-export.csv (main): 2 create, 0 unchanged, 1 unmatched. "
                         "Nothing was changed; --apply applies it.")
    assert json.loads(cli("pools", "--json").stdout) == []

    applied = json.loads(cli("orders", "import", export, "--shop", "main", "--apply", "--json", env=NOW).stdout)
    assert applied["counts"] == {"create": 2, "unchanged": 0, "unmatched": 1}
    [pool] = json.loads(cli("pools", "--json").stdout)
    assert (pool["customer"], pool["order"], pool["seats"], pool["session"]) == ("Tailspin Toys", "1001", 10, "PYDATA")
    access = json.loads(cli("access", "hr@tailspin.example.com", "--json", env=NOW).stdout)
    assert [(a["session"], a["status"], a["starts"], a["code_id"]) for a in access] == [("DATAVIZ", "active", "2027-01-31", None)]

    [order] = [o for o in json.loads(cli("orders", "--json").stdout)["rows"] if o["number"] == "1001"]
    assert (order["source"], order["external_id"], order["date"]) == ("main", "5012345678901", "2027-01-10")
    assert [(l["session"], l["seats"]) for l in order["lines"]] == [("PYDATA", 10), ("DATAVIZ", 1)]  # the direct one too
    assert order["lines"][0]["pool"] == pool["id"] and order["lines"][1]["access"] is not None
    [row] = [line for line in cli("orders").stdout.splitlines() if line.startswith("1001 ")]
    assert "DATAVIZ ×1 (direct access to the buyer)" in row

    again = cli("orders", "import", export, "--shop", "main", env=NOW)
    assert again.stdout.splitlines()[-1].startswith("Plan for shopify-orders-export.csv (main): 0 create, 2 unchanged")
    before = cli("audit", "--json", "--limit", "1000").stdout
    assert cli("orders", "import", export, "--shop", "main", "--apply", env=NOW).returncode == 0
    assert json.loads(cli("audit", "--json", "--limit", "1000").stdout)["total"] == json.loads(before)["total"] + 1  # shop.import only
    assert len(json.loads(cli("pools", "--json").stdout)) == 1


@pytest.mark.storage
def test_a_woocommerce_export_imports_and_a_broken_file_is_refused(catalog_, cli, tmp_path):
    assert cli("shop", "add", "woo", "--kind", "woocommerce", "--secret-file", secret(tmp_path)).returncode == 0
    assert cli("shop", "map", "woo", "PYDATA-SEAT", "PYDATA").returncode == 0
    export = str(FIXTURES / "woocommerce-orders-export.csv")
    r = json.loads(cli("orders", "import", export, "--shop", "woo", "--apply", "--json", env=NOW).stdout)
    assert r["counts"] == {"create": 1, "unchanged": 0, "unmatched": 1}  # 803 is on-hold: not paid
    [pool] = json.loads(cli("pools", "--json").stdout)
    assert (pool["customer"], pool["seats"]) == ("Langley Research", 3)
    shopify_file = str(FIXTURES / "shopify-orders-export.csv")
    wrong = cli("orders", "import", shopify_file, "--shop", "woo")
    assert wrong.returncode == 2 and "is not a woocommerce order export" in wrong.stderr
    tampered = tmp_path / "tampered.csv"
    tampered.write_text((FIXTURES / "woocommerce-orders-export.csv").read_text().replace(",PYDATA-SEAT,3,", ",PYDATA-SEAT,-3,"))
    bad = cli("orders", "import", str(tampered), "--shop", "woo", "--apply")
    assert bad.returncode == 2 and "quantity" in bad.stderr
    assert len(json.loads(cli("pools", "--json").stdout)) == 1


# --- sync to eCommerce against loopback shop APIs ------------------------------------------------

class FakeShops(BaseHTTPRequestHandler):
    """Records each request and answers from a script: path -> list of (status, headers, body)."""

    script: dict[str, list[tuple[int, dict, object]]] = {}
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def _answer(self):
        size = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(size)) if size else None
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        key = self.path.split("?")[0]
        queue = self.script.get(key) or [(404, {}, {"errors": "Not Found"})]
        status, headers, answer = queue.pop(0) if len(queue) > 1 else queue[0]
        raw = json.dumps(answer).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer


@pytest.fixture
def fake_api():
    FakeShops.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeShops)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.storage
def test_sync_creates_the_customer_in_each_shop_with_retries(catalog_, cli, tmp_path, fake_api):
    database.connect(reuse_if_open=True)
    learners.ensure("test", [LearnerSpec("ada@example.com", "Ada", "Lovelace")])
    operators.set_operator(catalog_, "lim", "limited")
    database.close()
    (tmp_path / "woo.token").write_text("ck_1234:cs_5678\n")
    (tmp_path / "shopify.token").write_text("shpat_0123456789\n")
    (tmp_path / "spree.token").write_text("sk_test_abc\n")
    for name, kind in (("main", "shopify"), ("woo", "woocommerce"), ("spree", "spree")):
        r = cli("shop", "add", name, "--kind", kind, "--secret-file", secret(tmp_path),
                "--api-url", fake_api, "--token-file", str(tmp_path / f"{name if name != 'main' else 'shopify'}.token"))
        assert r.returncode == 0, r.stderr
    FakeShops.script = {
        "/admin/api/2025-01/graphql.json": [
            (200, {}, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}),
            (200, {}, {"data": {"customerCreate": {"customer": {"id": "gid://shopify/Customer/1073339460"}, "userErrors": []}},
                       "extensions": {"cost": {"requestedQueryCost": 10}}})],
        "/wp-json/wc/v3/customers": [
            (429, {"Retry-After": "120"}, {"code": "rest_too_many_requests", "message": "Too many requests."}),
            (400, {}, {"code": "registration-error-email-exists",
                       "message": "An account is already registered with your email address.", "data": {"status": 400}}),
            (200, {}, [{"id": 25, "email": "ada@example.com"}])],
        "/api/v3/admin/customers": [(201, {}, {"id": "usr_k5nR8xLq", "email": "ada@example.com"})],
    }
    r = cli("--as", "lim", "sync", "ada@example.com", env=NOW)  # limited admins may sync
    assert r.returncode == 0 and "Queued for 3 shop(s)" in r.stdout, r.stderr
    assert FakeShops.seen == []  # queued, not called: the outbox is written in the sync's transaction

    first = json.loads(cli("shop", "send", "--json", env=NOW).stdout)
    assert (first["done"], first["retry"], first["failed"]) == (1, 2, 0)
    spree_call = next(s for s in FakeShops.seen if s["path"] == "/api/v3/admin/customers")
    assert spree_call["headers"]["X-Spree-Api-Key"] == "sk_test_abc"
    assert spree_call["body"] == {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    shopify_call = next(s for s in FakeShops.seen if "graphql" in s["path"])
    assert shopify_call["headers"]["X-Shopify-Access-Token"] == "shpat_0123456789"
    assert shopify_call["body"]["variables"] == {"input": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"}}
    woo_call = next(s for s in FakeShops.seen if "wc/v3" in s["path"])
    assert woo_call["headers"]["Authorization"] == "Basic Y2tfMTIzNDpjc181Njc4"

    calls = len(FakeShops.seen)
    soon = json.loads(cli("shop", "send", "--json", env={"REGTUI_NOW": "2027-01-31T14:01:00"}).stdout)
    assert soon["done"] == 1 and len(FakeShops.seen) == calls + 1  # Shopify's backoff (30 s) is over; Woo said 120 s
    later = json.loads(cli("shop", "send", "--json", env={"REGTUI_NOW": "2027-01-31T14:03:00"}).stdout)
    assert later["done"] == 1  # WooCommerce: the address exists, so the customer is found and linked
    assert [s["method"] for s in FakeShops.seen if "wc/v3" in s["path"]] == ["POST", "POST", "GET"]
    assert "email=ada%40example.com" in FakeShops.seen[-1]["path"]

    database.connect(reuse_if_open=True)
    from regtui.core.models import Customer

    ada = Customer.get(Customer.email_key == "ada@example.com")
    assert {n: shops.remote_id(n, ada) for n in ("main", "woo", "spree")} == {
        "main": "gid://shopify/Customer/1073339460", "woo": "25", "spree": "usr_k5nR8xLq"}
    assert shops.call_counts() == {"queued": 0, "sending": 0, "done": 3, "failed": 0}
    database.close()
    again = cli("sync", "ada@example.com", env=NOW)
    assert "Queued" not in again.stdout  # every shop knows this customer now


@pytest.mark.storage
def test_a_shop_that_refuses_for_good_is_kept_as_failed(catalog_, cli, tmp_path, fake_api):
    database.connect(reuse_if_open=True)
    learners.ensure("test", [LearnerSpec("bob@example.com", "Bob", "B")])
    database.close()
    (tmp_path / "woo.token").write_text("ck_bad:cs_bad")
    assert cli("shop", "add", "woo", "--kind", "woocommerce", "--secret-file", secret(tmp_path), "--api-url", fake_api,
               "--token-file", str(tmp_path / "woo.token")).returncode == 0
    FakeShops.script = {"/wp-json/wc/v3/customers": [
        (401, {}, {"code": "woocommerce_rest_cannot_create", "message": "Sorry, you are not allowed to create resources.",
                   "data": {"status": 401}})]}
    assert cli("sync", "bob@example.com", env=NOW).returncode == 0
    r = cli("shop", "send", env=NOW)
    assert r.returncode == 1 and "woocommerce_rest_cannot_create" in r.stdout
    database.connect(reuse_if_open=True)
    assert ShopCall.get().status == "failed"


@pytest.mark.storage
def test_an_over_refunded_pool_is_flagged_in_pools_and_listed(catalog_, cli, tmp_path):
    from regtui.core.models import Pool
    from regtui.core.services import registrations
    from regtui.core.shops import shopify

    database.connect(reuse_if_open=True)
    shops.add(catalog_, "main", "shopify", secret(tmp_path, text="k"))
    shops.map_sku(catalog_, "main", "IPOD2008PINK", catalog.find_session("PYDATA"))
    order = json.loads((FIXTURES / "shopify-orders-paid.json").read_text())
    order["line_items"][0]["quantity"] = 2
    refund = json.loads((FIXTURES / "shopify-refunds-create.json").read_text())
    refund["refund_line_items"][0]["quantity"] = 2
    for topic, data in (("orders/paid", order), ("refunds/create", refund)):
        body = json.dumps(data).encode()
        if topic == "refunds/create":
            registrations.assign(catalog_, Pool.get(), [LearnerSpec("ada@example.com", "Ada", "L")])
        shops.receive("main", {"X-Shopify-Hmac-Sha256": shopify.sign(b"k", body), "X-Shopify-Topic": topic,
                               "X-Shopify-Event-Id": topic}, body)
    database.close()
    [pool] = json.loads(cli("pools", "--json").stdout)
    assert (pool["seats"], pool["claimed"], pool["over_refunded"]) == (1, 1, True)
    assert "over-refunded" in cli("pools").stdout
    [line] = json.loads(cli("shop", "over-refunded", "--json").stdout)
    assert (line["seats"], line["taken_back"], line["over_refunded"]) == (2, 1, 1)


@pytest.mark.storage
def test_done_means_through_regtui_serve(catalog_, cli, tmp_path):
    """The issue's "done means", as a user runs it: `regtui serve` on a free port, the shop connected
    and mapped by the CLI, deliveries signed as Shopify signs them, results read with the CLI."""
    import base64
    import hashlib
    import hmac
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from test_web_limits import _free_port, _wait_until_listening

    assert cli("shop", "add", "main", "--kind", "shopify", "--secret-file", secret(tmp_path, text="shpss_k")).returncode == 0
    assert cli("shop", "map", "main", "IPOD2008PINK", "PYDATA").returncode == 0
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "regtui", "serve", "--port", str(port)], env=dict(os.environ, **NOW),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def deliver(data: dict, topic: str, event: str, key: bytes = b"shpss_k") -> int:
        body = json.dumps(data).encode()
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Event-Id": event,
                   "X-Shopify-Webhook-Id": f"w-{event}", "X-Shopify-Triggered-At": "2027-01-31T13:59:58.123456789Z",
                   "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/shop/main", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        _wait_until_listening(port, proc)
        paid = json.loads((FIXTURES / "shopify-orders-paid.json").read_text())
        assert deliver(paid, "orders/paid", "e1", key=b"forged") == 401
        assert json.loads(cli("pools", "--json").stdout) == []
        assert deliver(paid, "orders/paid", "e1") == 200
        assert deliver(paid, "orders/paid", "e1") == 200
        [pool] = json.loads(cli("pools", "--json").stdout)
        assert (pool["seats"], pool["available"], pool["customer"]) == (5, 5, "Shipping Company")
        single = dict(paid, id=1, name="#10000", line_items=[dict(paid["line_items"][0], id=2, quantity=1)])
        assert deliver(single, "orders/paid", "e2") == 200
        assert [a["session"] for a in json.loads(cli("access", "jon@example.com", "--json").stdout)] == ["PYDATA"]
        assert cli("assign", str(pool["id"]), "ada@example.com", "--first", "Ada", "--last", "L").returncode == 0
        refund = json.loads((FIXTURES / "shopify-refunds-create.json").read_text())
        refund["refund_line_items"][0]["quantity"] = 5
        assert deliver(refund, "refunds/create", "e3") == 200
        [pool] = json.loads(cli("pools", "--json").stdout)
        assert (pool["seats"], pool["claimed"], pool["over_refunded"]) == (1, 1, True)  # Ada keeps her seat
    finally:
        proc.terminate()
        proc.wait(30)
    log = proc.stderr.read()
    assert "delivery refused (401)" in log and "Traceback" not in log

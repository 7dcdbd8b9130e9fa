"""How fast a shop's webhook is answered: not a test, a script that prints a table.

`regtui serve`'s app under waitress on 127.0.0.1 (with `regtui serve`'s server limits), a fresh
database, one Shopify shop; each row posts Shopify-signed `orders/paid` deliveries (the fixture
order with its quantity changed) and times the answer as the shop sees it (connect to last byte):
a new order of N seats (up to 1,000 seats the pool and its codes are made in the same
transaction; a bigger order is stored, answered, and made right after the answer), and the same
delivery again (the duplicate answer). Shopify waits 5 seconds and wants a fast 200.

    .venv/bin/python bench/shops.py                 # SQLite, and PostgreSQL when REGTUI_BENCH_POSTGRES is set
    .venv/bin/python bench/shops.py --repeat 9
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"bench-secret"


def post(base: str, body: bytes, webhook_id: str) -> float:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": webhook_id,
               "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()}
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(base + "/hooks/shop/main", data=body, headers=headers), timeout=60) as r:
        r.read()
        assert r.status == 200, r.status
    return time.perf_counter() - start


def order(n: int, seats: int) -> bytes:
    data = json.loads((ROOT / "fixtures/shops/shopify-orders-paid.json").read_text())
    data["id"] = 10**15 + n
    data["name"] = f"#B{n}"
    data["line_items"][0]["quantity"] = seats
    return json.dumps(data).encode()


def run(url: str, repeat: int, label: str) -> list[tuple]:
    import waitress

    from regtui.core import db as dbmod
    from regtui.core.models import database
    from regtui.core.services import catalog, operators, shops, templates, tokens
    from regtui.web import create_app, hooks
    from regtui.web.limits import ServerLimits

    tokens.create_key()  # as `regtui init` does
    dbmod.open_database(url)
    dbmod.migrate()
    templates.seed()
    operators.make_first_admin(operators.login_name())
    admin = operators.current()
    secret_file = Path(tempfile.mkdtemp()) / "shop.secret"
    secret_file.write_bytes(SECRET)
    product = catalog.add_product(admin, "PY", "Python")
    session = catalog.add_session(admin, product, "PYDATA", "Python, March")
    shops.add(admin, "main", "shopify", str(secret_file))
    shops.map_sku(admin, "main", "IPOD2008PINK", session)
    database.close()
    app = create_app(url)
    server = waitress.create_server(app, host="127.0.0.1", port=0, **ServerLimits().waitress_options())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"
    rows = []
    n = 0
    try:
        for seats in (1, 5, 100, 1000, 10_000):
            new, again = [], []
            for _ in range(repeat):
                n += 1
                body, wid = order(n, seats), f"bench-{n}"
                new.append(post(base, body, wid))
                again.append(post(base, body, wid))
                hooks.wait_for_background()  # a big order is made before the next one is timed
            rows.append((label, seats, statistics.median(new), max(new), statistics.median(again)))
    finally:
        server.trigger.pull_trigger(server.close)
        thread.join(10)
        server.task_dispatcher.shutdown()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    os.environ.setdefault("REGTUI_HOME", tempfile.mkdtemp())
    rows = run(f"sqlite:///{tempfile.mkdtemp()}/bench.db", args.repeat, "SQLite")
    pg = os.environ.get("REGTUI_BENCH_POSTGRES")
    if pg:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        conn = psycopg.connect(pg)
        conn.autocommit = True
        conn.cursor().execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in pg else "?"
            rows += run(f"{pg}{sep}options=-csearch_path%3D{schema}", args.repeat, "PostgreSQL")
        finally:
            conn.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"| database | seats | new order, median s | new order, slowest s | same delivery again, median s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, seats, med, worst, again in rows:
        print(f"| {label} | {seats:,} | {med:.3f} | {worst:.3f} | {again:.3f} |")


if __name__ == "__main__":
    main()

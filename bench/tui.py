"""TUI speed on a big database: 10,000 customers with 100,000 learners, and one customer with a
pool of 100,000 claimed seats. SQLite, and PostgreSQL when given.

    .venv/bin/python bench/tui.py [--db PATH] [--rebuild] [--pg postgresql://user@host/db]

Builds each database once (bulk inserts straight into the tables: bench data, not a way to
write real data; the big pool is bench/bigpool.py), then, in a fresh process per database,
drives the TUI with Textual's headless Pilot at 120x40 and prints a table:
- customers screen, customer screen (the big customer) and pool screen (its Completed tab):
  first paint, from pushing the screen to its rows in the table (the customers screen: from
  the app's start, imports included);
- each keystroke of a filter typed into the Completed tab: from the debounce firing
  (DEBOUNCE after the last key) to the new rows in the table (in brackets: to the filter's
  total, counted after the rows are shown);
- scrolling a page: Down on the page's last row until the next page is in the table;
  End (the bottom of the whole list) and a sort by first name;
- the TUI process's peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CUSTOMERS = 10_000
LEARNERS = 100_000
SEATS = 12  # per pool; one pool per customer, 10 claimed
BIG = 100_000  # seats of the big pool
TYPED = "smith"  # typed a key at a time into the Completed tab's filter
GOALS = {"paint": 0.5, "key_median": 0.15, "key_max": 0.3, "scroll": 0.05, "memory": 200}


def build(url: str) -> None:
    from regtui.core import db as dbmod
    from regtui.core.models import Access, Code, Customer, Learner, Order, Pool, Product, Session, database
    from regtui.core.services import operators, templates, tokens

    import bigpool

    dbmod.open_database(url)
    dbmod.migrate()
    templates.seed()
    tokens.create_key()
    operators.make_first_admin(operators.login_name())
    t0 = time.perf_counter()
    now = dt.datetime(2027, 1, 1)
    with database.atomic():
        product = Product.create(code="BENCH", name="Bench course")
        session = Session.create(product=product, code="BENCH-1", name="Bench course, run 1", access_days=365)
        rows = [{"email": f"learner{n}@bench{n % 1000}.example.com", "email_key": f"learner{n}@bench{n % 1000}.example.com",
                 "first_name": f"First{n}", "last_name": f"Last{n}", "created_at": now} for n in range(LEARNERS)]
        for start in range(0, len(rows), 1000):
            Learner.insert_many(rows[start:start + 1000]).execute()
        rows = [{"name": f"Company {n:05d} {['Traders', 'Health', 'Logistics', 'Toys'][n % 4]}",
                 "email": f"hr@company{n}.example.com", "email_key": f"hr@company{n}.example.com", "created_at": now}
                for n in range(CUSTOMERS)]
        for start in range(0, len(rows), 1000):
            Customer.insert_many(rows[start:start + 1000]).execute()
        first_customer = Customer.select(Customer.id).order_by(Customer.id).first().id
        first_learner = Learner.select(Learner.id).order_by(Learner.id).first().id
        rows = [{"number": f"SO-{n:06d}", "customer": first_customer + n, "placed_at": now} for n in range(CUSTOMERS)]
        for start in range(0, len(rows), 1000):  # PostgreSQL takes at most 65,535 parameters a statement
            Order.insert_many(rows[start:start + 1000]).execute()
        first_order = Order.select(Order.id).order_by(Order.id).first().id
        per_pool = LEARNERS // CUSTOMERS
        rows = [{"order": first_order + n, "session": session.id, "seats": SEATS, "available": SEATS - per_pool,
                 "invited": 0, "claimed": per_pool} for n in range(CUSTOMERS)]
        for start in range(0, len(rows), 1000):
            Pool.insert_many(rows[start:start + 1000]).execute()
        first_pool = Pool.select(Pool.id).order_by(Pool.id).first().id
        codes = []
        for n in range(CUSTOMERS):
            for k in range(SEATS):
                claimed = k < per_pool
                codes.append({"pool": first_pool + n, "code": f"B{n:05d}-{k:02d}", "state": "claimed" if claimed else "available",
                              "learner": first_learner + n * per_pool + k if claimed else None})
        for start in range(0, len(codes), 1000):
            Code.insert_many(codes[start:start + 1000]).execute()
        claimed = Code.select(Code.id, Code.learner).where(Code.state == "claimed").tuples()
        grants = [{"learner": l, "session": session.id, "code": c, "starts": dt.date(2027, 1, 1),
                   "ends": dt.date(2028, 1, 1), "status": "active"} for c, l in claimed]
        for start in range(0, len(grants), 1000):
            Access.insert_many(grants[start:start + 1000]).execute()
    bigpool.build(BIG)
    if dbmod.dialect().name == "postgresql":
        database.execute_sql("ANALYZE")  # the statistics autovacuum gathers on a live database, now
    database.close()
    print(f"built {url} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


async def _until(pilot, done, what: str, limit: float = 60) -> float:
    """Wait for ``done()``, looking every millisecond. A plain sleep, not ``pilot.pause``: that
    queues a callback on every widget of the screen and forces a repaint each time, so polling
    with it floods the app's queues and measures the polling."""
    deadline = time.perf_counter() + limit
    while not done():
        if time.perf_counter() > deadline:
            raise SystemExit(f"{what}: nothing after {limit} s")
        await asyncio.sleep(0.001)
    return time.perf_counter()


def _key(app, key: str) -> None:
    """A key as the terminal driver sends it (``pilot.press`` also waits for the screen to be idle)."""
    from textual import events

    app._driver.send_message(events.Key(key, None))


async def measure(url: str) -> dict:
    t0 = time.perf_counter()  # before importing Textual and the TUI: what a user waits for
    from textual.widgets import DataTable

    from regtui.core import db as dbmod
    from regtui.core.models import Customer, Pool
    from regtui.core.services import operators
    from regtui.tui.app import RegtuiApp
    from regtui.tui.screens.customer import CustomerScreen
    from regtui.tui.screens.customers import CustomersScreen
    from regtui.tui.screens.pool import PoolScreen
    from regtui.tui.widgets import paged as paged_module
    from regtui.tui.widgets.paged import PagedList

    out: dict = {"keys": []}
    dbmod.open_database(url)
    actor = operators.current()
    big_pool = Pool.select(Pool.id).order_by(Pool.seats.desc()).first().id
    big_customer = Customer.get(Customer.email_key == "hr@bigpool.example.com").id
    dbmod.database.close()
    app = RegtuiApp(actor=actor, db_label=url)
    async with app.run_test(size=(120, 40)) as pilot:
        out["customers"] = await _until(pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.query_one(
            "#customers", DataTable).row_count, "customers screen") - t0

        start = time.perf_counter()
        await app.push_screen(CustomerScreen(big_customer))
        users = app.screen.query_one("#users-list", PagedList)
        out["customer"] = await _until(pilot, lambda: users.page is not None and users.table.row_count,
                                       "customer screen") - start

        start = time.perf_counter()
        await app.push_screen(PoolScreen(big_pool))
        app.screen.action_tab("completed")
        done = app.screen.query_one("#completed-list", PagedList)
        out["pool"] = await _until(pilot, lambda: done.page is not None and done.table.row_count, "pool screen") - start
        await pilot.pause(0.2)

        fired: list[float] = []
        apply = done.apply_filter

        def apply_timed():
            fired.append(time.perf_counter())
            apply()

        done.apply_filter = apply_timed
        for n in range(1, len(TYPED) + 1):
            fired.clear()
            done.filter_input.value = TYPED[:n]
            await _until(pilot, lambda: fired, "debounce")
            request = done.request
            end = await _until(pilot, lambda: done.shown_request >= request, f"filter {TYPED[:n]!r}")
            counted = await _until(pilot, lambda: done.page.total is not None, f"count {TYPED[:n]!r}")
            out["keys"].append((TYPED[:n], end - fired[0], done.page.total, counted - fired[0]))
        done.apply_filter = apply
        done.filter_input.value = ""
        done.apply_filter()
        await _until(pilot, lambda: done.shown_request == done.request, "clear filter")

        done.table.focus()
        scrolls = []
        for _ in range(5):
            done.table.move_cursor(row=done.table.row_count - 1)
            await pilot.pause(0.05)
            request = done.request
            start = time.perf_counter()
            _key(app, "down")
            scrolls.append(await _until(pilot, lambda: done.shown_request > request, "next page") - start)
        out["scroll"] = scrolls
        for label, key in (("end", "end"), ("home", "home")):
            request = done.request
            start = time.perf_counter()
            _key(app, key)
            out[label] = await _until(pilot, lambda: done.shown_request > request, label) - start
        request = done.request
        start = time.perf_counter()
        done.sort_by("first")
        out["sort_first"] = await _until(pilot, lambda: done.shown_request > request, "sort") - start
        await pilot.press("q")
    out["memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["debounce"] = paged_module.DEBOUNCE
    return out


def child(url: str) -> dict:
    """Measure in a fresh process, so memory and imports are the TUI's own."""
    done = subprocess.run([sys.executable, __file__, "--measure", url], capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"measuring {url} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict]) -> str:
    lines = ["| measure | " + " | ".join(results) + " | goal |", "| --- | " + " | ".join("---:" for _ in results) + " | --- |"]

    def row(label: str, values: list[str], goal: str) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {goal} |")

    def sec(v: float, goal: float | None = None) -> str:
        verdict = "" if goal is None else " pass" if v <= goal else " **miss**"
        return f"{v:.3f} s{verdict}"

    r = list(results.values())
    row("customers screen, first paint (app start, imports included)", [sec(x["customers"]) for x in r], "")
    row("customer screen (100,000 users), first paint", [sec(x["customer"], GOALS["paint"]) for x in r],
        f"≤ {GOALS['paint']} s")
    row("pool screen, Completed tab (100,000 seats), first paint", [sec(x["pool"], GOALS["paint"]) for x in r],
        f"≤ {GOALS['paint']} s")
    for n in range(len(r[0]["keys"])):
        typed, _, total, _ = r[0]["keys"][n]
        row(f"filter keystroke {typed!r} ({total:,} match): rows (and the total, counted after)",
            [f"{sec(x['keys'][n][1])} ({sec(x['keys'][n][3])})" for x in r], "")
    row("filter keystroke, median", [sec(statistics.median(k[1] for k in x["keys"]), GOALS["key_median"]) for x in r],
        f"≤ {GOALS['key_median']} s")
    row("filter keystroke, slowest", [sec(max(k[1] for k in x["keys"]), GOALS["key_max"]) for x in r],
        f"≤ {GOALS['key_max']} s")
    row("scroll a page (Down on the last row), median of 5", [sec(statistics.median(x["scroll"]), GOALS["scroll"])
                                                              for x in r], f"≤ {GOALS['scroll']} s")
    row("End (the last page of 100,000)", [sec(x["end"]) for x in r], "")
    row("Home", [sec(x["home"]) for x in r], "")
    row("sort by first name", [sec(x["sort_first"]) for x in r], "")
    row("TUI process peak memory", [f"{x['memory_mb']:.0f} MB" + (" pass" if x["memory_mb"] <= GOALS["memory"] else " **miss**")
                                    for x in r], f"≤ {GOALS['memory']} MB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "regtui-bench" / "tui.db")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pg", default=os.environ.get("REGTUI_BENCH_POSTGRES"), help="a PostgreSQL URL to measure too")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("REGTUI_HOME", str(args.db.parent / "home"))
    Path(os.environ["REGTUI_HOME"]).mkdir(parents=True, exist_ok=True)
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return 0
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    urls = {"SQLite": f"sqlite:///{args.db}"}
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", f"import sys; sys.argv=['x']; sys.path[:0]={sys.path[:2]!r}; "
                        f"import tui; tui.build({urls['SQLite']!r})"], check=True, cwd=Path(__file__).parent)
    schema = None
    if args.pg:
        import psycopg

        schema = f"bench_tui_{uuid.uuid4().hex[:8]}"
        conn = psycopg.connect(args.pg)
        conn.autocommit = True
        conn.cursor().execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in args.pg else "?"
        urls["PostgreSQL"] = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
        subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0]={sys.path[:2]!r}; "
                        f"import tui; tui.build({urls['PostgreSQL']!r})"], check=True, cwd=Path(__file__).parent)
    try:
        results = {name: child(url) for name, url in urls.items()}
    finally:
        if schema:
            conn.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
    print(table(results))
    debounce = next(iter(results.values()))["debounce"]
    print(f"\n({CUSTOMERS:,} customers, {LEARNERS:,} learners in 12-seat pools, and one pool of {BIG:,} claimed seats; "
          f"120x40; the filter waits {debounce * 1000:.0f} ms after the last key before it asks; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

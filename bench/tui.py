"""TUI speed on a big database: 10,000 customers, 100,000 learners.

    .venv/bin/python bench/tui.py [--db PATH] [--rebuild]

Builds the database once (bulk inserts straight into the models: bench data, not a way to
write real data), then measures with Textual's headless Pilot:
- time to the first customers page visible (app start -> rows in the table), goal < 1.5 s;
- filter latency (the debounce fires -> the answer is in the table), goal < 200 ms;
and prints a table.
"""

from __future__ import annotations

import argparse
import faulthandler
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CUSTOMERS = 10_000
LEARNERS = 100_000
SEATS = 12  # per pool; one pool per customer, 10 claimed


def build(path: Path) -> None:
    from regtui.core import db as dbmod
    from regtui.core.models import Access, Code, Customer, Learner, Order, Pool, Product, Session, database
    from regtui.core.services import operators, templates, tokens

    path.parent.mkdir(parents=True, exist_ok=True)
    dbmod.open_database(f"sqlite:///{path}")
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
        for start in range(0, len(rows), 5000):
            Learner.insert_many(rows[start:start + 5000]).execute()
        rows = [{"name": f"Company {n:05d} {['Traders', 'Health', 'Logistics', 'Toys'][n % 4]}",
                 "email": f"hr@company{n}.example.com", "email_key": f"hr@company{n}.example.com", "created_at": now}
                for n in range(CUSTOMERS)]
        for start in range(0, len(rows), 5000):
            Customer.insert_many(rows[start:start + 5000]).execute()
        first_customer = Customer.select(Customer.id).order_by(Customer.id).first().id
        first_learner = Learner.select(Learner.id).order_by(Learner.id).first().id
        Order.insert_many([{"number": f"SO-{n:06d}", "customer": first_customer + n, "placed_at": now}
                           for n in range(CUSTOMERS)]).execute()
        first_order = Order.select(Order.id).order_by(Order.id).first().id
        per_pool = LEARNERS // CUSTOMERS
        Pool.insert_many([{"order": first_order + n, "session": session.id, "seats": SEATS, "available": SEATS - per_pool,
                           "invited": 0, "claimed": per_pool} for n in range(CUSTOMERS)]).execute()
        first_pool = Pool.select(Pool.id).order_by(Pool.id).first().id
        codes = []
        for n in range(CUSTOMERS):
            for k in range(SEATS):
                claimed = k < per_pool
                codes.append({"pool": first_pool + n, "code": f"B{n:05d}-{k:02d}", "state": "claimed" if claimed else "available",
                              "learner": first_learner + n * per_pool + k if claimed else None})
        for start in range(0, len(codes), 5000):
            Code.insert_many(codes[start:start + 5000]).execute()
        claimed = Code.select(Code.id, Code.learner).where(Code.state == "claimed").tuples()
        grants = [{"learner": l, "session": session.id, "code": c, "starts": dt.date(2027, 1, 1),
                   "ends": dt.date(2028, 1, 1), "status": "active"} for c, l in claimed]
        for start in range(0, len(grants), 5000):
            Access.insert_many(grants[start:start + 5000]).execute()
    database.close()
    print(f"built {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


async def measure(path: Path, filters: list[str]) -> list[tuple[str, float, str]]:
    t0 = time.perf_counter()  # before importing Textual and the TUI: what a user waits for
    from textual.widgets import DataTable, Input

    from regtui.core import db as dbmod
    from regtui.core.services import operators
    from regtui.tui.app import RegtuiApp
    from regtui.tui.screens import customers as customers_screen

    results: list[tuple[str, float, str]] = []
    dbmod.open_database(f"sqlite:///{path}")
    actor = operators.current()
    app = RegtuiApp(actor=actor, db_label=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.perf_counter() + 30
        while True:
            screen = app.screen
            if isinstance(screen, customers_screen.CustomersScreen) and screen.query_one("#customers", DataTable).row_count:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"no customers shown after 30 s: {[str(n) for n in app._notifications]}")
            await pilot.pause(0.005)
        first = time.perf_counter() - t0
        results.append(("first customers page visible (imports included)", first, "< 1.5 s"))
        screen = app.screen

        async def answered(request: int) -> float:
            limit = time.perf_counter() + 30
            while screen.shown_request < request:
                if time.perf_counter() > limit:
                    raise SystemExit("no answer after 30 s")
                await pilot.pause(0.001)
            return time.perf_counter()

        answers = []
        for text in filters:
            fired: list[float] = []
            apply = screen._apply_filter

            def apply_timed():
                fired.append(time.perf_counter())
                apply()

            screen._apply_filter = apply_timed
            before = screen.request
            screen.query_one("#filter", Input).value = text
            while not fired:
                await pilot.pause(0.001)
            done = await answered(before + 1)
            answers.append(done - fired[0])
            rows = screen.query_one("#customers", DataTable).row_count
            results.append((f"filter {text!r} ({rows} rows shown of {screen.total:,})", answers[-1], "< 0.2 s"))
            screen._apply_filter = apply
        results.append(("filter latency, median", statistics.median(answers), "< 0.2 s"))
        before = screen.request
        screen.query_one("#filter", Input).value = ""
        await answered(before + 1)
        for label, action in (("sort by seats (header click)", lambda: screen.sort_by("seats")),
                              ("next page", lambda: screen.action_page(1))):
            start = time.perf_counter()
            before = screen.request
            action()
            results.append((label, await answered(before + 1) - start, ""))
        await pilot.press("q")
    return results


def main() -> int:
    if os.environ.get("BENCH_DEBUG"):
        faulthandler.dump_traceback_later(20, exit=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "regtui-bench" / "bench.db")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("REGTUI_HOME", str(args.db.parent / "home"))
    Path(os.environ["REGTUI_HOME"]).mkdir(parents=True, exist_ok=True)
    if args.rebuild and args.db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if not args.db.exists():
        build(args.db)
    results = asyncio.run(measure(args.db, ["0123", "health", "company 099", "hr@company77", "zzz-nothing"]))
    width = max(len(r[0]) for r in results)
    print(f"{'measure'.ljust(width)}  {'seconds':>8}  goal")
    print(f"{'-' * width}  {'-' * 8}  ----")
    for label, seconds, goal in results:
        print(f"{label.ljust(width)}  {seconds:8.3f}  {goal}")
    print(f"({CUSTOMERS:,} customers, {LEARNERS:,} learners, {CUSTOMERS * SEATS:,} codes; SQLite at {args.db})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

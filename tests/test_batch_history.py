"""Batch history: the applied batches, a page at a time from the database (service and CLI); the
TUI's list is in test_tui_batch_history.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from regtui.core.errors import UsageError
from regtui.core.models import Batch
from regtui.core.services import batches, operators, pools
from regtui.core.services.permissions import Actor
from test_core_support import make_customer, make_pool

pytestmark = pytest.mark.storage

START = dt.datetime(2027, 3, 1, 9, 0, 0)


def make_batches(admin, n: int = 250) -> dict:
    """``n`` applied batches, inserted set-based: every third (0, 3, ...) on Globex's pool, the rest on Acme's;
    operators ana/bo by turns, files roster-NNN.csv. Returns the customers and pools."""
    acme, globex = make_customer(admin, "Acme Corp"), make_customer(admin, "Globex")
    acme_pool, globex_pool = make_pool(admin, 3, customer=acme), make_pool(admin, 3, customer=globex)
    rows = [{"file_name": f"roster-{i:03d}.csv", "sha256": f"{i:064x}", "operator": ("ana", "bo")[i % 2],
             "pool": (globex_pool if i % 3 == 0 else acme_pool).id, "applied_at": START + dt.timedelta(minutes=i),
             "counts": json.dumps({"create": i, "revoke": i % 4}), "plan": "{}", "outcome": "applied"}
            for i in range(n)]
    for start in range(0, n, 100):
        Batch.insert_many(rows[start:start + 100]).execute()
    return {"acme": acme, "globex": globex, "acme_pool": acme_pool, "globex_pool": globex_pool}


def walk(actor, limit: int = 40, **kw) -> tuple[list[int], list[int]]:
    """Every key of the list read forwards page by page, and read backwards from the last page."""
    forward, cursor = [], None
    while True:
        page = batches.page(actor, limit=limit, after=cursor, **kw)
        forward += page.keys
        if not page.next:
            break
        cursor = page.next
    backward, page = [], batches.page(actor, limit=limit, last=True, **kw)
    while True:
        backward = page.keys + backward
        if not page.prev:
            break
        page = batches.page(actor, limit=limit, before=page.prev, **kw)
    return forward, backward


@pytest.mark.parametrize("sort", list(batches.SORTS))
def test_pages_walk_the_history_both_ways(admin, sort):
    made = make_batches(admin)
    whole = batches.page(admin, sort=sort, limit=1000)
    assert len(whole.rows) == whole.total == 250 and whole.next is None and whole.prev is None
    forward, backward = walk(admin, sort=sort)
    assert forward == backward == whole.keys
    ascending = batches.page(admin, sort=sort, descending=False, limit=1000)
    assert ascending.keys == list(reversed(whole.keys))
    first = whole.rows[0] if sort != "time" else batches.page(admin, limit=1).rows[0]
    if sort == "time":  # newest first by default
        assert first.id == max(whole.keys) and first.file_name == "roster-249.csv"
        assert first.pool_name == pools.names([made["globex_pool"].id])[made["globex_pool"].id]
        assert first.customer == "Globex" and first.counts == {"create": 249, "revoke": 1}
        assert first.counts_text() == "249 create, 1 revoke" and first.applied_at == START + dt.timedelta(minutes=249)


def test_filters_by_file_operator_pool_and_customer_in_the_database(admin):
    made = make_batches(admin)
    globex_line = pools.names([made["globex_pool"].id])[made["globex_pool"].id]
    assert batches.page(admin, search="roster-12").total == 10  # roster-120 ... roster-129
    assert batches.page(admin, search="BO").total == 125
    assert batches.page(admin, search="globex").total == 84
    assert batches.page(admin, search=globex_line).total == 84
    assert batches.page(admin, search="_").total == 0  # LIKE's wildcards are taken literally
    forward, backward = walk(admin, limit=9, search="globex", sort="file", descending=False)
    assert forward == backward and len(forward) == 84
    assert [r.file_name for r in batches.page(admin, search="globex", sort="file", descending=False, limit=2).rows] \
        == ["roster-000.csv", "roster-003.csv"]


def test_a_manager_sees_only_their_own_customers_batches(admin):
    made = make_batches(admin, 30)
    operators.set_operator(admin, "hr", "manager", made["globex"])
    hr = Actor("hr", "manager", made["globex"].id)
    page = batches.page(hr, limit=1000)
    assert page.total == 10 and {r.customer for r in page.rows} == {"Globex"}
    acme_line = pools.names([made["acme_pool"].id])[made["acme_pool"].id]
    assert batches.page(hr, search=acme_line).total == 0
    assert batches.page(hr, search="acme").total == 0


def test_bad_sort_and_cursor_are_one_sentence(admin):
    make_batches(admin, 3)
    with pytest.raises(UsageError, match="Sort by one of time, file, operator, pool"):
        batches.page(admin, sort="sha256")
    with pytest.raises(UsageError, match="cursor"):
        batches.page(admin, after="not a cursor")


def test_cli_history_pages_with_after_and_searches(admin, cli):
    from regtui.core.models import database

    make_batches(admin, 250)
    database.close()
    seen, after = [], []
    while True:
        r = cli("batch", "history", "--limit", "100", "--json", *after)
        assert r.returncode == 0, r.stderr
        page = json.loads(r.stdout)
        assert page["total"] == 250
        seen += [b["file_name"] for b in page["rows"]]
        if not page["next"]:
            break
        after = ["--after", page["next"]]
    assert seen == [f"roster-{i:03d}.csv" for i in range(249, -1, -1)]
    r = cli("batch", "history", "--search", "roster-12", "--limit", "5")
    assert r.returncode == 0, r.stderr
    assert "roster-129.csv" in r.stdout and "roster-125.csv" in r.stdout and "roster-124.csv" not in r.stdout
    assert "5 of 10 shown. Next page: the same command with --after " in r.stdout
    r = cli("batch", "history", "--after", "bm90IGEgY3Vyc29y.0123")
    assert r.returncode == 2 and "cursor is not one this list gave" in r.stderr and "Traceback" not in r.stderr

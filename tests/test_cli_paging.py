"""Issue 14, the CLI's part: long listings (registrations, users, invites, audit) read a page at a
time with --limit and --after CURSOR (keyset pages from the services, no OFFSET), say how to get
the next page, and give {"rows", "next", "total"} with --json. Paged to the end by subprocess, on
SQLite and PostgreSQL: nothing missed, nothing repeated. A bad cursor is one sentence, exit 2."""

from __future__ import annotations

import json

import pytest

from regtui.core.models import database
from regtui.core.services import invitations, registrations
from regtui.core.services.learners import LearnerSpec
from test_cli import fails, ok
from test_core_support import make_customer, make_pool

pytestmark = pytest.mark.storage


@pytest.fixture
def world(admin, cli):
    """One customer with two pools of one session: 7 + 4 seated learners, 5 pending invitations."""
    customer = make_customer(admin, "Paging Ltd")
    first = make_pool(admin, 12, customer=customer)
    second = make_pool(admin, 6, customer=customer)
    registrations.assign(admin, first, [LearnerSpec(f"a{i}@example.com", "Ann", f"No{i}") for i in range(7)])
    registrations.assign(admin, second, [LearnerSpec(f"b{i}@example.com", "Bo", f"No{i}") for i in range(4)])
    invitations.invite(admin, first, [f"inv{i}@example.com" for i in range(5)])
    database.close()
    return {"first": str(first.id), "second": str(second.id), "customer": "Paging Ltd"}


def walk(cli, *args: str, limit: int = 3) -> tuple[list[dict], int]:
    """Every row of a listing, a page at a time through --after; returns (rows, pages)."""
    rows: list[dict] = []
    after: list[str] = []
    for pages in range(1, 100):
        page = json.loads(ok(cli, *args, "--limit", str(limit), *after, "--json").stdout)
        assert set(page) == {"rows", "next", "total"}
        assert len(page["rows"]) <= limit
        rows += page["rows"]
        if page["next"] is None:
            return rows, pages
        after = ["--after", page["next"]]
    raise AssertionError("the listing never ended")


def test_each_long_listing_pages_to_its_end_missing_and_repeating_nothing(cli, world):
    regs, pages = walk(cli, "registrations", world["first"])
    assert sorted(r["email"] for r in regs) == [f"a{i}@example.com" for i in range(7)] and pages == 3
    users, pages = walk(cli, "users", world["customer"])
    assert sorted(u["email"] for u in users) == sorted([f"a{i}@example.com" for i in range(7)]
                                                       + [f"b{i}@example.com" for i in range(4)])
    assert pages == 4
    invites, _ = walk(cli, "invites", world["first"], limit=2)
    assert sorted(i["email"] for i in invites) == [f"inv{i}@example.com" for i in range(5)]
    events, _ = walk(cli, "audit", limit=7)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids), reverse=True)  # newest first, each once
    everything = json.loads(ok(cli, "audit", "--limit", "1000", "--json").stdout)
    assert [e["id"] for e in everything["rows"]] == ids and everything["total"] == len(ids)
    # a filter pages too: only the second pool's learners
    assert len(walk(cli, "registrations", world["second"], "--search", "b")[0]) == 4


def test_a_page_says_how_to_get_the_next_one(cli, world):
    out = ok(cli, "registrations", world["first"], "--limit", "5").stdout.splitlines()
    assert out[-1].startswith("5 of 7 shown. Next page: the same command with --after ")
    cursor = out[-1].rsplit(" ", 1)[1]
    rest = ok(cli, "registrations", world["first"], "--limit", "5", "--after", cursor).stdout
    assert "a5@example.com" in rest and "a6@example.com" in rest and "a0@example.com" not in rest
    assert "Next page" not in rest  # the last page says nothing more


def test_a_bad_cursor_is_one_sentence_and_exit_2(cli, world):
    page = json.loads(ok(cli, "registrations", world["first"], "--limit", "2", "--json").stdout)
    cursor = page["next"]
    edited = cursor[:-1] + ("0" if cursor[-1] != "0" else "1")
    for args in (("registrations", world["first"], "--after", edited),       # tampered
                 ("registrations", world["first"], "--after", "WyJ6eiIsMV0"),  # made by hand, no seal
                 ("invites", world["first"], "--after", cursor),               # another list's
                 ("registrations", world["second"], "--after", cursor),        # another pool's
                 ("users", world["customer"], "--after", cursor),
                 ("registrations", world["first"], "--after", "\x1b[2J\x07" + cursor)):  # control characters
        sentence = fails(cli, 2, *args)
        assert sentence.startswith("regtui: That cursor is not one this list gave") and "\x1b" not in sentence
    assert "page size" in fails(cli, 2, "audit", "--limit", "5000")


def test_orders_page_with_after_and_search(admin, cli):
    """`regtui orders` pages like the other long lists: newest placed first, --after the printed
    cursor, --search in the database; a cursor of another list is refused."""
    import datetime as dt

    from regtui.core.services import orders

    pool = make_pool(admin, 2)
    for i in range(7):
        orders.add(admin, pool.order.customer, [orders.OrderLine(pool.session, 2)], number=f"PO-{i}",
                   placed_on=dt.date(2026, 1, 1 + i))
    database.close()
    rows, pages = walk(cli, "orders")
    # newest placed first: the pool's own order (placed today), then PO-6 back to PO-0
    assert [o["number"] for o in rows] == [pool.order.number] + [f"PO-{i}" for i in reversed(range(7))]
    assert pages == 3
    found = json.loads(ok(cli, "orders", "--json", "--search", "po-3").stdout)["rows"]
    assert [o["number"] for o in found] == ["PO-3"]
    other = json.loads(ok(cli, "audit", "--json", "--limit", "1").stdout)["next"]
    fails(cli, 2, "orders", "--after", other)

"""Long lists at scale: a pool of 100,000 claimed seats (built set-based, bench/bigpool.py),
paged, filtered, sorted and ticked across pages in the TUI, and the services' keyset pages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from regtui.core import paging
from regtui.core.errors import UsageError
from regtui.core.models import Access, Code, Pool
from regtui.core.services import pools, registrations
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.widgets.paged import PagedList
from test_tui_app import demo_admin, open_pool, pool_of, run, settle  # noqa: F401 (a fixture)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import bigpool  # noqa: E402

SEATS = 100_000


def email(n: int) -> str:
    return f"big{n:06d}@bigpool.example.com"


@pytest.fixture
def big(admin):
    return bigpool.build(SEATS)


def shown_emails(paged: PagedList) -> list[str]:
    return [r.email if hasattr(r, "email") else r.registration.email for r in paged.page.rows]


async def until_shown(pilot, paged: PagedList) -> None:
    await settle(pilot, rounds=2)
    for _ in range(200):
        if paged.shown_request == paged.request and paged.page is not None and paged.page.total is not None:
            return  # the rows, and the filter's total counted after them
        await pilot.pause(0.05)
    raise AssertionError("the page never arrived")


async def completed_tab(pilot, pool_id: int) -> PagedList:
    screen = await open_pool(pilot, Pool.get_by_id(pool_id))
    await pilot.press("escape", "4")
    paged = screen.query_one("#completed-list", PagedList)
    paged.table.focus()
    await until_shown(pilot, paged)
    return paged


def test_completed_tab_pages_through_100k_seats(big, admin):
    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            paged = await completed_tab(pilot, big)
            assert shown_emails(paged) == [email(n) for n in range(1, 101)]
            assert paged.status_text.startswith("1–100 of 100,000 registrations")
            assert "Completed (100,000)" in pilot.app.screen.query_one("#tabs").get_tab("completed").label.plain
            # Down on the page's last row reads the next page, after the last row's position
            paged.table.move_cursor(row=99)
            await pilot.press("down")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[0] == email(101) and paged.table.cursor_row == 0
            assert paged.status_text.startswith("101–200 of 100,000")
            # Up on the first row goes back
            await pilot.press("up")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[-1] == email(100) and paged.table.cursor_row == 99
            # End: the bottom of the whole list; Home: its top
            await pilot.press("end")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[-1] == email(SEATS) and paged.status_text.startswith("99,901–100,000 of 100,000")
            await pilot.press("up")
            await until_shown(pilot, paged)
            await pilot.press("home")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[0] == email(1)
    run(go())


def test_filter_as_you_type_and_sort_by_any_column(big, admin):
    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paged = await completed_tab(pilot, big)
            await pilot.press("slash")
            assert isinstance(app.focused, Input)
            await pilot.press(*"SMITH")  # a global key (s: none, m, i, t: Templates) never fires while typing
            await until_shown(pilot, paged)
            assert paged.filter_input.value == "SMITH" and app.screen is paged.screen
            assert paged.page.total == SEATS // 10
            assert all(r.last_name == "Smith" for r in paged.page.rows)
            assert paged.status_text.startswith("1–100 of 10,000 registrations")
            await pilot.press("enter")  # back to the table
            # sort by first name: the database's order over all 10,000 matches
            paged.sort_by("first")
            await until_shown(pilot, paged)
            firsts = [r.first_name for r in paged.page.rows]
            smiths = sorted(f"First{(n * 7919) % SEATS:06d}" for n in range(10, SEATS + 1, 10))
            assert firsts == smiths[:100]
            paged.sort_by("first")  # again: descending
            await until_shown(pilot, paged)
            firsts = [r.first_name for r in paged.page.rows]
            assert firsts == sorted(firsts, reverse=True)
            # by code, from the header
            await pilot.press("s")
            await until_shown(pilot, paged)
            assert paged.sort != "first"
            # a filter that matches nothing says so
            paged.filter_input.value = "no-such-learner"
            await until_shown(pilot, paged)
            assert paged.page.total == 0 and paged.table.row_count == 0
            assert "No registrations match 'no-such-learner'" in paged.status_text
    run(go())


def test_tick_all_matching_removes_across_pages_in_one_call(big, admin, monkeypatch):
    calls = []
    real = registrations.revoke_ticked
    monkeypatch.setattr(registrations, "revoke_ticked", lambda *a, **k: calls.append(a[2]) or real(*a, **k))

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paged = await completed_tab(pilot, big)
            paged.filter_input.value = "big001"  # big001000 ... big001999: ten pages
            await until_shown(pilot, paged)
            assert paged.page.total == 1000
            paged.table.focus()
            await pilot.press("a")  # tick all matching
            assert paged.ticked_count() == 1000 and "1,000 ticked" in paged.status_text
            await pilot.press("space")  # but not the first one
            assert paged.ticked_count() == 999
            paged.table.move_cursor(row=99)
            await pilot.press("down")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[0] == email(1100)
            assert paged.is_ticked(paged.current_key())  # rows of later pages are ticked too
            await pilot.click("#remove-registration")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen) and "999" in app.screen.question
            await pilot.click("#yes")
            await settle(pilot)
            await until_shown(pilot, paged)
    run(go())
    [ticked] = calls
    assert ticked.all_matching and ticked.search == "big001" and len(ticked.excluded) == 1
    assert Pool.get_by_id(big).claimed == SEATS - 999
    held = Code.select().where((Code.pool == big) & (Code.state == "claimed") & Code.code.startswith("BIG-001"))
    assert [c.code for c in held] == ["BIG-001000"]
    assert Access.select().where(Access.status == "revoked").count() == 999


def test_ticks_and_cursor_survive_a_refresh(big, admin):
    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paged = await completed_tab(pilot, big)
            paged.table.move_cursor(row=99)
            await pilot.press("down")
            await until_shown(pilot, paged)
            await pilot.press("space", "space")  # ticks rows 101 and 102, the cursor moves on
            key = paged.current_key()
            await pilot.press("f5")
            await until_shown(pilot, paged)
            assert shown_emails(paged)[0] == email(101)
            assert paged.current_key() == key and paged.ticked_count() == 2
            assert paged.table.get_row_at(0)[0].plain == "[x]"
    run(go())


def test_customer_users_page_from_the_database(big, admin):
    customer = Pool.get_by_id(big).order.customer_id

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await app.push_screen(CustomerScreen(customer))
            paged = app.screen.query_one("#users-list", PagedList)
            await until_shown(pilot, paged)
            assert paged.table.row_count == 100 and paged.page.total == SEATS
            assert "100,000 registration code users" in str(app.screen.query_one("#customer-title").render())
            paged.filter_input.value = "BIG-099999"
            await until_shown(pilot, paged)
            assert shown_emails(paged) == [email(99999)]
    run(go())


# --- the services' pages -------------------------------------------------------------------

@pytest.mark.storage
@pytest.mark.parametrize("sort", list(registrations.SORTS))
def test_pages_walk_the_whole_list_both_ways(admin, sort):
    pool = pools.get(admin, bigpool.build(250))
    whole = registrations.page(admin, pool, sort=sort, limit=1000)
    assert len(whole.rows) == 250 and whole.next is None and whole.prev is None
    forward, cursor = [], None
    while True:
        page = registrations.page(admin, pool, sort=sort, limit=40, after=cursor)
        forward += page.keys
        if not page.next:
            break
        cursor = page.next
    assert forward == whole.keys
    backward, page = [], registrations.page(admin, pool, sort=sort, limit=40, last=True)
    while True:
        backward = page.keys + backward
        if not page.prev:
            break
        page = registrations.page(admin, pool, sort=sort, limit=40, before=page.prev)
    assert backward == whole.keys
    descending = registrations.page(admin, pool, sort=sort, descending=True, limit=1000)
    assert descending.keys == list(reversed(whole.keys))


@pytest.mark.storage
@pytest.mark.parametrize("sort", ["sent", "expires"])
def test_pending_invitations_page_by_their_times(admin, sort):
    """A cursor on a date-time sort compares as the database stores it (SQLite: text with a
    space between date and time), so every page after the first is not empty."""
    import datetime as dt

    from regtui.core import clock
    from regtui.core.services import invitations
    from test_core_support import make_pool

    pool = make_pool(admin, 9)
    start = dt.datetime(2027, 3, 1, 9, 0, 0)
    try:
        for i in range(9):
            clock.set_now(start + dt.timedelta(minutes=i, microseconds=i * 1000))
            invitations.invite(admin, pool, [f"i{i}@example.com"])
        seen, cursor = [], None
        while True:
            page = invitations.page(admin, pool, sort=sort, limit=2, after=cursor)
            seen += [r.email for r in page.rows]
            if not page.next:
                break
            cursor = page.next
    finally:
        clock.set_now(None)
    assert seen == [f"i{i}@example.com" for i in range(9)]


@pytest.mark.storage
def test_filter_takes_like_wildcards_literally(admin):
    pool = pools.get(admin, bigpool.build(120))
    assert registrations.page(admin, pool, search="%").total == 0
    assert registrations.page(admin, pool, search="big_").total == 0
    assert registrations.page(admin, pool, search="BIG00011").total == 10  # big000110 ... big000119
    assert registrations.page(admin, pool, search="smith").total == 12


@pytest.mark.parametrize("cursor", ["", "x" * 600, "not base64!", "bnVsbA", "WzEsMiwzXQ", "WyJhIiwidHJ1ZSJd",
                                    "WyJhIix0cnVlXQ", "\x1b[31m", "W3siYSI6MX0sMV0"])
def test_hostile_cursors_are_refused_in_one_sentence(cursor):
    with pytest.raises(UsageError, match="cursor is not one regtui gave"):
        paging.decode(cursor)


def test_cursor_round_trip_and_limits():
    assert paging.decode(paging.encode("ada@example.com", 7)) == ("ada@example.com", 7)
    for bad in (0, -1, 1001, "10"):
        with pytest.raises(UsageError):
            paging.check_limit(bad)


# --- focus and keys (issue 10 items 3 and 9) -------------------------------------------------

def test_pool_screen_opens_typing_into_the_first_address_and_global_keys_stay_quiet(admin):
    from regtui.core.services import demo

    demo.fill(admin)
    pool = next(p for p in Pool.select() if p.order.customer.name == "Tailspin Toys")

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            assert app.focused is screen.query_one("#row-0-email", Input)
            await pilot.press(*"bob.taco@example.com")  # b batch, o outbox, t templates, a audit, c customers
            await pilot.pause()
            assert app.screen is screen
            assert screen.query_one("#row-0-email", Input).value == "bob.taco@example.com"
            screen.query_one("#completed-table").focus()  # out of the input: number keys switch tabs, focus follows
            await pilot.press("3")
            await settle(pilot)
            assert screen.active_tab == "pending" and app.focused is screen.query_one("#pending-table")
            await pilot.press("4")
            await settle(pilot)
            assert screen.active_tab == "completed" and app.focused is screen.query_one("#completed-table")
    run(go())


def test_a_manager_cannot_open_audit_or_outbox(admin):
    from regtui.core.models import Customer
    from regtui.core.services import demo, operators
    from regtui.core.services.permissions import Actor
    from regtui.tui.screens.customers import CustomersScreen

    demo.fill(admin)
    northwind = Customer.get(Customer.name == "Northwind Traders")
    operators.set_operator(admin, "hr", "manager", northwind)
    actor = Actor("hr", "manager", northwind.id)

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.screen.query_one("#customers").focus()
            for key in ("a", "o"):
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, CustomersScreen)
            app.action_audit()
            app.action_outbox()
            await settle(pilot)
            assert isinstance(app.screen, CustomersScreen)
            assert app.check_action("audit", ()) is False and app.check_action("outbox", ()) is False
            from regtui.tui.app import RegtuiCommands

            titles = [t for t, _, _ in RegtuiCommands(app.screen)._commands()]
            assert "Audit log" not in titles and "Outbox" not in titles and "Customers" in titles
    run(go())


def test_the_status_line_reads_a_list_of_one_row_and_a_whole_list(demo_admin):
    """"1 registration" (not "1–1 of 1 registrations"), and a list all on one page gives its count."""
    pool = pool_of("Northwind Traders", "PYDATA-2027-03")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "4")
            paged = screen.query_one("#completed-list", PagedList)
            await until_shown(pilot, paged)
            total = paged.page.total
            assert 1 < total < 100 and paged.status_text.startswith(f"{total} registrations · by email")
            one = paged.page.rows[0].email
            await pilot.press("slash", *one)
            await until_shown(pilot, paged)
            assert [r.email for r in paged.page.rows] == [one]
            shown = str(paged.query_one(".paged-status", Static).render())
            assert shown.startswith("1 registration · by email")
    run(go())

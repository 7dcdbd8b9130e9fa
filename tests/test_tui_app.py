"""The TUI through Textual's Pilot at 80x24: every screen and action, checked in the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import importlib.util
import re
from collections import defaultdict

import pytest
from peewee import fn
from textual.widgets import DataTable, Input, TextArea

from regtui.core.models import Access, Code, Customer, Invitation, Learner, Order, OutboxEmail, Pool
from regtui.core.services import customers, demo, operators, registrations
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.screens.customers import CustomersScreen
from regtui.tui.screens.help import HelpScreen
from regtui.tui.screens.pool import PoolScreen
from regtui.tui.widgets.forms import FormScreen, TextScreen
from regtui.tui.widgets.paged import PagedList

SIZE = (80, 24)

# --- helpers (the snapshot and tmux tests import these too) ------------------------------

def run(coro) -> None:
    asyncio.run(coro)


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    # DataTable measures its columns only when the app goes idle: wait until the screen stops changing
    previous = None
    for _ in range(40):
        await pilot.pause(0.05)
        current = pilot.app.export_screenshot()
        if current == previous:
            break
        previous = current


def screen_text(app) -> str:
    """The text on the screen, line by line, from an SVG screenshot."""
    svg = app.export_screenshot()
    lines: dict[float, list] = defaultdict(list)
    for x, y, t in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        lines[float(y)].append((float(x), html.unescape(re.sub("<[^>]+>", "", t))))
    out = []
    for y in sorted(lines):
        row = ""
        for x, t in sorted(lines[y]):
            row = row.ljust(int(round(x / 12.2))) + t
        out.append(row.replace("\xa0", " "))
    return "\n".join(out)


def fill_fixed(admin) -> None:
    """Demo data with every date and code made fixed, for snapshots."""
    demo.fill(admin)
    Order.update(placed_at=dt.datetime(2027, 1, 15, 9, 30)).execute()
    Access.update(starts=dt.date(2027, 3, 1), ends=dt.date(2027, 9, 1)).execute()
    Invitation.update(created_at=dt.datetime(2027, 2, 1, 10, 0), expires_at=dt.datetime(2099, 2, 15, 10, 0)).execute()
    Code.update(code=fn.printf("CODE-%04d", Code.id)).execute()
    Learner.update(created_at=dt.datetime(2027, 1, 1)).execute()



@pytest.fixture
def demo_admin(admin):
    demo.fill(admin)
    return admin


def limited(admin) -> Actor:
    operators.set_operator(admin, "lim", "limited")
    return Actor("lim", "limited")


def pool_of(customer_name: str, session_code: str) -> Pool:
    return next(p for p in Pool.select() if p.order.customer.name == customer_name and p.session.code == session_code)


def customer_id(name: str) -> int:
    return Customer.get(Customer.name == name).id


async def open_pool(pilot, pool: Pool) -> PoolScreen:
    await pilot.app.push_screen(PoolScreen(pool.id))
    await settle(pilot)
    return pilot.app.screen


async def fill_form(pilot, values: dict) -> None:
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    for name, value in values.items():
        form.query_one(f"#field-{name}", Input).value = value
    await pilot.click("#submit")
    await settle(pilot)


# --- shell ---------------------------------------------------------------------------------

def test_shell_header_help_back_quit(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, CustomersScreen)
            assert demo_admin.name in app.title and "admin" in app.title
            assert app.sub_title == "test.db"
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "command palette" in screen_text(app)
            await pilot.press("escape")
            assert isinstance(app.screen, CustomersScreen)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, CustomerScreen)
            await pilot.press("escape")
            assert isinstance(app.screen, CustomersScreen)
            await pilot.press("escape")  # nothing under the first screen
            assert isinstance(app.screen, CustomersScreen)
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code == 0
    run(go())


def test_command_palette_lists_actions(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"help")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"new customer")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, FormScreen) and app.screen.id == "new-customer"
    run(go())


def test_command_palette_lists_the_current_screens_actions(demo_admin):
    pool = pool_of("Northwind Traders", "PYDATA-2027-03")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "3")  # out of the address field the screen opens in, then the tab
            await pilot.pause()
            screen.query_one("#pending-table", DataTable).focus()
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"copy link")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, TextScreen)
            assert app.clipboard.startswith("http://127.0.0.1:8080/claim/")
    run(go())


@pytest.mark.parametrize("key,module,cls", [("b", "batch", "BatchScreen"), ("o", "outbox", "OutboxScreen"),
                                            ("a", "audit", "AuditScreen"), ("t", "templates", "TemplatesScreen")])
def test_other_screens_open_by_key(demo_admin, key, module, cls):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            if importlib.util.find_spec(f"regtui.tui.screens.{module}") is None:
                assert isinstance(app.screen, CustomersScreen)  # a warning, no crash
            else:
                assert type(app.screen).__name__ == cls
                await pilot.press("escape")
                assert isinstance(app.screen, CustomersScreen)
    run(go())


# --- customers -----------------------------------------------------------------------------

def test_customers_filter_sort_and_open(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#customers", DataTable)
            assert table.row_count == 7
            assert table.get_row_at(0)[0].plain == "Adventure Works"
            await pilot.press("slash")
            await pilot.press(*"north")
            await pilot.pause(0.3)
            await settle(pilot)
            assert table.row_count == 1
            assert table.get_row_at(0)[0].plain == "Northwind Traders"
            await pilot.press("enter")  # in the filter: back to the table
            await pilot.press("ctrl+u")
            app.screen.query_one("#filter", Input).value = ""
            await pilot.pause(0.3)
            await settle(pilot)
            assert table.row_count == 7
            # click the Seats header: most seats first; again: fewest first
            x = sum(c.get_render_width(table) for c in list(table.columns.values())[:2]) + 2
            await pilot.click("#customers", offset=(x, 0))
            await settle(pilot)
            assert app.screen.sort == "seats"
            assert table.get_row_at(0)[0].plain == "Northwind Traders"
            await pilot.click("#customers", offset=(x, 0))
            await settle(pilot)
            assert app.screen.descending is False
            await pilot.press("s")  # next column: available
            await settle(pilot)
            assert app.screen.sort == "available"
            table.focus()
            table.move_cursor(row=0)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, CustomerScreen)
    run(go())


def test_customers_latest_request_wins(demo_admin):
    from regtui.tui.messages import CustomersLoaded

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one("#customers", DataTable)
            stale = customers.listing(demo_admin, "contoso")
            screen.post_message(CustomersLoaded(screen.request - 1, stale, 1, 0))  # an older request's answer
            await settle(pilot)
            assert table.row_count == 7
            screen.post_message(CustomersLoaded(screen.request, stale, 1, 0))
            await settle(pilot)
            assert table.row_count == 1
            # typing quickly: only the last text is asked for after the pause
            await pilot.press("slash", *"wide")
            await pilot.pause(0.4)
            await settle(pilot)
            assert screen.search == "wide" and table.get_row_at(0)[0].plain == "Wide World Importers"
            assert app.is_running  # the letters typed into the filter are not app keys (o, t...)
    run(go())


def test_new_customer_as_admin(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await pilot.pause()
            await fill_form(pilot, {"name": "Initech", "email": "hr@initech.example.com", "first_name": "Peter",
                                    "last_name": "Gibbons"})
            row = Customer.get(Customer.email_key == "hr@initech.example.com")
            assert row.name == "Initech" and row.learner.first_name == "Peter"
            assert OutboxEmail.select().where(OutboxEmail.to == "hr@initech.example.com").count() == 1
            assert app.screen.query_one("#customers", DataTable).row_count == 8
            # the same address again: refused, shown as a sentence, app still running
            await pilot.press("n")
            await pilot.pause()
            await fill_form(pilot, {"name": "Again", "email": "hr@initech.example.com"})
            assert app.is_running
            assert Customer.select().where(Customer.name == "Again").count() == 0
    run(go())


def test_new_customer_hidden_for_limited_admin(demo_admin):
    actor = limited(demo_admin)

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.screen.check_action("new_customer", ()) is False
            assert "New customer" not in screen_text(app)
            await pilot.press("n")
            await pilot.pause()
            assert isinstance(app.screen, CustomersScreen)
            # limited admins may sync a learner to eCommerce
            learner = Learner.select().where(Learner.email_key.startswith("ada.")).first()
            await pilot.press("e")
            await pilot.pause()
            await fill_form(pilot, {"email": learner.email})
            assert Customer.get(Customer.learner == learner.id).email_key == learner.email_key
    run(go())


def test_manager_sees_only_own_customer(demo_admin):
    northwind = Customer.get(Customer.name == "Northwind Traders")
    operators.set_operator(demo_admin, "hr", "manager", northwind)
    actor = Actor("hr", "manager", northwind.id)

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#customers", DataTable)
            assert table.row_count == 1 and table.get_row_at(0)[0].plain == "Northwind Traders"
            assert app.screen.check_action("sync_customer", ()) is False
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen.query_one("#access-panel").display is False
            assert app.screen.query_one("#pools", DataTable).row_count == 2
    run(go())


# --- customer ------------------------------------------------------------------------------

def test_customer_remove_with_confirmation(demo_admin):
    cid = customer_id("Fabrikam Logistics")
    pool = pool_of("Fabrikam Logistics", "LEAD101-SPRING")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.push_screen(CustomerScreen(cid))
            await settle(pilot)
            screen = app.screen
            assert screen.query_one("#pools", DataTable).row_count == 1
            users = screen.query_one("#users", DataTable)
            assert users.row_count == 3
            email = users.get_row_at(0)[0].plain
            users.focus()
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # changed my mind: nothing happens
            await settle(pilot)
            assert Code.select().where((Code.pool == pool.id) & (Code.state == "claimed")).count() == 3
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            learner = Learner.get(Learner.email == email)
            assert Code.get_or_none((Code.pool == pool.id) & (Code.learner == learner.id)) is None
            assert Pool.get_by_id(pool.id).available == 4
            assert Access.get(Access.learner == learner.id).status == "revoked"
            assert users.row_count == 2
    run(go())


def test_extend_access_dates_as_admin(demo_admin):
    cid = customer_id("Fabrikam Logistics")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.push_screen(CustomerScreen(cid))
            await settle(pilot)
            screen = app.screen
            users = screen.query_one("#users", DataTable)
            users.focus()
            await pilot.press("down")
            await settle(pilot)
            email = users.get_row_at(1)[0].plain
            assert screen.selected_email == email
            assert screen.query_one("#access", DataTable).row_count == 1
            assert screen.query_one("#edit-dates").display
            await pilot.press("d")
            await pilot.pause()
            # the dialog names the learner and the pool
            title = str(app.screen.query_one("#form-title").render())
            assert email in title and "pool SO-" in title, title
            await fill_form(pilot, {"starts": "2027-04-01", "ends": "2028-04-01"})
            grant = Access.get(Access.learner == Learner.get(Learner.email == email).id)
            assert (grant.starts, grant.ends) == (dt.date(2027, 4, 1), dt.date(2028, 4, 1))
            assert app.screen is screen
            # a wrong date, then an end before the start (the service refuses): the sentence is shown
            # in the dialog, which keeps what was typed; nothing changed
            await pilot.press("d")
            await pilot.pause()
            await fill_form(pilot, {"starts": "first of may", "ends": ""})
            form = app.screen
            assert isinstance(form, FormScreen) and "is not a date like" in str(form.query_one("#form-error").render())
            await fill_form(pilot, {"starts": "2027-05-01", "ends": "2027-04-01"})
            assert app.screen is form and "cannot end (2027-04-01) before it starts" in str(form.query_one("#form-error").render())
            assert form.query_one("#field-starts", Input).value == "2027-05-01"
            grant = Access.get_by_id(grant.id)
            assert grant.starts == dt.date(2027, 4, 1)
            await pilot.press("escape")
            await settle(pilot)
            # an empty end makes the access open-ended
            await pilot.press("d")
            await pilot.pause()
            await fill_form(pilot, {"ends": ""})
            assert Access.get_by_id(grant.id).ends is None
    run(go())


def test_extend_hidden_for_limited_admin(demo_admin):
    actor = limited(demo_admin)
    cid = customer_id("Fabrikam Logistics")

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.push_screen(CustomerScreen(cid))
            await settle(pilot)
            screen = app.screen
            assert screen.query_one("#edit-dates").display is False
            assert screen.check_action("edit_dates", ()) is False
            screen.query_one("#users", DataTable).focus()
            await settle(pilot)
            assert screen.query_one("#access", DataTable).row_count == 1  # limited admins see access
            before = [(a.starts, a.ends) for a in Access.select().order_by(Access.id)]
            await pilot.press("d")
            await pilot.pause()
            assert app.screen is screen
            assert [(a.starts, a.ends) for a in Access.select().order_by(Access.id)] == before
    run(go())


# --- pool ----------------------------------------------------------------------------------

def test_assign_through_the_grid(demo_admin):
    pool = pool_of("Fabrikam Logistics", "LEAD101-SPRING")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.click("#row-0-email")
            await pilot.press(*"new.person@fabrikam.example.org")
            await pilot.press("tab", *"Nia", "tab", *"Ndlovu", "tab", *"s3cret-pass-123")
            screen.query_one("#row-1-email", Input).value = "second@fabrikam.example.org"
            await pilot.click("#assign-seats")
            await settle(pilot)
            for email in ("new.person@fabrikam.example.org", "second@fabrikam.example.org"):
                learner = Learner.get(Learner.email_key == email)
                assert Code.get((Code.pool == pool.id) & (Code.learner == learner.id)).state == "claimed"
            assert Learner.get(Learner.email_key == "new.person@fabrikam.example.org").first_name == "Nia"
            assert Pool.get_by_id(pool.id).claimed == 5
            assert screen.query_one("#row-0-email", Input).value == ""
            screen.action_tab("completed")  # a tab's list is read when the tab is first shown
            await settle(pilot)
            assert screen.query_one("#completed-table", DataTable).row_count == 5
            screen.action_tab("assign")
            await settle(pilot)
            # more than the pool has: refused as a sentence, nothing assigned
            screen.query_one("#add-row").press()
            await pilot.pause()
            for n in range(4):
                screen.query_one(f"#row-{n}-email", Input).value = f"extra{n}@fabrikam.example.org"
            await pilot.click("#assign-seats")
            await settle(pilot)
            assert app.is_running
            assert Pool.get_by_id(pool.id).claimed == 5
    run(go())


def test_assign_by_ticking_existing_learners(demo_admin):
    pool = pool_of("Northwind Traders", "SECAWARE-2027")
    other = pool_of("Northwind Traders", "PYDATA-2027-03")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            known = screen.query_one("#known", PagedList)
            assert known.page.total >= 12 and known.table.row_count >= 12
            first = known.current().email
            known.table.focus()
            await pilot.press("space")
            assert known.ticked_count() == 1 and "1 ticked" in known.status_text
            await pilot.click("#assign-seats")
            await settle(pilot)
            learner = Learner.get(Learner.email == first)
            assert Code.get((Code.pool == pool.id) & (Code.learner == learner.id)).state == "claimed"
            assert Code.get((Code.pool == other.id) & (Code.learner == learner.id)).state == "claimed"
            assert Learner.select().where(Learner.email_key == learner.email_key).count() == 1
    run(go())


def test_invite_typed_and_imported_addresses(demo_admin, tmp_path):
    pool = pool_of("Tailspin Toys", "PYDATA-2027-09")
    roster = tmp_path / "people.csv"
    roster.write_text("Name;E-mail Address\nJo;jo@tailspin.example.com\nMo;mo@tailspin.example.com\n", encoding="utf-8")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "2")  # out of the address field the screen opens in, then the tab
            await pilot.pause()
            area = screen.query_one("#addresses", TextArea)
            area.text = "typed@tailspin.example.com\n"
            screen.query_one("#csv-path", Input).value = str(roster)
            await pilot.click("#import")
            await settle(pilot)
            assert area.text.splitlines() == ["typed@tailspin.example.com", "jo@tailspin.example.com", "mo@tailspin.example.com"]
            screen.query_one("#message", Input).value = "See you in class"
            await pilot.click("#send")
            await settle(pilot)
            sent = {i.email_key: i for i in Invitation.select().where(Invitation.email_key.endswith("@tailspin.example.com"))}
            for email in ("typed@tailspin.example.com", "jo@tailspin.example.com", "mo@tailspin.example.com"):
                assert sent[email].status == "pending" and sent[email].message == "See you in class"
            assert Pool.get_by_id(pool.id).invited == 9
            screen.action_tab("pending")  # a tab's list is read when the tab is first shown
            await settle(pilot)
            assert screen.query_one("#pending-table", DataTable).row_count == 9
            # a missing file: a sentence
            screen.query_one("#csv-path", Input).value = str(tmp_path / "nope.csv")
            await pilot.click("#import")
            await settle(pilot)
            assert app.is_running
    run(go())


def _pending(pool: Pool) -> list[Invitation]:
    return list(Invitation.select().join(Code).where((Code.pool == pool.id) & (Invitation.status == "pending")).order_by(Invitation.id))


def test_pending_invitations_actions(demo_admin):
    pool = pool_of("Fabrikam Logistics", "LEAD101-SPRING")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "3")  # out of the address field the screen opens in, then the tab
            await pilot.pause()
            table = screen.query_one("#pending-table", DataTable)
            table.focus()
            first, second = _pending(pool)
            # copy link: shown and copied
            await pilot.press("l")
            await pilot.pause()
            assert isinstance(app.screen, TextScreen)
            assert app.clipboard.startswith("http://127.0.0.1:8080/claim/")
            assert app.clipboard in screen_text(app).replace("\n", "") or app.screen.text == app.clipboard
            await pilot.press("escape")
            # resend: one more email for that address
            before = OutboxEmail.select().where(OutboxEmail.to == first.email).count()
            await pilot.press("r")
            await settle(pilot)
            assert OutboxEmail.select().where(OutboxEmail.to == first.email).count() == before + 1
            # cancel, confirmed
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            assert Invitation.get_by_id(first.id).status == "cancelled"
            assert Pool.get_by_id(pool.id).invited == 1
            # invite someone else instead of the second invitee
            table.move_cursor(row=0)
            await pilot.press("i")
            await pilot.pause()
            await fill_form(pilot, {"email": "instead@fabrikam.example.org"})
            assert Invitation.get_by_id(second.id).status == "cancelled"
            [new] = _pending(pool)
            assert new.email == "instead@fabrikam.example.org" and new.code_id == second.code_id
            # assign that pending seat directly to the invitee
            table.move_cursor(row=0)
            await pilot.press("g")
            await pilot.pause()
            await fill_form(pilot, {"first": "Ines", "last": "Stead"})
            learner = Learner.get(Learner.email_key == "instead@fabrikam.example.org")
            assert Code.get_by_id(new.code_id).learner_id == learner.id
            assert Code.get_by_id(new.code_id).state == "claimed"
            assert Invitation.get_by_id(new.id).status == "accepted"
            assert table.row_count == 0
    run(go())


def test_assign_pending_to_another_person(demo_admin):
    pool = pool_of("Tailspin Toys", "PYDATA-2027-09")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "3")  # out of the address field the screen opens in, then the tab
            target = _pending(pool)[0]
            screen.query_one("#pending-table", DataTable).focus()
            await pilot.click("#assign-pending")
            await pilot.pause()
            await fill_form(pilot, {"email": "other@tailspin.example.com", "first": "Otto", "last": "Other"})
            other = Learner.get(Learner.email_key == "other@tailspin.example.com")
            assert Code.get_by_id(target.code_id).learner_id == other.id
            assert Invitation.get_by_id(target.id).status == "invalidated"
    run(go())


def test_completed_registrations_resend_and_remove(demo_admin):
    pool = pool_of("Fabrikam Logistics", "LEAD101-SPRING")

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "4")  # out of the address field the screen opens in, then the tab
            table = screen.query_one("#completed-table", DataTable)
            table.focus()
            email = table.get_row_at(0)[1].plain  # after the tick column
            before = OutboxEmail.select().where(OutboxEmail.to == email).count()
            await pilot.press("r")
            await settle(pilot)
            assert OutboxEmail.select().where(OutboxEmail.to == email).count() == before + 1
            await pilot.click("#remove-registration")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#yes")
            await settle(pilot)
            learner = Learner.get(Learner.email == email)
            assert Code.get_or_none((Code.pool == pool.id) & (Code.learner == learner.id)) is None
            assert Pool.get_by_id(pool.id).available == 4
            assert table.row_count == 2
    run(go())


def test_customer_to_pool_by_keys(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, PoolScreen)
            assert "GDPR" in screen_text(app)
            await pilot.press("escape")  # out of the address field the pool screen opens in
            await settle(pilot)
            assert isinstance(app.screen, PoolScreen) and app.focused is None
            await pilot.press("escape")  # then back
            await settle(pilot)
            assert isinstance(app.screen, CustomerScreen)
    run(go())


# --- user data is shown literally ----------------------------------------------------------

EVIL_FIRST = "[@click=app.quit]Bob[/]"
EVIL_LAST = "\x1b[31mRed\x1b[0m"


def test_user_data_is_shown_literally(demo_admin):
    evil = customers.add(demo_admin, "[bold]Evil[/bold] [@click=app.quit]Corp[/]", "evil@evil.example.com")
    from regtui.core.services import catalog, orders

    session = catalog.find_session("LEAD101-SPRING")
    _, [pool] = orders.add(demo_admin, evil, [orders.OrderLine(session, 3)], number="SO-EVIL")
    registrations.assign(demo_admin, pool, [LearnerSpec("bob@evil.example.com", EVIL_FIRST, EVIL_LAST)])

    async def go():
        app = RegtuiApp(actor=demo_admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#customers", DataTable)
            text = screen_text(app)
            assert "[bold]Evil[/bold] [@click=app.quit]Corp[/]" in text
            row = next(i for i in range(table.row_count) if "Evil" in table.get_row_at(i)[0].plain)
            table.move_cursor(row=row)
            await pilot.click("#customers", offset=(20, row + 1))  # a click on the cursor row opens it
            await settle(pilot)
            assert app.is_running and isinstance(app.screen, CustomerScreen)
            users = app.screen.query_one("#users", DataTable)
            users.focus()
            await settle(pilot)
            text = screen_text(app)
            assert EVIL_FIRST in text
            assert "\\x1b[31mRed" in text
            await pilot.click("#users", offset=(50, 1))
            await pilot.click("#users", offset=(60, 1))
            await pilot.press("enter")
            await settle(pilot)
            assert app.is_running
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, CustomersScreen)
            await app.push_screen(PoolScreen(pool.id))
            await settle(pilot)
            await pilot.press("escape", "4")  # out of the address field the screen opens in, then the tab
            await settle(pilot)
            assert EVIL_FIRST in screen_text(app)
            await pilot.click("#completed-table", offset=(55, 1))
            await settle(pilot)
            assert app.is_running
    run(go())

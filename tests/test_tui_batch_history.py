"""The TUI's batch history (F7 on the Batch screen): paged from the database across more
batches than one page, filtered and sorted there, a manager's limited to their customer, hostile
file names shown escaped."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from regtui.core.models import Batch
from regtui.core.services import operators, pools
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.batch import BatchScreen
from regtui.tui.screens.batch_history import BatchHistoryScreen
from regtui.tui.widgets.paged import PAGE, PagedList
from test_batch_history import make_batches
from test_tui_app import run, settle
from test_tui_help import help_of
from test_tui_paging import until_shown

pytestmark = pytest.mark.storage
N = 250  # more than two pages


async def open_history(pilot) -> PagedList:
    await settle(pilot)
    await pilot.press("b")
    await settle(pilot)
    assert isinstance(pilot.app.screen, BatchScreen)
    await pilot.press("f7")  # from the roster path field, where the Batch screen opens
    await settle(pilot)
    assert isinstance(pilot.app.screen, BatchHistoryScreen)
    paged = pilot.app.screen.query_one("#history-list", PagedList)
    await until_shown(pilot, paged)
    return paged


def files(paged: PagedList) -> list[str]:
    return [r.file_name for r in paged.page.rows]


def detail(pilot) -> str:
    return str(pilot.app.screen.query_one("#history-detail", Static).render())


def test_history_pages_filters_and_sorts_across_pages(admin):
    made = make_batches(admin, N)
    assert N > 2 * PAGE
    globex_line = pools.names([made["globex_pool"].id])[made["globex_pool"].id]

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            paged = await open_history(pilot)
            assert paged.page.total == N and files(paged)[:2] == ["roster-249.csv", "roster-248.csv"]
            assert paged.status_text.startswith(f"1–{PAGE} of {N} batches")
            shown = detail(pilot)  # the newest batch, under the cursor
            assert "Batch 250: roster-249.csv" in shown and "by bo" in shown and globex_line in shown
            assert "249 create, 1 revoke" in shown and f"{249:064x}" in shown
            await pilot.press(*["down"] * PAGE)  # past the page's last row: the next page from the database
            await until_shown(pilot, paged)
            assert files(paged)[0] == f"roster-{N - 1 - PAGE:03d}.csv" and paged.start == PAGE
            await pilot.press("end")
            await until_shown(pilot, paged)
            assert files(paged)[-1] == "roster-000.csv" and "roster-000.csv" in detail(pilot)
            await pilot.press("up")
            await pilot.press("home")
            await until_shown(pilot, paged)
            assert files(paged)[0] == "roster-249.csv"
            # filter as you type, in the database: Globex's pool by its ORDER-LINE
            await pilot.press("slash", *globex_line)
            await until_shown(pilot, paged)
            assert paged.page.total == 84 and all(r.pool_name == globex_line for r in paged.page.rows)
            await pilot.press("enter")
            # sort by file name over every match: s from the table steps to the next column
            await pilot.press("s")
            await until_shown(pilot, paged)
            assert paged.sort == "file" and not paged.descending
            assert files(paged)[:3] == ["roster-000.csv", "roster-003.csv", "roster-006.csv"]
            await pilot.press("S")  # reversed
            await until_shown(pilot, paged)
            assert files(paged)[:2] == ["roster-249.csv", "roster-246.csv"]
            paged.filter_input.value = "nobody-applied-this"
            await until_shown(pilot, paged)
            assert paged.page.total == 0 and "No batches match 'nobody-applied-this'" in paged.status_text
            await pilot.press("escape")  # back to the Batch screen
            await settle(pilot)
            assert isinstance(app.screen, BatchScreen)
    run(go())


def test_a_manager_sees_only_their_customers_batches(admin):
    made = make_batches(admin, 30)
    operators.set_operator(admin, "hr", "manager", made["globex"])
    hr = Actor("hr", "manager", made["globex"].id)

    async def go():
        app = RegtuiApp(actor=hr, db_label="test.db")
        async with app.run_test(size=(80, 24)) as pilot:
            paged = await open_history(pilot)
            assert paged.page.total == 10 and {r.customer for r in paged.page.rows} == {"Globex"}
            await pilot.press("slash", *"acme")
            await until_shown(pilot, paged)
            assert paged.page.total == 0
            text = await help_of(pilot)  # the screen says what it lists and how to narrow it
            assert "rosters applied so far" in text and "own customer's batches" in text and "Refresh" in text
            assert "Audit events" not in text  # a manager has no audit log
            paged.filter_input.value = ""
            await until_shown(pilot, paged)
            paged.table.focus()
            await pilot.press("enter", "e")
            await settle(pilot)
            assert isinstance(app.screen, BatchHistoryScreen)
    run(go())


def test_control_characters_in_a_file_name_are_shown_escaped(admin):
    made = make_batches(admin, 1)
    Batch.update(file_name="evil\x1b[31m\x07.csv", operator="op\x1b]0;x\x07").execute()

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            paged = await open_history(pilot)
            assert paged.page.total == 1
            screen = app.export_screenshot()
            assert "evil\\x1b[31m\\x07.csv" in detail(pilot) and "op\\x1b]0;x\\x07" in detail(pilot)
            assert "\x1b[31m" not in detail(pilot) and "\x07" not in detail(pilot)
            cells = [str(c) for c in paged.table.get_row_at(0)]
            assert "evil\\x1b[31m\\x07.csv" in cells
            assert "\x07" not in screen
    run(go())


def test_enter_opens_the_audit_log_on_the_batchs_events(admin):
    from regtui.core.models import AuditEvent
    from regtui.tui.screens.audit import AuditScreen

    make_batches(admin, 3)
    second = Batch.get(Batch.file_name == "roster-001.csv")
    AuditEvent.insert_many([{"operator": "ana", "action": action, "record_type": "pool", "record_id": second.pool_id,
                             "batch": second.id} for action in ("access.grant", "batch.apply")]).execute()

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(80, 24)) as pilot:
            paged = await open_history(pilot)
            await pilot.press("down")  # roster-002, then roster-001
            await settle(pilot)
            assert paged.current().id == second.id
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, AuditScreen)
            events = app.screen.query_one("#audit-list", PagedList)
            await until_shown(pilot, events)
            assert events.page.total == 2 and {e.batch for e in events.page.rows} == {second.id}
            assert app.screen.query_one("#audit-batch", Input).value == str(second.id)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, BatchHistoryScreen)
    run(go())

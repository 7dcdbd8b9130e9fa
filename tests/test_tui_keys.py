"""The keyboard (issue 10 item 13): Enter in the Assign grid, the command palette's words,
no duplicates and no cursor moves in it. Pilot at 80x24 on the demo data."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from regtui.core.models import Learner
from regtui.tui.app import RegtuiApp, RegtuiCommands
from regtui.tui.screens.pool import PoolScreen
from test_tui_app import SIZE, demo_admin, open_pool, pool_of, run, settle  # noqa: F401 (a fixture)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def palette(screen, query: str) -> list[str]:
    """The titles the command palette offers for ``query`` on ``screen``."""
    provider = RegtuiCommands(screen)
    if not query:
        return [str(hit.display) for hit in [h async for h in provider.discover()]]
    return [hit.text for hit in [h async for h in provider.search(query)]]


def on_a_pool(actor, check) -> None:
    """Run ``check(app, pilot, screen)`` on a pool screen just opened."""
    pool = pool_of("Northwind Traders", "PYDATA-2027-03")

    async def go():
        app = RegtuiApp(actor=actor)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await check(app, pilot, await open_pool(pilot, pool))
    run(go())


def test_enter_in_the_assign_grid_moves_on_then_assigns(demo_admin):
    async def check(app, pilot, screen):
        assert app.focused.id == "row-0-email"
        await pilot.press(*"enter.one@example.com", "enter")
        assert app.focused.id == "row-0-first"
        await pilot.press(*"Enter", "enter")
        assert app.focused.id == "row-0-last"
        await pilot.press(*"One", "enter", "enter")  # last name, then the optional password
        assert app.focused.id == "row-1-email"
        await pilot.press("enter")  # an empty row below the first: that was all
        await settle(pilot)
        assert isinstance(app.screen, PoolScreen) and screen.query_one("#row-0-email", Input).value == ""

    on_a_pool(demo_admin, check)
    assert Learner.get_or_none(Learner.email == "enter.one@example.com") is not None


def test_the_palette_finds_screen_actions_by_their_words_without_duplicates_or_cursor_moves(demo_admin):
    async def check(app, pilot, screen):
        await pilot.press("escape", "3")
        await settle(pilot)
        screen.query_one("#pending-table").focus()
        titles = await palette(screen, "")
        assert len(titles) == len({t.lower() for t in titles}), titles
        assert "Quit" in titles and "Theme" in titles and "Copy link" in titles
        assert not any(t.lower().startswith(("cursor", "tick", "scroll", "page")) for t in titles), titles
        assert "Cancel/Remove" in await palette(screen, "revoke")
        assert "Cancel/Remove" in await palette(screen, "withdraw")
        found = await palette(screen, "assign")
        assert "Assign" in found and "Assign pending" in found
        found = await palette(screen, "invite")
        assert "Invite" in found and "Invite instead" in found

    on_a_pool(demo_admin, check)


def on_screen(actor, key: str, check) -> None:
    """Run ``check(app, pilot)`` on the screen the global ``key`` opens ("": the customers list)."""
    async def go():
        app = RegtuiApp(actor=actor)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            if key:
                await pilot.press(key)
                await settle(pilot)
            await check(app, pilot)
    run(go())


@pytest.mark.parametrize("key", ["", "o", "a", "h"])
def test_up_and_down_move_in_the_table_a_screen_opens_on(demo_admin, key):
    async def check(app, pilot):
        table = app.focused
        assert isinstance(table, DataTable) and table.row_count > 1, (key, table)
        await pilot.press("down", "down", "up")
        assert table.cursor_row == 1

    on_screen(demo_admin, key, check)


def test_the_cursor_stays_after_a_cancelled_dialog_and_tab_numbers_work_after_an_action(demo_admin):
    async def check(app, pilot, screen):
        await pilot.press("escape", "3")  # out of the address field, then the Pending tab
        await settle(pilot)
        table = screen.query_one("#pending-table", DataTable)
        assert app.focused is table
        await pilot.press("down")
        await pilot.press("x")
        await settle(pilot, 1)
        await pilot.press("n")  # no: nothing cancelled, the cursor where it was
        await settle(pilot)
        assert app.focused is table and table.cursor_row == 1
        await pilot.press("r")  # an action: resend the invitation
        await settle(pilot)
        assert any("sent again" in n.message for n in app._notifications)
        await pilot.press("4")
        await settle(pilot)
        assert screen.active_tab == "completed"

    on_a_pool(demo_admin, check)

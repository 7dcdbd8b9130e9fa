"""A 16-colour terminal (issue 10 item 17): the app uses Textual's ANSI theme, so the cursor row
(focused or not) and the buttons keep readable contrast in the terminal's own palette, and the
batch screen's switches say "on" or "off" in words."""

from __future__ import annotations

import pytest
import textual.constants
from rich.color import ColorSystem
from textual.widgets import Button, DataTable

from regtui.tui.app import RegtuiApp
from regtui.tui.widgets import StateSwitch
from test_tui_app import SIZE, demo_admin, open_pool, pool_of, run, screen_text, settle  # noqa: F401 (a fixture)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def ansi(color) -> int | None:
    """The 16-colour number a colour is shown as (None: the terminal's default)."""
    return None if color is None or color.is_default else color.downgrade(ColorSystem.STANDARD).number


def readable(style) -> bool:
    """Text and background are different colours of the 16, or the terminal's own (maybe reversed)."""
    return ansi(style.color) != ansi(style.bgcolor) or ansi(style.color) is None


def stands_out(style) -> bool:
    """Drawn unlike ordinary text (the terminal's default colours): a background, or reversed."""
    return bool(style.reverse) or ansi(style.bgcolor) is not None


@pytest.fixture
def sixteen_colours(monkeypatch):
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")  # what TERM=xterm, screen or linux gives


def test_cursor_rows_buttons_and_switches_are_readable_in_16_colours(demo_admin, sixteen_colours):
    pool = pool_of("Northwind Traders", "PYDATA-2027-03")

    async def go():
        app = RegtuiApp(actor=demo_admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.theme == "ansi-dark"
            table = app.screen.query_one(DataTable)
            focused = table.get_component_rich_style("datatable--cursor")
            assert readable(focused) and stands_out(focused)
            app.set_focus(None)
            await pilot.pause()
            blurred = table.get_component_rich_style("datatable--cursor")
            assert readable(blurred) and stands_out(blurred)  # the cursor row still shows
            table.focus()
            screen = await open_pool(pilot, pool)
            await pilot.press("escape", "3")
            await settle(pilot)
            buttons = [b for b in screen.query(Button) if b.display and b.region]
            assert buttons and all(readable(b.rich_style) and stands_out(b.rich_style) for b in buttons), \
                [(b.label, b.rich_style) for b in buttons]
            await app.pop_screen()
            await settle(pilot)
            await pilot.press("b")
            await settle(pilot)
            switches = list(app.screen.query(StateSwitch))
            assert len(switches) == 3 and all(str(s.render()) == "off" for s in switches)
            switches[0].value = True
            await pilot.pause()
            assert str(switches[0].render()) == " on"
            assert "Skip invalid off" in screen_text(app)

    run(go())


def test_a_truecolour_terminal_keeps_the_default_theme(demo_admin):
    async def go():
        app = RegtuiApp(actor=demo_admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.theme != "ansi-dark"

    run(go())

"""Help on every screen (`?`), read from each screen's HELP and BINDINGS; the template editor's
placeholders and unsaved edits. Pilot at 80x24 on the demo data."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList, Static, TextArea

from regtui.core.models import Customer, EmailTemplate, Pool
from regtui.core.services import operators
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.screens.help import HelpScreen
from regtui.tui.screens.pool import PoolScreen
from regtui.tui.screens.templates import TemplatesScreen
from test_tui_app import SIZE, customer_id, demo_admin, run, screen_text, settle  # noqa: F401 (a fixture)
from test_tui_keys import on_screen

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def help_of(pilot) -> str:
    """`?` (or F1, which works while typing in a field too) opens the screen's help."""
    await pilot.press("f1" if pilot.app.focused.__class__.__name__ in ("Input", "TextArea") else "question_mark")
    await settle(pilot, 1)
    assert isinstance(pilot.app.screen, HelpScreen)
    text = str(pilot.app.screen.query_one("#keys", Static).render())
    await pilot.press("escape")
    await settle(pilot, 1)
    return text


# each screen: how it opens, and words its help must hold (its own keys come from its BINDINGS)
SCREENS = {
    "customers": (None, ["enter opens the customer", "Filter", "New customer", "command palette"]),
    "batch": ("b", ["roster", "f5", "Plan", "f6", "Apply", "f7", "History", "batch history"]),
    "outbox": ("o", ["Emails waiting", "Send now", "Retry failed"]),
    "audit": ("a", ["Who did what", "Clear filters"]),
    "templates": ("t", ["Placeholders of", "$link", "(required)", "Save", "Revert"]),
    "hooks": ("w", ["webhook endpoints", "Retry now"]),
    "shops": ("h", ["map the SKU", "Map SKU", "Replay"]),
}


@pytest.mark.parametrize("name", SCREENS)
def test_help_on_every_screen_lists_its_own_keys(demo_admin, name):
    key, words = SCREENS[name]

    async def check(app, pilot):
        text = await help_of(pilot)
        for word in words:
            assert word in text, (name, word, text)
        assert "Everywhere" in text and "Quit" in text

    on_screen(demo_admin, key, check)


def test_help_on_customer_and_pool_and_hidden_keys_for_a_manager(demo_admin):
    pool = next(p for p in Pool.select() if p.order.customer.name == "Fabrikam Logistics")

    async def go():
        app = RegtuiApp(actor=demo_admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.push_screen(CustomerScreen(customer_id("Fabrikam Logistics")))
            await settle(pilot)
            text = await help_of(pilot)
            assert "enter on a pool opens it" in text and "Edit dates" in text
            await app.push_screen(PoolScreen(pool.id))
            await settle(pilot)
            text = await help_of(pilot)
            # every tab's keys, whichever tab is open
            for word in ("1 Assign", "4 Completed", "Copy link", "Invite instead", "Cancel/Remove"):
                assert word in text, word
    run(go())

    fabrikam = customer_id("Fabrikam Logistics")
    operators.set_operator(demo_admin, "hr", "manager", Customer.get_by_id(fabrikam))

    async def manager():
        app = RegtuiApp(actor=Actor("hr", "manager", fabrikam))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            text = await help_of(pilot)
            # what the role may not do is not offered, as the footer does not offer it
            assert "New customer" not in text and "Outbox" not in text and "Audit" not in text
    run(manager())


def test_template_editor_lists_placeholders_refuses_unknown_and_asks_before_discarding(demo_admin):
    before = EmailTemplate.get(EmailTemplate.name == "RegCodeEmailText").body

    async def go():
        app = RegtuiApp(actor=demo_admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TemplatesScreen)
            names = screen.query_one(OptionList)
            names.highlighted = names.get_option_index("RegCodeEmailText")
            await pilot.pause()
            shown = str(screen.query_one("#tpl-vars", Static).render())
            assert "$link (required)" in shown and "$expires" in shown and "$message" in shown
            # an unknown $contact: refused on save with the service's sentence, shown in the screen
            screen.query_one("#tpl-body", TextArea).text = before + "\nAsk $contact.\n"
            await pilot.pause(0.5)
            await pilot.press("ctrl+s")
            await settle(pilot)
            state = str(screen.query_one("#tpl-state", Static).render())
            assert "RegCodeEmailText does not know $contact" in state
            assert "does not know $contact" in str(screen.query_one("#tpl-preview", Static).render())
            # Escape with unsaved edits asks; No keeps them
            screen.query_one("#tpl-body", TextArea).focus()
            await pilot.press("escape")
            await settle(pilot, 1)
            assert isinstance(app.screen, ConfirmScreen) and "unsaved edits" in screen_text(app)
            await pilot.press("n")
            await settle(pilot, 1)
            assert app.screen is screen and "$contact" in screen.query_one("#tpl-body", TextArea).text
            # leaving by a global key asks too; picking another template asks
            screen.set_focus(None)
            await pilot.press("c")
            await settle(pilot, 1)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot, 1)
            names.highlighted = names.get_option_index("SetPasswordText")
            await settle(pilot, 1)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot, 1)
            assert screen.current == "SetPasswordText" and "$contact" not in screen.query_one("#tpl-body", TextArea).text
            await pilot.press("escape")
            await settle(pilot, 1)
            assert type(app.screen).__name__ == "CustomersScreen"  # nothing unsaved: no question

    run(go())
    assert EmailTemplate.get(EmailTemplate.name == "RegCodeEmailText").body == before

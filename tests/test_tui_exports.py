"""Exporting a pool's codes and a customer's users from the TUI, through services.exports:
the path asked, an existing file replaced only when confirmed, one sentence on failure."""

from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from regtui.core.models import Pool
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.screens.pool import PoolScreen
from regtui.tui.widgets.forms import FormScreen
from test_tui_app import SIZE, customer_id, demo_admin, fill_form, run, settle  # noqa: F401 (a fixture)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def form_error(app) -> str:
    return str(app.screen.query_one("#form-error").render())


def test_export_a_pools_codes_and_a_customers_users(demo_admin, tmp_path):
    pool = next(p for p in Pool.select() if p.order.customer.name == "Fabrikam Logistics")
    target = tmp_path / "codes.csv"

    async def go():
        app = RegtuiApp(actor=demo_admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.push_screen(PoolScreen(pool.id))
            await settle(pilot)
            app.set_focus(None)
            await pilot.press("e")
            await settle(pilot, 1)
            assert isinstance(app.screen, FormScreen)
            # a folder that is not there: one sentence, the form stays
            await fill_form(pilot, {"path": str(tmp_path / "nowhere" / "codes.csv")})
            assert "There is no folder" in form_error(app)
            await fill_form(pilot, {"path": str(target)})
            assert not isinstance(app.screen, FormScreen) and target.exists()
            # the same file again: asked; No keeps the file and the form
            target.write_text("keep me", encoding="utf-8")
            await pilot.press("e")
            await settle(pilot, 1)
            await fill_form(pilot, {"path": str(target)})
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot, 1)
            assert isinstance(app.screen, FormScreen) and "left as it is" in form_error(app)
            assert target.read_text(encoding="utf-8") == "keep me"
            await fill_form(pilot, {"path": str(target)})
            await pilot.press("y")
            await settle(pilot)
            assert not isinstance(app.screen, (FormScreen, ConfirmScreen))
            assert any("Wrote 8 codes to" in n.message for n in app._notifications)
            # a customer's users, to xlsx
            app.pop_screen()
            await app.push_screen(CustomerScreen(customer_id("Fabrikam Logistics")))
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot, 1)
            await fill_form(pilot, {"path": str(tmp_path / "users.xlsx")})
            assert not isinstance(app.screen, FormScreen)

    run(go())
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:3] == ["code", "state", "email"] and len(rows) == 1 + pool.seats
    sheet = load_workbook(tmp_path / "users.xlsx").active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["email", "first_name", "last_name"] and sheet.max_row == 1 + pool.claimed

"""The shops and orders screen through Textual's Pilot: orders show their source shop and
external id; an unmatched shop line is mapped to a session and replayed from the TUI."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable

from regtui.core.models import Pool
from regtui.core.services import catalog, shops
from regtui.core.shops import shopify
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.shops import ShopsScreen
from test_tui_app import SIZE, fill_form, limited, run, screen_text, settle

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops"


def _unmatched_order(admin, tmp_path) -> None:
    """A Shopify order whose SKU no session is mapped to, received as the webhook would be."""
    product = catalog.add_product(admin, "PY", "Python for Data Teams")
    catalog.add_session(admin, product, "PYDATA", "Python for Data Teams, March")
    (tmp_path / "s.secret").write_text("k")
    shops.add(admin, "main", "shopify", str(tmp_path / "s.secret"))
    body = json.dumps(json.load(open(FIXTURES / "shopify-orders-paid.json"))).encode()
    headers = {"X-Shopify-Hmac-Sha256": shopify.sign(b"k", body), "X-Shopify-Topic": "orders/paid",
               "X-Shopify-Webhook-Id": "w1"}
    assert shops.receive("main", headers, body).sentence == "Received: unmatched."


def test_map_and_replay_an_unmatched_line_from_the_tui(admin, tmp_path):
    _unmatched_order(admin, tmp_path)

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("h")
            await settle(pilot)
            assert isinstance(app.screen, ShopsScreen)
            text = screen_text(app)
            assert "IPOD2008PINK" in text and "820982911946154508" in text
            assert app.screen.query_one("#orders", DataTable).row_count == 1  # the order is made; its line waits
            await pilot.press("m")
            await settle(pilot)
            await fill_form(pilot, {"session": "PYDATA"})
            await pilot.press("p")
            await settle(pilot)
            assert app.screen.query_one("#unmatched", DataTable).row_count == 0
            orders = app.screen.query_one("#orders", DataTable)
            assert "PYDATA ×5 (pool" in str(next(iter(orders.get_column("Lines"))))
    run(go())
    assert Pool.get().seats == 5


def test_limited_admins_see_but_do_not_map(admin, tmp_path):
    _unmatched_order(admin, tmp_path)
    lim = limited(admin)

    async def go():
        app = RegtuiApp(actor=lim, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("h")
            await settle(pilot)
            assert "IPOD2008PINK" in screen_text(app)
            await pilot.press("m")
            await settle(pilot)
            assert isinstance(app.screen, ShopsScreen)  # no form: mapping needs the admin role
            await pilot.press("p")
            await settle(pilot)
    run(go())
    assert Pool.select().count() == 0

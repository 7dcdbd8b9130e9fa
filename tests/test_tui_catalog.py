"""Adding products, sessions and orders from the TUI (admins), through the CLI's services; the
empty lists say what to do first. Pilot at 80x24."""

from __future__ import annotations

import pytest

from regtui.core.models import Order, Pool, Product, Session
from regtui.core.services import customers, operators
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.widgets.forms import FormScreen
from test_tui_app import SIZE, fill_form, run, screen_text, settle

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_an_admin_adds_a_product_a_session_and_an_order_from_an_empty_database(admin):
    async def go():
        app = RegtuiApp(actor=admin)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "No customers yet: add a product (p)" in screen_text(app)
            await pilot.press("p")
            await settle(pilot, 1)
            await fill_form(pilot, {"code": "PY", "name": "Python"})
            assert not isinstance(app.screen, FormScreen)
            # a taken code: the form stays, with the service's sentence
            await pilot.press("p")
            await settle(pilot, 1)
            await fill_form(pilot, {"code": "PY", "name": "Python again"})
            assert isinstance(app.screen, FormScreen) and "already exists" in str(app.screen.query_one("#form-error").render())
            await pilot.press("escape")
            await pilot.press("v")
            await settle(pilot, 1)
            await fill_form(pilot, {"product": "PY", "code": "PY-1", "name": "Python March", "access_days": "ninety"})
            form = app.screen
            assert isinstance(form, FormScreen) and "not a whole number" in str(form.query_one("#form-error").render())
            await fill_form(pilot, {"access_days": "90"})
            assert not isinstance(app.screen, FormScreen)
            customer = customers.add(admin, "Acme Ltd", "hr@acme.example.com")
            await app.push_screen(CustomerScreen(customer.id))
            await settle(pilot)
            assert "No pools yet: press n to record an order" in screen_text(app)
            await pilot.press("n")
            await settle(pilot, 1)
            await fill_form(pilot, {"session": "PY-1", "seats": "5", "number": "PO-1"})
            await settle(pilot)
            assert not isinstance(app.screen, FormScreen)
            assert "PO-1" in screen_text(app) and "No pools yet" not in screen_text(app)

    run(go())
    assert Product.get(Product.code == "PY").name == "Python"
    assert Session.get(Session.code == "PY-1").access_days == 90
    assert Pool.get(Pool.order == Order.get(Order.number == "PO-1")).seats == 5


def test_a_manager_is_not_offered_catalog_or_orders(admin):
    customer = customers.add(admin, "Acme Ltd", "hr@acme.example.com")
    operators.set_operator(admin, "hr", "manager", customer=customer)

    async def go():
        app = RegtuiApp(actor=Actor("hr", "manager", customer.id))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for key in ("p", "v"):
                await pilot.press(key)
                await settle(pilot, 1)
                assert not isinstance(app.screen, FormScreen)
            await app.push_screen(CustomerScreen(customer.id))
            await settle(pilot)
            text = screen_text(app)
            assert "No pools yet: an admin records" in text and "New order" not in text
            await pilot.press("n")
            await settle(pilot, 1)
            assert not isinstance(app.screen, FormScreen)

    run(go())
    assert Product.select().count() == 0 and Order.select().count() == 0

"""Snapshots of the main screens on demo data with every date and code fixed.

Update after a deliberate change of the look: .venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from regtui.core.models import Customer, Pool
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.customer import CustomerScreen
from regtui.tui.screens.pool import PoolScreen
from test_tui_app import fill_fixed, settle

SIZES = [(80, 24), (120, 40)]
ACTOR = Actor("snapshot-admin", "admin")


@pytest.fixture
def db_url(tmp_path):
    """Snapshots show screens, not storage: SQLite only, so there is one baseline per size."""
    return f"sqlite:///{tmp_path / 'regtui.db'}"


@pytest.fixture
def demo_fixed(admin):
    fill_fixed(admin)
    return ACTOR


def make_app() -> RegtuiApp:
    return RegtuiApp(actor=ACTOR, db_label="demo.db")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_customers_screen(demo_fixed, snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_customer_screen(demo_fixed, snap_compare, size):
    cid = Customer.get(Customer.name == "Northwind Traders").id

    async def before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(CustomerScreen(cid))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("tab", ["pending", "completed"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pool_screen(demo_fixed, snap_compare, size, tab):
    pool = next(p for p in Pool.select() if p.order.customer.name == "Fabrikam Logistics")

    async def before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(PoolScreen(pool.id))
        await settle(pilot)
        pilot.app.screen.action_tab(tab)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(demo_fixed, snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, press=["question_mark"], run_before=settle)

"""Snapshots of the main screens on demo data with every date and code fixed.

Update after a deliberate change of the look: .venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import datetime as dt

import pytest
from textual.widgets import Input, TextArea

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


async def unfocus_fields(pilot) -> None:
    """A focused field's cursor blinks: the picture would depend on the moment it is taken."""
    if isinstance(pilot.app.focused, (Input, TextArea)):
        pilot.app.set_focus(None)
        await settle(pilot)


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


@pytest.mark.parametrize("tab", ["assign", "invite", "pending", "completed"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pool_screen(demo_fixed, snap_compare, size, tab):
    pool = next(p for p in Pool.select() if p.order.customer.name == "Fabrikam Logistics")

    async def before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(PoolScreen(pool.id))
        await settle(pilot)
        pilot.app.screen.action_tab(tab)
        await settle(pilot)
        await unfocus_fields(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(demo_fixed, snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, press=["question_mark"], run_before=settle)


# --- every screen at 80x24 with its key columns (issue 10 item 12), and one at 50x15 ------------

@pytest.fixture
def all_fixed(demo_fixed):
    """Also the audit log and the outbox fixed: times, operator and bodies (they hold codes)."""
    from regtui.core.models import AuditEvent, OutboxEmail

    AuditEvent.update(at=dt.datetime(2027, 1, 15, 9, 30), operator="snapshot-admin").execute()
    OutboxEmail.update(created_at=dt.datetime(2027, 1, 15, 9, 30), body="Hello,\n\n(the body, fixed for the snapshot)\n").execute()
    return demo_fixed


@pytest.mark.parametrize("key", ["o", "a", "t", "h", "w"])
def test_tool_screens_at_80x24(all_fixed, snap_compare, key):
    async def before(pilot):
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=before)


def test_batch_plan_at_80x24(demo_fixed, snap_compare, tmp_path, monkeypatch):
    """A plan of 8 rows: at 24 lines the diff shows more than 5 of them."""
    from textual.widgets import Select

    pool = next(p for p in Pool.select() if p.order.customer.name == "Northwind Traders" and p.available >= 8)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_text("action,email,first_name,last_name\n" + "".join(
        f"create,person{n}@example.com,Person,Number{n}\n" for n in range(8)), encoding="utf-8")

    async def before(pilot):
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#batch-path", Input).value = "roster.csv"
        screen.query_one("#batch-pool", Select).value = pool.id
        await settle(pilot)  # the options' Changed messages first: they would drop a plan made before them
        await pilot.press("f5")
        await settle(pilot)
        for _ in range(100):
            if screen.plan is not None and screen.query_one("#batch-diff").row_count == 8:
                break
            await pilot.pause(0.05)
        await unfocus_fields(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_batch_history(demo_fixed, snap_compare, size):
    """Three applied batches, the newest under the cursor with its counts and hash below."""
    import json

    from regtui.core.models import Batch

    pool = next(p for p in Pool.select() if p.order.customer.name == "Northwind Traders")
    Batch.insert_many([{"file_name": f"roster-{n}.xlsx", "sha256": f"{n:x}" * 64, "operator": ("ana", "bo")[n % 2],
                        "pool": pool.id, "applied_at": dt.datetime(2027, 3, n, 9, 30),
                        "counts": json.dumps({"create": n * 10, "invite": n, "revoke": n - 1}), "plan": "{}"}
                       for n in (1, 2, 3)]).execute()

    async def before(pilot):
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        await unfocus_fields(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


def test_customer_screen_at_50x15(demo_fixed, snap_compare):
    cid = Customer.get(Customer.name == "Northwind Traders").id

    async def before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(CustomerScreen(cid))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(50, 15), run_before=before)


def test_pool_screen_in_16_colours(demo_fixed, snap_compare, monkeypatch):
    """The ANSI theme a 16-colour terminal gets: the cursor row black on white, buttons reversed."""
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")
    pool = next(p for p in Pool.select() if p.order.customer.name == "Fabrikam Logistics")

    async def before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(PoolScreen(pool.id))
        await settle(pilot)
        pilot.app.screen.action_tab("pending")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=before)

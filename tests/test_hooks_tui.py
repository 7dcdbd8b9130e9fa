"""The webhooks screen through Textual's Pilot: an endpoint's failed delivery is visible with its
answer, and "retry now" sends it again; a manager never opens the screen."""

from __future__ import annotations

from textual.widgets import DataTable

from regtui.core.services import endpoints, learners, registrations
from regtui.core.services.permissions import Actor
from regtui.tui.app import RegtuiApp
from regtui.tui.screens.hooks import HooksScreen
from test_core_support import make_pool
from test_hooks import Receiver
from test_tui_app import SIZE, run, screen_text, settle


def test_a_failed_delivery_is_shown_and_retried_from_the_tui(admin):
    receiver = Receiver()
    try:
        endpoints.add(admin, receiver.url, event_patterns="access.granted", allow_private=True)
        pool = make_pool(admin, 2)
        registrations.assign(admin, pool, [learners.LearnerSpec("ada@example.com", "Ada", "Lovelace")])
        receiver.answers = [500]
        endpoints.deliver_due(admin)

        async def go():
            app = RegtuiApp(actor=admin, db_label="test.db")
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                await pilot.press("w")
                await settle(pilot)
                assert isinstance(app.screen, HooksScreen)
                text = screen_text(app)
                assert receiver.url in text and "answered 500" in text and "pending" in text
                await pilot.press("r")
                await settle(pilot)
                assert "delivered" in screen_text(app)
                assert app.screen.query_one("#deliveries", DataTable).row_count == 1
        run(go())
        assert len(receiver.requests) == 2
    finally:
        receiver.server.shutdown()


def test_a_manager_cannot_open_the_webhooks_screen(admin):
    manager = Actor("hana", "manager", 1)

    async def go():
        app = RegtuiApp(actor=manager, db_label="test.db")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("w")
            await settle(pilot)
            assert not isinstance(app.screen, HooksScreen)
    run(go())


def test_an_endpoints_deliveries_are_paged_filtered_and_sorted(admin):
    """Issue 14: an endpoint's deliveries are read a page at a time, filtered by event type or
    status in the database, newest event first."""
    from regtui.core.models import Event, HookDelivery
    from regtui.tui.widgets.paged import PAGE, PagedList

    endpoint, _ = endpoints.add(admin, "http://127.0.0.1:9/hook", event_patterns="*", allow_private=True)
    Event.insert_many([{"kind": "access.granted" if n % 3 else "learner.created"} for n in range(PAGE + 50)]).execute()
    events = [e for (e,) in Event.select(Event.id).order_by(Event.id).tuples()]
    HookDelivery.insert_many([{"endpoint": endpoint.id, "event": e, "status": "failed" if e == events[7] else "pending"}
                              for e in events]).execute()

    async def go():
        app = RegtuiApp(actor=admin, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("w")
            await settle(pilot)
            paged = app.screen.query_one("#deliveries-list", PagedList)
            assert paged.status_text.startswith(f"1–{PAGE} of {len(events):,} deliveries")
            assert [d.event_id for d in paged.page.rows] == events[::-1][:PAGE]  # the newest event first
            paged.table.focus()
            paged.table.move_cursor(row=PAGE - 1)
            await pilot.press("down")
            await settle(pilot)
            assert [d.event_id for d in paged.page.rows] == events[::-1][PAGE:]
            paged.filter_input.value = "failed"
            paged.apply_filter()
            await settle(pilot)
            assert [d.event_id for d in paged.page.rows] == [events[7]]
            paged.filter_input.value = "learner.created"
            paged.apply_filter()
            await settle(pilot)
            assert {d.kind for d in paged.page.rows} == {"learner.created"}
            assert paged.page.total == len([n for n in range(PAGE + 50) if n % 3 == 0])

    run(go())

"""Webhooks: the learning platforms' endpoints, each with its pending, failed and delivered counts,
and the newest deliveries of the endpoint under the cursor with their last answer; "retry now"
makes an endpoint's failed and waiting deliveries due and sends what is due.

Workers call services.endpoints (listing, log, retry_now, deliver_due) and post past-tense
messages; the handlers own the state. User data (URLs, errors) is shown with markup off.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import Table, call_service, cell
from regtui.tui.widgets.paged import Column, PagedList

DELIVERY_COLUMNS = [Column("event", "Event", 7, 1), Column(None, "Type", 16, 1), Column("status", "Status", 9, 1),
                    Column("tries", "Tries", 5, 3), Column(None, "Next try", 14, 4), Column(None, "Answer", 6, 2),
                    Column(None, "Error", 20, flex=True)]


def delivery_cells(d) -> tuple:
    return (str(d.event_id), d.kind, d.status, str(d.attempts),
            d.next_attempt_at.strftime("%m-%d %H:%M:%S") if d.next_attempt_at and d.status == "pending" else "",
            "" if d.last_status is None else str(d.last_status), d.last_error or "")


class HooksLoaded(Message):
    """The endpoints were read (``endpoint_id``: the one whose deliveries are shown)."""

    def __init__(self, endpoints: list, endpoint_id: int | None) -> None:
        super().__init__()
        self.endpoints, self.endpoint_id = endpoints, endpoint_id


class HooksRetried(Message):
    """``retry now`` made ``count`` deliveries due and the due ones were sent (``report``)."""

    def __init__(self, count: int, report) -> None:
        super().__init__()
        self.count, self.report = count, report


class HooksScreen(Screen):
    CSS_PATH = "hooks.tcss"
    TITLE = "Webhooks"

    HELP = """\
The learning platforms' webhook endpoints with their pending, failed and delivered counts; below, the newest deliveries of the endpoint under the cursor.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("r", "retry_now", "Retry now"),
        Binding("g", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.endpoint_ids: list[int] = []
        self.shown: int | None = None
        self.listed: int | None = None  # the endpoint whose deliveries the list has read

    def compose(self) -> ComposeResult:
        yield Static("Endpoints (regtui hooks add URL adds one)", id="endpoints-title")
        yield Table(id="endpoints", cursor_type="row", zebra_stripes=True)
        yield Static("Deliveries", id="deliveries-title")
        yield PagedList(self._fetch_deliveries, DELIVERY_COLUMNS, delivery_cells, word="delivery", words="deliveries", sort="event",
                        descending=True, placeholder="Filter by event type, status or error", id="deliveries-list",
                        table_id="deliveries", empty="No deliveries yet")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#endpoints", DataTable).add_columns("id", "url", "events", "pending", "failed", "delivered", "state")
        self.query_one("#endpoints", DataTable).focus()
        self.query_one(PagedList).display = False  # until an endpoint is chosen
        self.action_reload()

    @work(thread=True, exclusive=True, group="hooks-load")
    def load(self, endpoint_id: int | None) -> None:
        from regtui.core.services import endpoints

        actor = self.app.actor

        def read():
            found = endpoints.listing(actor)
            chosen = endpoint_id if endpoint_id in {e.id for e in found} else (found[0].id if found else None)
            return found, chosen
        call_service(self, read, lambda r: HooksLoaded(*r))

    @work(thread=True, group="write")
    def retry(self, endpoint_id: int) -> None:
        from regtui.core.services import endpoints

        actor = self.app.actor

        def write():
            count = endpoints.retry_now(actor, endpoint_id)
            return count, endpoints.deliver_due(actor)
        call_service(self, write, lambda r: HooksRetried(*r))

    def on_hooks_loaded(self, message: HooksLoaded) -> None:
        table = self.query_one("#endpoints", DataTable)
        cursor = table.cursor_row
        table.clear()
        self.endpoint_ids = [e.id for e in message.endpoints]
        for e in message.endpoints:
            table.add_row(cell(e.id), cell(e.url), cell(",".join(e.events)), cell(e.pending), cell(e.failed),
                          cell(e.delivered), cell(f"disabled: {e.disabled}" if e.disabled else "on"))
        if message.endpoints:
            table.move_cursor(row=min(max(cursor, 0), len(message.endpoints) - 1))
        self._show_deliveries(message.endpoint_id)

    def _show_deliveries(self, endpoint_id: int | None) -> None:
        """The chosen endpoint's deliveries, a page at a time (read again on each refresh)."""
        self.shown = endpoint_id
        paged = self.query_one(PagedList)
        paged.display = endpoint_id is not None
        if endpoint_id is not None:
            paged.reload(keep_place=self.listed == endpoint_id)  # a refresh keeps the page and row
            self.listed = endpoint_id
        title = f"Deliveries of endpoint {self.shown}" if self.shown else "Deliveries (no endpoint yet)"
        self.query_one("#deliveries-title", Static).update(title)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "endpoints" and 0 <= event.cursor_row < len(self.endpoint_ids):
            chosen = self.endpoint_ids[event.cursor_row]
            if chosen != self.shown:
                self._show_deliveries(chosen)

    def on_hooks_retried(self, message: HooksRetried) -> None:
        r = message.report
        self.notify(f"{message.count} made due; delivered {r.delivered}, {r.retrying} to retry, {r.given_up} given up.",
                    markup=False)
        self.action_reload()

    def _fetch_deliveries(self, **kw):
        from regtui.core.services import endpoints

        return endpoints.deliveries_page(self.app.actor, self.shown, **kw)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    def action_reload(self) -> None:
        self.load(self.shown)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_retry_now(self) -> None:
        if self.shown is None:
            return
        if not self.app.actor.can("hooks.manage"):
            self.notify("Retrying deliveries needs the admin role.", severity="error")
            return
        self.retry(self.shown)

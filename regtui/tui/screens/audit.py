"""The audit log: who did what to which record, when, in which batch; paged from the database.

The list's filter searches the database by email, name, order number or ORDER-LINE (a pool's
name, ``1001-1``), operator and action; the inputs above it narrow by operator, batch id and
record (``pool`` or ``pool:3``). Records are named (the learner's email, the pool's ORDER-LINE,
the customer's name). Selecting an event shows its before/after JSON below, as plain text.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import sanitize
from regtui.tui.widgets.paged import Column, PagedList

COLUMNS = [Column("at", "Time", 19, 1), Column("operator", "Operator", 12, 3), Column("action", "Action", 16, 2),
           Column(None, "Record", 28, flex=True), Column(None, "Batch", 5, 4)]


def event_cells(ev) -> tuple:
    return (ev.at.isoformat(sep=" ", timespec="seconds"), ev.operator, ev.action, ev.record,
            "" if ev.batch is None else str(ev.batch))


class AuditScreen(Screen):
    CSS_PATH = "audit.tcss"
    TITLE = "Audit log"

    HELP = """\
Who did what to which record, when and in which batch, newest first. The event under the cursor shows its before and after below.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+r", "reload", "Refresh"),
        Binding("ctrl+l", "clear_filters", "Clear filters"),
    ]

    def __init__(self, batch_id: int | None = None) -> None:
        """``batch_id``: open on that batch's events (Enter on the batch history)."""
        super().__init__()
        self.filters: tuple = (None, batch_id, None)

    def compose(self) -> ComposeResult:
        yield Static("Audit log", id="audit-title")
        with Horizontal(id="audit-filters"):
            yield Input(placeholder="operator", id="audit-operator", compact=True)
            yield Input("" if self.filters[1] is None else str(self.filters[1]), placeholder="batch id", id="audit-batch",
                        restrict=r"[0-9]*", compact=True)
            yield Input(placeholder="record, e.g. pool:3", id="audit-record", compact=True)
        yield PagedList(self._fetch, COLUMNS, event_cells, word="event", sort="at", descending=True,
                        placeholder="Search by email, name, order or pool (1001-1), operator, action",
                        id="audit-list", table_id="audit-table")
        with VerticalScroll(id="audit-detail-box"):
            yield Static("Select an event to see its before/after.", id="audit-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if not self.app.actor.can("audit.view"):
            self.notify(f"Reading the audit log needs the admin or limited role; {self.app.actor.name} is {self.app.actor.role}.",
                        severity="error", markup=False)
            for widget in self.query(Input):
                widget.disabled = True
            self.query_one(PagedList).display = False
            return
        self.query_one("#audit-table", DataTable).focus()

    def _fetch(self, **kw):
        from regtui.core.services import audit

        operator, batch_id, record = self.filters
        return audit.named_page(self.app.actor, operator=operator, batch_id=batch_id, record=record, **kw)

    # -- handlers --------------------------------------------------------------------------

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    def on_paged_list_highlighted(self, message: PagedList.Highlighted) -> None:
        self._show(message.row)

    @on(Input.Submitted, "#audit-filters Input")
    @on(Input.Changed, "#audit-filters Input")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        filters = self._read_filters()
        if filters is None or filters == self.filters:
            return
        self.filters = filters
        self.action_reload()

    def _read_filters(self) -> tuple | None:
        operator = self.query_one("#audit-operator", Input).value.strip() or None
        batch_text = self.query_one("#audit-batch", Input).value.strip()
        record = self.query_one("#audit-record", Input).value.strip() or None
        if record and ":" in record:
            kind, _, rid = record.partition(":")
            if not rid.strip().isdigit():
                return None  # still typing "pool:" — wait for the id
            record = f"{kind.strip()}:{int(rid)}"
        return operator, int(batch_text) if batch_text else None, record

    def _show(self, ev) -> None:
        box = self.query_one("#audit-detail", Static)
        if ev is None:
            box.update(Text("Select an event to see its before/after.", style="dim"))
            return
        text = Text()
        record = f"{ev.record_type}:{ev.record_id}" if ev.record_id is not None else ev.record_type
        text.append(sanitize(f"{ev.action}  {ev.record}  ({record})  by {ev.operator}  at {ev.at.isoformat()}"),
                    style="bold")
        if ev.batch is not None:
            text.append(f"  (batch {ev.batch})")
        for label, value in (("before", ev.before), ("after", ev.after)):
            text.append(f"\n{label}: ", style="bold")
            text.append("—" if value is None else sanitize(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
                                                          keep_newlines=True))
        box.update(text)

    # -- actions ---------------------------------------------------------------------------

    def action_reload(self) -> None:
        if self.app.actor.can("audit.view"):
            self.query_one(PagedList).reload()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_clear_filters(self) -> None:
        for widget in self.query("#audit-filters Input").results(Input):
            widget.value = ""

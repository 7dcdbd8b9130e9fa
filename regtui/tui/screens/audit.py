"""The audit log: who did what to which record, when, in which batch; paged from the database.

Filters: operator, batch id, record (``pool`` or ``pool:3``). Selecting an event shows its
before/after JSON below the table, as plain text.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from regtui.tui.widgets import Table, close_thread_db, sanitize, sentence

PAGE_SIZE = 200


class AuditLoaded(Message):
    """A page of audit events was read (as ``audit.as_dict`` dicts)."""

    def __init__(self, events: list[dict], has_more: bool, filters: tuple) -> None:
        super().__init__()
        self.events = events
        self.has_more = has_more
        self.filters = filters


class AuditFailed(Message):
    def __init__(self, sentence: str) -> None:
        super().__init__()
        self.sentence = sentence


class AuditScreen(Screen):
    CSS_PATH = "audit.tcss"
    TITLE = "Audit log"

    HELP = """\
Who did what to which record, when and in which batch, newest first. The event under the cursor shows its before and after below.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("ctrl+r", "reload", "Refresh"),
        Binding("ctrl+l", "clear_filters", "Clear filters"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.has_more = False
        self.filters: tuple = (None, None, None)
        self.events: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        yield Static("Audit log", id="audit-title")
        with Horizontal(id="audit-filters"):
            yield Input(placeholder="operator", id="audit-operator")
            yield Input(placeholder="batch id", id="audit-batch", restrict=r"[0-9]*")
            yield Input(placeholder="record, e.g. pool:3", id="audit-record")
        yield Static("", id="audit-status", markup=False)
        yield Table(id="audit-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="audit-detail-box"):
            yield Static("Select an event to see its before/after.", id="audit-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("time", "operator", "action", "record", "batch")
        if not self.app.actor.can("audit.view"):
            self.notify(f"Reading the audit log needs the admin or limited role; {self.app.actor.name} is {self.app.actor.role}.",
                        severity="error", markup=False)
            for widget in self.query(Input):
                widget.disabled = True
            return
        self.action_reload()
        table.focus()

    # -- worker ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="audit-load")
    def load_page(self, filters: tuple, offset: int) -> None:
        try:
            from regtui.core.services import audit

            operator, batch_id, record = filters
            rows = audit.query(self.app.actor, operator=operator, batch_id=batch_id, record=record,
                               limit=PAGE_SIZE + 1, offset=offset)
            events = [audit.as_dict(e) for e in rows]
            self.post_message(AuditLoaded(events[:PAGE_SIZE], len(events) > PAGE_SIZE, filters))
        except Exception as exc:
            self.post_message(AuditFailed(sentence(exc)))
        finally:
            close_thread_db()

    # -- handlers --------------------------------------------------------------------------

    def on_audit_loaded(self, message: AuditLoaded) -> None:
        if message.filters != self.filters:
            return
        self.has_more = message.has_more
        table = self.query_one(DataTable)
        table.clear()
        self.events = {}
        for ev in message.events:
            key = str(ev["id"])
            self.events[key] = ev
            table.add_row(
                Text(ev["at"][:19].replace("T", " ")), Text(sanitize(ev["operator"])), Text(sanitize(ev["action"])),
                Text(sanitize(ev["record"])), Text("" if ev["batch"] is None else str(ev["batch"])),
                key=key,
            )
        page = self.page_offset // PAGE_SIZE + 1
        self.query_one("#audit-status", Static).update(
            Text(f"{len(message.events)} events, page {page}" + (" (more: ])" if message.has_more else ""), style="dim")
        )
        if not message.events:
            self._show(None)

    def on_audit_failed(self, message: AuditFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    @on(DataTable.RowHighlighted, "#audit-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(self.events.get(event.row_key.value))

    @on(Input.Submitted)
    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        filters = self._read_filters()
        if filters is None or filters == self.filters:
            return
        self.filters = filters
        self.page_offset = 0
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

    def _show(self, ev: dict | None) -> None:
        box = self.query_one("#audit-detail", Static)
        if ev is None:
            box.update(Text("Select an event to see its before/after.", style="dim"))
            return
        text = Text()
        text.append(sanitize(f"{ev['action']}  {ev['record']}  by {ev['operator']}  at {ev['at']}"), style="bold")
        if ev["batch"] is not None:
            text.append(f"  (batch {ev['batch']})")
        for label in ("before", "after"):
            text.append(f"\n{label}: ", style="bold")
            value = ev[label]
            text.append("—" if value is None else sanitize(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False), keep_newlines=True))
        box.update(text)

    # -- actions ---------------------------------------------------------------------------

    def action_reload(self) -> None:
        if self.app.actor.can("audit.view"):
            self.load_page(self.filters, self.page_offset)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_clear_filters(self) -> None:
        for widget in self.query(Input):
            widget.value = ""

    def action_page(self, step: int) -> None:
        if step > 0 and not self.has_more:
            return
        new = max(0, self.page_offset + step * PAGE_SIZE)
        if new != self.page_offset:
            self.page_offset = new
            self.action_reload()

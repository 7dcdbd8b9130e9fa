"""Batch history: the applied batches, newest first, paged from the database (F7 on the Batch screen).

The list's filter searches the database by file name, operator, pool (its order number or
ORDER-LINE, ``1001-1``) and customer; the columns sort. A manager sees their own customer's
batches only (the service decides). The batch under the cursor shows its counts, pool,
operator, time and file hash below, as plain text (a file name's control characters escaped).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import sanitize
from regtui.tui.widgets.paged import Column, PagedList

COLUMNS = [Column("time", "Applied", 16, 1), Column("file", "File", 18, flex=True), Column("operator", "Operator", 10, 3),
           Column("pool", "Pool", 14, 2), Column(None, "Customer", 14, 5), Column(None, "Changes", 18, 4),
           Column(None, "Batch", 5, 6)]
NONE_YET = "Select a batch to see its counts, pool and file hash."


def batch_cells(b) -> tuple:
    return (b.applied_at.strftime("%Y-%m-%d %H:%M"), b.file_name, b.operator, _pool(b), b.customer or "",
            b.counts_text(), str(b.id))


def _pool(b) -> str:
    return b.pool_name or ("(deleted)" if b.pool_id is None else str(b.pool_id))


class BatchHistoryScreen(Screen):
    CSS_PATH = "batch_history.tcss"
    TITLE = "Batch history"

    HELP = """\
The rosters applied so far, newest first: when, which file, by whom, to which pool, and what each changed.
Type to filter by file name, operator, pool (1001-1) or customer; s sorts by another column, S reverses.
The batch under the cursor shows its counts and file hash below; Enter (or e) opens the audit log on its events.
A manager sees their own customer's batches.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+r", "reload", "Refresh"),
        Binding("e", "events", "Audit events"),
    ]

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.app.actor.can("audit.view") if action == "events" else True

    def compose(self) -> ComposeResult:
        yield Static("Batch history: applied rosters", id="history-title")
        yield PagedList(self._fetch, COLUMNS, batch_cells, word="batch", words="batches", sort="time", descending=True,
                        placeholder="Search by file, operator, pool (1001-1) or customer",
                        empty="No batches applied yet: plan a roster and apply it on the Batch screen",
                        id="history-list", table_id="history-table")
        with VerticalScroll(id="history-detail-box"):
            yield Static(NONE_YET, id="history-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#history-table", DataTable).focus()

    def _fetch(self, **kw):
        from regtui.core.services import batches

        return batches.page(self.app.actor, **kw)

    # -- handlers --------------------------------------------------------------------------

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    def on_paged_list_highlighted(self, message: PagedList.Highlighted) -> None:
        self._show(message.row)

    @on(DataTable.RowSelected, "#history-table")
    def _batch_selected(self) -> None:
        self.action_events()

    def _show(self, b) -> None:
        box = self.query_one("#history-detail", Static)
        if b is None:
            box.update(Text(NONE_YET, style="dim"))
            return
        text = Text()
        text.append(f"Batch {b.id}: ", style="bold")
        text.append(sanitize(b.file_name), style="bold")
        text.append("\n" + sanitize(f"Applied {b.applied_at.isoformat(sep=' ', timespec='seconds')} by {b.operator} "
                                    f"({b.outcome})"))
        text.append("\n" + sanitize(f"Pool {_pool(b)}" + (f" (id {b.pool_id})" if b.pool_id is not None else "")
                                    + (f" of {b.customer}" if b.customer else "")))
        text.append("\nChanges: " + sanitize(b.counts_text()))
        text.append("\nSHA-256: " + sanitize(b.sha256), style="dim")
        box.update(text)

    # -- actions ---------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.query_one(PagedList).reload(keep_place=True)

    def action_events(self) -> None:
        """The audit log on the events of the batch under the cursor (staff: a manager has no audit log)."""
        batch = self.query_one(PagedList).current()
        if batch is None:
            return
        if not self.app.actor.can("audit.view"):
            self.notify("The audit log needs the admin or limited role; the batch's counts are shown below.",
                        severity="warning", markup=False)
            return
        from regtui.tui.screens.audit import AuditScreen

        self.app.push_screen(AuditScreen(batch_id=batch.id))

    def action_close(self) -> None:
        self.app.pop_screen()

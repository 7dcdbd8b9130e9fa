"""The outbox: emails waiting, sent and failed; send now, retry failed.

A paged list (filter by recipient or subject, sort, status), and the selected email's body as
the learner reads it, its link shown as a placeholder (never a live link). Read-only apart from
two service calls (``outbox.deliver`` and ``outbox.retry_failed``). Workers run in threads and
post past-tense messages; the handlers here own the state.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Select, Static

from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import call_service, sanitize
from regtui.tui.widgets.paged import Column, PagedList
FILTERS: list[tuple[str, str]] = [("all", "all"), ("queued", "queued"), ("sent", "sent"), ("failed", "failed"), ("sending", "sending")]
STATUS_STYLE = {"queued": "cyan", "sending": "yellow", "sent": "green", "failed": "bold red"}


class CountsLoaded(Message):
    """The outbox's counts by status were read."""

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__()
        self.counts = counts


class OutboxDelivered(Message):
    """``send now`` finished; ``report`` is the outbox's DeliveryReport."""

    def __init__(self, report, where: str) -> None:
        super().__init__()
        self.report = report
        self.where = where


class FailedRequeued(Message):
    """``retry failed`` put ``count`` emails back in the queue."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class OutboxFailed(Message):
    """A service said no; ``sentence`` is what to show."""

    def __init__(self, sentence: str) -> None:
        super().__init__()
        self.sentence = sentence


def _when(value) -> str:
    return value.strftime("%m-%d %H:%M") if value else ""


COLUMNS = [Column("id", "Id", 6, 3), Column("status", "Status", 7, 1), Column(None, "Created", 11, 4),
           Column("to", "To", 24, flex=True), Column("subject", "Subject", 20, flex=True), Column(None, "Tries", 5, 6),
           Column(None, "Sent", 11, 5), Column(None, "Last error", 16, 3)]


def email_cells(e) -> tuple:
    return (str(e.id), Text(e.status, style=STATUS_STYLE.get(e.status, "")), _when(e.created_at), e.to, e.subject,
            str(e.attempts), _when(e.sent_at), e.last_error or "")


class OutboxScreen(Screen):
    CSS_PATH = "outbox.tcss"
    TITLE = "Outbox"

    HELP = """\
Emails waiting, sent and failed: who each goes to and its subject; the email under the cursor is shown below.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("s", "send_now", "Send now"),
        Binding("r", "retry_failed", "Retry failed"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("g", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status_filter: str = "all"
        self.sending = False

    def compose(self) -> ComposeResult:
        yield Static("Outbox", id="outbox-title")
        yield Static("", id="outbox-counts", markup=False)
        with Horizontal(id="outbox-bar"):
            yield Select(FILTERS, value="all", allow_blank=False, id="outbox-filter")
            yield Button("Send now (s)", id="outbox-send", variant="primary")
            yield Button("Retry failed (r)", id="outbox-retry")
        yield PagedList(self._fetch, COLUMNS, email_cells, word="email", sort="id", descending=True,
                        placeholder="Search by recipient or subject", id="outbox-list", table_id="outbox-table",
                        sort_keys=False)
        with VerticalScroll(id="outbox-body-box"):
            yield Static("Select an email to read it.", id="outbox-body", markup=False)
        yield Static("", id="outbox-report", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        allowed = self.app.actor.can("mail.send")
        self.query_one("#outbox-send", Button).disabled = not allowed
        self.query_one("#outbox-retry", Button).disabled = not allowed
        if not allowed:
            self._report(Text("Sending needs the admin or limited role; this list is read-only.", style="dim"))
        self.load_counts()
        self.query_one("#outbox-table", DataTable).focus()

    def _fetch(self, **kw):
        from regtui.core.services import outbox

        status = None if self.status_filter == "all" else self.status_filter
        return outbox.page(self.app.actor, status=status, **kw)

    # -- workers: call services, post what happened ------------------------------------

    @work(thread=True, exclusive=True, group="outbox-counts")
    def load_counts(self) -> None:
        from regtui.core.services import outbox

        call_service(self, lambda: outbox.counts(self.app.actor), CountsLoaded, OutboxFailed)

    @work(thread=True, exclusive=True, group="outbox-send")
    def send_now(self) -> None:
        from regtui.core import mailer
        from regtui.core.services import outbox

        def send():
            transport = mailer.transport_from_config()
            return outbox.deliver(self.app.actor, transport), transport.describe()

        call_service(self, send, lambda result: OutboxDelivered(*result), OutboxFailed)

    @work(thread=True, exclusive=True, group="outbox-send")
    def retry(self) -> None:
        from regtui.core.services import outbox

        call_service(self, lambda: outbox.retry_failed(self.app.actor), FailedRequeued, OutboxFailed)

    # -- handlers: own the state ---------------------------------------------------------

    def on_counts_loaded(self, message: CountsLoaded) -> None:
        c = message.counts
        line = Text()
        for status in ("queued", "sending", "sent", "failed"):
            line.append(f"{status} {c.get(status, 0):,}", style=STATUS_STYLE[status])
            line.append("  ")
        self.query_one("#outbox-counts", Static).update(line)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    def on_paged_list_highlighted(self, message: PagedList.Highlighted) -> None:
        self._show(message.row)

    def _show(self, email) -> None:
        box = self.query_one("#outbox-body", Static)
        if email is None:
            box.update(Text("Select an email to read it.", style="dim"))
            return
        text = Text()
        text.append(sanitize(f"To: {email.to}\nSubject: {email.subject}", keep_newlines=True), style="bold")
        text.append("\n\n" + sanitize(email.body, keep_newlines=True))
        box.update(text)

    def on_outbox_delivered(self, message: OutboxDelivered) -> None:
        self.sending = False
        r = message.report
        text = Text(f"Delivered to {message.where}: {r.sent} sent, {r.retry} to retry, {r.failed} failed.")
        for line in r.errors[:20]:
            text.append("\n" + sanitize(line), style="red")
        self._report(text)
        self.notify(f"{r.sent} sent, {r.retry} to retry, {r.failed} failed.", severity="warning" if r.errors else "information", markup=False)
        self.action_reload()

    def on_failed_requeued(self, message: FailedRequeued) -> None:
        self.sending = False
        self._report(Text(f"{message.count} failed email(s) queued again."))
        self.notify(f"{message.count} failed email(s) queued again.", markup=False)
        self.action_reload()

    def on_outbox_failed(self, message: OutboxFailed) -> None:
        self.sending = False
        self.notify(message.sentence, severity="error", markup=False)

    @on(Select.Changed, "#outbox-filter")
    def _filter_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.status_filter:
            return
        self.status_filter = str(event.value)
        self.action_reload()

    @on(Button.Pressed, "#outbox-send")
    def _send_pressed(self) -> None:
        self.action_send_now()

    @on(Button.Pressed, "#outbox-retry")
    def _retry_pressed(self) -> None:
        self.action_retry_failed()

    # -- actions -------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load_counts()
        self.query_one(PagedList).reload()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_cycle_filter(self) -> None:
        names = [value for _, value in FILTERS]
        nxt = names[(names.index(self.status_filter) + 1) % len(names)]
        self.query_one("#outbox-filter", Select).value = nxt  # Select.Changed reloads

    def action_send_now(self) -> None:
        if not self._may_send() or self.sending:
            return
        self.sending = True
        self._report(Text("Sending…", style="dim"))
        self.send_now()

    def action_retry_failed(self) -> None:
        if not self._may_send() or self.sending:
            return
        self.sending = True
        self.retry()

    def _may_send(self) -> bool:
        if self.app.actor.can("mail.send"):
            return True
        self.notify(f"Sending the outbox needs the admin or limited role; {self.app.actor.name} is {self.app.actor.role}.", severity="error", markup=False)
        return False

    def _report(self, text: Text) -> None:
        self.query_one("#outbox-report", Static).update(text)

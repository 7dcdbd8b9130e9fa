"""The outbox: emails waiting, sent and failed; send now, retry failed.

Read-only apart from two service calls (``outbox.deliver`` and ``outbox.retry_failed``).
Workers run in threads and post past-tense messages; the handlers here own the state.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Select, Static
from regtui.tui.widgets import Table, close_thread_db, sanitize, sentence

PAGE_SIZE = 200
FILTERS: list[tuple[str, str]] = [("all", "all"), ("queued", "queued"), ("sent", "sent"), ("failed", "failed"), ("sending", "sending")]
STATUS_STYLE = {"queued": "cyan", "sending": "yellow", "sent": "green", "failed": "bold red"}


class OutboxLoaded(Message):
    """A page of the outbox and the counts were read."""

    def __init__(self, rows: list[tuple], counts: dict[str, int], has_more: bool, where: str) -> None:
        super().__init__()
        self.rows = rows
        self.counts = counts
        self.has_more = has_more
        self.where = where


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
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("g", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status_filter: str = "all"
        self.page_offset = 0
        self.has_more = False
        self.sending = False

    def compose(self) -> ComposeResult:
        yield Static("Outbox", id="outbox-title")
        yield Static("", id="outbox-counts", markup=False)
        with Horizontal(id="outbox-bar"):
            yield Select(FILTERS, value="all", allow_blank=False, id="outbox-filter")
            yield Button("Send now (s)", id="outbox-send", variant="primary")
            yield Button("Retry failed (r)", id="outbox-retry")
        yield Table(id="outbox-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="outbox-report", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("id")
        table.add_column("status")
        table.add_column("created")
        table.add_column("to", width=30)
        table.add_column("subject", width=34)
        table.add_column("tries")
        table.add_column("sent")
        table.add_column("last error")
        allowed = self.app.actor.can("mail.send")
        self.query_one("#outbox-send", Button).disabled = not allowed
        self.query_one("#outbox-retry", Button).disabled = not allowed
        if not allowed:
            self._report(Text("Sending needs the admin or limited role; this list is read-only.", style="dim"))
        self.action_reload()
        table.focus()

    # -- workers: call services, post what happened ------------------------------------

    @work(thread=True, exclusive=True, group="outbox-load")
    def load_page(self, status: str, offset: int) -> None:
        try:
            from regtui.core.services import outbox

            emails = outbox.listing(self.app.actor, None if status == "all" else status, PAGE_SIZE + 1, offset)
            rows = [
                (e.id, _when(e.created_at), e.to, e.subject, e.status, e.attempts, _when(e.sent_at), e.last_error or "")
                for e in emails[:PAGE_SIZE]
            ]
            self.post_message(OutboxLoaded(rows, outbox.counts(self.app.actor), len(emails) > PAGE_SIZE, status))
        except Exception as exc:  # shown as a sentence, never a traceback
            self.post_message(OutboxFailed(sentence(exc)))
        finally:
            close_thread_db()

    @work(thread=True, exclusive=True, group="outbox-send")
    def send_now(self) -> None:
        try:
            from regtui.core import mailer
            from regtui.core.services import outbox

            transport = mailer.transport_from_config()
            where = transport.describe()
            report = outbox.deliver(self.app.actor, transport)
            self.post_message(OutboxDelivered(report, where))
        except Exception as exc:
            self.post_message(OutboxFailed(sentence(exc)))
        finally:
            close_thread_db()

    @work(thread=True, exclusive=True, group="outbox-send")
    def retry(self) -> None:
        try:
            from regtui.core.services import outbox

            self.post_message(FailedRequeued(outbox.retry_failed(self.app.actor)))
        except Exception as exc:
            self.post_message(OutboxFailed(sentence(exc)))
        finally:
            close_thread_db()

    # -- handlers: own the state ---------------------------------------------------------

    def on_outbox_loaded(self, message: OutboxLoaded) -> None:
        if message.where != self.status_filter:
            return
        self.has_more = message.has_more
        c = message.counts
        page = self.page_offset // PAGE_SIZE + 1
        line = Text()
        for status in ("queued", "sending", "sent", "failed"):
            line.append(f"{status} {c.get(status, 0)}", style=STATUS_STYLE[status])
            line.append("  ")
        line.append(f"| {self.status_filter}: page {page}, {len(message.rows)} shown" + (", more with ]" if message.has_more else ""),
                    style="dim")
        self.query_one("#outbox-counts", Static).update(line)
        table = self.query_one(DataTable)
        table.clear()
        for eid, created, to, subject, status, tries, sent, error in message.rows:
            table.add_row(
                Text(str(eid)), Text(status, style=STATUS_STYLE.get(status, "")), Text(created),
                Text(sanitize(to), no_wrap=True, overflow="ellipsis"), Text(sanitize(subject), no_wrap=True, overflow="ellipsis"),
                Text(str(tries)), Text(sent), Text(sanitize(error), no_wrap=True), key=str(eid),
            )

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
        self.page_offset = 0
        self.action_reload()

    @on(Button.Pressed, "#outbox-send")
    def _send_pressed(self) -> None:
        self.action_send_now()

    @on(Button.Pressed, "#outbox-retry")
    def _retry_pressed(self) -> None:
        self.action_retry_failed()

    # -- actions -------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load_page(self.status_filter, self.page_offset)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_cycle_filter(self) -> None:
        names = [value for _, value in FILTERS]
        nxt = names[(names.index(self.status_filter) + 1) % len(names)]
        self.query_one("#outbox-filter", Select).value = nxt  # Select.Changed reloads

    def action_page(self, step: int) -> None:
        if step > 0 and not self.has_more:
            return
        new = max(0, self.page_offset + step * PAGE_SIZE)
        if new != self.page_offset:
            self.page_offset = new
            self.action_reload()

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

"""The first screen: every customer, paged, filtered and sorted by the database."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from regtui.core.words import span_of
from regtui.tui.messages import ActionFailed, CustomerCreated, CustomersLoaded, CustomerSynced
from regtui.tui.widgets import Table, call_service, cell
from regtui.tui.screens.catalog import FIRST_STEPS, ask_new_product, ask_new_session
from regtui.tui.widgets.forms import Field, FormScreen

PAGE = 100
DEBOUNCE = 0.15
# by priority, left to right: at 80 columns and less the long email is the one cut
COLUMNS = [("name", "Name"), ("pools", "Pools"), ("seats", "Seats"), ("available", "Available"), ("email", "Email")]
NUMERIC = {"pools", "seats", "available"}


class CustomersScreen(Screen):
    CSS_PATH = "customers.tcss"
    HELP = """\
Every customer with its pools and seats, paged by the database.
enter opens the customer under the cursor; / filters as you type (name or email).
"""
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "next_sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", show=False),
        Binding("n", "new_customer", "New customer"),
        Binding("e", "sync_customer", "Sync to eCommerce", key_display="e"),
        Binding("p", "new_product", "New product", show=False),
        Binding("v", "new_session", "New session", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.search = ""
        self.sort = "name"
        self.descending = False
        self.page_offset = 0
        self.total = 0
        self.request = 0
        self.shown_request = 0  # the request whose answer is in the table
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ filter by name or email", id="filter")
        table = Table(id="customers", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("Loading customers…", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#customers", DataTable).focus()
        self.reload()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        actor = self.app.actor
        if action == "new_customer":
            return actor.can("customers.new")
        if action == "sync_customer":
            return actor.can("customers.sync")
        if action in ("new_product", "new_session"):
            return actor.can("catalog.edit")
        return True

    # --- loading ---------------------------------------------------------------------------

    def reload(self) -> None:
        self.request += 1
        self.fetch(self.request, self.search, self.sort, self.descending, self.page_offset)

    @work(thread=True, exclusive=True, group="customers")
    def fetch(self, request: int, search: str, sort: str, descending: bool, offset: int) -> None:
        from regtui.core.services import customers

        actor = self.app.actor

        def load():
            rows = customers.listing(actor, search, sort, descending, limit=PAGE, offset=offset)
            total = customers.count(actor, search) if (offset or len(rows) == PAGE) else offset + len(rows)
            return rows, total

        call_service(self, load, lambda result: CustomersLoaded(request, result[0], result[1], offset))

    def on_customers_loaded(self, message: CustomersLoaded) -> None:
        if message.request != self.request:
            return  # an older answer: the latest request wins
        self.total = message.total
        table = self.query_one("#customers", DataTable)
        table.clear()
        for row in message.rows:
            table.add_row(cell(row.name), cell(row.pools), cell(row.seats), cell(row.available), cell(row.email), key=str(row.id))
        self._show_status(len(message.rows))
        self.shown_request = message.request
        self.refresh_bindings()

    def _show_status(self, shown: int) -> None:
        arrow = "descending" if self.descending else "ascending"
        label = dict(COLUMNS)[self.sort].lower()
        if shown:
            where = span_of(self.page_offset + 1, self.page_offset + shown, self.total, "customer")
        else:
            where = f"No customers match {self.search!r}" if self.search else self._first_step()
        self.query_one("#status", Static).update(f"{where} · sorted by {label}, {arrow}")

    def _first_step(self) -> str:
        """The empty list says what to do first, and with which key."""
        if self.app.actor.can("catalog.edit"):
            return f"No customers yet: {FIRST_STEPS}"
        if self.app.actor.can("customers.new"):
            return "No customers yet: press n to add the first one"
        return "No customers yet: an admin adds them"

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", timeout=8, markup=False)

    # --- filter, sort, pages ---------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self._apply_filter)

    def _apply_filter(self) -> None:
        self._debounce = None
        value = self.query_one("#filter", Input).value.strip()
        if value != self.search:
            self.search, self.page_offset = value, 0
            self.reload()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._apply_filter()
        self.query_one("#customers", DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def sort_by(self, key: str) -> None:
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, key in NUMERIC
        self.page_offset = 0
        self.reload()

    def action_next_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self.descending = self.sort in NUMERIC
        self.page_offset = 0
        self.reload()

    def action_reverse(self) -> None:
        self.sort_by(self.sort)

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * PAGE
        if offset < 0 or offset >= max(self.total, 1):
            return
        self.page_offset = offset
        self.reload()

    # --- open, new, sync -------------------------------------------------------------------

    @on(DataTable.RowSelected, "#customers")
    def open_customer(self, event: DataTable.RowSelected) -> None:
        from regtui.tui.screens.customer import CustomerScreen

        self.app.push_screen(CustomerScreen(int(event.row_key.value)))

    def action_new_customer(self) -> None:
        if not self.app.actor.can("customers.new"):
            return
        fields = [Field("name", "Customer name"), Field("email", "Email (the learner account's too)"),
                  Field("first_name", "First name"), Field("last_name", "Last name")]
        self.app.push_screen(FormScreen("New customer", fields, "Create",
                                        note="The learner is emailed a link to set a password.", form_id="new-customer"),
                             self._new_customer)

    def _new_customer(self, values: dict | None) -> None:
        if values:
            self.create_customer(values)

    @work(thread=True, group="write")
    def create_customer(self, values: dict) -> None:
        from regtui.core.services import customers

        call_service(self, lambda: customers.new_with_account(self.app.actor, values["name"], values["email"],
                                                              values["first_name"], values["last_name"]),
                     lambda row: CustomerCreated(row.id, row.name))

    def on_customer_created(self, message: CustomerCreated) -> None:
        self.notify(f"Customer {message.name} created; a set-password email is in the outbox.", markup=False)
        self.reload()

    def action_new_product(self) -> None:
        if self.app.actor.can("catalog.edit"):
            ask_new_product(self.app, self._added)

    def action_new_session(self) -> None:
        if self.app.actor.can("catalog.edit"):
            ask_new_session(self.app, self._added)

    def _added(self, sentence: str | None) -> None:
        if sentence:
            self.notify(sentence, markup=False)

    def action_sync_customer(self) -> None:
        if not self.app.actor.can("customers.sync"):
            return
        self.app.push_screen(FormScreen("Sync to eCommerce", [Field("email", "Learner email")], "Sync",
                                        note="Makes (or links) the customer of this learner account, and in the shops.", form_id="sync-customer"),
                             self._sync_customer)

    def _sync_customer(self, values: dict | None) -> None:
        if values:
            self.sync_customer(values["email"])

    @work(thread=True, group="write")
    def sync_customer(self, email: str) -> None:
        from regtui.core.services import learners, shops

        def sync():  # the customer, and its creation queued in every shop with an API
            return shops.sync_customer(self.app.actor, learners.get(email))

        call_service(self, sync, lambda result: CustomerSynced(result[0].id, result[0].name, result[1]))

    def on_customer_synced(self, message: CustomerSynced) -> None:
        verb = "created" if message.created else "linked"
        self.notify(f"Customer {message.name} {verb}.", markup=False)
        self.reload()

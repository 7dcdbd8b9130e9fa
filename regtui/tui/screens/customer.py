"""One customer: its pools, the learners holding its codes, and a learner's content access."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, Static

from regtui.core.words import plural
from regtui.tui.messages import AccessLoaded, ActionFailed, CustomerLoaded, RegistrationRemoved
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.widgets import Table, call_service, cell, sanitize
from regtui.tui.screens.catalog import ask_new_order
from regtui.tui.screens.exports import ask_export
from regtui.tui.widgets.forms import Field, FormScreen, parse_date
from regtui.tui.widgets.paged import Column, PagedList

USER_COLUMNS = [Column("email", "Email", 28, 1), Column("first", "First", 10, 3), Column("last", "Last", 10, 2),
                Column("session", "Session", 14, 4), Column("code", "Code", 12, 5)]


def user_cells(user) -> tuple:
    reg = user.registration
    return reg.email, reg.first_name, reg.last_name, user.session, reg.code


def _date(value) -> str:
    return value.isoformat() if value else ""


class CustomerScreen(Screen):
    CSS_PATH = "customer.tcss"
    HELP = """\
One customer: its pools (seats, available, pending, claimed) and the learners who hold its codes.
enter on a pool opens it; enter on a learner shows their content access below.
"""
    BINDINGS = [
        Binding("x,delete", "remove", "Remove", tooltip="revoke the learner's seat (remove the registration)"),
        Binding("d", "edit_dates", "Edit dates"),
        Binding("n", "new_order", "New order"),
        Binding("e", "export", "Export users", show=False, tooltip="the customer's users to xlsx or CSV"),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.customer: dict = {}
        self.orders: dict[int, str] = {}  # pool id -> its order number, for sentences
        self.access_rows: list[dict] = []
        self.selected_email: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="customer-title", markup=False)
        pools = Table(id="pools", cursor_type="row")
        # by priority, left to right: the session and its counts first, the order and product after
        pools.add_columns("Session", "Seats", "Avail", "Pending", "Claimed", "Order", "Date", "Product")
        yield pools
        yield Static("", id="no-pools", markup=False)
        yield Label("Registration code users", classes="section")
        with Horizontal(id="lower"):
            yield PagedList(self._fetch_users, USER_COLUMNS, user_cells, word="user", id="users-list", table_id="users",
                            placeholder="Filter by email, name or code",
                            empty="No registration code users yet: open a pool above and assign or invite")
            with Vertical(id="access-panel"):
                yield Static("Content access", id="access-title", markup=False)
                access = Table(id="access", cursor_type="row")
                access.add_columns("Session", "Ends", "Status", "Starts")
                yield access
        with Horizontal(id="user-buttons"):
            # one line each (as on the pool screen), so the lists keep their rows at 15 lines
            yield Button("Remove", id="remove", variant="error", compact=True)
            yield Button("Edit dates", id="edit-dates", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        actor = self.app.actor
        self.query_one("#edit-dates", Button).display = actor.can("access.extend")
        self.query_one("#access-panel").display = actor.can("access.view")
        self.query_one("#pools", DataTable).focus()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "edit_dates":
            return self.app.actor.can("access.extend")
        if action == "new_order":
            return self.app.actor.can("orders.add")
        return True

    # --- loading ---------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load_customer(self.customer_id)

    @work(thread=True, exclusive=True, group="customer")
    def load_customer(self, customer_id: int) -> None:
        from regtui.core.services import customers, pools

        actor = self.app.actor

        def read():
            customer = customers.find(str(customer_id))
            return {"id": customer.id, "name": customer.name, "email": customer.email}, pools.listing(actor, customer)

        call_service(self, read, lambda r: CustomerLoaded(*r))

    def _fetch_users(self, **kw):
        from regtui.core.services import registrations

        return registrations.customer_page(self.app.actor, self.customer_id, **kw)

    def on_customer_loaded(self, message: CustomerLoaded) -> None:
        self.customer = c = message.customer
        self.orders = {p.id: p.order for p in message.pools}
        users = sum(p.claimed for p in message.pools)  # from the pools' counters
        n_pools = len(message.pools)
        self.query_one("#customer-title", Static).update(sanitize(
            f"{c['name']} <{c['email']}> · {plural(n_pools, 'pool')} · {plural(users, 'registration code user')}"))
        pools = self.query_one("#pools", DataTable)
        keep = pools.cursor_row
        pools.clear()
        for p in message.pools:
            seats = f"{p.seats} over-refunded" if p.over_refunded else p.seats
            pools.add_row(cell(p.session), cell(seats), cell(p.available), cell(p.pending), cell(p.claimed),
                          cell(p.order), cell(p.ordered), cell(p.product), key=str(p.id))
        if 0 < keep < pools.row_count:
            pools.move_cursor(row=keep)
        self._show_empty_state(not message.pools)

    def _show_empty_state(self, empty: bool) -> None:
        """No pools yet: say what to do first, and with which key."""
        note = self.query_one("#no-pools", Static)
        note.display = empty
        if self.app.actor.can("orders.add"):
            note.update("No pools yet: press n to record an order of seats for this customer.")
        else:
            note.update("No pools yet: an admin records the customer's orders.")

    def action_new_order(self) -> None:
        if self.app.actor.can("orders.add"):
            ask_new_order(self.app, self.customer_id, self.customer.get("name", ""), self._order_added)

    def action_export(self) -> None:
        """The customer's users (every learner holding one of its seats) to a file."""
        from regtui.core.services import customers, exports

        actor, customer_id = self.app.actor, self.customer_id
        ask_export(self.app, f"Export the users of {self.customer.get('name', '')}", f"customer-{customer_id}-users.xlsx",
                   lambda: exports.customer_table(actor, customers.find(str(customer_id))), "user", self._exported)

    def _exported(self, said: str | None) -> None:
        if said:
            self.notify(said, markup=False)

    def _order_added(self, sentence: str | None) -> None:
        if sentence:
            self.notify(sentence, markup=False)
            self.action_reload()

    def on_paged_list_changed(self, message: PagedList.Changed) -> None:
        if message.paged.id != "users-list" or message.paged.page is None:
            return
        if message.paged.page.rows:
            self.user_highlighted()
        else:
            self.selected_email = None
            self._show_access(None, [])

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", timeout=8, markup=False)

    # --- pools -----------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#pools")
    def open_pool(self, event: DataTable.RowSelected) -> None:
        from regtui.tui.screens.pool import PoolScreen

        self.app.push_screen(PoolScreen(int(event.row_key.value)))

    def on_screen_resume(self) -> None:
        if self.customer:
            self.action_reload()
            self.query_one("#users-list", PagedList).reload(keep_place=True)

    # --- the selected learner --------------------------------------------------------------

    def _selected(self) -> tuple | None:
        """(registration, pool id, pool label) of the user at the cursor."""
        user = self.query_one("#users-list", PagedList).current()
        if user is None:
            return None
        return user.registration, user.pool_id, f"{user.session} ({self.orders.get(user.pool_id, user.pool_id)})"

    @on(DataTable.RowHighlighted, "#users")
    def user_highlighted(self, event: DataTable.RowHighlighted | None = None) -> None:
        found = self._selected()
        if found and self.app.actor.can("access.view") and found[0].email != self.selected_email:
            self.selected_email = found[0].email
            self.load_access(found[0].email)

    @work(thread=True, exclusive=True, group="access")
    def load_access(self, email: str) -> None:
        from regtui.core.services import access, learners, pools

        def read():
            learner = learners.get(email)
            return [{"id": a.id, "session": a.session.code, "starts": a.starts, "ends": a.ends, "status": access.status_of(a),
                     "pool": pools.refs(a.code.pool)[1] if a.code_id else ""}
                    for a in access.for_learner(self.app.actor, learner)]

        call_service(self, read, lambda rows: AccessLoaded(email, rows))

    def on_access_loaded(self, message: AccessLoaded) -> None:
        if message.email == self.selected_email:
            self._show_access(message.email, message.rows)

    def _show_access(self, email: str | None, rows: list[dict]) -> None:
        self.access_rows = rows
        self.query_one("#access-title", Static).update(sanitize(f"Content access of {email}") if email else "Content access")
        table = self.query_one("#access", DataTable)
        table.clear()
        for a in rows:
            table.add_row(cell(a["session"]), cell(_date(a["ends"]) or "open"), cell(a["status"]), cell(_date(a["starts"])), key=str(a["id"]))

    # --- remove ----------------------------------------------------------------------------

    @on(Button.Pressed, "#remove")
    def remove_pressed(self) -> None:
        self.action_remove()

    def action_remove(self) -> None:
        found = self._selected()
        if found is None:
            self.notify("Select a registration code user first.", severity="warning")
            return
        reg, pool_id, label = found

        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_registration(pool_id, reg.email)

        self.app.push_screen(ConfirmScreen(f"Remove {reg.email} from {label}? Their content access ends and the seat "
                                           f"becomes available again.", yes="Remove"), answered)

    @work(thread=True, group="write")
    def remove_registration(self, pool_id: int, email: str) -> None:
        from regtui.core.services import pools, registrations

        actor = self.app.actor
        call_service(self, lambda: registrations.revoke(actor, pools.get(actor, pool_id), [email]),
                     lambda _: RegistrationRemoved(email))

    def on_registration_removed(self, message: RegistrationRemoved) -> None:
        self.notify(f"Removed {message.email}; the seat is available again.", markup=False)
        self.action_reload()
        self.query_one("#users-list", PagedList).reload(keep_place=True)

    # --- access dates (admins) -------------------------------------------------------------

    @on(Button.Pressed, "#edit-dates")
    def edit_pressed(self) -> None:
        self.action_edit_dates()

    def action_edit_dates(self) -> None:
        if not self.app.actor.can("access.extend"):
            return
        table = self.query_one("#access", DataTable)
        if not table.row_count:
            self.notify("Select a learner with content access first.", severity="warning")
            return
        row = self.access_rows[table.cursor_row]
        fields = [Field("starts", "Starts (YYYY-MM-DD)", _date(row["starts"])),
                  Field("ends", "Ends (YYYY-MM-DD; empty: open-ended)", _date(row["ends"]))]
        where = f"{row['session']}" + (f", pool {row['pool']}" if row["pool"] else "")
        self.app.push_screen(FormScreen(f"Access dates of {self.selected_email}: {where}", fields, "Save", form_id="dates",
                                        submit_to=lambda form, values: self._dates_given(form, row["id"], values)),
                             self._dates_saved)

    def _dates_given(self, form: FormScreen, access_id: int, values: dict) -> None:
        try:
            starts = parse_date(values["starts"], "Start")
            ends = parse_date(values["ends"], "End")
        except ValueError as exc:
            form.show_error(str(exc))
            return
        from regtui.core.services import access

        # the form stays open with the service's sentence when it refuses, and closes when saved
        form.run_service(lambda: access.extend(self.app.actor, access_id, starts=starts, ends=ends, open_ended=ends is None),
                         lambda row: row.id)

    def _dates_saved(self, access_id: int | None) -> None:
        if access_id is None:
            return
        self.notify("Access dates saved.")
        if self.selected_email:
            self.load_access(self.selected_email)

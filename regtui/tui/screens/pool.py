"""One pool: assign seats, invite, manage pending invitations and completed registrations."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static, TabbedContent, TabPane, TextArea

from regtui.core.words import plural
from regtui.tui.messages import (
    ActionFailed, AddressesImported, ConfirmationResent, InvitationCancelled, InvitationReplaced, InvitationResent,
    InvitationsSent, PendingAssigned, PoolLoaded, RegistrationRemoved, SeatsAssigned, TickedDone,
)
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.screens.exports import ask_export
from regtui.tui.widgets import call_service, sanitize
from regtui.tui.widgets.forms import Field, FormScreen, TextScreen
from regtui.tui.widgets.paged import Column, PagedList

PENDING_COLUMNS = [Column("email", "Email", 30, 1), Column("code", "Code", 12, 3), Column("sent", "Sent", 10, 4),
                   Column("expires", "Expires", 10, 2)]
COMPLETED_COLUMNS = [Column("email", "Email", 30, 1), Column("first", "First", 12, 5), Column("last", "Last", 12, 4),
                     Column("code", "Code", 12, 6), Column("starts", "Starts", 10, 7), Column("ends", "Ends", 10, 2),
                     Column(None, "Status", 9, 3)]
KNOWN_COLUMNS = [Column("email", "Email", 30, 1), Column("first", "First", 12, 2), Column("last", "Last", 12, 2)]


def _iso(value) -> str:
    return value.isoformat() if value else ""


def pending_cells(inv) -> tuple:
    return inv.email, inv.code, _iso(inv.created_at.date()), _iso(inv.expires_at.date())


def completed_cells(reg) -> tuple:
    return (reg.email, reg.first_name, reg.last_name, reg.code, _iso(reg.access_start), _iso(reg.access_end) or "open",
            reg.access_status or "")


def known_cells(learner) -> tuple:
    return learner.email, learner.first_name, learner.last_name

GRID_FIELDS = ("email", "first", "last", "password")
START_ROWS = 3
# The tabs filled when each first opens, with the method that builds the contents: building all
# four tabs (about 50 widgets) with the screen was most of its first paint (issue 14), paid by
# every visit for tabs it never opens.
LATER_TABS = {"assign": "_assign_tab", "invite": "_invite_tab", "pending": "_pending_tab"}


class PoolScreen(Screen):
    CSS_PATH = "pool.tcss"
    HELP = """\
One pool of seats, in four tabs:
 1 Assign     give typed learners seats at once
 2 Invite     email claim links to typed or imported addresses
 3 Pending    invitations not claimed yet
 4 Completed  learners holding a seat
space ticks rows; x acts on the ticked rows, or on the row under the cursor.
"""
    BINDINGS = [
        # tooltips: the other words people use for an action (the command palette finds them too)
        Binding("1", "tab('assign')", "Assign", show=False, tooltip="assign seats to learners typed or ticked"),
        Binding("2", "tab('invite')", "Invite", show=False, tooltip="invite by email: send claim links"),
        Binding("3", "tab('pending')", "Pending", show=False),
        Binding("4", "tab('completed')", "Completed", show=False),
        Binding("l", "copy_link", "Copy link"),
        Binding("r", "resend", "Resend"),
        Binding("x,delete", "cancel_or_remove", "Cancel/Remove",
                tooltip="cancel or withdraw an invitation; revoke a seat (remove the learner)"),
        Binding("g", "assign_pending", "Assign pending", tooltip="give the invitee the seat now, without the link"),
        Binding("i", "invite_instead", "Invite instead", tooltip="replace the invitation: invite another address"),
        Binding("e", "export", "Export", show=False, tooltip="the pool's codes and learners to xlsx or CSV"),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(self, pool_id: int) -> None:
        super().__init__()
        self.pool_id = pool_id
        self.grid_rows = START_ROWS
        self.pool = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading pool…", id="pool-title", markup=False)
        with TabbedContent(initial="assign", id="tabs"):
            # the Assign, Invite and Pending tabs are filled when each first opens (LATER_TABS); the
            # Completed tab is built with the screen (a few widgets; its rows are read when it is shown)
            for tab in LATER_TABS:
                yield TabPane(tab.capitalize(), id=tab)
            with TabPane("Completed", id="completed"):
                with Vertical():
                    yield PagedList(self._fetch_completed, COMPLETED_COLUMNS, completed_cells, word="registration",
                                    tickable=True, placeholder="Filter by email, name or code", id="completed-list",
                                    table_id="completed-table")
                    with Horizontal(classes="buttons"):
                        yield Button("Resend confirmation", id="resend-confirmation", compact=True)
                        yield Button("Remove", id="remove-registration", variant="error", compact=True)
        yield Footer()

    def _grid_row(self, n: int):
        placeholders = {"email": "email", "first": "first name", "last": "last name", "password": "password (optional)"}
        for name in GRID_FIELDS:
            yield Input(placeholder=placeholders[name], id=f"row-{n}-{name}", password=name == "password", compact=True)

    def on_mount(self) -> None:
        self.action_reload()  # focus goes to the Assign grid when its tab is filled (tab_changed)

    # where the user types or moves on each tab: focus goes there when the tab opens
    TAB_FOCUS = {"assign": "#row-0-email", "invite": "#addresses", "pending": "#pending-table",
                 "completed": "#completed-table"}

    def _focus_tab(self, tab: str) -> None:
        self.query_one(self.TAB_FOCUS[tab]).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active

    def action_export(self) -> None:
        """The pool's codes, who holds each (or is invited to it) and their access, to a file."""
        from regtui.core.services import exports, pools

        actor, pool_id = self.app.actor, self.pool_id
        ask_export(self.app, f"Export the codes of pool {pool_id} and their learners", f"pool-{pool_id}-codes.xlsx",
                   lambda: exports.pool_table(actor, pools.get(actor, pool_id)), "code", self._exported)

    def _exported(self, said: str | None) -> None:
        if said:
            self.notify(said, markup=False)

    def role_allows(self, action: str) -> bool:
        """For the help: every key of a pool is for every role (which tab it works on is in HELP)."""
        return True

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("copy_link", "assign_pending", "invite_instead"):
            return self.active_tab == "pending"
        if action in ("resend", "cancel_or_remove"):
            return self.active_tab in ("pending", "completed")
        return True

    def _assign_tab(self) -> VerticalScroll:
        """The Assign tab: a grid of learners to type, and the customer's learners to tick."""
        return VerticalScroll(
            Label("New or existing learners: email, first name, last name, optional password"),
            Grid(*(field for n in range(self.grid_rows) for field in self._grid_row(n)), id="grid"),
            Horizontal(Button("Add row", id="add-row", compact=True),
                       Button("Assign seats", id="assign-seats", variant="primary", compact=True), classes="buttons"),
            Label("…or tick learners who already hold a seat of this customer (space ticks, a ticks all)"),
            PagedList(self._fetch_known, KNOWN_COLUMNS, known_cells, word="learner", tickable=True,
                      placeholder="Filter learners by email or name", id="known", table_id="known-table"))

    def _invite_tab(self) -> VerticalScroll:
        """The Invite tab: addresses typed or imported, a message, and send."""
        return VerticalScroll(
            Label("Addresses, one per line"),
            TextArea(id="addresses", soft_wrap=False),
            Horizontal(Input(placeholder="…or a CSV file path to import addresses from", id="csv-path", compact=True),
                       Button("Import", id="import", compact=True), classes="row"),
            Input(placeholder="Message added to the invitation (optional)", id="message", compact=True),
            Horizontal(Button("Send invitations", id="send", variant="primary", compact=True), classes="buttons"))

    def _pending_tab(self) -> Vertical:
        """The Pending tab: the invitations not claimed yet, and what can be done with one."""
        return Vertical(
            PagedList(self._fetch_pending, PENDING_COLUMNS, pending_cells, word="invitation", tickable=True,
                      sort="sent", placeholder="Filter by email or code", id="pending-list", table_id="pending-table"),
            Horizontal(Button("Copy link", id="copy-link", compact=True),
                       Button("Resend", id="resend-invitation", compact=True),
                       Button("Cancel", id="cancel-invitation", variant="error", compact=True),
                       Button("Assign", id="assign-pending", compact=True),
                       Button("Invite instead", id="invite-instead", compact=True), classes="buttons"))

    @on(TabbedContent.TabActivated)
    async def tab_changed(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane
        if pane.id != self.active_tab:
            return  # another tab opened since (a tab number typed ahead): this one is not filled for nothing
        if pane.id in LATER_TABS and not pane.children:
            await pane.mount(getattr(self, LATER_TABS[pane.id])())
        self.refresh_bindings()
        focused = self.focused
        if focused is not None and pane in focused.ancestors:
            return  # focus is already on this tab (it opened because something in it was focused)
        if pane.id in self.TAB_FOCUS:
            self._focus_tab(pane.id)

    # --- loading ----------------------------------------------------------------------------

    def action_reload(self) -> None:
        """The pool's counters, and each list's page again (the same rows, ticks kept)."""
        self.load_pool(self.pool_id)
        for paged in self.query(PagedList):
            if paged.page is not None:
                paged.reload(keep_place=True)

    @work(thread=True, exclusive=True, group="pool")
    def load_pool(self, pool_id: int) -> None:
        from regtui.core.services import pools

        actor = self.app.actor
        call_service(self, lambda: pools.row(pools.get(actor, pool_id)), PoolLoaded)

    def _fetch_pending(self, **kw):
        from regtui.core.services import invitations, pools

        actor = self.app.actor
        return invitations.page(actor, pools.get(actor, self.pool_id), **kw)

    def _fetch_completed(self, **kw):
        from regtui.core.services import pools, registrations

        actor = self.app.actor
        return registrations.page(actor, pools.get(actor, self.pool_id), **kw)

    def _fetch_known(self, **kw):
        from regtui.core.services import customers, pools

        actor = self.app.actor
        pool = pools.get(actor, self.pool_id)
        return customers.known_learners_page(actor, pools.customer_id(pool), pool.id, **kw)

    def on_pool_loaded(self, message: PoolLoaded) -> None:
        p = self.pool = message.pool
        self.query_one("#pool-title", Static).update(sanitize(
            f"{p.customer} · {p.order} ({p.ordered}) · {p.product} / {p.session} · seats {p.seats:,}, "
            f"available {p.available:,}, pending {p.pending:,}, claimed {p.claimed:,}"
            + (" · OVER-REFUNDED: the shop refunded claimed seats, an admin decides" if p.over_refunded else "")))
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.get_tab("pending").label = f"Pending ({p.pending:,})"
        tabs.get_tab("completed").label = f"Completed ({p.claimed:,})"

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", timeout=8, markup=False)

    def _done(self, sentence: str) -> None:
        self.notify(sentence, markup=False)
        self.action_reload()

    # --- assign ----------------------------------------------------------------------------

    @on(Button.Pressed, "#add-row")
    def add_row(self) -> None:
        grid = self.query_one("#grid", Grid)
        grid.mount_all(list(self._grid_row(self.grid_rows)))
        self.grid_rows += 1

    @on(Input.Submitted, "#grid Input")
    def grid_enter(self, event: Input.Submitted) -> None:
        """Enter in the grid: the next field of the row, then the next row's email; on the last
        row's last field, or on an empty email below the first row, assign."""
        event.stop()
        _, n, name = (event.input.id or "").split("-", 2)
        row, column = int(n), GRID_FIELDS.index(name)
        if name == "email" and row > 0 and not event.value.strip():
            self.assign_pressed()
        elif column + 1 < len(GRID_FIELDS):
            self.query_one(f"#row-{row}-{GRID_FIELDS[column + 1]}", Input).focus()
        elif row + 1 < self.grid_rows:
            self.query_one(f"#row-{row + 1}-email", Input).focus()
        else:
            self.assign_pressed()

    @on(Button.Pressed, "#assign-seats")
    def assign_pressed(self) -> None:
        from regtui.core.services.learners import LearnerSpec

        specs = []
        for n in range(self.grid_rows):
            values = {name: self.query_one(f"#row-{n}-{name}", Input).value.strip() for name in GRID_FIELDS}
            if any(values[k] for k in ("email", "first", "last")):
                specs.append(LearnerSpec(values["email"], values["first"], values["last"], values["password"] or None))
        ticked = self.query_one("#known", PagedList).ticked
        if not specs and not ticked:
            self.notify("Fill in a row or tick a learner first.", severity="warning")
            return
        self.assign_seats(specs, ticked)

    @work(thread=True, group="write")
    def assign_seats(self, specs: list, ticked) -> None:
        from regtui.core.services import pools, registrations

        actor = self.app.actor
        call_service(self, lambda: registrations.assign_known(actor, pools.get(actor, self.pool_id), ticked, specs),
                     lambda seatings: SeatsAssigned(len(seatings)))

    def on_seats_assigned(self, message: SeatsAssigned) -> None:
        for field in self.query("#grid Input").results(Input):
            field.value = ""
        self.query_one("#known", PagedList).clear_ticks()
        self._done(f"{plural(message.count, 'seat')} assigned; confirmation emails are in the outbox.")

    # --- invite ----------------------------------------------------------------------------

    @on(Button.Pressed, "#import")
    def import_pressed(self) -> None:
        path = self.query_one("#csv-path", Input).value
        if path.strip():
            self.import_addresses(path)

    @work(thread=True, group="read-file")
    def import_addresses(self, path: str) -> None:
        from batch.addresses import addresses_in

        call_service(self, lambda: addresses_in(path.strip()), lambda addresses: AddressesImported(addresses, path))

    def on_addresses_imported(self, message: AddressesImported) -> None:
        area = self.query_one("#addresses", TextArea)
        existing = [line for line in area.text.splitlines() if line.strip()]
        area.text = "\n".join(existing + [a for a in message.addresses if a not in existing])
        self.notify(f"{len(message.addresses)} addresses imported.")

    @on(Button.Pressed, "#send")
    def send_pressed(self) -> None:
        emails = [line.strip() for line in self.query_one("#addresses", TextArea).text.splitlines() if line.strip()]
        if not emails:
            self.notify("Type or import at least one address.", severity="warning")
            return
        self.send_invitations(emails, self.query_one("#message", Input).value)

    @work(thread=True, group="write")
    def send_invitations(self, emails: list[str], message: str) -> None:
        from regtui.core.services import invitations, pools

        actor = self.app.actor
        call_service(self, lambda: invitations.invite(actor, pools.get(actor, self.pool_id), emails, message),
                     lambda invs: InvitationsSent(len(invs)))

    def on_invitations_sent(self, message: InvitationsSent) -> None:
        self.query_one("#addresses", TextArea).text = ""
        self.query_one("#message", Input).value = ""
        self._done(f"{plural(message.count, 'invitation')} queued in the outbox.")

    # --- pending invitations ---------------------------------------------------------------

    def _selected(self, list_id: str):
        row = self.query_one(list_id, PagedList).current()
        if row is None:
            self.notify("Nothing selected.", severity="warning")
        return row

    @on(Button.Pressed, "#copy-link")
    def action_copy_link(self) -> None:
        inv = self._selected("#pending-list")
        if inv is not None:
            self.app.copy_to_clipboard(inv.link)
            self.app.push_screen(TextScreen(f"Invitation link for {inv.email} (copied)", inv.link))

    @on(Button.Pressed, "#resend-invitation")
    def resend_invitation_pressed(self) -> None:
        inv = self._selected("#pending-list")
        if inv is not None:
            self.invitation_action("resend", inv.id, inv.email)

    @on(Button.Pressed, "#cancel-invitation")
    def cancel_invitation_pressed(self) -> None:
        paged = self.query_one("#pending-list", PagedList)
        if paged.ticked:
            count, ticked = paged.ticked_count(), paged.ticked
            self.app.push_screen(ConfirmScreen(f"Cancel {plural(count, 'ticked invitation')}?",
                                               yes="Cancel them"),
                                 lambda yes: yes and self.ticked_action("cancel", ticked))
            return
        inv = self._selected("#pending-list")
        if inv is None:
            return
        self.app.push_screen(ConfirmScreen(f"Cancel the invitation of {inv.email}?", yes="Cancel it"),
                             lambda yes: yes and self.invitation_action("cancel", inv.id, inv.email))

    @on(Button.Pressed, "#assign-pending")
    def action_assign_pending(self) -> None:
        inv = self._selected("#pending-list")
        if inv is None:
            return
        fields = [Field("email", "Email (the invitee, or someone else)", inv.email), Field("first", "First name"),
                  Field("last", "Last name")]
        self.app.push_screen(FormScreen(f"Assign {inv.code} directly", fields, "Assign", form_id="assign-pending-form"),
                             lambda values: values and self.invitation_action("assign", inv.id, inv.email, values))

    @on(Button.Pressed, "#invite-instead")
    def action_invite_instead(self) -> None:
        inv = self._selected("#pending-list")
        if inv is None:
            return
        self.app.push_screen(FormScreen(f"Invite someone else instead of {inv.email}", [Field("email", "Email")], "Invite",
                                        form_id="invite-instead-form"),
                             lambda values: values and self.invitation_action("instead", inv.id, inv.email, values))

    @work(thread=True, group="write")
    def invitation_action(self, what: str, invitation_id: int, email: str, values: dict | None = None) -> None:
        from regtui.core.services import invitations
        from regtui.core.services.learners import LearnerSpec

        actor = self.app.actor

        def run():
            inv = invitations.get(actor, invitation_id)
            if what == "resend":
                invitations.resend(actor, inv)
                return InvitationResent(email)
            if what == "cancel":
                invitations.cancel(actor, inv)
                return InvitationCancelled(email)
            if what == "assign":
                spec = LearnerSpec(values["email"], values["first"], values["last"])
                seating = invitations.assign_pending(actor, inv, spec)
                return PendingAssigned(seating.learner.email)
            new = invitations.invite_instead(actor, inv, values["email"])
            return InvitationReplaced(email, new.email)

        call_service(self, run, lambda message: message)

    def on_invitation_resent(self, message: InvitationResent) -> None:
        self._done(f"Invitation to {message.email} sent again.")

    def on_invitation_cancelled(self, message: InvitationCancelled) -> None:
        self._done(f"Invitation to {message.email} cancelled.")

    def on_pending_assigned(self, message: PendingAssigned) -> None:
        self._done(f"Seat assigned to {message.email}.")

    def on_invitation_replaced(self, message: InvitationReplaced) -> None:
        self._done(f"{message.new} invited instead of {message.old}.")

    # --- completed registrations -----------------------------------------------------------

    @on(Button.Pressed, "#resend-confirmation")
    def resend_confirmation_pressed(self) -> None:
        reg = self._selected("#completed-list")
        if reg is not None:
            self.registration_action("resend", reg.email)

    @on(Button.Pressed, "#remove-registration")
    def remove_pressed(self) -> None:
        paged = self.query_one("#completed-list", PagedList)
        if paged.ticked:
            count, ticked = paged.ticked_count(), paged.ticked
            self.app.push_screen(ConfirmScreen(f"Remove {plural(count, 'ticked learner')}? Their "
                                               "content access ends and the seats become available again.", yes="Remove"),
                                 lambda yes: yes and self.ticked_action("remove", ticked))
            return
        reg = self._selected("#completed-list")
        if reg is None:
            return
        self.app.push_screen(ConfirmScreen(f"Remove {reg.email}? Their content access ends and the seat becomes available "
                                           f"again.", yes="Remove"),
                             lambda yes: yes and self.registration_action("remove", reg.email))

    @work(thread=True, group="write")
    def registration_action(self, what: str, email: str) -> None:
        from regtui.core.services import pools, registrations

        actor = self.app.actor

        def run():
            pool = pools.get(actor, self.pool_id)
            if what == "resend":
                registrations.resend(actor, pool, email)
                return ConfirmationResent(email)
            registrations.revoke(actor, pool, [email])
            return RegistrationRemoved(email)

        call_service(self, run, lambda message: message)

    def on_confirmation_resent(self, message: ConfirmationResent) -> None:
        self._done(f"Confirmation sent again to {message.email}.")

    def on_registration_removed(self, message: RegistrationRemoved) -> None:
        self._done(f"Removed {message.email}; the seat is available again.")

    # --- ticked rows, across pages: one service call each ------------------------------------

    @work(thread=True, group="write")
    def ticked_action(self, what: str, ticked) -> None:
        from regtui.core.services import invitations, pools, registrations

        actor = self.app.actor

        def run():
            pool = pools.get(actor, self.pool_id)
            if what == "cancel":
                return TickedDone(what, invitations.cancel_ticked(actor, pool, ticked))
            return TickedDone(what, registrations.revoke_ticked(actor, pool, ticked))

        call_service(self, run, lambda message: message)

    def on_ticked_done(self, message: TickedDone) -> None:
        paged = self.query_one("#pending-list" if message.what == "cancel" else "#completed-list", PagedList)
        paged.clear_ticks()
        n = message.count
        if message.what == "cancel":
            self._done(f"{plural(n, 'invitation')} cancelled.")
        else:
            self._done(f"Removed {plural(n, 'learner')}; the seats are available again.")

    # --- keys that depend on the tab -------------------------------------------------------

    def action_resend(self) -> None:
        if self.active_tab == "pending":
            self.resend_invitation_pressed()
        elif self.active_tab == "completed":
            self.resend_confirmation_pressed()

    def action_cancel_or_remove(self) -> None:
        if self.active_tab == "pending":
            self.cancel_invitation_pressed()
        elif self.active_tab == "completed":
            self.remove_pressed()

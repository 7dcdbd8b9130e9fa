"""Shops and orders: every order with its source (a shop or manual) and external id, and the
shop order lines whose SKU no session is mapped to yet, which an admin maps and replays here.

The orders are a paged list (orders.page: filter by number, customer, external id or source,
sort, a page at a time). Workers call the services (shops.unmatched, shops.map_sku,
shops.replay) and post past-tense messages; the handlers own the state. User data is shown with
markup off.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from regtui.core.words import plural
from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import Table, call_service, cell
from regtui.tui.widgets.forms import Field, FormScreen
from regtui.tui.widgets.paged import Column, PagedList

ORDER_COLUMNS = [Column("number", "Number", 12, 1), Column(None, "Date", 10, 3), Column("customer", "Customer", 24, 1),
                 Column(None, "Source", 10, 4), Column(None, "External id", 14, 5), Column(None, "Lines", 24, flex=True),
                 Column(None, "Seats", 5, 3)]


def order_cells(o) -> tuple:
    return o.number, o.placed.isoformat(), o.customer, o.source, o.external_id or "", o.lines_text(), str(o.seats)


class ShopsLoaded(Message):
    """The unmatched lines and the over-refunded ones were read."""

    def __init__(self, unmatched: list, over_refunded: list) -> None:
        super().__init__()
        self.unmatched = unmatched
        self.over_refunded = over_refunded


class SkuMapped(Message):
    def __init__(self, shop: str, sku: str, session: str, waiting: int) -> None:
        super().__init__()
        self.shop, self.sku, self.session, self.waiting = shop, sku, session, waiting


class ShopReplayed(Message):
    def __init__(self, shop: str, counts: dict[str, int]) -> None:
        super().__init__()
        self.shop, self.counts = shop, counts


class ShopsScreen(Screen):
    CSS_PATH = "shops.tcss"
    TITLE = "Shops and orders"

    HELP = """\
Orders with their source (a shop or manual), and shop order lines whose SKU no session is mapped to yet: map the SKU to a session, then replay the waiting lines.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("m", "map_sku", "Map SKU"),
        Binding("p", "replay", "Replay"),
        Binding("g", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.unmatched: dict[str, tuple[str, str]] = {}  # row key -> (shop, sku)

    def compose(self) -> ComposeResult:
        yield Static("Orders", id="orders-title")
        yield PagedList(self._fetch_orders, ORDER_COLUMNS, order_cells, word="order", sort="placed", descending=True,
                        placeholder="Filter by number, customer, external id or source", id="orders-list",
                        table_id="orders")
        yield Static("Unmatched shop lines (m: map the SKU to a session, p: replay the shop)", id="unmatched-title")
        yield Table(id="unmatched", cursor_type="row", zebra_stripes=True)
        yield Static("", id="over-refunded", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#unmatched", DataTable).add_columns("shop", "order", "line", "sku", "seats", "seen")
        self.action_reload()
        self.query_one("#unmatched", DataTable).focus()

    # -- workers --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="shops-load")
    def load(self) -> None:
        from regtui.core.services import shops

        actor = self.app.actor

        def read():
            over = shops.over_refunded_lines(actor) if actor.can("shops.view") else []
            return shops.unmatched(actor) if actor.can("shops.view") else [], over
        call_service(self, read, lambda r: ShopsLoaded(*r))

    @work(thread=True, group="write")
    def map_sku(self, shop: str, sku: str, session_ref: str) -> None:
        from regtui.core.services import catalog, shops

        def write():
            session = catalog.find_session(session_ref)
            _, waiting = shops.map_sku(self.app.actor, shop, sku, session)
            return session.code, waiting
        call_service(self, write, lambda r: SkuMapped(shop, sku, r[0], r[1]))

    @work(thread=True, group="write")
    def replay(self, shop: str) -> None:
        from regtui.core.services import shops

        call_service(self, lambda: shops.replay(self.app.actor, shop), lambda counts: ShopReplayed(shop, counts))

    # -- handlers ---------------------------------------------------------------------------

    def _fetch_orders(self, **kw):
        from regtui.core.services import orders

        return orders.page(self.app.actor, **kw)

    def on_paged_list_changed(self, message: PagedList.Changed) -> None:
        total = message.paged.page.total if message.paged.page is not None else None
        self.query_one("#orders-title", Static).update("Orders" if total is None else f"Orders ({total:,})")

    def on_shops_loaded(self, message: ShopsLoaded) -> None:
        table = self.query_one("#unmatched", DataTable)
        table.clear()
        self.unmatched = {}
        for n, u in enumerate(message.unmatched):
            key = f"u{n}"
            self.unmatched[key] = (u.shop, u.sku)
            table.add_row(cell(u.shop), cell(u.order), cell(u.line), cell(u.sku), cell(u.quantity),
                          cell(u.seen_at.strftime("%Y-%m-%d %H:%M")), key=key)
        if not message.unmatched and self.focused is table:
            self.query_one("#orders", DataTable).focus()  # nothing to map: Up and Down move in the orders
        over = message.over_refunded
        self.query_one("#over-refunded", Static).update(
            "" if not over else f"Over-refunded: {plural(len(over), 'shop line')} refunded seats that were claimed; nothing was "
                                "revoked, an admin decides (regtui shop over-refunded)")

    def on_sku_mapped(self, message: SkuMapped) -> None:
        self.notify(f"{message.sku} in {message.shop} is a seat of {message.session}; {plural(message.waiting, 'line')} waiting: "
                    "p replays them.", markup=False)
        self.action_reload()

    def on_shop_replayed(self, message: ShopReplayed) -> None:
        done = ", ".join(f"{n} {status}" for status, n in sorted(message.counts.items())) or "nothing was waiting"
        self.notify(f"Replayed {message.shop}: {done}.", markup=False)
        self.action_reload()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)

    # -- actions ----------------------------------------------------------------------------

    def _selected(self) -> tuple[str, str] | None:
        table = self.query_one("#unmatched", DataTable)
        if not self.unmatched or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.unmatched.get(key)

    def action_reload(self) -> None:
        self.load()
        paged = self.query_one(PagedList)
        if paged.page is not None:
            paged.reload(keep_place=True)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_map_sku(self) -> None:
        picked = self._selected()
        if picked is None or not self.app.actor.can("shops.manage"):
            if picked is not None:
                self.notify("Mapping a SKU needs the admin role.", severity="error")
            return
        shop, sku = picked

        def done(values: dict | None) -> None:
            if values and values.get("session", "").strip():
                self.map_sku(shop, sku, values["session"].strip())
        self.app.push_screen(FormScreen(f"Map {sku} ({shop})", [Field("session", "Session (code, id or name)")], "Map",
                                        note="Every order line with this SKU becomes a seat of that session.",
                                        form_id="map-sku"), done)

    def action_replay(self) -> None:
        picked = self._selected()
        if picked is None:
            return
        if not self.app.actor.can("shops.orders"):
            self.notify("Replaying a shop's orders needs the admin role.", severity="error")
            return
        self.replay(picked[0])

"""Adding products, sessions and orders from the TUI (admins): forms over ``services.catalog`` and
``services.orders``, the same calls as the CLI's `product`, `session` and `order add`.

Each ``ask_*`` pushes a form that stays open with the service's sentence when it refuses, and
calls ``done(sentence)`` with what was added when it worked.
"""

from __future__ import annotations

from typing import Callable

from textual.app import App

from regtui.core.words import plural
from regtui.tui.widgets.forms import Field, FormScreen, parse_date, parse_whole

# what an admin adds first, in order: the empty lists point here
FIRST_STEPS = "add a product (p) and its session (v) on the customers list, then a customer (n) and its order"


def _checked(form: FormScreen, parse: Callable[[dict], dict], values: dict) -> dict | None:
    """``parse(values)``, or None when a value is not readable (the form says which)."""
    try:
        return parse(values)
    except ValueError as exc:
        form.show_error(str(exc))
        return None


def ask_new_product(app: App, done: Callable[[str | None], None]) -> None:
    from regtui.core.services import catalog

    def submit(form: FormScreen, values: dict) -> None:
        code, name = values["code"].strip(), values["name"].strip()
        if not code or not name:
            form.show_error("A product needs a code and a name.")
            return
        form.run_service(lambda: catalog.add_product(app.actor, code, name), lambda row: f"Product {row.code} added.")

    fields = [Field("code", "Code", placeholder="e.g. PY"), Field("name", "Name", placeholder="e.g. Python for Data Teams")]
    app.push_screen(FormScreen("New product", fields, "Add", form_id="new-product", submit_to=submit), done)


def _session_values(values: dict) -> dict:
    days = values["access_days"].strip().lower()
    return {"product": values["product"].strip(), "code": values["code"].strip(), "name": values["name"].strip(),
            "starts": parse_date(values["starts"], "Start"),
            "access_days": None if days == "open" else parse_whole(days, "Access days", default=365)}


def ask_new_session(app: App, done: Callable[[str | None], None]) -> None:
    from regtui.core.services import catalog

    def submit(form: FormScreen, values: dict) -> None:
        v = _checked(form, _session_values, values)
        if v is None:
            return
        if not (v["product"] and v["code"] and v["name"]):
            form.show_error("A session needs its product, a code and a name.")
            return
        form.run_service(lambda: catalog.add_session(app.actor, catalog.find_product(v["product"]), v["code"], v["name"],
                                                     starts=v["starts"], access_days=v["access_days"]),
                         lambda row: f"Session {row.code} of {row.product.code} added.")

    fields = [Field("product", "Product (its code or name)"), Field("code", "Session code", placeholder="e.g. PY-2027-03"),
              Field("name", "Name", placeholder="e.g. Python, March 2027"), Field("starts", "Starts (YYYY-MM-DD, optional)"),
              Field("access_days", "Access days (empty: 365; open: no end)")]
    app.push_screen(FormScreen("New session", fields, "Add", form_id="new-session", submit_to=submit), done)


def _order_values(values: dict) -> dict:
    return {"session": values["session"].strip(), "seats": parse_whole(values["seats"], "Seats"),
            "number": values["number"].strip() or None, "date": parse_date(values["date"], "Date")}


def ask_new_order(app: App, customer_id: int, customer_name: str, done: Callable[[str | None], None]) -> None:
    from regtui.core.services import catalog, customers, orders

    def submit(form: FormScreen, values: dict) -> None:
        v = _checked(form, _order_values, values)
        if v is None:
            return
        if not v["session"] or v["seats"] is None:
            form.show_error("An order needs a session and a number of seats.")
            return

        def add():
            line = orders.OrderLine(catalog.find_session(v["session"]), v["seats"])
            return orders.add(app.actor, customers.find(str(customer_id)), [line], number=v["number"], placed_on=v["date"])

        form.run_service(add, lambda made: f"Order {made[0].number}: {plural(v['seats'], 'seat')} of {v['session']}"
                         + (f" in pool {made[1][0].id}." if made[1] else " (no pool: a single seat or a session without codes)."))

    fields = [Field("session", "Session (its code or name)"), Field("seats", "Seats"),
              Field("number", "Order number (optional: one is made)"), Field("date", "Placed on (YYYY-MM-DD, optional: today)")]
    app.push_screen(FormScreen(f"New order for {customer_name}", fields, "Add", form_id="new-order", submit_to=submit), done)

"""The shop commands: connect shops, map their SKUs, see and replay unmatched lines, send the
shop outbox, and import a shop's CSV order export (a dry-run diff, then ``--apply``)."""

from __future__ import annotations

import argparse

from regtui.cli.common import emit, print_table, setup
from regtui.core.errors import UsageError


def register(sub, add) -> None:
    """Add ``shops``, ``shop ...`` and ``orders import`` to the parser (``add`` is parser.py's helper)."""
    add("shops", cmd_shops, "connected shops, with their webhook URL and what is waiting", json_flag=True)
    shop = sub.add_parser("shop", help="connect a shop, map its SKUs, replay, send").add_subparsers(
        dest="shop_cmd", metavar="add|map|remove|unmatched|replay|send|over-refunded", required=True)
    sp = add("add", cmd_shop_add, "connect a shop (admins): its kind and the file holding its webhook secret", parent=shop)
    sp.add_argument("name", help="lowercase name; the webhook URL is /hooks/shop/NAME")
    sp.add_argument("--kind", required=True, choices=["shopify", "woocommerce", "spree"], help="the shop's software")
    sp.add_argument("--secret-file", required=True, help="a file holding the webhook signing secret")
    sp.add_argument("--api-url", help="the shop's base URL, for sync to eCommerce")
    sp.add_argument("--token-file", help="a file holding the API token (WooCommerce: KEY:SECRET)")
    sp = add("map", cmd_shop_map, "map a shop SKU (Spree: the variant id) to a session (admins)", parent=shop)
    sp.add_argument("name", help="the shop's name (see `regtui shops`)")
    sp.add_argument("sku", help="the shop's SKU (Spree: the variant id)")
    sp.add_argument("session", help="id, code or name")
    sp = add("remove", cmd_shop_remove, "disconnect a shop (its orders stay)", parent=shop)
    sp.add_argument("name", help="the shop's name (see `regtui shops`)")
    sp = add("unmatched", cmd_shop_unmatched, "order lines whose SKU no session is mapped to", json_flag=True, parent=shop)
    sp.add_argument("name", nargs="?", help="only this shop's lines (default: every shop's)")
    sp = add("replay", cmd_shop_replay, "process unmatched and failed deliveries again (after map)", json_flag=True, parent=shop)
    sp.add_argument("name", help="the shop's name (see `regtui shops`)")
    add("send", cmd_shop_send, "make the queued shop API calls (sync to eCommerce)", json_flag=True, parent=shop)
    add("over-refunded", cmd_shop_over_refunded, "refunded seats that were claimed: for an admin to decide",
        json_flag=True, parent=shop)

    # `orders` lists orders (commands.cmd_orders); `orders import FILE --shop NAME` reads a shop's export
    orders = sub.choices["orders"]
    orders.add_argument("orders_cmd", nargs="?", choices=["import"], metavar="import",
                        help="import FILE --shop NAME: a shop's CSV order export, as a dry-run diff (or --apply)")
    orders.add_argument("file", nargs="?", help="with import: Shopify's or WooCommerce's CSV order export, as downloaded")
    orders.add_argument("--shop", help="with import: the shop the export comes from")
    orders.add_argument("--apply", action="store_true", help="with import: apply exactly the diff shown, in one transaction")
    orders.set_defaults(handler=_orders(orders.get_default("handler")))


def _orders(listing):
    def handler(args: argparse.Namespace) -> int:
        if args.orders_cmd != "import":
            if args.file or args.shop or args.apply:
                raise UsageError("FILE, --shop and --apply go with `regtui orders import FILE --shop NAME`.")
            return listing(args)
        if not args.file or not args.shop:
            raise UsageError("`regtui orders import` needs the export FILE and --shop NAME.")
        return cmd_orders_import(args)
    return handler

def cmd_shops(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    data = [r.as_dict() for r in shops.listing(setup(args))]
    return emit(args, data, lambda: print_table(
        [(d["name"], d["kind"], d["webhook"], "yes" if d["api"] else "no", d["products"], d["deliveries"], d["unmatched"],
          d["failed"]) for d in data], ["name", "kind", "webhook", "api", "skus", "deliveries", "unmatched", "failed"]))


def cmd_shop_add(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    row = shops.add(setup(args), args.name, args.kind, args.secret_file, args.api_url, args.token_file)
    print(f"Shop {row.name} ({row.kind}) connected: point its webhooks at <your site>/hooks/shop/{row.name}.")
    return 0


def cmd_shop_map(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog, shops

    actor = setup(args)
    _, waiting = shops.map_sku(actor, args.name, args.sku, catalog.find_session(args.session))
    print(f"{args.sku} in {args.name} is a seat of {args.session}."
          + (f" {waiting} unmatched line(s) have this SKU: `regtui shop replay {args.name}` makes them." if waiting else ""))
    return 0


def cmd_shop_remove(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    shops.remove(setup(args), args.name)
    print(f"Shop {args.name} disconnected; the orders it made stay.")
    return 0


def cmd_shop_unmatched(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    data = [r.as_dict() for r in shops.unmatched(setup(args), args.name)]
    return emit(args, data, lambda: print_table([(d["shop"], d["order"], d["line"], d["sku"], d["quantity"], d["seen_at"])
                                                 for d in data], ["shop", "order", "line", "sku", "seats", "seen"]))


def cmd_shop_replay(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    counts = shops.replay(setup(args), args.name)
    return emit(args, counts, lambda: print(
        f"Replayed {sum(counts.values())} deliveries of {args.name}: "
        + (", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none were waiting") + "."))


def cmd_shop_send(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    report = shops.deliver_calls(setup(args))

    def human() -> None:
        print(f"Shop calls: {report.done} done, {report.retry} to retry, {report.failed} failed.")
        for line in report.errors:
            print(f"  {line}")
    emit(args, report.as_dict(), human)
    return 1 if report.failed else 0


def cmd_shop_over_refunded(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    data = shops.over_refunded_lines(setup(args))
    return emit(args, data, lambda: print_table(
        [(d["shop"], d["order"], d["line"], d["sku"], d["seats"], d["taken_back"], d["over_refunded"], d["pool"] or "")
         for d in data], ["shop", "order", "line", "sku", "seats", "taken back", "over-refunded", "pool"]))


def cmd_orders_import(args: argparse.Namespace) -> int:
    from regtui.core.services import shops

    actor = setup(args)
    plan = shops.apply_import(actor, args.shop, args.file) if args.apply else shops.plan_import(actor, args.shop, args.file)
    marks = {"create": "+", "unchanged": "=", "unmatched": "?"}

    def human() -> None:
        for c in plan.changes:
            print(f"{marks.get(c.op, '!')} {c.op:<9} order {c.order:<12} line {c.line:<20} {c.sku}  {c.detail}")
        counts = plan.counts()
        verb = "Applied" if args.apply else "Plan for"
        print(f"{verb} {plan.file} ({plan.shop}): {counts['create']} create, {counts['unchanged']} unchanged, "
              f"{counts['unmatched']} unmatched." + ("" if args.apply else " Nothing was changed; --apply applies it."))
    return emit(args, {"shop": plan.shop, "file": plan.file, "applied": bool(args.apply), "counts": plan.counts(),
                       "changes": [c.as_dict() for c in plan.changes]}, human)

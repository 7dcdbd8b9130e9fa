"""`regtui hooks ...` (webhook endpoints of learning platforms) and `regtui tokens ...` (the pull
API's bearer tokens): parse, call services.endpoints / services.apitokens, print."""

from __future__ import annotations

import argparse
import sys

from regtui.cli.common import emit, print_table, setup


def cmd_hooks(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    actor = setup(args)
    rows = endpoints.listing(actor)
    return emit(args, [r.as_dict() for r in rows], lambda: print_table(
        [(r.id, r.url, ",".join(r.events), r.pending, r.failed, r.delivered, r.disabled or "") for r in rows],
        ["id", "url", "events", "pending", "failed", "delivered", "disabled"]))


def cmd_hooks_add(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    actor = setup(args)
    row, secret = endpoints.add(actor, args.url, event_patterns=args.events, allow_private=args.allow_private)
    data = {"id": row.id, "url": row.url, "events": row.events.split(","), "secret": secret}

    def human() -> None:
        print(f"Endpoint {row.id}: {row.url} hears {row.events}.")
        print(f"Its signing secret (shown this once; the receiver verifies webhook-signature with it):\n{secret}")
    return emit(args, data, human)


def cmd_hooks_remove(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    endpoints.remove(setup(args), args.id)
    print(f"Endpoint {args.id} removed; nothing more is sent to it.")
    return 0


def cmd_hooks_log(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    rows = endpoints.log(setup(args), args.id, limit=args.limit)
    return emit(args, [r.as_dict() for r in rows], lambda: print_table(
        [(r.id, r.endpoint_id, r.kind, r.event_id, r.status, r.attempts,
          f"{r.next_attempt_at:%Y-%m-%d %H:%M:%S}" if r.next_attempt_at and r.status == "pending" else "",
          r.last_status or "", r.last_error or "") for r in rows],
        ["delivery", "endpoint", "event", "event id", "status", "tries", "next try", "answer", "error"]))


def cmd_hooks_deliver(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    report = endpoints.deliver_due(setup(args))
    emit(args, report.as_dict(), lambda: print(
        f"Delivered {report.delivered}; {report.retrying} failed and will be retried, {report.given_up} given up"
        + (f", {report.disabled} endpoint(s) disabled" if report.disabled else "") + "."))
    return 1 if report.failed and not report.delivered else 0


def cmd_hooks_retry(args: argparse.Namespace) -> int:
    from regtui.core.services import endpoints

    n = endpoints.retry_now(setup(args), args.id)
    print(f"{n} deliveries of endpoint {args.id} are due now; `regtui hooks deliver` sends them.")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from regtui.core.services import apitokens

    rows = apitokens.listing(setup(args))
    return emit(args, [r.as_dict() for r in rows], lambda: print_table(
        [(r.name, r.created_at, r.last_used_at or "never") for r in rows], ["name", "created", "last used"]))


def cmd_tokens_add(args: argparse.Namespace) -> int:
    from regtui.core.services import apitokens

    token = apitokens.add(setup(args), args.name)
    if args.json:
        return emit(args, {"name": args.name, "token": token}, lambda: None)
    print(f"Token {args.name!r} (shown this once; send it as Authorization: Bearer TOKEN):", file=sys.stderr)
    print(token)
    return 0


def cmd_tokens_remove(args: argparse.Namespace) -> int:
    from regtui.core.services import apitokens

    apitokens.remove(setup(args), args.name)
    print(f"Token {args.name!r} removed; calls with it are refused from now on.")
    return 0


def register(sub, add) -> None:
    """The `hooks` and `tokens` commands, on the main parser's subcommands."""
    hooks = sub.add_parser("hooks", help="webhook endpoints of learning platforms (Standard Webhooks)",
                           description="With no subcommand: list the endpoints.")
    hooks.set_defaults(handler=cmd_hooks)
    hooks.add_argument("--json", action="store_true", help="print JSON")
    hsub = hooks.add_subparsers(dest="hooks_cmd", metavar="add|remove|log|deliver|retry")
    sp = add("add", cmd_hooks_add, "add an endpoint; prints its signing secret once", json_flag=True, parent=hsub)
    sp.add_argument("url", help="http(s)://host/path the events are POSTed to")
    sp.add_argument("--events", metavar="PATTERNS",
                    help="comma-separated event kinds, * for any part (default: access.*,learner.*)")
    sp.add_argument("--allow-private", action="store_true", help="allow a private or local address (admins)")
    sp = add("remove", cmd_hooks_remove, "remove an endpoint: remove ID", parent=hsub)
    sp.add_argument("id", type=_endpoint_id, help="the endpoint's id (see `regtui hooks`)")
    sp = add("log", cmd_hooks_log, "recent deliveries, newest first", json_flag=True, parent=hsub)
    sp.add_argument("id", nargs="?", type=_endpoint_id, help="only this endpoint's")
    sp.add_argument("--limit", type=_limit, default=50, help="how many (1-1000, default 50)")
    add("deliver", cmd_hooks_deliver, "send the deliveries that are due now (the scheduler does it too)",
        json_flag=True, parent=hsub)
    sp = add("retry", cmd_hooks_retry, "make an endpoint's failed and waiting deliveries due now", parent=hsub)
    sp.add_argument("id", type=_endpoint_id, help="the endpoint's id (see `regtui hooks`)")

    tokens = sub.add_parser("tokens", help="bearer tokens of the read-only pull API (admins)",
                            description="With no subcommand: list the tokens (never the tokens themselves).")
    tokens.set_defaults(handler=cmd_tokens)
    tokens.add_argument("--json", action="store_true", help="print JSON")
    tsub = tokens.add_subparsers(dest="tokens_cmd", metavar="add|remove")
    sp = add("add", cmd_tokens_add, "make a token; prints it once", json_flag=True, parent=tsub)
    sp.add_argument("name", help="who holds it, e.g. the platform's name")
    sp = add("remove", cmd_tokens_remove, "remove a token: remove NAME", parent=tsub)
    sp.add_argument("name", help="the token's name (see `regtui tokens`)")


def _endpoint_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18):
        raise argparse.ArgumentTypeError(f"{text!r} is not an endpoint id (digits, see `regtui hooks`)")
    return int(text)


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text or 0) <= 1000):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 1000")
    return int(text)

"""The argument parser and ``main``: which command runs which handler, and how errors end."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from regtui import config
from regtui.cli import (batch_commands, commands, export_commands, hooks_commands, operator_commands, portal_commands,
                        scheduler_commands, shop_commands, ssh_commands)
from regtui.cli.common import LIMIT, PAGE, PORT, WHOLE, EscapingStream, Handler, parse_date, record_id
from regtui.core.errors import RegtuiError


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one sentence on stderr and exit 2, like every other usage error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`).\n")


POOL = "the pool: its id or ORDER-LINE, e.g. 8 or R20270301-1A2B3C-1 (see `regtui pools`)"
CUSTOMER = "the customer: its id, email or name"


def build_parser() -> argparse.ArgumentParser:
    """Every command, its arguments and its handler, one function per group of commands."""
    p = _Parser(prog="regtui", description="Sell course seats in bulk and hand them out. With no command, opens the TUI.")
    p.add_argument("--db", help="database URL (default: $REGTUI_DB or a SQLite file in the data folder)")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="act as another operator (admins only)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add = _adder(sub)
    for group in (_setup_commands, _catalog_commands, _customer_commands, _order_commands, _listing_commands,
                  _seat_commands, _audit_and_mail_commands, _template_and_export_commands, _serve_commands):
        group(sub, add)
    shop_commands.register(sub, add)
    hooks_commands.register(sub, add)
    portal_commands.register(sub, add)
    _batch_commands(sub, add)
    ssh_commands.register(sub, add)
    return p


def _adder(sub):
    """``add(name, handler, help, json_flag=False, parent=sub)``: a subcommand that runs ``handler``
    (with ``--json`` if asked), the one way every command module adds its commands."""

    def add(name: str, handler: Handler, help: str, json_flag: bool = False, parent=sub) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help, description=help)
        sp.set_defaults(handler=handler)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    return add


def _setup_commands(sub, add) -> None:
    """init, and operators with their keys and passwords."""
    sp = add("init", commands.cmd_init, "create or upgrade the database; makes you an admin")
    sp.add_argument("--demo", action="store_true", help="also fill it with demo data")

    sp = add("operators", commands.cmd_operators, "list, add or remove operators; their keys and passwords (admins)",
             json_flag=True)
    sp.set_defaults(op_action="list", name=None)
    ops = sp.add_subparsers(dest="op_action", metavar="list|add|remove|key|password|totp")
    add("list", commands.cmd_operators, "list operators (the default)", json_flag=True, parent=ops)
    sp = add("add", commands.cmd_operators, "add an operator or change its role: add NAME --role ROLE", parent=ops)
    sp.add_argument("name", metavar="NAME", help="the operator's login name")
    sp.add_argument("--role", choices=["admin", "limited", "manager"], default="limited", help="the role (default: limited)")
    sp.add_argument("--customer", help=f"with --role manager: the customer they manage ({CUSTOMER})")
    sp = add("remove", commands.cmd_operators, "remove an operator (and its keys)", parent=ops)
    sp.add_argument("name", metavar="NAME", help="the operator's login name")
    operator_commands.register(ops, add)


def _catalog_commands(sub, add) -> None:
    """Products and sessions."""
    sp = add("product", commands.cmd_product_add, "add a product: product CODE NAME")
    sp.add_argument("code", help="a short unique code, e.g. PY")
    sp.add_argument("name", help="the product's name")
    sp = add("session", commands.cmd_session_add, "add a session of a product")
    sp.add_argument("product", help="the product: its id, code or name")
    sp.add_argument("code", help="a short unique code, e.g. PY-2027-03")
    sp.add_argument("name", help="the session's name")
    sp.add_argument("--starts", type=parse_date, metavar="YYYY-MM-DD", help="the day the session starts")
    sp.add_argument("--access-days", type=WHOLE, default=365, metavar="DAYS",
                    help="how long a seat's access lasts by default, 1 to 3,650 days (default 365)")
    sp.add_argument("--open", action="store_true", help="access has no end by default")
    sp.add_argument("--no-codes", action="store_true", help="orders of this session create no pool")
    sp.add_argument("--course-url", metavar="URL", help="where learners open the course (a link on their /me page)")
    add("sessions", commands.cmd_sessions, "list sessions", json_flag=True)


def _customer_commands(sub, add) -> None:
    """Customers, and linking a learner to eCommerce."""
    sp = add("customers", commands.cmd_customers, "list customers with their seats", json_flag=True)
    sp.add_argument("--search", help="only customers whose name or email contains this")
    sp.add_argument("--limit", type=LIMIT, default=200, metavar="N", help="at most N customers, 1 to 1,000,000 (default 200)")
    sp = add("customer", commands.cmd_customer_add, "add a customer (--with-account also creates its learner account)")
    sp.add_argument("--name", required=True, help="the customer's name, e.g. Acme Ltd")
    sp.add_argument("--email", required=True, help="the customer's contact address")
    sp.add_argument("--with-account", action="store_true", help="new customer: create the learner account too (admins)")
    sp.add_argument("--first", help="with --with-account: the learner's first name")
    sp.add_argument("--last", help="with --with-account: the learner's last name")
    sp = add("sync", commands.cmd_sync, "sync a learner to eCommerce: make or link its customer")
    sp.add_argument("email", help="the learner's email address")


def _order_commands(sub, add) -> None:
    """Recording and listing orders."""
    order = sub.add_parser("order", help="orders").add_subparsers(dest="order_cmd", metavar="add", required=True)
    sp = add("add", commands.cmd_order_add, "record an order of seats", json_flag=True, parent=order)
    sp.add_argument("--customer", required=True, help=CUSTOMER)
    sp.add_argument("--session", required=True, help="the session: its id, code or name (see `regtui sessions`)")
    sp.add_argument("--seats", type=WHOLE, required=True, metavar="N", help="how many seats, 1 to 1,000,000")
    sp.add_argument("--number", help="order number (default: generated, e.g. R20270301-1A2B3C)")
    sp.add_argument("--date", type=parse_date, metavar="YYYY-MM-DD", help="the day the order was placed (default: today)")
    sp = add("orders", commands.cmd_orders, "list orders, newest first, a page at a time: number, date, customer, "
             "source, lines and seats", json_flag=True)
    sp.add_argument("--customer", help=f"only this customer's orders ({CUSTOMER})")
    sp.add_argument("--search", help="only orders whose number, customer, external id or source contains this")
    _paging_flags(sp, "orders")


def _listing_commands(sub, add) -> None:
    """Pools, and the people in them."""
    sp = add("pools", commands.cmd_pools, "list pools with their order, product and seats", json_flag=True)
    sp.add_argument("--customer", help=f"only this customer's pools ({CUSTOMER})")
    sp = add("registrations", commands.cmd_registrations, "completed registrations of a pool, a page at a time", json_flag=True)
    sp.add_argument("pool", help=POOL)
    sp.add_argument("--search", help="only learners whose email, name or code contains this")
    _paging_flags(sp, "registrations")
    sp = add("users", commands.cmd_users, "a customer's registration-code users across all its pools, a page at a time",
             json_flag=True)
    sp.add_argument("customer", help=CUSTOMER)
    sp.add_argument("--search", help="only learners whose email, name or code contains this")
    _paging_flags(sp, "users")
    sp = add("invites", commands.cmd_invites, "pending invitations of a pool, a page at a time", json_flag=True)
    sp.add_argument("pool", help=POOL)
    _paging_flags(sp, "invitations")


def _paging_flags(sp: argparse.ArgumentParser, noun: str) -> None:
    """--limit and --after of a list read a page at a time (keyset: see regtui.core.paging)."""
    sp.add_argument("--limit", type=PAGE, default=100, metavar="N", help=f"at most N {noun} per page, 1 to 1,000 (default 100)")
    sp.add_argument("--after", metavar="CURSOR", help="the page after this cursor: the `next` a previous page printed")


def _password_flags(sp: argparse.ArgumentParser) -> None:
    """How a new account's password is given: asked for, or read from standard input."""
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--ask-password", action="store_true", help="prompt for the learner's password (a new account only)")
    g.add_argument("--password-stdin", action="store_true", help="read the password from standard input (a new account only)")


def _seat_commands(sub, add) -> None:
    """Giving, inviting, taking back seats; access dates."""
    sp = add("assign", commands.cmd_assign, "give a seat directly (creates the learner if needed)")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("email", help="the learner's email address")
    sp.add_argument("--first", help="first name (a new account only)")
    sp.add_argument("--last", help="last name (a new account only)")
    sp.add_argument("--start", type=parse_date, metavar="YYYY-MM-DD", help="access starts (default today)")
    sp.add_argument("--end", type=parse_date, metavar="YYYY-MM-DD", help="access ends (default: the session's access length)")
    _password_flags(sp)
    sp = add("invite", commands.cmd_invite, "email invitations: invite POOL EMAIL...", json_flag=True)
    sp.add_argument("pool", help=POOL)
    sp.add_argument("emails", nargs="+", metavar="EMAIL", help="the addresses to invite")
    sp.add_argument("--message", help="extra text in the email")
    sp.add_argument("--instead", metavar="EMAIL", help="invite to the code of this pending invitee instead")
    sp.add_argument("--keep", action="store_true", help="with --instead: keep the other invitation (first to accept wins)")
    sp = add("link", commands.cmd_link, "print a pending invitation's link")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("email", help="the invitee's email address")
    sp = add("resend", commands.cmd_resend, "resend the confirmation (claimed) or the invitation (pending)")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("email", help="the learner's or invitee's email address")
    sp = add("cancel", commands.cmd_cancel, "cancel a pending invitation")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("email", help="the invitee's email address")
    sp = add("reassign", commands.cmd_reassign, "assign a pending invitation's code directly (to the invitee, or --to someone else)")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("email", help="the pending invitee")
    sp.add_argument("--to", metavar="EMAIL", help="give the code to this address instead")
    sp.add_argument("--first", help="first name of the new account (the invitee's, or --to's)")
    sp.add_argument("--last", help="last name of the new account (the invitee's, or --to's)")
    _password_flags(sp)
    sp = add("revoke", commands.cmd_revoke, "remove registrations: access ends, seats become available")
    sp.add_argument("pool", help=POOL)
    sp.add_argument("emails", nargs="+", metavar="EMAIL", help="the learners to remove")
    sp = add("access", commands.cmd_access, "a learner's content access", json_flag=True)
    sp.add_argument("email", help="the learner's email address")
    sp = add("extend", commands.cmd_extend, "edit an access's start/end dates (admins): extend ACCESS, or extend EMAIL POOL")
    sp.add_argument("access", metavar="ACCESS|EMAIL", help="an access id (see `regtui access EMAIL`), or a learner's email with POOL")
    sp.add_argument("pool", nargs="?", help=f"with an email: the pool of their seat ({POOL})")
    sp.add_argument("--start", type=parse_date, metavar="YYYY-MM-DD", help="the new first day")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--end", type=parse_date, metavar="YYYY-MM-DD", help="the new last day")
    g.add_argument("--open", action="store_true", help="no end date")


def _audit_and_mail_commands(sub, add) -> None:
    """The audit log and the outbox."""
    sp = add("audit", commands.cmd_audit, "the audit log, newest first, a page at a time", json_flag=True)
    sp.add_argument("--operator", help="only this operator's events")
    sp.add_argument("--batch", type=record_id, metavar="ID", help="only the events of this batch (see `regtui batch history`)")
    sp.add_argument("--record", help="TYPE or TYPE:ID, e.g. pool:3")
    _paging_flags(sp, "events")
    mail = sub.add_parser("mail", help="the outbox").add_subparsers(dest="mail_cmd", metavar="send|status|retry", required=True)
    add("send", commands.cmd_mail_send, "deliver queued emails (SMTP from $REGTUI_SMTP, else the Maildir); exit 1 when none could be delivered", json_flag=True, parent=mail)
    add("status", commands.cmd_mail_status, "count emails by status (staff only) and list those stuck while sending", json_flag=True, parent=mail)
    add("retry", commands.cmd_mail_retry, "queue failed and stuck emails again", parent=mail)


def _template_and_export_commands(sub, add) -> None:
    """Email templates, and exports to files."""
    sp = add("templates", commands.cmd_templates, "list email templates, or show one with its placeholders", json_flag=True)
    sp.add_argument("name", nargs="?", help="a template's name, e.g. RegCodeEmailText")
    sp = add("template", commands.cmd_template_set, "edit an email template (admins)")
    sp.add_argument("name", help="the template's name (see `regtui templates`)")
    sp.add_argument("--subject", help="the new subject: one line")
    sp.add_argument("--body-file", metavar="FILE", help="a UTF-8 text file with the new body")
    export = sub.add_parser("export", help="a pool's codes or a customer's users to .xlsx or .csv").add_subparsers(
        dest="export_cmd", metavar="pool|users", required=True)
    sp = add("pool", export_commands.cmd_export_pool, "write every code of a pool, with its holder and access, to a file", parent=export)
    sp.add_argument("pool", help=POOL)
    sp.add_argument("file", metavar="FILE.xlsx|FILE.csv", help="the file to write (the format from its suffix)")
    sp = add("users", export_commands.cmd_export_users, "write a customer's users across its pools to a file", parent=export)
    sp.add_argument("customer", help=CUSTOMER)
    sp.add_argument("file", metavar="FILE.xlsx|FILE.csv", help="the file to write (the format from its suffix)")


def _serve_commands(sub, add) -> None:
    """The web pages and the scheduler."""
    sp = add("serve", commands.cmd_serve, "serve the claim and set-password pages (and run the scheduler once a minute)")
    sp.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    sp.add_argument("--port", type=PORT, default=8080, help="the port to listen on, 1 to 65535 (default 8080)")
    sp.add_argument("--no-scheduler", action="store_true", help="do not run the scheduler (another `serve` or cron does)")
    scheduler_commands.register(add)


def _roster_flags(sp: argparse.ArgumentParser) -> None:
    """The options `batch plan` and `batch apply` share: how to read and plan the roster."""
    sp.add_argument("--pool", help="the pool for the whole file (else the roster's pool column)")
    sp.add_argument("--action", choices=["create", "invite", "revoke", "extend"], help="the action for rows without one")
    sp.add_argument("--sync", action="store_true", help="the roster is the whole truth: revoke everyone not on it")
    sp.add_argument("--max-revoke", metavar="N|P%", help="with --sync: the most revokes allowed (default 10%% of the seats)")
    sp.add_argument("--skip-invalid", action="store_true", help="apply the valid rows, report the invalid ones")
    sp.add_argument("--date-format", choices=["dmy", "mdy"], help="how to read dates like 03/04/2027")
    sp.add_argument("--sheet", help="the sheet of an .xlsx to read (default: the first)")
    sp.add_argument("--out", metavar="PLAN.json", help="save the plan, to apply it later exactly")
    sp.add_argument("--report", metavar="FILE.xlsx|.csv", help="write the rows with their status and message")


def _batch_commands(sub, add) -> None:
    """Rosters: plan, apply, template, history."""
    rosters = sub.add_parser("batch", help="rosters: plan, apply, template, history").add_subparsers(
        dest="batch_cmd", metavar="plan|apply|template|history", required=True)

    sp = add("plan", batch_commands.cmd_batch_plan, "dry run: show what a roster would change", json_flag=True, parent=rosters)
    sp.add_argument("roster", help="an .xlsx or .csv roster")
    sp.add_argument("--summary", action="store_true",
                    help="print the errors, warnings and counts, not a line per change (for big files)")
    _roster_flags(sp)
    sp = add("apply", batch_commands.cmd_batch_apply, "apply a roster (or a saved PLAN.json) in one transaction", json_flag=True, parent=rosters)
    sp.add_argument("roster", help="an .xlsx or .csv roster, or a PLAN.json from `batch plan --out`")
    _roster_flags(sp)
    sp.add_argument("--yes", action="store_true", help="do not ask")
    sp = add("template", batch_commands.cmd_batch_template, "write an empty roster template", parent=rosters)
    sp.add_argument("out", metavar="OUT.xlsx", help="the file to write: an .xlsx roster with the columns and their rules")
    sp = add("history", batch_commands.cmd_batch_history, "applied batches, newest first", json_flag=True, parent=rosters)
    sp.add_argument("--search", metavar="TEXT", help="only batches whose file name, operator, pool (1001-1) or customer holds TEXT")
    _paging_flags(sp, "batches")


def main(argv: Sequence[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    # user data (and argparse's echo of a bad argument) never reaches the terminal raw
    sys.stdout, sys.stderr = EscapingStream(out), EscapingStream(err, line_buffered=True)
    try:
        args = build_parser().parse_args(argv)
        handler: Handler = getattr(args, "handler", commands.cmd_tui)
        if handler is commands.cmd_tui:  # the TUI draws the screen itself, user data with markup off
            sys.stdout, sys.stderr = out, err
        return _run(handler, args)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = out, err


def run(args: argparse.Namespace) -> int:
    """Run already parsed arguments (`regtui ssh session` runs the client's command so)."""
    return _run(getattr(args, "handler", commands.cmd_tui), args)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except RegtuiError as exc:
        print(f"regtui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("regtui: interrupted; nothing more was done.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, as other Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        return _unexpected(exc)


def _unexpected(exc: Exception) -> int:
    """Database errors and the like get one sentence; the detail goes to the log file."""
    import logging

    from regtui.core.db import is_database_error

    log = config.data_dir() / "regtui.log"
    logging.basicConfig(filename=log, level=logging.ERROR)
    logging.getLogger("regtui").exception("unexpected error")
    if is_database_error(exc):
        print(f"regtui: the database said: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. Nothing was changed.", file=sys.stderr)
        return 2
    print(f"regtui: unexpected {type(exc).__name__}: {exc}. Details are in {log}.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

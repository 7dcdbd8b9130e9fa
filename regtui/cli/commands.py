"""The commands other than the roster ones: set-up, catalog, customers, pools and seats, mail,
templates, the claim pages and the TUI."""

from __future__ import annotations

import argparse
import getpass
import sys

from regtui import config
from regtui.cli.common import emit, emit_page, print_table, read_text, require_database_file, setup
from regtui.core.errors import UsageError
from regtui.core.words import plural


# --- init, operators -------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from regtui.core import db
    from regtui.core.services import operators, templates, tokens

    config.private_data_dir()
    db.open_database(config.database_url(args.db))
    before, after = db.migrate()
    templates.seed()
    key_made = tokens.create_key()
    me = operators.login_name()
    made = operators.make_first_admin(me)
    print(f"Database ready at schema {after}" + (f" (was {before})." if before else " (new)."))
    if key_made:
        print(f"Secret key made at {config.secret_key_path()} (mode 0600): back it up; keep it with the installation.")
    if made:
        print(f"{me} is an admin.")
    elif not operators.is_operator(me):
        print(f"{me} is not an operator of this database; an admin can add you with "
              f"`regtui operators add {me} --role ROLE`.")
    if args.demo:
        from regtui.core.services import demo

        summary = demo.fill(operators.current())
        print(f"Demo data: {summary}.")
    return 0


def cmd_operators(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, operators

    actor = setup(args)
    if args.op_action in ("add", "remove") and not args.name:
        raise UsageError(f"`regtui operators {args.op_action}` needs the operator's NAME.")
    if args.op_action == "add":
        customer = customers.find(args.customer) if args.customer else None
        row = operators.set_operator(actor, args.name, args.role, customer)
        print(f"{row.name} is {row.role}" + (f" of {customer.name}." if customer else "."))
        return 0
    if args.op_action == "remove":
        operators.remove_operator(actor, args.name)
        print(f"{args.name} is no longer an operator.")
        return 0
    rows = operators.list_operators(actor)
    data = [{"name": r.name, "role": r.role, "customer_id": r.customer_id} for r in rows]
    return emit(args, data, lambda: print_table([(r["name"], r["role"], r["customer_id"] or "") for r in data], ["name", "role", "customer"]))


# --- catalog, customers, orders ------------------------------------------------------------

def cmd_product_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    row = catalog.add_product(setup(args), args.code, args.name)
    print(f"Product {row.code} added (id {row.id}).")
    return 0


def cmd_session_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    actor = setup(args)
    product = catalog.find_product(args.product)
    row = catalog.add_session(actor, product, args.code, args.name, starts=args.starts,
                              access_days=None if args.open else args.access_days, generate_codes=not args.no_codes,
                              course_url=args.course_url)
    print(f"Session {row.code} added (id {row.id}).")
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    setup(args)
    data = [{"id": s.id, "code": s.code, "name": s.name, "product": s.product.name, "generate_codes": s.generate_codes,
             "access_days": s.access_days} for s in catalog.list_sessions()]
    return emit(args, data, lambda: print_table([(d["id"], d["code"], d["name"], d["product"], d["access_days"] or "open") for d in data],
                                            ["id", "code", "name", "product", "access days"]))


def cmd_customers(args: argparse.Namespace) -> int:
    from regtui.core.services import customers

    actor = setup(args)
    rows = customers.listing(actor, search=args.search or "", limit=args.limit)
    data = [{"id": r.id, "name": r.name, "email": r.email, "pools": r.pools, "seats": r.seats, "available": r.available} for r in rows]
    return emit(args, data, lambda: print_table([list(d.values()) for d in data], ["id", "name", "email", "pools", "seats", "available"]))


def cmd_customer_add(args: argparse.Namespace) -> int:
    from regtui.core.services import customers

    actor = setup(args)
    if args.with_account:
        row = customers.new_with_account(actor, args.name, args.email, args.first or "", args.last or "")
        print(f"Customer {row.name} (id {row.id}) and its learner account created; a set-password link is in the outbox.")
    else:
        row = customers.add(actor, args.name, args.email)
        print(f"Customer {row.name} added (id {row.id}).")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from regtui.core.services import learners, shops

    actor = setup(args)
    learner = learners.get(args.email)
    row, created, queued = shops.sync_customer(actor, learner)
    print(f"{'Created' if created else 'Linked'} customer {row.name} (id {row.id}) for {learner.email}."
          + (f" Queued for {queued} shop(s): `regtui shop send` sends it." if queued else ""))
    return 0


def cmd_order_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog, customers, orders

    actor = setup(args)
    customer = customers.find(args.customer)
    session = catalog.find_session(args.session)
    order, pools = orders.add(actor, customer, [orders.OrderLine(session, args.seats)], number=args.number,
                              placed_on=args.date)
    data = {"order": order.number, "date": order.placed_at.date().isoformat(), "customer": customer.name,
            "session": session.code, "seats": args.seats, "pool": pools[0].id if pools else None}
    return emit(args, data, lambda: print(
        f"Order {order.number} of {data['date']}: {plural(args.seats, 'seat')} of {session.code} for {customer.name}"
        + (f"; pool {pools[0].id}." if pools else " (no pool: a single seat or a session without codes).")))


def cmd_orders(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, orders

    actor = setup(args)
    customer = customers.find(args.customer) if args.customer else None
    lines_text: dict[str, str] = {}  # order number -> its lines as every face words them

    def as_dict(row) -> dict:
        lines_text[row.number] = row.lines_text()
        return row.as_dict()

    return emit_page(args, f"orders:{customer.id if customer else 'all'}",
                     lambda **page: orders.page(actor, customer=customer, search=args.search or "", **page),
                     as_dict, lambda data: print_table(
                         [(d["number"], d["date"], d["customer"], d["source"], d["external_id"] or "",
                           lines_text[d["number"]], d["seats"]) for d in data],
                         ["order", "date", "customer", "source", "external id", "lines", "seats"]))


# --- pools, seats ----------------------------------------------------------------------

def cmd_pools(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, pools

    actor = setup(args)
    customer = customers.find(args.customer) if args.customer else None
    rows = pools.listing(actor, customer)
    data = [r.as_dict() for r in rows]
    return emit(args, data, lambda: print_table(
        [(r.id, r.customer, r.order, r.ordered, r.product, r.session, r.seats, r.available, r.pending, r.claimed,
          "over-refunded" if r.over_refunded else "") for r in rows],
        ["pool", "customer", "order", "ordered", "product", "session", "seats", "available", "pending", "claimed", "flag"]))


def cmd_registrations(args: argparse.Namespace) -> int:
    from regtui.core.services import pools, registrations

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    return emit_page(args, f"registrations:{pool.id}",
                     lambda **page: registrations.page(actor, pool, search=args.search or "", **page),
                     lambda r: r.as_dict(), lambda data: print_table(
                         [(d["email"], d["first_name"], d["last_name"], d["code"], d["access_start"],
                           d["access_end"] or "open", d["status"]) for d in data],
                         ["email", "first", "last", "code", "access from", "until", "status"]))


def cmd_users(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, registrations

    actor = setup(args)
    customer = customers.find(args.customer)
    return emit_page(args, f"users:{customer.id}",
                     lambda **page: registrations.customer_page(actor, customer.id, search=args.search or "", **page),
                     lambda r: r.as_dict(), lambda data: print_table(
                         [(d["email"], d["first_name"], d["last_name"], d["pool"], d["session"], d["access_id"],
                           d["access_start"], d["access_end"] or "open", d["status"]) for d in data],
                         ["email", "first", "last", "pool", "session", "access", "from", "until", "status"]))


def cmd_invites(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    # by address: a cursor in the "sent" order holds an ISO datetime ("T"), which SQLite compares
    # as text with its stored "YYYY-MM-DD HH:MM:SS" and so would skip rows
    return emit_page(args, f"invites:{pool.id}", lambda **page: invitations.page(actor, pool, sort="email", **page),
                     lambda r: r.as_dict(), lambda data: print_table(
                         [(d["id"], d["email"], d["code"], d["sent"][:10], d["expires"][:10]) for d in data],
                         ["id", "email", "code", "sent", "expires"]))


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n") or None
    if getattr(args, "ask_password", False):
        return getpass.getpass("Password for the new learner: ") or None
    return None


def cmd_assign(args: argparse.Namespace) -> int:
    from regtui.core.services import pools, registrations
    from regtui.core.services.learners import LearnerSpec

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    spec = LearnerSpec(args.email, args.first or "", args.last or "", _password(args))
    [seat] = registrations.assign(actor, pool, [spec], dates=[(args.start, args.end)])
    print(f"{seat.learner.email} has a seat in pool {pool.id}" + _account_note(args, seat.new_account))
    return 0


def _account_note(args: argparse.Namespace, new_account: bool) -> str:
    """How a sentence about a seat ends: a new account, or an existing one whose names and
    password stay as they were (said, when the operator gave some)."""
    if new_account:
        return " (new account)."
    given = args.first or args.last or getattr(args, "ask_password", False) or getattr(args, "password_stdin", False)
    return " (an existing account: its names and password stay as they were)." if given else "."


def cmd_invite(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    if args.instead:
        inv = invitations.find_pending(actor, pool, args.instead)
        if len(args.emails) != 1:
            raise UsageError("--instead takes exactly one new address.")
        new = invitations.invite_instead(actor, inv, args.emails[0], args.message, keep_others=args.keep)
        print(f"Invited {new.email} to the code of {inv.email}.")
        return 0
    invs = invitations.invite(actor, pool, args.emails, args.message or "")
    data = [{"id": i.id, "email": i.email, "link": invitations.link(i)} for i in invs]
    return emit(args, data, lambda: print(f"Invited {len(invs)}: " + ", ".join(i.email for i in invs) + ". The emails are in the outbox."))


def cmd_link(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = setup(args)
    print(invitations.link(invitations.find_pending(actor, pools.get(actor, args.pool), args.email)))
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = setup(args)
    sent = invitations.resend_for(actor, pools.get(actor, args.pool), args.email)
    print(f"Confirmation for {args.email} queued again." if sent == "confirmation"
          else f"Invitation for {args.email} queued again (same link, new expiry).")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = setup(args)
    inv = invitations.find_pending(actor, pools.get(actor, args.pool), args.email)
    invitations.cancel(actor, inv)
    print(f"Invitation for {inv.email} cancelled.")
    return 0


def cmd_reassign(args: argparse.Namespace) -> int:
    """The code goes to the invitee, or to --to; the names and password given are the new
    account's either way (an existing account keeps its own)."""
    from regtui.core.services import invitations, pools
    from regtui.core.services.learners import LearnerSpec

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    inv = invitations.find_pending(actor, pool, args.email)
    spec = LearnerSpec(args.to or inv.email, args.first or "", args.last or "", _password(args))
    seat = invitations.assign_pending(actor, inv, spec)
    print(f"The code invited for {inv.email} now belongs to {seat.learner.email}" + _account_note(args, seat.new_account))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from regtui.core.services import pools, registrations

    actor = setup(args)
    n = registrations.revoke(actor, pools.get(actor, args.pool), args.emails)
    print(f"Removed {plural(n, 'registration')}; " + ("the seat is" if n == 1 else "the seats are") + " available again.")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from regtui.core.services import access, learners

    actor = setup(args)
    rows = access.for_learner(actor, learners.get(args.email))
    data = [{"id": a.id, "session": a.session.code, "starts": a.starts, "ends": a.ends, "status": access.status_of(a), "code_id": a.code_id} for a in rows]
    return emit(args, data, lambda: print_table([(d["id"], d["session"], d["starts"], d["ends"] or "open", d["status"]) for d in data],
                                            ["access", "session", "starts", "ends", "status"]))


def cmd_extend(args: argparse.Namespace) -> int:
    """extend ACCESS (an id), or extend EMAIL POOL (the access of that learner's seat in the pool)."""
    from regtui.core.ids import parse_id
    from regtui.core.services import access, pools, registrations

    access_id = parse_id(args.access) if args.pool is None else None
    if access_id is None and args.pool is None:
        raise UsageError(f"{args.access!r} is not an access id: give one (see `regtui access EMAIL`), or an email and its POOL.")
    if not (args.start or args.end or args.open):
        raise UsageError("Give --start, --end or --open.")
    actor = setup(args)
    if access_id is None:
        access_id = registrations.access_of(actor, pools.get(actor, args.pool), args.access)
    row = access.extend(actor, access_id, starts=args.start, ends=args.end, open_ended=args.open)
    print(f"Access {row.id} now runs from {row.starts} until {row.ends or 'further notice'} ({access.status_of(row)}).")
    return 0


# --- audit, mail, templates, serve ------------------------------------------------------

def cmd_audit(args: argparse.Namespace) -> int:
    from regtui.core.services import audit

    actor = setup(args)
    return emit_page(args, f"audit:{args.operator}:{args.batch}:{args.record}",
                     lambda **page: audit.page(actor, operator=args.operator, batch_id=args.batch, record=args.record, **page),
                     audit.as_dict, lambda data: print_table(
                         [(e["at"], e["operator"], e["action"], e["record"], e["batch"] or "") for e in data],
                         ["at", "operator", "action", "record", "batch"]))


def cmd_mail_send(args: argparse.Namespace) -> int:
    from regtui.core import mailer
    from regtui.core.services import outbox

    actor = setup(args)
    transport = mailer.transport_from_config()
    if not args.json and sys.stderr.isatty():
        transport = _ProgressTransport(transport, outbox.counts(actor)["queued"], sys.stderr)
    report = outbox.deliver(actor, transport)
    if isinstance(transport, _ProgressTransport):
        transport.done()
    data = report.as_dict() | {"to": mailer.describe()}

    def human() -> None:
        print(f"Sent {report.sent}, to retry {report.retry}, failed {report.failed} ({mailer.describe()}).")
        for line in report.errors:
            print(f"  {line}")

    emit(args, data, human)
    if report.delivered_nothing:  # unreachable, or every email refused: say so to cron and scripts
        print("regtui: no email could be delivered; see the reasons above.", file=sys.stderr)
        return 1
    return 0


class _ProgressTransport:
    """A transport that shows, on a terminal, how many of the queued emails it has tried:
    "Sending 120 of 340…" rewritten in place (at most ten times a second), then cleared."""

    def __init__(self, inner, total: int, stream):
        import time

        self.inner, self.total, self.tried = inner, total, 0
        self.raw = getattr(stream, "raw", stream)  # its own \r must reach the terminal
        self.clock, self.shown = time.monotonic, 0.0

    def send(self, email) -> None:
        try:
            self.inner.send(email)
        finally:
            self.tried += 1
            if self.clock() - self.shown >= 0.1 or self.tried == self.total:
                self.shown = self.clock()
                self.raw.write(f"\rSending {self.tried:,} of {max(self.total, self.tried):,}…")
                self.raw.flush()

    def done(self) -> None:
        if self.tried:
            self.raw.write("\r\x1b[K")
            self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def cmd_mail_status(args: argparse.Namespace) -> int:
    from regtui.core.services import outbox

    actor = setup(args)
    data = outbox.counts(actor)
    stuck = [{"id": e.id, "to": e.to, "subject": e.subject, "message_id": e.message_id, "since": e.claimed_at}
             for e in outbox.stuck(actor)]

    def human() -> None:
        print(", ".join(f"{k} {v}" for k, v in data.items()))
        if stuck:
            print("Stuck while sending (the sender stopped; `regtui mail retry` sends them again, same Message-ID):")
            print_table([(e["id"], e["to"], e["subject"], e["since"], e["message_id"]) for e in stuck],
                        ["id", "to", "subject", "since", "message-id"])
    return emit(args, data | {"stuck_emails": stuck}, human)


def cmd_mail_retry(args: argparse.Namespace) -> int:
    from regtui.core.services import outbox

    n = outbox.retry_failed(setup(args))
    print(f"{plural(n, 'failed or stuck email')} queued again.")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from regtui.core.services import templates

    setup(args)
    if args.name:
        row = templates.get(args.name)
        known = templates.placeholders(args.name)
        data = {"name": row.name, "subject": row.subject, "body": row.body,
                "placeholders": [{"name": p.name, "meaning": p.meaning, "required": p.required} for p in known]}
        return emit(args, data, lambda: print(f"Subject: {row.subject}\n\n{row.body}\n" + "".join(
            f"\n  ${p.name}{' (required)' if p.required else ''}: {p.meaning}" for p in known)))
    data = [{"name": t.name, "subject": t.subject} for t in templates.list_templates()]
    return emit(args, data, lambda: print_table([(d["name"], d["subject"]) for d in data], ["name", "subject"]))


def cmd_template_set(args: argparse.Namespace) -> int:
    from regtui.core.services import templates

    actor = setup(args)
    current = templates.get(args.name)
    body = read_text(args.body_file) if args.body_file else current.body
    templates.save(actor, args.name, args.subject or current.subject, body)
    print(f"Template {args.name} saved.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import threading

    from regtui.core.services import scheduler
    from regtui.web.app import serve

    _check_listen_address(args.host, args.port)
    require_database_file(config.database_url(args.db))
    stop = threading.Event()
    try:
        serve(host=args.host, port=args.port, db_url=args.db,
              background=None if args.no_scheduler else (lambda: scheduler.run_in_background(stop)))
    except (OSError, ValueError) as exc:  # the port is taken, the host is not an address of this machine, ...
        reason = getattr(exc, "strerror", None) or str(exc).rstrip(".")
        raise UsageError(f"Cannot listen on {args.host!r} port {args.port}: {reason}.") from None
    finally:
        stop.set()
    return 0


def _check_listen_address(host: str, port: int) -> None:
    """A host that names no address (a typo, an empty string) is one sentence before the server starts."""
    import socket

    try:
        found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE) if host.strip() else []
    except (OSError, UnicodeError) as exc:
        found, reason = [], getattr(exc, "strerror", None) or str(exc)
    else:
        reason = "give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
    if not found:
        raise UsageError(f"Cannot listen on {host!r}: {reason}.")


def cmd_tui(args: argparse.Namespace) -> int:
    actor = setup(args)
    from regtui.tui.app import RegtuiApp

    RegtuiApp(actor=actor, db_label=_db_label(config.database_url(args.db))).run()
    return 0


def _db_label(url: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme == "sqlite":
        return url.split(":///", 1)[-1]
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"

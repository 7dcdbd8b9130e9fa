"""The command line: parse, call a service, print. No rules live here.

Exit codes: 0 done; 1 refused by a rule (nothing changed); 2 usage or unreadable input;
3 not allowed for this operator. Errors are one sentence on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from typing import Any, Callable, Sequence

from regtui import config
from regtui.core.errors import RegtuiError, UsageError

Handler = Callable[[argparse.Namespace], int]


def _emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> int:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=_json_default))
    else:
        human()
    return 0


def _json_default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if not rows:
        print("(none)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2027-03-01") from None


def _setup(args: argparse.Namespace, *, need_schema: bool = True):
    """Open the database and find the operator."""
    from regtui.core import db
    from regtui.core.services import operators

    db.open_database(config.database_url(args.db))
    if need_schema:
        db.require_schema()
    return operators.current(args.as_name)


# --- init, operators -------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    from regtui.core import db
    from regtui.core.services import operators, templates

    db.open_database(config.database_url(args.db))
    before, after = db.migrate()
    templates.seed()
    me = operators.login_name()
    made = operators.make_first_admin(me)
    print(f"Database ready at schema {after}" + (f" (was {before})." if before else " (new)."))
    if made:
        print(f"{me} is an admin.")
    if args.demo:
        from regtui.core.services import demo

        summary = demo.fill(operators.current())
        print(f"Demo data: {summary}.")
    return 0


def cmd_operators(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, operators

    actor = _setup(args)
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
    return _emit(args, data, lambda: _table([(r["name"], r["role"], r["customer_id"] or "") for r in data], ["name", "role", "customer"]))


# --- catalog, customers, orders ------------------------------------------------------------

def cmd_product_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    row = catalog.add_product(_setup(args), args.code, args.name)
    print(f"Product {row.code} added (id {row.id}).")
    return 0


def cmd_session_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    actor = _setup(args)
    product = catalog.find_product(args.product)
    row = catalog.add_session(actor, product, args.code, args.name, starts=args.starts,
                              access_days=None if args.open else args.access_days, generate_codes=not args.no_codes)
    print(f"Session {row.code} added (id {row.id}).")
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog

    _setup(args)
    data = [{"id": s.id, "code": s.code, "name": s.name, "product": s.product.name, "generate_codes": s.generate_codes,
             "access_days": s.access_days} for s in catalog.list_sessions()]
    return _emit(args, data, lambda: _table([(d["id"], d["code"], d["name"], d["product"], d["access_days"] or "open") for d in data],
                                            ["id", "code", "name", "product", "access days"]))


def cmd_customers(args: argparse.Namespace) -> int:
    from regtui.core.services import customers

    actor = _setup(args)
    rows = customers.listing(actor, search=args.search or "", limit=args.limit)
    data = [{"id": r.id, "name": r.name, "email": r.email, "pools": r.pools, "seats": r.seats, "available": r.available} for r in rows]
    return _emit(args, data, lambda: _table([list(d.values()) for d in data], ["id", "name", "email", "pools", "seats", "available"]))


def cmd_customer_add(args: argparse.Namespace) -> int:
    from regtui.core.services import customers

    actor = _setup(args)
    if args.with_account:
        row = customers.new_with_account(actor, args.name, args.email, args.first or "", args.last or "")
        print(f"Customer {row.name} (id {row.id}) and its learner account created; a set-password link is in the outbox.")
    else:
        row = customers.add(actor, args.name, args.email)
        print(f"Customer {row.name} added (id {row.id}).")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, learners

    actor = _setup(args)
    learner = learners.get(args.email)
    row, created = customers.sync_to_ecommerce(actor, learner)
    print(f"{'Created' if created else 'Linked'} customer {row.name} (id {row.id}) for {learner.email}.")
    return 0


def cmd_order_add(args: argparse.Namespace) -> int:
    from regtui.core.services import catalog, customers, orders

    actor = _setup(args)
    customer = customers.find(args.customer)
    session = catalog.find_session(args.session)
    order, pools = orders.add(actor, customer, [orders.OrderLine(session, args.seats)], number=args.number)
    data = {"order": order.number, "customer": customer.name, "session": session.code, "seats": args.seats,
            "pool": pools[0].id if pools else None}
    return _emit(args, data, lambda: print(
        f"Order {order.number}: {args.seats} seats of {session.code} for {customer.name}"
        + (f"; pool {pools[0].id}." if pools else " (no pool: a single seat or a session without codes).")))


# --- pools, seats ----------------------------------------------------------------------

def cmd_pools(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, pools

    actor = _setup(args)
    customer = customers.find(args.customer) if args.customer else None
    rows = pools.listing(actor, customer)
    data = [r.as_dict() for r in rows]
    return _emit(args, data, lambda: _table(
        [(r.id, r.customer, r.order, r.session, r.seats, r.available, r.pending, r.claimed) for r in rows],
        ["pool", "customer", "order", "session", "seats", "available", "pending", "claimed"]))


def cmd_registrations(args: argparse.Namespace) -> int:
    from regtui.core.services import pools, registrations

    actor = _setup(args)
    rows = registrations.listing(actor, pools.get(actor, args.pool), search=args.search or "")
    data = [r.as_dict() for r in rows]
    return _emit(args, data, lambda: _table([(d["email"], d["first_name"], d["last_name"], d["code"], d["access_start"], d["access_end"] or "open")
                                             for d in data], ["email", "first", "last", "code", "access from", "until"]))


def cmd_users(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, registrations

    actor = _setup(args)
    customer = customers.find(args.customer)
    rows = registrations.of_customer(actor, customer.id, search=args.search or "")
    data = [r.as_dict() for r in rows]
    return _emit(args, data, lambda: _table(
        [(d["email"], d["first_name"], d["last_name"], d["pool"], d["session"], d["access_id"], d["access_start"], d["access_end"] or "open") for d in data],
        ["email", "first", "last", "pool", "session", "access", "from", "until"]))


def cmd_invites(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = _setup(args)
    rows = invitations.listing(actor, pools.get(actor, args.pool))
    data = [r.as_dict() for r in rows]
    return _emit(args, data, lambda: _table([(r.id, r.email, r.code, r.created_at.date(), r.expires_at.date()) for r in rows],
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

    actor = _setup(args)
    pool = pools.get(actor, args.pool)
    spec = LearnerSpec(args.email, args.first or "", args.last or "", _password(args))
    [seat] = registrations.assign(actor, pool, [spec], dates=[(args.start, args.end)])
    print(f"{seat.learner.email} has a seat in pool {pool.id}" + (" (new account)." if seat.new_account else "."))
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = _setup(args)
    pool = pools.get(actor, args.pool)
    if args.instead:
        inv = _pending(actor, pool, args.instead)
        if len(args.emails) != 1:
            raise UsageError("--instead takes exactly one new address.")
        new = invitations.invite_instead(actor, inv, args.emails[0], args.message, keep_others=args.keep)
        print(f"Invited {new.email} to code of {inv.email}.")
        return 0
    invs = invitations.invite(actor, pool, args.emails, args.message or "")
    data = [{"id": i.id, "email": i.email, "link": invitations.link(i)} for i in invs]
    return _emit(args, data, lambda: print(f"Invited {len(invs)}: " + ", ".join(i.email for i in invs) + ". The emails are in the outbox."))


def _pending(actor, pool, email: str):
    from regtui.core.errors import NotFound
    from regtui.core.services import invitations, learners

    _, key = learners.normalise_email(email)
    iid = invitations.pending_keys(pool).get(key)
    if iid is None:
        raise NotFound(f"{email} has no pending invitation in pool {pool.id}.")
    return invitations.get(actor, iid)


def cmd_link(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = _setup(args)
    print(invitations.link(_pending(actor, pools.get(actor, args.pool), args.email)))
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, learners, pools, registrations

    actor = _setup(args)
    pool = pools.get(actor, args.pool)
    _, key = learners.normalise_email(args.email)
    if key in registrations.seated_keys(pool):
        registrations.resend(actor, pool, args.email)
        print(f"Confirmation for {args.email} queued again.")
    else:
        invitations.resend(actor, _pending(actor, pool, args.email))
        print(f"Invitation for {args.email} queued again (same link, new expiry).")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools

    actor = _setup(args)
    pool = pools.get(actor, args.pool)
    invitations.cancel(actor, _pending(actor, pool, args.email))
    print(f"Invitation for {args.email} cancelled.")
    return 0


def cmd_reassign(args: argparse.Namespace) -> int:
    from regtui.core.services import invitations, pools
    from regtui.core.services.learners import LearnerSpec

    actor = _setup(args)
    pool = pools.get(actor, args.pool)
    inv = _pending(actor, pool, args.email)
    spec = LearnerSpec(args.to, args.first or "", args.last or "", _password(args)) if args.to else None
    seat = invitations.assign_pending(actor, inv, spec)
    print(f"The code invited for {args.email} now belongs to {seat.learner.email}.")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from regtui.core.services import pools, registrations

    actor = _setup(args)
    n = registrations.revoke(actor, pools.get(actor, args.pool), args.emails)
    print(f"Removed {n} registration{'s' if n != 1 else ''}; the seats are available again.")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from regtui.core.services import access, learners

    actor = _setup(args)
    rows = access.for_learner(actor, learners.get(args.email))
    data = [{"id": a.id, "session": a.session.code, "starts": a.starts, "ends": a.ends, "status": a.status, "code_id": a.code_id} for a in rows]
    return _emit(args, data, lambda: _table([(d["id"], d["session"], d["starts"], d["ends"] or "open", d["status"]) for d in data],
                                            ["access", "session", "starts", "ends", "status"]))


def cmd_extend(args: argparse.Namespace) -> int:
    from regtui.core.services import access

    actor = _setup(args)
    if not (args.start or args.end or args.open):
        raise UsageError("Give --start, --end or --open.")
    row = access.extend(actor, args.access, starts=args.start, ends=args.end, open_ended=args.open)
    print(f"Access {row.id} now runs from {row.starts} until {row.ends or 'further notice'}.")
    return 0


# --- audit, mail, templates, serve ------------------------------------------------------

def cmd_audit(args: argparse.Namespace) -> int:
    from regtui.core.services import audit

    actor = _setup(args)
    events = [audit.as_dict(e) for e in audit.query(actor, operator=args.operator, batch_id=args.batch, record=args.record, limit=args.limit)]
    return _emit(args, events, lambda: _table([(e["at"], e["operator"], e["action"], e["record"], e["batch"] or "") for e in events],
                                              ["at", "operator", "action", "record", "batch"]))


def cmd_mail_send(args: argparse.Namespace) -> int:
    from regtui.core import mailer
    from regtui.core.services import invitations, outbox

    actor = _setup(args)
    invitations.expire_due()
    report = outbox.deliver(actor, mailer.transport_from_config())
    data = report.as_dict() | {"to": mailer.describe()}

    def human() -> None:
        print(f"Sent {report.sent}, to retry {report.retry}, failed {report.failed} ({mailer.describe()}).")
        for line in report.errors:
            print(f"  {line}")

    _emit(args, data, human)
    return 0


def cmd_mail_status(args: argparse.Namespace) -> int:
    from regtui.core.services import outbox

    _setup(args)
    data = outbox.counts()
    return _emit(args, data, lambda: print(", ".join(f"{k} {v}" for k, v in data.items())))


def cmd_mail_retry(args: argparse.Namespace) -> int:
    from regtui.core.services import outbox

    n = outbox.retry_failed(_setup(args))
    print(f"{n} failed email{'s' if n != 1 else ''} queued again.")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from regtui.core.services import templates

    _setup(args)
    if args.name:
        row = templates.get(args.name)
        data = {"name": row.name, "subject": row.subject, "body": row.body}
        return _emit(args, data, lambda: print(f"Subject: {row.subject}\n\n{row.body}"))
    data = [{"name": t.name, "subject": t.subject} for t in templates.list_templates()]
    return _emit(args, data, lambda: _table([(d["name"], d["subject"]) for d in data], ["name", "subject"]))


def cmd_template_set(args: argparse.Namespace) -> int:
    from regtui.core.services import templates

    actor = _setup(args)
    current = templates.get(args.name)
    body = _read_text(args.body_file) if args.body_file else current.body
    templates.save(actor, args.name, args.subject or current.subject, body)
    print(f"Template {args.name} saved.")
    return 0


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text.") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from regtui.web.app import serve

    serve(host=args.host, port=args.port, db_url=args.db)
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    actor = _setup(args)
    from regtui.tui.app import RegtuiApp

    RegtuiApp(actor=actor, db_label=_db_label(config.database_url(args.db))).run()
    return 0


def _db_label(url: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme == "sqlite":
        return url.split(":///", 1)[-1]
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


# --- batch: rosters -------------------------------------------------------------------------

def _batch_gc(young: int = 200_000) -> None:
    """A roster of 100,000 rows makes millions of small objects and few cycles: collect rarely
    (a young collection every ``young`` new container objects)."""
    import gc

    gc.freeze()
    gc.set_threshold(young, 50, 1000)


def _batch_read(args: argparse.Namespace, on_parse: Callable[[], Any] | None = None):
    try:
        from batch import read_roster
    except ImportError:
        from batch.validate import read_roster
    from batch import progress

    with progress.bar(progress.wanted(getattr(args, "json", False)), "reading") as bar:
        return read_roster(args.roster, sheet=args.sheet, default_action=args.action, default_pool=args.pool,
                           date_format=args.date_format, progress=lambda done, total: bar("rows", done, total),
                           on_parse=on_parse)


def _batch_pool_ref(args: argparse.Namespace, rows) -> str:
    if args.pool:
        return args.pool
    refs = {str(r.pool).strip() for r in rows.rows if getattr(r, "pool", None) not in (None, "")}
    if len(refs) == 1:
        return refs.pop()
    if not refs:
        raise UsageError("Which pool? Give --pool POOL or fill the pool column (see `regtui pools`).")
    raise UsageError(f"The roster names {len(refs)} pools ({', '.join(sorted(refs)[:5])}); a plan is for one pool: "
                     "give --pool or split the file.")


def _batch_start_read(args: argparse.Namespace) -> Callable[[], Any]:
    """Read the roster in a thread; return once python-calamine parses the sheet (it lets go of
    the GIL then), so that the caller opens the database meanwhile. The returned function waits
    for the rows or raises what reading raised."""
    import threading

    box: dict[str, Any] = {}
    parsing = threading.Event()

    def read() -> None:
        try:
            box["rows"] = _batch_read(args, on_parse=parsing.set)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            box["error"] = exc
        finally:
            parsing.set()

    reader = threading.Thread(target=read, name="roster-reader", daemon=True)
    reader.start()
    parsing.wait()

    def rows():
        reader.join()
        if "error" in box:
            raise box.pop("error")
        return box["rows"]

    return rows


def _batch_make_plan(args: argparse.Namespace, actor, read_rows: Callable[[], Any] | None = None):
    from batch import snapshot
    from batch.plan import keys_of, make_plan, revoke_limit
    from regtui.core.services import pools

    if args.max_revoke is not None:
        if not args.sync:
            raise UsageError("--max-revoke goes with --sync.")
        try:
            revoke_limit(args.max_revoke, 0)
        except ValueError:
            raise UsageError(f"--max-revoke {args.max_revoke!r}: give a number like 25 or a percentage like 10%.") from None
    rows = read_rows() if read_rows is not None else _batch_read(args)
    pool = pools.get(actor, _batch_pool_ref(args, rows))
    snap = snapshot.take(pool, keys_of(rows))
    plan = make_plan(rows, snap, sync=args.sync, max_revoke=args.max_revoke, skip_invalid=args.skip_invalid)
    return rows, plan


def _batch_outputs(args: argparse.Namespace, rows, plan) -> None:
    if getattr(args, "out", None):
        from pathlib import Path

        Path(args.out).write_text(plan.to_json(), encoding="utf-8")
        if not getattr(args, "json", False):
            print(f"Plan saved to {args.out}: `regtui batch apply {args.out}` applies exactly it.", file=sys.stderr)
    if getattr(args, "report", None) and rows is not None:
        from batch.report import write_report

        written = write_report(args.report, rows, plan)
        if not getattr(args, "json", False):
            print(f"Report with a status for every row: {written}", file=sys.stderr)


def _batch_print_plan(plan, file=None) -> None:
    from batch.plan import diff_text

    (file or sys.stdout).write(diff_text(plan))  # one write: 100,000 lines in one go


def _batch_json(plan, extra: dict | None = None) -> None:
    data = plan.report_json()
    if extra:
        data.update(extra)
    import orjson

    sys.stdout.write(orjson.dumps(data, default=_json_default, option=orjson.OPT_INDENT_2).decode() + "\n")


def cmd_batch_plan(args: argparse.Namespace) -> int:
    _batch_gc(1_000_000)  # a plan holds little but the roster and its changes: one or two collections
    read_rows = _batch_start_read(args)  # reading overlaps opening the database
    actor = _setup(args)
    rows, plan = _batch_make_plan(args, actor, read_rows)
    if args.json:
        _batch_json(plan)
    else:
        _batch_print_plan(plan)
        sys.stdout.flush()
    _batch_outputs(args, rows, plan)
    return 1 if plan.errors else 0


def cmd_batch_apply(args: argparse.Namespace) -> int:
    from batch import progress
    from batch.apply import apply_plan

    _batch_gc()
    actor = _setup(args)
    rows = None
    if args.roster.lower().endswith(".json"):
        from batch.plan import Plan

        try:
            plan = Plan.from_json(_read_text(args.roster))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{args.roster} is not a plan file made by `regtui batch plan --out`: {exc}.") from None
        if plan.has_passwords:
            raise UsageError("This plan has rows with passwords, which are never saved in a plan file; "
                             "apply the roster itself instead.")
    else:
        rows, plan = _batch_make_plan(args, actor)
    _batch_outputs(args, rows, plan)
    if plan.blocking_errors:
        if args.json:
            _batch_json(plan, {"applied": False})
        else:
            _batch_print_plan(plan)
            print(f"regtui: the plan has {len(plan.blocking_errors)} error(s); nothing was applied.", file=sys.stderr)
        return 1
    if not args.yes:
        if args.json or not sys.stdin.isatty():
            raise UsageError("Applying changes the database: add --yes (or run on a terminal to be asked).")
        _batch_print_plan(plan)
        answer = input("Apply this plan? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing was applied.")
            return 1
    del rows  # the roster as read is no longer needed: keep the apply's peak memory down
    with progress.bar(progress.wanted(args.json), "applying") as bar:
        batch = apply_plan(actor, plan, progress=bar)
    if args.json:
        _batch_json(plan, {"applied": True, "batch": batch.id})
    else:
        s = plan.summary()
        print(f"Batch {batch.id} applied to pool {plan.pool_id}: " + ", ".join(
            f"{s[k]} {k}" for k in ("create", "assign", "invite", "revoke", "extend", "unchanged")) +
            (f"; {s['error']} invalid rows skipped" if s["error"] else "") +
            f". Seats available now: {plan.available_after}. Emails are in the outbox.")
    return 0


def cmd_batch_template(args: argparse.Namespace) -> int:
    from batch.template import write_template

    write_template(args.out)
    print(f"Roster template written to {args.out}.")
    return 0


def cmd_batch_history(args: argparse.Namespace) -> int:
    from regtui.core.services.batches import history

    actor = _setup(args)
    data = history(actor, limit=args.limit)
    return _emit(args, data, lambda: _table(
        [(d["id"], d["applied_at"], d["operator"], d["pool"], d["file_name"], d["sha256"][:12],
          " ".join(f"{k}={v}" for k, v in d["counts"].items() if v), d["outcome"]) for d in data],
        ["batch", "time", "operator", "pool", "file", "sha256", "counts", "outcome"]))


# --- parser ---------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Bad arguments are one sentence on stderr and exit 2, like every other usage error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`).\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="regtui", description="Sell course seats in bulk and hand them out. With no command, opens the TUI.")
    p.add_argument("--db", help="database URL (default: $REGTUI_DB or a SQLite file in the data folder)")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="act as another operator (admins only)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help: str, json_flag: bool = False, parent=sub) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help, description=help)
        sp.set_defaults(handler=handler)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    sp = add("init", cmd_init, "create or upgrade the database; makes you an admin")
    sp.add_argument("--demo", action="store_true", help="also fill it with demo data")

    sp = add("operators", cmd_operators, "list, add or remove operators (admins)", json_flag=True)
    sp.add_argument("op_action", nargs="?", choices=["list", "add", "remove"], default="list")
    sp.add_argument("name", nargs="?")
    sp.add_argument("--role", choices=["admin", "limited", "manager"], default="limited")
    sp.add_argument("--customer", help="the customer a manager manages")

    sp = add("product", cmd_product_add, "add a product: product CODE NAME")
    sp.add_argument("code")
    sp.add_argument("name")
    sp = add("session", cmd_session_add, "add a session of a product")
    sp.add_argument("product")
    sp.add_argument("code")
    sp.add_argument("name")
    sp.add_argument("--starts", type=_date)
    sp.add_argument("--access-days", type=int, default=365)
    sp.add_argument("--open", action="store_true", help="access has no end by default")
    sp.add_argument("--no-codes", action="store_true", help="orders of this session create no pool")
    add("sessions", cmd_sessions, "list sessions", json_flag=True)

    sp = add("customers", cmd_customers, "list customers with their seats", json_flag=True)
    sp.add_argument("--search")
    sp.add_argument("--limit", type=int, default=200)
    sp = add("customer", cmd_customer_add, "add a customer (--with-account also creates its learner account)")
    sp.add_argument("--name", required=True)
    sp.add_argument("--email", required=True)
    sp.add_argument("--with-account", action="store_true", help="new customer: create the learner account too (admins)")
    sp.add_argument("--first")
    sp.add_argument("--last")
    sp = add("sync", cmd_sync, "sync a learner to eCommerce: make or link its customer")
    sp.add_argument("email")

    order = sub.add_parser("order", help="orders").add_subparsers(dest="order_cmd", metavar="add", required=True)
    sp = add("add", cmd_order_add, "record an order of seats", json_flag=True, parent=order)
    sp.add_argument("--customer", required=True, help="id, email or name")
    sp.add_argument("--session", required=True, help="id, code or name")
    sp.add_argument("--seats", type=int, required=True)
    sp.add_argument("--number", help="order number (default: generated)")

    sp = add("pools", cmd_pools, "list pools with their seats", json_flag=True)
    sp.add_argument("--customer")
    sp = add("registrations", cmd_registrations, "completed registrations of a pool", json_flag=True)
    sp.add_argument("pool")
    sp.add_argument("--search")
    sp = add("users", cmd_users, "a customer's registration-code users across all its pools", json_flag=True)
    sp.add_argument("customer", help="id, email or name")
    sp.add_argument("--search")
    sp = add("invites", cmd_invites, "pending invitations of a pool", json_flag=True)
    sp.add_argument("pool")

    def password_flags(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--ask-password", action="store_true", help="prompt for the learner's password")
        g.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    sp = add("assign", cmd_assign, "give a seat directly (creates the learner if needed)")
    sp.add_argument("pool")
    sp.add_argument("email")
    sp.add_argument("--first")
    sp.add_argument("--last")
    sp.add_argument("--start", type=_date, help="access starts (default today)")
    sp.add_argument("--end", type=_date, help="access ends (default: the session's access length)")
    password_flags(sp)
    sp = add("invite", cmd_invite, "email invitations: invite POOL EMAIL...", json_flag=True)
    sp.add_argument("pool")
    sp.add_argument("emails", nargs="+")
    sp.add_argument("--message", help="extra text in the email")
    sp.add_argument("--instead", metavar="EMAIL", help="invite to the code of this pending invitee instead")
    sp.add_argument("--keep", action="store_true", help="with --instead: keep the other invitation (first to accept wins)")
    sp = add("link", cmd_link, "print a pending invitation's link")
    sp.add_argument("pool")
    sp.add_argument("email")
    sp = add("resend", cmd_resend, "resend the confirmation (claimed) or the invitation (pending)")
    sp.add_argument("pool")
    sp.add_argument("email")
    sp = add("cancel", cmd_cancel, "cancel a pending invitation")
    sp.add_argument("pool")
    sp.add_argument("email")
    sp = add("reassign", cmd_reassign, "assign a pending invitation's code directly (to the invitee, or --to someone else)")
    sp.add_argument("pool")
    sp.add_argument("email", help="the pending invitee")
    sp.add_argument("--to", help="give the code to this address instead")
    sp.add_argument("--first")
    sp.add_argument("--last")
    password_flags(sp)
    sp = add("revoke", cmd_revoke, "remove registrations: access ends, seats become available")
    sp.add_argument("pool")
    sp.add_argument("emails", nargs="+")
    sp = add("access", cmd_access, "a learner's content access", json_flag=True)
    sp.add_argument("email")
    sp = add("extend", cmd_extend, "edit an access's start/end dates (admins)")
    sp.add_argument("access", type=int, help="access id (see `regtui access EMAIL`)")
    sp.add_argument("--start", type=_date)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--end", type=_date)
    g.add_argument("--open", action="store_true", help="no end date")

    sp = add("audit", cmd_audit, "the audit log, newest first", json_flag=True)
    sp.add_argument("--operator")
    sp.add_argument("--batch", type=int)
    sp.add_argument("--record", help="TYPE or TYPE:ID, e.g. pool:3")
    sp.add_argument("--limit", type=int, default=100)

    mail = sub.add_parser("mail", help="the outbox").add_subparsers(dest="mail_cmd", metavar="send|status|retry", required=True)
    add("send", cmd_mail_send, "deliver queued emails (SMTP from $REGTUI_SMTP, else the Maildir)", json_flag=True, parent=mail)
    add("status", cmd_mail_status, "count emails by status", json_flag=True, parent=mail)
    add("retry", cmd_mail_retry, "queue failed emails again", parent=mail)

    sp = add("templates", cmd_templates, "list email templates, or show one", json_flag=True)
    sp.add_argument("name", nargs="?")
    sp = add("template", cmd_template_set, "edit an email template (admins)")
    sp.add_argument("name")
    sp.add_argument("--subject")
    sp.add_argument("--body-file", help="a UTF-8 text file with the new body")

    sp = add("serve", cmd_serve, "serve the claim and set-password pages")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)

    batch = sub.add_parser("batch", help="rosters: plan, apply, template, history").add_subparsers(
        dest="batch_cmd", metavar="plan|apply|template|history", required=True)

    def roster_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--pool", help="the pool for the whole file (else the roster's pool column)")
        sp.add_argument("--action", choices=["create", "invite", "revoke", "extend"], help="the action for rows without one")
        sp.add_argument("--sync", action="store_true", help="the roster is the whole truth: revoke everyone not on it")
        sp.add_argument("--max-revoke", metavar="N|P%", help="with --sync: the most revokes allowed (default 10%% of the seats)")
        sp.add_argument("--skip-invalid", action="store_true", help="apply the valid rows, report the invalid ones")
        sp.add_argument("--date-format", choices=["dmy", "mdy"], help="how to read dates like 03/04/2027")
        sp.add_argument("--sheet", help="the sheet of an .xlsx to read (default: the first)")
        sp.add_argument("--out", metavar="PLAN.json", help="save the plan, to apply it later exactly")
        sp.add_argument("--report", metavar="FILE.xlsx|.csv", help="write the rows with their status and message")

    sp = add("plan", cmd_batch_plan, "dry run: show what a roster would change", json_flag=True, parent=batch)
    sp.add_argument("roster", help="an .xlsx or .csv roster")
    roster_flags(sp)
    sp = add("apply", cmd_batch_apply, "apply a roster (or a saved PLAN.json) in one transaction", json_flag=True, parent=batch)
    sp.add_argument("roster", help="an .xlsx or .csv roster, or a PLAN.json from `batch plan --out`")
    roster_flags(sp)
    sp.add_argument("--yes", action="store_true", help="do not ask")
    sp = add("template", cmd_batch_template, "write an empty roster template", parent=batch)
    sp.add_argument("out", metavar="OUT.xlsx")
    sp = add("history", cmd_batch_history, "applied batches, newest first", json_flag=True, parent=batch)
    sp.add_argument("--limit", type=int, default=100)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = getattr(args, "handler", cmd_tui)
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

    from peewee import DatabaseError, InterfaceError

    log = config.data_dir() / "regtui.log"
    logging.basicConfig(filename=log, level=logging.ERROR)
    logging.getLogger("regtui").exception("unexpected error")
    if isinstance(exc, (DatabaseError, InterfaceError)):
        print(f"regtui: the database said: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. Nothing was changed.", file=sys.stderr)
        return 2
    print(f"regtui: unexpected {type(exc).__name__}: {exc}. Details are in {log}.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The CLI as a face (issues 9 and 10): names and greetings, template placeholders, orders,
one service per decision, wording, help, export. Driven in new `python -m regtui` processes."""

from __future__ import annotations

import argparse
import csv
import os
import pty
import subprocess
import sys

import pytest

from conftest import ROOT
from regtui.cli import build_parser
from regtui.core.services import templates
from test_cli import _setup_catalog, _verbs, db_dump, fails, here, js, js_process, ok, sqlite_only


def _maildir_text(home) -> str:
    return "\n".join(f.read_text(errors="replace") for f in (home / "maildir" / "new").iterdir())


# --- issue 9 item 3: names and greetings -------------------------------------------------------

@sqlite_only
def test_reassign_to_the_invitee_uses_the_names_and_password_given(cli):
    pool = _setup_catalog(here)
    ok(here, "invite", pool, "dan@example.com")
    r = ok(cli, "reassign", pool, "dan@example.com", "--first", "Dan", "--last", "Dean", "--password-stdin",
           input="a long enough passphrase\n")
    assert "dan@example.com" in r.stdout and "new account" in r.stdout
    [reg] = js(cli, "registrations", pool)["rows"]
    assert (reg["email"], reg["first_name"], reg["last_name"]) == ("dan@example.com", "Dan", "Dean")
    # an existing account keeps its own names, and the sentence says so
    ok(here, "invite", pool, "dan2@example.com")
    ok(here, "reassign", pool, "dan2@example.com", "--first", "D", "--last", "Two")
    ok(here, "revoke", pool, "dan2@example.com")
    ok(here, "invite", pool, "dan2@example.com")
    r = ok(cli, "reassign", pool, "dan2@example.com", "--first", "Other", "--last", "Name")
    assert "existing account" in r.stdout


@sqlite_only
def test_a_greeting_without_a_name_reads_well(cli, home):
    pool = _setup_catalog(here)
    ok(cli, "assign", pool, "noname@example.com")
    ok(here, "assign", pool, "named@example.com", "--first", "Ada", "--last", "Byron")
    ok(cli, "mail", "send")
    text = _maildir_text(home)
    assert "Hello ," not in text and "Hello,\n" in text and "Hello Ada,\n" in text
    # the Python renderer and the SQL one agree (each seat's email is rendered by the database)
    for values, expected in (({"first_name": "", "last_name": ""}, "Dear, hi"), ({"first_name": "Ada", "last_name": ""}, "Dear Ada, hi"),
                             ({"first_name": "", "last_name": "Byron"}, "Dear Byron, hi"), ({}, "Dear $first_name $last_name, hi")):
        assert templates.render_text("Dear $first_name $last_name, hi", values) == expected


# --- issue 9 item 4, issue 10 item 4: placeholders -------------------------------------------------

@sqlite_only
def test_templates_declare_their_placeholders_and_saving_checks_them(cli, tmp_path):
    _setup_catalog(here)
    body = tmp_path / "body.txt"
    before = db_dump()
    body.write_text("Hello, claim your seat in $session.\n")
    msg = fails(cli, 2, "template", "RegCodeEmailText", "--body-file", str(body))
    assert "$link" in msg and "must contain" in msg
    for unknown in ("$nonsense", "$contact", "${contact}"):
        body.write_text(f"Hello, {unknown} says: $link\n")
        msg = fails(here, 2, "template", "RegCodeEmailText", "--body-file", str(body))
        assert unknown.strip("${}") in msg and "$link" in msg and "$expires" in msg  # names the known ones
    msg = fails(here, 2, "template", "SetPasswordText", "--subject", "For $nobody")
    assert "$nobody" in msg
    assert db_dump() == before
    body.write_text("Hi,\n$customer offers you a seat: $link (until $expires)\n")
    ok(cli, "template", "RegCodeEmailText", "--body-file", str(body))
    shown = js_process(cli, "templates", "RegCodeEmailText")
    assert {"name": "link", "required": True} == {k: shown["placeholders"][0][k] for k in ("name", "required")}
    assert {p["name"] for p in shown["placeholders"]} >= {"customer", "session", "expires", "message"}
    assert "$link (required)" in ok(here, "templates", "RegCodeEmailText").stdout
    # every template the program ships is declared and valid by its own rules
    for name, (subject, default_body) in templates.DEFAULTS.items():
        assert templates.placeholders(name), name
        templates.check(subject, default_body, name)


# --- issue 9 item 8, issue 10 item 10: orders ------------------------------------------------------

@sqlite_only
def test_orders_are_listed_with_date_and_source_and_pools_show_order_date_and_product(cli):
    pool = _setup_catalog(here)
    added = js_process(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "2",
                       "--number", "PO-7", "--date", "2026-06-15")
    assert added["date"] == "2026-06-15"
    orders = js_process(cli, "orders")["rows"]
    assert [o["number"] for o in orders][0] != "PO-7"  # newest first: PO-7 was placed in June
    [po7] = [o for o in orders if o["number"] == "PO-7"]
    assert po7 | {"customer_id": 0} == {"number": "PO-7", "date": "2026-06-15", "customer": "Acme Ltd", "customer_id": 0,
                                       "source": "manual", "external_id": None,
                                       "lines": [{"product": "Python", "session": "PY-1", "seats": 2, "pool": added["pool"],
                                                  "access": None}], "seats": 2}
    table = ok(cli, "orders").stdout
    assert "PO-7" in table and "2026-06-15" in table and "manual" in table
    pools = ok(cli, "pools").stdout.splitlines()
    assert pools[0].split()[:6] == ["pool", "customer", "order", "ordered", "product", "session"]
    assert any("PO-7" in line and "2026-06-15" in line and "Python" in line for line in pools)
    [row] = [p for p in js(cli, "pools") if p["id"] == int(pool)]
    assert row["product"] == "Python" and row["ordered"]
    # a taken number is a refusal (exit 1); a day not yet come is refused; nothing changes
    before = db_dump()
    assert "taken" in fails(cli, 1, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "2", "--number", "PO-7")
    fails(here, 1, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "2", "--date", "2999-01-01")
    fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "2", "--date", "15/06/2026")
    assert db_dump() == before
    # a manager sees their own customer's orders only
    ok(here, "customer", "--name", "Other", "--email", "o@other.example")
    ok(here, "order", "add", "--customer", "Other", "--session", "PY-1", "--seats", "2")
    ok(here, "operators", "add", "hr", "--role", "manager", "--customer", "Acme Ltd")
    assert {o["customer"] for o in js(cli, "--as", "hr", "orders")["rows"]} == {"Acme Ltd"}
    fails(here, 3, "--as", "hr", "orders", "--customer", "Other")


@sqlite_only
def test_a_one_seat_order_shows_its_line_and_what_it_became(cli):
    """`order add --seats 1` makes no pool: `orders` still shows its product, session and seat, and
    says why it has no pool, in the table and in --json, next to a pool line."""
    _setup_catalog(here)
    one = js_process(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "1", "--number", "PO-1")
    assert one["pool"] is None
    [po1] = [o for o in js(cli, "orders")["rows"] if o["number"] == "PO-1"]
    assert po1["lines"] == [{"product": "Python", "session": "PY-1", "seats": 1, "pool": None, "access": None}]
    assert po1["seats"] == 1
    [row] = [line for line in ok(cli, "orders").stdout.splitlines() if line.startswith("PO-1 ")]
    assert "Python PY-1 ×1 (no pool: one seat)" in row
    # a pool line says its pool
    three = js(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "3", "--number", "PO-3")
    [row] = [line for line in ok(cli, "orders").stdout.splitlines() if line.startswith("PO-3 ")]
    assert f"Python PY-1 ×3 (pool {three['pool']})" in row


# --- issue 9 item 9: the CLI asks services; reads do not write -------------------------------------

@sqlite_only
def test_an_invitation_past_its_expiry_is_not_pending_and_reading_it_writes_nothing(cli):
    pool = _setup_catalog(here)
    ok(here, "invite", pool, "late@example.com")
    ok(here, "assign", pool, "seated@example.com")
    later = {"REGTUI_NOW": "2099-01-01T09:00:00"}
    before = db_dump()
    for verb in ("link", "cancel", "resend", "reassign"):
        r = cli(verb, pool, "late@example.com", env=later)
        assert r.returncode == 2 and "no pending invitation" in r.stderr, (verb, r.stderr)
    r = cli("mail", "send", "--json", env=later)  # sending does not sweep invitations (the scheduler does)
    assert r.returncode == 0
    after = db_dump()
    assert after["Invitation"] == before["Invitation"] and after["Code"] == before["Code"]
    # resend chooses by itself: the seat holder gets their confirmation, the invitee their invitation
    assert "Confirmation" in ok(cli, "resend", pool, "seated@example.com").stdout
    assert "Invitation" in ok(cli, "resend", pool, "late@example.com").stdout


# --- issue 10 item 11: wording ------------------------------------------------------------------

@sqlite_only
def test_counts_are_worded_for_one_and_many(cli):
    _setup_catalog(here)
    r = ok(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "1")
    assert "1 seat of" in r.stdout and "1 seats" not in r.stdout
    pool = str(js(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "2")["pool"])
    ok(here, "assign", pool, "Mixed.Case@Example.com")
    r = ok(cli, "revoke", pool, "mixed.case@example.com")
    assert "Removed 1 registration;" in r.stdout and "the seat is available" in r.stdout


@sqlite_only
def test_a_sync_plan_and_a_bad_address_read_as_one_sentence(cli, tmp_path):
    pool = _setup_catalog(here)
    ok(here, "assign", pool, "Gone.Person@Example.com")
    roster = tmp_path / "roster.csv"
    roster.write_text("email,first_name,last_name\nnew@example.com,New,Person\n", encoding="utf-8")
    out = ok(cli, "batch", "plan", str(roster), "--pool", pool, "--action", "invite", "--sync", "--max-revoke", "5").stdout
    assert "(invitation to be emailed)" in out and "invitation emailed" not in out  # a plan is a dry run
    assert "(not on the roster)" in out and "(sync))" not in out
    # the revoked learner's address as typed, as every other face shows it (not its lower-cased key)
    assert "Gone.Person@Example.com" in out and "gone.person@example.com" not in out
    r = cli("assign", pool, "someone@localhost-no-dot")
    assert r.returncode != 0 and "; it should" in r.stderr and "; It" not in r.stderr, r.stderr


def test_a_command_before_init_leaves_no_database_file(tmp_path):
    env = dict(os.environ, REGTUI_HOME=str(tmp_path), REGTUI_DB=f"sqlite:///{tmp_path / 'fresh.db'}")
    for args in (("pools",), ("orders", "--json"), ("batch", "history"), ("export", "pool", "1", str(tmp_path / "x.csv")),
                 ("serve", "--no-scheduler")):
        r = subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True, text=True, env=env, cwd=ROOT)
        assert r.returncode == 2 and "regtui init" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert not (tmp_path / "fresh.db").exists(), args


# --- issue 10 item 18: help, extend by email and pool, progress ------------------------------------

def test_help_describes_every_argument_with_its_format():
    parser = build_parser()
    for verb in _verbs(parser):
        sub = parser
        for word in verb:
            sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, (verb, action.dest)
            if action.dest == "pool" or action.dest.endswith("pool"):
                assert "ORDER-LINE" in action.help or "pool" in action.help, (verb, action.dest)
            if action.type is not None and getattr(action.type, "__name__", "") == "parse_date":
                assert action.metavar == "YYYY-MM-DD", (verb, action.dest)


@sqlite_only
def test_extend_takes_an_email_and_a_pool(cli):
    pool = _setup_catalog(here)
    ok(here, "assign", pool, "alice@example.com", "--end", "2027-06-30")
    ok(cli, "extend", "alice@example.com", pool, "--end", "2028-01-31")
    assert js(cli, "access", "alice@example.com")[0]["ends"] == "2028-01-31"
    fails(here, 2, "extend", "nobody@example.com", pool, "--end", "2028-01-31")
    fails(here, 2, "extend", "alice@example.com", "--end", "2028-01-31")  # an email needs its pool


@sqlite_only
def test_mail_send_shows_progress_on_a_terminal(cli):
    pool = _setup_catalog(here)
    ok(here, "invite", pool, "a@example.com", "b@example.com", "c@example.com")
    parent, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "regtui", "mail", "send"], stdout=subprocess.PIPE, stderr=child,
                            env=dict(os.environ), cwd=ROOT)
    os.close(child)
    out, _ = proc.communicate(timeout=120)
    shown = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(parent)
    assert proc.returncode == 0 and b"Sent 3" in out
    assert b"Sending 3 of 3" in shown
    # not on a pipe: the output stays one line
    r = ok(cli, "mail", "send")
    assert "Sending" not in r.stdout + r.stderr


# --- issue 10 item 20: export -----------------------------------------------------------------

@sqlite_only
def test_export_a_pool_and_a_customers_users(cli, tmp_path):
    from openpyxl import load_workbook

    pool = _setup_catalog(here)
    ok(here, "assign", pool, "alice@example.com", "--first", "=HYPERLINK(\"http://evil\")", "--last", "A",
       "--start", "2027-01-01", "--end", "2027-06-30")
    ok(here, "invite", pool, "pending@example.com")
    r = ok(cli, "export", "pool", pool, str(tmp_path / "pool.csv"))
    assert "5 codes" in r.stdout
    with open(tmp_path / "pool.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows].count("available") == 3
    [alice] = [r for r in rows if r["email"] == "alice@example.com"]
    assert alice["first_name"] == "'=HYPERLINK(\"http://evil\")" and alice["access_end"] == "2027-06-30"
    assert [r["email"] for r in rows if r["state"] == "pending"] == ["pending@example.com"]
    ok(cli, "export", "users", "Acme Ltd", str(tmp_path / "users.xlsx"))
    sheet = load_workbook(tmp_path / "users.xlsx").active
    header, *data = list(sheet.values)
    assert header[:3] == ("email", "first_name", "last_name")
    assert data[0][0] == "alice@example.com" and data[0][1] == "=HYPERLINK(\"http://evil\")"
    assert sheet.cell(row=2, column=2).data_type == "s"  # text, not a formula
    # a manager may export their own customer's only
    ok(here, "customer", "--name", "Other", "--email", "o@other.example")
    ok(here, "operators", "add", "hr", "--role", "manager", "--customer", "Other")
    fails(cli, 3, "--as", "hr", "export", "users", "Acme Ltd", str(tmp_path / "no.csv"))
    assert not (tmp_path / "no.csv").exists()


# --- the same services on SQLite and PostgreSQL ---------------------------------------------------

@pytest.mark.storage
def test_the_services_behind_these_commands_on_each_backend(admin, tmp_path):
    import datetime as dt

    from regtui.core import clock
    from regtui.core.errors import NotFound
    from regtui.core.services import exports, invitations, orders, registrations
    from regtui.core.services.learners import LearnerSpec
    from test_core_support import mails, make_customer, make_pool, make_session

    customer = make_customer(admin)
    pool = make_pool(admin, 4, customer=customer, session=make_session(admin))
    orders.add(admin, customer, [orders.OrderLine(pool.session, 2)], number="OLD-1", placed_on=dt.date(2026, 1, 5))
    listed = orders.page(admin, customer=customer).rows
    assert [o.number for o in listed][-1] == "OLD-1" and listed[-1].placed == dt.date(2026, 1, 5)
    assert listed[0].seats == 4 and listed[0].source == "manual"
    registrations.assign(admin, pool, [LearnerSpec("nameless@example.com")])
    registrations.assign(admin, pool, [LearnerSpec("ada@example.com", "Ada", "")])
    [nameless] = mails("nameless@example.com")
    assert nameless.body.startswith("Hello,\n")
    assert mails("ada@example.com")[0].body.startswith("Hello Ada,\n")
    [inv] = invitations.invite(admin, pool, ["late@example.com"])
    assert invitations.find_pending(admin, pool, "LATE@example.com").id == inv.id
    assert invitations.resend_for(admin, pool, "ada@example.com") == "confirmation"
    assert invitations.resend_for(admin, pool, "late@example.com") == "invitation"
    table = exports.pool_table(admin, pool)
    assert sorted(r[1] for r in table.rows) == ["available", "claimed", "claimed", "pending"]
    assert exports.write(tmp_path / "p.xlsx", table) == 4
    clock.set_now(dt.datetime(2099, 1, 1, 9))
    try:
        with pytest.raises(NotFound):
            invitations.find_pending(admin, pool, "late@example.com")
    finally:
        clock.set_now(None)


@sqlite_only
def test_refusals_name_the_address_as_typed(cli):
    pool = _setup_catalog(here)
    ok(here, "invite", pool, "Bob.Smith@Example.com")
    assert "Bob.Smith@Example.com already has a pending invitation" in fails(cli, 1, "invite", pool, "Bob.Smith@Example.com")
    ok(here, "assign", pool, "Ann.Lee@Example.com")
    assert "Ann.Lee@Example.com already has a seat" in fails(here, 1, "invite", pool, "Ann.Lee@Example.com")
    assert "Bob.Smith@Example.com" in ok(here, "cancel", pool, "bob.smith@example.com").stdout

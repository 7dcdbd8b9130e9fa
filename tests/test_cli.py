"""The command line as a user runs it: a new `python -m regtui` process per command,
against the test's database (REGTUI_DB) and data folder (REGTUI_HOME)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import subprocess
import sys
from unittest import mock

import pytest

from conftest import run_cli
from regtui.cli import build_parser, main
from regtui.core.models import database
from test_core_support import dump

POOL_KEYS = {"id", "customer", "customer_id", "order", "session", "seats", "available", "pending", "claimed"}
REG_KEYS = {"email", "first_name", "last_name", "access_start", "access_end"}

# The long scenarios run on SQLite only: the CLI is the same over both backends, whose rules
# the core tests check on each; test_postgres_smoke runs the CLI against PostgreSQL.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def ok(cli, *args, input=None):
    r = cli(*args, input=input)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def js(cli, *args):
    """Read JSON back. Writes and failures run in a new process as a user would; the many
    read-backs run the same `regtui.cli.main` in this process, to keep the suite quick."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--json"])
    database.close()
    assert code == 0, (args, err.getvalue())
    return json.loads(out.getvalue())


def here(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """`regtui ARGS` run by `regtui.cli.main` in this process: the same parsing, services,
    output and exit codes, without a new interpreter. Most calls go through here to keep
    the suite quick; each scenario still runs its key commands through `cli` (a process)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "stdin", io.StringIO(input or "")):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            database.close()
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def js_process(cli, *args):
    return json.loads(ok(cli, *args, "--json").stdout)


def fails(cli, code, *args, input=None) -> str:
    """Run a command that must fail with ``code`` and one sentence on stderr; return it."""
    r = cli(*args, input=input)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def db_dump():
    """The whole database, read in this process (then let go again for the next command)."""
    try:
        return dump()
    finally:
        database.close()


def _setup_catalog(cli):
    ok(cli, "init")
    ok(cli, "product", "PY", "Python")
    ok(cli, "session", "PY", "PY-1", "Python March", "--access-days", "90")
    ok(cli, "customer", "--name", "Acme Ltd", "--email", "hr@acme.example.com")
    order = js_process(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "5")
    assert isinstance(order["pool"], int)
    return str(order["pool"])


def _pool(cli, pool_id):
    [row] = [p for p in js(cli, "pools") if str(p["id"]) == str(pool_id)]
    assert row["available"] + row["pending"] + row["claimed"] == row["seats"]
    return row


# --- init, demo -----------------------------------------------------------------------------

@sqlite_only
def test_init_twice_is_safe_and_demo_fills_pools(cli):
    first = ok(cli, "init")
    assert "is an admin" in first.stdout
    again = ok(cli, "init")
    assert "schema" in again.stdout and "is an admin" not in again.stdout
    before = db_dump()
    ok(cli, "init")
    assert db_dump() == before
    demo = ok(cli, "init", "--demo")
    assert "Demo data:" in demo.stdout and "pools" in demo.stdout
    pools = js_process(cli, "pools")
    assert len(pools) >= 5
    for p in pools:
        assert POOL_KEYS <= set(p), set(p)
        assert p["available"] + p["pending"] + p["claimed"] == p["seats"]
        assert min(p["available"], p["pending"], p["claimed"]) >= 0
    assert any(p["claimed"] for p in pools) and any(p["pending"] for p in pools)
    # a second --demo leaves the data as it was
    before = db_dump()
    assert "already there" in ok(cli, "init", "--demo").stdout
    assert js(cli, "pools") == pools
    assert db_dump()["Pool"] == before["Pool"]


# --- the whole seat workflow ------------------------------------------------------------------

@sqlite_only
def test_seat_workflow_with_audit_and_mail(cli, home):
    pool = _setup_catalog(here)
    # customers and sessions can be named by id, email or name / id, code or name
    customers = js(cli, "customers")
    [acme] = [c for c in customers if c["name"] == "Acme Ltd"]
    [session] = js(cli, "sessions")
    for customer_ref, session_ref in ((str(acme["id"]), str(session["id"])), ("HR@acme.example.com", "Python March")):
        order = js_process(cli, "order", "add", "--customer", customer_ref, "--session", session_ref, "--seats", "2")
        assert order["pool"] and order["customer"] == "Acme Ltd" and order["session"] == "PY-1"
    assert js_process(here, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "1")["pool"] is None
    assert _pool(cli, pool) == {**_pool(cli, pool), "seats": 5, "available": 5, "pending": 0, "claimed": 0}

    # assign, with dates and with a password read from stdin
    ok(here, "assign", pool, "Alice@Example.com", "--first", "Alice", "--last", "Archer",
       "--start", "2027-01-01", "--end", "2027-06-30")
    ok(cli, "assign", pool, "carol@example.com", "--password-stdin", input="a fine passphrase\n")
    regs = js(cli, "registrations", pool)["rows"]
    assert [r["email"] for r in regs] == ["Alice@Example.com", "carol@example.com"]
    for r in regs:
        assert REG_KEYS <= set(r)
        dt.date.fromisoformat(r["access_start"]), dt.date.fromisoformat(r["access_end"])
    assert (regs[0]["first_name"], regs[0]["last_name"]) == ("Alice", "Archer")
    assert (regs[0]["access_start"], regs[0]["access_end"]) == ("2027-01-01", "2027-06-30")
    assert regs[1]["access_end"] == (dt.date.fromisoformat(regs[1]["access_start"]) + dt.timedelta(days=90)).isoformat()

    # invitations: invite, list, link, resend, cancel, invite instead, reassign
    sent = js_process(cli, "invite", pool, "dan@example.com", "erin@example.com", "--message", "Welcome!")
    assert [s["email"] for s in sent] == ["dan@example.com", "erin@example.com"]
    invites = js(cli, "invites", pool)["rows"]
    assert [i["email"] for i in invites] == ["dan@example.com", "erin@example.com"]
    assert ok(here, "link", pool, "dan@example.com").stdout.strip() == sent[0]["link"] == invites[0]["link"]
    assert _pool(cli, pool)["pending"] == 2
    ok(here, "resend", pool, "dan@example.com")
    ok(here, "resend", pool, "alice@example.com")
    ok(here, "cancel", pool, "erin@example.com")
    assert [i["email"] for i in js(cli, "invites", pool)["rows"]] == ["dan@example.com"]
    ok(here, "invite", pool, "frank@example.com", "--instead", "dan@example.com", "--keep")
    invites = js(cli, "invites", pool)["rows"]
    assert [i["email"] for i in invites] == ["dan@example.com", "frank@example.com"]
    assert invites[0]["code"] == invites[1]["code"]
    ok(here, "reassign", pool, "dan@example.com")
    assert js(cli, "invites", pool)["rows"] == []  # frank's invitation went with the code
    ok(here, "invite", pool, "gina@example.com")
    ok(here, "reassign", pool, "gina@example.com", "--to", "hank@example.com", "--first", "Hank", "--last", "Hill")
    emails = [r["email"] for r in js(cli, "registrations", pool)["rows"]]
    assert emails == ["Alice@Example.com", "carol@example.com", "dan@example.com", "hank@example.com"]
    assert {k: _pool(cli, pool)[k] for k in ("available", "pending", "claimed")} == {"available": 1, "pending": 0, "claimed": 4}

    # revoke, access, extend
    ok(here, "revoke", pool, "carol@example.com")
    assert "carol@example.com" not in [r["email"] for r in js(cli, "registrations", pool)["rows"]]
    assert _pool(cli, pool)["available"] == 2
    [carol_access] = js(cli, "access", "carol@example.com")
    assert carol_access["status"] == "revoked"
    [grant] = js(cli, "access", "alice@example.com")
    assert grant["status"] == "scheduled" and grant["ends"] == "2027-06-30"  # starts in 2027: derived from the dates
    ok(here, "extend", str(grant["id"]), "--end", "2028-01-31")
    assert js(cli, "access", "alice@example.com")[0]["ends"] == "2028-01-31"
    assert [r["access_end"] for r in js(cli, "registrations", pool)["rows"] if r["email"] == "Alice@Example.com"] == ["2028-01-31"]
    ok(here, "extend", str(grant["id"]), "--open")
    assert js(cli, "access", "alice@example.com")[0]["ends"] is None

    # eCommerce side, operators
    assert "Created customer" in ok(here, "sync", "alice@example.com").stdout
    assert "Linked" in ok(here, "sync", "alice@example.com").stdout
    ok(here, "customer", "--name", "Solo", "--email", "solo@example.com", "--with-account", "--first", "So", "--last", "Lo")
    assert {c["name"] for c in js(cli, "customers")} >= {"Acme Ltd", "Alice Archer", "Solo"}
    ok(here, "operators", "add", "bob", "--role", "limited")
    assert {"name": "bob", "role": "limited", "customer_id": None} in js(cli, "operators")
    ok(here, "operators", "remove", "bob")
    assert "bob" not in [o["name"] for o in js(cli, "operators")]

    # every write above is in the audit log, with who, what, which record, before/after
    events = js(cli, "audit", "--limit", "1000")["rows"]
    for e in events:
        assert {"operator", "action", "record", "before", "after", "at"} <= set(e)
        assert e["operator"]
    actions = {e["action"] for e in events}
    expected = {"operator.add", "product.add", "session.add", "customer.add", "order.add", "learner.create",
                "seat.assign", "invitation.send", "invitation.resend", "seat.resend", "invitation.cancel",
                "seat.assign-pending", "invitation.close", "seat.revoke", "access.extend", "customer.sync",
                "customer.new", "operator.set", "operator.remove"}
    assert expected <= actions, expected - actions
    [ext] = [e for e in events if e["action"] == "access.extend" and e["after"]["ends"] == "2028-01-31"]
    assert ext["before"]["ends"] == "2027-06-30" and ext["record"] == f"access:{grant['id']}"
    [rev] = [e for e in events if e["action"] == "seat.revoke"]
    assert rev["before"]["state"] == "claimed" and rev["after"]["state"] == "available"
    me = js(cli, "operators")[0]["name"]
    assert {e["operator"] for e in events if e["action"] != "operator.add"} == {me}

    # mail: with no SMTP configured the outbox goes into the Maildir
    status = js(cli, "mail", "status")
    assert status["queued"] > 0
    report = js_process(cli, "mail", "send")
    assert report["sent"] == status["queued"] and report["failed"] == 0
    files = list((home / "maildir" / "new").iterdir())
    assert len(files) == status["queued"]
    everything = "\n".join(f.read_text(errors="replace") for f in files)
    assert "a fine passphrase" not in everything
    assert sent[0]["link"] in everything and "/set-password/" in everything
    assert js(cli, "mail", "status")["queued"] == 0
    assert js_process(here, "mail", "send")["sent"] == 0


# --- exit codes and messages ------------------------------------------------------------------

@sqlite_only
def test_errors_are_one_sentence_with_the_documented_exit_codes(cli):
    pool = _setup_catalog(here)
    ok(here, "assign", pool, "a@example.com")
    before = db_dump()
    assert "pool" in fails(cli, 2, "registrations", "999")
    fails(here, 2, "registrations", "nope", "--json")
    fails(here, 2, "assign", "999", "x@example.com")
    fails(here, 2, "order", "add", "--customer", "Nobody Inc", "--session", "PY-1", "--seats", "3")
    fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", "NOPE", "--seats", "3")
    fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "0")
    fails(here, 2, "access", "nobody@example.com")
    fails(here, 2, "link", pool, "a@example.com")
    fails(here, 2, "cancel", pool, "nobody@example.com")
    fails(here, 2, "revoke", pool, "nobody@example.com")
    fails(here, 2, "extend", "999", "--end", "2030-01-01")
    fails(here, 2, "extend", "9" * 20, "--end", "2030-01-01")  # too big for the database: still "no such"
    fails(here, 2, "registrations", "9" * 20)
    fails(here, 2, "extend", "1")  # nothing to change
    # bad input: invalid email, bad date, not a number
    assert "not a valid email" in fails(cli, 1, "assign", pool, "not-an-email")
    fails(here, 1, "invite", pool, "ok@example.com", "also not valid")
    fails(here, 1, "customer", "--name", "X", "--email", "x@@example.com")
    assert "2027-02-30" in fails(cli, 2, "assign", pool, "b@example.com", "--end", "2027-02-30")
    fails(here, 2, "assign", pool, "b@example.com", "--start", "yesterday")
    fails(here, 2, "extend", "one", "--end", "2030-01-01")
    fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "many")
    fails(cli, 2, "no-such-command")
    assert "NAME" in fails(here, 2, "operators", "add", "--role", "limited")
    fails(here, 2, "operators", "remove")
    assert "TYPE:ID" in fails(here, 2, "audit", "--record", "pool:x")
    assert "before it starts" in fails(here, 1, "assign", pool, "b@example.com", "--start", "2027-05-01", "--end", "2027-04-01")
    # seats short, already seated, already invited
    assert "seats" in fails(here, 1, "invite", pool, *[f"i{n}@example.com" for n in range(5)])
    fails(here, 1, "assign", pool, "A@EXAMPLE.COM")
    fails(here, 1, "invite", pool, "a@example.com")
    # the last admin cannot demote themself
    me = js(cli, "operators")[0]["name"]
    assert "last admin" in fails(here, 1, "operators", "add", me, "--role", "limited")
    assert db_dump() == before
    # now fill the pool and ask for one more
    ok(here, "assign", pool, "b@example.com")
    ok(here, "invite", pool, "c@example.com", "d@example.com", "e@example.com")
    before = db_dump()
    assert "Not enough free seats" in fails(cli, 1, "assign", pool, "f@example.com")
    fails(here, 1, "invite", pool, "f@example.com")
    assert db_dump() == before


@sqlite_only
def test_roles_and_acting_as_another_operator(cli):
    pool = _setup_catalog(here)
    ok(here, "assign", pool, "a@example.com")
    [grant] = js(cli, "access", "a@example.com")
    me = js(cli, "operators")[0]["name"]
    ok(here, "operators", "add", "bob", "--role", "limited")
    ok(here, "operators", "add", "hr", "--role", "manager", "--customer", "hr@acme.example.com")
    before = db_dump()
    # a limited admin may not edit access dates: exit 3, a sentence naming the admin role
    msg = fails(cli, 3, "--as", "bob", "extend", str(grant["id"]), "--end", "2030-01-01")
    assert "admin role" in msg and "bob" in msg
    fails(here, 3, "--as", "bob", "customer", "--name", "N", "--email", "n@example.com", "--with-account")
    fails(here, 3, "--as", "bob", "operators", "add", "eve", "--role", "admin")
    fails(here, 3, "--as", "hr", "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "3")
    fails(here, 3, "--as", "hr", "audit")
    fails(here, 2, "--as", "nobody", "pools")
    assert db_dump() == before
    # what they may do
    ok(here, "--as", "bob", "sync", "a@example.com")
    ok(here, "--as", "hr", "assign", pool, "hr-pick@example.com")
    assert len(js(cli, "--as", "hr", "pools")) == 1
    events = js(cli, "audit")["rows"]
    assert {e["operator"] for e in events if e["action"] in ("customer.sync", "seat.assign")} == {"bob", "hr", me}
    # a non-admin may not use --as at all
    ok(here, "operators", "add", "alice", "--role", "admin")
    ok(here, "operators", "add", me, "--role", "limited")
    before = db_dump()
    assert "admin role" in fails(cli, 3, "--as", "alice", "pools")
    fails(here, 3, "extend", str(grant["id"]), "--end", "2030-01-01")
    fails(here, 3, "operators", "add", me, "--role", "admin")
    assert db_dump() == before
    ok(here, "pools")  # a limited admin still sees the pools


def test_smoke_on_each_backend(cli):
    pool = _setup_catalog(cli)
    ok(cli, "assign", pool, "a@example.com", "--first", "A", "--last", "B")
    sent = js_process(cli, "invite", pool, "b@example.com", "c@example.com")
    assert len(sent) == 2
    ok(cli, "revoke", pool, "a@example.com")
    ok(cli, "assign", pool, "d@example.com")
    ok(cli, "assign", pool, "e@example.com")
    ok(cli, "assign", pool, "f@example.com")
    [row] = js_process(cli, "pools")
    assert POOL_KEYS <= set(row)
    assert (row["seats"], row["available"], row["pending"], row["claimed"]) == (5, 0, 2, 3)
    before = db_dump()
    assert "Not enough free seats" in fails(cli, 1, "assign", pool, "g@example.com")
    fails(cli, 2, "registrations", "999")
    assert db_dump() == before
    regs = js_process(cli, "registrations", pool)["rows"]
    assert [r["email"] for r in regs] == ["d@example.com", "e@example.com", "f@example.com"]
    assert all(REG_KEYS <= set(r) for r in regs)


# --- help -----------------------------------------------------------------------------------------

def _verbs(parser, prefix=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _verbs(sub, prefix + (name,))


def test_help_on_every_verb(tmp_path, capsys):
    verbs = list(_verbs(build_parser()))
    assert {("init",), ("pools",), ("order", "add"), ("mail", "send"), ("extend",)} <= set(verbs)
    for verb in [()] + verbs:
        with pytest.raises(SystemExit) as exited:
            main([*verb, "--help"])
        assert exited.value.code == 0, verb
        out = capsys.readouterr()
        assert "usage:" in out.out and out.err == "", verb
    # and as a user would, in a new process, for a few, before any database exists
    env = {"REGTUI_HOME": str(tmp_path), "REGTUI_DB": f"sqlite:///{tmp_path / 'none.db'}"}
    for verb in [(), ("assign",), ("order", "add"), ("mail", "send")]:
        r = run_cli(*verb, "--help", env=env)
        assert r.returncode == 0 and "usage:" in r.stdout and r.stderr == "", (verb, r.stderr)
    assert not (tmp_path / "none.db").exists()


def test_commands_before_init_say_so(tmp_path):
    env = {"REGTUI_HOME": str(tmp_path), "REGTUI_DB": f"sqlite:///{tmp_path / 'fresh.db'}"}
    r = run_cli("pools", env=env)
    assert r.returncode == 2 and "regtui init" in r.stderr and "Traceback" not in r.stderr

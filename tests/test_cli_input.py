"""Hostile and odd input at the command line (issue 8): control characters in user data,
ids in other scripts' digits, ports, limits, files to write, access lengths, template subjects.
Each is driven as a user would, in a new `python -m regtui` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from conftest import ROOT
from test_cli import _setup_catalog, db_dump, fails, here, js, ok, sqlite_only

HOSTILE = "\x1b]52;c;aGFja2Vk\x07\x1b[2J\rEve"  # OSC 52 clipboard write, clear screen, BEL, CR


def raw_cli(*args: str) -> subprocess.CompletedProcess:
    """`regtui ARGS` in a new process, its output kept as the bytes a terminal would get."""
    return subprocess.run([sys.executable, "-m", "regtui", *args], capture_output=True, env=dict(os.environ), cwd=ROOT,
                          timeout=120)


def assert_no_controls(data: bytes) -> None:
    for byte in (b"\x1b", b"\x07", b"\r", b"\x9b"):
        assert byte not in data, (byte, data)


@sqlite_only
def test_names_with_terminal_control_codes_are_printed_escaped(cli):
    pool = _setup_catalog(here)
    ok(here, "assign", pool, "eve@example.com", "--first", HOSTILE, "--last", "Last\u202eReversed")
    for args in (("registrations", pool), ("users", "Acme Ltd"), ("export", "pool", pool, "/dev/null/x.csv")):
        r = raw_cli(*args)
        assert_no_controls(r.stdout + r.stderr)
        assert b"Traceback" not in r.stderr
    out = raw_cli("registrations", pool).stdout.decode()
    # shown, escaped, on its one row: the operator sees what was typed
    assert "\\x1b]52;c;aGFja2Vk\\x07\\x1b[2J\\rEve" in out and "Last\\u202eReversed" in out
    assert len(out.strip().splitlines()) == 3
    users = raw_cli("users", "Acme Ltd").stdout.decode()
    assert "\\x1b[2J" in users
    # JSON keeps the value exactly, escaped by JSON itself
    r = raw_cli("registrations", pool, "--json")
    assert_no_controls(r.stdout)
    assert js(cli, "registrations", pool)["rows"][0]["first_name"] == HOSTILE
    # sentences too: a customer's name in "added", and a name echoed back in an error
    r = raw_cli("customer", "--name", f"Mallory{HOSTILE}", "--email", "m@example.com")
    assert r.returncode == 0 and b"Mallory\\x1b]52" in r.stdout
    assert_no_controls(r.stdout + r.stderr)
    r = raw_cli("users", f"Nobody{HOSTILE}")
    assert r.returncode == 2 and b"Nobody\\x1b]52" in r.stderr
    assert_no_controls(r.stdout + r.stderr)
    # and what argparse echoes of a bad argument
    r = raw_cli("assign", pool, "x@example.com", "--start", HOSTILE)
    assert r.returncode == 2
    assert_no_controls(r.stdout + r.stderr)


@sqlite_only
def test_ids_and_pool_references_are_ascii_digits_only(cli):
    pool = _setup_catalog(here)
    assert pool == "1"
    before = db_dump()
    for ref in ("²", "١", "𝟏", "1\u0661"):
        assert "There is no pool" in fails(cli, 2, "assign", ref, "a@example.com")
        fails(here, 2, "registrations", ref)
        fails(here, 2, "order", "add", "--customer", ref, "--session", "PY-1", "--seats", "3")
        fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", ref, "--seats", "3")
        fails(here, 2, "order", "add", "--customer", "Acme Ltd", "--session", "PY-1", "--seats", "٣")
        fails(here, 2, "extend", ref, "--end", "2030-01-01")
        fails(here, 2, "audit", "--batch", ref)
        fails(here, 2, "audit", "--record", f"pool:{ref}")
    assert db_dump() == before
    ok(cli, "assign", "1", "a@example.com")  # ASCII still works


def test_serve_with_a_bad_port_or_host_is_one_sentence(cli):
    for port in ("-1", "0", "70000", "http"):
        assert "port" in fails(cli, 2, "serve", "--port", port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"port {port}" in fails(cli, 2, "serve", "--port", str(port))
    # an address of no interface of this machine (TEST-NET-1, RFC 5737)
    assert "192.0.2.1" in fails(cli, 2, "serve", "--host", "192.0.2.1", "--port", "8080")
    for host in ("no such host", "", "999.1.1.1"):  # not addresses at all (no name lookup leaves the machine)
        assert "Cannot listen on" in fails(cli, 2, "serve", "--host", host, "--port", "8080")


@sqlite_only
def test_limits_are_whole_numbers_in_a_range(cli):
    _setup_catalog(here)
    for value in ("99999999999999999999", "-1", "0", "1e3", "٣"):
        assert "--limit" in fails(cli if value == "-1" else here, 2, "customers", "--limit", value)
        fails(here, 2, "audit", "--limit", value)
        fails(here, 2, "batch", "history", "--limit", value)
    assert len(js(cli, "customers", "--limit", "1")) == 1


@sqlite_only
def test_files_to_write_must_be_files_in_a_folder_that_exists(cli, tmp_path):
    pool = _setup_catalog(here)
    before = db_dump()
    assert "is a folder" in fails(cli, 2, "export", "pool", pool, str(tmp_path))
    assert "is a folder" in fails(here, 2, "export", "pool", pool, str(tmp_path) + "/")
    assert "There is no folder" in fails(cli, 2, "export", "users", "Acme Ltd", str(tmp_path / "missing" / "users.csv"))
    assert ".xlsx or .csv" in fails(here, 2, "export", "pool", pool, str(tmp_path / "pool.txt"))
    assert "is a folder" in fails(cli, 2, "template", "RegCodeEmailText", "--body-file", str(tmp_path))
    assert db_dump() == before
    assert not list(tmp_path.glob("pool*")) and not (tmp_path / "missing").exists()


@sqlite_only
def test_a_session_access_length_is_bounded(cli):
    _setup_catalog(here)
    before = db_dump()
    assert "3,650" in fails(cli, 2, "session", "PY", "PY-2", "Later", "--access-days", "99999999999")
    fails(here, 2, "session", "PY", "PY-2", "Later", "--access-days", "3651")
    fails(here, 2, "session", "PY", "PY-2", "Later", "--access-days", "0")
    assert db_dump() == before
    ok(cli, "session", "PY", "PY-2", "Later", "--access-days", "3650")
    order = js(cli, "order", "add", "--customer", "Acme Ltd", "--session", "PY-2", "--seats", "2")
    ok(here, "assign", str(order["pool"]), "late@example.com")  # a later assign works


@sqlite_only
def test_a_template_subject_with_a_line_break_is_refused_when_saved(cli):
    pool = _setup_catalog(here)
    before = db_dump()
    for subject in ("Hi\r\nBcc: all@example.com", "Hi\nthere", "Hi\u2028there"):
        assert "one line" in fails(cli, 2, "template", "RegCodeEmailText", "--subject", subject)
    assert db_dump() == before
    ok(here, "invite", pool, "still@example.com")  # invitations still go out
    ok(here, "mail", "send")
    assert js(cli, "mail", "status")["failed"] == 0


@sqlite_only
def test_a_roster_with_control_codes_plans_with_them_escaped(cli, tmp_path):
    pool = _setup_catalog(here)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"email,first_name,last_name\neve@example.com,{HOSTILE.replace(chr(13), '')},Eve\n"
                      f"bad\x1b[2J@example.com,Bad,Row\n", encoding="utf-8")
    r = raw_cli("batch", "plan", str(roster), "--pool", pool, "--action", "create")
    assert b"Traceback" not in r.stderr
    assert_no_controls(r.stdout + r.stderr)
    assert b"\\x1b]52" in r.stdout + r.stderr


def test_a_name_longer_than_an_account_may_have_is_one_sentence_and_changes_nothing(cli):
    pool = _setup_catalog(here)
    before = db_dump()
    said = fails(here, 1, "assign", pool, "long@example.com", "--first", "A" * 101, "--last", "Person")
    assert said == "regtui: A first name can have at most 100 characters."
    assert fails(here, 1, "assign", pool, "long@example.com", "--last", " " + "C" * 101) \
        == "regtui: A last name can have at most 100 characters."
    assert db_dump() == before
    ok(here, "assign", pool, "edge@example.com", "--first", "  " + "B" * 100 + "  ")  # trimmed, 100 is allowed

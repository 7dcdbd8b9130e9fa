"""`regtui batch ...` as a user runs it: a subprocess against the test database.
Runs on SQLite, and on PostgreSQL when REGTUI_TEST_POSTGRES is set."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from regtui.core.models import Pool, database
from regtui.core.services import catalog, customers, orders

from test_core_support import check, dump

pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parent.parent
ROSTERS = ROOT / "fixtures" / "rosters"


def make_pool(admin, seats_n: int = 40, number: str = "1001") -> Pool:
    product = catalog.add_product(admin, f"PR{number}", "Python")
    session = catalog.add_session(admin, product, f"SE{number}", "Python spring", access_days=365)
    customer = customers.add(admin, f"Acme {number}", f"hr{number}@example.com")
    _, [pool] = orders.add(admin, customer, [orders.OrderLine(session, seats_n)], number=number)
    return pool


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def reopen():
    database.close()
    database.connect(reuse_if_open=True)


def test_plan_shows_a_diff_and_apply_makes_it_unchanged(db, admin, cli):
    pool = make_pool(admin)
    database.close()
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("+ create    row 2 ")
    assert "ada.lovelace@example.com" in lines[0]
    assert lines[-1].startswith(f"Plan for pool {pool.id} (good.xlsx): 15 create, 0 assign")
    assert "Seats 40: 40 available before, 25 after." in lines[-1]

    r = cli("batch", "apply", str(ROSTERS / "good.xlsx"))  # no TTY, no --yes
    assert r.returncode == 2 and "--yes" in r.stderr
    r = cli("batch", "apply", str(ROSTERS / "good.xlsx"), "--yes")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Batch ")
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--json")
    assert r.returncode == 0
    assert r.stderr == ""  # no progress bar without a terminal
    data = json.loads(r.stdout)
    assert data["summary"]["unchanged"] == 15
    assert all(v == 0 for k, v in data["summary"].items() if k != "unchanged")
    r = cli("batch", "history", "--json")
    page = json.loads(r.stdout)
    assert page["total"] == 1 and page["next"] is None
    [b] = page["rows"]
    assert b["file_name"] == "good.xlsx" and b["counts"]["create"] == 15 and len(b["sha256"]) == 64


def test_plan_json_shape_errors_and_exit_codes(db, admin, cli, tmp_path):
    pool = make_pool(admin, 5)
    database.close()
    r = cli("batch", "plan", str(ROSTERS / "messy.csv"), "--pool", str(pool.id), "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert set(data) == {"summary", "changes", "warnings", "errors", "seats"}
    assert set(data["summary"]) == {"create", "assign", "invite", "revoke", "extend", "unchanged", "error"}
    assert data["seats"] == {"pool": pool.id, "seats": 5, "available_before": 5, "available_after": 5 - 3}
    assert {"row", "column", "value", "message"} <= set(data["errors"][0])
    assert {"row", "kind", "email"} <= set(data["changes"][0])
    assert data["summary"]["error"] == len(data["errors"]) >= 4
    human = cli("batch", "plan", str(ROSTERS / "messy.csv"), "--pool", str(pool.id))
    assert human.returncode == 1 and "! error     row 5 " in human.stdout

    assert cli("batch", "plan", str(ROSTERS / "notaworkbook.xlsx"), "--pool", str(pool.id)).returncode == 2
    assert cli("batch", "plan", str(tmp_path / "missing.csv"), "--pool", str(pool.id)).returncode == 2
    assert cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--pool", "999").returncode == 2
    assert cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--max-revoke", "5").returncode == 2
    assert cli("batch", "plan", str(ROSTERS / "mixed.csv")).returncode == 2  # two pools named, none chosen
    # seats-short: 15 rows for 5 seats
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--pool", str(pool.id), "--json")
    assert r.returncode == 1 and [e["code"] for e in json.loads(r.stdout)["errors"]] == ["seats-short"]


def test_plan_summary_prints_no_line_per_change_and_caps_each_kind_of_error(db, admin, cli, tmp_path):
    pool = make_pool(admin, 30)
    database.close()
    rows = [["action", "email", "first_name", "last_name"]]
    rows += [["create", f"ok{i}@example.com", "Ok", f"N{i}"] for i in range(20)]
    rows += [["create", f"bad{i}@", "Bad", f"N{i}"] for i in range(25)]  # 25 rows with the same error
    roster = write_csv(tmp_path / "big.csv", rows)
    full = cli("batch", "plan", str(roster), "--pool", str(pool.id))
    short = cli("batch", "plan", str(roster), "--pool", str(pool.id), "--summary")
    assert short.returncode == full.returncode == 1
    assert full.stdout.count("+ create") == 20 and "+ create" not in short.stdout
    assert full.stdout.count("! error     row") == 25
    assert short.stdout.count("! error     row") == 10
    assert "and 15 more errors like these" in short.stdout
    assert short.stdout.splitlines()[-1] == full.stdout.splitlines()[-1]  # the same counts


def test_skip_invalid_applies_the_valid_rows(db, admin, cli):
    pool = make_pool(admin, 5)
    database.close()
    r = cli("batch", "apply", str(ROSTERS / "messy.csv"), "--pool", str(pool.id), "--yes")
    assert r.returncode == 1 and "nothing was applied" in r.stderr
    r = cli("batch", "apply", str(ROSTERS / "messy.csv"), "--pool", str(pool.id), "--yes", "--skip-invalid", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["applied"] is True and out["summary"]["error"] >= 4
    reopen()
    assert check(pool)["available"] == 2


def test_a_name_longer_than_an_account_may_have_is_an_error_of_its_row_in_the_plan(db, admin, cli, tmp_path):
    """The plan said "create" for a 150-character first name and the apply then refused the whole
    batch ("A first name can have at most 100 characters."): the diff shown was not the diff applied."""
    pool = make_pool(admin, 5)
    roster = write_csv(tmp_path / "names.csv", [["action", "email", "first_name", "last_name"],
                                                ["create", "long@example.com", "A" * 150, "Person"],
                                                ["create", "edge@example.com", "B" * 100, "Person"],
                                                ["create", "last@example.com", "Lee", "C" * 101]])
    database.close()
    r = cli("batch", "plan", str(roster), "--pool", str(pool.id), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert [(e["code"], e["row"], e["column"]) for e in out["errors"]] == [
        ("name-too-long", 2, "first_name"), ("name-too-long", 4, "last_name")]
    assert "150 characters long; a name may have at most 100" in out["errors"][0]["message"]
    assert [c["email"] for c in out["changes"]] == ["edge@example.com"]  # 100 characters is allowed
    reopen()
    before = dump()
    database.close()
    r = cli("batch", "apply", str(roster), "--pool", str(pool.id), "--yes")
    assert r.returncode == 1 and "nothing was applied" in r.stderr and "Traceback" not in r.stderr
    reopen()
    assert dump() == before
    database.close()
    r = cli("batch", "apply", str(roster), "--pool", str(pool.id), "--yes", "--skip-invalid")
    assert r.returncode == 0, r.stderr
    reopen()
    assert check(pool)["claimed"] == 1


def test_saved_plan_applies_exactly_and_a_stale_one_changes_nothing(db, admin, cli, tmp_path):
    pool = make_pool(admin, 20)
    database.close()
    plan_file = tmp_path / "plan.json"
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--out", str(plan_file))
    assert r.returncode == 0 and json.loads(plan_file.read_text())["fingerprint"]
    other = write_csv(tmp_path / "other.csv", [["email"], ["someone@example.com"]])
    r = cli("batch", "apply", str(other), "--pool", str(pool.id), "--action", "create", "--yes")
    assert r.returncode == 0, r.stderr
    reopen()
    before = dump()
    database.close()
    r = cli("batch", "apply", str(plan_file), "--yes")
    assert r.returncode == 1 and "changed since this plan was made" in r.stderr
    reopen()
    assert dump() == before
    database.close()
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--out", str(plan_file))
    r = cli("batch", "apply", str(plan_file), "--yes")
    assert r.returncode == 0, r.stderr
    reopen()
    assert check(pool) == {"available": 4, "invited": 0, "claimed": 16}


def test_a_damaged_or_foreign_plan_file_is_refused_in_one_sentence(db, admin, cli, tmp_path):
    make_pool(admin, 20)
    database.close()
    plan_file = tmp_path / "plan.json"
    assert cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--out", str(plan_file)).returncode == 0
    saved = json.loads(plan_file.read_text())
    short_row = dict(saved, changes=[saved["changes"][0][:-3]] + saved["changes"][1:])
    reopen()
    before = dump()
    database.close()
    for name, text in (("garbage.json", "{not json"), ("list.json", "[1, 2]"), ("short.json", json.dumps(short_row)),
                       ("renamed.json", json.dumps(dict(saved, change_fields=saved["change_fields"][::-1])))):
        bad = tmp_path / name
        bad.write_text(text)
        r = cli("batch", "apply", str(bad), "--yes")
        assert r.returncode == 2, (name, r.stderr)
        damaged = name in ("short.json", "renamed.json")  # a real plan, edited: its MAC no longer matches
        assert ("was changed after `regtui batch plan --out` saved it" if damaged
                else "is not a plan file made by `regtui batch plan --out`") in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    reopen()
    assert dump() == before


def test_sync_with_max_revoke(db, admin, cli, tmp_path):
    pool = make_pool(admin, 10)
    database.close()
    five = write_csv(tmp_path / "five.csv", [["email"]] + [[f"p{i}@example.com"] for i in range(5)])
    assert cli("batch", "apply", str(five), "--pool", str(pool.id), "--action", "create", "--yes").returncode == 0
    two = write_csv(tmp_path / "two.csv", [["email"], ["p0@example.com"], ["p1@example.com"]])
    r = cli("batch", "plan", str(two), "--pool", str(pool.id), "--action", "create", "--sync")
    assert r.returncode == 1 and "too-many-revokes" in r.stdout
    assert r.stdout.count("- revoke    (sync)") == 3
    r = cli("batch", "apply", str(two), "--pool", str(pool.id), "--action", "create", "--sync", "--max-revoke", "3", "--yes")
    assert r.returncode == 0, r.stderr
    reopen()
    assert check(pool)["claimed"] == 2


def test_racing_applies_never_oversubscribe(db, admin, cli, tmp_path):
    """Four processes apply four plans made from the same snapshot: one wins whole, the others are refused whole."""
    pool = make_pool(admin, 8)
    database.close()
    plans = []
    for w in range(4):
        roster = write_csv(tmp_path / f"w{w}.csv", [["email"]] + [[f"w{w}-{i}@example.com"] for i in range(6)])
        out = tmp_path / f"w{w}.json"
        r = cli("batch", "plan", str(roster), "--pool", str(pool.id), "--action", "create", "--out", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        plans.append(out)
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-m", "regtui", "batch", "apply", str(p), "--yes", "--json"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in plans]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 1, 1, 1], results
    assert all("changed since" in err or "Not enough free seats" in err for rc, _, err in results if rc == 1)
    reopen()
    assert check(pool) == {"available": 2, "invited": 0, "claimed": 6}


def test_report_keeps_formula_like_cells_as_text(db, admin, cli, tmp_path):
    pool = make_pool(admin, 5)
    database.close()
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tTab", "=1+1"]
    roster = write_csv(tmp_path / "evil.csv", [["email", "first_name", "last_name"],
                                               ["ok@example.com", evil[0], evil[1]],
                                               ["ok2@example.com", evil[2], evil[3]],
                                               [evil[5], "Bad", "Row"]])
    xlsx, csvf = tmp_path / "rep.xlsx", tmp_path / "rep.csv"
    r = cli("batch", "plan", str(roster), "--pool", str(pool.id), "--action", "create", "--report", str(xlsx))
    assert r.returncode == 1
    r = cli("batch", "plan", str(roster), "--pool", str(pool.id), "--action", "create", "--report", str(csvf))
    ws = openpyxl.load_workbook(xlsx).active
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    assert header[-2:] == ["Report status", "Report message"]
    values = {c.value for row in rows for c in row if isinstance(c.value, str)}
    for text in (evil[0], evil[1], evil[2], evil[3], evil[5]):
        assert text in values
    for row in rows:
        for c in row:
            if isinstance(c.value, str):
                assert c.data_type == "s", (c.coordinate, c.value)
    bad = rows[3]
    assert bad[-2].value == "error" and bad[-2].fill.fill_type == "solid"
    email_cell = bad[header.index("email")]
    assert email_cell.value == "=1+1" and email_cell.fill.fill_type == "solid"
    assert rows[1][-2].value == "create" and rows[1][-2].fill.fill_type != "solid"
    with open(csvf, encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'" + evil[0] in cells and "'+1" in cells and "'-2" in cells and "'@SUM(A1)" in cells and "'=1+1" in cells
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)


def test_report_of_a_messy_roster_says_what_to_fix_on_every_row(db, admin, cli, tmp_path):
    pool = make_pool(admin, 10)
    database.close()
    report = tmp_path / "fixes.xlsx"
    r = cli("batch", "plan", str(ROSTERS / "messy.csv"), "--pool", str(pool.id), "--report", str(report))
    assert r.returncode == 1
    assert f"Report with a status for every row: {report}" in r.stderr
    ws = openpyxl.load_workbook(report).active
    status = {row[0].value: (row[-2].value, row[-1].value) for row in ws.iter_rows(min_row=2)}
    assert status[5][0] == "error" and "bob@@example.com" in status[5][1]
    assert status[7][0] == "error" and "could be 3 April or March 4" in status[7][1]
    assert status[8] == ("warning", "Row 8: the same as row 4; it counts once.")
    assert status[2][0] == "create" and status[9][0] == "invite"


def test_batch_plan_does_not_import_textual(db, admin, cli):
    pool = make_pool(admin, 20)
    database.close()
    code = ("import sys, runpy\n"
            f"sys.argv = ['regtui', 'batch', 'plan', {str(ROSTERS / 'good.xlsx')!r}, '--pool', '{pool.id}']\n"
            "try:\n    runpy.run_module('regtui', run_name='__main__')\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('RC', rc, [m for m in sys.modules if m == 'textual' or m.startswith('textual.')], file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert "RC 0 []" in r.stderr, r.stderr
    assert "+ create" in r.stdout


def test_template_and_pool_by_order_line(db, admin, cli, tmp_path):
    make_pool(admin, 20)
    database.close()
    r = cli("batch", "plan", str(ROSTERS / "good.xlsx"), "--pool", "1001-1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["summary"]["create"] == 15
    out = tmp_path / "t.xlsx"
    r = cli("batch", "template", str(out))
    assert r.returncode == 0 and out.exists()

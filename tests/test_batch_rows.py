"""Rows a roster gets wrong, and what a plan may tell: weak passwords are a row's error (issue 8
item 8), a manager's plan does not reveal other customers' accounts (item 19), thousands of
unknown columns make one warning (item 21)."""

from __future__ import annotations

import json

import pytest

from batch.planning import PlanOptions, apply_result, plan_roster
from regtui.core.models import Learner, database
from regtui.core.services import operators, registrations
from regtui.core.services.learners import LearnerSpec

from test_batch_cli import ROSTERS, make_pool, reopen, write_csv

pytestmark = pytest.mark.storage


def test_a_weak_roster_password_is_an_error_of_its_row(db, admin, cli, tmp_path):
    make_pool(admin, 10)
    database.close()
    roster = write_csv(tmp_path / "pw.csv", [
        ["action", "email", "first_name", "last_name", "password"],
        ["create", "good@example.com", "Good", "One", "correct horse battery staple"],
        ["create", "short@example.com", "Short", "One", "abc"],
        ["create", "common@example.com", "Common", "One", "password1"],
        ["create", "tab@example.com", "Tab", "One", "tab\there and there"],
    ])
    r = cli("batch", "plan", str(roster), "--pool", "1001-1", "--json")
    assert r.returncode == 1
    errors = {e["row"]: e for e in json.loads(r.stdout)["errors"]}
    assert set(errors) == {3, 4, 5} and all(e["code"] == "weak-password" for e in errors.values())
    assert errors[3]["message"] == "Row 3: A password needs at least 8 characters."
    assert "abc" not in r.stdout and "password1" not in r.stdout  # never shown
    # --skip-invalid applies the good row and skips the weak ones by number
    r = cli("batch", "apply", str(roster), "--pool", "1001-1", "--skip-invalid", "--yes")
    assert r.returncode == 0, r.stderr
    assert "3 invalid rows skipped" in r.stdout
    reopen()
    assert [l.email for l in Learner.select()] == ["good@example.com"]


def test_a_managers_plan_does_not_tell_who_has_an_account_elsewhere(db, admin, tmp_path):
    other = make_pool(admin, 5, "2002")
    registrations.assign(admin, other, [LearnerSpec("known@example.com", "Kno", "Wn")])
    pool = make_pool(admin, 5, "1001")
    roster = write_csv(tmp_path / "r.csv", [["action", "email"], ["create", "known@example.com"],
                                            ["create", "new@example.com"]])
    as_admin = plan_roster(admin, roster, PlanOptions(pool="1001-1")).plan
    assert sorted(c.kind for c in as_admin.changes) == ["assign", "create"]
    manager = operators.Actor("mgr", "manager", customer_id=pool.order.customer_id)
    as_manager = plan_roster(manager, roster, PlanOptions(pool="1001-1")).plan
    assert [c.kind for c in as_manager.changes] == ["create", "create"]
    assert {c.detail for c in as_manager.changes} == {"create or link: a seat, with a new account or the learner's existing one"}
    assert as_manager.summary()["assign"] == 0
    text = "".join(l for l in as_manager.report_json()["changes"] for l in str(l))
    assert "existing account gets a seat" not in text
    # the applier does the same for both: the known learner is linked, not created twice
    apply_result(admin, as_manager)
    assert Learner.select().where(Learner.email_key == "known@example.com").count() == 1


def test_thousands_of_unknown_columns_make_one_warning(db, admin, cli, tmp_path):
    make_pool(admin, 5)
    database.close()
    wide = [f"extra{i}" for i in range(16_384)]
    roster = write_csv(tmp_path / "wide.csv", [["action", "email"] + wide, ["create", "a@example.com"] + [""] * len(wide)])
    r = cli("batch", "plan", str(roster), "--pool", "1001-1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) < 10, lines[:20]
    [warning] = [line for line in lines if "warning" in line]
    assert "16,384 columns are not roster columns and are ignored ('extra0', 'extra1'" in warning
    assert "and 16,379 more" in warning


def _plan_json(cli, *args) -> dict:
    r = cli("batch", "plan", *args, "--json")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("report_name", ["fixes.xlsx", "fixes.csv"])
def test_a_report_uploaded_again_plans_as_its_roster(db, admin, cli, tmp_path, report_name):
    """Issue 10 item 1: the report's status columns are set aside, its rows keep their numbers, the
    pool comes from the rows, and a row fixed in the report plans clean."""
    import openpyxl

    make_pool(admin, 40)
    database.close()
    good_report = tmp_path / ("good-" + report_name)
    first = _plan_json(cli, str(ROSTERS / "good.xlsx"), "--report", str(good_report))
    assert _plan_json(cli, str(good_report)) == first  # no --pool: every row names 1001-1
    report = tmp_path / report_name
    messy = _plan_json(cli, str(ROSTERS / "messy.csv"), "--pool", "1001-1", "--report", str(report))
    again = _plan_json(cli, str(report), "--pool", "1001-1")
    assert again["changes"] == messy["changes"] and again["summary"] == messy["summary"]
    assert [(e["row"], e["code"]) for e in again["errors"]] == [(e["row"], e["code"]) for e in messy["errors"]]
    assert not any("both mean message" in e["message"] for e in again["errors"])
    # HR fixes row 5's address in the report and uploads it again
    if report_name.endswith(".xlsx"):
        wb = openpyxl.load_workbook(report)
        ws = wb.active
        for row in ws.iter_rows():
            if row[0].value == 5:
                for c in row:
                    if c.value == "bob@@example.com":
                        c.value = "bob@example.com"
        wb.save(report)
    else:
        report.write_text(report.read_text(encoding="utf-8-sig").replace("bob@@example.com", "bob@example.com"),
                          encoding="utf-8")
    fixed = _plan_json(cli, str(report), "--pool", "1001-1")
    assert 5 not in [e["row"] for e in fixed["errors"]]
    assert [c["kind"] for c in fixed["changes"] if c["row"] == 5] == ["create"]


def test_sync_skip_invalid_with_too_many_revokes_exits_non_zero(db, admin, cli, tmp_path):
    """Issue 10 item 8: a blocking error is a failed plan, --skip-invalid or not."""
    pool = make_pool(admin, 10)
    registrations.assign(admin, pool, [LearnerSpec(f"p{i}@example.com") for i in range(5)])
    database.close()
    roster = write_csv(tmp_path / "one.csv", [["action", "email"], ["create", "p0@example.com"]])
    r = cli("batch", "plan", str(roster), "--pool", "1001-1", "--sync", "--skip-invalid")
    assert r.returncode == 1 and "[too-many-revokes]" in r.stdout
    r = cli("batch", "apply", str(roster), "--pool", "1001-1", "--sync", "--skip-invalid", "--yes")
    assert r.returncode == 1 and "nothing was applied" in r.stderr


def test_a_roster_row_with_another_end_date_plans_an_extend(db, admin, tmp_path):
    """Issue 10 item 6: not '= unchanged (already has a seat)' when the dates differ."""
    import datetime as dt

    from regtui.core.models import Access

    pool = make_pool(admin, 10)
    rows = [["action", "email", "access_start", "access_end"], ["create", "a@example.com", "2027-01-11", "2027-03-01"],
            ["create", "b@example.com", "2027-01-11", "2027-03-01"]]
    first = write_csv(tmp_path / "first.csv", rows)
    apply_result(admin, plan_roster(admin, first, PlanOptions(pool="1001-1")))
    rows[1][3] = "2027-06-30"
    later = write_csv(tmp_path / "later.csv", rows)
    manager = operators.Actor("mgr", "manager", customer_id=pool.order.customer_id)
    as_manager = plan_roster(manager, later, PlanOptions(pool="1001-1")).plan
    assert not as_manager.changes
    [why] = [c.detail for c in as_manager.unchanged if c.email == "a@example.com"]
    assert why == ("already has a seat; access stays 2027-01-11..2027-03-01, not 2027-01-11..2027-06-30: "
                   "only an admin can change access dates")
    plan = plan_roster(admin, later, PlanOptions(pool="1001-1")).plan
    [extend] = plan.changes
    assert (extend.kind, extend.email, extend.ends) == ("extend", "a@example.com", dt.date(2027, 6, 30))
    assert [c.email for c in plan.unchanged] == ["b@example.com"]
    apply_result(admin, plan)
    ends = {a.learner.email: a.ends for a in Access.select()}
    assert ends == {"a@example.com": dt.date(2027, 6, 30), "b@example.com": dt.date(2027, 3, 1)}


def test_batch_template_never_overwrites_and_is_an_xlsx(home, cli, tmp_path):
    """Issue 10 item 7: each a sentence and exit 2, nothing written."""
    existing = tmp_path / "mine.xlsx"
    existing.write_bytes(b"precious")
    cases = {
        str(existing): "already exists; give a new file name",
        str(tmp_path / "roster.csv"): "is an .xlsx workbook",
        str(tmp_path / "no" / "such" / "t.xlsx"): "There is no folder",
        str(tmp_path): "is an .xlsx workbook",
    }
    for target, words in cases.items():
        r = cli("batch", "template", target)
        assert r.returncode == 2, (target, r.stderr)
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert existing.read_bytes() == b"precious" and not (tmp_path / "roster.csv").exists()
    r = cli("batch", "template", str(tmp_path / "t.xlsx"))
    assert r.returncode == 0 and (tmp_path / "t.xlsx").stat().st_size > 1000

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

from test_batch_cli import make_pool, reopen, write_csv

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

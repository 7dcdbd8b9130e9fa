"""One plan for every face: the CLI (a subprocess, as a user runs it) and the TUI's batch screen
(Textual's Pilot) plan the same rosters through batch.planning and get the same plan; a roster
can come on standard input; only regular files are read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from regtui.core.models import database
from regtui.tui.app import RegtuiApp

from test_batch_cli import ROOT, ROSTERS, make_pool, reopen, write_csv
from test_core_support import dump
from test_tui_app import run, settle

pytestmark = pytest.mark.storage


def cli_plan(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regtui", "batch", "plan", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=60)


def tui_plan(actor, roster: Path, pool_id: int, action: str = "") -> dict:
    """Plan ``roster`` on the TUI's batch screen, as a user does: path, pool, Plan (F5)."""
    async def steps(pilot, screen, seen):
        screen.query_one("#batch-path", Input).value = str(roster)
        screen.query_one("#batch-pool", Select).value = pool_id
        if action:
            screen.query_one("#batch-action", Select).value = action
        await pilot.press("f5")
        await settle(pilot)
        assert screen.plan is not None, "the screen made no plan"
        seen["plan"] = screen.plan.report_json()

    return on_batch_screen(actor, steps)["plan"]


@pytest.mark.parametrize("name,action", [("good.xlsx", ""), ("mixed.csv", ""), ("messy.csv", "invite"),
                                         ("cp1252.csv", "")])
def test_cli_and_tui_make_the_same_plan(db, admin, tmp_path, name, action):
    pool = make_pool(admin, 40)  # order 1001, line 1: the pool the fixtures name
    make_pool(admin, 5, number="1002")
    database.close()
    args = [str(ROSTERS / name), "--json", "--pool", str(pool.id)] + (["--action", action] if action else [])
    r = cli_plan(*args)
    assert r.returncode in (0, 1) and b"Traceback" not in r.stderr, r.stderr
    by_cli = json.loads(r.stdout)
    reopen()
    by_tui = tui_plan(admin, ROSTERS / name, pool.id, action)
    assert by_tui == by_cli
    if name == "good.xlsx":  # the README's example: 15 new accounts, no other-pool errors
        assert by_cli["summary"]["create"] == 15 and not by_cli["errors"]


def test_a_roster_on_standard_input_plans_like_the_file(db, admin, tmp_path):
    pool = make_pool(admin, 40)
    database.close()
    csv_file = write_csv(tmp_path / "r.csv", [["action", "email", "first_name"], ["create", "a@example.com", "Ann"], ["create", "b@example.com", "Bo"]])
    for path in (ROSTERS / "good.xlsx", csv_file):
        from_file = cli_plan(str(path), "--json", "--pool", "1001-1")
        from_stdin = cli_plan("-", "--json", "--pool", "1001-1", stdin=path.read_bytes())
        assert from_stdin.returncode == from_file.returncode == 0, from_stdin.stderr
        by_file, by_stdin = json.loads(from_file.stdout), json.loads(from_stdin.stdout)
        assert by_stdin["changes"] == by_file["changes"] and by_stdin["summary"] == by_file["summary"]
    assert pool.id


def test_a_roster_on_standard_input_is_at_most_50_mb(db, admin):
    make_pool(admin, 4)
    database.close()
    r = cli_plan("-", "--pool", "1001-1", stdin=b"email\n" + b"a" * (50 * 1024 * 1024 + 10))
    assert r.returncode == 2
    assert r.stderr.decode().strip() == ("regtui: The roster on standard input is more than 50 MB; "
                                         "a roster may be at most 50 MB.")


def test_only_regular_files_are_read(db, admin, tmp_path):
    """/dev/zero would grow without end and a FIFO would wait for a writer: both refused at once."""
    make_pool(admin, 4)
    reopen()
    before = dump()
    database.close()
    fifo = tmp_path / "roster.csv"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        r = cli_plan(path, "--pool", "1001-1")
        assert r.returncode == 2, r.stderr
        err = r.stderr.decode().strip()
        assert "is not a regular file" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    r = cli_plan(str(tmp_path), "--pool", "1001-1")
    assert r.returncode == 2 and "is a folder" in r.stderr.decode()
    reopen()
    assert dump() == before


def test_the_planning_api_takes_bytes_and_streams(db, admin, tmp_path):
    """What the SSH door calls: plan_roster with the bytes of standard input, xlsx or csv."""
    import io

    from batch.planning import PlanOptions, plan_roster

    make_pool(admin, 40)
    data = (ROSTERS / "good.xlsx").read_bytes()
    from_path = plan_roster(admin, ROSTERS / "good.xlsx", PlanOptions(pool="1001-1"))
    from_bytes = plan_roster(admin, data, PlanOptions(pool="1001-1"))
    from_stream = plan_roster(admin, io.BytesIO(data), PlanOptions(name="upload.xlsx"))  # pool from the rows
    assert from_path.plan.changes == from_bytes.plan.changes == from_stream.plan.changes
    assert from_bytes.plan.file_name == "stdin" and from_stream.plan.file_name == "upload.xlsx"
    assert from_stream.pool.id == from_path.pool.id
    assert threading.active_count() >= 1


def on_batch_screen(actor, steps) -> dict:
    """Open the batch screen and run ``steps(pilot, screen, seen)`` (an async function)."""
    seen: dict = {}

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("b")
            await settle(pilot)
            await steps(pilot, app.screen, seen)
    run(go())
    return seen


def table_rows(screen) -> list[tuple[str, ...]]:
    from textual.widgets import DataTable

    table = screen.query_one("#batch-diff", DataTable)
    return [tuple(c.plain for c in table.get_row_at(i)) for i in range(table.row_count)]


def test_the_batch_screen_does_what_the_cli_does(db, admin, tmp_path):
    """Issue 10 items 5 and 15: pool from the file, ORDER-LINE pool names, bad values in their own
    column, the whole-plan row not 'row 0', a failed read clears the old plan, controls named."""
    from textual.widgets import Static, Switch

    from regtui.core.services import registrations
    from regtui.core.services.learners import LearnerSpec

    pool = make_pool(admin, 40)
    registrations.assign(admin, pool, [LearnerSpec(f"p{i}@example.com") for i in range(8)])
    one = write_csv(tmp_path / "one.csv", [["action", "email"], ["create", "p0@example.com"]])

    async def steps(pilot, screen, seen):
        pool_select = screen.query_one("#batch-pool", Select)
        seen["pools"] = [str(prompt) for prompt, _ in pool_select._options]
        # the pool from the file's pool column: good.xlsx names 1001-1 on every row
        screen.query_one("#batch-path", Input).value = str(ROSTERS / "good.xlsx")
        await pilot.press("f5")
        await settle(pilot)
        seen["good"] = screen.plan.summary()
        # messy.csv: values in their columns
        pool_select.value = pool.id
        screen.query_one("#batch-path", Input).value = str(ROSTERS / "messy.csv")
        screen.query_one("#batch-action", Select).value = "invite"
        await pilot.press("f5")
        await settle(pilot)
        seen["messy"] = table_rows(screen)
        # a sync beyond the revoke limit: the whole plan's error is not "row 0"
        screen.query_one("#batch-action", Select).value = ""
        screen.query_one("#batch-path", Input).value = str(one)
        screen.query_one("#batch-sync", Switch).value = True
        await pilot.press("f5")
        await settle(pilot)
        seen["sync"] = table_rows(screen)
        # a max revoke without sync: the sentence names the controls
        screen.query_one("#batch-sync", Switch).value = False
        screen.query_one("#batch-max-revoke", Input).value = "5"
        await pilot.press("f5")
        await settle(pilot)
        seen["max"] = str(screen.query_one("#batch-summary", Static).render())
        # a file that fails to read: no old rows, no "Reading and planning…"
        screen.query_one("#batch-max-revoke", Input).value = ""
        screen.query_one("#batch-path", Input).value = str(ROSTERS / "good.xlsx")
        await pilot.press("f5")
        await settle(pilot)
        assert table_rows(screen)
        screen.query_one("#batch-path", Input).value = str(ROSTERS / "notaworkbook.xlsx")
        await pilot.press("f5")
        await settle(pilot)
        seen["failed_rows"] = table_rows(screen)
        seen["failed"] = str(screen.query_one("#batch-summary", Static).render())
        seen["plan"] = screen.plan

    seen = on_batch_screen(admin, steps)
    assert seen["pools"][0] == "from the file's pool column"
    assert any(p.startswith("1001-1  Acme 1001, SE1001 (32/40 free)") for p in seen["pools"]), seen["pools"]
    assert seen["good"]["create"] == 15 and seen["good"]["error"] == 0
    by_row = {r[0]: r for r in seen["messy"] if r[1] == "error"}
    assert by_row["5"][2] == "bob@@example.com"  # the address under email
    assert by_row["7"][2] == "" and "03/04/2027" in by_row["7"][4]  # a date is not an address
    assert by_row["11"][2] == ""
    [limit] = [r for r in seen["sync"] if r[1] == "error"]
    assert limit[0] == "plan" and "too" not in limit[2]
    assert "the Max revoke field goes with the Sync switch" in seen["max"]
    assert seen["failed_rows"] == [] and seen["plan"] is None
    assert seen["failed"].startswith("No plan: ") and "Reading and planning" not in seen["failed"]


def test_a_big_plan_lists_only_its_problems_until_asked(db, admin, tmp_path):
    pool = make_pool(admin, 2000)
    rows = [["action", "email"]] + [["create", f"u{i}@example.com"] for i in range(1500)] + [["create", "bad@@x"]]
    big = write_csv(tmp_path / "big.csv", rows)

    async def steps(pilot, screen, seen):
        from textual.widgets import Switch

        screen.query_one("#batch-path", Input).value = str(big)
        screen.query_one("#batch-pool", Select).value = pool.id
        await pilot.press("f5")
        await settle(pilot)
        seen["short"] = table_rows(screen)
        screen.query_one("#batch-every-row", Switch).value = True
        await settle(pilot)
        seen["all"] = len(table_rows(screen))

    seen = on_batch_screen(admin, steps)
    assert [r[1] for r in seen["short"]] == ["error"]
    assert seen["all"] == 1501

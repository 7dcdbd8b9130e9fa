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
    out: dict = {}

    async def go():
        app = RegtuiApp(actor=actor, db_label="test.db")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("b")
            await settle(pilot)
            screen = app.screen
            screen.query_one("#batch-path", Input).value = str(roster)
            screen.query_one("#batch-pool", Select).value = pool_id
            if action:
                screen.query_one("#batch-action", Select).value = action
            await pilot.press("f5")
            await settle(pilot)
            assert screen.plan is not None, "the screen made no plan"
            out["plan"] = screen.plan.report_json()
    run(go())
    return out["plan"]


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

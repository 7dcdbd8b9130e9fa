"""A wheel install plans a roster: the roster schema ships as package data (schemas/roster.json,
read with importlib.resources), not as a file beside the source tree (issue 9 item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from regtui.core.models import database

from test_batch_cli import ROOT, ROSTERS, make_pool


def test_a_wheel_installed_in_a_fresh_venv_plans_a_roster(db, db_url, admin, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("packaging, not storage: once is enough")
    make_pool(admin, 40)
    database.close()
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    [wheel] = dist.glob("regtui-*.whl")
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    roster = elsewhere / "people.xlsx"
    roster.write_bytes((ROSTERS / "good.xlsx").read_bytes())
    # the dependencies come from the test venv's site-packages on PYTHONPATH, where regtui itself is
    # only an editable finder (.pth files are not read from PYTHONPATH): regtui comes from the wheel
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"])
    where = subprocess.run([python, "-c", "import regtui, batch, schemas; print(regtui.__file__, schemas.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout, where.stdout
    r = subprocess.run([python, "-m", "regtui", "batch", "plan", "people.xlsx", "--json"], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["create"] == 15
    assert Path(str(venv)).exists()

"""End to end in a real terminal: `python -m regtui` in a detached tmux session of 100x30."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from regtui.core.models import database
from regtui.core.services import demo

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def wait_for(check, timeout: float = 20.0, every: float = 0.2):
    """Poll ``check`` until it returns something truthy, at most ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


@pytest.mark.parametrize("term", ["xterm-256color", "xterm"])  # xterm: a 16-colour terminal
def test_tmux_open_customer_and_quit(admin, tmp_path, db_url, term):
    demo.fill(admin)
    database.close()
    socket = f"regtui-test-{uuid.uuid4().hex[:8]}"
    rc_file = tmp_path / "rc"
    env = {"REGTUI_DB": db_url, "REGTUI_HOME": os.environ["REGTUI_HOME"], "REGTUI_SITE_URL": "http://127.0.0.1:8080",
           "TERM": term, "COLORTERM": "", "PYTHONPATH": str(ROOT)}
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = f"cd {shlex.quote(str(ROOT))} && env {assignments} {shlex.quote(sys.executable)} -m regtui; echo $? > {shlex.quote(str(rc_file))}"

    def tmux(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "regtui").stdout

    started = tmux("new-session", "-d", "-s", "regtui", "-x", "100", "-y", "30", "sh", "-c", command)
    assert started.returncode == 0, started.stderr
    try:
        text = wait_for(lambda: "Northwind Traders" in screen() and screen())
        assert text, f"the customers list did not appear:\n{screen()}"
        assert "Adventure Works" in text and "customers" in text
        tmux("send-keys", "-t", "regtui", "Enter")  # the first row: Adventure Works
        text = wait_for(lambda: "SO-2027006" in screen() and screen())
        assert text, f"the customer's pools did not appear:\n{screen()}"
        assert "GDPR-ONDEMAND" in text and "Registration code users" in text
        tmux("send-keys", "-t", "regtui", "q")
        assert wait_for(rc_file.exists, timeout=15), f"regtui did not exit:\n{screen()}"
        assert rc_file.read_text().strip() == "0"
    finally:
        tmux("kill-server")

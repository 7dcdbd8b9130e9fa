"""The SSH front door through a real OpenSSH server and the real `ssh` client.

The tests start their own sshd on a free loopback port, with its own host key and a config made
of a few test lines and the Match block of deploy/sshd_config.d/regtui.conf (for this test's
user, root, and with this checkout's regtui as the AuthorizedKeysCommand). The clients use
ed25519 keys made here; regtui, not a file, tells sshd which key is whose.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from conftest import ROOT, run_cli

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
ROSTERS = ROOT / "fixtures" / "rosters"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(SSHD), reason="needs openssh-server (.ci/run installs it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the test sshd runs as root (it logs users in)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


def fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


def sshd_config(folder: Path, port: int, env: dict[str, str]) -> str:
    """The test's global lines, then deploy/'s Match block for this user with this checkout's regtui."""
    snippet = (ROOT / "deploy" / "sshd_config.d" / "regtui.conf").read_text()
    command = " ".join(["/usr/bin/env", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "regtui",
                        "ssh", "keys", "--fingerprint", "%f"])
    lines = []
    for line in snippet.splitlines():
        stripped = line.strip()
        if stripped.startswith("Match User regtui"):
            line = "Match User root"
        elif stripped.startswith("AuthorizedKeysCommand "):
            line = f"    AuthorizedKeysCommand {command}"
        elif stripped.startswith("AuthorizedKeysCommandUser"):
            line = "    AuthorizedKeysCommandUser root"
        lines.append(line)
    head = f"""Port {port}
ListenAddress 127.0.0.1
HostKey {folder / 'host_ed25519'}
PidFile {folder / 'sshd.pid'}
UsePAM no
StrictModes no
PermitRootLogin forced-commands-only
MaxStartups 100:30:200
LogLevel VERBOSE
"""
    return head + "\n".join(lines) + "\n"


class Server:
    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.port = free_port()
        self.known_hosts = folder / "known_hosts"
        self.log = folder / "sshd.log"

    def start(self) -> None:
        keygen(self.folder / "host_ed25519", "test host")
        host_pub = (self.folder / "host_ed25519.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        config = self.folder / "sshd_config"
        config.write_text(sshd_config(self.folder, self.port, self.env))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=open(self.log, "w"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait for the listening socket, not for a time
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log.read_text())
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def ssh_args(self, key: Path | None, *extra: str) -> list[str]:
        args = ["ssh", "-p", str(self.port), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "ConnectTimeout=20", "-F", "/dev/null"]
        if key is not None:
            args += ["-i", str(key)]
        return args + list(extra)

    def ssh(self, key: Path | None, *command: str, input: bytes | None = None, extra=(), timeout=120):
        return subprocess.run(self.ssh_args(key, *extra, "--", "root@127.0.0.1", *command), input=input,
                              capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An installation (SQLite, demo data, a pool 1001-1 of Tailspin Toys), its operators' keys, and sshd."""
    folder = tmp_path_factory.mktemp("ssh")
    home = folder / "home"
    home.mkdir()
    env = {"REGTUI_HOME": str(home), "REGTUI_DB": f"sqlite:///{home / 'regtui.db'}"}

    def regtui(*args, input=None):
        r = run_cli(*args, env=env, input=input)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    regtui("init", "--demo")
    regtui("order", "add", "--customer", "Tailspin Toys", "--session", "PYDATA-2027-03", "--seats", "30", "--number", "1001")
    regtui("operators", "add", "hana", "--role", "manager", "--customer", "Tailspin Toys")
    regtui("operators", "add", "olga", "--role", "manager", "--customer", "Contoso Health")
    keys = {}
    for name, owner in [("admin", "root"), ("hana", "hana"), ("olga", "olga"), ("gone", "hana")]:
        keys[name] = keygen(folder / f"id_{name}", f"{name}@laptop")
        regtui("operators", "key", "add", owner, str(keys[name]) + ".pub")
    keys["unknown"] = keygen(folder / "id_unknown", "stranger")
    regtui("operators", "key", "remove", fingerprint(Path(str(keys["gone"]) + ".pub")))
    server = Server(folder, env)
    server.start()
    yield server, keys, regtui
    server.stop()


def out(r) -> str:
    return r.stdout.decode()


def err(r) -> str:
    return r.stderr.decode()


def pools_of(server, key) -> list[dict]:
    r = server.ssh(key, "pools", "--json")
    assert r.returncode == 0, err(r)
    return json.loads(r.stdout)


def write_roster_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["email", "first_name", "last_name", "action"], *rows])
    return path


def test_the_keys_line_forces_the_session_with_restrict_and_pty(site):
    server, keys, regtui = site
    fp = fingerprint(Path(str(keys["hana"]) + ".pub"))
    line = regtui("ssh", "keys", "--fingerprint", fp).stdout.strip()
    assert line.startswith('command="') and f'ssh session --key {fp}",restrict,pty ssh-ed25519 ' in line
    assert line.endswith("regtui:hana")
    # an unknown or malformed fingerprint gets nothing at all, so sshd refuses the key
    unknown = fingerprint(Path(str(keys["unknown"]) + ".pub"))
    assert regtui("ssh", "keys", "--fingerprint", unknown).stdout == ""
    assert regtui("ssh", "keys", "--fingerprint", "SHA256:x'; rm -rf /").stdout == ""


def test_a_manager_plans_and_applies_a_csv_roster_over_ssh(site, tmp_path):
    server, keys, regtui = site
    roster = write_roster_csv(tmp_path / "roster.csv", [
        ["ann.csv@example.com", "Ann", "Csv", "create"],
        ["ben.csv@example.com", "Ben", "Csv", "invite"],
        ["not-an-address", "Bad", "Row", "create"],
    ])
    plan = server.ssh(keys["hana"], "batch", "plan", "-", "--pool", "1001-1", input=roster.read_bytes())
    assert plan.returncode == 1, err(plan)  # one row is wrong: a plan with errors exits 1
    assert "+ create    row 2     ann.csv@example.com" in out(plan)
    assert "row 4" in out(plan) and "not-an-address" in out(plan)
    # the report comes back on standard output, the diff on standard error
    report = server.ssh(keys["hana"], "batch", "plan", "-", "--pool", "1001-1", "--report", "-", input=roster.read_bytes())
    (tmp_path / "fixes.xlsx").write_bytes(report.stdout)
    sheet = openpyxl.load_workbook(tmp_path / "fixes.xlsx").active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert any("not-an-address" in [str(v) for v in row] for row in values)
    assert "standard output" in err(report) and "/tmp/regtui-ssh-" not in err(report)

    fixed = write_roster_csv(tmp_path / "fixed.csv", [
        ["ann.csv@example.com", "Ann", "Csv", "create"], ["ben.csv@example.com", "Ben", "Csv", "invite"]])
    applied = server.ssh(keys["hana"], "batch", "apply", "-", "--pool", "1001-1", "--yes", input=fixed.read_bytes())
    assert applied.returncode == 0, err(applied)
    assert "applied to pool" in out(applied) and "1 create" in out(applied) and "1 invite" in out(applied)
    pool = next(p for p in pools_of(server, keys["hana"]) if p["order"] == "1001")
    assert (pool["claimed"], pool["pending"]) == (1, 1)
    # batch history and the audit say who did it, and with which key
    history = json.loads(server.ssh(keys["hana"], "batch", "history", "--json").stdout)["rows"]
    assert history[0]["operator"] == "hana"
    events = json.loads(regtui("audit", "--operator", "hana", "--json", "--limit", "50").stdout)["rows"]
    ssh_events = [e for e in events if e["action"] == "ssh.command"]
    hana_fp = fingerprint(Path(str(keys["hana"]) + ".pub"))
    assert any(e["after"]["command"].startswith("batch apply - --pool 1001-1 --yes") and e["after"]["key"] == hana_fp
               and e["after"]["exit"] == 0 for e in ssh_events)


def test_an_xlsx_roster_on_stdin_is_read_as_xlsx(site):
    server, keys, _ = site
    plan = server.ssh(keys["admin"], "batch", "plan", "-", "--pool", "1001-1", "--json",
                      input=(ROSTERS / "good.xlsx").read_bytes())
    assert plan.returncode == 0, err(plan)
    data = json.loads(plan.stdout)
    assert data["summary"]["create"] + data["summary"]["unchanged"] == 15
    applied = server.ssh(keys["admin"], "batch", "apply", "-", "--pool", "1001-1", "--yes",
                         input=(ROSTERS / "good.xlsx").read_bytes())
    assert applied.returncode == 0, err(applied)
    again = server.ssh(keys["admin"], "batch", "plan", "-", "--pool", "1001-1", input=(ROSTERS / "good.xlsx").read_bytes())
    assert "15 unchanged" in out(again)


def test_the_template_comes_back_on_stdout(site, tmp_path):
    server, keys, _ = site
    r = server.ssh(keys["hana"], "batch", "template", "-")
    assert r.returncode == 0, err(r)
    (tmp_path / "t.xlsx").write_bytes(r.stdout)
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames


def test_a_manager_key_reaches_only_its_customer(site):
    server, keys, _ = site
    mine = pools_of(server, keys["hana"])
    assert mine and {p["customer"] for p in mine} == {"Tailspin Toys"}
    others = {p["id"] for p in pools_of(server, keys["olga"])}
    assert others and not others & {p["id"] for p in mine}
    other = sorted(others)[0]
    for command in (["registrations", str(other)], ["invites", str(other)]):
        r = server.ssh(keys["hana"], *command)
        assert r.returncode == 3, (command, err(r))
        assert "another customer" in err(r) and r.stdout == b""
    r = server.ssh(keys["hana"], "batch", "plan", "-", "--pool", str(other),
                   input=b"email,action\nx@example.com,create\n")
    assert r.returncode == 3 and "another customer" in err(r)
    assert server.ssh(keys["hana"], "audit").returncode == 3  # managers have no audit log
    # the long lists page over SSH too: a cursor of one list is refused on another
    first = json.loads(server.ssh(keys["hana"], "orders", "--json", "--limit", "1").stdout)
    assert len(first["rows"]) == 1 and first["rows"][0]["customer"] == "Tailspin Toys"
    if first["next"]:
        r = server.ssh(keys["hana"], "registrations", str(sorted(p["id"] for p in mine)[0]), "--after", first["next"])
        assert r.returncode == 2 and "cursor" in err(r)


REFUSED = [
    ["pools", "--as", "root"], ["--as", "root", "pools"], ["--as=root", "pools"], ["pools", "--db", "sqlite:////tmp/x.db"],
    ["pools; touch /tmp/regtui-pwned"], ["pools && touch /tmp/regtui-pwned"], ["pools $(touch /tmp/regtui-pwned)"],
    ["pools`touch /tmp/regtui-pwned`"], ["pools | touch /tmp/regtui-pwned"], ["sh", "-c", "touch /tmp/regtui-pwned"],
    ["batch", "plan", "/etc/passwd", "--pool", "1"], ["batch", "plan", "-", "--out", "/tmp/regtui-pwned"],
    ["batch", "plan", "-", "--report", "/tmp/regtui-pwned"], ["batch", "template", "/tmp/regtui-pwned"],
    ["operators", "add", "mallory", "--role", "admin"], ["init"], ["serve"], ["pools\x1b[2J"], ["'unclosed"],
]


def test_anything_else_is_one_sentence_and_exit_2(site):
    server, keys, regtui = site
    before = pools_of(server, keys["admin"])
    operators_before = regtui("operators", "--json").stdout
    for command in REFUSED:
        r = server.ssh(keys["hana"], *command, input=b"email\n")
        assert r.returncode == 2, (command, out(r), err(r))
        assert "Over SSH you can run: pools" in err(r) and "Traceback" not in err(r)
        assert len(err(r).strip().splitlines()) == 1 and r.stdout == b""
    assert not os.path.exists("/tmp/regtui-pwned")
    assert pools_of(server, keys["admin"]) == before
    assert regtui("operators", "--json").stdout == operators_before


def test_removed_unknown_keys_and_passwords_are_refused_by_sshd(site):
    server, keys, _ = site
    for key in (keys["gone"], keys["unknown"]):
        r = server.ssh(key, "pools")
        assert r.returncode == 255 and "Permission denied (publickey)" in err(r), err(r)
    r = subprocess.run(server.ssh_args(None, "-o", "PreferredAuthentications=password,keyboard-interactive",
                                       "-o", "PubkeyAuthentication=no", "root@127.0.0.1", "pools"),
                       capture_output=True, timeout=60)
    assert r.returncode == 255 and "Permission denied (publickey)" in err(r)


def test_port_forwarding_is_refused(site):
    server, keys, _ = site
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen()
    port = target.getsockname()[1]
    try:
        stdio = server.ssh(keys["admin"], extra=("-W", f"127.0.0.1:{port}"), timeout=60)
        assert stdio.returncode != 0 and "prohibited" in err(stdio), err(stdio)
        remote = server.ssh(keys["admin"], "pools", extra=("-o", "ExitOnForwardFailure=yes", "-R", f"0:127.0.0.1:{port}"),
                            timeout=60)
        assert remote.returncode == 255 and "forwarding failed" in err(remote), err(remote)
        target.settimeout(0.5)
        with pytest.raises(socket.timeout):
            target.accept()  # nothing ever reached the target
    finally:
        target.close()


def test_twenty_concurrent_sessions_all_answer(site):
    server, keys, _ = site
    procs = [subprocess.Popen(server.ssh_args(keys["admin"], "root@127.0.0.1", "pools", "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(20)]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 20, [e.decode()[-300:] for _, _, e in results]
    assert all(any(p["order"] == "1001" for p in json.loads(o)) for _, o, _ in results)


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_the_tui_over_ssh_shows_the_operator_and_role(site):
    server, keys, _ = site
    name = f"regtui-ssh-{os.getpid()}"
    command = " ".join(server.ssh_args(keys["hana"], "-tt", "root@127.0.0.1"))
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30", command], check=True,
                   env={**os.environ, "TERM": "xterm-256color"})
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ("hana (manager)" in screen and "Tailspin Toys" in screen):
            time.sleep(0.2)  # polling the pane until the TUI has drawn it
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
        assert "hana (manager)" in screen, screen
        assert "Tailspin Toys" in screen
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0:
                break  # the TUI quit, the ssh session ended, tmux closed the pane
            time.sleep(0.2)
        else:
            pytest.fail("the TUI did not quit on q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)

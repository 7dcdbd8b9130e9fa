"""deploy/: the backup and restore scripts, run as an operator would, and sshd's key helper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import PG_URL, ROOT, run_cli

DEPLOY = ROOT / "deploy"


def regtui(env: dict, *args: str) -> subprocess.CompletedProcess:
    os.makedirs(env["REGTUI_HOME"], exist_ok=True)
    r = run_cli(*args, env=env)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def operator_names(env: dict) -> set[str]:
    return {o["name"] for o in json.loads(regtui(env, "operators", "--json").stdout)}


def script(name: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(DEPLOY / name), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (name, r.stdout, r.stderr)
    return r


def backup_and_restore(env: dict, dest: Path) -> None:
    regtui(env, "init")
    regtui(env, "operators", "add", "kept", "--role", "limited")
    made = Path(script("backup.sh", env, str(dest)).stdout.strip())
    assert made.exists() and made.parent == dest
    assert oct(made.stat().st_mode & 0o777) == "0o600"  # a backup is as secret as the database
    regtui(env, "operators", "add", "after-backup", "--role", "limited")
    regtui(env, "operators", "remove", "kept")
    assert "kept" not in operator_names(env)
    script("restore.sh", env, str(made))
    names = operator_names(env)
    assert "kept" in names and "after-backup" not in names


@pytest.mark.skipif(not shutil.which("sqlite3"), reason="needs the sqlite3 command (.ci/run installs it)")
def test_sqlite_backup_restores(tmp_path):
    env = {"REGTUI_HOME": str(tmp_path / "home"), "REGTUI_DB": f"sqlite:///{tmp_path / 'home' / 'regtui.db'}"}
    backup_and_restore(env, tmp_path / "backups")


@pytest.mark.skipif(not shutil.which("sqlite3"), reason="needs the sqlite3 command")
def test_a_damaged_backup_is_not_restored(tmp_path):
    env = {"REGTUI_HOME": str(tmp_path / "home"), "REGTUI_DB": f"sqlite:///{tmp_path / 'home' / 'regtui.db'}"}
    regtui(env, "init")
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    r = subprocess.run([str(DEPLOY / "restore.sh"), str(bad)], env={**os.environ, **env}, capture_output=True, text=True)
    assert r.returncode != 0
    assert operator_names(env)  # the database is still there and readable


@pytest.mark.skipif(not (PG_URL and shutil.which("pg_dump")), reason="needs REGTUI_TEST_POSTGRES and pg_dump")
def test_postgresql_backup_restores(tmp_path):
    import psycopg

    name = f"regtui_restore_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    try:
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
        env = {"REGTUI_HOME": str(tmp_path / "home"), "REGTUI_DB": url}
        backup_and_restore(env, tmp_path / "backups")
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_the_keys_helper_reads_the_env_file(tmp_path):
    home = tmp_path / "home"
    env = {"REGTUI_HOME": str(home), "REGTUI_DB": f"sqlite:///{home / 'regtui.db'}"}
    regtui(env, "init")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    me = json.loads(regtui(env, "operators", "--json").stdout)[0]["name"]
    regtui(env, "operators", "key", "add", me, str(tmp_path / "k.pub"))
    fp = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True).stdout.split()[1]
    env_file = tmp_path / "env"
    env_file.write_text(f"REGTUI_HOME={home}\nREGTUI_DB=sqlite:///{home / 'regtui.db'}\n")
    # as sshd runs it: no environment but what the helper reads
    clean = {"PATH": "/usr/bin:/bin", "REGTUI_ENV_FILE": str(env_file),
             "REGTUI_BIN": str(Path(sys.executable).parent / "regtui")}
    r = subprocess.run([str(DEPLOY / "regtui-keys"), fp], env=clean, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('command="env REGTUI_HOME=') and f"ssh session --key {fp}\",restrict,pty" in r.stdout

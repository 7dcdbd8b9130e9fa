"""The installation: `regtui init` makes the secret key and the first admin (and nothing on a
database that already has operators), and the data folder, database and key are the regtui
user's alone (0700 folder, 0600 files)."""

from __future__ import annotations

import os
import stat

import pytest

from conftest import run_cli
from regtui.core.models import AuditEvent, Operator
from regtui.core.services import operators


def mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


@pytest.fixture
def fresh(tmp_path):
    """A data folder that does not exist yet, under a permissive umask (0022, the usual)."""
    home = tmp_path / "data"
    env = {"REGTUI_HOME": str(home), "REGTUI_DB": f"sqlite:///{home / 'regtui.db'}"}
    old = os.umask(0o022)
    yield home, env
    os.umask(old)


def test_init_makes_a_private_data_folder_database_and_key(fresh):
    home, env = fresh
    r = run_cli("init", env=env)
    assert r.returncode == 0, r.stderr
    assert "Secret key made at" in r.stdout and "is an admin" in r.stdout
    assert mode(home) == "0o700"
    assert mode(home / "secret.key") == "0o600" and len((home / "secret.key").read_text().strip()) == 64
    for name in ("regtui.db", "regtui.db-wal", "regtui.db-shm"):
        if (home / name).exists():
            assert mode(home / name) == "0o600", name
    key = (home / "secret.key").read_bytes()
    r = run_cli("init", env=env)  # safe to run twice: the key stays
    assert r.returncode == 0 and "Secret key made" not in r.stdout
    assert (home / "secret.key").read_bytes() == key


def test_init_tightens_an_older_installation(fresh):
    home, env = fresh
    assert run_cli("init", env=env).returncode == 0
    home.chmod(0o755)
    (home / "regtui.db").chmod(0o644)
    assert run_cli("init", env=env).returncode == 0
    assert mode(home) == "0o700" and mode(home / "regtui.db") == "0o600"


def _pool_with_an_invitation(env) -> None:
    for args in (("customer", "--name", "Acme", "--email", "hr@acme.example.com"), ("product", "PY", "Python"),
                 ("session", "PY", "PY-1", "Python one"),
                 ("order", "add", "--customer", "Acme", "--session", "PY-1", "--seats", "3"),
                 ("invite", "1", "ada@example.com")):
        r = run_cli(*args, env=env)
        assert r.returncode == 0, (args, r.stderr)


def test_maildir_messages_are_private(fresh):
    home, env = fresh
    assert run_cli("init", env=env).returncode == 0
    _pool_with_an_invitation(env)
    r = run_cli("mail", "send", env=env)
    assert r.returncode == 0, r.stderr
    new = list((home / "maildir" / "new").iterdir())
    assert len(new) == 1
    assert mode(new[0]) == "0o600"
    for folder in (home / "maildir", home / "maildir" / "new", home / "maildir" / "tmp", home / "maildir" / "cur"):
        assert mode(folder) == "0o700", folder


def test_a_missing_or_empty_key_is_one_sentence_and_exit_2_never_a_new_key(fresh):
    home, env = fresh
    assert run_cli("init", env=env).returncode == 0
    _pool_with_an_invitation(env)
    key = home / "secret.key"
    key.unlink()
    for args in (("link", "1", "ada@example.com"), ("invite", "1", "bob@example.com"), ("mail", "send")):
        r = run_cli(*args, env=env)
        assert r.returncode == 2 and "no secret key at" in r.stderr and "regtui init" in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert not key.exists()
    key.write_text("")
    for args in (("link", "1", "ada@example.com"), ("init",)):
        r = run_cli(*args, env=env)
        assert r.returncode == 2 and "is empty" in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert key.read_text() == ""  # never silently replaced
    r = run_cli("invites", "1", "--json", env=env)  # nothing was invited while the key was missing
    assert r.returncode == 2 or "bob@example.com" not in r.stdout


@pytest.mark.storage
def test_init_on_a_database_with_operators_adds_nobody(db, cli):
    """Whoever runs `init` on an existing database gets no role from it: the database has an
    admin (alice), and the OS user running init is not an operator."""
    from regtui.core.models import database

    database.connect(reuse_if_open=True)
    operators.make_first_admin("alice")
    database.close()
    r = cli("init")
    assert r.returncode == 0, r.stderr
    assert "is not an operator" in r.stdout and "is an admin" not in r.stdout
    database.connect(reuse_if_open=True)
    assert [o.name for o in Operator.select()] == ["alice"]
    assert AuditEvent.select().where(AuditEvent.action == "operator.add").count() == 1
    r = cli("pools")
    assert r.returncode == 3 and "not a regtui operator" in r.stderr


@pytest.mark.storage
def test_first_admin_is_made_only_on_an_empty_database(db):
    assert operators.make_first_admin("alice")
    assert not operators.make_first_admin("mallory")
    assert not operators.make_first_admin("alice")
    assert [(o.name, o.role) for o in Operator.select()] == [("alice", "admin")]

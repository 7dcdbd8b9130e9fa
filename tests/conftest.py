"""Shared fixtures. Storage tests run on SQLite always and on PostgreSQL when
REGTUI_TEST_POSTGRES names a database URL; each test gets its own schema there."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from regtui.core import db as dbmod
from regtui.core.models import database
from regtui.core.services import operators, templates, tokens

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("REGTUI_TEST_POSTGRES")
BACKENDS = ["sqlite", "postgres"]


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def _pg_admin(sql: str) -> None:
    try:
        import psycopg
    except ImportError:
        pytest.exit("The PostgreSQL tests need psycopg 3: run .venv/bin/pip install -e '.[dev]'", returncode=2)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'regtui.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need REGTUI_TEST_POSTGRES=postgresql://user@host/db")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schema)
    finally:
        if database.obj is not None:
            database.close()
        _pg_admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private data folder (Maildir) with its secret key, as `regtui init` makes them."""
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("REGTUI_HOME", str(path))
    monkeypatch.delenv("REGTUI_SMTP", raising=False)
    monkeypatch.delenv("REGTUI_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("REGTUI_SITE_URL", "http://127.0.0.1:8080")
    tokens.create_key(path / "secret.key")
    return path


@pytest.fixture
def db(db_url, home, monkeypatch):
    """An initialised database bound to the models; REGTUI_DB points at it for subprocesses."""
    monkeypatch.setenv("REGTUI_DB", db_url)
    conn = dbmod.open_database(db_url)
    dbmod.migrate()
    templates.seed()
    yield conn
    conn.close()


@pytest.fixture
def admin(db):
    """The operator running the tests (the OS login user), made an admin as `regtui init` does."""
    operators.make_first_admin(operators.login_name())
    return operators.current()


def run_cli(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `regtui ARGS` as a user would, in a new process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "regtui", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def cli(db):
    """`cli("pools", "--json")` runs regtui against the test database in a subprocess."""
    database.close()
    return run_cli


@pytest.fixture(autouse=True)
def truecolour_tui(monkeypatch):
    """The TUI draws as in a true-colour terminal whatever TERM the tests run under (Rich calls
    an unset TERM, or plain xterm, 16 colours, and the app then takes the ANSI theme);
    tests/test_tui_colours.py asks for 16 colours itself."""
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")

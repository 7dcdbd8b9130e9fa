"""Schema versions: `regtui init` upgrades a database made by an earlier regtui, keeping its data."""

from __future__ import annotations

from regtui.core import db as dbmod
from regtui.core.models import ALL_MODELS, Learner, database
from conftest import run_cli


def _make_schema_1() -> None:
    """The schema as release 1 left it: set-password links in a table of their own."""
    dbmod.migrate()
    for column in ("password_link_nonce", "password_link_expires_at", "password_link_used_at"):
        database.execute_sql(f'ALTER TABLE "learner" DROP COLUMN "{column}"')
    database.execute_sql('DELETE FROM "schema_version" WHERE "version" > 1')
    database.execute_sql('CREATE INDEX "code_pool_id" ON "code" ("pool_id")')
    database.execute_sql('CREATE TABLE "password_token" ("id" INTEGER NOT NULL PRIMARY KEY, "learner_id" INTEGER NOT NULL '
                         'REFERENCES "learner" ("id") ON DELETE CASCADE, "nonce" VARCHAR(255) NOT NULL, '
                         '"created_at" TIMESTAMP NOT NULL, "expires_at" TIMESTAMP NOT NULL, "used_at" TIMESTAMP)')
    database.execute_sql('INSERT INTO "learner" ("email", "email_key", "first_name", "last_name", "must_set_password", '
                         '"created_at") VALUES (\'old@example.com\', \'old@example.com\', \'Old\', \'Timer\', TRUE, '
                         '\'2026-01-02 03:04:05\')')


def test_init_upgrades_a_schema_1_database_and_keeps_its_learners(db_url, home, monkeypatch):
    monkeypatch.setenv("REGTUI_DB", db_url)
    dbmod.open_database(db_url)
    _make_schema_1()
    assert dbmod.current_version() == 1
    database.close()

    done = run_cli("init")
    assert done.returncode == 0, done.stderr
    assert f"schema {dbmod.LATEST} (was 1)" in done.stdout

    dbmod.open_database(db_url)
    try:
        assert dbmod.current_version() == dbmod.LATEST
        assert not database.table_exists("password_token", schema=dbmod._schema())
        assert "code_pool_id" not in {i.name for i in database.get_indexes("code", schema=dbmod._schema())}
        for model in ALL_MODELS:  # the upgraded schema is the one the models describe
            have = {c.name for c in database.get_columns(model._meta.table_name, schema=dbmod._schema())}
            assert have == {f.column_name for f in model._meta.sorted_fields}, model.__name__
        old = Learner.get(Learner.email_key == "old@example.com")
        assert (old.first_name, old.password_link_nonce, old.must_set_password) == ("Old", None, True)
    finally:
        database.close()

    again = run_cli("init")
    assert again.returncode == 0, again.stderr
    assert f"schema {dbmod.LATEST} (was {dbmod.LATEST})" in again.stdout

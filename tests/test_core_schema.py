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


def test_init_upgrades_a_real_schema_1_database_file(tmp_path, home, monkeypatch):
    """fixtures/schema-1.db was made by `regtui init --demo` of release 1 (commit 0e7f56e): every step
    since runs on a real old file, data and all, and the result is the schema the models describe."""
    import shutil
    import sqlite3
    from pathlib import Path

    from regtui.core.services import tokens

    tokens.create_key()
    path = tmp_path / "old.db"
    shutil.copy(Path(__file__).resolve().parent.parent / "fixtures" / "schema-1.db", path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("REGTUI_DB", url)
    before = {t: sqlite3.connect(path).execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
              for t in ("learner", "code", "access", "invitation", "outbox_email", "audit_event")}

    done = run_cli("init")
    assert done.returncode == 0, done.stderr
    assert f"schema {dbmod.LATEST} (was 1)" in done.stdout

    dbmod.open_database(url)
    try:
        for model in ALL_MODELS:
            have = {c.name for c in database.get_columns(model._meta.table_name)}
            assert have == {f.column_name for f in model._meta.sorted_fields}, model.__name__
        for table, n in before.items():
            assert database.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0] >= n, table
        # queued emails written by release 1 hold no live link any more (issue 8 item 4)
        bodies = [b for (b,) in database.execute_sql('SELECT body FROM "outbox_email"').fetchall()]
        assert bodies and not any("/claim/" in b and "." in b.split("/claim/")[1][:30] for b in bodies)
        # every pool release 1 made is now its order's line (schema 11)
        pools_made = database.execute_sql('SELECT id, order_id, session_id, seats FROM "pool" ORDER BY id').fetchall()
        lines = database.execute_sql('SELECT pool_id, order_id, session_id, seats FROM "order_line" '
                                     'WHERE pool_id IS NOT NULL ORDER BY pool_id').fetchall()
        assert pools_made and [tuple(r) for r in lines] == [tuple(r) for r in pools_made]
    finally:
        database.close()
    pools = run_cli("pools", "--json")
    assert pools.returncode == 0, pools.stderr
    assert '"claimed"' in pools.stdout


def test_order_lines_from_before_schema_11_are_filled_in(db, admin):
    """Schema 11 keeps every order line: a pool's, and a typed line that made no pool, which before
    only the order's `order.add` audit event held."""
    from regtui.core.models import OrderLine
    from regtui.core.services import catalog, customers, orders

    product = catalog.add_product(admin, "PY", "Python")
    session = catalog.add_session(admin, product, "PY-1", "Python one", access_days=30)
    customer = customers.add(admin, "Acme", "hr@acme.example.com")
    order, [pool] = orders.add(admin, customer, [orders.OrderLine(session, 1), orders.OrderLine(session, 3)])
    OrderLine.drop_table()  # as a schema-10 database has it
    dbmod._order_lines()
    got = [(l.order_id, l.session_id, l.seats, l.pool_id) for l in OrderLine.select().order_by(OrderLine.id)]
    assert sorted(got, key=lambda r: r[2]) == [(order.id, session.id, 1, None), (order.id, session.id, 3, pool.id)]
    # (filled in pools first: an old order's lines come back in that order)
    assert [r.lines_text() for r in orders.page(admin).rows] == [f"Python PY-1 ×3 (pool {pool.id}); "
                                                               "Python PY-1 ×1 (no pool: one seat)"]

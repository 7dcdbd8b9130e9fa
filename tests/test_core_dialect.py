"""The one dialect object: each database-specific fast path gives what its plain twin gives."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from regtui.core import bulk
from regtui.core.db import dialect
from regtui.core.models import AuditEvent, Learner, database

pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parent.parent


def _learners(n: int, start: int = 0) -> list[tuple]:
    when = dialect().db_datetime(dt.datetime(2027, 1, 2, 3, 4, 5))
    return [(f"L{i}@Example.com", f"l{i}@example.com", f"Tab\there{i}", "Back\\slash\nline", True, when)
            for i in range(start, start + n)]


NAMES = ["email", "email_key", "first_name", "last_name", "must_set_password", "created_at"]


def _stored() -> list[tuple]:
    return list(Learner.select(Learner.email, Learner.email_key, Learner.first_name, Learner.last_name,
                               Learner.must_set_password, Learner.created_at).order_by(Learner.email_key).tuples())


def test_bulk_insert_stores_what_peewee_stores(db):
    """COPY (PostgreSQL) or executemany (SQLite) against peewee's own insert_many."""
    rows = _learners(3)
    with database.atomic():
        assert bulk.insert_tuples(Learner, NAMES, rows) == 3
    fast = _stored()
    Learner.delete().execute()
    with database.atomic():
        Learner.insert_many([dict(zip(NAMES, (*r[:5], dt.datetime(2027, 1, 2, 3, 4, 5)))) for r in rows]).execute()
    assert _stored() == fast
    assert fast[0][2] == "Tab\there0" and fast[0][3] == "Back\\slash\nline"


def test_insert_or_skip_skips_only_the_conflicting_rows(db):
    with database.atomic():
        bulk.insert_tuples(Learner, NAMES, _learners(2))
    with database.atomic():
        added = bulk.insert_tuples(Learner, NAMES, _learners(4), conflict="email_key")
    assert added == 2
    assert [r[1] for r in _stored()] == [f"l{i}@example.com" for i in range(4)]


def test_update_from_moves_only_rows_still_in_their_state(db):
    with database.atomic():
        bulk.insert_tuples(Learner, NAMES, _learners(3))
    ids = [i for (i,) in Learner.select(Learner.id).order_by(Learner.id).tuples()]
    Learner.update(first_name="kept").where(Learner.id == ids[2]).execute()
    with database.atomic():
        with bulk.staged("rename", {"learner_id": "INTEGER PRIMARY KEY", "name": "TEXT"},
                         [(ids[0], "Ada"), (ids[1], "Grace"), (ids[2], "Alan")]) as table:
            changed = dialect().update_from("learner", {"first_name": "m.name", "must_set_password": "FALSE"},
                                            table, key="id", source_key="learner_id",
                                            where="first_name <> 'kept'")
    assert changed == 2
    got = dict(Learner.select(Learner.id, Learner.first_name).tuples())
    assert [got[i] for i in ids] == ["Ada", "Grace", "kept"]


def test_new_ids_are_free_and_in_order(db):
    with database.atomic():
        bulk.insert_tuples(Learner, NAMES, _learners(2))
        ids = bulk.new_ids(Learner, 3)
    top = Learner.select(Learner.id).order_by(Learner.id.desc()).scalar()
    assert ids == sorted(ids) and len(set(ids)) == 3 and ids[0] > top


def test_sql_json_object_is_the_same_json_on_both(db):
    with database.atomic():
        with bulk.staged("j", {"n": "INTEGER", "flag": "BOOLEAN"}, [(1, True)]) as table:
            text = database.execute_sql(
                f"SELECT {bulk.sql_json_object({'n': 'n', 'flag': bulk.sql_json_bool('flag')})} FROM {table}").fetchone()[0]
    import json
    assert json.loads(text) == {"n": 1, "flag": True}


def test_staged_refuses_outside_a_transaction(db):
    with pytest.raises(RuntimeError):
        with bulk.staged("x", {"a": "INTEGER"}, [(1,)]):
            pass


def test_no_module_but_the_dialect_asks_which_database_it_is_on():
    pattern = re.compile(r"is_postgres|PostgresqlDatabase|psycopg2|isinstance\([^)]*Sqlite")
    allowed = {Path("regtui/core/dialect.py"), Path("regtui/core/db.py")}  # db.py opens the database
    offenders = [str(p.relative_to(ROOT)) for base in ("regtui", "batch") for p in (ROOT / base).rglob("*.py")
                 if p.relative_to(ROOT) not in allowed and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], f"database branches outside regtui/core/dialect.py: {offenders}"


def test_audit_rows_written_set_based_read_back(db):
    """The audit writer's SQL path (dates bound through the dialect) reads back as datetimes."""
    from regtui.core.services import audit

    with database.atomic():
        bulk.insert_tuples(Learner, NAMES, _learners(1))
        audit.record("tester", "learner.add", Learner.get(), after={"x": 1})
    row = AuditEvent.get()
    assert isinstance(row.at, dt.datetime) and row.operator == "tester"


def test_select_in_gives_what_a_list_of_placeholders_gives(db):
    """PostgreSQL sends the whole list as one parameter (a text it splits, or an array when a value
    is empty or holds a line break); its plain twin (the base class) binds a placeholder per value,
    in chunks. For text keys, integer ids, texts with tabs, commas, line breaks, empty and
    non-ASCII ones, and an empty list."""
    from regtui.core.dialect import Dialect

    with database.atomic():
        bulk.insert_tuples(Learner, NAMES, _learners(12))
    ids = [i for (i,) in Learner.select(Learner.id).order_by(Learner.id).tuples()]
    cases = [('SELECT "email_key", "id" FROM "learner" WHERE "email_key" IN ({in})',
              [f"l{i}@example.com" for i in range(0, 12, 2)] + ["nobody@example.com"]),
             ('SELECT "id", "first_name" FROM "learner" WHERE "id" IN ({in})', ids[3:] + [10**9]),
             ('SELECT "id" FROM "learner" WHERE "id" IN ({in})', []),
             ('SELECT "id" FROM "learner" WHERE "first_name" IN ({in})', ["Tab\there0", "Tab\there3", "a,b", "Ünï"]),
             ('SELECT "id" FROM "learner" WHERE "last_name" IN ({in})', ["Back\\slash\nline", "x"]),
             ('SELECT "id" FROM "learner" WHERE "last_name" IN ({in})', [""]),
             ('SELECT "id" FROM "learner" WHERE "last_name" IN ({in})', ["Back\\slash", "line"])]
    for sql, values in cases:
        fast = dialect().select_in(sql, values, 5)
        plain = Dialect.select_in(dialect(), sql, values, 5)
        assert sorted(fast) == sorted(plain)
    assert len(dialect().select_in(cases[0][0], cases[0][1], 5)) == 6
    assert len(dialect().select_in(*cases[3][:2], 5)) == 2 and len(dialect().select_in(*cases[4][:2], 5)) == 12
    assert dialect().select_in(*cases[5][:2], 5) == [] == dialect().select_in(*cases[6][:2], 5)


def test_a_page_is_read_without_parallel_workers_and_the_setting_ends_with_it(db):
    """PostgreSQL starts parallel workers for a big list's index walk, which a page of 101 rows
    does not need; the setting is local to the page's reads."""
    show = "SHOW max_parallel_workers_per_gather"
    if dialect().name != "postgresql":
        with dialect().page_reads():
            assert Learner.select().count() == 0  # nothing to set on SQLite: reads as ever
        return
    before = database.execute_sql(show).fetchone()[0]
    with dialect().page_reads():
        assert database.execute_sql(show).fetchone()[0] == "0"
    assert database.execute_sql(show).fetchone()[0] == before != "0"


def test_a_batch_keeps_its_plan_whole_and_quickly_compressed(db):
    """Schema 13: on PostgreSQL the plan column is lz4-compressed (pglz took 0.15 s of a 100,000-row
    apply to store the plan); the plan reads back whole on both databases."""
    from regtui.core.models import Batch

    text = '{"changes": [' + ", ".join(f'[{i}, "create", "l{i}@example.com"]' for i in range(20_000)) + "]}"
    with database.atomic():
        batch = Batch.create(file_name="r.csv", sha256="0" * 64, operator="t", plan=text)
    assert Batch.get_by_id(batch.id).plan == text
    if dialect().name == "postgresql":
        method = database.execute_sql("SELECT attcompression FROM pg_attribute WHERE attrelid = 'batch'::regclass "
                                      "AND attname = 'plan'").fetchone()[0]
        assert method == "l"

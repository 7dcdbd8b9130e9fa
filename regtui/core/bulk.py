"""Fast bulk writes for the services' batch paths: one prepared statement run over many rows
(executemany on SQLite, COPY on PostgreSQL) instead of building a peewee query per chunk, which
dominated a 100,000-row roster apply. Values go through each field's ``db_value``, as peewee
itself does, so what is stored is the same; field defaults the rows leave out are filled in as
peewee's insert_many does. Rows may be a generator: they are converted and sent in chunks, so a
big batch is never held twice in memory. Call inside the caller's transaction.

What differs between the databases is asked of ``db.dialect()``; this module holds no branch on it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from regtui.core.db import dialect
from regtui.core.models import database

CHUNK = 5000


def insert_rows(model, rows: Iterable[dict], *, ignore_conflicts: bool = False) -> int:
    """INSERT ``rows`` (dicts of field name -> value, all with the same keys) into ``model``'s table.
    With ``ignore_conflicts`` a row that breaks a unique key is skipped (ON CONFLICT DO NOTHING)."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return 0
    names = list(first)
    # peewee's insert_many fills field defaults the rows leave out (the DDL has none): so do we
    defaults = {n: f.default for n, f in model._meta.fields.items()
                if n not in names and f.default is not None and not f.primary_key}
    fixed = {n: d() if callable(d) else d for n, d in defaults.items()}
    fields = [model._meta.fields[n] for n in names] + [model._meta.fields[n] for n in fixed]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    converters = [(f.db_value, n) for f, n in zip(fields, names)]
    tail = tuple(model._meta.fields[n].db_value(v) for n, v in fixed.items())
    converted = (tuple(conv(row[n]) for conv, n in converters) + tail for row in _chain(first, it))
    return dialect().insert_values(f'"{model._meta.table_name}"', columns, converted,
                                   tail=" ON CONFLICT DO NOTHING" if ignore_conflicts else "")


def _chain(first, rest: Iterator):
    yield first
    yield from rest


# --- the tuple paths: no per-value conversion, ids known before the INSERT ----------------------


def param() -> str:
    """The driver's placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return dialect().param


def db_datetime(value):
    """A datetime as the driver binds it in raw SQL (see ``Dialect.db_datetime``)."""
    return dialect().db_datetime(value)


def new_ids(model, n: int) -> list[int]:
    """Reserve ``n`` primary keys of ``model``'s table, so a bulk INSERT need not read its rows
    back to learn their ids (see ``Dialect.new_ids``)."""
    return dialect().new_ids(model._meta.table_name, n) if n > 0 else []


def insert_tuples(model, names: list[str], rows: Iterable[tuple], *, conflict: str | None = None) -> int:
    """INSERT ``rows`` (tuples of driver-ready values, in the order of field ``names``) into
    ``model``'s table, streamed in chunks; returns how many rows were inserted. With ``conflict``
    (a field name) a row whose value there already exists is skipped (ON CONFLICT (col) DO
    NOTHING), any other constraint still fails the statement. Values are bound as given: dates and
    datetimes as ``db_datetime`` makes them."""
    columns = ", ".join(f'"{model._meta.fields[n].column_name}"' for n in names)
    table = f'"{model._meta.table_name}"'
    if conflict:
        return dialect().insert_or_skip(table, columns, list(rows), model._meta.fields[conflict].column_name)
    return dialect().copy_rows(table, columns, rows)


def select_in(sql: str, values, *, chunk: int = 5000) -> list[tuple]:
    """Run ``sql`` (with one ``{in}`` where the ``IN (...)`` list goes, and no other parameter)
    for ``values``, without building a peewee query (whose SQL generation cost more than the
    query on 10,000-value lists); returns all rows as tuples."""
    return dialect().select_in(sql, list(values), chunk)


# --- staged rows: set-based writes ----------------------------------------------------------


@contextmanager
def staged(name: str, columns: dict[str, str], rows: Iterable[tuple]) -> Iterator[str]:
    """A temporary table holding ``rows`` (``columns``: name -> SQL type, in the rows' order), so
    that the writes derived from them run in the database as INSERT ... SELECT, with no Python
    per row. Yields the table's name for use in SQL; emptied on exit. Call inside a transaction (on
    PostgreSQL the table empties at commit), and use one name for one purpose at a time."""
    if not database.in_transaction():
        raise RuntimeError("bulk.staged keeps its rows for one transaction: call it inside one")
    table = dialect().stage(name, columns, rows)
    yield table
    database.cursor().execute(f"DELETE FROM {table}")  # on failure the transaction's rollback empties it


def sql_date(expr: str) -> str:
    """An ISO date text expression as a value for a DATE column."""
    return dialect().sql_date(expr)


def sql_json_object(pairs: dict[str, str]) -> str:
    """SQL building the JSON text of an object from (key -> SQL expression); for the values,
    see ``sql_json_bool``. Keys are code, never user input."""
    return dialect().sql_json_object(pairs)


def sql_json_bool(expr: str) -> str:
    """A boolean column as a JSON true/false inside ``sql_json_object`` (SQLite keeps 0/1)."""
    return dialect().sql_json_bool(expr)

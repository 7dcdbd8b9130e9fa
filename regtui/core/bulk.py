"""Fast bulk INSERTs for the services' batch paths: one prepared statement run over many rows
(executemany on SQLite, execute_values on PostgreSQL) instead of building a peewee query per
chunk, which dominated a 100,000-row roster apply. Values go through each field's ``db_value``,
as peewee itself does, so what is stored is the same; field defaults the rows leave out are
filled in as peewee's insert_many does. Rows may be a generator: they are converted and sent in
chunks, so a big batch is never held twice in memory. Call inside the caller's transaction."""

from __future__ import annotations

import io
from contextlib import contextmanager
from itertools import islice
from typing import Iterable, Iterator

from regtui.core.db import is_postgres
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
    table = model._meta.table_name
    converters = [(f.db_value, n) for f, n in zip(fields, names)]
    tail = tuple(model._meta.fields[n].db_value(v) for n, v in fixed.items())
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values

        sql = f'INSERT INTO "{table}" ({columns}) VALUES %s' + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")

        def send(values):
            execute_values(cursor, sql, values, page_size=2000)
    else:
        marks = ", ".join("?" for _ in fields)
        sql = f'INSERT {"OR IGNORE " if ignore_conflicts else ""}INTO "{table}" ({columns}) VALUES ({marks})'

        def send(values):
            cursor.executemany(sql, values)
    total = 0
    chunk = [first, *islice(it, CHUNK - 1)]
    while chunk:
        send([tuple(conv(row[n]) for conv, n in converters) + tail for row in chunk])
        total += len(chunk)
        chunk = list(islice(it, CHUNK))
    return total


# --- the tuple paths: no per-value conversion, ids known before the INSERT ----------------------


def param() -> str:
    """The driver's placeholder: ``%s`` (psycopg2) or ``?`` (sqlite3)."""
    return "%s" if is_postgres() else "?"


def db_datetime(value):
    """A datetime as the driver should bind it in the tuple paths: as is for psycopg2, the ISO
    text peewee's DateTimeField stores (``YYYY-MM-DD HH:MM:SS``) for SQLite."""
    if value is None or is_postgres():
        return value
    return str(value)


def new_ids(model, n: int) -> list[int]:
    """Reserve ``n`` primary keys of ``model``'s table, so a bulk INSERT need not read its rows
    back to learn their ids. PostgreSQL: from the table's sequence (safe under any concurrency).
    SQLite: the next ``n`` after the highest id; call inside a transaction, which on SQLite holds
    the write lock from its start (BEGIN IMMEDIATE), so no other writer can take them meanwhile
    (and if one did, the INSERT would fail on the primary key rather than mix rows up)."""
    if n <= 0:
        return []
    table = model._meta.table_name
    if is_postgres():
        # the sequence's name is looked up once: inside the series it was evaluated per row (5x slower)
        seq = database.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        cursor = database.execute_sql("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", (seq, n))
        return [row[0] for row in cursor.fetchall()]
    if not database.in_transaction():
        raise RuntimeError("bulk.new_ids reserves ids under the transaction's write lock: call it inside one")
    top = database.execute_sql(f'SELECT max("id") FROM "{table}"').fetchone()[0] or 0
    return list(range(top + 1, top + 1 + n))


def insert_tuples(model, names: list[str], rows: Iterable[tuple], *, conflict: str | None = None) -> int:
    """INSERT ``rows`` (tuples of driver-ready values, in the order of field ``names``) into
    ``model``'s table, streamed in chunks; returns how many rows were inserted. With ``conflict``
    (a column name) a row whose value there already exists is skipped (ON CONFLICT (col) DO
    NOTHING), any other constraint still fails the statement. Values are bound as given: dates and
    datetimes as ISO text on SQLite (see ``db_datetime``), Python objects for psycopg2."""
    fields = [model._meta.fields[n] for n in names]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    table = model._meta.table_name
    tail = f' ON CONFLICT ("{model._meta.fields[conflict].column_name}") DO NOTHING' if conflict else ""
    cursor = database.cursor()
    it = iter(rows)
    total = 0
    if is_postgres() and conflict:
        # a conflict is rare (two transactions creating the same learner at once): try the quick
        # COPY in a savepoint, and only if it meets one, INSERT ... ON CONFLICT DO NOTHING instead
        from peewee import IntegrityError
        from psycopg2 import IntegrityError as DriverIntegrityError

        rows = list(it)
        try:
            with database.atomic():
                return insert_tuples(model, names, rows)
        except (IntegrityError, DriverIntegrityError):
            it = iter(rows)
        from psycopg2.extras import execute_values

        sql = f'INSERT INTO "{table}" ({columns}) VALUES %s{tail}'
        while chunk := list(islice(it, CHUNK)):
            execute_values(cursor, sql, chunk, page_size=CHUNK)
            total += cursor.rowcount
    elif is_postgres():
        total = _copy(cursor, f'"{table}"', columns, it)
    else:
        marks = ", ".join("?" for _ in fields)
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ({marks}){tail}'
        while chunk := list(islice(it, CHUNK)):
            cursor.executemany(sql, chunk)
            total += cursor.rowcount
    return total


COPY_CHUNK = 20_000


def _copy(cursor, table: str, columns: str, rows: Iterator[tuple]) -> int:
    """COPY ``rows`` into ``table`` on PostgreSQL: several times quicker for the server than
    INSERT ... VALUES, and no mogrify."""
    sql = f"COPY {table} ({columns}) FROM STDIN"
    total = 0
    while chunk := list(islice(rows, COPY_CHUNK)):
        text = "".join(["\t".join(map(_copy_value, row)) + "\n" for row in chunk])
        cursor.copy_expert(sql, io.StringIO(text), size=1 << 20)
        total += len(chunk)
        del text
    return total


def _copy_value(value) -> str:
    """One value in COPY's text format: \\N for NULL, t/f, ISO dates, escaped text."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    return str(value)  # int; date and datetime print as ISO (YYYY-MM-DD[ HH:MM:SS])


def select_in(sql: str, values, *, chunk: int = 5000) -> list[tuple]:
    """Run ``sql`` (with one ``{in}`` where the ``IN (...)`` list goes, and no other parameter)
    for ``values`` in chunks, without building a peewee query (whose SQL generation cost more
    than the query on 10,000-value lists); returns all rows as tuples."""
    values = list(values)
    mark = param()
    out: list[tuple] = []
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk]
        cursor = database.execute_sql(sql.replace("{in}", ", ".join(mark for _ in part)), part)
        out.extend(cursor.fetchall())
    return out


# --- staged rows: set-based writes ----------------------------------------------------------


@contextmanager
def staged(name: str, columns: dict[str, str], rows: Iterable[tuple]) -> Iterator[str]:
    """A temporary table holding ``rows`` (``columns``: name -> SQL type, in the rows' order), so
    that the writes derived from them run in the database as INSERT ... SELECT, with no Python
    per row. Yields the table's name for use in SQL; emptied on exit. Call inside a transaction (on
    PostgreSQL the table empties at commit), and use one name for one purpose at a time."""
    if not database.in_transaction():
        raise RuntimeError("bulk.staged keeps its rows for one transaction: call it inside one")
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor = database.cursor()
    if is_postgres():
        table = f'pg_temp."{name}"'
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{name}" '
                       f'({", ".join(f"{c} {t}" for c, t in columns.items())}) ON COMMIT DELETE ROWS')
        cursor.execute(f"TRUNCATE {table}")
        _copy(cursor, table, cols, iter(rows))
        # a temporary table has no statistics until analysed: without them the planner takes it
        # for a few rows and joins 100,000 of them by nested loops; and sorts them in memory
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET LOCAL work_mem = '64MB'")
    else:
        table = f'temp."{name}"'
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{name}" ({", ".join(f"{c} {t}" for c, t in columns.items())})')
        cursor.execute(f"DELETE FROM {table}")
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})", rows)
    yield table
    database.cursor().execute(f"DELETE FROM {table}")  # on failure the transaction's rollback empties it


def sql_date(expr: str) -> str:
    """An ISO date text expression as a value for a DATE column."""
    return f"CAST({expr} AS date)" if is_postgres() else expr


def sql_json_object(pairs: dict[str, str]) -> str:
    """SQL building the JSON text of an object from (key -> SQL expression); for the values,
    see ``sql_json_bool``. Keys are code, never user input."""
    args = ", ".join(f"'{key}', {expr}" for key, expr in pairs.items())
    return f"jsonb_build_object({args})::text" if is_postgres() else f"json_object({args})"


def sql_json_bool(expr: str) -> str:
    """A boolean column as a JSON true/false inside ``sql_json_object`` (SQLite keeps 0/1)."""
    return expr if is_postgres() else f"json(CASE WHEN {expr} THEN 'true' ELSE 'false' END)"

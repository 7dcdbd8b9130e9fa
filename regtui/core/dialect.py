"""What differs between SQLite and PostgreSQL, in one object chosen when the database opens.

Every piece of SQL that is not the same on both databases is a method here: the placeholder,
row locks, bulk inserts (executemany or COPY), staging tables, UPDATE ... FROM, id reservation,
and the few expressions (dates, JSON) whose spelling differs. Nothing else in regtui asks which
database it is on: it asks ``dialect()`` to do the thing.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager, nullcontext
from itertools import islice
from typing import Iterable

from peewee import Database, PostgresqlDatabase

CHUNK = 5000
COPY_CHUNK = 20_000


class Dialect:
    """The SQLite spelling; ``PostgresDialect`` overrides what PostgreSQL says differently."""

    name = "sqlite"
    param = "?"
    # "contains, ignoring case" (list filters): SQLite's LIKE ignores the case of ASCII letters
    # (only those) and costs a third of LOWER(col) LIKE; PostgreSQL has ILIKE
    like_ignoring_case = "LIKE"

    def __init__(self, database: Database):
        self.database = database

    # --- values and expressions -----------------------------------------------------------

    def db_datetime(self, value: dt.datetime | None):
        """A datetime as the driver binds it in raw SQL: the ISO text peewee's DateTimeField
        stores (``YYYY-MM-DD HH:MM:SS``) on SQLite."""
        return None if value is None else str(value)

    def sql_date(self, expr: str) -> str:
        """An ISO date text expression as a value for a DATE column."""
        return expr

    def sql_json_object(self, pairs: dict[str, str]) -> str:
        """SQL building the JSON text of an object from (key -> SQL expression). Keys are code,
        never user input; booleans go through ``sql_json_bool``."""
        return f"json_object({_pairs(pairs)})"

    def sql_json_bool(self, expr: str) -> str:
        return f"json(CASE WHEN {expr} THEN 'true' ELSE 'false' END)"

    def page_reads(self):
        """Around the reads of one page of a list (``paging.fetch``): nothing to set on SQLite."""
        return nullcontext()

    # --- locks ----------------------------------------------------------------------------

    def lock_row(self, table: str, row_id: int) -> None:
        """Hold ``table``'s row ``row_id`` until the transaction ends. A no-op on SQLite, whose
        writers already queue for the whole database (BEGIN IMMEDIATE)."""

    def lock_table(self, table: str) -> None:
        """Keep other writers out of ``table`` (readers may still read) until the transaction ends."""

    def locked(self, query):
        """A peewee SELECT whose rows stay locked until the transaction ends (see ``lock_row``)."""
        return query

    # --- writes ---------------------------------------------------------------------------

    def insert_values(self, table: str, columns: str, rows: Iterable[tuple], *, tail: str = "") -> int:
        """INSERT ``rows`` with one prepared statement run over chunks; ``tail`` is a conflict
        clause (``ON CONFLICT ... DO NOTHING``). Returns the number of rows inserted."""
        marks = ", ".join(self.param for _ in columns.split(", "))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}){tail}"
        cursor = self.database.cursor()
        total = 0
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            cursor.executemany(sql, chunk)
            total += cursor.rowcount
        return total

    def copy_rows(self, table: str, columns: str, rows: Iterable[tuple]) -> int:
        """Load ``rows`` into ``table`` as fast as the database takes them (SQLite: executemany)."""
        return self.insert_values(table, columns, rows)

    def select_in(self, sql: str, values: list, chunk: int = CHUNK) -> list[tuple]:
        """Run ``sql``, whose one ``{in}`` stands where the list of an ``IN (...)`` goes, for all of
        ``values`` (no other parameter); all rows as tuples. SQLite: a placeholder per value, in
        chunks (its limit on parameters)."""
        out: list[tuple] = []
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            cursor = self.database.execute_sql(sql.replace("{in}", ", ".join(self.param for _ in part)), part)
            out.extend(cursor.fetchall())
        return out

    def insert_or_skip(self, table: str, columns: str, rows: list[tuple], conflict_column: str) -> int:
        """INSERT ``rows``, skipping those whose ``conflict_column`` value already exists."""
        return self.insert_values(table, columns, rows, tail=f' ON CONFLICT ("{conflict_column}") DO NOTHING')

    def new_ids(self, table: str, n: int) -> list[int]:
        """Reserve ``n`` primary keys of ``table``: the next ``n`` after the highest id. Call inside a
        transaction, which on SQLite holds the write lock from its start, so no other writer can
        take them meanwhile (and if one did, the INSERT would fail on the key, not mix rows up)."""
        if not self.database.in_transaction():
            raise RuntimeError("new_ids reserves ids under the transaction's write lock: call it inside one")
        top = self.database.execute_sql(f'SELECT max("id") FROM "{table}"').fetchone()[0] or 0
        return list(range(top + 1, top + 1 + n))

    def update_from(self, target: str, assignments: dict[str, str], source: str, key: str, source_key: str,
                    where: str = "") -> int:
        """UPDATE ``target`` rows from the rows of ``source`` joined on ``target.key =
        source.source_key``: ``assignments`` maps a target column to an expression over ``m`` (the
        source row); ``where`` is a further condition on the target's columns, unqualified. Returns the rows changed.
        SQLite spells it with subqueries (UPDATE ... FROM needs SQLite 3.33, older than some
        Python 3.11 builds bring)."""
        sets = ", ".join(f'"{col}" = ' + (f'(SELECT {expr} FROM {source} AS m WHERE m.{source_key} = "{target}".{key})'
                                           if "m." in expr else expr) for col, expr in assignments.items())
        cond = f"{key} IN (SELECT {source_key} FROM {source})" + (f" AND {where}" if where else "")
        cursor = self.database.cursor()
        cursor.execute(f'UPDATE "{target}" SET {sets} WHERE {cond}')
        return cursor.rowcount

    # --- staging --------------------------------------------------------------------------

    def stage(self, name: str, columns: dict[str, str], rows: Iterable[tuple]) -> str:
        """Fill the temporary table ``name`` (``columns``: name -> SQL type) with ``rows`` and return
        how SQL names it. It is emptied first; it lives for the connection."""
        cols = ", ".join(f'"{c}"' for c in columns)
        cursor = self.database.cursor()
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{name}" ({_column_defs(columns)})')
        table = f'temp."{name}"'
        cursor.execute(f"DELETE FROM {table}")
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})", rows)
        return table

    def schema_name(self) -> str | None:
        """The schema table lookups must name (None: the database's only one)."""
        return None

    def compress_quickly(self, table: str, column: str) -> None:
        """Store the large texts of ``column`` with the quickest compression the database has
        (SQLite does not compress)."""


class PostgresDialect(Dialect):
    name = "postgresql"
    param = "%s"
    like_ignoring_case = "ILIKE"

    def db_datetime(self, value):
        return value

    def sql_date(self, expr: str) -> str:
        return f"CAST({expr} AS date)"

    def sql_json_object(self, pairs: dict[str, str]) -> str:
        # row_to_json of a one-row subquery: the same compact text as SQLite's json_object, in
        # the keys' order, and half the time of jsonb_build_object(...)::text, which builds a
        # jsonb value (keys sorted) only to print it (100,000 audit events: 0.58 s against 0.29 s)
        columns = ", ".join(f'{expr} AS "{key}"' for key, expr in pairs.items())
        return f"row_to_json((SELECT j FROM (SELECT {columns}) AS j))::text"

    def sql_json_bool(self, expr: str) -> str:
        return expr

    @contextmanager
    def page_reads(self):
        """No parallel workers for a page's reads: for the index walk of a big list PostgreSQL
        starts two, which took about half of a 20 ms page read of a 100,000-seat pool (the page
        stops after 101 rows; filters that walk the whole list were no slower without them)."""
        with self.database.atomic():
            self.database.execute_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            yield

    def lock_row(self, table: str, row_id: int) -> None:
        self.database.execute_sql(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', (row_id,))

    def lock_table(self, table: str) -> None:
        self.database.execute_sql(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE')

    def locked(self, query):
        return query.for_update()

    def copy_rows(self, table: str, columns: str, rows: Iterable[tuple]) -> int:
        """COPY: several times quicker for the server than INSERT ... VALUES."""
        cursor = self.database.cursor()
        total = 0
        it = iter(rows)
        while chunk := list(islice(it, COPY_CHUNK)):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write = copy.write_row  # the driver's C dumpers: about 40% quicker than text made in Python
                for row in chunk:
                    write(row)
            total += len(chunk)
        return total

    def select_in(self, sql: str, values: list, chunk: int = CHUNK) -> list[tuple]:
        """The whole list as one parameter: the driver parses no query of thousands of
        placeholders (psycopg splits every query on them in Python: about 1 s of a 100,000-row
        apply), and the server joins the list once. Ids and texts go as one text that the server
        splits (string_to_array): psycopg dumps a list as an array in Python, 0.13 s for 100,000
        email keys against 0.01 s to join them; anything else as a binary array."""
        if not values:
            return []
        if all(type(v) is int for v in values):
            source, param = "SELECT unnest(string_to_array(%s, ',')::bigint[])", ",".join(map(str, values))
        elif all(type(v) is str and v for v in values) and (joined := "\n".join(values)).count("\n") == len(values) - 1:
            source, param = "SELECT unnest(string_to_array(%s, E'\\n'))", joined  # none empty, none with a line break
        else:
            source, param = "SELECT unnest(%b::text[])", list(values)
        return self.database.execute_sql(sql.replace("{in}", source), (param,)).fetchall()

    def insert_or_skip(self, table: str, columns: str, rows: list[tuple], conflict_column: str) -> int:
        # a conflict is rare (two transactions creating the same learner at once): try the quick
        # COPY in a savepoint, and only if it meets one, INSERT ... ON CONFLICT DO NOTHING instead
        from peewee import IntegrityError
        from psycopg import IntegrityError as DriverIntegrityError

        try:
            with self.database.atomic():
                return self.copy_rows(table, columns, rows)
        except (IntegrityError, DriverIntegrityError):
            return super().insert_or_skip(table, columns, rows, conflict_column)

    def new_ids(self, table: str, n: int) -> list[int]:
        """From the table's sequence: safe under any concurrency."""
        # the sequence's name is looked up once: inside the series it was evaluated per row (5x slower)
        seq = self.database.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        cursor = self.database.execute_sql("SELECT nextval(%s::regclass) FROM generate_series(1, %s::int)", (seq, n))
        return [row[0] for row in cursor.fetchall()]

    def update_from(self, target, assignments, source, key, source_key, where=""):
        sets = ", ".join(f'"{col}" = {expr}' for col, expr in assignments.items())
        cond = f"t.{key} = m.{source_key}" + (f" AND {where}" if where else "")
        cursor = self.database.cursor()
        cursor.execute(f'UPDATE "{target}" AS t SET {sets} FROM {source} AS m WHERE {cond}')
        return cursor.rowcount

    def stage(self, name, columns, rows):
        cols = ", ".join(f'"{c}"' for c in columns)
        cursor = self.database.cursor()
        # ON COMMIT DELETE ROWS: the rows vanish at the end of the transaction that staged them
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{name}" ({_column_defs(columns)}) ON COMMIT DELETE ROWS')
        table = f'pg_temp."{name}"'
        cursor.execute(f"TRUNCATE {table}")
        self.copy_rows(table, cols, rows)
        # a temporary table has no statistics until analysed: without them the planner takes it
        # for a few rows and joins 100,000 of them by nested loops; and sorts them in memory
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        return table

    def schema_name(self) -> str | None:
        return self.database.execute_sql("SELECT current_schema()").fetchone()[0]

    def compress_quickly(self, table: str, column: str) -> None:
        # lz4 (PostgreSQL 14 and later, when the server was built with it) against the default
        # pglz: a 100,000-row batch's 15 MB plan is stored in 0.04 s instead of 0.15 s
        from peewee import DatabaseError

        try:
            with self.database.atomic():
                self.database.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION lz4')
        except DatabaseError:
            pass  # an older server, or one without lz4: its default compression stays


def for_database(database: Database) -> Dialect:
    return PostgresDialect(database) if isinstance(database, PostgresqlDatabase) else Dialect(database)


def _pairs(pairs: dict[str, str]) -> str:
    return ", ".join(f"'{key}', {expr}" for key, expr in pairs.items())


def _column_defs(columns: dict[str, str]) -> str:
    return ", ".join(f"{c} {t}" for c, t in columns.items())

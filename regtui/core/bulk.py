"""Fast bulk INSERTs for the services' batch paths: one prepared statement run over many rows
(executemany on SQLite, execute_values on PostgreSQL) instead of building a peewee query per
chunk, which dominated a 100,000-row roster apply. Values go through each field's ``db_value``,
as peewee itself does, so what is stored is the same. Call inside the caller's transaction."""

from __future__ import annotations

from typing import Sequence

from regtui.core.db import is_postgres
from regtui.core.models import database


def insert_rows(model, rows: Sequence[dict]) -> int:
    """INSERT ``rows`` (dicts of field name -> value, all with the same keys) into ``model``'s table."""
    if not rows:
        return 0
    names = list(rows[0])
    # peewee's insert_many fills field defaults the rows leave out (the DDL has none): so do we
    defaults = {n: f.default for n, f in model._meta.fields.items()
                if n not in names and f.default is not None and not f.primary_key}
    if defaults:
        fixed = {n: d() if callable(d) else d for n, d in defaults.items()}
        rows = [{**row, **fixed} for row in rows]
        names += list(fixed)
    fields = [model._meta.fields[n] for n in names]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    table = model._meta.table_name
    converters = [f.db_value for f in fields]
    values = [tuple(conv(row[name]) for conv, name in zip(converters, names)) for row in rows]
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values

        execute_values(cursor, f'INSERT INTO "{table}" ({columns}) VALUES %s', values, page_size=2000)
    else:
        marks = ", ".join("?" for _ in names)
        cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', values)
    return len(values)

"""A customer with one pool of 100,000 claimed seats, written set-based (a few INSERT ... SELECT
over a counting CTE), for bench/tui.py and the paging tests.

Bench and test data only: it writes the tables directly, with no audit events or emails, so
that a big pool takes a second or two to build instead of a batch apply's minute.
Learner n (from 1) is ``big{n:06d}@bigpool.example.com``, named ``First{(n * 7919) % seats:06d}
Last{(n * 104729) % seats:06d}`` (so each sort order differs), holding code ``BIG-{n:06d}``; every
tenth learner's last name is ``Smith`` (a filter with many matches).
"""

from __future__ import annotations

import datetime as dt

COUNT = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {seats}) "


def _pad(expr: str, postgres: bool) -> str:
    """``expr`` (an integer) as six digits, zero-padded."""
    return f"lpad(({expr})::text, 6, '0')" if postgres else f"substr('000000' || ({expr}), -6, 6)"


def _defaults(model, given: set[str], pg: bool) -> tuple[str, str]:
    """(", col, ..." , ", value, ...") for the model's other columns with a plain default, so the raw
    INSERTs below keep working as columns are added."""
    cols, values = [], []
    for field in model._meta.sorted_fields:
        default = field.default
        if field.column_name in given or field.primary_key or default is None or callable(default):
            continue
        if isinstance(default, bool):
            value = ("TRUE" if default else "FALSE") if pg else str(int(default))
        elif isinstance(default, (int, float)):
            value = str(default)
        else:
            value = "'" + str(default).replace("'", "''") + "'"
        cols.append(f', "{field.column_name}"')
        values.append(f", {value}")
    return "".join(cols), "".join(values)


def build(seats: int = 100_000, customer_name: str = "Big Employer", extra: int = 10) -> int:
    """Create the customer, order, session and pool (``seats`` claimed + ``extra`` available);
    returns the pool's id."""
    from regtui.core.db import dialect
    from regtui.core.models import Access, Code, Customer, Learner, Order, Pool, Product, Session, database

    pg = dialect().name == "postgresql"
    with database.atomic():
        product = Product.get_or_none(Product.code == "BIG") or Product.create(code="BIG", name="Big course")
        session = Session.create(product=product, code=f"BIG-{Session.select().count() + 1}", name="Big course, run 1",
                                 access_days=365)
        customer = Customer.create(name=customer_name, email="hr@bigpool.example.com", email_key="hr@bigpool.example.com")
        order = Order.create(number=f"BIG-{customer.id}", customer=customer, placed_at=dt.datetime(2027, 1, 1))
        pool = Pool.create(order=order, session=session, seats=seats + extra, available=extra, invited=0, claimed=seats)
        mod = "%%" if pg else "%"  # psycopg reads a lone % as a parameter
        n6 = _pad("i", pg)
        first = _pad(f"(CAST(i AS BIGINT) * 7919) {mod} {seats}", pg)
        last = _pad(f"(CAST(i AS BIGINT) * 104729) {mod} {seats}", pg)
        last_name = f"CASE WHEN i {mod} 10 = 0 THEN 'Smith' ELSE 'Last' || {last} END"
        yes = "TRUE" if pg else "1"
        code_cols, code_values = _defaults(Code, {"pool_id", "code", "state", "learner_id"}, pg)
        learner_cols, learner_values = _defaults(Learner, {"email", "email_key", "first_name", "last_name",
                                                           "must_set_password", "created_at"}, pg)
        access_cols, access_values = _defaults(Access, {"learner_id", "session_id", "code_id", "starts", "ends",
                                                        "status"}, pg)
        database.execute_sql(
            COUNT.format(seats=seats) + 'INSERT INTO "learner" ("email", "email_key", "first_name", "last_name", '
            f'"must_set_password", "created_at"{learner_cols}) '
            f"SELECT 'big' || {n6} || '@bigpool.example.com', 'big' || {n6} || '@bigpool.example.com', "
            f"'First' || {first}, {last_name}, {yes}, '2027-01-01 00:00:00'{learner_values} FROM n", [])
        database.execute_sql(
            f'INSERT INTO "code" ("pool_id", "code", "state", "learner_id"{code_cols}) '
            f"SELECT {pool.id}, 'BIG-' || substr(l.\"email_key\", 4, 6), 'claimed', l.\"id\"{code_values} FROM \"learner\" AS l "
            "WHERE l.\"email_key\" LIKE " + dialect().param, ["big%@bigpool.example.com"])
        database.execute_sql(
            COUNT.format(seats=extra) + f'INSERT INTO "code" ("pool_id", "code", "state"{code_cols}) '
            f"SELECT {pool.id}, 'BIGFREE-' || {pool.id} || '-' || i, 'available'{code_values} FROM n")
        database.execute_sql(
            f'INSERT INTO "access" ("learner_id", "session_id", "code_id", "starts", "ends", "status"{access_cols}) '
            f"SELECT c.\"learner_id\", {session.id}, c.\"id\", '2027-01-01', '2028-01-01', 'active'{access_values} "
            'FROM "code" AS c '
            f"WHERE c.\"pool_id\" = {pool.id} AND c.\"state\" = 'claimed'")
    database.execute_sql("ANALYZE")  # the planner's statistics, as after a real batch and some days of use
    return pool.id

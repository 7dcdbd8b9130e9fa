"""Database selection (SQLite file by default, PostgreSQL by URL) and schema versions."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url

from regtui import config
from regtui.core.dialect import Dialect, for_database
from regtui.core.errors import UsageError
from regtui.core.models import ALL_MODELS, AuditEvent, Batch, Learner, SchemaVersion, database

# A new database gets 16 KiB pages (existing ones keep theirs): a 100,000-row batch apply wrote
# its pages about 10% quicker than with the default 4 KiB (bench/README.md). It must come first:
# it only takes effect before the file's first write.
SQLITE_PRAGMAS = {
    "page_size": 16384,
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 30000,
    "synchronous": "normal",
}


class PrivateSqliteDatabase(SqliteDatabase):
    """A new database file is made 0600 (SQLite gives its -wal and -shm files the file's mode):
    it holds everyone's names and addresses, so only the regtui user may read it."""

    def _connect(self):
        with config.owner_only():
            return super()._connect()


def open_database(url: str) -> Database:
    """Bind the models to the database at ``url`` and return it.

    SQLite transactions start with BEGIN IMMEDIATE so that two writers queue for the
    write lock instead of failing half-way through with "database is locked".
    """
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
        db = PrivateSqliteDatabase(path or ":memory:", pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE", timeout=30)
    elif scheme in ("postgresql", "postgres"):
        # psycopg 3 even where an old psycopg2 is installed too (peewee would take psycopg2 first)
        db = connect_url(url, prefer_psycopg3=True)
        if not isinstance(db, PostgresqlDatabase):
            raise UsageError(f"Cannot open {url!r} as a PostgreSQL database.")
    else:
        raise UsageError(f"Unknown database URL {url!r}: use sqlite:///path or postgresql://user@host/db.")
    database.initialize(db)
    global _dialect
    _dialect = for_database(db)
    return db


_dialect: Dialect | None = None


def dialect() -> Dialect:
    """What differs between SQLite and PostgreSQL for the database opened last (see dialect.py)."""
    if _dialect is None or _dialect.database is not database.obj:
        raise RuntimeError("no database is open: call open_database first")
    return _dialect


def _create_tables() -> None:
    database.create_tables(ALL_MODELS, safe=True)


def _password_link_on_learner() -> None:
    """Schema 2: a learner's set-password link lives on the learner row (one live link, reused
    by every email until used or expired) instead of a row per email in ``password_token``. Links
    sent before the upgrade stop working; their learners ask for a new one (resend). Three
    unneeded indexes go."""
    from peewee import CharField, DateTimeField
    from playhouse.migrate import migrate as run, SchemaMigrator

    have = {c.name for c in database.get_columns("learner", schema=_schema())}
    wanted = [("password_link_nonce", CharField(null=True)), ("password_link_expires_at", DateTimeField(null=True)),
              ("password_link_used_at", DateTimeField(null=True))]
    migrator = SchemaMigrator.from_database(database.obj)
    run(*(migrator.add_column("learner", name, field) for name, field in wanted if name not in have))
    database.execute_sql('DROP TABLE IF EXISTS "password_token"')
    # indexes no query needs, which every batch paid for on each row (see models.py)
    for index in ("code_pool_id", "access_session_id", "audit_event_at"):
        database.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


def _outbox_links_and_backoff() -> None:
    """Schema 4: outbox rows get ``next_attempt_at`` (backoff of 4xx answers), ``link_purpose``
    and ``link_id`` (the link is made at send time, the body holds a placeholder) and ``about``
    (the invitation or access an email is about). Unsent emails written before carry live links
    in their bodies: each is replaced by the placeholder and its reference."""
    from peewee import CharField, DateTimeField, IntegerField

    _add_missing_columns({"outbox_email": [("next_attempt_at", DateTimeField(null=True)),
                                           ("link_purpose", CharField(null=True)),
                                           ("link_id", IntegerField(null=True)), ("about", CharField(null=True))]})
    database.execute_sql('CREATE INDEX IF NOT EXISTS "outbox_email_about" ON "outbox_email" ("about")')
    from regtui.core.services import outbox

    outbox.take_links_out_of_unsent_bodies()


def _dates_that_happen() -> None:
    """Schema 5: the scheduler's tables (events, its lease, the reminders it sent) and
    ``access.announced``, left empty: the scheduler adopts an access with none silently, so an
    upgrade announces nothing that happened before it."""
    from peewee import CharField
    from playhouse.migrate import migrate as run, SchemaMigrator

    from regtui.core.models import Event, Lease, Reminder
    database.create_tables([Event, Lease, Reminder], safe=True)
    if "announced" not in {c.name for c in database.get_columns("access", schema=_schema())}:
        run(SchemaMigrator.from_database(database.obj).add_column("access", "announced", CharField(null=True)))


def _shops() -> None:
    """Schema 6 (shops): the shop tables; an order's source shop and external id (unique
    together); a pool's over-refunded flag."""
    from peewee import BooleanField, CharField

    from regtui.core.models import SHOP_MODELS, Order

    _add_missing_columns({"order": [("source", CharField(null=True)), ("external_id", CharField(null=True))],
                          "pool": [("over_refunded", BooleanField(default=False))]})
    Order.create_table(safe=True)  # the (source, external_id) unique index on an existing table
    database.create_tables(SHOP_MODELS, safe=True)


def _portal_and_platforms() -> None:
    """Schema 7: the learner's portal (a session's course URL, a link on /me; a code's redeemable
    flag and count of wrong tries near it, for /redeem) and the learning platforms' side (webhook
    endpoints, their deliveries, the pull API's tokens)."""
    from peewee import BooleanField, CharField, IntegerField

    from regtui.core.models import ApiToken, Endpoint, HookDelivery

    _add_missing_columns({"session": [("course_url", CharField(null=True))],
                          "code": [("redeemable", BooleanField(default=False)),
                                   ("redeem_misses", IntegerField(default=0))]})
    database.create_tables([Endpoint, HookDelivery, ApiToken], safe=True)


def _endpoint_allow_private() -> None:
    """Schema 10: ``endpoint.allow_private``, so each delivery checks the address it connects to
    (DNS can change after an endpoint is added). Endpoints added before whose host is written as a
    private address or ``localhost`` were allowed by an admin then, and stay allowed; a name that
    resolved to a public address then is checked from now on."""
    import ipaddress
    from urllib.parse import urlsplit

    from peewee import BooleanField

    from regtui.core.models import Endpoint

    _add_missing_columns({"endpoint": [("allow_private", BooleanField(default=False))]})
    for endpoint_id, url in Endpoint.select(Endpoint.id, Endpoint.url).tuples():
        host = urlsplit(url).hostname or ""
        try:
            private = not ipaddress.ip_address(host).is_global
        except ValueError:
            private = host == "localhost" or host.endswith(".localhost")
        if private:
            Endpoint.update(allow_private=True).where(Endpoint.id == endpoint_id).execute()


def _order_lines() -> None:
    """Schema 11: ``order_line``, each line of an order as sold. Filled from what older schemas
    kept: a pool per line; a shop line's pool or direct access; and the lines an operator typed
    that made no pool, which only the order's ``order.add`` audit event recorded."""
    import json

    from peewee import JOIN

    from regtui.core.models import Access, Order, OrderLine, Pool, Session, ShopOrderLine

    if database.table_exists(OrderLine._meta.table_name, schema=_schema()):
        return
    OrderLine.create_table()
    shop_lines = list(ShopOrderLine.select(ShopOrderLine.order, ShopOrderLine.seats, ShopOrderLine.pool,
                                           ShopOrderLine.access, Access.session)
                      .join(Access, JOIN.LEFT_OUTER, on=(ShopOrderLine.access == Access.id)).tuples())
    for order_id, seats, pool_id, access_id, session_id in shop_lines:
        if pool_id is None and session_id is not None:
            OrderLine.create(order=order_id, session=session_id, seats=seats, access=access_id)
    pools = list(Pool.select(Pool.id, Pool.order, Pool.session, Pool.seats).order_by(Pool.id).tuples())
    for pool_id, order_id, session_id, seats in pools:
        OrderLine.create(order=order_id, session=session_id, seats=seats, pool=pool_id)
    sessions = dict(Session.select(Session.code, Session.id).tuples())
    typed = (AuditEvent.select(AuditEvent.record_id, AuditEvent.after)
             .join(Order, on=(AuditEvent.record_id == Order.id))
             .where((AuditEvent.action == "order.add") & (AuditEvent.record_type == "order") & Order.source.is_null()))
    made = {}
    for _, order_id, session_id, seats in pools:
        made.setdefault(order_id, []).append((session_id, seats))
    for order_id, after in typed.tuples():
        for line in json.loads(after or "{}").get("lines", []):
            key = (sessions.get(line.get("session")), line.get("seats"))
            if key in made.get(order_id, []):
                made[order_id].remove(key)  # this line's pool is listed already
            elif key[0] is not None and isinstance(key[1], int):
                OrderLine.create(order=order_id, session=key[0], seats=key[1])


def _name_indexes() -> None:
    """Schema 12: learners' first and last names are indexed, so a long list sorted by a name
    reads a page in the index's order instead of sorting every row (issue 14)."""
    Learner._schema.create_indexes(safe=True)


def _quick_plan_storage() -> None:
    """Schema 13: a batch keeps its whole plan (15 MB of JSON for 100,000 rows); on PostgreSQL it
    is compressed with lz4 where the server has it (``Dialect.compress_quickly``)."""
    dialect().compress_quickly(Batch._meta.table_name, Batch.plan.column_name)


def _add_missing_columns(wanted: dict) -> None:
    """Add each (name, field) of each table that the table does not have yet (a new database made
    by schema 1 from today's models has them all already).

    A NOT NULL column with a default is added by one ``ADD COLUMN ... NOT NULL DEFAULT``: both
    databases fill the existing rows, and SQLite needs no copy of the table. (playhouse's
    add_not_null rebuilds a SQLite table, and dropping the old one with foreign keys on deletes
    every row that refers to it ON DELETE CASCADE: the pool's codes and invitations.)"""
    from peewee import SQL
    from playhouse.migrate import migrate as run, SchemaMigrator

    migrator = SchemaMigrator.from_database(database.obj)
    for table, columns in wanted.items():
        have = {c.name for c in database.get_columns(table, schema=_schema())}
        for name, field in columns:
            if name in have:
                continue
            if field.null or field.default is None:
                run(migrator.add_column(table, name, field))
                continue
            field = field.clone()
            field.constraints = [*(field.constraints or []), SQL(f"DEFAULT {_sql_literal(field.default)}")]
            run(migrator.add_column(table, name, field, allow_not_null=True))


def _sql_literal(value) -> str:
    """A constant default as SQL both databases read the same (booleans as TRUE/FALSE)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _operator_keys_and_staff_sign_in() -> None:
    """Schema 8: operators' SSH keys, and their roster-page passwords and TOTP secrets."""
    from regtui.core.models import OperatorKey, StaffCredential

    database.create_tables([OperatorKey, StaffCredential], safe=True)


def _unverified_learners() -> None:
    """Schema 3: ``learner.unverified``. Accounts that a claim page made before (a ``learner.create``
    event by the learner itself) are marked unverified unless a set-password link was used since:
    whoever held the claim link chose their password, and it may not have been the address's owner."""
    have = {c.name for c in database.get_columns("learner", schema=_schema())}
    if "unverified" not in have:
        # NOT NULL with a default in one ADD COLUMN: both databases fill the existing rows, and
        # SQLite needs no copy of the table (playhouse's add_not_null would rebuild it); BOOLEAN
        # has SQLite's numeric affinity, as the INTEGER a new table gets
        database.execute_sql('ALTER TABLE "learner" ADD COLUMN "unverified" BOOLEAN NOT NULL DEFAULT FALSE')
    made_on_claim_pages = AuditEvent.select(AuditEvent.record_id).where(
        (AuditEvent.action == "learner.create") & (AuditEvent.record_type == "learner")
        & AuditEvent.operator.startswith("learner:"))
    Learner.update(unverified=True).where(Learner.password_link_used_at.is_null()
                                          & Learner.id.in_(made_on_claim_pages)).execute()


def connect() -> None:
    """Open this thread's connection unless it is open (the web app: one per request)."""
    database.connect(reuse_if_open=True)


def close() -> None:
    """Close this thread's connection if it is open."""
    if not database.is_closed():
        database.close()


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the database or its driver (a face words it as one sentence)."""
    from peewee import DatabaseError, InterfaceError

    return isinstance(exc, (DatabaseError, InterfaceError))


def connection():
    """This thread's driver connection (opened if need be), e.g. to interrupt its running query."""
    return database.connection()


MIGRATIONS: list[tuple[int, Callable[[], None]]] = [
    (1, _create_tables),
    (2, _password_link_on_learner),
    (3, _unverified_learners),
    (4, _outbox_links_and_backoff),
    (5, _dates_that_happen),
    (6, _shops),
    (7, _portal_and_platforms),
    (8, _operator_keys_and_staff_sign_in),
    # no 9: skipped while several branches added steps at once (steps run by the versions recorded)
    (10, _endpoint_allow_private),
    (11, _order_lines),
    (12, _name_indexes),
    (13, _quick_plan_storage),
]
LATEST = max(version for version, _ in MIGRATIONS)  # helpers append their own numbers


def _schema() -> str | None:
    return dialect().schema_name()


def current_version() -> int:
    if not database.table_exists(SchemaVersion._meta.table_name, schema=_schema()):
        return 0
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def _missing_steps() -> list[tuple[int, Callable[[], None]]]:
    """The steps this database has not run. By the versions recorded, not by the highest: helpers
    land their numbered steps in any order, so a database at 6 may still lack 4."""
    if not database.table_exists(SchemaVersion._meta.table_name, schema=_schema()):
        return list(MIGRATIONS)
    done = {v for (v,) in SchemaVersion.select(SchemaVersion.version).tuples()}
    return [(version, step) for version, step in MIGRATIONS if version not in done]


def migrate() -> tuple[int, int]:
    """Create or upgrade the schema; safe to run any number of times. Returns (from, to)."""
    with database.atomic():
        before = current_version()
        for version, step in _missing_steps():
            step()
            SchemaVersion.create(version=version)
    _tighten_sqlite_files()
    return before, LATEST


def _tighten_sqlite_files() -> None:
    """A database file made before regtui made them 0600 is tightened on upgrade."""
    if isinstance(database.obj, SqliteDatabase) and database.obj.database != ":memory:":
        from pathlib import Path

        for suffix in ("", "-wal", "-shm"):
            config.make_private(Path(database.obj.database + suffix))


def require_schema() -> None:
    version = current_version()
    if version == 0:
        raise UsageError("This database has no regtui schema yet: run `regtui init` first.")
    if version < LATEST or _missing_steps():
        raise UsageError(f"This database is at schema {version}, regtui needs {LATEST}: run `regtui init` to upgrade.")

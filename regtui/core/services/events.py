"""Events: changes told to the outside world (``access.started``, ``access.ended``,
``access.extended``, ...), one row each in the ``event`` table, written in the transaction of
the change that caused them, so a rolled-back change tells nothing and a committed one is never
lost. Delivering them (webhooks to endpoints) reads this table; nothing here sends anything."""

from __future__ import annotations

import json
from typing import Any, Iterable

from regtui.core.models import Event, database, utcnow

KINDS = ("access.granted", "access.revoked", "access.extended", "access.started", "access.ended",
         "learner.created", "learner.updated")


def _encode(data: dict) -> str:
    return json.dumps(data, default=str, sort_keys=True)


def record(kind: str, access_id: int | None, data: dict | None = None) -> None:
    """One event about an access (or none); call inside the change's transaction."""
    record_many(kind, [(access_id, data)])


def record_many(kind: str, items: Iterable[tuple[int | None, dict | None]]) -> int:
    """One event of ``kind`` per (access id, data), in bulk."""
    from regtui.core.bulk import insert_rows

    assert kind in KINDS, kind
    now = utcnow()
    return insert_rows(Event, ({"kind": kind, "access": aid, "at": now, "data": _encode(data or {})} for aid, data in items))


def record_selected(kind: str, access_ids_sql: str, params: Iterable[Any] = ()) -> int:
    """One event of ``kind`` per access id the SELECT ``access_ids_sql`` returns, written by the
    database (INSERT ... SELECT): the set-based path for many accesses at once."""
    from regtui.core import bulk

    assert kind in KINDS, kind
    mark = bulk.param()
    cursor = database.cursor()
    cursor.execute(f'INSERT INTO "event" ("kind", "access_id", "at", "data") '
                   f"SELECT {mark}, a.id, {mark}, '{{}}' FROM ({access_ids_sql}) AS a ORDER BY a.id",
                   [kind, bulk.db_datetime(utcnow()), *params])
    return cursor.rowcount


def record_learners(kind: str, learner_ids: Iterable[int]) -> int:
    """One event of ``kind`` (``learner.created``) per learner id, written by the database from a
    staged list (a 100,000-row batch makes 100,000 accounts): the data is ``{"learner_id": id}``."""
    from regtui.core import bulk

    assert kind in KINDS, kind
    mark = bulk.param()
    with bulk.staged("event_learners", {"learner_id": "INTEGER"}, ((i,) for i in learner_ids)) as table:
        cursor = database.cursor()
        cursor.execute(f'INSERT INTO "event" ("kind", "access_id", "at", "data") '
                       f"SELECT {mark}, NULL, {mark}, {bulk.sql_json_object({'learner_id': 's.learner_id'})} "
                       f"FROM {table} AS s ORDER BY s.learner_id",
                       [kind, bulk.db_datetime(utcnow())])
        return cursor.rowcount


def since(after_id: int = 0, limit: int = 1000) -> list[Event]:
    """Events after ``after_id``, oldest first (what a deliverer reads next)."""
    return list(Event.select().where(Event.id > after_id).order_by(Event.id).limit(limit))


def as_dict(event: Event) -> dict:
    return {"id": event.id, "kind": event.kind, "access_id": event.access_id, "at": event.at.isoformat(),
            "data": json.loads(event.data or "{}")}

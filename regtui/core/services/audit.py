"""Audit events: who did what to which record, when, before/after, in which batch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

from regtui.core.models import AuditEvent, database, utcnow
from regtui.core.services.permissions import Actor, require


def _json_default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# one encoder for every event: json.dumps with options builds a new one per call
_encode = json.JSONEncoder(default=_json_default, sort_keys=True).encode



def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return _encode(value)


def record(actor: Actor | str, action: str, record: Any, *, before: Any = None, after: Any = None, batch_id: int | None = None) -> None:
    """Write one audit event; call inside the transaction of the change it describes."""
    record_many(actor, action, [(record, before, after)], batch_id=batch_id)


def record_many(actor: Actor | str, action: str, items: Iterable[tuple[Any, Any, Any]], *, batch_id: int | None = None) -> None:
    """Write one event per (record, before, after), in bulk."""
    name = actor if isinstance(actor, str) else actor.name
    now = utcnow()
    rows = (
        {
            "at": now,
            "operator": name,
            "action": action,
            "record_type": type(rec).__name__.lower(),
            "record_id": getattr(rec, "id", None),
            "before": _dump(before),
            "after": _dump(after),
            "batch": batch_id,
        }
        for rec, before, after in items
    )
    from regtui.core.bulk import insert_rows

    insert_rows(AuditEvent, rows)


def record_rows(actor_name: str, action: str, record_type: str, items: Iterable[tuple[int | None, Any, Any]], *,
                batch_id: int | None = None) -> int:
    """The bulk path of ``record_many``: one event per (record id, before, after), for records
    of one type given by id (no model objects), written as tuples. Returns the number written."""
    from regtui.core import bulk

    now = bulk.db_datetime(utcnow())
    rows = ((now, actor_name, action, record_type, rid, _dump(before), _dump(after), batch_id)
            for rid, before, after in items)
    return bulk.insert_tuples(AuditEvent, ["at", "operator", "action", "record_type", "record_id", "before", "after", "batch"], rows)


def record_selected(actor_name: str, action: str, record_type: str, *, record_id: str, after: dict[str, str],
                    source: str, ordinal: str, batch_id: int | None = None) -> int:
    """One event per row of ``source`` (a FROM clause over staged rows, see ``bulk.staged``),
    written by one INSERT ... SELECT: ``record_id`` and the values of ``after`` (JSON key -> SQL
    expression, see ``bulk.sql_json_object``) are SQL over ``source``; ``ordinal`` orders them."""
    from regtui.core import bulk

    mark = bulk.param()
    cursor = database.cursor()
    cursor.execute(
        f'INSERT INTO "audit_event" ("at", "operator", "action", "record_type", "record_id", "before", "after", "batch_id") '
        f"SELECT {mark}, {mark}, {mark}, {mark}, {record_id}, NULL, {bulk.sql_json_object(after)}, {mark} "
        f"FROM {source} ORDER BY {ordinal}",
        [bulk.db_datetime(utcnow()), actor_name, action, record_type, batch_id])
    return cursor.rowcount


def query(actor: Actor, *, operator: str | None = None, batch_id: int | None = None, record: str | None = None, limit: int = 200, offset: int = 0) -> list[AuditEvent]:
    """Newest first. ``record`` is ``type`` or ``type:id`` (e.g. ``pool:3``)."""
    require(actor, "audit.view")
    q = _filtered(AuditEvent.select(), operator, batch_id, record).order_by(AuditEvent.id.desc())
    return list(q.limit(limit).offset(offset))


_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.operator, AuditEvent.action, AuditEvent.record_type,
            AuditEvent.record_id, AuditEvent.before, AuditEvent.after, AuditEvent.batch)


def page(actor: Actor, *, operator: str | None = None, batch_id: int | None = None, record: str | None = None,
         limit: int = 100, after: str | None = None) -> "paging.Page[AuditEvent]":
    """One page of the log, newest first (keyset on the event id: see regtui.core.paging),
    filtered as ``query`` is; the total counts the filtered events."""
    from regtui.core import paging

    require(actor, "audit.view")
    q = _filtered(AuditEvent.select(*_COLUMNS), operator, batch_id, record)

    def make(r) -> AuditEvent:
        values = {f.name: f.python_value(v) for f, v in zip(_COLUMNS, r)}
        values["batch"] = r[-1]  # the batch's id, not a Batch row
        return AuditEvent(**values)

    return paging.fetch(q, sort_expr=AuditEvent.id, key=AuditEvent.id, descending=True, limit=limit, after=after,
                        total=lambda: _filtered(AuditEvent.select(AuditEvent.id), operator, batch_id, record).count(),
                        make=make)


def _filtered(q, operator: str | None, batch_id: int | None, record: str | None):
    """``q`` narrowed to one operator's events, one batch's, or one record's (``type`` or ``type:id``)."""
    if operator:
        q = q.where(AuditEvent.operator == operator)
    if batch_id is not None:
        q = q.where(AuditEvent.batch == batch_id)
    if record:
        kind, _, rid = record.partition(":")
        q = q.where(AuditEvent.record_type == kind.lower())
        if rid:
            from regtui.core.ids import parse_id

            if parse_id(rid) is None:
                from regtui.core.errors import UsageError

                raise UsageError(f"{record!r} is not TYPE or TYPE:ID (e.g. pool:3).")
            q = q.where(AuditEvent.record_id == parse_id(rid))
    return q


def as_dict(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "operator": event.operator,
        "action": event.action,
        "record": f"{event.record_type}:{event.record_id}" if event.record_id is not None else event.record_type,
        "before": json.loads(event.before) if event.before else None,
        "after": json.loads(event.after) if event.after else None,
        "batch": event.batch_id,
    }

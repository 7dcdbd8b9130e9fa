"""Audit events: who did what to which record, when, before/after, in which batch."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Iterable, NamedTuple

from peewee import JOIN

from regtui.core import paging
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


_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.operator, AuditEvent.action, AuditEvent.record_type,
            AuditEvent.record_id, AuditEvent.before, AuditEvent.after, AuditEvent.batch)


def page(actor: Actor, *, operator: str | None = None, batch_id: int | None = None, record: str | None = None,
         limit: int = 100, after: str | None = None) -> "paging.Page[AuditEvent]":
    """One page of the log, newest first (keyset on the event id: see regtui.core.paging),
    filtered by operator, batch or record; the total counts the filtered events."""
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


# --- pages (keyset, see regtui.core.paging): the TUI's audit log --------------------------------

class AuditRow(NamedTuple):
    """An event with its record named as a person reads it (``name``: the learner's email, the
    pool's ORDER-LINE, the customer's name...; None when the record is gone or has no name)."""

    id: int
    at: dt.datetime
    operator: str
    action: str
    record_type: str
    record_id: int | None
    before: Any
    after: Any
    batch: int | None
    name: str | None

    @property
    def record(self) -> str:
        """``access ada@example.com in 1001-1``, or ``access:169`` when it has no name."""
        if self.name:
            return f"{self.record_type} {self.name}"
        return f"{self.record_type}:{self.record_id}" if self.record_id is not None else self.record_type


SORTS = {"at": AuditEvent.id, "operator": AuditEvent.operator, "action": AuditEvent.action}


def _named(search: str):
    """Events about a record whose name contains ``search``: a learner's, an invitee's or a
    customer's email, a customer's name, an order's number, a pool's ORDER-LINE or session code;
    an access, code or invitation by its learner or its pool."""
    from regtui.core.models import Access, Code, Customer, Invitation, Learner, Order, Pool, Session
    from regtui.core.services import pools

    learners = Learner.select(Learner.id).where(paging.contains([Learner.email_key], search))
    customers = Customer.select(Customer.id).where(paging.contains([Customer.name, Customer.email_key], search))
    pool_match = paging.contains([Order.number, Session.code], search)
    line = re.fullmatch(r"\s*(.+)-(\d{1,6})\s*", search)
    by_line = pools._by_order_line(f"{line.group(1)}-{line.group(2)}") if line else None
    if by_line is not None:
        pool_match = pool_match | (Pool.id == by_line.id)
    pools_q = Pool.select(Pool.id).join(Order).switch(Pool).join(Session).where(pool_match)
    codes = Code.select(Code.id).where(Code.learner.in_(learners) | Code.pool.in_(pools_q))
    kinds = {
        "learner": learners,
        "customer": customers,
        "pool": pools_q,
        "code": codes,
        "access": Access.select(Access.id).where(Access.learner.in_(learners) | Access.code.in_(codes)),
        "invitation": Invitation.select(Invitation.id).where(
            paging.contains([Invitation.email_key], search) | Invitation.code.in_(codes)),
        "order": Order.select(Order.id).where(paging.contains([Order.number], search) | Order.customer.in_(customers)),
    }
    expr = paging.contains([AuditEvent.operator, AuditEvent.action], search)
    for kind, ids in kinds.items():
        expr = expr | ((AuditEvent.record_type == kind) & AuditEvent.record_id.in_(ids))
    return expr


def _searched(search: str, operator: str | None, batch_id: int | None, record: str | None):
    q = AuditEvent.select(AuditEvent.id, AuditEvent.at, AuditEvent.operator, AuditEvent.action, AuditEvent.record_type,
                          AuditEvent.record_id, AuditEvent.before, AuditEvent.after, AuditEvent.batch)
    q = _filtered(q, operator, batch_id, record)
    if search.strip():
        q = q.where(_named(search))
    return q


def named_page(actor: Actor, *, search: str = "", operator: str | None = None, batch_id: int | None = None,
         record: str | None = None, sort: str = "at", descending: bool = True, limit: int = 100,
         after: str | None = None, before: str | None = None, last: bool = False) -> paging.Page[AuditRow]:
    """One page of the audit log (the TUI's: ``page`` is the CLI's), newest first unless sorted otherwise, searched in the database
    by email, name, order number or ORDER-LINE (see ``_named``), operator and action; each event's
    record named (``names``)."""
    require(actor, "audit.view")
    q = _searched(search, operator, batch_id, record)
    found = paging.fetch(q, sort_expr=paging.sort_expression(SORTS, sort), key=AuditEvent.id, descending=descending,
                         limit=limit, after=after, before=before, last=last, make=tuple,
                         total=lambda: _searched(search, operator, batch_id, record).count())
    named = names([(r[4], r[5]) for r in found.rows])
    rows = [AuditRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]) if r[6] else None,
                     json.loads(r[7]) if r[7] else None, r[8], named.get((r[4], r[5]))) for r in found.rows]
    return paging.Page(rows, found.total, next=found.next, prev=found.prev, keys=found.keys, count=found.count)


def names(records: Iterable[tuple[str, int | None]]) -> dict[tuple[str, int], str]:
    """(record type, id) -> the record's name as a person reads it, a few queries for a page."""
    from regtui.core.models import Access, Code, Customer, Invitation, Learner, Order
    from regtui.core.services import pools

    wanted: dict[str, set[int]] = {}
    for kind, rid in records:
        if rid is not None:
            wanted.setdefault(kind, set()).add(rid)
    out: dict[tuple[str, int], str] = {}

    def ids(kind: str) -> list[int]:
        return list(wanted.get(kind, ()))

    codes = {c: (email, pool) for c, email, pool in Code.select(Code.id, Learner.email, Code.pool).join(
        Learner, on=(Code.learner == Learner.id), join_type=JOIN.LEFT_OUTER).where(Code.id.in_(ids("code"))).tuples()}
    accesses = list(Access.select(Access.id, Learner.email, Access.code).join(Learner).where(
        Access.id.in_(ids("access"))).tuples())
    more_codes = [c for _, _, c in accesses if c is not None and c not in codes]
    codes.update({c: (None, pool) for c, pool in Code.select(Code.id, Code.pool).where(Code.id.in_(more_codes)).tuples()})
    invitations = list(Invitation.select(Invitation.id, Invitation.email, Code.pool).join(Code).where(
        Invitation.id.in_(ids("invitation"))).tuples())
    pool_names = pools.names(ids("pool") + [p for _, p in codes.values()] + [p for _, _, p in invitations])
    for rid, email in Learner.select(Learner.id, Learner.email).where(Learner.id.in_(ids("learner"))).tuples():
        out[("learner", rid)] = email
    for rid, name in Customer.select(Customer.id, Customer.name).where(Customer.id.in_(ids("customer"))).tuples():
        out[("customer", rid)] = name
    for rid, number in Order.select(Order.id, Order.number).where(Order.id.in_(ids("order"))).tuples():
        out[("order", rid)] = number
    for rid in ids("pool"):
        if rid in pool_names:
            out[("pool", rid)] = pool_names[rid]
    for rid in ids("code"):
        if rid in codes:
            email, pool = codes[rid]
            out[("code", rid)] = " in ".join(x for x in (email, pool_names.get(pool)) if x)
    for rid, email, code in accesses:
        pool = codes.get(code, (None, None))[1]
        out[("access", rid)] = " in ".join(x for x in (email, pool_names.get(pool)) if x)
    for rid, email, pool in invitations:
        out[("invitation", rid)] = " in ".join(x for x in (email, pool_names.get(pool)) if x)
    return out

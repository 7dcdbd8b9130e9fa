"""Batches: applied roster plans, each with its file hash, operator, time, plan and outcome.

The batch engine (``batch.apply``) opens one inside the transaction that applies the plan, so
the row, the changes and their audit events (tagged with the batch) commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from peewee import JOIN, fn

from regtui.core import paging
from regtui.core.models import Batch, Customer, Order, Pool
from regtui.core.services import audit, pools
from regtui.core.services.permissions import Actor, require
from regtui.core.services.pools import customer_id


def open_batch(actor: Actor, pool: Pool, *, file_name: str, sha256: str, counts: dict, plan_json: str,
               outcome: str) -> Batch:
    """The batch row for a plan about to be applied (call inside the applying transaction)."""
    require(actor, "batch.apply", customer_id(pool))
    return Batch.create(file_name=file_name, sha256=sha256, operator=actor.name, pool=pool.id,
                        counts=json.dumps(counts), plan=plan_json, outcome=outcome)


def close_batch(actor: Actor, batch: Batch) -> None:
    """The audit event that says the batch was applied, with its counts and outcome."""
    audit.record(actor, "batch.apply", batch, batch_id=batch.id, after={
        "file": batch.file_name, "sha256": batch.sha256, "pool": batch.pool_id,
        "counts": json.loads(batch.counts), "outcome": batch.outcome})


@dataclass(frozen=True)
class BatchRow:
    """An applied batch as the history lists it: its pool named ORDER-LINE (``pool_name``) with
    its customer, and the counts of each kind of change."""

    id: int
    applied_at: dt.datetime
    file_name: str
    sha256: str
    operator: str
    pool_id: int | None
    pool_name: str | None
    customer: str | None
    counts: dict
    outcome: str

    def counts_text(self) -> str:
        """"3 create, 1 revoke": the kinds that happened, as every face shows them."""
        return ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n) or "nothing"

    def as_dict(self) -> dict:
        return {"id": self.id, "file_name": self.file_name, "sha256": self.sha256, "operator": self.operator,
                "pool": self.pool_id, "pool_name": self.pool_name, "customer": self.customer, "counts": self.counts,
                "outcome": self.outcome, "applied_at": self.applied_at.isoformat()}


# time: as applied (a batch's id follows when it was applied); pool: a deleted pool's batches first
SORTS = {"time": Batch.id, "file": Batch.file_name, "operator": Batch.operator, "pool": fn.COALESCE(Batch.pool, 0)}


def _visible_customer(actor: Actor) -> int | None:
    """The customer whose batches ``actor`` may list (None: every customer's), as ``history``:
    a manager their own customer's, staff anyone's."""
    if actor.role == "manager":
        return actor.customer_id
    require(actor, "customers.view")
    return None


def _searched(customer_id: int | None, search: str):
    """Batch ids (with the joins filtering needs) of ``customer_id``'s pools (None: all), whose file
    name, operator, pool (its order number or ORDER-LINE) or customer contains ``search``."""
    q = (Batch.select(Batch.id).join(Pool, JOIN.LEFT_OUTER).join(Order, JOIN.LEFT_OUTER)
         .join(Customer, JOIN.LEFT_OUTER))
    if customer_id is not None:
        q = q.where(Order.customer == customer_id)
    if search.strip():
        match = paging.contains([Batch.file_name, Batch.operator, Order.number, Customer.name], search)
        by_line = pools._by_order_line(search.strip())
        if by_line is not None:
            match = match | (Batch.pool == by_line.id)
        q = q.where(match)
    return q


def _rows(keys: list[int]) -> dict[int, tuple]:
    """batch id -> (BatchRow,) for one page's batches, in two queries and the pools' names."""
    found = list(Batch.select(Batch, Customer.name.alias("customer_name")).join(Pool, JOIN.LEFT_OUTER)
                 .join(Order, JOIN.LEFT_OUTER).join(Customer, JOIN.LEFT_OUTER).where(Batch.id.in_(keys)).objects())
    named = pools.names([b.pool_id for b in found if b.pool_id is not None])
    return {b.id: (BatchRow(b.id, b.applied_at, b.file_name, b.sha256, b.operator, b.pool_id, named.get(b.pool_id),
                            b.customer_name, json.loads(b.counts or "{}"), b.outcome),) for b in found}


def page(actor: Actor, *, search: str = "", sort: str = "time", descending: bool = True, limit: int = 100,
         after: str | None = None, before: str | None = None, last: bool = False) -> paging.Page[BatchRow]:
    """One page of the applied batches (newest first unless sorted otherwise), filtered in the
    database by file name, operator, pool (order number or ORDER-LINE, ``1001-1``) or customer;
    a manager sees their own customer's only."""
    customer_id = _visible_customer(actor)
    return paging.fetch(_searched(customer_id, search), sort_expr=paging.sort_expression(SORTS, sort), key=Batch.id,
                        descending=descending, limit=limit, after=after, before=before, last=last,
                        total=lambda: _searched(customer_id, search).count(), detail=_rows, make=lambda r: r[0])

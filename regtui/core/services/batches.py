"""Batches: applied roster plans, each with its file hash, operator, time, plan and outcome.

The batch engine (``batch.apply``) opens one inside the transaction that applies the plan, so
the row, the changes and their audit events (tagged with the batch) commit or roll back together.
"""

from __future__ import annotations

import json

from regtui.core.models import Batch, Order, Pool
from regtui.core.services import audit
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


def history(actor: Actor, limit: int = 100) -> list[dict]:
    """Applied batches, newest first; a manager sees those of their own customer's pools only."""
    q = Batch.select().order_by(Batch.id.desc()).limit(limit)
    if actor.role == "manager":
        q = q.join(Pool).join(Order).where(Order.customer == actor.customer_id)
    else:
        require(actor, "customers.view")
    return [{"id": b.id, "file_name": b.file_name, "sha256": b.sha256, "operator": b.operator, "pool": b.pool_id,
             "counts": json.loads(b.counts or "{}"), "outcome": b.outcome, "applied_at": b.applied_at.isoformat()}
            for b in q]

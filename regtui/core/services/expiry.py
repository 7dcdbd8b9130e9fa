"""Invitation expiry, the one sweep that writes it: pending invitations past their expiry become
``expired`` and their codes go back to available (unless another invitation for the code is
still pending), audited as done by the system.

Reading never sweeps (listings count an expired invitation as not pending); the scheduler
sweeps everything, and a writer sweeps the pool it is about to change, inside its own
transaction, so that the seats it counts are the seats a listing showed."""

from __future__ import annotations

from typing import Iterable

from regtui.core.db import dialect
from regtui.core.models import Code, Invitation, database, utcnow
from regtui.core.services import audit, seats
from regtui.core.services.permissions import SYSTEM


def live():
    """Pending and not yet expired: what pending means to a reader and to a plan (a due invitation
    nobody has swept yet is not pending; reads never sweep). A where-condition on Invitation."""
    return (Invitation.status == "pending") & (Invitation.expires_at >= utcnow())


def due(pool_id: int | None = None) -> list[Invitation]:
    """Pending invitations past their expiry (of one pool, or all), locked on PostgreSQL so
    that two sweeps at once expire each once (SQLite's writers already queue)."""
    q = Invitation.select(Invitation.id, Invitation.code).where(
        (Invitation.status == "pending") & (Invitation.expires_at < utcnow()))
    if pool_id is not None:
        q = q.join(Code).where(Code.pool == pool_id)
    return list(dialect().locked(q))


def expire_due(pool_id: int | None = None) -> int:
    """Sweep the due invitations (of one pool, or all) in one transaction; returns how many."""
    with database.atomic():
        found = due(pool_id)
        if not found:
            return 0
        ids = [d.id for d in found]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            Invitation.update(status="expired", ended_at=utcnow()).where(
                Invitation.id.in_(chunk) & (Invitation.status == "pending")).execute()
        by_pool: dict[int, set[int]] = {}
        for pid, code_id in Code.select(Code.pool, Code.id).where(Code.id.in_([d.code_id for d in found])).tuples():
            by_pool.setdefault(pid, set()).add(code_id)
        for pid, code_ids in by_pool.items():
            release_orphans(pid, code_ids)
        audit.record_many(SYSTEM, "invitation.expire", ((d, {"status": "pending"}, {"status": "expired"}) for d in found))
    return len(found)


def release_orphans(pool_id: int, code_ids: Iterable[int]) -> None:
    """Invited codes with no pending invitation left go back to available."""
    code_ids = set(code_ids)
    still = {c for (c,) in Invitation.select(Invitation.code).where(
        Invitation.code.in_(list(code_ids)) & (Invitation.status == "pending")).tuples()}
    seats.release_many(pool_id, sorted(code_ids - still), "invited")

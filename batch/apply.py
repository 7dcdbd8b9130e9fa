"""The one applier: runs exactly a reviewed plan, in one transaction, through the services.

Inside the transaction the pool is locked first (FOR UPDATE on PostgreSQL; SQLite writers start
with BEGIN IMMEDIATE), then the snapshot is read again: if its fingerprint differs from the
plan's, the plan is stale and nothing is changed. So two applies racing for one pool never
oversubscribe it: the first wins whole, the second is refused whole.
"""

from __future__ import annotations

from collections import defaultdict
from operator import attrgetter

from batch import pool_state as snapshots
from batch.plan import Plan
from batch.progress import Progress, silent as _noop
from regtui.core.emailcheck import identity_keys
from regtui.core.errors import Refused
from regtui.core.models import Access, Batch, Code, Invitation, database
from regtui.core.records import from_columns
from regtui.core.services import access, batches, invitations, pools, registrations, seats
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor, require



def apply_plan(actor: Actor, plan: Plan, *, progress: Progress | None = None) -> Batch:
    """Apply ``plan`` for ``actor``; returns the Batch row. Raises Refused (nothing changed) for a
    plan with errors (unless --skip-invalid and only row errors), or a stale plan (code "stale")."""
    progress = progress or _noop
    pool = pools.get(actor, plan.pool_id)
    cid = pools.customer_id(pool)
    require(actor, "batch.apply", cid)
    blocking = plan.blocking_errors
    if blocking:
        first = blocking[0]
        raise Refused(f"The plan has {len(blocking)} error{'s' if len(blocking) != 1 else ''}; nothing was applied. "
                      f"First: {first.message}", code="invalid")
    if any(c.kind == "extend" for c in plan.changes):
        require(actor, "access.extend")
    total = len(plan.changes)
    done = 0
    with database.atomic():
        progress("check", 0, total)
        seats.lock_pool(pool.id)
        keys = plan.learner_keys  # computed on each use: once here
        now = snapshots.take(pool.id, keys)
        check_changes(plan, now)
        if now.fingerprint_for(keys) != plan.fingerprint:
            raise Refused("The pool changed since this plan was made (seats, invitations or accounts); "
                          "nothing was applied. Make the plan again and review it.", code="stale")
        counts = {k: v for k, v in plan.summary().items()}
        skipped = len(plan.errors) if plan.skip_invalid else 0
        batch = batches.open_batch(actor, pool, file_name=plan.file_name, sha256=plan.sha256, counts=counts,
                                   plan_json=plan.to_json(), outcome="applied-partly" if skipped else "applied")
        bid = batch.id

        revokes = [c for c in plan.changes if c.kind == "revoke" and c.invitation_id is None]
        cancels = [c for c in plan.changes if c.kind == "revoke" and c.invitation_id is not None]
        if revokes:
            require(actor, "seats.revoke", cid)
            registrations.revoke_codes(actor.name, pool, [Code(id=now.seated[c.key].code_id) for c in revokes], batch_id=bid)
            done += len(revokes)
            progress("revoke", done, total)
        if cancels:
            require(actor, "seats.invite", cid)
            invitations.cancel_many(actor.name, pool, [Invitation(id=now.pending[c.key][0]) for c in cancels],
                                    batch_id=bid)
            done += len(cancels)
            progress("revoke", done, total)

        seating = [c for c in plan.changes if c.kind in ("create", "assign")]
        if seating:
            registrations.assign(
                actor, pool,
                from_columns(LearnerSpec, *(map(attrgetter(f), seating) for f in LearnerSpec._fields)),
                dates=[(c.starts, c.ends) for c in seating], batch_id=bid)
            done += len(seating)
            progress("assign", done, total)

        by_message: dict[str, list] = defaultdict(list)
        for c in plan.changes:
            if c.kind == "invite":
                by_message[c.message].append(c)
        for message, group in by_message.items():
            invitations.invite(actor, pool, [c.email for c in group], message, batch_id=bid)
            done += len(group)
            progress("invite", done, total)

        extends = [c for c in plan.changes if c.kind == "extend"]
        if extends:
            rows = []
            for c in extends:
                seat = now.seated[c.key]
                row = Access(id=seat.access_id, status="active", starts=seat.starts, ends=seat.ends)
                rows.append((row, c.starts, c.ends, c.ends is None and seat.ends is not None))
            access.extend_rows(actor, rows, batch_id=bid)
            done += len(extends)
            progress("extend", done, total)

        batches.close_batch(actor, batch)
    progress("done", total, total)
    return batch


def check_changes(plan: Plan, now) -> None:
    """Refuse (nothing changed) a plan whose changes do not match the pool as it is: each change's
    key must be its email's own key, and each id it names must be the one this pool holds for that
    key. A saved plan carries a MAC; this holds for a plan built in memory as well."""
    emails = [c.email for c in plan.changes if c.row is not None]
    keys = identity_keys(emails) if emails else []
    if keys != [c.key for c in plan.changes if c.row is not None]:
        raise Refused("The plan's email addresses do not match their identity keys; nothing was applied. "
                      "Make the plan again.", code="tampered")
    for c in plan.changes:
        if c.kind == "revoke":
            seat, inv = now.seated.get(c.key), now.pending.get(c.key)
            held = (inv[0], inv[1]) if c.invitation_id is not None and inv else (None, seat.code_id) if seat else None
            if held != (c.invitation_id, c.code_id):
                raise Refused(f"The plan names a seat or invitation that is not {c.email}'s in this pool; "
                              "nothing was applied. Make the plan again.", code="tampered")
        elif c.kind == "extend":
            seat = now.seated.get(c.key)
            if seat is None or seat.code_id != c.code_id or seat.access_id is None:
                raise Refused(f"The plan names an access that is not {c.email}'s in this pool; nothing was applied. "
                              "Make the plan again.", code="tampered")

"""Codes a learner redeems on ``/redeem``: the customer hands out registration codes (marks a pool's
unassigned codes as shareable, or takes one code to pass on) and a signed-in learner types one to
take its seat. First to redeem wins; the others are told the code is taken.

A code is guessable only if guesses are cheap, so: rate limits per client and per account (in the
web face), a code that is not shareable looks exactly like one that does not exist, and wrong tries
"near" a real code (the same first group, ``Q2PR-`` of ``Q2PR-AN5H``) count against that code's
group: after ``LOCK_AFTER`` of them its shareable codes are locked until the customer shares
them again. A seat taken back (seats.release_many) is no longer shareable: whoever knew its
code must not take it again.
"""

from __future__ import annotations

import re

from regtui.core.errors import Refused
from regtui.core.models import Code, Learner, Pool, database
from regtui.core.services import audit, pools, registrations, seats
from regtui.core.services.permissions import Actor, require
from regtui.core.services.registrations import Seating

LOCK_AFTER = 5
UNKNOWN = "There is no code like that to redeem. Check it against what you were given (letters and digits, e.g. Q2PR-AN5H)."
TAKEN = "Someone has already redeemed this code. Ask whoever gave it to you for another one."
_SHAPE = re.compile(r"^[A-Z0-9]{2,12}(-[A-Z0-9]{2,12}){0,3}$")


def normalise(text: str) -> str:
    """What a person typed, as codes are stored: upper case, no spaces, O/0 and I/1 as typed."""
    return re.sub(r"\s+", "", text or "").upper()


def share(actor: Actor, pool: Pool, *, on: bool = True) -> int:
    """Mark the pool's unassigned codes shareable (or no longer); returns how many changed."""
    require(actor, "seats.assign", pools.customer_id(pool))
    with database.atomic():
        changed = (Code.update(redeemable=on, redeem_misses=0)
                   .where((Code.pool == pool.id) & (Code.state == "available") & (Code.redeemable != on)).execute())
        audit.record(actor, "pool.share" if on else "pool.unshare", pool, after={"codes": changed})
    return changed


def share_one(actor: Actor, pool: Pool) -> str:
    """One unassigned code of the pool, made shareable, to hand to someone; Refused when none is free."""
    require(actor, "seats.assign", pools.customer_id(pool))
    with database.atomic():
        code = (Code.select().where((Code.pool == pool.id) & (Code.state == "available"))
                .order_by(Code.redeemable.desc(), Code.id).first())
        if code is None:
            raise Refused(f"Pool {pool.id} has no free seat to hand out.", code="seats-short")
        Code.update(redeemable=True, redeem_misses=0).where(Code.id == code.id).execute()
        audit.record(actor, "code.share", code, after={"code": code.code})
    return code.code


def redeem(learner_id: int, typed: str) -> Seating:
    """The signed-in learner takes the seat of a shareable code; Refused with a sentence otherwise."""
    text = normalise(typed)
    if not _SHAPE.match(text):
        raise Refused(UNKNOWN, code="unknown-code")
    code = Code.get_or_none(Code.code == text)
    if code is None or not code.redeemable:
        _count_miss(text)  # in its own transaction: the refusal must not roll it back
        raise Refused(UNKNOWN, code="unknown-code")
    with database.atomic():
        learner = Learner.get_by_id(learner_id)
        pool = Pool.get_by_id(code.pool_id)
        seats.lock_pool(pool.id)
        if not Code.get_by_id(code.id).redeemable:  # unshared meanwhile
            raise Refused(UNKNOWN, code="unknown-code")
        registrations.refuse_seated(pool, [learner])
        if not seats.move_code(pool.id, code.id, "available", "claimed", learner.id):
            raise Refused(TAKEN, code="taken")  # it stays marked shared: the next one is told it is taken
        seating = Seating(learner, code.id, new_account=False)
        registrations.complete(f"learner:{learner.email}", pool, [seating], action="code.redeem")
    return seating


def _count_miss(text: str) -> None:
    """A wrong try: counted against the shareable codes of its first group, locked at LOCK_AFTER."""
    group = text.split("-")[0]
    if len(group) < 3:
        return
    near = Code.redeemable & Code.code.startswith(group + "-")
    with database.atomic():
        Code.update(redeem_misses=Code.redeem_misses + 1).where(near).execute()
        locked = Code.update(redeemable=False).where(near & (Code.redeem_misses >= LOCK_AFTER)).execute()
        if locked:
            audit.record_rows("regtui", "code.lock", "code", [(None, None, {"group": group, "codes": locked})])

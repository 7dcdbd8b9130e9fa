"""Invitations: emailed, single-use, expiring claim links for one code.

The first person to accept any pending invitation for a code gets it; every other
invitation for that code is invalidated at once. The race is decided by the
conditional UPDATE in ``seats.move_code``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from regtui import config
from regtui.core import emailcheck, paging
from regtui.core.errors import NotFound, Refused
from regtui.core.models import Code, Invitation, Learner, Pool, database, utcnow
from regtui.core.services import audit, expiry, learners, outbox, passwords, pools, registrations, seats, templates, tokens
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor, require
from regtui.core.services.pools import customer_id
from regtui.core.services.registrations import Seating

LIFETIME = dt.timedelta(days=14)
PURPOSE = "invitation"

ENDED_MESSAGES = {
    "accepted": "This invitation has already been used: its seat is taken.",
    "invalidated": "Someone else claimed this seat first, so this invitation no longer works.",
    "cancelled": "This invitation was cancelled by the sender.",
    "expired": "This invitation has expired. Ask the sender for a new one.",
}


@dataclass(frozen=True)
class PendingInvitation:
    id: int
    code: str
    email: str
    created_at: dt.datetime
    expires_at: dt.datetime
    link: str

    def as_dict(self) -> dict:
        return {"id": self.id, "code": self.code, "email": self.email, "sent": self.created_at.isoformat(),
                "expires": self.expires_at.isoformat(), "link": self.link}


def link(inv: Invitation) -> str:
    return f"{config.site_url()}/claim/{tokens.make(PURPOSE, inv.id, inv.nonce)}"


def get(actor: Actor, invitation_id: int) -> Invitation:
    inv = Invitation.get_or_none(Invitation.id == invitation_id)
    if inv is None:
        raise NotFound(f"There is no invitation {invitation_id}.")
    require(actor, "seats.invite", customer_id(_pool_of(inv)))
    return inv


def _pool_of(inv: Invitation) -> Pool:
    return Pool.select(Pool, pools.Order).join(pools.Order).where(Pool.id == inv.code.pool_id).get()


def pending_keys(pool: Pool) -> dict[str, int]:
    """email key -> invitation id of every pending invitation in the pool (one query)."""
    q = Invitation.select(Invitation.email_key, Invitation.id).join(Code).where((Code.pool == pool.id) & expiry.live())
    return dict(q.tuples())


def invite(actor: Actor, pool: Pool, emails: Sequence[str], message: str = "", *,
           batch_id: int | None = None) -> list[Invitation]:
    """Put one available code per address on hold and email each a claim link."""
    require(actor, "seats.invite", customer_id(pool))
    # keys derived here, never taken from the caller; addresses stored trimmed
    normalised = list(zip([e.strip() for e in emails], emailcheck.identity_keys(emails)))
    registrations.refuse_repeats([k for _, k in normalised])
    with database.atomic():
        expiry.expire_due(pool.id)
        _refuse_known(pool, normalised)
        code_ids = seats.take_available(pool.id, [None] * len(normalised), "invited")
        invs = _create(pool, list(zip(code_ids, normalised)), message, batch_id=batch_id, actor_name=actor.name)
    return invs


def _refuse_known(pool: Pool, addresses: Sequence[tuple[str, str]]) -> None:
    """Refuse (address as given, identity key) pairs already seated or invited in the pool; the
    sentence names the address as the operator typed it, as every other one does."""
    seated, pending = registrations.seated_keys(pool), pending_keys(pool)
    elsewhere = pools.holders_elsewhere(pool)
    for given, key in addresses:
        if key in seated:
            raise Refused(f"{given} already has a seat in this pool.", code="already-seated")
        if key in pending:
            raise Refused(f"{given} already has a pending invitation in this pool; resend it instead.", code="already-invited")
        if key in elsewhere:
            raise Refused(pools.seat_elsewhere_sentence(pool, given, elsewhere[key]), code="seat-elsewhere")


def _create(pool: Pool, items: Sequence[tuple[int, tuple[str, str]]], message: str, *, batch_id: int | None,
            actor_name: str) -> list[Invitation]:
    now = utcnow()
    expires = now + LIFETIME
    rows = [{"code": code_id, "email": given, "email_key": key, "message": message or "", "nonce": tokens.new_nonce(),
             "created_at": now, "expires_at": expires, "status": "pending"} for code_id, (given, key) in items]
    for start in range(0, len(rows), 500):
        Invitation.insert_many(rows[start:start + 500]).execute()
    invs: list[Invitation] = []
    nonces = [r["nonce"] for r in rows]
    for start in range(0, len(nonces), 500):
        invs.extend(Invitation.select().where(Invitation.nonce.in_(nonces[start:start + 500])).order_by(Invitation.id))
    _queue_emails(pool, invs)
    audit.record_many(actor_name, "invitation.send", ((i, None, {"email": i.email, "code_id": i.code_id, "pool": pool.id}) for i in invs), batch_id=batch_id)
    return invs


def _queue_emails(pool: Pool, invs: Sequence[Invitation]) -> None:
    session = pool.session
    customer = pool.order.customer.name
    outbox.queue_many(templates.INVITATION, [
        (i.email, {"email": i.email, "customer": customer, "product": session.product.name, "session": session.name,
                   "message": i.message, "expires": i.expires_at.date().isoformat()},
         outbox.Link(PURPOSE, i.id, f"invitation:{i.id}"))
        for i in invs])


def _withdraw_emails(pool: Pool, invitation_ids: Sequence[int]) -> None:
    """Cancelled invitations: their unsent emails are withdrawn; whoever got one already is told
    it was withdrawn (in the cancel's transaction)."""
    outbox.withdraw("invitation", invitation_ids, templates.INVITATION_WITHDRAWN, lambda told: _withdrawn_notices(pool, told))


def _withdrawn_notices(pool: Pool, invitation_ids: set[int]):
    session = pool.session
    values = {"customer": pool.order.customer.name, "product": session.product.name, "session": session.name}
    for i in Invitation.select().where(Invitation.id.in_(sorted(invitation_ids))).order_by(Invitation.id):
        yield i.email, {**values, "email": i.email, "sent": i.created_at.date().isoformat()}


def resend(actor: Actor, inv: Invitation) -> None:
    """Email the same link again and give it a fresh expiry."""
    pool = _pool_of(inv)
    require(actor, "seats.invite", customer_id(pool))
    with database.atomic():
        _require_pending(inv)
        inv.expires_at = utcnow() + LIFETIME
        Invitation.update(expires_at=inv.expires_at).where(Invitation.id == inv.id).execute()
        _queue_emails(pool, [inv])
        audit.record(actor, "invitation.resend", inv, after={"email": inv.email, "expires": inv.expires_at})


def _require_pending(inv: Invitation) -> None:
    current = Invitation.get_by_id(inv.id)
    if current.status != "pending":
        raise Refused(f"That invitation is {current.status}, not pending.", code="not-pending")
    if current.expires_at < utcnow():
        raise Refused("That invitation has expired, so it is no longer pending.", code="not-pending")


def cancel(actor: Actor, inv: Invitation, *, batch_id: int | None = None) -> None:
    """Cancel a pending invitation; the code is available again unless another
    invitation for it is still pending."""
    pool = _pool_of(inv)
    require(actor, "seats.invite", customer_id(pool))
    with database.atomic():
        cancel_many(actor.name, pool, [inv], batch_id=batch_id)


def cancel_many(actor_name: str, pool: Pool, invs: Sequence[Invitation], *, batch_id: int | None = None) -> None:
    """Cancel these pending invitations of ``pool``. Only their ids are taken from the caller: each
    must be a pending invitation of this pool (else Refused, nothing changed); codes are read here."""
    ids = [i.id for i in invs]
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        found.update(Invitation.select(Invitation.id, Invitation.code).join(Code, on=(Invitation.code == Code.id)).where(
            Invitation.id.in_(ids[start:start + 500]) & (Code.pool == pool.id)).tuples())
    if len(found) != len(set(ids)):
        raise Refused("An invitation to cancel is not one of this pool's; nothing was changed.", code="not-in-pool")
    invs = [Invitation(id=i, code=found[i]) for i in ids]
    for start in range(0, len(ids), 500):
        changed = Invitation.update(status="cancelled", ended_at=utcnow()).where(
            Invitation.id.in_(ids[start:start + 500]) & (Invitation.status == "pending")).execute()
        if changed != len(ids[start:start + 500]):
            raise Refused("Some of those invitations are no longer pending; nothing was changed.", code="not-pending")
    expiry.release_orphans(pool.id, {i.code_id for i in invs})
    _withdraw_emails(pool, ids)
    audit.record_many(actor_name, "invitation.cancel", ((i, {"status": "pending"}, {"status": "cancelled"}) for i in invs), batch_id=batch_id)


def invite_instead(actor: Actor, inv: Invitation, email: str, message: str | None = None, *, keep_others: bool = False) -> Invitation:
    """Invite someone else to the same code. The existing pending invitations are
    cancelled, or kept with ``keep_others`` (then the first to accept wins)."""
    pool = _pool_of(inv)
    require(actor, "seats.invite", customer_id(pool))
    given, key = learners.normalise_email(email)
    with database.atomic():
        _require_pending(inv)
        _refuse_known(pool, [(given, key)])
        seats.lock_pool(pool.id)
        if not keep_others:
            others = list(Invitation.select().where((Invitation.code == inv.code_id) & (Invitation.status == "pending")))
            Invitation.update(status="cancelled", ended_at=utcnow()).where(Invitation.id.in_([o.id for o in others])).execute()
            _withdraw_emails(pool, [o.id for o in others])
            audit.record_many(actor, "invitation.cancel", ((o, {"status": "pending"}, {"status": "cancelled"}) for o in others))
        [new] = _create(pool, [(inv.code_id, (given, key))], inv.message if message is None else message, batch_id=None, actor_name=actor.name)
    return new


def assign_pending(actor: Actor, inv: Invitation, spec: LearnerSpec | None = None) -> Seating:
    """Give an invited code directly to the invitee (no ``spec``) or to someone else."""
    pool = _pool_of(inv)
    require(actor, "seats.assign", customer_id(pool))
    spec = spec or LearnerSpec(inv.email)
    _, key = learners.normalise_email(spec.email)
    with database.atomic():
        _require_pending(inv)
        [(learner, created)] = learners.ensure(actor.name, [spec], keys=[key])
        registrations.refuse_seated(pool, [learner])
        pools.refuse_seat_elsewhere(pool, [learner.id])
        return _claim(actor.name, pool, inv, learner, created, action="seat.assign-pending")


def _claim(actor_name: str, pool: Pool, inv: Invitation, learner: Learner, created: bool, *, action: str) -> Seating:
    if not seats.move_code(pool.id, inv.code_id, "invited", "claimed", learner.id):
        raise Refused(ENDED_MESSAGES["invalidated"], code="taken")
    now = utcnow()
    accepted = Invitation.update(status="accepted", ended_at=now, learner=learner.id).where(
        (Invitation.code == inv.code_id) & (Invitation.status == "pending") & (Invitation.email_key == learner.email_key)).execute()
    Invitation.update(status="invalidated", ended_at=now).where(
        (Invitation.code == inv.code_id) & (Invitation.status == "pending")).execute()
    seating = Seating(learner, inv.code_id, new_account=created)
    registrations.complete(actor_name, pool, [seating], action=action)
    audit.record(actor_name, "invitation.close", inv, after={"accepted_by": learner.email, "accepted": bool(accepted)})
    return seating


def check(token: str) -> Invitation:
    """The pending invitation for a link, or Refused with a sentence for the learner."""
    iid = tokens.parse_id(token)
    inv = Invitation.get_or_none(Invitation.id == iid) if iid is not None else None
    if inv is None or not tokens.matches(token, PURPOSE, inv.id, inv.nonce):
        raise Refused("This invitation link is not valid. Check that you copied the whole link from the email.", code="bad-link")
    if inv.status == "pending" and inv.expires_at < utcnow():
        raise Refused(ENDED_MESSAGES["expired"], code="expired")
    if inv.status != "pending":
        raise Refused(ENDED_MESSAGES[inv.status], code=inv.status)
    return inv


def accept(token: str, first_name: str = "", last_name: str = "", password: str | None = None) -> Learner:
    """A learner accepts an invitation from the claim page: first to accept wins.

    A claim link proves nothing about who holds the address (whoever sent it can copy it), so a
    claim never sets or changes the password of an existing account: the seat is attached, and
    the confirmation email carries the account's set-password link when it has no password yet.
    An account made here takes the names and password given, and is ``unverified`` until its
    owner uses the set-password link that only the confirmation email carries."""
    with database.atomic():
        inv = check(token)
        pool = _pool_of(inv)
        seats.lock_pool(pool.id)
        inv = check(token)
        existing = Learner.get_or_none(Learner.email_key == inv.email_key)
        if existing is None:
            _check_new_account(inv, first_name, last_name, password)
        spec = LearnerSpec(inv.email, first_name, last_name, password if existing is None else None)
        [(learner, created)] = learners.ensure(f"learner:{inv.email}", [spec], keys=[inv.email_key])
        if created:
            learners.mark_unverified(learner.id)
            learner = Learner.get_by_id(learner.id)
        registrations.refuse_seated(pool, [learner])
        pools.refuse_seat_elsewhere(pool, [learner.id])
        _claim(f"learner:{inv.email}", pool, inv, learner, created, action="invitation.accept")
    return learner


def _check_new_account(inv: Invitation, first_name: str, last_name: str, password: str | None) -> None:
    if not (first_name.strip() and last_name.strip()):
        raise Refused("Please give your first and last name.", code="missing-name")
    learners.check_typed_names(LearnerSpec(inv.email, first_name, last_name))
    if not password:
        raise Refused("Please choose a password.", code="missing-password")
    passwords.check_strength(password, avoid=[inv.email, inv.email.partition("@")[0]])


@dataclass(frozen=True)
class ClaimForm:
    """What the claim page shows for a pending invitation. ``new_account``: the page asks for
    names and a password; otherwise an account exists and the page only has the button (the
    seat is added to that account, whose password a claim never sets)."""

    email: str
    message: str
    expires: dt.date
    product: str
    session: str
    session_starts: dt.date | None
    customer: str
    new_account: bool


@dataclass(frozen=True)
class Claimed:
    """What the page says after a claim. ``link_emailed``: the confirmation carries the
    set-password link (a new, unverified account, or one with no password yet)."""

    email: str
    first_name: str
    product: str
    session: str
    new_account: bool
    link_emailed: bool


def claim_form(token: str) -> ClaimForm:
    """The claim page of a link, or Refused with a sentence for the learner (a read: no writes)."""
    inv = check(token)
    pool = _pool_of(inv)
    session = pool.session
    exists = Learner.select().where(Learner.email_key == inv.email_key).exists()
    return ClaimForm(inv.email, inv.message or "", inv.expires_at.date(), session.product.name, session.name,
                     session.starts, pool.order.customer.name, not exists)


def claim(token: str, first_name: str = "", last_name: str = "", password: str = "", confirm: str = "") -> Claimed:
    """The claim page's form: names and a password typed twice for a new account (checked
    here), nothing for an existing one (anything typed is ignored); then ``accept``."""
    form = claim_form(token)
    if form.new_account:
        passwords.check_choice(password, confirm, avoid=[form.email, form.email.partition("@")[0]])
        learner = accept(token, first_name, last_name, password)
    else:
        learner = accept(token)
    created = form.new_account and bool(learner.unverified)
    return Claimed(learner.email, learner.first_name if created else "", form.product, form.session,
                   new_account=created, link_emailed=learners.needs_password_link(learner))


def find_pending(actor: Actor, pool: Pool, email: str) -> Invitation:
    """``email``'s pending invitation in ``pool`` (one past its expiry is not pending any more,
    swept or not), or NotFound."""
    require(actor, "seats.invite", customer_id(pool))
    _, key = learners.normalise_email(email)
    inv = (Invitation.select().join(Code)
           .where((Code.pool == pool.id) & expiry.live() & (Invitation.email_key == key))
           .order_by(Invitation.id).first())
    if inv is None:
        raise NotFound(f"{email} has no pending invitation in pool {pool.id}.")
    return inv


def resend_for(actor: Actor, pool: Pool, email: str) -> str:
    """Send ``email`` again what they are waiting for in ``pool``: a seat holder their
    confirmation, anyone else their pending invitation (same link, new expiry). Returns which:
    "confirmation" or "invitation"."""
    try:
        registrations.resend(actor, pool, email)
        return "confirmation"
    except NotFound:
        resend(actor, find_pending(actor, pool, email))
        return "invitation"


# --- pages (keyset pagination: see regtui.core.paging) --------------------------------------

SORTS = {"email": Invitation.email_key, "code": Code.code, "sent": Invitation.created_at, "expires": Invitation.expires_at}


def _pending_query(pool: Pool, search: str, columns):
    """The pool's pending invitations as a reader sees them: one past its expiry is not pending
    any more, whether or not the sweep has marked it yet (reads never write)."""
    q = (Invitation.select(*columns).join(Code)
         .where((Code.pool == pool.id) & expiry.live()))
    if search.strip():
        q = q.where(paging.contains([Invitation.email_key, Code.code], search))
    return q


def page(actor: Actor, pool: Pool, *, search: str = "", sort: str = "sent", descending: bool = False, limit: int = 100,
         after: str | None = None, before: str | None = None, last: bool = False) -> paging.Page[PendingInvitation]:
    """One page of the pool's pending invitations, filtered (email, code) and sorted by the database."""
    require(actor, "seats.view", customer_id(pool))
    q = _pending_query(pool, search, (Invitation.id, Code.code, Invitation.email, Invitation.created_at,
                                      Invitation.expires_at, Invitation.nonce))

    def make(r) -> PendingInvitation:
        iid, code, email, sent, expires, nonce = r
        return PendingInvitation(iid, code, email, _as_datetime(sent), _as_datetime(expires),
                                 f"{config.site_url()}/claim/{tokens.make(PURPOSE, iid, nonce)}")

    return paging.fetch(q, sort_expr=paging.sort_expression(SORTS, sort), key=Invitation.id, descending=descending,
                        limit=limit, after=after, before=before, last=last, total=lambda: q.count(), make=make)


def _as_datetime(value) -> dt.datetime:
    """A datetime from a tuple query (SQLite hands back text)."""
    return value if isinstance(value, dt.datetime) else Invitation.created_at.python_value(value)


def ticked_invitations(pool: Pool, ticked: paging.Ticked) -> list[int]:
    return paging.resolve(ticked, Invitation.id, lambda search: _pending_query(pool, search, (Invitation.id,)))


def cancel_ticked(actor: Actor, pool: Pool, ticked: paging.Ticked) -> int:
    """Cancel every ticked pending invitation of the pool (across pages) in one transaction."""
    require(actor, "seats.invite", customer_id(pool))
    with database.atomic():
        ids = ticked_invitations(pool, ticked)
        invs = []
        for chunk in paging.in_chunks(ids):
            invs.extend(Invitation.select(Invitation.id, Invitation.code).where(Invitation.id.in_(chunk)))
        if invs:
            cancel_many(actor.name, pool, invs)
    return len(invs)

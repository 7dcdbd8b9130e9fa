"""Registrations: a learner holding a claimed code of a pool, with the access it gives.

``assign`` is the one write path for giving seats directly, for one learner or a
hundred thousand (the batch engine calls it too): learners found or created in bulk,
codes taken by conditional UPDATEs, access granted, confirmation emails queued and audit
events written, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

from peewee import JOIN, fn

from regtui import config
from regtui.core import bulk, emailcheck, paging
from regtui.core.errors import NotFound, Refused
from regtui.core.models import Access, Code, Learner, Order, Pool, Session, database
from regtui.core.services import access, audit, events, expiry, learners, outbox, pools, seats, templates
from regtui.core.services.learners import LearnerRow, LearnerSpec
from regtui.core.services.permissions import Actor, require
from regtui.core.services.pools import customer_id


@dataclass(frozen=True)
class Registration:
    code_id: int
    code: str
    learner_id: int
    email: str
    first_name: str
    last_name: str
    access_id: int | None
    access_start: dt.date | None
    access_end: dt.date | None
    access_status: str | None = None  # derived from the dates (access.status_sql)

    def as_dict(self) -> dict:
        return {
            "code": self.code, "email": self.email, "first_name": self.first_name, "last_name": self.last_name,
            "access_start": self.access_start.isoformat() if self.access_start else None,
            "access_end": self.access_end.isoformat() if self.access_end else None,
            "status": self.access_status,
        }


class Seating(NamedTuple):
    """One seat being given: to whom (a Learner, or a LearnerRow in the bulk path), which code,
    and the access dates (None: defaults)."""

    learner: Learner | LearnerRow
    code_id: int
    starts: dt.date | None = None
    ends: dt.date | None = None
    new_account: bool = False
    code: str | None = None  # the code's text, when the caller has it


def seated_keys(pool: Pool) -> dict[str, int]:
    """email key -> code id of every learner holding a seat in the pool (one query)."""
    q = Code.select(Learner.email_key, Code.id).join(Learner, on=(Code.learner == Learner.id)).where(
        (Code.pool == pool.id) & (Code.state == "claimed"))
    return dict(q.tuples())


def assign(actor: Actor, pool: Pool, specs: Sequence[LearnerSpec], *, dates: Sequence[tuple[dt.date | None, dt.date | None]] | None = None,
           batch_id: int | None = None) -> list[Seating]:
    """Give each learner (found or created) an available code of ``pool``, all or none.

    In a batch (``batch_id``) each row gets one ``seat.assign`` event that also records whether
    the account was new (``new_account``) instead of a separate ``learner.create`` event; outside
    a batch new accounts get their ``learner.create`` event as well."""
    require(actor, "seats.assign", customer_id(pool))
    keys = emailcheck.identity_keys([s.email for s in specs])  # derived here: a caller's key is never trusted
    refuse_repeats(keys)
    dates = dates or [(None, None)] * len(specs)
    access.check_grants(pool.session, dates)
    with database.atomic():
        expiry.expire_due(pool.id)  # the seats a listing showed as available are available
        found = learners.ensure_rows(actor.name, specs, keys=keys, batch_id=batch_id, audit_creates=batch_id is None)
        known = [l for l, created in found if not created]  # a new account holds no seat yet
        refuse_seated(pool, known)
        pools.refuse_seat_elsewhere(pool, [l.id for l in known])
        _refuse_invited(pool, keys)
        taken = seats.pick_available(pool.id, len(found), "claimed")
        seatings = [Seating(l, c, s, e, created, text) for (l, created), (c, text), (s, e) in zip(found, taken, dates)]
        del found
        with _staged(pool, seatings) as table:
            seats.move_staged("available", "claimed", table, len(seatings))
            _complete_staged(actor.name, pool, table, action="seat.assign", batch_id=batch_id)
    return seatings


def complete(actor_name: str, pool: Pool, seatings: Sequence[Seating], *, action: str, batch_id: int | None = None) -> None:
    """After codes were claimed: grant access, queue confirmations, write one audit event per
    seat (on the access granted)."""
    with _staged(pool, seatings) as table:
        _complete_staged(actor_name, pool, table, action=action, batch_id=batch_id)


@contextmanager
def _staged(pool: Pool, seatings: Sequence[Seating], *, resend: int | None = None) -> Iterator[str]:
    """The seatings as a staged table (see bulk.staged) holding all that the writes that follow
    need, so they run in the database without joins, whether there is one seat or a hundred
    thousand: access ids reserved and dates resolved (a ``resend`` names the one seat's existing
    access: its dates are final and no end means open-ended), code texts, and the set-password
    sentence of those who need one."""
    dates = [(s.starts, s.ends) for s in seatings]
    access_ids = [resend] if resend else bulk.new_ids(Access, len(seatings))
    if not resend:
        dates = access.resolve_dates(pool.session, dates)
    texts = _code_texts([s.code_id for s in seatings if s.code is None])
    lines = _set_password_lines([s.learner for s in seatings if learners.needs_password_link(s.learner)])
    iso = _iso_cache()
    rows = ((s.code_id, n, aid, s.code or texts[s.code_id], s.learner.id, s.learner.email, s.learner.first_name,
             s.learner.last_name, iso(starts), iso(ends), bool(s.new_account), lines.get(s.learner.id, ""))
            for n, (s, aid, (starts, ends)) in enumerate(zip(seatings, access_ids, dates)))
    with bulk.staged("seating", SEATING, rows) as table:
        yield table


def _complete_staged(actor_name: str, pool: Pool, table: str, *, action: str, batch_id: int | None) -> None:
    access.grant_staged(pool.session, table)
    events.record_selected("access.granted", f"SELECT access_id AS id FROM {table}")
    _queue_confirmations(pool, table)
    audit.record_selected(
        actor_name, action, "access", record_id="s.access_id", ordinal="s.ord", batch_id=batch_id, source=f"{table} AS s",
        after={"code": "s.code", "email": "s.email", "ends": "s.ends", "learner_id": "s.learner_id",
               "new_account": bulk.sql_json_bool("s.new_account"), "pool": str(int(pool.id)), "starts": "s.starts"})


# a staged seat: its code (the key) and the code's text, its ordinal, the access to grant, the
# learner, the access dates as ISO text, whether the account is new, and the set-password
# sentence of its confirmation ("" when none is needed)
SEATING = {"code_id": "INTEGER PRIMARY KEY", "ord": "INTEGER", "access_id": "INTEGER", "code": "TEXT",
           "learner_id": "INTEGER", "email": "TEXT", "first_name": "TEXT", "last_name": "TEXT",
           "starts": "TEXT", "ends": "TEXT", "new_account": "BOOLEAN", "set_password": "TEXT"}


def _code_texts(code_ids: Sequence[int]) -> dict[int, str]:
    return dict(bulk.select_in('SELECT "id", "code" FROM "code" WHERE "id" IN ({in})', code_ids)) if code_ids else {}


def _queue_confirmations(pool: Pool, table: str) -> None:
    """The confirmation email of each staged seat, rendered by the database."""
    session = pool.session
    outbox.queue_selected(
        templates.CONFIRMATION, to="s.email", source=f"{table} AS s", ordinal="s.ord",
        columns={"first_name": "s.first_name", "last_name": "s.last_name", "email": "s.email", "code": "s.code",
                 "access_start": "s.starts", "access_end": "COALESCE(s.ends, 'open-ended')",
                 "set_password": "s.set_password"},
        constants={"product": session.product.name, "session": session.name, "signin": config.signin_url()},
        # the set-password link is made at send time from the learner's nonce (outbox.LINK)
        link=outbox.Link(f"CASE WHEN s.set_password <> '' THEN '{outbox.PASSWORD_LINK}' END",
                         "CASE WHEN s.set_password <> '' THEN s.learner_id END",
                         "CASE WHEN s.access_id IS NOT NULL THEN 'access:' || CAST(s.access_id AS TEXT) END"))


SET_PASSWORD_LINE = f"Set your password here (the link works once): {outbox.LINK}"
CONFIRM_ADDRESS_LINE = f"Confirm your email address by choosing your password here (the link works once): {outbox.LINK}"


def _set_password_lines(needing: Sequence[Learner | LearnerRow]) -> dict[int, str]:
    """learner id -> the confirmation's sentence with the place of their set-password link (each
    learner's one live link is renewed, or made, now); an unverified account's sentence asks to
    confirm the address with it."""
    nonces = learners.live_password_nonces(needing) if needing else {}
    unverified = {l.id for l in needing if getattr(l, "unverified", False)}
    return {lid: CONFIRM_ADDRESS_LINE if lid in unverified else SET_PASSWORD_LINE for lid in nonces}


def _iso_cache():
    """date -> ISO text, each distinct date formatted once (a batch has few distinct dates)."""
    seen: dict = {None: None}

    def iso(value):
        try:
            return seen[value]
        except KeyError:
            seen[value] = text = value.isoformat()
            return text
    return iso


def refuse_repeats(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise Refused(f"{key} is listed twice; a learner holds at most one seat in a pool.", code="duplicate")
        seen.add(key)


def _refuse_invited(pool: Pool, keys: Sequence[str]) -> None:
    """Someone with a pending invitation gets that invitation's code (``reassign``), not a second one.

    The pool's pending invitations are read once (never more than a few per seat) rather than
    each of the keys looked up: a roster brings 100,000 keys to a pool with few invitations."""
    pending = dict(database.execute_sql(
        'SELECT i."email_key", i."email" FROM "invitation" AS i JOIN "code" AS c ON i."code_id" = c."id" '
        f'WHERE c."pool_id" = {int(pool.id)} AND c."state" = \'invited\' AND i."status" = \'pending\'').fetchall())
    invited = next((key for key in keys if key in pending), None) if pending else None
    if invited is not None:
        raise Refused(f"{pending[invited]} has a pending invitation in this pool: give them that code with reassign "
                      "instead.", code="already-invited")


def refuse_seated(pool: Pool, found: Sequence[Learner | LearnerRow]) -> None:
    sql = f'SELECT "learner_id" FROM "code" WHERE "pool_id" = {int(pool.id)} AND "learner_id" IN ({{in}}) LIMIT 1'
    taken = bulk.select_in(sql, [l.id for l in found])
    if taken:
        learner = Learner.get_by_id(taken[0][0])
        raise Refused(f"{learner.email} already has a seat in this pool.", code="already-seated")


def find(pool: Pool, email: str) -> Code:
    _, key = learners.normalise_email(email)
    code = (Code.select().join(Learner, on=(Code.learner == Learner.id))
            .where((Code.pool == pool.id) & (Code.state == "claimed") & (Learner.email_key == key)).first())
    if code is None:
        raise NotFound(f"{email} has no seat in pool {pool.id}.")
    return code


def revoke(actor: Actor, pool: Pool, emails: Sequence[str], batch_id: int | None = None) -> int:
    """"Remove": each learner's access is revoked and their seat becomes available again."""
    require(actor, "seats.revoke", customer_id(pool))
    with database.atomic():
        codes = list({c.id: c for c in (find(pool, e) for e in emails)}.values())  # one person named twice
        revoke_codes(actor.name, pool, codes, batch_id=batch_id)
    return len(codes)


def revoke_codes(actor_name: str, pool: Pool, codes: Sequence[Code], batch_id: int | None = None) -> None:
    """Revoke the seats of these claimed codes of ``pool``. Only the ids are taken from the caller:
    each must be a claimed code of this pool (else Refused, nothing changed); its holder is read here."""
    ids = [c.id for c in codes]
    holders = claimed_holders(pool, ids)
    codes = [Code(id=i, learner=holders[i]) for i in ids]
    grants = bulk.select_in('SELECT "id" FROM "access" WHERE "status" = \'active\' AND "code_id" IN ({in})', ids)
    access.revoke_for_codes(ids)
    seats.release_many(pool.id, ids, "claimed")
    _withdraw_confirmations(pool, [g for (g,) in grants])
    audit.record_many(actor_name, "seat.revoke", ((c, {"state": "claimed", "learner_id": holders[c.id]}, {"state": "available"}) for c in codes), batch_id=batch_id)


def claimed_holders(pool: Pool, code_ids: Sequence[int]) -> dict[int, int]:
    """code id -> learner id for claimed codes of ``pool``; Refused if any id is not one."""
    holders: dict[int, int] = {}
    for start in range(0, len(code_ids), 500):
        chunk = list(code_ids[start:start + 500])
        holders.update(Code.select(Code.id, Code.learner).where(
            Code.id.in_(chunk) & (Code.pool == pool.id) & (Code.state == "claimed")).tuples())
    if len(holders) != len(set(code_ids)) or not all(isinstance(i, int) for i in code_ids):
        raise Refused("A seat to take back is not a claimed seat of this pool; nothing was changed.", code="not-in-pool")
    return holders


def _withdraw_confirmations(pool: Pool, access_ids: Sequence[int]) -> None:
    """Revoked access: unsent confirmations are withdrawn; whoever got one already is told their
    access was removed (in the revoke's transaction)."""
    outbox.withdraw("access", access_ids, templates.ACCESS_REMOVED, lambda told: _removed_notices(pool, told))


def _removed_notices(pool: Pool, access_ids: set[int]):
    session = pool.session
    values = {"customer": pool.order.customer.name, "product": session.product.name, "session": session.name}
    rows = (Access.select(Access.revoked_at, Code.code, Learner.email, Learner.first_name, Learner.last_name)
            .join(Code, on=(Access.code == Code.id)).switch(Access).join(Learner)
            .where(Access.id.in_(sorted(access_ids))).order_by(Access.id).tuples())
    for ended, code, email, first, last in rows:
        yield email, {**values, "email": email, "first_name": first, "last_name": last, "code": code,
                      "ended": ended.date().isoformat()}


def resend(actor: Actor, pool: Pool, email: str) -> None:
    """Send the confirmation email again (with a fresh set-password link if still needed)."""
    require(actor, "seats.assign", customer_id(pool))
    with database.atomic():
        code = find(pool, email)
        learner = Learner.get_by_id(code.learner_id)
        grant = access.active_for_code(code.id)
        if grant is None:
            raise Refused(f"{email} has no active access from this seat.", code="no-access")
        seating = Seating(learner, code.id, grant.starts, grant.ends, code=code.code)
        with _staged(pool, [seating], resend=grant.id) as table:
            _queue_confirmations(pool, table)
        audit.record(actor, "seat.resend", code, after={"email": learner.email})


@dataclass(frozen=True)
class CustomerUser:
    """A row of the admin's "Registration code users" list of a customer."""

    pool_id: int
    session: str
    registration: Registration

    def as_dict(self) -> dict:
        return {"pool": self.pool_id, "session": self.session, "access_id": self.registration.access_id,
                **self.registration.as_dict()}


def of_customer(actor: Actor, customer_id_: int, search: str = "", limit: int | None = None, offset: int = 0) -> list[CustomerUser]:
    """Every learner holding a seat in any of the customer's pools."""
    require(actor, "seats.view", customer_id_)
    q = (
        Code.select(Pool.id, Session.code, Code.id, Code.code, Learner.id, Learner.email, Learner.first_name,
                    Learner.last_name, Access.id, Access.starts, Access.ends, access.status_sql())
        .join(Learner, on=(Code.learner == Learner.id))
        .switch(Code).join(Pool).join(Order).switch(Pool).join(Session)
        .join(Access, JOIN.LEFT_OUTER, on=((Access.code == Code.id) & (Access.status == "active")))
        .where((Order.customer == customer_id_) & (Code.state == "claimed"))
        .order_by(Learner.email_key, Pool.id)
    )
    if search:
        like = f"%{search.lower()}%"
        q = q.where(Learner.email_key ** like | Learner.first_name ** like | Learner.last_name ** like)
    if limit:
        q = q.limit(limit).offset(offset)
    return [CustomerUser(r[0], r[1], Registration(*r[2:])) for r in q.tuples()]


def access_of(actor: Actor, pool: Pool, email: str) -> int:
    """The id of the access ``email``'s seat in ``pool`` gives (for editing its dates by learner
    and pool instead of by access id), or NotFound / Refused with a sentence."""
    require(actor, "seats.view", customer_id(pool))
    code = find(pool, email)
    grant = access.active_for_code(code.id)
    if grant is None:
        raise Refused(f"{email} has no active access from their seat in pool {pool.id}.", code="no-access")
    return grant.id


# --- pages (keyset pagination: see regtui.core.paging) --------------------------------------

def _seat_query(columns, with_access: bool = True, by_learner: bool = False):
    """Claimed codes with their holder and active access (the columns are chosen by the caller,
    then the access's status, derived from its dates today; counting and ticking need no access).

    ``by_learner``: the learners are the outer loop (FROM learner CROSS JOIN code, the join's
    condition in WHERE), so a page sorted by a learner column walks that column's index and
    stops after a page, instead of joining and sorting every seat of a big pool first. SQLite
    keeps a CROSS JOIN's order as written; PostgreSQL plans it as the inner join it is."""
    if by_learner:
        q = (Learner.select(*columns, *([access.status_sql()] if with_access else []))
             .join(Code, JOIN.CROSS).where(Code.learner == Learner.id))
    else:
        q = Code.select(*columns, *([access.status_sql()] if with_access else [])).join(
            Learner, on=(Code.learner == Learner.id))
    return _with_access(q) if with_access else q


def _with_access(q):
    return q.switch(Code).join(Access, JOIN.LEFT_OUTER, on=((Access.code == Code.id) & (Access.status == "active")))


# From this many claimed seats a page sorted by email or name walks the learners in that order
# (see _seat_query): about PAGE * learners / seats index steps a page, against sorting every seat.
DENSE = 2000
LEARNER_SORTS = ("email", "first", "last")


def _by_learner(seats: int, sort: str) -> bool:
    return sort in LEARNER_SORTS and seats >= DENSE


REGISTRATION_COLUMNS = (Code.id, Code.code, Learner.id, Learner.email, Learner.first_name, Learner.last_name,
                        Access.id, Access.starts, Access.ends)
# sort name -> SQL expression; a missing access date sorts as the earliest start / an open end as the latest
SORTS = {"email": Learner.email_key, "first": Learner.first_name, "last": Learner.last_name, "code": Code.code,
         "starts": fn.COALESCE(Access.starts, "0001-01-01"), "ends": fn.COALESCE(Access.ends, "9999-12-31")}


def _pool_seats(pool: Pool, search: str, columns=REGISTRATION_COLUMNS, by_learner: bool = False):
    q = _seat_query(columns, with_access=columns is REGISTRATION_COLUMNS, by_learner=by_learner).where(
        (Code.pool == pool.id) & (Code.state == "claimed"))
    if search.strip():
        q = q.where(paging.contains([Learner.email_key, Learner.first_name, Learner.last_name, Code.code], search))
    return q


def page(actor: Actor, pool: Pool, *, search: str = "", sort: str = "email", descending: bool = False,
         limit: int = 100, after: str | None = None, before: str | None = None, last: bool = False) -> paging.Page[Registration]:
    """One page of the pool's completed registrations, filtered (email, names, code) and sorted by
    the database; the total is the pool's ``claimed`` counter when nothing filters."""
    require(actor, "seats.view", customer_id(pool))
    q = _pool_seats(pool, search, by_learner=_by_learner(int(pool.claimed), sort))
    total = (lambda: _pool_seats(pool, search, columns=(Code.id,)).count()) if search.strip() else int(pool.claimed)
    return paging.fetch(q, sort_expr=paging.sort_expression(SORTS, sort), key=Code.id, descending=descending,
                        limit=limit, after=after, before=before, last=last, total=total, make=lambda r: Registration(*r))


def ticked_codes(pool: Pool, ticked: paging.Ticked) -> list[int]:
    """The code ids a Ticked of the pool's completed list stands for (one query)."""
    return paging.resolve(ticked, Code.id, lambda search: _pool_seats(pool, search, columns=(Code.id,)))


def revoke_ticked(actor: Actor, pool: Pool, ticked: paging.Ticked) -> int:
    """"Remove" every ticked registration of the pool (across pages) in one transaction."""
    require(actor, "seats.revoke", customer_id(pool))
    with database.atomic():
        ids = ticked_codes(pool, ticked)
        codes = []
        for chunk in paging.in_chunks(ids):
            codes.extend(Code.select(Code.id, Code.learner, Code.pool).where(
                Code.id.in_(chunk) & (Code.pool == pool.id) & (Code.state == "claimed")))
        if codes:
            revoke_codes(actor.name, pool, codes)
    return len(codes)


CUSTOMER_SORTS = {**SORTS, "session": Session.code}


def _customer_pools(customer_id_: int) -> list[int]:
    return [p for (p,) in Pool.select(Pool.id).join(Order).where(Order.customer == customer_id_).tuples()]


def _customer_seats(customer_id_: int, search: str, columns, with_access: bool = True, by_learner: bool = False,
                    pool_ids: list[int] | None = None):
    """The customer's claimed seats. Its pools are looked up first and given as values, so each
    database estimates the seats from its statistics of those pools (through a join PostgreSQL
    guessed 20 seats for a pool of 100,000 and sorted them all); a walk by learner (see
    _seat_query) joins nothing else."""
    pool_ids = _customer_pools(customer_id_) if pool_ids is None else pool_ids
    q = _seat_query(tuple(columns) + ((access.status_sql(),) if with_access else ()), False, by_learner)
    if not by_learner:
        q = q.switch(Code).join(Pool).join(Session)
    if with_access:  # last: looked up for the page's seats only
        q = _with_access(q)
    q = q.where(Code.pool.in_(pool_ids) & (Code.state == "claimed"))
    if search.strip():
        q = q.where(paging.contains([Learner.email_key, Learner.first_name, Learner.last_name, Code.code], search))
    return q


def customer_page(actor: Actor, customer_id_: int, *, search: str = "", sort: str = "email", descending: bool = False,
                  limit: int = 100, after: str | None = None, before: str | None = None,
                  last: bool = False) -> paging.Page[CustomerUser]:
    """One page of the customer's registration code users (every pool), filtered and sorted by
    the database; the total unfiltered is the sum of the pools' ``claimed`` counters."""
    require(actor, "seats.view", customer_id_)
    pool_ids = _customer_pools(customer_id_)
    claimed = int(Pool.select(fn.COALESCE(fn.SUM(Pool.claimed), 0)).where(Pool.id.in_(pool_ids)).scalar())  # counters
    q = _customer_seats(customer_id_, search, (Code.id,), with_access=sort in ("starts", "ends"),
                        by_learner=_by_learner(claimed, sort), pool_ids=pool_ids)

    def detail(keys: list[int]) -> dict[int, tuple]:
        rows = _customer_seats(customer_id_, "", (Code.id, Pool.id, Session.code) + REGISTRATION_COLUMNS,
                               pool_ids=pool_ids).where(Code.id.in_(keys)).tuples()
        return {r[0]: r[1:] for r in rows}

    if search.strip():
        total = lambda: _customer_seats(customer_id_, search, (Code.id,), with_access=False,  # noqa: E731
                                        pool_ids=pool_ids).count()
    else:
        total = claimed
    return paging.fetch(q, sort_expr=paging.sort_expression(CUSTOMER_SORTS, sort), key=Code.id, descending=descending,
                        limit=limit, after=after, before=before, last=last, total=total, detail=detail,
                        make=lambda r: CustomerUser(r[0], r[1], Registration(*r[2:])))


def assign_known(actor: Actor, pool: Pool, ticked: paging.Ticked, specs: Sequence[LearnerSpec] = ()) -> list[Seating]:
    """``assign`` to the typed ``specs`` and to every ticked learner of the customer (across
    pages, resolved in one query), all or none."""
    from regtui.core.services import customers

    emails = customers.ticked_known(actor, customer_id(pool), pool.id, ticked) if ticked else []
    return assign(actor, pool, list(specs) + [LearnerSpec(e) for e in emails])

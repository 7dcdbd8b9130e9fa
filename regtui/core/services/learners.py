"""Learners: the portal accounts, identified by a case-insensitive key of the normalised address."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Iterable, NamedTuple, Sequence

from email_validator import EmailNotValidError, validate_email
from peewee import fn

from regtui import config
from regtui.core import bulk
from regtui.core.emailcheck import reason as email_reason
from regtui.core import namerules
from regtui.core.records import from_columns
from regtui.core.emailrules import VALIDATOR_OPTIONS, identity_key
from regtui.core.errors import NotFound, Refused
from regtui.core.models import Learner, database, utcnow
from regtui.core.services import audit, events, passwords, tokens

LINK_LIFETIME = dt.timedelta(days=14)
CHUNK = 10_000  # keys per IN (...) query in the bulk paths (SQLite allows 32766 bound variables)
PASSWORD_PURPOSE = "set-password"


class LearnerSpec(NamedTuple):
    """A learner to create or find: the address as typed, names, optional password (never shown
    by ``repr``). A named tuple: a batch makes 100,000 of them (``records.from_columns``)."""

    email: str
    first_name: str = ""
    last_name: str = ""
    password: str | None = None

    def __repr__(self) -> str:
        return f"LearnerSpec(email={self.email!r}, first_name={self.first_name!r}, last_name={self.last_name!r})"


def normalise_email(raw: str) -> tuple[str, str]:
    """(address as given, trimmed; identity key). Raises Refused for an invalid address."""
    given = (raw or "").strip()
    try:
        valid = validate_email(given, **VALIDATOR_OPTIONS)
    except EmailNotValidError as exc:
        raise Refused(f"{given!r} is not a valid email address: {email_reason(given, exc)}.", code="invalid-email") from None
    return given, email_key(valid.normalized)


def email_key(normalised: str) -> str:
    return identity_key(normalised)


def find(email: str) -> Learner | None:
    _, key = normalise_email(email)
    return Learner.get_or_none(Learner.email_key == key)


def get(email: str) -> Learner:
    """The learner with this address, or NotFound with a sentence."""
    learner = find(email)
    if learner is None:
        raise NotFound(f"There is no learner account for {email.strip()}.")
    return learner


def describe(learner: Learner) -> dict:
    return {"email": learner.email, "first_name": learner.first_name, "last_name": learner.last_name}


class LearnerRow(NamedTuple):
    """A learner as the bulk paths carry it: the columns they need, no model object.
    ``new_link_nonce``: the set-password link's nonce when the row was just created with one."""

    id: int
    email: str
    first_name: str
    last_name: str
    must_set_password: bool
    new_link_nonce: str | None = None
    unverified: bool = False


_ROW_SQL = ('SELECT "email_key", "id", "email", "first_name", "last_name", "must_set_password", "unverified" '
            'FROM "learner" WHERE "email_key" IN ({in})')


def rows_by_keys(keys: Iterable[str]) -> dict[str, LearnerRow]:
    """Existing learners for these identity keys, as light rows (raw SQL, chunked)."""
    return {r[0]: LearnerRow(r[1], r[2], r[3], r[4], bool(r[5]), None, bool(r[6]))
            for r in bulk.select_in(_ROW_SQL, dict.fromkeys(keys))}


def ensure(actor_name: str, specs: Sequence[LearnerSpec], keys: Sequence[str] | None = None, batch_id: int | None = None) -> list[tuple[Learner, bool]]:
    """Find or create a learner for each spec, in order: (learner model, created); one
    ``learner.create`` audit event per new account. Call inside a transaction."""
    found = ensure_rows(actor_name, specs, keys=keys, batch_id=batch_id)
    models: dict[int, Learner] = {}
    ids = list({row.id for row, _ in found})
    for start in range(0, len(ids), CHUNK):
        models.update((m.id, m) for m in Learner.select().where(Learner.id.in_(ids[start:start + CHUNK])))
    return [(models[row.id], created) for row, created in found]


def ensure_rows(actor_name: str, specs: Sequence[LearnerSpec], keys: Sequence[str] | None = None,
                batch_id: int | None = None, *, audit_creates: bool = True) -> list[tuple[LearnerRow, bool]]:
    """Find or create a learner for each spec, in order: (LearnerRow, created).

    New learners are inserted in bulk with ids reserved first (nothing is read back); a password
    is hashed only when one was given, otherwise the account has no usable password and must be
    set through a link. With ``audit_creates`` each new account gets a ``learner.create`` event;
    a caller that records the creation in its own event per row (the batch ``seat.assign``, with
    ``new_account``) passes False. Call inside a transaction.
    """
    if keys is None:
        normalised = [normalise_email(s.email) for s in specs]
        keys = [key for _, key in normalised]
    _check_all_names(specs)
    with database.atomic():  # ids are reserved under the write lock: a savepoint if the caller has a transaction
        return _ensure_rows(actor_name, specs, keys, batch_id, audit_creates)


def _ensure_rows(actor_name: str, specs: Sequence[LearnerSpec], keys: Sequence[str], batch_id: int | None,
                 audit_creates: bool) -> list[tuple[LearnerRow, bool]]:
    existing = rows_by_keys(keys)
    new_rows: dict[str, LearnerRow] = {}
    todo: dict[str, LearnerSpec] = {}
    for spec, key in zip(specs, keys):
        if key not in existing and key not in todo:  # the first spec of a key wins
            todo[key] = spec
    if todo:
        new_rows, values = _new_rows(todo, bulk.new_ids(Learner, len(todo)))
        # another transaction may have just created the same learner (e.g. two claim pages at
        # once): keep theirs rather than fail on the unique key, and read those back
        inserted = bulk.insert_tuples(Learner, ["id", "email", "email_key", "first_name", "last_name", "password_hash",
                                                "must_set_password", "created_at", "password_link_nonce",
                                                "password_link_expires_at"], values, conflict="email_key")
        del values
        if inserted != len(new_rows):
            theirs = rows_by_keys(new_rows)
            for key, row in list(new_rows.items()):
                if theirs.get(key, row).id != row.id:
                    existing[key] = theirs[key]
                    del new_rows[key]
        if new_rows:
            events.record_learners("learner.created", (row.id for row in new_rows.values()))
        if audit_creates and new_rows:
            audit.record_rows(actor_name, "learner.create", "learner",
                              ((row.id, None, describe(row)) for row in new_rows.values()), batch_id=batch_id)
    return [(existing[key], False) if key in existing else (new_rows[key], True) for key in keys]


def _new_rows(todo: dict[str, LearnerSpec], ids: Sequence[int]) -> tuple[dict[str, LearnerRow], list[tuple]]:
    """The new accounts of ``todo`` (key -> spec) with these reserved ids: (key -> LearnerRow, the
    rows to insert), made column by column (a batch makes 100,000). An account without a password
    is born with its set-password link; a given password is hashed."""
    created = utcnow()
    now, link_expires = bulk.db_datetime(created), bulk.db_datetime(created + LINK_LIFETIME)
    specs = list(todo.values())
    emails, firsts, lasts = ([getattr(s, f).strip() for s in specs] for f in ("email", "first_name", "last_name"))
    given = [s.password for s in specs]
    if any(given):
        hashes = [passwords.hash_password(p) if p else None for p in given]
        nonces = [None if p else nonce for p, nonce in zip(given, tokens.new_nonces(len(specs)))]
    else:
        hashes, nonces = repeat(None), tokens.new_nonces(len(specs))
    must_set = [not p for p in given]
    new_rows = dict(zip(todo, from_columns(LearnerRow, ids, emails, firsts, lasts, must_set, nonces, repeat(False))))
    values = list(zip(ids, emails, todo, firsts, lasts, hashes, must_set, repeat(now), nonces,
                      (nonce and link_expires for nonce in nonces)))
    return new_rows, values


# control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates that make a name read differently from what it is
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check_names(spec: LearnerSpec) -> None:
    """A name has at most namerules.MAX_NAME characters (code ``name-too-long``)."""
    for label, value in (("first name", spec.first_name), ("last name", spec.last_name)):
        if namerules.too_long(value):
            raise Refused(f"A {label} can have at most {namerules.MAX_NAME} characters.", code="name-too-long")


def _check_all_names(specs: Sequence[LearnerSpec]) -> None:
    """``check_names`` for every spec, a column at a time: only a column with a name too long is
    looked at spec by spec (for the sentence)."""
    for field in ("first_name", "last_name"):
        if max(map(len, map(str.strip, map(attrgetter(field), specs))), default=0) > namerules.MAX_NAME:
            for spec in specs:
                check_names(spec)


def check_typed_names(spec: LearnerSpec) -> None:
    """Names typed by anyone on a public page (the claim page): also no control characters (code
    ``bad-name``). Names that operators give (CLI, rosters) are kept as given and shown escaped."""
    check_names(spec)
    for label, value in (("first name", spec.first_name), ("last name", spec.last_name)):
        if _NOT_IN_NAMES.search(value):
            raise Refused(f"A {label} cannot contain control characters (such as tabs, line breaks or escape codes).",
                          code="bad-name")


def needs_password_link(learner: Learner | LearnerRow) -> bool:
    """Whether every email to this learner carries their set-password link: they have no
    password yet, or their account was made on a claim page and is not verified."""
    return bool(learner.must_set_password or getattr(learner, "unverified", False))


def mark_unverified(learner_id: int) -> None:
    """An account just made through a claim link: its password was chosen by whoever held the
    link. Call inside the transaction that made it."""
    Learner.update(unverified=True).where(Learner.id == learner_id).execute()


def password_link(learner: Learner) -> tuple[str, dt.datetime]:
    """The learner's set-password link and until when it works (call inside a transaction)."""
    nonce = live_password_nonces([learner])[learner.id]
    return f"{config.site_url()}/set-password/{tokens.make(PASSWORD_PURPOSE, learner.id, nonce)}", utcnow() + LINK_LIFETIME


def live_password_nonces(learners: Sequence) -> dict[int, str]:
    """learner id -> the nonce of their one live set-password link, renewed for ``LINK_LIFETIME``
    or made now (emails get the link itself at send time: outbox.LINK)."""
    now = utcnow()
    expires = now + LINK_LIFETIME
    nonces = {l.id: l.new_link_nonce for l in learners if getattr(l, "new_link_nonce", None)}
    others = [l.id for l in learners if l.id not in nonces]
    if others:
        nonces.update(_renew_links(others, now, expires))
    return nonces


def _renew_links(learner_ids: Sequence[int], now: dt.datetime, expires: dt.datetime) -> dict[int, str]:
    """learner id -> nonce of a live link, renewed until ``expires``; a new one where none is live."""
    mark = bulk.param()
    current = bulk.select_in('SELECT "id", "password_link_nonce", "password_link_expires_at", "password_link_used_at" '
                             'FROM "learner" WHERE "id" IN ({in})', learner_ids)
    until = bulk.db_datetime(expires)
    nonces = {lid: nonce for lid, nonce, ends, used in current if nonce and used is None and _as_datetime(ends) > now}
    fresh = [(tokens.new_nonce(), until, lid) for lid in dict.fromkeys(learner_ids) if lid not in nonces]
    cursor = database.cursor()
    cursor.executemany(f'UPDATE "learner" SET "password_link_expires_at" = {mark} WHERE "id" = {mark}',
                       [(until, lid) for lid in nonces])
    cursor.executemany(f'UPDATE "learner" SET "password_link_nonce" = {mark}, "password_link_expires_at" = {mark}, '
                       f'"password_link_used_at" = NULL WHERE "id" = {mark}', fresh)
    nonces.update((lid, nonce) for nonce, _, lid in fresh)
    return nonces


def _as_datetime(value) -> dt.datetime:
    """A DATETIME as the driver returns it: a datetime (psycopg) or its ISO text (sqlite3)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def check_password_token(token: str) -> Learner:
    """The learner whose set-password link this is, if it may still be used; Refused with a clear sentence otherwise."""
    lid = tokens.parse_id(token)
    learner = Learner.get_or_none(Learner.id == lid) if lid is not None else None
    nonce = learner.password_link_nonce if learner else None
    if nonce is None or not tokens.matches(token, PASSWORD_PURPOSE, learner.id, nonce):
        raise Refused("This link is not valid. Check that you copied the whole link from the latest email.", code="bad-link")
    if learner.password_link_used_at is not None:
        raise Refused("This link has already been used. Ask for a new one if you still need to set your password.", code="used-link")
    if learner.password_link_expires_at < utcnow():
        raise Refused("This link has expired. Ask for a new one.", code="expired-link")
    return learner


def set_password(token: str, password: str) -> Learner:
    """Use a set-password link: single use, enforced by a conditional UPDATE."""
    with database.atomic():
        learner = check_password_token(token)
        password_hash = passwords.hash_password(password)
        used = (
            Learner.update(password_link_used_at=utcnow())
            .where((Learner.id == learner.id) & (Learner.password_link_nonce == learner.password_link_nonce)
                   & Learner.password_link_used_at.is_null())
            .execute()
        )
        if not used:
            raise Refused("This link has already been used.", code="used-link")
        store_password(learner, password_hash)
        audit.record(f"learner:{learner.email}", "learner.set-password", learner)
    return Learner.get_by_id(learner.id)


def store_password(learner: Learner, password_hash: str) -> None:
    """Set the password chosen through the learner's emailed set-password link: the account is
    verified, and the link is void, so no email sent earlier can reset it later. Call inside a
    transaction."""
    events.record("learner.updated", None, {"learner_id": learner.id, "change": "password-set"})
    Learner.update(password_hash=password_hash, must_set_password=False, unverified=False,
                   password_link_used_at=fn.COALESCE(Learner.password_link_used_at, utcnow())).where(
        Learner.id == learner.id).execute()


@dataclass(frozen=True)
class PasswordPage:
    """What the set-password page shows: whose account, and whether choosing the password also
    confirms an account made on a claim page."""

    email: str
    first_name: str
    last_name: str
    confirming: bool


def _page(learner: Learner) -> PasswordPage:
    return PasswordPage(learner.email, learner.first_name, learner.last_name, bool(learner.unverified))


def password_page(token: str) -> PasswordPage:
    """The set-password page of a link, or Refused with a sentence for the learner."""
    return _page(check_password_token(token))


def choose_password(token: str, password: str, confirm: str) -> PasswordPage:
    """The set-password form: the password typed twice, checked, then the link used (once)."""
    page = _page(check_password_token(token))
    passwords.check_choice(password, confirm, avoid=[page.email, page.email.partition("@")[0]])
    set_password(token, password)
    return page


def search(text: str = "", limit: int = 100, offset: int = 0) -> list[Learner]:
    q = Learner.select().order_by(Learner.email_key)
    if text:
        like = f"%{text.lower()}%"
        q = q.where(Learner.email_key ** like | Learner.first_name ** like | Learner.last_name ** like)
    return list(q.limit(limit).offset(offset))

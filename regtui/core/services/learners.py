"""Learners: the portal accounts, identified by a case-insensitive key of the normalised address."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from email_validator import EmailNotValidError, validate_email

from regtui import config
from regtui.core import bulk
from regtui.core.errors import Refused
from regtui.core.models import Learner, PasswordToken, database, utcnow
from regtui.core.services import audit, passwords, tokens

LINK_LIFETIME = dt.timedelta(days=14)
CHUNK = 10_000  # keys per IN (...) query in the bulk paths (SQLite allows 32766 bound variables)
PASSWORD_PURPOSE = "set-password"


@dataclass(frozen=True)
class LearnerSpec:
    """A learner to create or find: the address as typed, names, optional password."""

    email: str
    first_name: str = ""
    last_name: str = ""
    password: str | None = None


def normalise_email(raw: str) -> tuple[str, str]:
    """(address as given, trimmed; identity key). Raises Refused for an invalid address."""
    given = (raw or "").strip()
    try:
        valid = validate_email(given, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Refused(f"{given!r} is not a valid email address: {exc}", code="invalid-email") from None
    return given, email_key(valid.normalized)


def email_key(normalised: str) -> str:
    return normalised.lower()


def find(email: str) -> Learner | None:
    _, key = normalise_email(email)
    return Learner.get_or_none(Learner.email_key == key)


def by_keys(keys: Iterable[str]) -> dict[str, Learner]:
    """Existing learners for these identity keys, in one query per 10,000 keys."""
    keys = list(dict.fromkeys(keys))
    found: dict[str, Learner] = {}
    for start in range(0, len(keys), CHUNK):
        for row in Learner.select().where(Learner.email_key.in_(keys[start:start + CHUNK])):
            found[row.email_key] = row
    return found


def describe(learner: Learner) -> dict:
    return {"email": learner.email, "first_name": learner.first_name, "last_name": learner.last_name}


def ensure(actor_name: str, specs: Sequence[LearnerSpec], keys: Sequence[str] | None = None, batch_id: int | None = None) -> list[tuple[Learner, bool]]:
    """Find or create a learner for each spec, in order: (learner, created).

    New learners are inserted in bulk; a password is hashed only when one was given,
    otherwise the account has no usable password and must be set through a link.
    Call inside a transaction.
    """
    if keys is None:
        normalised = [normalise_email(s.email) for s in specs]
        keys = [key for _, key in normalised]
    for spec in specs:
        check_names(spec)
    existing = by_keys(keys)
    new_rows: dict[str, dict] = {}
    now = utcnow()
    for spec, key in zip(specs, keys):
        if key in existing or key in new_rows:
            continue
        new_rows[key] = {
            "email": spec.email.strip(),
            "email_key": key,
            "first_name": spec.first_name.strip(),
            "last_name": spec.last_name.strip(),
            "password_hash": passwords.hash_password(spec.password) if spec.password else None,
            "must_set_password": not spec.password,
            "created_at": now,
        }
    # another transaction may have just created the same learner (e.g. two claim
    # pages at once): keep theirs rather than fail on the unique key
    bulk.insert_rows(Learner, new_rows.values(), ignore_conflicts=True)
    created = by_keys(new_rows) if new_rows else {}
    if created:
        audit.record_many(actor_name, "learner.create", ((row, None, describe(row)) for row in created.values()), batch_id=batch_id)
    return [(existing.get(key) or created[key], key in created) for key in keys]


MAX_NAME = 100


def check_names(spec: LearnerSpec) -> None:
    for label, value in (("first name", spec.first_name), ("last name", spec.last_name)):
        if len(value.strip()) > MAX_NAME:
            raise Refused(f"A {label} can have at most {MAX_NAME} characters.", code="name-too-long")


def password_link(learner: Learner) -> tuple[str, dt.datetime]:
    """Issue a single-use set-password link (call inside a transaction)."""
    return password_links([learner])[learner.id]


def password_links(learners: Sequence[Learner]) -> dict[int, tuple[str, dt.datetime]]:
    now = utcnow()
    expires = now + LINK_LIFETIME
    rows = [{"learner": l.id, "nonce": tokens.new_nonce(), "created_at": now, "expires_at": expires} for l in learners]
    bulk.insert_rows(PasswordToken, rows)
    links: dict[int, tuple[str, dt.datetime]] = {}
    nonces = [r["nonce"] for r in rows]
    site = config.site_url()
    for start in range(0, len(nonces), CHUNK):
        q = PasswordToken.select(PasswordToken.id, PasswordToken.nonce, PasswordToken.learner).where(
            PasswordToken.nonce.in_(nonces[start:start + CHUNK]))
        for tid, nonce, learner_id in q.tuples():
            links[learner_id] = (f"{site}/set-password/{tokens.make(PASSWORD_PURPOSE, tid, nonce)}", expires)
    return links


def _url(tok: PasswordToken) -> str:
    return f"{config.site_url()}/set-password/{tokens.make(PASSWORD_PURPOSE, tok.id, tok.nonce)}"


def check_password_token(token: str) -> PasswordToken:
    """The token's record if it may still be used; Refused with a clear sentence otherwise."""
    tid = tokens.parse_id(token)
    row = PasswordToken.get_or_none(PasswordToken.id == tid) if tid is not None else None
    if row is None or not tokens.matches(token, PASSWORD_PURPOSE, row.id, row.nonce):
        raise Refused("This link is not valid. Check that you copied the whole link from the email.", code="bad-link")
    if row.used_at is not None:
        raise Refused("This link has already been used. Ask for a new one if you still need to set your password.", code="used-link")
    if row.expires_at < utcnow():
        raise Refused("This link has expired. Ask for a new one.", code="expired-link")
    return row


def set_password(token: str, password: str) -> Learner:
    """Use a set-password link: single use, enforced by a conditional UPDATE."""
    with database.atomic():
        row = check_password_token(token)
        password_hash = passwords.hash_password(password)
        used = (
            PasswordToken.update(used_at=utcnow())
            .where((PasswordToken.id == row.id) & PasswordToken.used_at.is_null())
            .execute()
        )
        if not used:
            raise Refused("This link has already been used.", code="used-link")
        learner = Learner.get_by_id(row.learner_id)
        store_password(learner, password_hash)
        audit.record(f"learner:{learner.email}", "learner.set-password", learner)
    return Learner.get_by_id(learner.id)


def store_password(learner: Learner, password_hash: str) -> None:
    """Set the password and void every other set-password link the learner was sent,
    so an older email cannot reset it later. Call inside a transaction."""
    Learner.update(password_hash=password_hash, must_set_password=False).where(Learner.id == learner.id).execute()
    PasswordToken.update(used_at=utcnow()).where(
        (PasswordToken.learner == learner.id) & PasswordToken.used_at.is_null()).execute()


def search(text: str = "", limit: int = 100, offset: int = 0) -> list[Learner]:
    q = Learner.select().order_by(Learner.email_key)
    if text:
        like = f"%{text.lower()}%"
        q = q.where(Learner.email_key ** like | Learner.first_name ** like | Learner.last_name ** like)
    return list(q.limit(limit).offset(offset))

"""Learner sessions: a learner signs in on the portal (``/signin``) to see their own trainings
(``/me``), and asks for a new password when they forgot theirs (``/forgot``).

The answers never tell whether an address has an account: an unknown address and a wrong password
get the same sentence, after the same Argon2 work (a dummy hash is verified for an unknown
address), and a reset is "if there is an account, a link is on its way" either way. The reset
link is the learner's set-password link (services.learners): single use, 14 days, emailed only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from regtui.core.errors import Refused
from regtui.core.models import Access, Learner, Product, Session, database
from regtui.core.services import access as access_service
from regtui.core.services import audit, learners, outbox, passwords, templates

WRONG = "That email address and password do not match an account. Check both, or ask for a new password."
_DUMMY_HASH = None


@dataclass(frozen=True)
class SignedIn:
    learner_id: int
    email: str
    first_name: str
    credential: str  # changes when the password changes: a session made before then ends


@dataclass(frozen=True)
class Training:
    product: str
    session: str
    starts: dt.date
    ends: dt.date | None
    status: str
    course_url: str | None


def credential_of(password_hash: str | None) -> str:
    """A short digest of the stored hash: sessions carry it, so a new password ends old sessions."""
    import hashlib

    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def sign_in(email: str, password: str) -> SignedIn:
    """The learner whose address and password these are, or Refused (the same for both mistakes)."""
    try:
        _, key = learners.normalise_email(email)
    except Refused:
        key = None
    learner = Learner.get_or_none(Learner.email_key == key) if key else None
    if learner is None or not learner.password_hash:
        passwords.verify(_dummy_hash(), password)  # the same work as for a real account
        raise Refused(WRONG, code="wrong-sign-in")
    if not passwords.verify(learner.password_hash, password):
        raise Refused(WRONG, code="wrong-sign-in")
    if learner.unverified:
        # the password was typed on a claim page by whoever held the link: only the emailed
        # set-password link proves the address (services.learners)
        raise Refused("Confirm your email address first: choose your password with the link in the latest email we "
                      "sent you, or ask for a new one on the forgotten-password page.", code="unverified")
    return SignedIn(learner.id, learner.email, learner.first_name, credential_of(learner.password_hash))


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = passwords.hash_password("regtui dummy password for timing")
    return _DUMMY_HASH


def current(learner_id: int, credential: str) -> SignedIn | None:
    """The signed-in learner as they are now, or None (gone, or the password changed since)."""
    learner = Learner.get_or_none(Learner.id == learner_id)
    if learner is None or credential_of(learner.password_hash) != credential:
        return None
    return SignedIn(learner.id, learner.email, learner.first_name, credential)


def request_reset(email: str) -> None:
    """Email a set-password link if the address has an account; silently nothing otherwise."""
    try:
        _, key = learners.normalise_email(email)
    except Refused:
        return
    with database.atomic():
        learner = Learner.get_or_none(Learner.email_key == key)
        if learner is None:
            return
        link, expires = learners.password_link(learner)
        outbox.queue(learner.email, templates.PASSWORD_RESET, {
            "first_name": learner.first_name, "last_name": learner.last_name, "email": learner.email,
            "link": link, "expires": expires.date().isoformat(),
        })
        audit.record(f"learner:{learner.email}", "learner.reset-requested", learner)


def trainings(learner_id: int) -> list[Training]:
    """The learner's own accesses, newest first, with the status their dates give them today."""
    q = (Access.select(Access, Session, Product).join(Session).join(Product)
         .where(Access.learner == learner_id).order_by(Access.starts.desc(), Access.id.desc()))
    return [Training(a.session.product.name, a.session.name, a.starts, a.ends, access_service.status_of(a),
                     a.session.course_url) for a in q]

"""Staff sessions: how an operator signs in on the roster page (``/staff``).

A password (Argon2id, set by ``regtui operators password NAME``) and, when the operator has one,
a TOTP code (RFC 6238, 30-second steps, by pyotp; ``regtui operators totp NAME``). A TOTP code is
accepted once: the step it belongs to is remembered, so a code seen over a shoulder cannot be
replayed in the same half minute.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pyotp

from regtui.core import clock
from regtui.core.errors import NotFound, Refused
from regtui.core.models import Operator, StaffCredential, database, utcnow
from regtui.core.services import audit, passwords
from regtui.core.services.operators import actor_of
from regtui.core.services.permissions import Actor, require

ISSUER = "regtui"
PASSWORD_MAX = 1024
# A hash to verify against when the name is unknown, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = passwords._hasher.hash("not a password of anyone")


def _operator(name: str) -> Operator:
    row = Operator.get_or_none(Operator.name == name)
    if row is None:
        raise NotFound(f"There is no operator called {name!r}.")
    return row


def _credential(row: Operator) -> StaffCredential:
    cred = StaffCredential.get_or_none(StaffCredential.operator == row.id)
    return cred if cred is not None else StaffCredential(operator=row)


def set_password(actor: Actor, name: str, password: str) -> None:
    """Set ``name``'s roster-page password (admins, or the operator themselves)."""
    if actor.name != name:
        require(actor, "operators.manage")
    if len(password) > PASSWORD_MAX:
        raise Refused(f"A password can have at most {PASSWORD_MAX} characters.", code="too-long")
    hashed = passwords.hash_password(password)
    with database.atomic():
        row = _operator(name)
        cred = _credential(row)
        cred.password_hash, cred.updated_at = hashed, utcnow()
        cred.save()
        audit.record(actor, "operator.password", row, after={"name": name})


def enable_totp(actor: Actor, name: str) -> str:
    """Give ``name`` a new TOTP secret and return its ``otpauth://`` URI (for an authenticator app)."""
    if actor.name != name:
        require(actor, "operators.manage")
    secret = pyotp.random_base32()
    _set_totp(actor, name, secret)
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def disable_totp(actor: Actor, name: str) -> None:
    require(actor, "operators.manage")
    _set_totp(actor, name, None)


def _set_totp(actor: Actor, name: str, secret: str | None) -> None:
    with database.atomic():
        row = _operator(name)
        cred = _credential(row)
        cred.totp_secret, cred.totp_last_step, cred.updated_at = secret, None, utcnow()
        cred.save()
        audit.record(actor, "operator.totp", row, after={"name": name, "totp": secret is not None})


def needs_totp(name: str) -> bool:
    row = Operator.get_or_none(Operator.name == name)
    cred = StaffCredential.get_or_none(StaffCredential.operator == row.id) if row else None
    return bool(cred and cred.totp_secret)


def sign_in(name: str, password: str, totp_code: str | None = None) -> Actor:
    """The operator, if ``password`` (and the TOTP code, when they have one) are right; else
    Refused with one sentence that does not say which part was wrong."""
    wrong = Refused("That name and password do not match an operator's, or the code is wrong.", code="bad-sign-in")
    row = Operator.get_or_none(Operator.name == name[:200])
    cred = StaffCredential.get_or_none(StaffCredential.operator == row.id) if row else None
    if not passwords.verify(cred.password_hash if cred else _DUMMY_HASH, password[:PASSWORD_MAX]) or not cred:
        raise wrong
    if cred.totp_secret:
        _use_totp(cred, totp_code or "", wrong)
    return actor_of(row, via="web")


def _use_totp(cred: StaffCredential, code: str, wrong: Refused) -> None:
    """Accept ``code`` once if it is the current step's (or the one before or after, for clock drift)."""
    totp = pyotp.TOTP(cred.totp_secret)
    now = clock.now().replace(tzinfo=dt.timezone.utc)  # the clock is naive UTC; pyotp reads naive as local
    if not (code.isdigit() and len(code) == 6):
        raise wrong
    step_now = totp.timecode(now)
    for step in (step_now - 1, step_now, step_now + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            with database.atomic():
                taken = (StaffCredential.update(totp_last_step=step)
                         .where(StaffCredential.id == cred.id,
                                (StaffCredential.totp_last_step.is_null()) | (StaffCredential.totp_last_step < step))
                         .execute())
            if taken:
                return
            raise wrong
    raise wrong


def current(name: str) -> Actor | None:
    """The operator behind a signed-in staff session, as they are now (None if removed)."""
    row = Operator.get_or_none(Operator.name == name)
    return actor_of(row, via="web") if row else None


def credential_digest(name: str) -> str:
    """A digest of the operator's current sign-in secrets: a staff session made with other ones
    (before a password or TOTP change) no longer counts."""
    row = Operator.get_or_none(Operator.name == name)
    cred = StaffCredential.get_or_none(StaffCredential.operator == row.id) if row else None
    if cred is None or not cred.password_hash:
        return ""
    return hashlib.sha256(f"{row.id}:{cred.password_hash}:{cred.totp_secret or ''}".encode()).hexdigest()[:32]

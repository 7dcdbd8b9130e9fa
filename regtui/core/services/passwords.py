"""Password hashing with Argon2id (memory-hard). Passwords are never stored, logged or emailed."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from regtui.core.errors import Refused

MIN_LENGTH = 8
_hasher = PasswordHasher()


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Refused(f"A password needs at least {MIN_LENGTH} characters.", code="weak-password")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

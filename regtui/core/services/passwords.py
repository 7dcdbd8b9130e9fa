"""Passwords: the one rule for choosing one (NIST SP 800-63B, 5.1.1.2), and Argon2id hashing.

Passwords are never stored, logged or emailed. Every place a password is chosen (the claim and
set-password pages, `regtui assign --password-stdin/--ask-password`, roster rows) is checked by
``check_strength``, and ``hash_password`` checks again, so no path can store a weaker one:

- compared after Unicode NFKC normalisation (so 'ｐａｓｓｗｏｒｄ' is 'password', and a password
  typed with composed or decomposed accents is the same password), which is also what is hashed;
- at least ``MIN_LENGTH`` characters, at most ``MAX_LENGTH`` (NIST: at least 64 must be allowed);
- no control characters (NUL, tab, line breaks, escape codes), and not only spaces;
- not one of the 20,000 commonest passwords (``regtui/core/data/common-passwords.txt.gz``, from
  Django; its source is in that folder's README), compared case-insensitively.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from regtui.core.errors import Refused

MIN_LENGTH = 8
MAX_LENGTH = 1024
WEAK = "weak-password"

# C0 and C1 control characters, DEL, and the line and paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_hasher = PasswordHasher()


def normalise(password: str) -> str:
    """The password as it is checked and hashed: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


def check_strength(password: str, *, avoid: Iterable[str] = ()) -> None:
    """Refused (code ``weak-password``) with one sentence if ``password`` may not be chosen.
    ``avoid``: words of this account the password must not be (its email address, names)."""
    if len(password) > MAX_LENGTH:  # before normalising: NFKC can make a long text much longer
        raise Refused(f"A password can have at most {MAX_LENGTH} characters.", code=WEAK)
    text = normalise(password)
    if _CONTROL.search(text):
        raise Refused("A password cannot contain control characters (such as tabs, line breaks or NUL).", code=WEAK)
    if len(text) < MIN_LENGTH:
        raise Refused(f"A password needs at least {MIN_LENGTH} characters.", code=WEAK)
    if len(text) > MAX_LENGTH:
        raise Refused(f"A password can have at most {MAX_LENGTH} characters.", code=WEAK)
    if not text.strip():
        raise Refused("A password cannot be only spaces.", code=WEAK)
    folded = text.casefold()
    if folded in _common() or folded.strip() in _common():
        raise Refused("That password is one of the most common passwords, which are tried first; please choose another.",
                      code=WEAK)
    if any(word and folded == normalise(word).casefold() for word in avoid):
        raise Refused("A password cannot be your email address or your name; please choose another.", code=WEAK)


def check_choice(password: str, confirm: str, *, avoid: Iterable[str] = ()) -> None:
    """A password typed twice on a form: given, the same both times, and strong enough."""
    if not password:
        raise Refused("Please choose a password.", code="missing-password")
    if password != confirm:
        raise Refused("The two passwords are not the same. Please type the same password twice.", code="passwords-differ")
    check_strength(password, avoid=avoid)


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    """The blocklist, read once per process (20,000 lines, about 10 ms)."""
    data = resources.files("regtui.core.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip().casefold() for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip())


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(normalise(password))


def verify(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    for candidate in dict.fromkeys((normalise(password), password)):  # hashes made before NFKC: the text as typed
        try:
            if _hasher.verify(password_hash, candidate):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False

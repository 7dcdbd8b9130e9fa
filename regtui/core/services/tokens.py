"""Link tokens for invitations and set-password pages.

A token is ``<id>.<mac>``: ``mac`` is HMAC-SHA256 over (purpose, id, nonce) under a key that
lives outside the database (the secret key file). The database stores only the random
128-bit nonce, so a copy of the database does not reveal any link, yet regtui can show a
link again ("copy link") by recomputing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from regtui import config

NONCE_BYTES = 16


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def new_nonces(n: int) -> list[str]:
    """``n`` nonces from one read of the system's random source (a batch makes 100,000)."""
    text = secrets.token_hex(NONCE_BYTES * n)
    width = 2 * NONCE_BYTES
    return [text[i:i + width] for i in range(0, len(text), width)]


@lru_cache(maxsize=4)
def _key_at(path: str) -> bytes:
    from pathlib import Path

    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        finally:
            os.close(fd)
    return file.read_bytes().strip()


def secret_key() -> bytes:
    # cached per environment: resolving the path makes the data folder, which cost more than
    # the HMAC itself when a batch makes 100,000 links
    return _key_for((os.environ.get("REGTUI_SECRET_KEY_FILE"), os.environ.get("REGTUI_HOME"),
                     os.environ.get("XDG_DATA_HOME")))


@lru_cache(maxsize=8)
def _key_for(env: tuple) -> bytes:
    return _key_at(str(config.secret_key_path()))


def make(purpose: str, record_id: int, nonce: str) -> str:
    mac = hmac.new(secret_key(), f"{purpose}:{record_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{record_id}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def parse_id(token: str) -> int | None:
    """The record id a token claims to be for, or None if it is not shaped like a token."""
    head, sep, _ = (token or "").partition(".")
    # ASCII digits only: str.isdigit() also says yes to '²' or '١', which int() refuses or reads
    if not sep or not (head.isascii() and head.isdigit()) or len(head) > 18:
        return None
    return int(head)


def matches(token: str, purpose: str, record_id: int, nonce: str) -> bool:
    return hmac.compare_digest(token.encode(), make(purpose, record_id, nonce).encode())

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
import tempfile
from functools import lru_cache
from pathlib import Path

from regtui import config
from regtui.core.errors import UsageError

NONCE_BYTES = 16


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def new_nonces(n: int) -> list[str]:
    """``n`` nonces from one read of the system's random source (a batch makes 100,000)."""
    text = secrets.token_hex(NONCE_BYTES * n)
    width = 2 * NONCE_BYTES
    return [text[i:i + width] for i in range(0, len(text), width)]


MIN_KEY_CHARS = 32  # 128 bits of hex; `init` writes 64 characters (256 bits)


@lru_cache(maxsize=4)
def _key_at(path: str) -> bytes:
    """The installation's key. Only ``regtui init`` makes one (``create_key``): a missing,
    empty or unreadable key is refused, never replaced, since a new key silently breaks every
    link already emailed."""
    try:
        key = Path(path).read_bytes().strip()
    except FileNotFoundError:
        raise UsageError(f"There is no secret key at {path}: run `regtui init` once as the regtui service user, "
                         "or point REGTUI_SECRET_KEY_FILE at the installation's key.") from None
    except IsADirectoryError:
        raise UsageError(f"The secret key {path} is a folder, not a file; point REGTUI_SECRET_KEY_FILE at the key file.") from None
    except PermissionError:
        raise UsageError(f"The secret key {path} cannot be read by this user: run regtui as the regtui service "
                         "user that owns it.") from None
    except OSError as exc:
        raise UsageError(f"The secret key {path} cannot be read: {exc.strerror}.") from None
    if len(key) < MIN_KEY_CHARS:
        raise UsageError(f"The secret key {path} is {'empty' if not key else 'too short'}: restore the "
                         "installation's key from its backup (a new key would void every link already sent).")
    return key


def create_key(path: Path | None = None) -> bool:
    """Make the installation's key at ``path`` (default: the configured one) unless one is there;
    True if this call made it. Atomic: the key is written whole to a private temporary file and
    linked into place, so any number of concurrent first runs agree on one key and no reader ever
    sees a half-written file. An existing empty or short key is refused, not replaced."""
    path = Path(path or config.secret_key_path())
    if path.parent == config.data_dir_path():
        config.private_data_dir()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _key_at.__wrapped__(str(path))  # refuses an empty, short or unreadable one
        return False
    fd, temp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mode 0600
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False  # another process made it first: theirs is the key
        return True
    finally:
        os.unlink(temp)


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

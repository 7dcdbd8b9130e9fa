"""API tokens: bearer tokens for the read-only pull API (``/api/v1/...``) that learning platforms
poll instead of, or besides, receiving webhooks.

A token is shown once when it is made (``regtui tokens add NAME``); only its SHA-256 is stored, so
a copy of the database cannot be used to call the API. A token of 256 random bits needs no slow
hash: nobody can guess one, so a fast digest compared through a unique index is enough.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from regtui.core import clock
from regtui.core.errors import NotFound, UsageError
from regtui.core.models import ApiToken, database
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require

PREFIX = "rgt_"
NAME_MAX = 60


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: str
    last_used_at: str | None

    def as_dict(self) -> dict:
        return {"name": self.name, "created": self.created_at, "last_used": self.last_used_at}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add(actor: Actor, name: str) -> str:
    """Make a token called ``name``; returns it (the only time it is seen)."""
    require(actor, "tokens.manage")
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise UsageError(f"A token's name is 1 to {NAME_MAX} printable characters.")
    token = PREFIX + secrets.token_urlsafe(32)
    with database.atomic():
        if ApiToken.select().where(ApiToken.name == name).exists():
            raise UsageError(f"There is a token called {name!r} already; remove it first or choose another name.")
        row = ApiToken.create(name=name, token_hash=_digest(token))
        audit.record(actor, "token.add", row, after={"name": name})
    return token


def remove(actor: Actor, name: str) -> None:
    require(actor, "tokens.manage")
    with database.atomic():
        row = ApiToken.get_or_none(ApiToken.name == name)
        if row is None:
            raise NotFound(f"There is no token called {name!r}.")
        audit.record(actor, "token.remove", row, before={"name": name})
        row.delete_instance()


def listing(actor: Actor) -> list[TokenInfo]:
    require(actor, "tokens.manage")
    return [TokenInfo(t.name, t.created_at.isoformat(), t.last_used_at.isoformat() if t.last_used_at else None)
            for t in ApiToken.select().order_by(ApiToken.name)]


def holder(token: str | None) -> str | None:
    """The name of the token's holder, or None when it is no token of ours. Notes when it was used
    (at most once a minute per token, so polling does not write on every call)."""
    if not token or not token.startswith(PREFIX) or len(token) > 100 or not token.isascii():
        return None
    row = ApiToken.get_or_none(ApiToken.token_hash == _digest(token))
    if row is None:
        return None
    now = clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= 60:
        ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return row.name

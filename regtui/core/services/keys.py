"""Keys: operators' SSH public keys. OpenSSH asks regtui which operator a key is (by its
SHA256 fingerprint, sshd's ``%f``), so nobody needs a shell account or an authorized_keys file.

A public key line is ``TYPE BASE64 [COMMENT]`` as ``ssh-keygen`` writes it. Its fingerprint is
what OpenSSH prints: ``SHA256:`` and the unpadded base64 of the SHA-256 of the decoded key blob.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from regtui.core.errors import NotAllowed, NotFound, Refused, UsageError
from regtui.core.models import Operator, OperatorKey, database
from regtui.core.services import audit
from regtui.core.services.operators import actor_of
from regtui.core.services.permissions import Actor, require

# The key types OpenSSH accepts by default (ssh-dss is off since OpenSSH 7.0, and gone).
KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
COMMENT_MAX = 200
KEY_FILE_MAX = 16 * 1024


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    key_base64: str
    comment: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(base64.b64decode(self.key_base64))

    def line(self) -> str:
        return f"{self.key_type} {self.key_base64}"


def fingerprint_of(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(text: str) -> PublicKey:
    """The one public key in ``text`` (a ``.pub`` file); UsageError, in one sentence, if it is not one."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise UsageError(f"A public key file holds one key on one line; this one has {len(lines)} lines.")
    parts = lines[0].split(None, 2)
    if parts[0] not in KEY_TYPES:
        raise UsageError(f"{parts[0][:40]!r} is not a public key type regtui accepts "
                         f"({', '.join(KEY_TYPES[:5])}, ...); give the .pub file ssh-keygen wrote.")
    if len(parts) < 2:
        raise UsageError("The public key has a type but no key after it.")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("The public key is not valid base64.") from None
    if _blob_type(blob) != parts[0]:
        raise UsageError(f"The public key's data is not a {parts[0]} key.")
    comment = parts[2] if len(parts) > 2 else ""
    return PublicKey(parts[0], base64.b64encode(blob).decode(), _clean_comment(comment))


def _blob_type(blob: bytes) -> str | None:
    """The key type written at the start of the key blob (an SSH string: length, then bytes)."""
    if len(blob) < 4:
        return None
    (n,) = struct.unpack(">I", blob[:4])
    if n > 64 or len(blob) < 4 + n:
        return None
    return blob[4:4 + n].decode("ascii", "replace")


def _clean_comment(comment: str) -> str:
    text = "".join(ch for ch in comment if ch.isprintable()).strip()
    if len(text) > COMMENT_MAX:
        raise UsageError(f"A key's comment can have at most {COMMENT_MAX} characters.")
    return text


def check_fingerprint(text: str) -> str:
    if not FINGERPRINT.fullmatch(text or ""):
        raise UsageError(f"{text[:60]!r} is not a key fingerprint like SHA256:... (as `ssh-keygen -lf KEY.pub` prints it).")
    return text


def add_key(actor: Actor, operator_name: str, key_text: str, comment: str | None = None) -> OperatorKey:
    """Give ``operator_name`` the public key in ``key_text``; a key belongs to one operator."""
    require(actor, "operators.manage")
    key = parse_public_key(key_text)
    if comment is not None:
        key = PublicKey(key.key_type, key.key_base64, _clean_comment(comment))
    with database.atomic():
        owner = Operator.get_or_none(Operator.name == operator_name)
        if owner is None:
            raise NotFound(f"There is no operator called {operator_name!r}.")
        taken = OperatorKey.get_or_none(OperatorKey.fingerprint == key.fingerprint)
        if taken is not None:
            whose = "this operator" if taken.operator_id == owner.id else "another operator"
            raise Refused(f"The key {key.fingerprint} already belongs to {whose}; a key belongs to one operator.",
                          code="key-taken")
        row = OperatorKey.create(operator=owner, fingerprint=key.fingerprint, key_type=key.key_type,
                                 key_base64=key.key_base64, comment=key.comment)
        audit.record(actor, "key.add", row, after=describe(row))
    return row


def list_keys(actor: Actor, operator_name: str | None = None) -> list[dict]:
    require(actor, "operators.manage")
    q = OperatorKey.select(OperatorKey, Operator).join(Operator).order_by(Operator.name, OperatorKey.id)
    if operator_name:
        if Operator.get_or_none(Operator.name == operator_name) is None:
            raise NotFound(f"There is no operator called {operator_name!r}.")
        q = q.where(Operator.name == operator_name)
    return [describe(row) for row in q]


def remove_key(actor: Actor, fingerprint: str) -> dict:
    require(actor, "operators.manage")
    check_fingerprint(fingerprint)
    with database.atomic():
        row = OperatorKey.get_or_none(OperatorKey.fingerprint == fingerprint)
        if row is None:
            raise NotFound(f"There is no key {fingerprint}.")
        before = describe(row)
        audit.record(actor, "key.remove", row, before=before)
        row.delete_instance()
    return before


def describe(row: OperatorKey) -> dict:
    return {"operator": row.operator.name, "fingerprint": row.fingerprint, "type": row.key_type,
            "comment": row.comment, "added": row.created_at.isoformat(timespec="seconds")}


def find(fingerprint: str) -> OperatorKey | None:
    """The key with this fingerprint, or None (sshd's question; no operator asks it)."""
    if not FINGERPRINT.fullmatch(fingerprint or ""):
        return None
    return OperatorKey.select(OperatorKey, Operator).join(Operator).where(
        OperatorKey.fingerprint == fingerprint).first()


def actor_for_key(fingerprint: str) -> Actor:
    """The operator a key belongs to, acting through that key (``via`` names it for the audit)."""
    row = find(fingerprint)
    if row is None:
        raise NotAllowed("This key belongs to no regtui operator (it was removed).")
    return actor_of(row.operator, via=f"ssh {row.fingerprint}")


def record_ssh_command(actor: Actor, fingerprint: str, command: str, exit_code: int) -> None:
    """One audit event per SSH command or TUI session: the operator, the key's fingerprint, what
    was asked (at most 500 characters of it) and its exit code."""
    with database.atomic():
        row = find(fingerprint)
        audit.record(actor, "ssh.command", row, after={"key": fingerprint, "command": command[:500], "exit": exit_code})

"""Where regtui keeps its things, read from the environment once per process.

| variable | meaning | default |
| --- | --- | --- |
| REGTUI_HOME | data folder (SQLite file, Maildir, secret key) | $XDG_DATA_HOME/regtui or ~/.local/share/regtui |
| REGTUI_DB | database URL (sqlite:///path or postgresql://user@host/db) | sqlite file in the data folder |
| REGTUI_SMTP | smtp://[user:pass@]host:port[?starttls=1&timeout=10] | unset: deliver into the Maildir |
| REGTUI_SITE_URL | base URL of the claim pages in emails | http://127.0.0.1:8080 |
| REGTUI_SECRET_KEY_FILE | file with the HMAC key for links (made by `regtui init` only) | secret.key in the data folder |
| REGTUI_REMIND_DAYS | days before an access ends that its learner is reminded | 14,3 |
| REGTUI_REMIND_UNCLAIMED_DAYS | days after which a pending invitation is reported to the customer | 7 |
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


def data_dir_path() -> Path:
    """Where the data folder is, without making it."""
    home = os.environ.get("REGTUI_HOME")
    if home:
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "regtui"


def data_dir() -> Path:
    """The data folder, made (mode 0700: only the regtui user may enter it) if it is missing."""
    path = data_dir_path()
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_data_dir() -> Path:
    """The data folder, made or tightened to 0700 (``regtui init``): it holds the database, the
    Maildir and the secret key, which only the regtui service user may read."""
    path = data_dir()
    if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


@contextmanager
def owner_only() -> Iterator[None]:
    """Files made inside get mode 0600 and folders 0700, whatever the caller's umask (the umask
    is per process: it is set back at once)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def make_private(path: Path) -> None:
    """Mode 0600 for a file this user owns (the SQLite file and its -wal/-shm, Maildir messages)."""
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("REGTUI_DB") or f"sqlite:///{data_dir() / 'regtui.db'}"


def site_url() -> str:
    return os.environ.get("REGTUI_SITE_URL", "http://127.0.0.1:8080").rstrip("/")


def signin_url() -> str:
    """Where a learner signs in to see their trainings (every email that gives access says it)."""
    return f"{site_url()}/signin"


def smtp_url() -> str | None:
    return os.environ.get("REGTUI_SMTP") or None


def maildir_path() -> Path:
    return data_dir() / "maildir"


def secret_key_path() -> Path:
    explicit = os.environ.get("REGTUI_SECRET_KEY_FILE")
    return Path(explicit) if explicit else data_dir() / "secret.key"


def _days(name: str, default: str) -> tuple[int, ...]:
    text = os.environ.get(name, default)
    try:
        days = tuple(sorted({int(part) for part in text.split(",") if part.strip()}, reverse=True))
    except ValueError:
        days = ()
    if not days or min(days) < 0:
        from regtui.core.errors import UsageError

        raise UsageError(f"{name}={text!r} is not a list of days like {default}.")
    return days


def reminder_days() -> tuple[int, ...]:
    """How many days before an access ends its learner is reminded, largest first."""
    return _days("REGTUI_REMIND_DAYS", "14,3")


def unclaimed_after_days() -> int:
    """After how many days a pending invitation is reported to the customer as unclaimed."""
    return _days("REGTUI_REMIND_UNCLAIMED_DAYS", "7")[0]


@dataclass(frozen=True)
class Settings:
    db_url: str
    site_url: str
    smtp_url: str | None


def load(db: str | None = None) -> Settings:
    return Settings(db_url=database_url(db), site_url=site_url(), smtp_url=smtp_url())

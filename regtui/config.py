"""Where regtui keeps its things, read from the environment once per process.

| variable | meaning | default |
| --- | --- | --- |
| REGTUI_HOME | data folder (SQLite file, Maildir, secret key) | $XDG_DATA_HOME/regtui or ~/.local/share/regtui |
| REGTUI_DB | database URL (sqlite:///path or postgresql://user@host/db) | sqlite file in the data folder |
| REGTUI_SMTP | smtp://[user:pass@]host:port[?starttls=1&timeout=10] | unset: deliver into the Maildir |
| REGTUI_SITE_URL | base URL of the claim pages in emails | http://127.0.0.1:8080 |
| REGTUI_SECRET_KEY_FILE | file with the HMAC key for links | secret.key in the data folder |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def data_dir() -> Path:
    home = os.environ.get("REGTUI_HOME")
    if home:
        path = Path(home)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "regtui"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("REGTUI_DB") or f"sqlite:///{data_dir() / 'regtui.db'}"


def site_url() -> str:
    return os.environ.get("REGTUI_SITE_URL", "http://127.0.0.1:8080").rstrip("/")


def smtp_url() -> str | None:
    return os.environ.get("REGTUI_SMTP") or None


def maildir_path() -> Path:
    return data_dir() / "maildir"


def secret_key_path() -> Path:
    explicit = os.environ.get("REGTUI_SECRET_KEY_FILE")
    return Path(explicit) if explicit else data_dir() / "secret.key"


@dataclass(frozen=True)
class Settings:
    db_url: str
    site_url: str
    smtp_url: str | None


def load(db: str | None = None) -> Settings:
    return Settings(db_url=database_url(db), site_url=site_url(), smtp_url=smtp_url())

"""The one clock every rule reads ("now", "today"), so tests move time instead of sleeping.

``now()`` is the current UTC time without tzinfo (what the database stores), to the second.
A test, or a subprocess started by one, sets it with ``REGTUI_NOW=2027-01-31T09:00:00``
(read on each call, so a test may change it between commands) or in process with
``set_now()``; ``set_now(None)`` returns to the real clock.
"""

from __future__ import annotations

import datetime as dt
import os

_fixed: dt.datetime | None = None


def set_now(when: dt.datetime | None) -> None:
    """Pin the clock for this process (tests); ``None`` goes back to real time."""
    global _fixed
    _fixed = when.replace(tzinfo=None, microsecond=0) if when is not None else None


def now() -> dt.datetime:
    if _fixed is not None:
        return _fixed
    pinned = os.environ.get("REGTUI_NOW")
    if pinned:
        return dt.datetime.fromisoformat(pinned).replace(tzinfo=None, microsecond=0)
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def today() -> dt.date:
    return now().date()

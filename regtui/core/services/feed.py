"""The pull API's reads: what changed for platforms that poll (``/api/v1``), instead of or besides
receiving webhooks (``services.endpoints``).

``changes(cursor)`` pages through the event log by its id (the cursor is the last event id a page
covered) and returns the newest state of each access those events touched, so a platform that
stores ``next_cursor`` and asks again later sees every change exactly once or more, never less.
Paging is by the event table's primary key: each page is one index range, however long the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from regtui.core.errors import UsageError
from regtui.core.models import Access, Event
from regtui.core.services import learners
from regtui.core.services.endpoints import accesses_data

PAGE_MAX = 1000


@dataclass(frozen=True)
class Page:
    accesses: list[dict]
    next_cursor: int
    more: bool

    def as_dict(self) -> dict:
        return {"accesses": self.accesses, "next_cursor": str(self.next_cursor), "has_more": self.more}


def parse_cursor(text: str | None) -> int:
    if text in (None, ""):
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise UsageError("changed_since is a cursor from an earlier answer's next_cursor (digits), or 0.")
    return int(text)


def changes(cursor: int, limit: int = PAGE_MAX) -> Page:
    """The accesses touched by the events after ``cursor``, newest state each, one page."""
    limit = max(1, min(limit, PAGE_MAX))
    rows = list(Event.select(Event.id, Event.access).where((Event.id > cursor) & Event.access.is_null(False))
                .order_by(Event.id).limit(limit + 1).tuples())
    more = len(rows) > limit
    rows = rows[:limit]
    found = accesses_data(access_id for _, access_id in rows)
    return Page(list(found.values()), rows[-1][0] if rows else cursor, more)


def learner_accesses(email: str) -> list[dict]:
    """Every access of the learner with this address (none if there is no such learner; refused
    when it is not an address at all)."""
    learner = learners.find(email)
    if learner is None:
        return []
    ids = [a for (a,) in Access.select(Access.id).where(Access.learner == learner.id).order_by(Access.id).tuples()]
    return list(accesses_data(ids).values())

"""What a plan knows about one pool: a value (``Snapshot``), read by ``batch.pool_state.take``.

This module imports no database: the planner (``batch.planner``) depends on it and stays pure.
``batch.pool_state.take(pool, keys)`` reads, in one query per table:

* the pool's counters (seats, available, invited, claimed; a code whose invitations all
  expired counts as available, swept or not) and the session's default access length;
* every seated learner (claimed code + active access): email key -> Seat;
* every pending invitation (not past its expiry, ``expiry.live``): email key -> (invitation id, code id); and the keys whose invitation
  was cancelled (so that revoking them again is "unchanged");
* the keys whose access from this pool was revoked (revoking them again is "unchanged");
* the existing learners among the roster's ``keys``: email key -> learner id;
* the roster's learners holding a seat of the session in another pool of the customer, and the
  roster's access dates that may not be granted (the services' rules, read here so the planner
  stays pure; they are checked again when applying, so they are not in the fingerprint).

``fingerprint_for(keys)`` is a sha256 over the counters and the sorted rows the plan depends on.
The applier takes a new snapshot inside its transaction (after locking the pool) and refuses
the plan as stale if the fingerprint differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True, slots=True)
class Seat:
    """A learner holding a claimed code of the pool, with the access it gives (None if none)."""

    code_id: int
    learner_id: int
    access_id: int | None
    starts: dt.date | None
    ends: dt.date | None


@dataclass(frozen=True)
class Snapshot:
    pool_id: int
    seats: int
    available: int
    invited: int
    claimed: int
    access_days: int | None
    seated: Mapping[str, Seat]
    pending: Mapping[str, tuple[int, int]]  # key -> (invitation id, code id)
    cancelled: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    learners: Mapping[str, int] = field(default_factory=dict)
    refs: frozenset[str] = frozenset()  # how a roster may name this pool: id, ORDER-LINE
    # key -> why that learner may not take a seat here: they hold one of this session in another
    # pool of the same customer (pools.holders_elsewhere; the sentence is the services')
    elsewhere: Mapping[str, str] = field(default_factory=dict)
    # (access_start, access_end) as on the roster -> (code, sentence): the dates a new seat's access
    # may not be granted with (access.grant_refusal, e.g. an end already past)
    refused: Mapping[tuple, tuple[str, str]] = field(default_factory=dict)
    # key -> the address as the learner's account or the invitation holds it (as typed): a sync's
    # revokes show it, as every other face shows addresses (not in the fingerprint: display only)
    addresses: Mapping[str, str] = field(default_factory=dict)

    def fingerprint_for(self, learner_keys: Iterable[str] = ()) -> str:
        """sha256 over the counters, the seated rows, the pending invitations, and which of
        ``learner_keys`` already have an account."""
        h = hashlib.sha256()
        h.update(f"pool {self.pool_id} {self.seats} {self.available} {self.invited} {self.claimed}\n".encode())
        for key in sorted(self.seated):
            s = self.seated[key]
            h.update(f"s {key}\t{s.code_id}\t{s.learner_id}\t{s.access_id}\t{s.starts}\t{s.ends}\n".encode())
        for key in sorted(self.pending):
            inv, code = self.pending[key]
            h.update(f"p {key}\t{inv}\t{code}\n".encode())
        keys = sorted(set(learner_keys))
        # one string for all the keys (same bytes as a line per key): 100,000 keys in C-level passes
        if keys and self.learners.keys().isdisjoint(keys):  # all new learners: every line ends in None
            h.update(("l " + "\tNone\nl ".join(keys) + "\tNone\n").encode())
        else:
            h.update("".join(map("l {}\t{}\n".format, keys, map(self.learners.get, keys))).encode())
        return h.hexdigest()
